"""Many-to-one: read a whole sequence, answer one question about it.

    python examples/classify.py
    python examples/classify.py --cell rnn     # a vanilla RNN: stuck near chance (0.5)
    python examples/classify.py --max-len 20 --cell rnn      # shorter: it copes

The question: does this sequence of digits contain the pattern ``3 1 4`` (in a row)?

    7 3 1 4 9 2            -> yes
    3 1 8 4 1 3 4 4 2 6 1  -> no (only near misses)

Half of the generated sequences contain the pattern (planted at a random place); the
others do not contain it at all. Sequences have different lengths (``--min-len`` to
``--max-len``), so a batch is right-padded with the token 0 and the model gets every
sequence's true length. ``models.SequenceClassifier`` runs Embedding -> GRU (or LSTM /
RNN) and classifies the hidden state at each sequence's real last token (the padding
never touches it). To answer, the network must remember whether it has seen ``3 1 4``
however long ago, while watching for new partial matches.

Accuracy is measured on held-out sequences the model never trained on (chance: 0.5).
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
    save_loss_plot,
)

# isort: split
import numpy as np

import minigrad as mg
from minigrad import nn, optim
from models import SequenceClassifier

PAD = 0
VOCAB = 10  # token 0 is padding; the digits 1..9 are the symbols
PATTERN = np.array([3, 1, 4])


# --------------------------------------------------------------------------- data
def contains(seq: np.ndarray, pattern: np.ndarray) -> bool:
    k = len(pattern)
    return any((seq[i:i + k] == pattern).all() for i in range(len(seq) - k + 1))


def make_dataset(n: int, min_len: int, max_len: int, rng):
    """``n`` padded sequences ``(n, max_len)``, their lengths ``(n,)`` and labels
    ``(n,)``: 1 if the sequence contains PATTERN, 0 otherwise (half and half)."""
    x = np.full((n, max_len), PAD, dtype=np.int64)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    labels = np.arange(n) % 2
    for i in range(n):
        length = lengths[i]
        while True:
            seq = rng.integers(1, VOCAB, size=length)
            if labels[i]:  # plant the pattern at a random place
                at = rng.integers(0, length - len(PATTERN) + 1)
                seq[at:at + len(PATTERN)] = PATTERN
            if contains(seq, PATTERN) == bool(labels[i]):
                break
        x[i, :length] = seq
    order = rng.permutation(n)
    return x[order], lengths[order], labels[order]


def show(seq, length) -> str:
    return " ".join(str(t) for t in seq[:length])


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=20, lr=5e-3, hidden=64,
                         epochs_help="passes over the training set")
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="gru",
                        help="recurrent layer (default gru)")
    defaults = add_data_args(parser, min_len=10, max_len=60, train_size=2048)
    args = parse_args(parser, argv, defaults=defaults,
                      quick={"epochs": 4, "min_len": 6, "max_len": 12, "train_size": 512,
                             "hidden": 32})
    if not len(PATTERN) <= args.min_len <= args.max_len:
        fail(f"--min-len {args.min_len} --max-len {args.max_len}: need "
             f"{len(PATTERN)} <= min-len <= max-len")

    plt = get_pyplot() if args.plot else None

    # ---- data ----------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    x_train, len_train, y_train = make_dataset(args.train_size, args.min_len, args.max_len, rng)
    x_test, len_test, y_test = make_dataset(512, args.min_len, args.max_len, rng)
    print(f"{args.train_size} training and {len(x_test)} test sequences of length "
          f"{args.min_len}..{args.max_len}; pattern {' '.join(map(str, PATTERN))}; e.g.")
    for i in range(3):
        print(f"    {'yes' if y_train[i] else 'no ':3}  {show(x_train[i], len_train[i])}")

    # ---- model ---------------------------------------------------------------------
    model = SequenceClassifier(vocab_size=VOCAB, num_classes=2, embed_dim=16,
                               hidden_size=args.hidden, cell=args.cell, padding_idx=PAD,
                               fused=True).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    print(f"model: SequenceClassifier({args.cell}, hidden {args.hidden}), "
          f"{model.num_parameters():,} parameters")

    # ---- training ------------------------------------------------------------------
    steps_per_epoch = max(1, args.train_size // args.batch)
    bar = LossBar(total=args.epochs * steps_per_epoch, desc=f"classify ({args.cell})")
    for epoch in range(args.epochs):
        bar.set_epoch(epoch, args.epochs)
        model.train()
        for batch in np.array_split(rng.permutation(args.train_size), steps_per_epoch):
            xb = mg.tensor(x_train[batch], device=args.device)
            yb = mg.tensor(y_train[batch], device=args.device)

            optimizer.zero_grad()
            logits = model(xb, len_train[batch])  # (batch, 2)
            loss = loss_fn(logits, yb)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            bar.update(loss.item())
    bar.close()

    # ---- held-out accuracy ---------------------------------------------------------
    model.eval()
    with mg.no_grad():
        logits = model(mg.tensor(x_test, device=args.device), len_test)
    predicted = logits.argmax(dim=-1).numpy()
    accuracy = float((predicted == y_test).mean())
    print("held-out examples, the model's answers:")
    for i in range(4):
        verdict = "right" if predicted[i] == y_test[i] else "WRONG"
        print(f"    {'yes' if predicted[i] else 'no ':3} ({verdict})  "
              f"{show(x_test[i], len_test[i])}")
    if plt is not None:
        save_loss_plot(plt, bar.losses, plot_path(args, "classify_loss.png"),
                       f"SequenceClassifier ({args.cell}) training loss")
    print(final_line(bar, f"test accuracy {accuracy:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
