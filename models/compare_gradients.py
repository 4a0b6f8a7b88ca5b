"""Autograd BPTT vs hand-derived BPTT: do they give the same gradients?

Run ``python -m models.compare_gradients`` (``--help`` for the options).

What it does
------------
1. Builds ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (``--cell``) and loads random weights
   into it, so that ``minigrad``'s autograd and :mod:`models.bptt` see the same numbers.
2. Draws a random input ``x`` ``(B, T, I)``, random initial states ``h0`` (and ``c0``)
   ``(L*D, B, H)``, and random *upstream gradients* ``G_out`` ``(B, T, D*H)``,
   ``G_h`` ``(L*D, B, H)`` (and ``G_c``).  They define the scalar

       L = sum(out * G_out) + sum(h_n * G_h) (+ sum(c_n * G_c))

   whose gradient w.r.t. ``out`` is exactly ``G_out`` (and so on): this is how any loss
   on top of the layer would feed it, with every output and final state used.
3. Autograd: runs the module on Tensors, ``L.backward()``, reads ``.grad`` of every
   parameter, ``x``, ``h0`` (``c0``).  The default "graph" path builds one autograd node
   per op per timestep; ``--fused`` also checks ``fused=True`` (one node per layer).
4. Explicit BPTT: ``models.bptt.<cell>_forward`` / ``<cell>_backward`` on the raw arrays
   with ``grad_output = G_out`` and ``grad_h_n = G_h``.
5. Prints one row per compared quantity (the forward outputs first, then the gradient of
   every parameter, of the input and of the initial states) with

   * max abs diff = ``max |a - b|``;
   * max rel diff = ``max |a - b| / max |b|`` (relative to the size of that array, so
     near-zero entries do not blow it up);

   and PASS when ``max abs diff <= atol`` or ``max rel diff <= rtol``.  Defaults:
   float64 ``atol = 1e-9``; float32 ``rtol = 1e-4``.  Giving ``--atol`` / ``--rtol``
   replaces the defaults.

Variable lengths (``--lengths 5 3 2 ...`` or ``--random-lengths``): sequence ``b`` is
the first ``lengths[b]`` steps of ``x``.  Autograd then runs the PyTorch way --
``pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)``, the
module on the ``PackedSequence``, ``pad_packed_sequence`` back -- and the reference is
``models.bptt.<cell>_forward(..., lengths=lengths)`` (masking by lengths).

Exit status: 0 when every row passes, 1 when one fails, 2 on bad arguments.

From Python: :func:`compare` returns the rows, :func:`main` is the CLI.
"""

from __future__ import annotations

import argparse
import sys
from typing import NamedTuple

import numpy as np

import minigrad as mg
from minigrad import backend, nn
from minigrad.nn.utils import rnn as rnn_utils

from . import bptt

__all__ = ["Row", "compare", "format_table", "main"]

CELLS = ("rnn", "lstm", "gru")
_MODULES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}


class Row(NamedTuple):
    """One compared quantity."""

    path: str  # 'graph' (fused=False) or 'fused' (fused=True): which autograd path
    name: str  # 'out', 'h_n', 'c_n' (forward values) or 'dL/d<param|input|h0|c0>'
    shape: tuple
    max_abs: float  # max |autograd - bptt|
    max_rel: float  # max |autograd - bptt| / max |bptt|
    passed: bool
    norms: tuple | None = None  # per-step rows: (||autograd||, ||bptt||)


def _default_tolerances(dtype: str, atol, rtol):
    """``(atol, rtol)``: the given ones, or the defaults of ``dtype`` when none is given."""
    if atol is None and rtol is None:
        return (1e-9, None) if dtype == "float64" else (None, 1e-4)
    return atol, rtol


def _diff(a, b):
    """``(max_abs, max_rel)`` between arrays ``a`` (autograd) and ``b`` (bptt)."""
    if a is None:  # autograd produced no gradient at all
        return float("inf"), float("inf")
    a = backend.to_numpy(a).astype(np.float64)
    b = backend.to_numpy(b).astype(np.float64)
    if a.shape != b.shape:
        return float("inf"), float("inf")
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
    return max_abs, max_rel


