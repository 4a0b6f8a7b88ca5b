"""Many-to-one: read a whole sequence, answer one question about it.

    python examples/classify.py
    python examples/classify.py --cell rnn     # a vanilla RNN: stuck near chance (0.5)
    python examples/classify.py --max-len 20 --cell rnn      # shorter: it copes

The question: does this sequence of digits contain the pattern ``3 1 4`` (in a row)?

    7 3 1 4 9 2            -> yes
    3 1 8 4 1 3 4 4 2 6 1  -> no (only near misses)

Half of the generated sequences contain the pattern (planted at a random place); the
others do not contain it at all. Sequences have different lengths (``--min-len`` to
``--max-len``). The pipeline is the one of PyTorch's tutorials, name for name:

* a ``Dataset`` of ``(tokens, label)`` pairs and a ``DataLoader`` whose ``collate_fn``
  pads each batch with ``pad_sequence`` (token 0 is padding) and keeps the lengths;
* the model packs the embedded batch with
  ``pack_padded_sequence(..., batch_first=True, enforce_sorted=False)``, runs
  ``nn.LSTM`` (or GRU / RNN) on the ``PackedSequence`` -- so the padding never enters
  the recurrence -- and classifies ``h_n``, the state at each sequence's real last
  token; ``pad_packed_sequence`` turns the per-step outputs back into a padded batch,
  used after training to show at which step the model "sees" the pattern.

To answer, the network must remember whether it has seen ``3 1 4`` however long ago,
while watching for new partial matches. Accuracy is measured on held-out sequences the
model never trained on (chance: 0.5).
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
from minigrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
from minigrad.utils.data import DataLoader, Dataset

PAD = 0
VOCAB = 10  # token 0 is padding; the digits 1..9 are the symbols
PATTERN = np.array([3, 1, 4])
RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# --------------------------------------------------------------------------- data
def contains(seq: np.ndarray, pattern: np.ndarray) -> bool:
    k = len(pattern)
    return any((seq[i:i + k] == pattern).all() for i in range(len(seq) - k + 1))


class PatternDataset(Dataset):
    """``n`` digit sequences of lengths ``min_len..max_len`` with labels: 1 if the
    sequence contains PATTERN, 0 otherwise (half and half, shuffled)."""

    def __init__(self, n: int, min_len: int, max_len: int, rng):
        self.sequences, self.labels = [], []
        for i in rng.permutation(n):
            label = int(i % 2)
            length = rng.integers(min_len, max_len + 1)
            while True:
                seq = rng.integers(1, VOCAB, size=length)
                if label:  # plant the pattern at a random place
                    at = rng.integers(0, length - len(PATTERN) + 1)
                    seq[at:at + len(PATTERN)] = PATTERN
                if contains(seq, PATTERN) == bool(label):
                    break
            self.sequences.append(mg.tensor(seq))
            self.labels.append(label)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i):
        return self.sequences[i], self.labels[i]


def collate(batch):
    """``[(tokens (L_i,), label), ...]`` -> padded tokens ``(B, T)``, lengths ``(B,)``,
    labels ``(B,)``: the usual ``collate_fn`` for variable-length sequences."""
    sequences, labels = zip(*batch)
    lengths = mg.tensor([len(s) for s in sequences])
    return pad_sequence(sequences, batch_first=True, padding_value=PAD), lengths, \
        mg.tensor(labels)


def show(seq) -> str:
    return " ".join(str(t) for t in seq.tolist())


# --------------------------------------------------------------------------- model
class Classifier(nn.Module):
    """Embedding -> LSTM (GRU / RNN) over the packed batch -> Linear on ``h_n``."""

    def __init__(self, cell: str, embed_dim: int, hidden: int, num_classes: int = 2):
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, embed_dim, padding_idx=PAD)
        # fused=True: minigrad's one extra argument, the whole layer as one autograd
        # node (the same numbers as the default per-step graph, and faster)
        self.rnn = RECURRENT[cell](embed_dim, hidden, batch_first=True, fused=True)
        self.fc = nn.Linear(hidden, num_classes)

    def encode(self, tokens, lengths):
        embedded = self.embedding(tokens)  # (B, T, E)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True,
                                      enforce_sorted=False)
        packed_output, hidden = self.rnn(packed)
        if isinstance(hidden, tuple):  # LSTM: (h_n, c_n)
            hidden = hidden[0]
        return packed_output, hidden  # hidden: (num_layers, B, H), the caller's order

    def forward(self, tokens, lengths):
        _, hidden = self.encode(tokens, lengths)
        return self.fc(hidden[-1])  # each sequence's state at its own last token

    def per_step(self, tokens, lengths):
        """The classifier applied after every step, ``(B, T, 2)``: what the model
        would answer had the sequence ended there."""
        packed_output, _ = self.encode(tokens, lengths)
        output, _ = pad_packed_sequence(packed_output, batch_first=True)  # (B, T, H)
        return self.fc(output)


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=20, lr=5e-3, hidden=64,
                         epochs_help="passes over the training set")
    parser.add_argument("--cell", choices=tuple(RECURRENT), default="lstm",
                        help="recurrent layer (default lstm)")
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
    train = PatternDataset(args.train_size, args.min_len, args.max_len, rng)
    test = PatternDataset(512, args.min_len, args.max_len, rng)
    loader = DataLoader(train, batch_size=args.batch, shuffle=True, collate_fn=collate)
    print(f"{len(train)} training and {len(test)} test sequences of length "
          f"{args.min_len}..{args.max_len}; pattern {' '.join(map(str, PATTERN))}; e.g.")
    for i in range(3):
        tokens, label = train[i]
        print(f"    {'yes' if label else 'no ':3}  {show(tokens)}")

    # ---- model ---------------------------------------------------------------------
    model = Classifier(args.cell, embed_dim=16, hidden=args.hidden).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()
    print(f"model: Embedding -> {type(model.rnn).__name__}(hidden {args.hidden}) on packed "
          f"sequences -> Linear, {model.num_parameters():,} parameters")

    # ---- training ------------------------------------------------------------------
    bar = LossBar(total=args.epochs * len(loader), desc=f"classify ({args.cell})")
    for epoch in range(args.epochs):
        bar.set_epoch(epoch, args.epochs)
        model.train()
        for tokens, lengths, labels in loader:
            tokens, labels = tokens.to(args.device), labels.to(args.device)

            optimizer.zero_grad()
            logits = model(tokens, lengths)  # (batch, 2)
            loss = loss_fn(logits, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            bar.update(loss.item())
    bar.close()

    # ---- held-out accuracy ---------------------------------------------------------
    model.eval()
    tokens, lengths, labels = collate([test[i] for i in range(len(test))])
    with mg.no_grad():
        tokens = tokens.to(args.device)
        predicted = model(tokens, lengths).argmax(dim=-1).numpy()
        # what it would answer after each token: from where on does it say "yes"?
        step_yes = model.per_step(tokens, lengths).argmax(dim=-1).numpy() == 1
    accuracy = float((predicted == labels.numpy()).mean())
    print("held-out examples, the model's answers:")
    for i in range(4):
        verdict = "right" if predicted[i] == labels[i].item() else "WRONG"
        seq, _ = test[i]
        no_until = np.flatnonzero(~step_yes[i, :len(seq)])  # steps answered "no"
        since = no_until[-1] + 2 if no_until.size else 1
        when = f", yes from token {since} on" if predicted[i] and since <= len(seq) else ""
        print(f"    {'yes' if predicted[i] else 'no ':3} ({verdict}{when})  {show(seq)}")
    if plt is not None:
        save_loss_plot(plt, bar.losses, plot_path(args, "classify_loss.png"),
                       f"{type(model.rnn).__name__} classifier ({args.cell}) training loss")
    print(final_line(bar, f"test accuracy {accuracy:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
