"""The classic first RNN: learn to spell "hello", trained two ways side by side.

    python examples/hello.py

The model (``models.VanillaRNN``) reads one-hot characters and predicts the next one:

    h_t      = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
    logits_t = W_out h_t + b_out             "h e l l" -> should predict "e l l o"

Two copies start from the SAME weights:

* manual:   forward, softmax cross-entropy and backpropagation through time (BPTT)
            derived by hand on plain arrays (``VanillaRNN.manual_step``, using
            ``models.bptt``), gradients clipped to [-5, 5], plain SGD;
* autograd: the PyTorch way, written out below: ``loss.backward()`` builds the same
            gradients from the recorded graph, ``clip_grad_value_``, ``optim.SGD``.

In float64 both follow the same path: their losses agree to rounding (~1e-15) at
every step, because BPTT *is* the chain rule applied to the unrolled loop.
"""

from __future__ import annotations

import sys

# _common comes before NumPy: it limits NumPy's threads (see _common.py)
from _common import (
    LossBar,
    fail,
    final_line,
    get_pyplot,
    make_parser,
    parse_args,
    plot_path,
    save_figure,
)

# isort: split
import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim
from models import VanillaRNN
from models.vanilla_rnn import build_vocab, prepare_sequences


def main(argv=None) -> int:
    parser = make_parser(__doc__, epochs=300, lr=0.1, hidden=16,
                         epochs_help="training steps (each on the whole word)")
    parser.add_argument("--word", default="hello",
                        help="the word to learn (default hello)")
    args = parse_args(parser, argv, quick={"epochs": 60})
    word = args.word
    plt = get_pyplot() if args.plot else None
    if len(word) < 2:
        fail(f"--word {word!r}: give at least 2 characters (an input and its next one)")

    # ---- data: inputs "hell" (one-hot), targets "ello" ------------------------------
    char_to_idx, idx_to_char = build_vocab(word)
    V = len(char_to_idx)
    X, Y = prepare_sequences([word], char_to_idx, dtype=np.float64)  # (1, T, V), (1, T)
    print(f"word {word!r}: vocabulary {''.join(char_to_idx)}, inputs {word[:-1]!r} -> "
          f"targets {word[1:]!r}; {V} inputs and outputs, hidden size {args.hidden}")

    # ---- two models with identical starting weights ---------------------------------
    manual = VanillaRNN(V, args.hidden, dtype=mg.float64, device=args.device)
    auto = VanillaRNN(V, args.hidden, dtype=mg.float64, device=args.device)
    auto.load_state_dict(manual.state_dict())
    optimizer = optim.SGD(auto.parameters(), lr=args.lr)
    x = mg.tensor(X, device=args.device)
    y = mg.tensor(Y, device=args.device)

    manual_losses, auto_losses = [], []
    bar = LossBar(total=args.epochs, desc="hello")
    for epoch in range(args.epochs):
        # by hand: forward, BPTT, clip, SGD on plain arrays (see models/vanilla_rnn.py)
        manual_losses.append(manual.manual_step(X, Y, lr=args.lr, clip=5.0))

        # by autograd
        optimizer.zero_grad()
        logits, _ = auto(x)  # (1, T, V)
        loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        loss.backward()  # BPTT, from the graph recorded by the forward pass
        nn.utils.clip_grad_value_(auto.parameters(), 5.0)
        optimizer.step()
        auto_losses.append(loss.item())
        bar.update(loss.item())
        if epoch % max(1, args.epochs // 5) == 0 or epoch == args.epochs - 1:
            bar.write(f"step {epoch + 1:4d}: loss manual {manual_losses[-1]:.6f}  "
                      f"autograd {auto_losses[-1]:.6f}")
    bar.close()

    diff = float(np.max(np.abs(np.array(manual_losses) - np.array(auto_losses))))
    predicted = {name: model.predict_next(word[:-1], char_to_idx, idx_to_char)
                 for name, model in (("manual", manual), ("autograd", auto))}
    print(f"last loss: manual BPTT {manual_losses[-1]:.6f}, autograd {auto_losses[-1]:.6f}; "
          f"largest difference over {args.epochs} steps: {diff:.2e}")
    print(f"prediction for {word[:-1]!r}: manual {predicted['manual']!r}, "
          f"autograd {predicted['autograd']!r} (target {word[1:]!r})")
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.plot(manual_losses, linewidth=4, alpha=0.4, label="manual BPTT")
        ax.plot(auto_losses, "--", color="black", linewidth=1, label="autograd")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(f"learning {word!r}: the two curves coincide")
        ax.legend(frameon=False)
        save_figure(plt, fig, plot_path(args, "hello_loss.png"))
    print(final_line(bar, f"max loss difference {diff:.1e}",
                     f"predicted {predicted['autograd']!r}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