def _random_params(rng, cell, input_size, hidden_size, layers, D, bias):
    """Random weights in ``nn.RNN``/``LSTM``/``GRU`` state-dict layout (float64 NumPy).

    U(-k, k) with ``k = 1/sqrt(H)``, like the layers' own init: small enough for a
    well-behaved recurrence, large enough to drive the nonlinearities.
    """
    G, H = _GATES[cell], hidden_size
    k = 1.0 / np.sqrt(H)
    params = {}
    for layer in range(layers):
        in_k = input_size if layer == 0 else D * H
        for sfx in ["", "_reverse"][:D]:
            params[f"weight_ih_l{layer}{sfx}"] = rng.uniform(-k, k, (G * H, in_k))
            params[f"weight_hh_l{layer}{sfx}"] = rng.uniform(-k, k, (G * H, H))
            if bias:
                params[f"bias_ih_l{layer}{sfx}"] = rng.uniform(-k, k, G * H)
                params[f"bias_hh_l{layer}{sfx}"] = rng.uniform(-k, k, G * H)
    return params


def _check_positive(name, v):
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name}: expected a positive integer, got {v!r}")


def compare(cell: str = "rnn", *, batch: int = 4, timesteps: int = 10, input_size: int = 5,
            hidden_size: int = 8, layers: int = 1, bidirectional: bool = False,
            nonlinearity: str = "tanh", bias: bool = True, dtype: str = "float64",
            device: str = "cpu", seed: int = 0, atol: float | None = None,
            rtol: float | None = None, fused: bool = False,
            lengths=None, per_step: bool = False) -> list[Row]:
    """Compare autograd (``nn.<cell>``) with ``models.bptt`` on one random problem.

    Args:
        cell: ``'rnn'``, ``'lstm'`` or ``'gru'``.
        batch, timesteps, input_size, hidden_size, layers: ``B, T, I, H, L``.
        bidirectional: ``D = 2`` directions instead of 1.
        nonlinearity: ``'tanh'`` or ``'relu'`` (RNN only).
        bias: with bias parameters.
        dtype: ``'float64'`` or ``'float32'``.  device: ``'cpu'`` or ``'cuda'``.
        seed: seeds the weights, inputs and upstream gradients.
        atol, rtol: tolerances (see the module docstring; ``None`` both: dtype defaults).
        fused: also check the ``fused=True`` autograd path.
        lengths: ``None``, or ``batch`` ints in ``[1, timesteps]``: variable-length
            sequences (packed on the autograd side, ``lengths=`` for ``models.bptt``).
        per_step: also compare the per-timestep state gradients dL/dh_t (LSTM: and
            dL/dc_t) of every layer and direction: autograd's (``models.gradient_flow``,
            graph path) against ``models.bptt``'s ``return_step_grads=True``; one row
            per step, with both norms in ``Row.norms``.  Not with ``lengths``.

    Returns:
        Rows for the graph path, then (``fused=True``) for the fused path: the forward
        values ``out``, ``h_n`` (``c_n``), then ``dL/d`` every parameter (in
        ``named_parameters()`` order), ``dL/dinput``, ``dL/dh0`` (``dL/dc0``).

    Raises:
        ValueError: an unknown cell / nonlinearity / dtype or a non-positive size.
        RuntimeError: ``device='cuda'`` without CuPy or a GPU.
    """
    if cell not in CELLS:
        raise ValueError(f"cell: expected one of {CELLS}, got {cell!r}")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    if nonlinearity != "tanh" and cell != "rnn":
        raise ValueError(f"nonlinearity={nonlinearity!r} applies only to cell='rnn'")
    if dtype not in ("float64", "float32"):
        raise ValueError(f"dtype: expected 'float64' or 'float32', got {dtype!r}")
    for name, v in (("batch", batch), ("timesteps", timesteps), ("input_size", input_size),
                    ("hidden_size", hidden_size), ("layers", layers)):
        _check_positive(name, v)
    if per_step and lengths is not None:
        raise ValueError("per_step: the per-timestep view needs full-length sequences; "
                         "leave out lengths")
    if lengths is not None:
        lengths = [int(n) for n in lengths]
        if len(lengths) != batch or not all(1 <= n <= timesteps for n in lengths):
            raise ValueError(f"lengths: expected {batch} (batch) lengths in [1, "
                             f"timesteps={timesteps}], got {lengths}")
    device = backend.normalize_device(device)  # raises if cuda is unavailable
    atol, rtol = _default_tolerances(dtype, atol, rtol)
    np_dtype = np.dtype(dtype)

    B, T, I, H, L = batch, timesteps, input_size, hidden_size, layers
    D = 2 if bidirectional else 1
    rng = np.random.default_rng(seed)
    params_np = _random_params(rng, cell, I, H, L, D, bias)
    x_np = rng.standard_normal((B, T, I))
    states_np = [0.5 * rng.standard_normal((L * D, B, H))
                 for _ in range(2 if cell == "lstm" else 1)]  # h0 (, c0)
    g_out_np = rng.standard_normal((B, T, D * H))  # dL/dout
    g_fin_np = [rng.standard_normal((L * D, B, H)) for _ in states_np]  # dL/dh_n (, dL/dc_n)

    def on_device(a, requires_grad=False):
        return mg.tensor(a, dtype=np_dtype, device=device, requires_grad=requires_grad)

    # ---- explicit BPTT on plain arrays (the reference) --------------------------------
    xp = backend.xp_for(device)
    arr = lambda a: xp.asarray(a, dtype=np_dtype)  # noqa: E731
    params = {k: arr(v) for k, v in params_np.items()}
    kw = dict(num_layers=L, bidirectional=bidirectional, batch_first=True)
    if lengths is not None:
        kw["lengths"] = np.asarray(lengths)
    step_kw = {"return_step_grads": True} if per_step else {}
    forward = getattr(bptt, f"{cell}_forward")  # looked up now: tests may monkeypatch
    backward = getattr(bptt, f"{cell}_backward")
    if cell == "lstm":
        out_b, (h_n_b, c_n_b), cache = forward(arr(x_np), params,
                                               (arr(states_np[0]), arr(states_np[1])), **kw)
        fin_b = [h_n_b, c_n_b]
        grads_b = backward(cache, arr(g_out_np), (arr(g_fin_np[0]), arr(g_fin_np[1])),
                           **step_kw)
    else:
        if cell == "rnn":
            kw["nonlinearity"] = nonlinearity
        out_b, h_n_b, cache = forward(arr(x_np), params, arr(states_np[0]), **kw)
        fin_b = [h_n_b]
        grads_b = backward(cache, arr(g_out_np), arr(g_fin_np[0]), **step_kw)
    state_names = ["h0", "c0"][: len(states_np)]
    final_names = ["h_n", "c_n"][: len(states_np)]

    rows: list[Row] = []
    for path in ["graph", "fused"] if fused else ["graph"]:
        # ---- autograd through minigrad.nn ---------------------------------------------
        mg.manual_seed(seed)
        extra = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
        module = getattr(nn, _MODULES[cell])(I, H, num_layers=L, bias=bias, batch_first=True,
                                            bidirectional=bidirectional,
                                            fused=(path == "fused"), **extra)
        module = module.double() if dtype == "float64" else module.float()
        module.to(device)
        module.load_state_dict(params_np)  # the same weights as the reference
        x = on_device(x_np, requires_grad=True)
        states = [on_device(s, requires_grad=True) for s in states_np]
        inp = x if lengths is None else rnn_utils.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False)
        if cell == "lstm":
            out, (h_n, c_n) = module(inp, (states[0], states[1]))
            finals = [h_n, c_n]
        else:
            out, h_n = module(inp, states[0])
            finals = [h_n]
        if lengths is not None:  # back to (B, T, D*H), zeros past each end
            out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True, total_length=T)
        # L = sum(out * G_out) + sum(h_n * G_h) (+ sum(c_n * G_c)): dL/dout = G_out, ...
        loss = (out * on_device(g_out_np)).sum()
        for f, g in zip(finals, g_fin_np):
            loss = loss + (f * on_device(g)).sum()
        loss.backward()

        def row(name, a, b, path=path):
            max_abs, max_rel = _diff(a, b)
            ok = ((atol is not None and max_abs <= atol)
                  or (rtol is not None and max_rel <= rtol))
            return Row(path, name, tuple(b.shape), max_abs, max_rel, bool(ok))

        rows.append(row("out", out.data, out_b))
        for name, f, fb in zip(final_names, finals, fin_b):
            rows.append(row(name, f.data, fb))
        for name, p in module.named_parameters():
            rows.append(row(f"dL/d{name}", None if p.grad is None else p.grad.data,
                            grads_b[name]))
        rows.append(row("dL/dinput", None if x.grad is None else x.grad.data,
                        grads_b["input"]))
        for name, s in zip(state_names, states):
            rows.append(row(f"dL/d{name}", None if s.grad is None else s.grad.data,
                            grads_b[name]))
        if per_step and path == "graph":
            rows += _step_rows(module, x, states, g_out_np, g_fin_np, grads_b, row, on_device)
    return rows


