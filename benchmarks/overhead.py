"""Per-op overhead of minigrad's autograd (and PyTorch's, when installed).

    python benchmarks/overhead.py
    python benchmarks/overhead.py --torch-python /path/to/venv-with-torch/bin/python

Each library is timed in a fresh process of its own, with its defaults.

Reports microseconds for:
* ``a + b`` forward only, (8, 8) float32 tensors with grad;
* ``a * b + c`` forward + backward (the issue's per-op figure);
* a 1,000-step chain ``x = tanh(x * w)`` : forward, plain ``backward()`` and
  ``backward(create_graph=True)`` -- the price of second-order support is paid only by
  the call that asks for it; the plain backward runs on raw arrays;
* a large-vocabulary loss on (700, 18000) float32 logits: ``log_softmax`` + ``nll_loss``
  forward, and forward + backward, and ``cross_entropy`` forward + backward.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timeit(fn, repeat: int = 5, number: int = 2000) -> float:
    """Median microseconds per call over ``repeat`` batches of ``number`` calls."""
    for _ in range(min(number, 200)):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t0) / number * 1e6)
    return statistics.median(samples)


def chain(lib, x0, w, steps=1000):
    x = x0
    for _ in range(steps):
        x = lib.tanh(x * w)
    return x.sum()


def bench(lib, name) -> dict:
    a, b, c = (lib.randn(8, 8, requires_grad=True) for _ in range(3))
    grad = lib.ones(8, 8)
    out = {}
    out["a + b forward (us)"] = timeit(lambda: a + b)
    out["a * b + c forward+backward (us)"] = timeit(lambda: (a * b + c).backward(grad))
    x0 = lib.randn(4, 4)
    w = lib.full((4, 4), 0.9, requires_grad=True)
    out["1000-step chain forward (ms)"] = timeit(lambda: chain(lib, x0, w), 3, 5) / 1e3

    def plain():
        chain(lib, x0, w).backward()

    def second_order():
        chain(lib, x0, w).backward(create_graph=True)
        w.grad = None

    out["1000-step chain forward+backward (ms)"] = timeit(plain, 3, 5) / 1e3
    out["1000-step chain forward+backward(create_graph) (ms)"] = timeit(second_order, 3, 5) / 1e3

    # a large-vocabulary loss: 700 positions x 18,000 classes (the wordlm head)
    F = lib.nn.functional
    logits = lib.randn(700, 18000, requires_grad=True)
    target = lib.randint(0, 18000, (700,))

    def loss_step(loss):
        logits.grad = None
        loss().backward()

    out["log_softmax + nll_loss (700, 18000) forward (ms)"] = timeit(
        lambda: F.nll_loss(F.log_softmax(logits, dim=1), target), 5, 4) / 1e3
    out["log_softmax + nll_loss (700, 18000) forward+backward (ms)"] = timeit(
        lambda: loss_step(lambda: F.nll_loss(F.log_softmax(logits, dim=1), target)), 5, 4) / 1e3
    out["cross_entropy (700, 18000) forward+backward (ms)"] = timeit(
        lambda: loss_step(lambda: F.cross_entropy(logits, target)), 5, 4) / 1e3
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--torch-python", default=sys.executable,
                        help="interpreter for the PyTorch run (default: this one)")
    parser.add_argument("--worker", choices=("minigrad", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(bench(importlib.import_module(args.worker), args.worker)))
        return
    results = {}
    for lib, python in (("minigrad", sys.executable), ("torch", args.torch_python)):
        proc = subprocess.run([python, os.path.abspath(__file__), "--worker", lib],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            if lib == "minigrad":
                raise RuntimeError(f"the minigrad run failed:\n{proc.stderr}")
            print(f"(torch not run: {proc.stderr.strip().splitlines()[-1]})",
                  file=sys.stderr)
            continue
        results[lib] = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = list(results["minigrad"])
    libs = list(results)
    print("| measure | " + " | ".join(libs) + " |")
    print("|---|" + "---|" * len(libs))
    for r in rows:
        print(f"| {r} | " + " | ".join(f"{results[lib][r]:.2f}" for lib in libs) + " |")


if __name__ == "__main__":
    main()
