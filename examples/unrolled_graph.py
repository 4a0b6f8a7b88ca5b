"""Draw the graph that BPTT walks: a recurrent layer unrolled over a few timesteps.

    python examples/unrolled_graph.py            # 2-layer RNN, 4 steps -> runs/rnn_unrolled.svg
    python examples/unrolled_graph.py --cell lstm --steps 12 --max-steps 4 --format png
    python examples/unrolled_graph.py --fused    # the same layers as one node each

The model is many-to-one: ``nn.RNN`` (or LSTM / GRU) over ``--steps`` inputs, a linear
read-out of the last output, an MSE loss. The forward runs inside
``minigrad.utils.steps.record_steps()``, so ``make_dot`` can group the nodes of every
layer and timestep (``t=0``, ``t=1``, ...): each box holds the node one step records
(``RNNStep`` / ``LSTMStep`` / ``GRUStep``: the recurrent GEMM and the cell's pointwise
part), and the arrows
between the boxes are the path the gradient takes back through time. Leaves are the
parameters, by name.

The DOT text is always written (``.dot``); the picture needs the Graphviz ``dot``
program (``apt-get install graphviz``; ``pip install graphviz`` alone does not bring
it). The README's picture is ``--out docs/images/rnn_unrolled`` with the defaults.
"""

from __future__ import annotations

import argparse
import os
import sys

# _common comes before NumPy: it limits NumPy's threads and puts the repository on
# sys.path (see _common.py)
from _common import ArgumentParser, fail, positive_int

# isort: split
import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.utils.steps import record_steps
from minigrad.utils.viz import GraphvizNotFoundError, make_dot

LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def build_graph(cell: str = "rnn", layers: int = 2, steps: int = 4, *, fused: bool = False,
                max_steps: int | None = None, seed: int = 0):
    """The DotGraph of one forward + loss of the many-to-one model."""
    mg.manual_seed(seed)
    rnn = LAYERS[cell](3, 4, num_layers=layers, fused=fused)
    head = nn.Linear(4, 1)
    x, target = mg.randn(1, steps, 3), mg.zeros(1, 1)
    with record_steps() as recorded:
        out, _ = rnn(x)  # (1, steps, 4)
    loss = F.mse_loss(head(out[:, -1]), target)
    params = {**{f"rnn.{k}": p for k, p in rnn.named_parameters()},
              **{f"head.{k}": p for k, p in head.named_parameters()}}
    return make_dot(loss, params=params, steps=recorded, max_timesteps=max_steps)


def main(argv=None) -> int:
    parser = ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cell", choices=tuple(LAYERS), default="rnn")
    parser.add_argument("--layers", type=positive_int, default=2, help="default 2")
    parser.add_argument("--steps", type=positive_int, default=4, help="timesteps (default 4)")
    parser.add_argument("--max-steps", type=positive_int, default=None,
                        help="draw only the first and last few of the steps")
    parser.add_argument("--fused", action="store_true", help="fused=True: one node per layer")
    parser.add_argument("--format", choices=("svg", "png"), default="svg")
    parser.add_argument("--out", default=None,
                        help="output path without extension (default runs/<cell>_unrolled)")
    parser.add_argument("--quick", action="store_true", help="accepted (it is quick anyway)")
    args = parser.parse_args(argv)
    out = args.out or os.path.join("runs", f"{args.cell}_unrolled")
    if os.path.dirname(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)

    dot = build_graph(args.cell, args.layers, args.steps, fused=args.fused,
                      max_steps=args.max_steps)
    source = dot.save(out + ".dot")
    n_nodes = dot.source.count("[label=")
    print(f"{args.layers}-layer {args.cell.upper()} over {args.steps} steps: "
          f"{n_nodes} boxes, {dot.source.count(' -> ')} arrows; DOT text in {source}")
    try:
        print(f"saved {dot.render(out, format=args.format)}")
    except GraphvizNotFoundError as e:
        fail(str(e))
    return 0


if __name__ == "__main__":
    sys.exit(main())
