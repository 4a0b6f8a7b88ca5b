"""Many-to-many regression: forecast the next value of a noisy signal.

    python examples/sine.py
    python examples/sine.py --cell lstm --plot

Each series is a sum of two sine waves (random frequencies, amplitudes and phases)
plus noise. At every step the model reads the value so far and predicts the next one:

    x_1 x_2 ... x_T   ->   GRU (or LSTM) -> Linear   ->   x_2 x_3 ... x_{T+1}

trained with the mean squared error (MSE). The model is written out below as a small
``nn.Module``: a recurrent layer and a linear read-out applied at every timestep.

How good is it? The test MSE is compared with the naive forecast "the next value equals
this one" and with the noise floor (the noise variance: no model can beat it). The
first ``WARMUP`` steps of each series are not scored: there the model has not yet seen
enough of the series to tell its frequencies.
"""

from __future__ import annotations

import sys

# _common comes before NumPy: it limits NumPy's threads (see _common.py)
from _common import (
    LossBar,
    final_line,
    get_pyplot,
    make_parser,
    parse_args,
    plot_path,
    positive_int,
    save_figure,
    save_loss_plot,
)

# isort: split
import numpy as np

import minigrad as mg
from minigrad import nn, optim
from minigrad.utils.data import DataLoader, TensorDataset

NOISE = 0.05  # standard deviation of the noise added to every value
WARMUP = 10  # steps at the start of a series that are not scored


class Forecaster(nn.Module):
    """(B, T, 1) values -> (B, T, 1) predictions of the next value at every step."""

    def __init__(self, hidden_size: int, cell: str = "gru"):
        super().__init__()
        layer = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = layer(1, hidden_size, batch_first=True, fused=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, hidden): the state after each step
        return self.head(out)  # (B, T, 1)


def make_series(n: int, steps: int, rng) -> np.ndarray:
    """``n`` noisy series of ``steps`` values, float32 ``(n, steps)``."""
    t = np.arange(steps)
    freq = rng.uniform(0.02, 0.12, size=(n, 2, 1))  # cycles per step
    amp = rng.uniform(0.3, 1.0, size=(n, 2, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, 2, 1))
    clean = (amp * np.sin(2 * np.pi * freq * t + phase)).sum(axis=1)
    return (clean + NOISE * rng.standard_normal((n, steps))).astype(np.float32)


def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=60, lr=5e-3, hidden=48,
                         epochs_help="passes over the training set")
    parser.add_argument("--cell", choices=("gru", "lstm"), default="gru",
                        help="recurrent layer (default gru)")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="length of each series (default 80)")
    parser.add_argument("--train-size", type=positive_int, default=None,
                        help="training series (default 1024)")
    parser.add_argument("--batch", type=positive_int, default=32, help="batch size (default 32)")
    args = parse_args(parser, argv, defaults={"steps": 80, "train_size": 1024},
                      quick={"epochs": 4, "steps": 40, "train_size": 256, "hidden": 24})
    plt = get_pyplot() if args.plot else None
    warmup = min(WARMUP, args.steps // 2)

    # ---- data: inputs are the values, targets the same series one step later --------
    rng = np.random.default_rng(args.seed)
    train = make_series(args.train_size, args.steps + 1, rng)
    test = make_series(256, args.steps + 1, rng)
    print(f"{args.train_size} training and {len(test)} test series of {args.steps} steps "
          f"(two sines + noise of std {NOISE})")

    model = Forecaster(args.hidden, args.cell).to(args.device)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)
    loss_fn = nn.MSELoss()
    print(f"model: {args.cell.upper()}({args.hidden}) + Linear, "
          f"{model.num_parameters():,} parameters")

    # ---- training ------------------------------------------------------------------
    # each sample: the series as inputs, the same series one step later as targets
    train_set = TensorDataset(mg.tensor(train[:, :-1, None]), mg.tensor(train[:, 1:, None]))
    loader = DataLoader(train_set, batch_size=args.batch, shuffle=True,
                        generator=mg.Generator().manual_seed(args.seed))
    bar = LossBar(total=args.epochs * len(loader), desc=f"sine ({args.cell})")
    for epoch in range(args.epochs):
        bar.set_epoch(epoch, args.epochs)
        for inputs, targets in loader:  # (B, T, 1) each, a new order every epoch
            inputs, targets = inputs.to(args.device), targets.to(args.device)

            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            bar.update(loss.item())
        scheduler.step()  # lower the learning rate a little every epoch
    bar.close()

    # ---- test: the model vs "the next value equals this one" -----------------------
    model.eval()
    with mg.no_grad():
        predicted = model(mg.tensor(test[:, :-1, None], device=args.device)).numpy()[..., 0]
    target = test[:, 1:]
    test_mse = float(((predicted - target)[:, warmup:] ** 2).mean())
    naive_mse = float(((test[:, :-1] - target)[:, warmup:] ** 2).mean())
    print(f"test MSE (steps {warmup + 1}..{args.steps}): model {test_mse:.5f}, "
          f"naive last value {naive_mse:.5f}, noise floor {NOISE ** 2:.5f}")

    if plt is not None:
        save_loss_plot(plt, bar.losses, plot_path(args, "sine_loss.png"),
                       f"{args.cell.upper()} forecaster: training MSE", ylabel="MSE")
        fig, ax = plt.subplots(figsize=(7, 3))
        t = np.arange(1, args.steps + 1)
        ax.plot(t, target[0], ".", color="0.4", markersize=4, label="true next value")
        ax.plot(t, predicted[0], color="tab:red", label="model forecast")
        ax.axvspan(0.5, warmup + 0.5, color="0.9", label="warm-up (not scored)")
        ax.set_xlabel("step")
        ax.legend(frameon=False, fontsize=8, loc="upper right")
        ax.set_title("One-step-ahead forecast of a held-out series")
        save_figure(plt, fig, plot_path(args, "sine_forecast.png"))

    print(final_line(bar, f"test MSE {test_mse:.5f} vs naive {naive_mse:.5f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
