"""What every example shares: command-line options, the device check, error exits, a
progress bar that shows the running loss, and optional plots.

Nothing here is needed to understand an example's model or training loop; it only
keeps the examples short. The pieces:

* :func:`make_parser` / :func:`parse_args` -- ``--epochs --lr --hidden --device --seed
  --quick --plot --plot-dir``. Options left out get the example's default, or its
  ``--quick`` value (a seconds-long smoke run) when ``--quick`` is given.
* :func:`fail` -- print ``error: ...`` on stderr and exit with status 2 (no traceback).
* :class:`LossBar` -- a tqdm bar; call ``bar.update(loss)`` once per optimizer step.
* :func:`final_line` -- the last line of every example, in one parseable format::

      final: loss 3.912 -> 0.418, accuracy 0.970 (12.3 s)

* :func:`get_pyplot` / :func:`save_loss_plot` -- matplotlib is an optional extra
  (``pip install -e '.[plot]'`` in the minigrad repository); without it ``--plot`` says
  so and training runs on.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Sequence

# NumPy's BLAS (OpenBLAS) starts one thread per core for every matrix product. With
# the small matrices of these examples that only costs time, and when the cores are
# busy (other programs, tests running in parallel) its spinning threads can make a run
# many times slower. So the examples use one BLAS thread, unless you set the variables
# yourself. This only works before NumPy is first imported: import _common first.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# Running `python examples/foo.py` puts examples/ (not the repository root) on sys.path.
# minigrad and models are normally installed (`pip install -e .`); this line also lets
# the examples run from a plain checkout.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from tqdm.auto import tqdm  # noqa: E402

import minigrad as mg  # noqa: E402

PLOT_HINT = "install the plot extra: pip install -e '.[plot]' (in the minigrad repository)"


# --------------------------------------------------------------------------- errors
def fail(message: str) -> None:
    """Print ``error: message`` to stderr and exit with status 2 (bad input)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


# --------------------------------------------------------------------------- options
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


class ArgumentParser(argparse.ArgumentParser):
    """argparse, with its errors in the examples' format: one line, exit status 2."""

    def error(self, message: str) -> None:
        fail(f"{message} (see {self.prog} --help)")


def make_parser(description: str, *, epochs: int, lr: float, hidden: int,
                epochs_help: str = "training epochs") -> ArgumentParser:
    """An ``ArgumentParser`` with the options every example has.

    Options default to ``None`` here; :func:`parse_args` fills in the example's
    defaults (or its ``--quick`` values) afterwards, so ``--quick --epochs 5`` keeps
    the 5.
    """
    parser = ArgumentParser(description=description,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"{epochs_help} (default {epochs})")
    parser.add_argument("--lr", type=positive_float, default=None,
                        help=f"learning rate (default {lr:g})")
    parser.add_argument("--hidden", type=positive_int, default=None,
                        help=f"hidden size of the recurrent layer (default {hidden})")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cpu (NumPy) or cuda (CuPy on a GPU) (default cpu)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny, seconds-long run (smoke test)")
    parser.add_argument("--plot", action="store_true",
                        help="save plots (PNG) into --plot-dir; needs matplotlib")
    parser.add_argument("--plot-dir", default="runs", metavar="DIR",
                        help="where --plot writes its images (default runs/)")
    parser.set_defaults(_defaults={"epochs": epochs, "lr": lr, "hidden": hidden})
    return parser


def add_data_args(parser: argparse.ArgumentParser, *, min_len: int, max_len: int,
                  train_size: int, unit: str = "sequence") -> dict:
    """Add the generated-data options (``--min-len --max-len --train-size --batch``);
    returns their defaults, for ``parse_args(..., defaults=...)``."""
    parser.add_argument("--min-len", type=positive_int, default=None,
                        help=f"shortest {unit} (default {min_len})")
    parser.add_argument("--max-len", type=positive_int, default=None,
                        help=f"longest {unit} (default {max_len})")
    parser.add_argument("--train-size", type=positive_int, default=None,
                        help=f"training {unit}s (default {train_size})")
    parser.add_argument("--batch", type=positive_int, default=64, help="batch size (default 64)")
    return {"min_len": min_len, "max_len": max_len, "train_size": train_size}


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, *,
               defaults: dict | None = None, quick: dict | None = None) -> argparse.Namespace:
    """Parse the command line, then give every option still ``None`` its value:
    ``quick[name]`` under ``--quick``, else ``defaults[name]`` (and the ``epochs``,
    ``lr``, ``hidden`` given to :func:`make_parser`). Seeds minigrad and NumPy, and
    checks ``--device``."""
    args = parser.parse_args(argv)
    values = dict(args._defaults)
    values.update(defaults or {})
    del args._defaults
    for name, value in values.items():
        if getattr(args, name, None) is None:
            if args.quick and quick and name in quick:
                value = quick[name]
            setattr(args, name, value)
    check_device(args.device)
    mg.manual_seed(args.seed)
    return args


