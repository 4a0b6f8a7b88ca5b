"""Many-to-many: one label for every position of a sequence (tagging).

    python examples/tag.py                     # up / down / same, vs the previous token
    python examples/tag.py --task parity       # running parity: needs real memory
    python examples/tag.py --task parity --cell rnn

Two generated tasks:

* ``updown`` -- tag each digit by how it compares with the one before it:
  ``3 7 7 2`` -> ``- up same down`` (the first digit has no tag);
* ``parity`` -- bits; tag each position with the parity of the number of 1s so far:
  ``1 0 1 1`` -> ``odd odd even odd``. One misread bit flips every later tag.

Sequences have different lengths and are right-padded. Positions without a label (the
padding, the first digit in ``updown``) get the tag ``-100``, the ``ignore_index`` of the
cross-entropy: they add nothing to the loss or its gradient. ``models.SequenceTagger``
is Embedding -> bidirectional GRU (or LSTM / RNN) -> Linear at every position.

Accuracy is per labelled token, on held-out sequences.
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
from minigrad import optim
from minigrad.utils.data import DataLoader, TensorDataset
from models import SequenceTagger

PAD = 0
IGNORE = -100  # the cross-entropy's ignore_index
TASKS = {
    # name: (token names (id 1, 2, ...), tag names)
    "updown": ([str(d) for d in range(1, 10)], ["down", "same", "up"]),
    "parity": (["0", "1"], ["even", "odd"]),
}


# --------------------------------------------------------------------------- data
def make_dataset(task: str, n: int, min_len: int, max_len: int, rng):
    """Token ids ``(n, max_len)`` (0 = padding), lengths ``(n,)`` and tags
    ``(n, max_len)`` (IGNORE where there is no label)."""
    tokens, _ = TASKS[task]
    x = np.full((n, max_len), PAD, dtype=np.int64)
    y = np.full((n, max_len), IGNORE, dtype=np.int64)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    for i, length in enumerate(lengths):
        values = rng.integers(0, len(tokens), size=length)  # the digits / bits
        x[i, :length] = values + 1  # ids start at 1: 0 is padding
        if task == "updown":
            y[i, 1:length] = np.sign(np.diff(values)) + 1  # 0 down, 1 same, 2 up
        else:
            y[i, :length] = np.cumsum(values) % 2  # 0 even, 1 odd
    return x, lengths, y


def show(ids, names) -> str:
    return " ".join(names[i] if i != IGNORE else "-" for i in ids)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=15, lr=5e-3, hidden=48,
                         epochs_help="passes over the training set")
    parser.add_argument("--task", choices=sorted(TASKS), default="updown",
                        help="what to tag (default updown)")
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="gru",
                        help="recurrent layer (default gru)")
    defaults = add_data_args(parser, min_len=5, max_len=30, train_size=2048)
    args = parse_args(parser, argv, defaults=defaults,
                      quick={"epochs": 3, "max_len": 12, "train_size": 512, "hidden": 24})
    if not 2 <= args.min_len <= args.max_len:
        fail(f"--min-len {args.min_len} --max-len {args.max_len}: need "
             "2 <= min-len <= max-len")
    token_names, tag_names = TASKS[args.task]
    vocab = len(token_names) + 1  # + padding

    plt = get_pyplot() if args.plot else None

    # ---- data ----------------------------------------------------------------------
    rng = np.random.default_rng(args.seed)
    x_train, len_train, y_train = make_dataset(args.task, args.train_size, args.min_len,
                                               args.max_len, rng)
    x_test, len_test, y_test = make_dataset(args.task, 512, args.min_len, args.max_len, rng)
    names = ["-"] + token_names
    print(f"task {args.task}: {args.train_size} training and {len(x_test)} test sequences "
          f"of length {args.min_len}..{args.max_len}; e.g.")
    for i in range(2):
        n = min(len_train[i], 12)
        print(f"    tokens {show(x_train[i, :n], names)}\n"
              f"    tags   {show(y_train[i, :n], tag_names)}")

    # ---- model ---------------------------------------------------------------------
    model = SequenceTagger(vocab_size=vocab, num_tags=len(tag_names), embed_dim=16,
                           hidden_size=args.hidden, cell=args.cell, bidirectional=True,
                           padding_idx=PAD, fused=True).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    print(f"model: SequenceTagger(bidirectional {args.cell}, hidden {args.hidden}), "
          f"{model.num_parameters():,} parameters")

    # ---- training ------------------------------------------------------------------
    # (tokens, length, tags) triples, reshuffled every epoch
    train_set = TensorDataset(mg.tensor(x_train), mg.tensor(len_train), mg.tensor(y_train))
    loader = DataLoader(train_set, batch_size=args.batch, shuffle=True,
                        generator=mg.Generator().manual_seed(args.seed))
    bar = LossBar(total=args.epochs * len(loader), desc=f"tag ({args.task})")
    for epoch in range(args.epochs):
        bar.set_epoch(epoch, args.epochs)
        model.train()
        for xb, lengths, yb in loader:
            xb, yb = xb.to(args.device), yb.to(args.device)

            optimizer.zero_grad()
            logits = model(xb, lengths)  # (batch, T, num_tags)
            loss = model.loss(logits, yb, ignore_index=IGNORE)  # skips the -100 tags
            loss.backward()
            mg.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            bar.update(loss.item())
    bar.close()

    # ---- held-out per-token accuracy -----------------------------------------------
    model.eval()
    with mg.no_grad():
        logits = model(mg.tensor(x_test, device=args.device), len_test)
    predicted = logits.argmax(dim=-1).numpy()
    labelled = y_test != IGNORE
    accuracy = float((predicted == y_test)[labelled].mean())
    whole = float(((predicted == y_test) | ~labelled).all(axis=1).mean())
    n = min(len_test[0], 12)
    shown = np.where(labelled[0, :n], predicted[0, :n], IGNORE)
    print(f"held-out example:\n    tokens    {show(x_test[0, :n], names)}\n"
          f"    predicted {show(shown, tag_names)}\n    true      {show(y_test[0, :n], tag_names)}")
    if plt is not None:
        save_loss_plot(plt, bar.losses, plot_path(args, "tag_loss.png"),
                       f"SequenceTagger ({args.task}, {args.cell}) training loss")
    print(final_line(bar, f"token accuracy {accuracy:.3f}",
                     f"sequences all right {whole:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
