"""Sequence to sequence with attention: reverse (or sort) a string of digits.

    python examples/seq2seq.py                    # 3 8 1 5 -> 5 1 8 3
    python examples/seq2seq.py --task sort        # 3 8 1 5 -> 1 3 5 8
    python examples/seq2seq.py --plot             # + an attention heatmap

``models.Seq2Seq``: an encoder GRU reads the source digits; a decoder GRU then writes
the answer one token at a time, starting from the encoder's final state. At every
output step the decoder *attends*: it scores each source position against its own
state (a dot product), turns the scores into weights with a softmax, and mixes the
encoder outputs with them, so it can look straight at the digit it needs. For
reversal the weights should form an anti-diagonal: output 1 looks at the last input.

Training uses teacher forcing (and Adam with a cosine learning-rate decay): the
decoder input is the true answer shifted right, ``<s> 5 1 8`` for the target
``5 1 8 3 </s>``. Sources have different lengths and are right-padded; padded target
positions get the ``ignore_index`` -100, so they are not part of the loss. At test
time the decoder feeds back its own guesses (greedy decoding) until it writes
``</s>``; a string counts as right only if every digit is.
"""

from __future__ import annotations

import sys

# _common comes before NumPy: it limits NumPy's threads (see _common.py)
from _common import (
    LossBar,
    add_data_args,
    fail,
    final_line,
    get_pyplot,
    make_parser,
    parse_args,
    plot_path,
    save_figure,
    save_loss_plot,
)

# isort: split
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim
from models import Seq2Seq

PAD, BOS, EOS = 0, 1, 2  # special tokens; digit d is the token d + 3
VOCAB = 13
IGNORE = -100


def to_text(tokens) -> str:
    out = []
    for t in tokens:
        if t in (EOS, PAD):
            break
        out.append(str(t - 3) if t >= 3 else "?")
    return " ".join(out)


def make_dataset(task: str, n: int, min_len: int, max_len: int, rng):
    """Source ids ``(n, max_len)``, their lengths, decoder inputs and targets
    ``(n, max_len + 1)`` (targets end with EOS; IGNORE after it)."""
    src = np.full((n, max_len), PAD, dtype=np.int64)
    tgt_in = np.full((n, max_len + 1), PAD, dtype=np.int64)
    tgt_out = np.full((n, max_len + 1), IGNORE, dtype=np.int64)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    for i, length in enumerate(lengths):
        digits = rng.integers(0, 10, size=length)
        answer = digits[::-1] if task == "reverse" else np.sort(digits)
        src[i, :length] = digits + 3
        tgt_out[i, :length] = answer + 3
        tgt_out[i, length] = EOS
        tgt_in[i, 0] = BOS  # the decoder input: the answer shifted right by one
        tgt_in[i, 1:length + 1] = answer + 3
    return src, lengths, tgt_in, tgt_out


def plot_attention(plt, src, attn, out, path) -> None:
    """Rows: the output tokens written; columns: the source digits; colour: weight."""
    source = to_text(src).split()
    written = to_text(out).split() + ["</s>"]
    weights = attn[:len(written), :len(source)]
    fig, ax = plt.subplots(figsize=(0.45 * len(source) + 2, 0.45 * len(written) + 1.4))
    im = ax.imshow(weights, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(source)), source)
    ax.set_yticks(range(len(written)), written)
    ax.set_xlabel("source digit")
    ax.set_ylabel("output token")
    ax.set_title("attention weights")
    fig.colorbar(im, ax=ax, fraction=0.046)
    save_figure(plt, fig, path)


def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=20, lr=5e-3, hidden=64,
                         epochs_help="passes over the training set")
    parser.add_argument("--task", choices=("reverse", "sort"), default="reverse",
                        help="what to do with the digits (default reverse)")
    parser.add_argument("--attention", choices=("dot", "additive", "none"), default="dot",
                        help="attention score (default dot); none: plain encoder-decoder")
    defaults = add_data_args(parser, min_len=3, max_len=8, train_size=4096, unit="digit string")
    args = parse_args(parser, argv, defaults=defaults,
                      quick={"epochs": 2, "max_len": 5, "train_size": 512, "hidden": 32})
    if not args.min_len <= args.max_len:
        fail(f"--min-len {args.min_len} --max-len {args.max_len}: need min-len <= max-len")
    attention = None if args.attention == "none" else args.attention
    plt = get_pyplot() if args.plot else None

    # ---- data ----------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    train = make_dataset(args.task, args.train_size, args.min_len, args.max_len, rng)
    src_test, len_test, _, out_test = make_dataset(args.task, 500, args.min_len,
                                                   args.max_len, rng)
    print(f"task {args.task}: {args.train_size} training and {len(src_test)} test strings "
          f"of {args.min_len}..{args.max_len} digits, e.g. "
          f"{to_text(train[0][0])} -> {to_text(train[3][0])}")

    # ---- model ---------------------------------------------------------------------
    model = Seq2Seq(VOCAB, VOCAB, embed_dim=32, hidden_size=args.hidden, cell="gru",
                    attention=attention, padding_idx=PAD).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = max(1, args.train_size // args.batch)
    # the learning rate decays to 0 along a cosine: the last steps settle the weights,
    # so the result does not hinge on where the final, noisy steps of Adam land
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                    T_max=args.epochs * steps_per_epoch)
    print(f"model: Seq2Seq(gru, hidden {args.hidden}, attention {args.attention}), "
          f"{model.num_parameters():,} parameters")

    # ---- training (teacher forcing) ------------------------------------------------
    src_train, len_train, in_train, out_train = train
    bar = LossBar(total=args.epochs * steps_per_epoch, desc=f"seq2seq ({args.task})")
    for epoch in range(args.epochs):
        bar.set_epoch(epoch, args.epochs)
        model.train()
        for batch in np.array_split(rng.permutation(args.train_size), steps_per_epoch):
            src = mg.tensor(src_train[batch], device=args.device)
            tgt_in = mg.tensor(in_train[batch], device=args.device)
            tgt_out = mg.tensor(out_train[batch], device=args.device)

            optimizer.zero_grad()
            logits = model(src, tgt_in, len_train[batch])  # (B, T, VOCAB)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt_out.reshape(-1),
                                   ignore_index=IGNORE)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            bar.update(loss.item())
    bar.close()

    # ---- test: greedy decoding, exact match ----------------------------------------
    tokens, attn = model.greedy_decode(mg.tensor(src_test, device=args.device),
                                       max_len=args.max_len + 1, bos_id=BOS, eos_id=EOS,
                                       src_lengths=len_test)
    right = [to_text(tokens[i]) == to_text(out_test[i]) for i in range(len(src_test))]
    accuracy = float(np.mean(right))
    print("held-out examples:")
    for i in range(5):
        width = 2 * args.max_len
        print(f"    {to_text(src_test[i]):<{width}} -> {to_text(tokens[i]):<{width}} "
              f"({'right' if right[i] else 'WRONG'})")

    if plt is not None:
        save_loss_plot(plt, bar.losses, plot_path(args, "seq2seq_loss.png"),
                       f"Seq2Seq ({args.task}) training loss")
        if attn is not None:
            longest = int(np.argmax(len_test))
            plot_attention(plt, src_test[longest], attn[longest], tokens[longest],
                           plot_path(args, f"seq2seq_attention_{args.task}.png"))
    print(final_line(bar, f"exact-match accuracy {accuracy:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
