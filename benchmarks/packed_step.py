"""Step time of variable-length batches: packing vs padding with masks.

    python benchmarks/packed_step.py                   # small config, LSTM
    python benchmarks/packed_step.py --cell gru --config medium --repeats 20

One training step (forward, ``loss.backward()``) of a many-to-one recurrent layer on
the benchmark's config (``benchmarks/workloads.py``), the loss reading each sequence's
state at its true end, four ways:

* ``full``        -- every sequence has length T: the plain layer, the floor;
* ``pad+gather``  -- padded batch, the layer over all T steps, ``out[b, len_b - 1]``
  gathered (valid for one direction only; the padding is computed and thrown away);
* ``pad+mask``    -- padded batch, one step at a time with the state frozen past each
  end by ``mg.where`` (what a masked loop costs; ``models.Seq2Seq`` did this);
* ``packed``      -- ``pack_padded_sequence(..., enforce_sorted=False)``, the layer on
  the ``PackedSequence``, ``h_n`` (the PyTorch way);

for the graph path and ``fused=True``.  Lengths are uniform in ``[T/2, T]``
(``--min-frac``).  Prints the median over ``--repeats`` steps, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from workloads import CONFIGS  # noqa: E402  (the benchmark's sizes)

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.nn.utils.rnn import pack_padded_sequence  # noqa: E402

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def final_state(state):
    return state[0] if isinstance(state, tuple) else state


def make_steps(cell: str, fused: bool, B: int, T: int, I: int, H: int, lengths):
    layer = LAYERS[cell](I, H, fused=fused)
    x = mg.randn(B, T, I)
    weight = mg.randn(B, H)
    rows = np.arange(B)

    def full():
        _, state = layer(x)
        return final_state(state)[-1]

    def pad_gather():
        out, _ = layer(x)
        return out[rows, lengths - 1]

    def pad_mask():
        state = None
        for t in range(T):
            _, new = layer(x[:, t:t + 1], state)
            if state is not None:
                valid = mg.tensor(lengths > t).reshape(1, -1, 1)
                new = (tuple(mg.where(valid, n, s) for n, s in zip(new, state))
                       if isinstance(new, tuple) else mg.where(valid, new, state))
            state = new
        return final_state(state)[-1]

    def packed():
        _, state = layer(pack_padded_sequence(x, lengths, batch_first=True,
                                              enforce_sorted=False))
        return final_state(state)[-1]

    def step(fn):
        def run():
            layer.zero_grad()
            (fn() * weight).sum().backward()
        return run

    return {"full": step(full), "pad+gather": step(pad_gather),
            "pad+mask": step(pad_mask), "packed": step(packed)}


def median_ms(fn, repeats: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", choices=list(CONFIGS), default="small")
    parser.add_argument("--cell", choices=list(LAYERS), default="lstm")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--min-frac", type=float, default=0.5,
                        help="shortest length as a fraction of T (default 0.5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = CONFIGS[args.config]
    B, T, I, H = cfg["B"], cfg["T"], cfg["I"], cfg["H"]
    mg.manual_seed(args.seed)
    lengths = np.random.default_rng(args.seed).integers(
        max(1, int(args.min_frac * T)), T + 1, size=B)
    print(f"{args.cell}, config {args.config}: B={B} T={T} I={I} H={H}, lengths "
          f"{lengths.min()}..{lengths.max()} (mean {lengths.mean():.1f}), float32, "
          f"median of {args.repeats} steps (forward + backward), ms")
    print(f"{'path':8}" + "".join(f"{name:>12}" for name in
                                  ("full", "pad+gather", "pad+mask", "packed")))
    for fused in (False, True):
        steps = make_steps(args.cell, fused, B, T, I, H, lengths)
        row = [median_ms(fn, args.repeats) for fn in steps.values()]
        print(f"{'fused' if fused else 'graph':8}" + "".join(f"{ms:12.2f}" for ms in row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
