"""Time one forward + backward of a recurrent layer alone (no head, no optimizer).

    python benchmarks/layer_step.py                    # batch 32, 50 steps, input 64, hidden 128
    python benchmarks/layer_step.py --batch 64 --timesteps 100

For RNN, LSTM and GRU: minigrad's graph path (``nn.RNN``...), its fused path
(``fused=True``) and the hand-derived ``models.bptt`` forward/backward, all in this one
process (a comparison of minigrad's own paths; to compare with PyTorch, use
``rnn_benchmark.py --cell lstm``, which runs every framework in a process of its own).
The loss is ``sum(output * g)`` for a fixed random ``g``, so every implementation
backpropagates the same upstream gradient.  Implementations are interleaved in a fresh
random order each round; medians after warm-up, float32.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from models import bptt  # noqa: E402

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def runners(cell: str, B: int, T: int, I: int, H: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    g = rng.standard_normal((B, T, H)).astype(np.float32)
    layer = LAYERS[cell](I, H)
    params = {k: v.astype(np.float32) for k, v in layer.state_dict().items()}
    out = {}
    for fused in (False, True):
        m = LAYERS[cell](I, H, fused=fused)
        m.load_state_dict(params)
        xt, gt = mg.tensor(x, requires_grad=True), mg.tensor(g)

        def step(m=m, xt=xt, gt=gt):
            m.zero_grad()
            output = m(xt)[0]
            (output * gt).sum().backward()

        out["minigrad fused" if fused else "minigrad graph"] = step
    forward, backward = getattr(bptt, f"{cell}_forward"), getattr(bptt, f"{cell}_backward")

    def hand():
        _, _, cache = forward(x, params)
        backward(cache, g)

    out["models.bptt"] = hand
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--timesteps", type=int, default=50)
    parser.add_argument("--input-size", type=int, default=64)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--cells", nargs="+", default=list(LAYERS))
    args = parser.parse_args(argv)
    shape = (args.batch, args.timesteps, args.input_size, args.hidden_size)
    print(f"forward + backward of one layer, B,T,I,H = {shape}, float32, median ms")
    print()
    header = None
    for cell in args.cells:
        fns = runners(cell, *shape)
        for fn in fns.values():
            for _ in range(3):
                fn()
        times = {k: [] for k in fns}
        order = list(fns.items())
        shuffle = random.Random(0).shuffle
        for _ in range(args.rounds):
            shuffle(order)  # a fresh order each round: no one always follows another
            for k, fn in order:
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        if header is None:
            header = list(med)
            print("| layer | " + " | ".join(header) + " |")
            print("|---|" + "---|" * len(header))
        print(f"| {cell.upper()} | " + " | ".join(f"{med[k]:.2f}" for k in header) + " |")


if __name__ == "__main__":
    main()
