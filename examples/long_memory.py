"""Long-term memory: where the vanilla RNN fails and LSTM / GRU succeed.

    python examples/long_memory.py                       # T = 10, 30, 60
    python examples/long_memory.py --lengths 20,100 --epochs 3000 --plot

The adding problem (Hochreiter & Schmidhuber, 1997). Every input step carries two
numbers: a random value in [0, 1] and a marker, 1 at exactly two steps (one in the
first half of the sequence, one in the second) and 0 elsewhere:

    value   0.31  0.87  0.12  0.55  0.70  0.04  ...  0.93  0.28
    marker  0     1     0     0     0     0     ...  1     0      -> target 0.87 + 0.93

The target is the sum of the two marked values, read off the final hidden state. To
solve it a network must keep a number in its state for up to T steps while ignoring
everything else, and the gradient must travel back as far. A model that gives up and
always answers the mean (1.0) scores MSE = Var(sum of two uniforms) = 2/12 ~ 0.167: on
this task the vanilla RNN's gradients vanish over long spans and it gets stuck there,
while the gated cells (LSTM, GRU) learn it.

For each length T, one model per cell is trained on fresh random batches, then tested
on 1000 new sequences. The table shows the test MSE.
"""

from __future__ import annotations

import sys
import time

# _common comes before NumPy: it limits NumPy's threads (see _common.py)
from _common import (
    LossBar,
    fail,
    final_line,
    get_pyplot,
    make_parser,
    parse_args,
    plot_path,
    positive_int,
    save_figure,
)

# isort: split
import numpy as np

import minigrad as mg
from minigrad import nn, optim

CELLS = ("rnn", "lstm", "gru")
BASELINE = 2 / 12  # MSE of always predicting the mean sum, 1.0
SOLVED = 0.01  # a test MSE below this counts as solved


def adding_batch(n: int, steps: int, rng):
    """Inputs ``(n, steps, 2)`` (value, marker) and targets ``(n,)``."""
    values = rng.uniform(0, 1, size=(n, steps))
    markers = np.zeros((n, steps))
    half = steps // 2
    rows = np.arange(n)
    markers[rows, rng.integers(0, half, size=n)] = 1  # one in the first half
    markers[rows, rng.integers(half, steps, size=n)] = 1  # one in the second half
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values * markers).sum(axis=1).astype(np.float32)
    return x, y


class Adder(nn.Module):
    """A recurrent layer over the sequence, a linear read-out of its last output."""

    def __init__(self, cell: str, hidden_size: int):
        super().__init__()
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = layer(2, hidden_size, batch_first=True, fused=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, hidden)
        return self.head(out[:, -1]).squeeze(-1)  # (B,): one number per sequence


def train_one(cell: str, steps: int, args, rng):
    """Train one model on length-``steps`` sequences; return (losses, test MSE)."""
    model = Adder(cell, args.hidden).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    bar = LossBar(total=args.epochs, desc=f"T={steps:<3d} {cell:4s}")
    for _step in range(args.epochs):  # every step draws a fresh batch
        x, y = adding_batch(args.batch, steps, rng)
        x, y = mg.tensor(x, device=args.device), mg.tensor(y, device=args.device)

        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        bar.update(loss.item())
    bar.close()

    x, y = adding_batch(1000, steps, np.random.default_rng(10_000 + steps))  # test set
    model.eval()
    with mg.no_grad():
        mse = loss_fn(model(mg.tensor(x, device=args.device)),
                      mg.tensor(y, device=args.device)).item()
    return bar, mse


def parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        lengths = []
    if not lengths or min(lengths) < 2:
        fail(f"--lengths {text!r}: expected comma-separated sequence lengths >= 2, "
             "e.g. 10,30,60")
    return lengths


def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=1500, lr=1e-2, hidden=32,
                         epochs_help="training steps per model, a fresh batch each")
    parser.add_argument("--lengths", default=None,
                        help="comma-separated sequence lengths T (default 10,30,60)")
    parser.add_argument("--cells", default="rnn,lstm,gru",
                        help="which cells to compare (default rnn,lstm,gru)")
    parser.add_argument("--batch", type=positive_int, default=64, help="batch size (default 64)")
    args = parse_args(parser, argv, defaults={"lengths": "10,30,60"},
                      quick={"epochs": 150, "lengths": "5,10", "hidden": 16})
    lengths = parse_lengths(args.lengths)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if not cells or any(c not in CELLS for c in cells):
        fail(f"--cells {args.cells!r}: expected a comma-separated subset of rnn,lstm,gru")
    plt = get_pyplot() if args.plot else None
    rng = np.random.default_rng(args.seed)
    print(f"adding problem: {args.epochs} steps of {args.batch} sequences per model, "
          f"hidden size {args.hidden}; MSE of always answering the mean: {BASELINE:.3f}")

    start = time.perf_counter()
    results = {}  # (T, cell) -> (losses, test MSE)
    for steps in lengths:
        for cell in cells:
            mg.manual_seed(args.seed)  # every model starts from the same random stream
            bar, mse = train_one(cell, steps, args, rng)
            results[steps, cell] = (bar, mse)
            verdict = "solved" if mse < SOLVED else "stuck near the mean" if mse > 0.1 else ""
            print(f"T={steps:<4d} {cell:5s} test MSE {mse:.4f}  {verdict}", flush=True)

    # ---- the table ---------------------------------------------------------------------
    print(f"\ntest MSE (always answering the mean: {BASELINE:.3f}; solved: below {SOLVED})")
    print("T".rjust(6) + "".join(c.rjust(10) for c in cells))
    for steps in lengths:
        print(f"{steps:6d}" + "".join(f"{results[steps, c][1]:10.4f}" for c in cells))

    if plt is not None:
        fig, axes = plt.subplots(1, len(lengths), figsize=(3.2 * len(lengths), 3),
                                 sharey=True, squeeze=False)
        for ax, steps in zip(axes[0], lengths):
            for cell in cells:
                losses = np.array(results[steps, cell][0].losses)
                k = max(1, len(losses) // 50)
                smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
                ax.plot(smooth, label=cell)
            ax.axhline(BASELINE, color="0.5", linestyle="--", linewidth=1,
                       label="always the mean")
            ax.set_yscale("log")
            ax.set_title(f"T = {steps}")
            ax.set_xlabel("step")
        axes[0][0].set_ylabel("training MSE")
        axes[0][0].legend(frameon=False, fontsize=8)
        save_figure(plt, fig, plot_path(args, "long_memory.png"))

    first = float(np.mean([bar.first for bar, _ in results.values()]))
    last = float(np.mean([bar.last for bar, _ in results.values()]))
    longest = max(lengths)
    table = ", ".join(f"{c} {results[longest, c][1]:.4f}" for c in cells)
    print(final_line((first, last), f"test MSE at T={longest}: {table}", start=start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