def _step_rows(module, x, states, g_out_np, g_fin_np, grads_b, row, on_device) -> list[Row]:
    """One row per layer, direction and timestep: autograd's dL/dh_t (LSTM: and dL/dc_t)
    of the graph path against models.bptt's ``dh_steps`` (``dc_steps``)."""
    from . import gradient_flow

    def loss_fn(out, state):  # the same L as above
        finals = state if isinstance(state, tuple) else (state,)
        loss = (out * on_device(g_out_np)).sum()
        for f, g in zip(finals, g_fin_np):
            loss = loss + (f * on_device(g)).sum()
        return loss

    hx = (states[0], states[1]) if len(states) == 2 else states[0]
    flow = gradient_flow.gradient_flow(module, x.detach(), loss_fn, hx)
    L, D = flow.dh.shape[:2]
    rows = []
    for letter, auto in (("h", flow.dh), ("c", flow.dc)):
        if auto is None:
            continue
        hand = backend.to_numpy(grads_b[f"d{letter}_steps"])  # (L*D, T, B, H)
        hand = hand.reshape((L, D) + hand.shape[1:])
        for k in range(L):
            for d in range(D):
                for t in range(auto.shape[2]):
                    a, b = auto[k, d, t], hand[k, d, t]
                    where = f"l{k}{'_reverse' if d else ''}"
                    r = row(f"dL/d{letter}_t {where} t={t}", a, b)
                    rows.append(r._replace(norms=(float(np.linalg.norm(a)),
                                                  float(np.linalg.norm(b)))))
    return rows


