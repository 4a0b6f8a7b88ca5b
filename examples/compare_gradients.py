"""Is backpropagation through time really just autograd? Check it, number by number.

    python examples/compare_gradients.py                 # RNN, LSTM and GRU in turn
    python examples/compare_gradients.py --cell lstm --layers 2 --bidirectional --fused
    python examples/compare_gradients.py --dtype float32 --device cuda

minigrad computes the gradients of a recurrent layer in two independent ways:

* autograd: ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` run a Python loop over the timesteps;
  every operation is recorded in a graph and ``loss.backward()`` walks it backwards
  (with ``--fused``, also the ``fused=True`` path: one graph node per layer);
* by hand: ``models.bptt`` has the BPTT equations derived on paper and written with
  plain arrays, no autograd anywhere.

Both get the same random weights, input ``x``, initial state ``h0`` (and ``c0``) and
upstream gradients ``G``, i.e. the loss ``L = sum(out * G_out) + sum(h_n * G_h)``.
Each table row is one quantity: the forward outputs, then dL/d(every weight), dL/dx
and dL/dh0, with the largest absolute and relative difference between the two ways.
In float64 they agree to ~1e-15 (rounding); a row passes below 1e-9.

Options are those of ``python -m models.compare_gradients`` (shown below); without
``--cell`` all three cells are checked. Exit status: 0 all rows pass, 1 a row fails,
2 bad arguments. ``--quick`` is accepted (every run here takes a fraction of a second).
"""

from __future__ import annotations

import sys
import time

from _common import check_device  # noqa: F401  (also puts the repository on sys.path)

from models import compare_gradients

CELLS = ("rnn", "lstm", "gru")


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = [a for a in argv if a != "--quick"]
    if "-h" in argv or "--help" in argv:
        print(__doc__)
        return compare_gradients.main(["--help"])
    if any(a == "--cell" or a.startswith("--cell=") for a in argv):
        cells = [None]  # the command line names the cell
    elif any(a.startswith("--nonlinearity") for a in argv):
        cells = ["rnn"]  # --nonlinearity exists for the vanilla RNN only
    else:
        cells = CELLS
    start = time.perf_counter()
    results = []
    for cell in cells:
        if results:
            print("\n" + "=" * 72 + "\n")
        code = compare_gradients.main(argv if cell is None else ["--cell", cell, *argv])
        if code == 2:  # bad arguments: the message is printed already
            return 2
        results.append((cell, code))
    parts = [f"{cell or 'all rows'} {'PASS' if code == 0 else 'FAIL'}"
             for cell, code in results]
    print(f"\nfinal: {', '.join(parts)} ({time.perf_counter() - start:.1f} s)")
    return max(code for _, code in results)


if __name__ == "__main__":
    sys.exit(main())