def check_device(device: str) -> None:
    """Exit with a one-line error when ``--device cuda`` cannot work here."""
    if device == "cuda" and not mg.cuda.is_available():
        fail("--device cuda: no usable GPU (it needs CuPy and an NVIDIA GPU: "
             "pip install -e '.[cuda]' in the minigrad repository); "
             "run with --device cpu instead")


# --------------------------------------------------------------------------- training
class LossBar:
    """A tqdm progress bar over optimizer steps that keeps every loss.

        bar = LossBar(total=steps, desc="train")
        for epoch in range(epochs):
            for batch in batches:
                ...                      # zero_grad, forward, backward, clip, step
                bar.update(loss.item())  # one step done: shows the running loss
        bar.close()

    The postfix shows the running (exponentially smoothed) loss. ``bar.losses`` holds
    every logged loss; ``bar.first`` is the very first one and ``bar.last`` the mean of
    the last few (a tenth of the run, at most 20): :func:`final_line` prints both.
    """

    def __init__(self, total: int, desc: str = "train", smoothing: float = 0.9):
        self.losses: list[float] = []
        self.running: float | None = None
        self.smoothing = smoothing
        self.desc = desc
        self.start = time.perf_counter()
        self.bar = tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True,
                        leave=False)

    def update(self, loss: float) -> None:
        loss = float(loss)
        self.losses.append(loss)
        s = self.smoothing
        self.running = loss if self.running is None else s * self.running + (1 - s) * loss
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{self.running:.4f}", refresh=False)

    def set_epoch(self, epoch: int, epochs: int) -> None:
        """Show ``epoch i/N`` in the bar's description (``epoch`` counted from 0)."""
        self.bar.set_description(f"{self.desc} epoch {epoch + 1}/{epochs}", refresh=False)

    def write(self, message: str) -> None:
        """Print a line above the bar (``print`` would break the bar)."""
        tqdm.write(message)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def first(self) -> float:
        return self.losses[0] if self.losses else float("nan")

    @property
    def last(self) -> float:
        if not self.losses:
            return float("nan")
        k = min(20, max(1, len(self.losses) // 10))
        tail = self.losses[-k:]
        return sum(tail) / len(tail)


def final_line(losses, *metrics: str, start: float | None = None) -> str:
    """``final: loss A -> B, <metrics> (T s)``: the last line every example prints.

    ``losses`` is a :class:`LossBar` (A = its first loss, B = its last ones, T = the
    time since it was created) or a pair ``(A, B)`` with ``start`` a
    ``time.perf_counter()`` reading.
    """
    if isinstance(losses, LossBar):
        first, last, start = losses.first, losses.last, losses.start
    else:
        first, last = losses
    parts = [f"loss {first:.4g} -> {last:.4g}", *metrics]
    return f"final: {', '.join(parts)} ({time.perf_counter() - start:.1f} s)"


# --------------------------------------------------------------------------- plots
_pyplot = None


def get_pyplot():
    """``matplotlib.pyplot`` (non-interactive backend), or None after printing how to
    install it. Call it before training so that a missing extra shows up at once."""
    global _pyplot
    if _pyplot is not None:
        return _pyplot
    try:
        import matplotlib
    except ImportError:
        print(f"--plot: matplotlib is not installed; {PLOT_HINT} "
              "(training runs without plots)", file=sys.stderr)
        return None
    matplotlib.use("Agg")  # write files; never open a window
    import matplotlib.pyplot as plt

    _pyplot = plt
    return plt


def plot_path(args: argparse.Namespace, name: str) -> str:
    """``<plot-dir>/<name>``, creating the directory."""
    try:
        os.makedirs(args.plot_dir, exist_ok=True)
    except OSError as e:
        fail(f"--plot-dir {args.plot_dir}: cannot create it ({e.strerror})")
    return os.path.join(args.plot_dir, name)


def save_figure(plt, fig, path: str) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"saved {path}")


def save_loss_plot(plt, losses: Sequence[float], path: str, title: str,
                   ylabel: str = "loss") -> None:
    """Training loss per step (thin) and its moving average (thick)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, color="tab:blue", alpha=0.3, linewidth=0.8, label="per step")
    window = max(1, len(losses) // 25)
    if window > 1:
        smooth = [sum(losses[max(0, i - window + 1):i + 1]) / (i + 1 - max(0, i - window + 1))
                  for i in range(len(losses))]
        ax.plot(steps, smooth, color="tab:blue", linewidth=2, label=f"mean of {window}")
        ax.legend(frameon=False)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    save_figure(plt, fig, path)