def _tolerance_text(atol, rtol):
    parts = []
    if atol is not None:
        parts.append(f"max abs diff <= {atol:g}")
    if rtol is not None:
        parts.append(f"max rel diff <= {rtol:g}")
    return " or ".join(parts)


def format_table(rows: list[Row]) -> str:
    """The rows as an aligned text table (one line per row, after a header); with
    per-step rows, two more columns show their gradient norms from both paths."""
    header = ("path", "quantity", "shape", "max abs diff", "max rel diff", "result")
    body = [(r.path, r.name, str(r.shape), f"{r.max_abs:.3e}", f"{r.max_rel:.3e}",
             "PASS" if r.passed else "FAIL") for r in rows]
    if any(r.norms is not None for r in rows):
        header = header[:3] + ("||autograd||", "||bptt||") + header[3:]
        body = [line[:3] + ((f"{r.norms[0]:.6e}", f"{r.norms[1]:.6e}") if r.norms else
                            ("", "")) + line[3:] for line, r in zip(body, rows)]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    fmt = lambda line: "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *map(fmt, body)])


def _summary(rows: list[Row]) -> str:
    failed = [r for r in rows if not r.passed]
    worst = max((r.max_abs for r in rows), default=0.0)
    if not failed:
        return (f"PASS: all {len(rows)} rows agree (largest abs diff {worst:.3e}): "
                "autograd BPTT == hand-derived BPTT")
    names = ", ".join(f"{r.path}:{r.name}" for r in failed)
    return f"FAIL: {len(failed)} of {len(rows)} rows out of tolerance: {names}"


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _non_negative_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not v >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m models.compare_gradients",
        description="Compare minigrad autograd BPTT (nn.RNN/LSTM/GRU) with the "
                    "hand-derived BPTT of models.bptt on random weights, inputs and "
                    "upstream gradients.  Exit status: 0 all pass, 1 a row fails, "
                    "2 bad arguments.",
    )
    p.add_argument("--cell", choices=CELLS, default="rnn", help="layer type (default rnn)")
    p.add_argument("--batch", type=_positive_int, default=4, help="B (default 4)")
    p.add_argument("--timesteps", type=_positive_int, default=10, help="T (default 10)")
    p.add_argument("--input-size", type=_positive_int, default=5, help="I (default 5)")
    p.add_argument("--hidden-size", type=_positive_int, default=8, help="H (default 8)")
    p.add_argument("--layers", type=_positive_int, default=1, help="num_layers (default 1)")
    p.add_argument("--bidirectional", action="store_true", help="two directions")
    p.add_argument("--nonlinearity", choices=("tanh", "relu"), default=None,
                   help="RNN only (default tanh)")
    p.add_argument("--no-bias", action="store_true", help="layers without bias")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--atol", type=_non_negative_float, default=None,
                   help="pass when max abs diff <= ATOL (default 1e-9 for float64)")
    p.add_argument("--rtol", type=_non_negative_float, default=None,
                   help="pass when max rel diff <= RTOL (default 1e-4 for float32)")
    p.add_argument("--fused", action="store_true",
                   help="also check the fused=True autograd path (one node per layer)")
    p.add_argument("--lengths", type=_positive_int, nargs="+", default=None,
                   metavar="N",
                   help="variable lengths, one per sequence (sets --batch): autograd on "
                        "a PackedSequence vs models.bptt with lengths=")
    p.add_argument("--random-lengths", action="store_true",
                   help="random lengths in [1, timesteps] (seeded by --seed)")
    p.add_argument("--per-step", action="store_true",
                   help="also compare dL/dh_t (LSTM: and dL/dc_t) at every layer, "
                        "direction and timestep, with both paths' norms side by side")
    return p


