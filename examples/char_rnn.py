"""Train a character-level language model on the Zen of Python (or on your own text).

    python examples/char_rnn.py                          # about a minute on a laptop CPU
    python examples/char_rnn.py --text my.txt --epochs 3000 --save runs/my.npz
    python examples/char_rnn.py --resume runs/my.npz --text my.txt --generate 500
    python examples/char_rnn.py --cell gru --prompt "Errors" --temperature 0.5

The model (``models.CharLM``) reads one character at a time and predicts the next:

    characters -> Embedding -> LSTM (or GRU / vanilla RNN) -> Linear -> next-char logits

Each training step takes ``--batch`` random windows of ``--seq-len`` characters from
the text; at every position the target is the character that follows. The loss is the
cross-entropy of those predictions (log(vocabulary size) ~ 3.7 at the start, when the
model guesses uniformly). While it trains, the model writes samples: it is fed a prompt
and then its own output, one character at a time.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import math
import os
import sys

# _common comes before NumPy: it limits NumPy's threads (see _common.py)
from _common import (
    LossBar,
    fail,
    final_line,
    get_pyplot,
    make_parser,
    parse_args,
    plot_path,
    positive_float,
    positive_int,
    save_figure,
    save_loss_plot,
)

# isort: split
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim
from minigrad.serialization import CheckpointError
from models import CharLM

EMBED_DIM = 32


# --------------------------------------------------------------------------- data
def zen_of_python() -> str:
    """The Zen of Python. The standard library's ``this`` module holds it rot13-encoded
    (and prints it when imported, hence the silenced import)."""
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        fail(f"--text {path}: no such file; give the path of a UTF-8 text file")
    except IsADirectoryError:
        fail(f"--text {path}: is a directory; give the path of a UTF-8 text file")
    except UnicodeDecodeError:
        fail(f"--text {path}: not UTF-8 text; convert it to UTF-8 first")
    except OSError as e:
        fail(f"--text {path}: cannot read it ({e.strerror})")
    if len(text) < 2 or not text.strip():
        fail(f"--text {path}: the file has no text to learn from (it is empty, blank or a "
             "single character); give a file with some text in it")
    return text


def random_windows(data: np.ndarray, batch: int, seq_len: int, rng) -> np.ndarray:
    """``batch`` random windows of ``seq_len + 1`` consecutive character ids."""
    starts = rng.integers(0, len(data) - seq_len, size=batch)
    return data[starts[:, None] + np.arange(seq_len + 1)]  # (batch, seq_len + 1)


def show(text: str) -> str:
    """A sample for printing: every line indented under a bar."""
    return "\n".join("    | " + line for line in text.split("\n"))


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path, model, optimizer, chars, config, step) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    mg.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "vocab": "".join(chars), "config": config, "epoch": step}, path)
    print(f"saved checkpoint {path} (step {step})")


def load_checkpoint(path: str) -> dict:
    try:
        ckpt = mg.load(path)
    except FileNotFoundError:
        fail(f"--resume {path}: no such file (write one with --save {path})")
    except (CheckpointError, OSError) as e:
        fail(f"--resume {path}: cannot read it: {e}")
    keys = ("model", "optimizer", "vocab", "config", "epoch")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in keys):
        fail(f"--resume {path}: not a checkpoint written by char_rnn.py --save (it needs "
             f"the entries {', '.join(keys)})")
    return ckpt


def describe(config: dict, vocab: str) -> str:
    return (f"cell={config.get('cell')}, hidden={config.get('hidden')}, "
            f"{len(vocab)}-character vocabulary")


def resume(path, ckpt, model, optimizer, config, vocab) -> int:
    """Load a checkpoint into ``model`` and ``optimizer``; return its step count."""
    hint = (f"--resume {path}: the checkpoint is for {describe(ckpt['config'], ckpt['vocab'])}"
            f" but this run has {describe(config, vocab)}; resume with the --cell, --hidden"
            f" and --text it was trained with")
    if ckpt["vocab"] != vocab:
        new = "".join(sorted(set(vocab) - set(ckpt["vocab"])))
        fail(f"--resume {path}: the text has characters the checkpoint's vocabulary lacks "
             f"({new!r}); resume with the text it was trained on (or one using only its "
             "characters)")
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, ValueError):  # missing/unexpected keys or shape mismatches
        fail(hint)
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
    except (KeyError, TypeError, ValueError) as e:
        fail(f"--resume {path}: cannot restore the optimizer state ({e})")
    return int(ckpt["epoch"])


# --------------------------------------------------------------------------- plots
def label(c: str) -> str:
    return {" ": "\u2423", "\n": "\u21b5", "\t": "\u21e5"}.get(c, c)


def plot_probabilities(plt, model, chars, data, path, top=12, width=48) -> None:
    """Heatmap: P(next char) at each position of the start of the text, for the
    characters that are ever likely; dots mark the true next character."""
    idx = mg.tensor(data[None, :width], dtype=mg.int64, device=model.head.weight.device)
    with mg.no_grad():
        logits, _ = model(idx)
        probs = F.softmax(logits[0], dim=-1).numpy()  # (width, V)
    rows = np.argsort(-probs.max(axis=0))[:top]  # the `top` characters ever most likely
    rows = rows[np.argsort([chars[r] for r in rows])]
    fig, ax = plt.subplots(figsize=(10, 3.6))
    im = ax.imshow(probs[:, rows].T, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    targets = data[1:width + 1]
    for t, target in enumerate(targets):
        hit = np.nonzero(rows == target)[0]
        if hit.size:
            ax.plot(t, hit[0], "o", markersize=3, color="red")
    ax.set_xticks(range(width), [label(chars[i]) for i in data[:width]], fontsize=8)
    ax.set_yticks(range(len(rows)), [label(chars[r]) for r in rows], fontsize=8)
    ax.set_xlabel("input character")
    ax.set_ylabel("next character")
    ax.set_title("P(next character) at each step (red dot: the true next character)")
    fig.colorbar(im, ax=ax, fraction=0.03)
    save_figure(plt, fig, path)


def char_kind(c: str) -> str:
    if c in " \n":
        return "space / newline"
    if c.lower() in "aeiou":
        return "vowel"
    return "consonant" if c.isalpha() else "punctuation / digit"


def plot_hidden_pca(plt, model, chars, data, path) -> None:
    """The hidden state after each character of the text, projected on its two
    principal axes (PCA via SVD), coloured by the kind of character just read."""
    idx = mg.tensor(data[None, :2000], dtype=mg.int64, device=model.head.weight.device)
    with mg.no_grad():
        hidden, _ = model.rnn(model.embedding(idx))  # (1, n, hidden)
    h = hidden[0].numpy().astype(np.float64)
    h = h - h.mean(axis=0)
    _, s, vt = np.linalg.svd(h, full_matrices=False)  # rows of vt: the principal axes
    xy = h @ vt[:2].T  # (n, 2)
    share = s ** 2 / (s ** 2).sum()
    ids = data[:len(xy)]
    kinds = np.array([char_kind(chars[i]) for i in ids])
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for kind, color in (("consonant", "tab:blue"), ("vowel", "tab:red"),
                        ("space / newline", "tab:orange"),
                        ("punctuation / digit", "tab:green")):
        sel = kinds == kind
        ax.scatter(xy[sel, 0], xy[sel, 1], s=7, color=color, label=kind, linewidths=0)
    ax.set_xlabel(f"PC 1 ({share[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({share[1]:.0%} of variance)")
    ax.set_title("Hidden state after each character (PCA), by the character read")
    ax.legend(frameon=False, fontsize=8, markerscale=2)
    save_figure(plt, fig, path)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=800, lr=3e-3, hidden=128,
                         epochs_help="training steps, one random batch of windows each")
    parser.add_argument("--text", metavar="FILE",
                        help="train on this UTF-8 text file (default: the Zen of Python)")
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm",
                        help="recurrent layer (default lstm)")
    parser.add_argument("--seq-len", type=positive_int, default=None,
                        help="characters per training window (default 64)")
    parser.add_argument("--batch", type=positive_int, default=None,
                        help="windows per step (default 32)")
    parser.add_argument("--prompt", default=None,
                        help="start of the samples (default: the first word of the text)")
    parser.add_argument("--generate", type=int, default=None, metavar="N",
                        help="characters to generate at the end (default 400)")
    parser.add_argument("--temperature", type=positive_float, default=0.8,
                        help="sampling temperature: lower is safer, higher is wilder "
                             "(default 0.8)")
    parser.add_argument("--sample-every", type=positive_int, default=None, metavar="N",
                        help="print a sample every N steps (default: 4 times per run)")
    parser.add_argument("--save", metavar="PATH", help="save a checkpoint here at the end")
    parser.add_argument("--resume", metavar="PATH",
                        help="continue from a checkpoint written by --save "
                             "(for --epochs more steps)")
    args = parse_args(parser, argv,
                      defaults={"seq_len": 64, "batch": 32, "generate": 400},
                      quick={"epochs": 40, "hidden": 48, "seq_len": 32, "batch": 16,
                             "generate": 80})
    if args.generate < 0:
        fail(f"--generate {args.generate}: expected a number of characters >= 0")

    # ---- data: the text as a sequence of character ids -----------------------------
    text = read_text(args.text) if args.text else zen_of_python()
    resumed = load_checkpoint(args.resume) if args.resume else None
    chars = sorted(set(text))
    if resumed is not None and set(text) <= set(resumed["vocab"]):
        chars = list(resumed["vocab"])  # keep the checkpoint's numbering of characters
    vocab = "".join(chars)
    char_to_id = {c: i for i, c in enumerate(chars)}
    data = np.array([char_to_id[c] for c in text], dtype=np.int64)
    seq_len = min(args.seq_len, len(data) - 1)
    prompt = args.prompt if args.prompt is not None else (text.split() or [text[0]])[0][:20]
    if not prompt:
        fail("--prompt: give at least one character")
    missing = "".join(sorted(set(prompt) - set(chars)))
    if missing:
        fail(f"--prompt {prompt!r}: {missing!r} never occurs in the text; use characters "
             "that do")
    prompt_ids = [char_to_id[c] for c in prompt]
    print(f"text: {len(text)} characters ({args.text or 'the Zen of Python'}), "
          f"vocabulary of {len(chars)}; windows of {seq_len}, batches of {args.batch}")

    # ---- model and optimizer --------------------------------------------------------
    model = CharLM(len(chars), embed_dim=EMBED_DIM, hidden_size=args.hidden, cell=args.cell,
                   fused=True).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    config = {"cell": args.cell, "hidden": args.hidden, "embed": EMBED_DIM, "layers": 1}
    start = 0
    if resumed is not None:
        start = resume(args.resume, resumed, model, optimizer, config, vocab)
        print(f"resumed from {args.resume} at step {start}")
    print(f"model: CharLM({args.cell}, hidden {args.hidden}), "
          f"{model.num_parameters():,} parameters")
    plt = get_pyplot() if args.plot else None

    # ---- training -------------------------------------------------------------------
    rng = np.random.default_rng(args.seed + start)
    sample_every = args.sample_every or max(1, args.epochs // 4)
    sample_len = min(160, max(40, args.generate))
    bar = LossBar(total=args.epochs, desc=f"char_rnn ({args.cell})")
    for step in range(start + 1, start + args.epochs + 1):
        window = mg.tensor(random_windows(data, args.batch, seq_len, rng), device=args.device)
        inputs, targets = window[:, :-1], window[:, 1:]  # predict each next character

        optimizer.zero_grad()
        logits, _ = model(inputs)  # (batch, seq_len, vocab)
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), targets.reshape(-1))
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # tame exploding gradients
        optimizer.step()
        bar.update(loss.item())

        if (step - start) % sample_every == 0 and step < start + args.epochs:
            sample = model.generate(prompt_ids, sample_len, temperature=args.temperature)
            bar.write(f"step {step}: loss {bar.running:.3f}, sample:\n"
                      + show(prompt + "".join(chars[i] for i in sample)))
    bar.close()

    # ---- results --------------------------------------------------------------------
    if args.save:
        try:
            save_checkpoint(args.save, model, optimizer, chars, config, start + args.epochs)
        except OSError as e:
            fail(f"--save {args.save}: cannot write it ({e.strerror or e})")
    if args.generate:
        sample = model.generate(prompt_ids, args.generate, temperature=args.temperature)
        print(f"generated ({args.generate} characters, temperature {args.temperature:g}):")
        print(show(prompt + "".join(chars[i] for i in sample)))
    if plt is not None:
        save_loss_plot(plt, bar.losses, plot_path(args, "char_rnn_loss.png"),
                       f"CharLM ({args.cell}) training loss")
        plot_probabilities(plt, model, chars, data, plot_path(args, "char_rnn_probs.png"),
                           width=min(48, len(data) - 1))
        if args.hidden >= 2:  # a 2-D projection needs at least 2 hidden units
            plot_hidden_pca(plt, model, chars, data,
                            plot_path(args, "char_rnn_hidden_pca.png"))

    # cross-entropy over (the first 20,000 characters of) the whole text, in one pass
    model.eval()
    with mg.no_grad():
        ids = mg.tensor(data[None, :20001], device=args.device)
        logits, _ = model(ids[:, :-1])
        text_loss = F.cross_entropy(logits.reshape(-1, len(chars)), ids[0, 1:]).item()
    print(final_line(bar, f"text loss {text_loss:.3f}",
                     f"perplexity {math.exp(min(text_loss, 50)):.2f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