def main(argv: list[str] | None = None) -> int:
    """The CLI; returns the exit status (0 all pass, 1 a failure, 2 bad arguments)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a bad argument (2, message printed)
        return int(e.code or 0)
    if args.nonlinearity is not None and args.cell != "rnn":
        print(f"error: --nonlinearity applies only to --cell rnn (got --cell {args.cell})",
              file=sys.stderr)
        return 2
    if args.device == "cuda" and not mg.cuda.is_available():
        print("error: --device cuda: CUDA is not available (needs CuPy and a GPU); "
              "use --device cpu", file=sys.stderr)
        return 2
    if args.lengths is not None and args.random_lengths:
        print("error: give --lengths or --random-lengths, not both", file=sys.stderr)
        return 2
    lengths = args.lengths
    if lengths is not None:
        args.batch = len(lengths)
    elif args.random_lengths:
        lengths = np.random.default_rng(args.seed + 1).integers(
            1, args.timesteps + 1, size=args.batch).tolist()
    atol, rtol = _default_tolerances(args.dtype, args.atol, args.rtol)
    config = dict(cell=args.cell, batch=args.batch, timesteps=args.timesteps,
                  input_size=args.input_size, hidden_size=args.hidden_size,
                  layers=args.layers, bidirectional=args.bidirectional,
                  nonlinearity=args.nonlinearity or "tanh", bias=not args.no_bias,
                  dtype=args.dtype, device=args.device, seed=args.seed, atol=atol,
                  rtol=rtol, fused=args.fused, lengths=lengths, per_step=args.per_step)
    try:
        rows = compare(**config)
    except (ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    cell = args.cell + (f" ({config['nonlinearity']})" if args.cell == "rnn" else "")
    print(f"autograd vs models.bptt: {cell}, layers={args.layers}, "
          f"{'bidirectional' if args.bidirectional else 'unidirectional'}, "
          f"bias={not args.no_bias}, {args.dtype} on {args.device}, "
          f"paths: {'graph + fused' if args.fused else 'graph'}")
    print(f"batch={args.batch} timesteps={args.timesteps} input_size={args.input_size} "
          f"hidden_size={args.hidden_size} seed={args.seed}"
          f"{'' if lengths is None else f' lengths={lengths} (packed)'}; "
          f"pass: {_tolerance_text(atol, rtol)}")
    print()
    print(format_table(rows))
    print()
    print(_summary(rows))
    steps = [r for r in rows if r.norms is not None]
    if steps:
        print(f"per-step: {len(steps)} state gradients, largest difference "
              f"{max(r.max_abs for r in steps):.3e}")
    return 0 if all(r.passed for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
