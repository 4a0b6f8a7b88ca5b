"""Every differentiable op of the contract, checked by one table-driven harness.

Each ``OpSpec`` names an op, how minigrad computes it (``fn``, taking Tensors), the
NumPy reference (``ref``, taking arrays) and the input shapes and domains. For each
spec the harness checks:

* forward against NumPy in float32 and in float64, with the dtype preserved;
* first derivatives with ``mg.autograd.gradcheck`` (finite differences, float64);
* second derivatives: the Hessian-vector product obtained by differentiating the
  ``create_graph=True`` gradient again equals the finite difference of the gradient,
  for the objective ``sum(w * op(x)**2)`` (nonlinear even for linear ops, so each op's
  backward is itself differentiated).

Ops returning several tensors (``split``, ``max(dim)``, ...) compare every output;
integer outputs (indices) are compared exactly and are not differentiated.
"""

from __future__ import annotations

import math
import sys
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import backend, nn
from minigrad.ops import cells as C
from minigrad.ops import elementwise as E


@dataclass(frozen=True)
class OpSpec:
    name: str
    fn: Callable          # minigrad: fn(*tensors) -> Tensor or tuple of Tensors
    ref: Callable         # NumPy: ref(*arrays) -> array or tuple of arrays
    shapes: tuple         # one shape per tensor input
    domain: str | tuple = "real"  # per input (or one for all): see _sample
    hessian: bool = True  # include in the second-derivative check

    def __str__(self) -> str:
        return self.name


def _sample(rng: np.random.Generator, shape: tuple, domain: str) -> np.ndarray:
    return np.asarray(_draw(rng, shape, domain))


def _draw(rng: np.random.Generator, shape: tuple, domain: str):
    """Inputs away from the points where an op is undefined or not smooth."""
    if domain == "real":
        return rng.standard_normal(shape)
    if domain == "positive":  # log, sqrt, fractional powers, tensor ** tensor bases
        return rng.uniform(0.5, 2.0, shape)
    if domain == "nonzero":  # abs, relu, division: |x| >= 0.3
        return rng.uniform(0.3, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "distinct":  # max/min: no ties, gaps far larger than the FD step
        n = int(np.prod(shape))
        return (rng.permutation(n).reshape(shape) - n / 2) / 4.0
    if domain == "distinct-nonzero":  # no ties even in |x| (inf-norm), no zeros
        n = int(np.prod(shape))
        return (rng.permutation(n).reshape(shape) + 1) / 4.0 * rng.choice([-1.0, 1.0], shape)
    if domain == "with-zeros":  # exact zeros (cumprod): one or two in most rows
        out = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        out.reshape(-1)[1::4] = 0.0
        return out
    raise ValueError(domain)


def _inputs(spec: OpSpec) -> list[np.ndarray]:
    rng = np.random.default_rng(zlib.crc32(spec.name.encode()))
    domains = spec.domain if isinstance(spec.domain, tuple) else (spec.domain,) * len(
        spec.shapes)
    return [_sample(rng, shape, d) for shape, d in zip(spec.shapes, domains)]


def _as_tuple(out) -> tuple:
    return tuple(out) if isinstance(out, tuple) else (out,)


# --- constants used by the indexing / where specs -------------------------------------

MASK = np.array([[True, False, True, True], [False, False, True, False],
                 [True, True, False, False]])
ROWS = np.array([True, False, True])
COND = np.array([[True], [False], [True]])  # broadcasts against (3, 4)


def _mask_like(a):
    return a[MASK]


# --- the table -------------------------------------------------------------------------


def _binary_specs() -> list[OpSpec]:
    ops = {
        "add": (lambda a, b: a + b, np.add),
        "sub": (lambda a, b: a - b, np.subtract),
        "mul": (lambda a, b: a * b, np.multiply),
        "div": (lambda a, b: a / b, np.divide),
    }
    shape_cases = {
        "same": ((3, 4), (3, 4)),
        "row": ((3, 4), (4,)),          # trailing-dim broadcast
        "col": ((3, 1), (3, 4)),        # size-1 dim on the left operand
        "outer": ((2, 1, 4), (3, 1)),   # both sides broadcast, new leading dim
        "scalar": ((3, 4), ()),         # 0-d tensor
    }
    specs = []
    for op, (fn, ref) in ops.items():
        for case, shapes in shape_cases.items():
            domain = ("real", "nonzero") if op == "div" else "real"
            specs.append(OpSpec(f"{op}-{case}", fn, ref, shapes, domain))
    return specs


def _python_scalar_specs() -> list[OpSpec]:
    return [
        OpSpec("add-pyscalar", lambda x: x + 2.5, lambda a: a + 2.5, ((3, 4),)),
        OpSpec("radd-pyscalar", lambda x: 2 + x, lambda a: 2 + a, ((3, 4),)),
        OpSpec("rsub-pyscalar", lambda x: 1.5 - x, lambda a: 1.5 - a, ((3, 4),)),
        OpSpec("mul-pyscalar", lambda x: x * 3, lambda a: a * 3, ((3, 4),)),
        OpSpec("div-pyscalar", lambda x: x / 3, lambda a: a / 3, ((3, 4),)),
        OpSpec("rdiv-pyscalar", lambda x: 2.0 / x, lambda a: 2.0 / a, ((3, 4),), "nonzero"),
        OpSpec("neg", lambda x: -x, np.negative, ((3, 4),)),
    ]


def _pow_specs() -> list[OpSpec]:
    return [
        OpSpec("pow-square", lambda x: x ** 2, lambda a: a ** 2, ((3, 4),)),
        OpSpec("pow-cube", lambda x: x ** 3, lambda a: a ** 3, ((3, 4),)),
        OpSpec("pow-half", lambda x: x ** 0.5, np.sqrt, ((3, 4),), "positive"),
        OpSpec("pow-negative", lambda x: x ** -1.5, lambda a: a ** -1.5, ((3, 4),),
               "positive"),
        OpSpec("pow-method", lambda x: x.pow(3), lambda a: a ** 3, ((3, 4),)),
        OpSpec("pow-function", lambda x: mg.pow(x, 2), lambda a: a ** 2, ((3, 4),)),
        OpSpec("rpow-scalar-base", lambda x: 2.0 ** x, lambda a: 2.0 ** a, ((3, 4),)),
        OpSpec("rpow-int-base", lambda x: 3 ** x, lambda a: 3.0 ** a, ((3, 4),)),
        OpSpec("pow-tensor-tensor", lambda a, b: a ** b, np.power, ((3, 4), (3, 4)),
               ("positive", "real")),
        OpSpec("pow-tensor-tensor-broadcast", lambda a, b: a ** b, np.power,
               ((3, 4), (4,)), ("positive", "real")),
    ]


def _matmul_specs() -> list[OpSpec]:
    mm = np.matmul
    cases = {
        "2d": ((3, 4), (4, 5)),
        "batched-3d": ((2, 3, 4), (2, 4, 5)),
        "broadcast-batch": ((2, 1, 3, 4), (3, 4, 5)),
        "3d-2d": ((2, 3, 4), (4, 5)),       # shared weight: the OuterGrad path
        "2d-3d": ((3, 4), (2, 4, 5)),
        "1d-2d": ((4,), (4, 5)),
        "2d-1d": ((3, 4), (4,)),
        "1d-1d": ((4,), (4,)),
        "1d-3d": ((4,), (2, 4, 5)),
        "3d-1d": ((2, 3, 4), (4,)),
    }
    specs = [OpSpec(f"matmul-{k}", lambda a, b: a @ b, mm, s) for k, s in cases.items()]
    specs.append(OpSpec("matmul-function", mg.matmul, mm, ((3, 4), (4, 2))))
    for k, bias in {"row": (5,), "full": (3, 5), "keepdim-row": (1, 5), "scalar": ()}.items():
        specs.append(OpSpec(f"addmm-bias-{k}", mg.addmm, lambda b, m1, m2: b + m1 @ m2,
                            (bias, (3, 4), (4, 5))))
    for k, x_shape in {"1d": (4,), "2d": (3, 4), "3d": (2, 3, 4)}.items():  # ops.Linear
        specs.append(OpSpec(f"linear-{k}", F.linear, lambda x, w, b: x @ w.T + b,
                            (x_shape, (5, 4), (5,))))
        specs.append(OpSpec(f"linear-{k}-nobias", F.linear, lambda x, w: x @ w.T,
                            (x_shape, (5, 4))))
    return specs


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _math_specs() -> list[OpSpec]:
    s = ((3, 4),)
    return [
        OpSpec("exp", lambda x: x.exp(), np.exp, s),
        OpSpec("exp-function", mg.exp, np.exp, s),
        OpSpec("log", lambda x: x.log(), np.log, s, "positive"),
        OpSpec("log-function", mg.log, np.log, s, "positive"),
        OpSpec("sqrt", lambda x: x.sqrt(), np.sqrt, s, "positive"),
        OpSpec("sqrt-function", mg.sqrt, np.sqrt, s, "positive"),
        OpSpec("abs", lambda x: x.abs(), np.abs, s, "nonzero"),
        OpSpec("abs-function", mg.abs, np.abs, s, "nonzero"),
        OpSpec("tanh", lambda x: x.tanh(), np.tanh, s),
        OpSpec("tanh-function", mg.tanh, np.tanh, s),
        OpSpec("sigmoid", lambda x: x.sigmoid(), _sigmoid, s),
        OpSpec("sigmoid-function", mg.sigmoid, _sigmoid, s),
        OpSpec("relu", lambda x: x.relu(), lambda a: np.maximum(a, 0), s, "nonzero"),
        OpSpec("relu-function", mg.relu, lambda a: np.maximum(a, 0), s, "nonzero"),
        OpSpec("clamp-min", lambda x: x.clamp(min=-0.5), lambda a: np.maximum(a, -0.5), s),
        OpSpec("clamp-max", lambda x: x.clamp(max=0.5), lambda a: np.minimum(a, 0.5), s),
        OpSpec("clamp-both", lambda x: mg.clamp(x, -0.5, 0.5),
               lambda a: np.clip(a, -0.5, 0.5), s),
    ]


def _lstm_cell_ref(gates, c):
    i, f, g, o = np.split(gates, 4, axis=1)
    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
    return _sigmoid(o) * np.tanh(c_new), c_new


def _gru_cell_ref(xg, hg, h):
    (x_r, x_z, x_n), (h_r, h_z, h_n) = np.split(xg, 3, axis=1), np.split(hg, 3, axis=1)
    r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1 - z) * n + z * h


def _rnn_cell_specs() -> list[OpSpec]:
    """The fused pointwise parts of one LSTM / GRU step (B=2, H=3)."""
    lstm, gru = E.LSTMCellPointwise.apply, E.GRUCellPointwise.apply
    return [
        OpSpec("lstm-cell-pointwise", lstm, _lstm_cell_ref, ((2, 12), (2, 3))),
        OpSpec("lstm-cell-pointwise-h-only", lambda g, c: lstm(g, c)[0],
               lambda g, c: _lstm_cell_ref(g, c)[0], ((2, 12), (2, 3))),
        OpSpec("lstm-cell-pointwise-c-only", lambda g, c: lstm(g, c)[1],
               lambda g, c: _lstm_cell_ref(g, c)[1], ((2, 12), (2, 3))),
        OpSpec("gru-cell-pointwise", gru, _gru_cell_ref, ((2, 9), (2, 9), (2, 3))),
        # one whole RNN step: act(proj + h @ W_hh^T), the last input being W_hh^T
        OpSpec("rnn-step-tanh", C.RNNStep.apply, lambda x, h, w: np.tanh(x + h @ w),
               ((2, 3), (2, 3), (3, 3))),
        OpSpec("rnn-step-relu", lambda x, h, w: C.RNNStep.apply(x, h, w, nonlinearity="relu"),
               lambda x, h, w: np.maximum(x + h @ w, 0), ((2, 3), (2, 3), (3, 3))),
        OpSpec("rnn-step-broadcast-proj", C.RNNStep.apply, lambda x, h, w: np.tanh(x + h @ w),
               ((3,), (2, 3), (3, 3))),
        # one whole LSTM / GRU step: the gates' GEMM and the pointwise part in one node
        OpSpec("lstm-step", C.LSTMStep.apply,
               lambda x, h, c, w: _lstm_cell_ref(x + h @ w, c), ((2, 12), (2, 3), (2, 3), (3, 12))),
        OpSpec("lstm-step-c-only", lambda x, h, c, w: C.LSTMStep.apply(x, h, c, w)[1],
               lambda x, h, c, w: _lstm_cell_ref(x + h @ w, c)[1],
               ((2, 12), (2, 3), (2, 3), (3, 12))),
        OpSpec("gru-step", C.GRUStep.apply, lambda x, h, w, b: _gru_cell_ref(x, h @ w + b, h),
               ((2, 9), (2, 3), (3, 9), (9,))),
        OpSpec("gru-step-no-bias", C.GRUStep.apply, lambda x, h, w: _gru_cell_ref(x, h @ w, h),
               ((2, 9), (2, 3), (3, 9))),
    ]


def _pack_ref(a):
    """``x[t, sorted rows active at t]`` for lengths (4, 2, 3): sorted order 0, 2, 1."""
    return np.concatenate([a[t, [0, 2, 1][:n]] for t, n in enumerate((3, 3, 2, 1))])


def _pad_left_ref(a):
    """``pad_sequence([a[:, 0], a[:2, 1], a[:3, 2]], True, -1.0, 'left')``."""
    out = np.full((3, 4) + a.shape[2:], -1.0, dtype=a.dtype)
    for b, n in enumerate((4, 2, 3)):
        out[b, 4 - n:] = a[:n, b]
    return out


def _sequence_specs() -> list[OpSpec]:
    """``nn.utils.rnn``'s gather (pack) and scatter (pad) ops, T=4, B=3."""
    from minigrad.nn.utils import rnn as R

    valid = (np.arange(5)[:, None] < np.array([4, 2, 3]))[..., None]
    return [
        OpSpec("pack-padded-sequence",
               lambda x: R.pack_padded_sequence(x, [4, 2, 3], enforce_sorted=False).data,
               _pack_ref, ((4, 3, 2),)),
        OpSpec("pad-packed-sequence",
               lambda x: R.pad_packed_sequence(R.pack_padded_sequence(
                   x, [4, 2, 3], enforce_sorted=False), padding_value=0.5,
                   total_length=5)[0],
               lambda a: np.where(valid, np.concatenate([a, a[:1]]), 0.5), ((4, 3, 2),)),
        OpSpec("pad-sequence-left",
               lambda x: R.pad_sequence([x[:, 0], x[:2, 1], x[:3, 2]], True, -1.0, "left"),
               _pad_left_ref, ((4, 3, 2),)),
    ]


def _reduction_specs() -> list[OpSpec]:
    shape = ((2, 3, 4),)
    specs = []
    for dim in (None, 0, 1, -1, (0, 2), (-1, 0)):
        for keepdim in (False, True):
            tag = f"dim={dim}-keepdim={keepdim}".replace(" ", "")
            specs += [
                OpSpec(f"sum-{tag}", lambda x, d=dim, k=keepdim: x.sum(dim=d, keepdim=k),
                       lambda a, d=dim, k=keepdim: a.sum(axis=d, keepdims=k), shape),
                OpSpec(f"mean-{tag}", lambda x, d=dim, k=keepdim: x.mean(dim=d, keepdim=k),
                       lambda a, d=dim, k=keepdim: a.mean(axis=d, keepdims=k), shape),
                OpSpec(f"var-{tag}", lambda x, d=dim, k=keepdim: x.var(dim=d, keepdim=k),
                       lambda a, d=dim, k=keepdim: a.var(axis=d, ddof=1, keepdims=k), shape),
            ]
    specs += [
        OpSpec("var-biased", lambda x: x.var(1, unbiased=False),
               lambda a: a.var(axis=1), shape),
        OpSpec("var-biased-all", lambda x: mg.var(x, unbiased=False), np.var, shape),
        OpSpec("sum-function", lambda x: mg.sum(x, 1), lambda a: a.sum(1), shape),
        OpSpec("mean-function", lambda x: mg.mean(x, -1, True),
               lambda a: a.mean(-1, keepdims=True), shape),
        OpSpec("sum-1d", lambda x: x.sum(0), lambda a: a.sum(0), ((5,),)),
        OpSpec("max-all", lambda x: x.max(), np.max, shape, "distinct"),
        OpSpec("min-all", lambda x: x.min(), np.min, shape, "distinct"),
        OpSpec("max-function", mg.max, np.max, shape, "distinct"),
        OpSpec("min-function", mg.min, np.min, shape, "distinct"),
    ]
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            tag = f"dim={dim}-keepdim={keepdim}"
            specs += [
                OpSpec(f"max-{tag}", lambda x, d=dim, k=keepdim: x.max(dim=d, keepdim=k),
                       lambda a, d=dim, k=keepdim: (a.max(axis=d, keepdims=k),
                                                    a.argmax(axis=d, keepdims=k)),
                       shape, "distinct"),
                OpSpec(f"min-{tag}", lambda x, d=dim, k=keepdim: x.min(dim=d, keepdim=k),
                       lambda a, d=dim, k=keepdim: (a.min(axis=d, keepdims=k),
                                                    a.argmin(axis=d, keepdims=k)),
                       shape, "distinct"),
            ]
    return specs


def _shape_specs() -> list[OpSpec]:
    s3 = ((2, 3, 4),)
    return [
        OpSpec("reshape", lambda x: x.reshape(6, 4), lambda a: a.reshape(6, 4), s3),
        OpSpec("reshape-tuple-infer", lambda x: x.reshape((4, -1)),
               lambda a: a.reshape(4, -1), s3),
        OpSpec("reshape-function", lambda x: mg.reshape(x, (-1,)),
               lambda a: a.reshape(-1), s3),
        OpSpec("view", lambda x: x.view(3, 8), lambda a: a.reshape(3, 8), s3),
        OpSpec("flatten", lambda x: x.flatten(), lambda a: a.reshape(-1), s3),
        OpSpec("flatten-start", lambda x: x.flatten(1), lambda a: a.reshape(2, 12), s3),
        OpSpec("flatten-range", lambda x: mg.flatten(x, 0, 1),
               lambda a: a.reshape(6, 4), s3),
        OpSpec("transpose", lambda x: x.transpose(0, 2), lambda a: a.swapaxes(0, 2), s3),
        OpSpec("transpose-negative", lambda x: mg.transpose(x, -1, -2),
               lambda a: a.swapaxes(-1, -2), s3),
        OpSpec("T-2d", lambda x: x.T, lambda a: a.T, ((3, 4),)),
        OpSpec("T-3d", lambda x: x.T, lambda a: a.transpose(2, 1, 0), s3),
        OpSpec("permute", lambda x: x.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), s3),
        OpSpec("permute-negative-tuple", lambda x: mg.permute(x, (-1, 0, 1)),
               lambda a: a.transpose(2, 0, 1), s3),
        OpSpec("squeeze-all", lambda x: x.squeeze(), lambda a: a.squeeze(), ((2, 1, 3, 1),)),
        OpSpec("squeeze-dim", lambda x: x.squeeze(1), lambda a: a.squeeze(1), ((2, 1, 3, 1),)),
        OpSpec("squeeze-negative", lambda x: mg.squeeze(x, -1), lambda a: a.squeeze(-1),
               ((2, 1, 3, 1),)),
        OpSpec("squeeze-noop", lambda x: x.squeeze(0), lambda a: a, ((2, 1, 3, 1),)),
        OpSpec("unsqueeze-front", lambda x: x.unsqueeze(0), lambda a: a[None], s3),
        OpSpec("unsqueeze-middle", lambda x: mg.unsqueeze(x, 1), lambda a: a[:, None], s3),
        OpSpec("unsqueeze-back", lambda x: x.unsqueeze(-1), lambda a: a[..., None], s3),
        OpSpec("expand", lambda x: x.expand(2, 3, 4),
               lambda a: np.broadcast_to(a, (2, 3, 4)), ((3, 1),)),
        OpSpec("expand-keep", lambda x: x.expand(-1, 4),
               lambda a: np.broadcast_to(a, (3, 4)), ((3, 1),)),
        OpSpec("expand-tuple", lambda x: x.expand((5, 4)),
               lambda a: np.broadcast_to(a, (5, 4)), ((4,),)),
    ]


def _index_specs() -> list[OpSpec]:
    s2, s3 = ((3, 4),), ((2, 3, 4),)
    repeated = [0, 2, 0, -1, 0]
    return [
        OpSpec("getitem-int", lambda x: x[1], lambda a: a[1], s3),
        OpSpec("getitem-negative-int", lambda x: x[-1, -2], lambda a: a[-1, -2], s3),
        OpSpec("getitem-scalar-element", lambda x: x[1, 2], lambda a: a[1, 2], s2),
        OpSpec("getitem-slice", lambda x: x[1:3], lambda a: a[1:3], s2),
        OpSpec("getitem-step", lambda x: x[:, ::2], lambda a: a[:, ::2], s2),
        OpSpec("getitem-negative-slice", lambda x: x[:, -3:-1], lambda a: a[:, -3:-1], s2),
        OpSpec("getitem-ellipsis", lambda x: x[..., 1], lambda a: a[..., 1], s3),
        OpSpec("getitem-none", lambda x: x[None, :, 0], lambda a: a[None, :, 0], s2),
        OpSpec("getitem-mixed", lambda x: x[1, None, ..., 1:], lambda a: a[1, None, ..., 1:],
               s3),
        OpSpec("getitem-bool-mask", lambda x: x[mg.tensor(MASK, device=x.device)],
               _mask_like, s2),
        OpSpec("getitem-bool-rows", lambda x: x[mg.tensor(ROWS, device=x.device)],
               lambda a: a[ROWS], s2),
        OpSpec("getitem-bool-numpy", lambda x: x[x > 0], lambda a: a[a > 0], s2),
        OpSpec("getitem-list-repeated", lambda x: x[repeated], lambda a: a[repeated], s2),
        OpSpec("getitem-tensor-repeated", lambda x: x[mg.tensor(repeated, device=x.device)],
               lambda a: a[repeated], s2),
        OpSpec("getitem-ndarray-repeated", lambda x: x[np.array(repeated)],
               lambda a: a[repeated], s2),
        OpSpec("getitem-column-list", lambda x: x[:, [1, 1, 3]], lambda a: a[:, [1, 1, 3]],
               s2),
        OpSpec("getitem-paired-arrays", lambda x: x[[0, 0, 2], [1, 1, 3]],
               lambda a: a[[0, 0, 2], [1, 1, 3]], s2),
        OpSpec("getitem-2d-index", lambda x: x[mg.tensor([[0, 1], [1, 0]], device=x.device)],
               lambda a: a[np.array([[0, 1], [1, 0]])], s3),
    ]


def _join_split_specs() -> list[OpSpec]:
    def cat_ref(dim):
        return lambda *a: np.concatenate(a, axis=dim)

    def stack_ref(dim):
        return lambda *a: np.stack(a, axis=dim)

    def pieces(a, sizes, axis):
        return tuple(np.split(a, np.cumsum(sizes)[:-1], axis=axis))

    return [
        OpSpec("cat-dim0", lambda *t: mg.cat(t), cat_ref(0), ((2, 3), (1, 3), (3, 3))),
        OpSpec("cat-dim1", lambda *t: mg.cat(list(t), dim=1), cat_ref(1), ((2, 3), (2, 1))),
        OpSpec("cat-negative", lambda *t: mg.cat(t, dim=-1), cat_ref(-1),
               ((2, 2, 3), (2, 2, 1))),
        OpSpec("stack-dim0", lambda *t: mg.stack(t), stack_ref(0), ((2, 3),) * 3),
        OpSpec("stack-dim1", lambda *t: mg.stack(t, dim=1), stack_ref(1), ((2, 3),) * 2),
        OpSpec("stack-negative", lambda *t: mg.stack(list(t), dim=-1), stack_ref(-1),
               ((2, 3),) * 2),
        OpSpec("where", lambda a, b: mg.where(mg.tensor(COND, device=a.device), a, b),
               lambda a, b: np.where(COND, a, b), ((3, 4), (4,))),
        OpSpec("where-scalar-other", lambda a: mg.where(mg.tensor(MASK, device=a.device), a,
                                                        0.0),
               lambda a: np.where(MASK, a, 0.0), ((3, 4),)),
        OpSpec("where-scalar-input", lambda b: mg.where(mg.tensor(MASK, device=b.device), 1.5,
                                                        b),
               lambda b: np.where(MASK, 1.5, b), ((3, 4),)),
        OpSpec("split-size", lambda x: x.split(2), lambda a: pieces(a, [2, 2, 1], 0),
               ((5, 3),)),
        OpSpec("split-sections", lambda x: mg.split(x, [1, 3], dim=1),
               lambda a: pieces(a, [1, 3], 1), ((2, 4),)),
        OpSpec("split-first-piece-only", lambda x: x.split(2, dim=-1)[0],
               lambda a: a[:, :2], ((3, 5),)),
        OpSpec("chunk", lambda x: x.chunk(3, dim=1), lambda a: pieces(a, [2, 2, 1], 1),
               ((2, 5),)),
        OpSpec("chunk-function", lambda x: mg.chunk(x, 2), lambda a: pieces(a, [2, 2], 0),
               ((4, 3),)),
        OpSpec("unbind", lambda x: x.unbind(0), lambda a: tuple(a), ((3, 4),)),
        OpSpec("unbind-last", lambda x: mg.unbind(x, -1),
               lambda a: tuple(np.moveaxis(a, -1, 0)), ((2, 3),)),
        OpSpec("unbind-one-used", lambda x: x.unbind(1)[2], lambda a: a[:, 2], ((2, 4),)),
    ]


# --- issue 11: more tensor methods and functions ----------------------------------------

IDX = np.array([[0, 2, 2, 1], [3, 0, 1, 1], [1, 1, 0, 3]])  # (3, 4), repeats, in [0, 4)
PERM_ROWS = np.array([[2, 0, 1, 3], [1, 3, 0, 2]])           # (2, 4): no repeats per row
PICK = np.array([2, 0, 2, 3])                                # 1-D, repeated


def _along(a, index, dim):
    return np.take_along_axis(a, index, axis=dim)


def _scatter_key(index, dim):
    """out[key] addresses out[i][index[i][j]] (dim=1): scatter's placement."""
    key = [np.arange(n).reshape([-1 if d == i else 1 for d in range(index.ndim)])
           for i, n in enumerate(index.shape)]
    key[dim] = index
    return tuple(key)


def _scatter_ref(a, dim, index, src):
    out = a.copy()
    out[_scatter_key(index, dim)] = src[tuple(slice(0, n) for n in index.shape)]
    return out


def _scatter_add_ref(a, dim, index, src):
    out = a.copy()
    np.add.at(out, _scatter_key(index, dim), src[tuple(slice(0, n) for n in index.shape)])
    return out


def _erf_ref(a):
    return np.vectorize(math.erf)(a)


def _gelu_ref(a):
    return 0.5 * a * (1 + _erf_ref(a / math.sqrt(2)))


def _gelu_tanh_ref(a):
    return 0.5 * a * (1 + np.tanh(math.sqrt(2 / math.pi) * (a + 0.044715 * a ** 3)))


def _softplus_ref(a, beta=1.0, threshold=20.0):
    return np.where(a * beta > threshold, a, np.log1p(np.exp(a * beta)) / beta)


def _t(array, like):
    """A constant index/mask array as a Tensor on ``like``'s device."""
    return mg.tensor(array, device=like.device)


def _method_specs() -> list[OpSpec]:
    s2, s3 = ((3, 4),), ((2, 3, 4),)
    pair = ((3, 4), (3, 4))
    return [
        # elementwise
        OpSpec("sin", lambda x: x.sin(), np.sin, s2),
        OpSpec("sin-function", mg.sin, np.sin, s2),
        OpSpec("cos", lambda x: x.cos(), np.cos, s2),
        OpSpec("cos-function", mg.cos, np.cos, s2),
        OpSpec("log1p", lambda x: x.log1p(), np.log1p, s2, "positive"),
        OpSpec("log1p-function", mg.log1p, np.log1p, s2, "positive"),
        OpSpec("expm1", lambda x: x.expm1(), np.expm1, s2),
        OpSpec("expm1-function", mg.expm1, np.expm1, s2),
        OpSpec("erf", lambda x: x.erf(), _erf_ref, s2),
        OpSpec("maximum", lambda a, b: a.maximum(b), np.maximum, pair),
        OpSpec("maximum-broadcast", mg.maximum, np.maximum, ((3, 4), (4,))),
        OpSpec("minimum", lambda a, b: a.minimum(b), np.minimum, pair),
        OpSpec("minimum-broadcast", mg.minimum, np.minimum, ((3, 1), (4,))),
        OpSpec("max-two-tensors", mg.max, np.maximum, pair),
        OpSpec("min-two-tensors", mg.min, np.minimum, pair),
        OpSpec("max-method-tensor", lambda a, b: a.max(b), np.maximum, pair),
        OpSpec("add-alpha", lambda a, b: a.add(b, alpha=2.5), lambda a, b: a + 2.5 * b, pair),
        OpSpec("add-function-alpha", lambda a, b: mg.add(a, b, alpha=-1),
               lambda a, b: a - b, ((3, 4), (4,))),
        OpSpec("sub-alpha", lambda a, b: a.sub(b, alpha=0.5), lambda a, b: a - 0.5 * b, pair),
        OpSpec("sub-function", mg.sub, np.subtract, pair),
        OpSpec("mul-method", lambda a, b: a.mul(b), np.multiply, pair),
        OpSpec("mul-function-scalar", lambda a: mg.mul(a, 3.0), lambda a: a * 3.0, s2),
        OpSpec("div-method", lambda a, b: a.div(b), np.divide, pair, ("real", "nonzero")),
        OpSpec("div-function", mg.div, np.divide, pair, ("real", "nonzero")),
        OpSpec("nan_to_num-finite", lambda x: x.nan_to_num(), lambda a: a, s2),
        OpSpec("clone", lambda x: x.clone(), lambda a: a.copy(), s2),
        OpSpec("clone-function", mg.clone, lambda a: a.copy(), s2),
        OpSpec("log_softmax-method", lambda x: x.log_softmax(1),
               lambda a: a - np.log(np.exp(a).sum(1, keepdims=True)), s2),
        OpSpec("gelu", F.gelu, _gelu_ref, s2),
        OpSpec("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), _gelu_tanh_ref, s2),
        OpSpec("gelu-module", nn.GELU(), _gelu_ref, s2),
        OpSpec("softplus", F.softplus, _softplus_ref, s2),
        OpSpec("softplus-beta-threshold", lambda x: F.softplus(x, beta=2.0, threshold=1.0),
               lambda a: _softplus_ref(a, 2.0, 1.0), s2),
        OpSpec("softplus-module", nn.Softplus(beta=0.5), lambda a: _softplus_ref(a, 0.5), s2),
        # norms and similarity
        OpSpec("norm", lambda x: x.norm(), lambda a: np.sqrt((a * a).sum()), s3),
        OpSpec("norm-fro-dims", lambda x: x.norm("fro", dim=(1, 2)),
               lambda a: np.sqrt((a * a).sum((1, 2))), s3),
        OpSpec("norm-dim-keepdim", lambda x: mg.norm(x, 2, -1, keepdim=True),
               lambda a: np.linalg.norm(a, axis=-1, keepdims=True), s3),
        OpSpec("norm-p3", lambda x: x.norm(3, dim=1),
               lambda a: (np.abs(a) ** 3).sum(1) ** (1 / 3), s3, "nonzero"),
        OpSpec("norm-p1", lambda x: x.norm(1, dim=0), lambda a: np.abs(a).sum(0), s3,
               "nonzero"),
        OpSpec("norm-p-half", lambda x: x.norm(0.5, dim=1),
               lambda a: (np.abs(a) ** 0.5).sum(1) ** 2, s3, "nonzero"),
        OpSpec("norm-inf", lambda x: x.norm(math.inf, dim=1),
               lambda a: np.abs(a).max(1), s3, "distinct-nonzero"),
        OpSpec("normalize", F.normalize, lambda a: a / np.linalg.norm(a, axis=1, keepdims=True),
               s2),
        OpSpec("normalize-p1-dim0", lambda x: F.normalize(x, p=1, dim=0),
               lambda a: a / np.abs(a).sum(0, keepdims=True), s2, "nonzero"),
        OpSpec("cosine_similarity", F.cosine_similarity,
               lambda a, b: (a * b).sum(1) / np.linalg.norm(a, axis=1)
               / np.linalg.norm(b, axis=1), pair),
        OpSpec("cosine_similarity-broadcast-dim-last",
               lambda a, b: F.cosine_similarity(a, b, dim=-1),
               lambda a, b: (a * b).sum(-1) / np.linalg.norm(a, axis=-1)
               / np.linalg.norm(b, axis=-1), ((3, 4), (4,))),
        # scans
        OpSpec("cumsum-dim0", lambda x: x.cumsum(0), lambda a: a.cumsum(0), s3),
        OpSpec("cumsum-last", lambda x: mg.cumsum(x, -1), lambda a: a.cumsum(-1), s3),
        OpSpec("cumprod", lambda x: x.cumprod(1), lambda a: a.cumprod(1), s3, "nonzero"),
        OpSpec("cumprod-function", lambda x: mg.cumprod(x, dim=-1),
               lambda a: a.cumprod(-1), s2, "nonzero"),
        # exact zeros: first derivatives are exact there; the second derivative is
        # checked on the nonzero domain only (see ops.scan.CumProd)
        OpSpec("cumprod-with-zeros", lambda x: x.cumprod(1), lambda a: a.cumprod(1),
               ((3, 5),), "with-zeros", hessian=False),
        # sorting
        OpSpec("sort", lambda x: x.sort(), lambda a: (np.sort(a, -1), np.argsort(a, -1)), s2,
               "distinct"),
        OpSpec("sort-descending-dim0", lambda x: mg.sort(x, 0, descending=True),
               lambda a: (-np.sort(-a, 0), np.argsort(-a, 0)), s3, "distinct"),
        OpSpec("topk", lambda x: x.topk(2),
               lambda a: (-np.sort(-a, -1)[:, :2], np.argsort(-a, -1)[:, :2]), s2,
               "distinct"),
        OpSpec("topk-smallest-dim0", lambda x: mg.topk(x, 1, dim=0, largest=False),
               lambda a: (np.sort(a, 0)[:1], np.argsort(a, 0)[:1]), s3, "distinct"),
        OpSpec("topk-values-only", lambda x: x.topk(3, dim=1).values,
               lambda a: -np.sort(-a, 1)[:, :3], s3, "distinct"),
        # indexing
        OpSpec("gather-dim1", lambda x: x.gather(1, _t(IDX[:, :3], x)),
               lambda a: _along(a, IDX[:, :3], 1), s2),
        OpSpec("gather-dim0", lambda x: mg.gather(x, 0, _t(IDX[:2] % 3, x)),
               lambda a: _along(a, IDX[:2] % 3, 0), s2),
        OpSpec("scatter-src", lambda x, s: x.scatter(1, _t(PERM_ROWS[:, :3], x), s),
               lambda a, s: _scatter_ref(a, 1, PERM_ROWS[:, :3], s), ((3, 4), (2, 4))),
        OpSpec("scatter-value", lambda x: x.scatter(1, _t(PERM_ROWS, x), 1.5),
               lambda a: _scatter_ref(a, 1, PERM_ROWS, np.full((2, 4), 1.5)), s2),
        OpSpec("scatter_add", lambda x, s: x.scatter_add(1, _t(IDX, x), s),
               lambda a, s: _scatter_add_ref(a, 1, IDX, s), pair),
        OpSpec("scatter_add-function-dim0", lambda x, s: mg.scatter_add(x, 0, _t(IDX % 3, x), s),
               lambda a, s: _scatter_add_ref(a, 0, IDX % 3, s), pair),
        OpSpec("index_select", lambda x: x.index_select(1, _t(PICK, x)),
               lambda a: a[:, PICK], s2),
        OpSpec("index_select-function-dim0", lambda x: mg.index_select(x, 0, _t(PICK % 2, x)),
               lambda a: a[PICK % 2], s3),
        OpSpec("masked_select", lambda x: x.masked_select(_t(MASK, x)), _mask_like, s2),
        OpSpec("masked_select-broadcast", lambda x: mg.masked_select(x, _t(ROWS[:, None], x)),
               lambda a: np.broadcast_to(a, (3, 4))[np.broadcast_to(ROWS[:, None], (3, 4))],
               ((4,),)),
        OpSpec("masked_fill", lambda x: x.masked_fill(_t(MASK, x), -2.0),
               lambda a: np.where(MASK, -2.0, a), s2),
        OpSpec("masked_fill-tensor-value", lambda x, v: mg.masked_fill(x, _t(COND, x), v),
               lambda a, v: np.where(COND, v, a), ((3, 4), ())),
        OpSpec("tril", lambda x: x.tril(), np.tril, s3),
        OpSpec("tril-offset", lambda x: mg.tril(x, -1), lambda a: np.tril(a, -1), s2),
        OpSpec("triu", lambda x: x.triu(1), lambda a: np.triu(a, 1), s2),
        OpSpec("triu-function", lambda x: mg.triu(x), np.triu, s3),
        OpSpec("flip", lambda x: x.flip(0, 2), lambda a: np.flip(a, (0, 2)), s3),
        OpSpec("flip-function", lambda x: mg.flip(x, [-1]), lambda a: np.flip(a, -1), s2),
        OpSpec("roll", lambda x: x.roll(1, 1), lambda a: np.roll(a, 1, 1), s2),
        OpSpec("roll-multi", lambda x: mg.roll(x, (2, -1), (0, 2)),
               lambda a: np.roll(a, (2, -1), (0, 2)), s3),
        OpSpec("roll-flat", lambda x: x.roll(5), lambda a: np.roll(a, 5), s2),
        OpSpec("repeat", lambda x: x.repeat(2, 3), lambda a: np.tile(a, (2, 3)), s2),
        OpSpec("repeat-new-dims", lambda x: x.repeat(2, 1, 2), lambda a: np.tile(a, (2, 1, 2)),
               ((3,),)),
        OpSpec("tile", lambda x: x.tile(2), lambda a: np.tile(a, 2), s2),
        OpSpec("tile-function", lambda x: mg.tile(x, (2, 1, 1)), lambda a: np.tile(a, (2, 1, 1)),
               s2),
        OpSpec("repeat_interleave", lambda x: x.repeat_interleave(2),
               lambda a: np.repeat(a, 2), s2),
        OpSpec("repeat_interleave-counts", lambda x: mg.repeat_interleave(
            x, _t([0, 2, 1], x), dim=0), lambda a: np.repeat(a, [0, 2, 1], axis=0), s2),
        OpSpec("narrow", lambda x: x.narrow(1, 1, 2), lambda a: a[:, 1:3], s2),
        OpSpec("narrow-negative-start", lambda x: mg.narrow(x, -1, -3, 3),
               lambda a: a[..., -3:], s3),
        OpSpec("diag-vector", lambda x: x.diag(), np.diag, ((4,),)),
        OpSpec("diag-vector-offset", lambda x: mg.diag(x, -2), lambda a: np.diag(a, -2),
               ((3,),)),
        OpSpec("diag-matrix", lambda x: x.diag(1), lambda a: np.diag(a, 1), s2),
        OpSpec("diag-matrix-below", lambda x: mg.diag(x, -1), lambda a: np.diag(a, -1), s2),
        OpSpec("view_as", lambda x, y: x.view_as(y) * y, lambda a, b: a.reshape(b.shape) * b,
               ((3, 4), (2, 6))),
        OpSpec("reshape_as", lambda x, y: x.reshape_as(y) * y, lambda a, b: a.reshape(4, 3) * b,
               ((3, 4), (4, 3))),
        OpSpec("expand_as", lambda x, y: x.expand_as(y) + y, lambda a, b: a + b,
               ((3, 1), (3, 4))),
        OpSpec("pad-constant", lambda x: F.pad(x, (1, 2)), lambda a: np.pad(a, ((0, 0), (1, 2))),
               s2),
        OpSpec("pad-constant-value-2d", lambda x: F.pad(x, (0, 1, 2, 0), value=-1.0),
               lambda a: np.pad(a, ((0, 0), (2, 0), (0, 1)), constant_values=-1.0), s3),
        OpSpec("pad-constant-negative", lambda x: F.pad(x, (-1, 2)),
               lambda a: np.pad(a[:, 1:], ((0, 0), (0, 2))), s2),
        OpSpec("pad-reflect", lambda x: F.pad(x, (2, 1), mode="reflect"),
               lambda a: np.pad(a, ((0, 0), (0, 0), (2, 1)), mode="reflect"), s3),
        OpSpec("pad-replicate-2d", lambda x: F.pad(x, (1, 2, 2, 1), mode="replicate"),
               lambda a: np.pad(a, ((0, 0), (2, 1), (1, 2)), mode="edge"), s3),
        OpSpec("pad-circular", lambda x: F.pad(x, (3, 1), mode="circular"),
               lambda a: np.pad(a, ((0, 0), (3, 1)), mode="wrap"), s2),
        # products
        OpSpec("einsum-matmul", lambda a, b: mg.einsum("ij,jk->ik", a, b), np.matmul,
               ((3, 4), (4, 2))),
        OpSpec("einsum-batched", lambda a, b: mg.einsum("bij,bkj->bik", a, b),
               lambda a, b: a @ b.swapaxes(1, 2), ((2, 3, 4), (2, 5, 4))),
        OpSpec("einsum-implicit", lambda a, b: mg.einsum("ij,jk", [a, b]), np.matmul,
               ((3, 4), (4, 2))),
        OpSpec("einsum-trace", lambda x: mg.einsum("ii", x), np.trace, ((3, 3),)),
        OpSpec("einsum-diagonal", lambda x: mg.einsum("ii->i", x), np.diagonal, ((3, 3),)),
        OpSpec("einsum-batch-diagonal", lambda x: mg.einsum("bii->bi", x),
               lambda a: np.diagonal(a, axis1=1, axis2=2), ((2, 3, 3),)),
        OpSpec("einsum-sum", lambda x: mg.einsum("ij->", x), np.sum, s2),
        OpSpec("einsum-outer", lambda a, b: mg.einsum("i,j->ij", a, b), np.outer, ((3,), (4,))),
        OpSpec("einsum-ellipsis", lambda a, b: mg.einsum("...ij,...jk->...ik", a, b),
               np.matmul, ((2, 3, 4), (2, 4, 5))),
        OpSpec("einsum-ellipsis-broadcast", lambda a, b: mg.einsum("...ij,jk->...ik", a, b),
               np.matmul, ((2, 3, 4), (4, 5))),
        OpSpec("einsum-size1-broadcast", lambda a, b: mg.einsum("ij,ij->i", a, b),
               lambda a, b: (a * b).sum(1), ((3, 1), (3, 4))),
        OpSpec("einsum-three", lambda a, b, c: mg.einsum("ij,jk,kl->il", a, b, c),
               lambda a, b, c: a @ b @ c, ((2, 3), (3, 4), (4, 2))),
        OpSpec("einsum-bilinear", lambda x, w, y: mg.einsum("bn,anm,bm->ba", x, w, y),
               lambda x, w, y: np.einsum("bn,anm,bm->ba", x, w, y), ((2, 3), (4, 3, 5), (2, 5))),
        OpSpec("einsum-transpose", lambda x: mg.einsum("ijk->kij", x),
               lambda a: a.transpose(2, 0, 1), s3),
        OpSpec("bmm", lambda a, b: a.bmm(b), np.matmul, ((2, 3, 4), (2, 4, 5))),
        OpSpec("bmm-function", mg.bmm, np.matmul, ((3, 2, 2), (3, 2, 4))),
        OpSpec("baddbmm", lambda c, a, b: c.baddbmm(a, b, beta=0.5, alpha=2.0),
               lambda c, a, b: 0.5 * c + 2.0 * (a @ b), ((2, 3, 5), (2, 3, 4), (2, 4, 5))),
        OpSpec("baddbmm-broadcast-input", mg.baddbmm, lambda c, a, b: c + a @ b,
               ((5,), (2, 3, 4), (2, 4, 5))),
        OpSpec("outer", lambda a, b: a.outer(b), np.outer, ((3,), (4,))),
        OpSpec("outer-function", mg.outer, np.outer, ((2,), (5,))),
    ]


def _huber_ref(d, delta):
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def _sdpa_ref(q, k, v):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return (weights / weights.sum(-1, keepdims=True)) @ v


def _loss_op_specs() -> list[OpSpec]:
    """The elementwise loss ops of ``ops/losses.py`` (``reduction='none'``) and
    attention (CTC has its own fixtures and gradchecks in test_losses.py)."""
    return [
        OpSpec("smooth-l1-loss", lambda x, y: F.smooth_l1_loss(x, y, reduction="none",
                                                               beta=0.7),
               lambda a, b: _huber_ref(a - b, 0.7) / 0.7, ((3, 4), (3, 4))),
        OpSpec("huber-loss", lambda x, y: F.huber_loss(x, y, reduction="none", delta=0.6),
               lambda a, b: _huber_ref(a - b, 0.6), ((3, 4), (3, 4))),
        OpSpec("kl-div", lambda x, t: F.kl_div(x, t, reduction="none"),
               lambda a, t: t * (np.log(t) - a), ((3, 4), (3, 4)), ("real", "positive")),
        OpSpec("kl-div-log-target", lambda x, t: F.kl_div(x, t, reduction="none",
                                                          log_target=True),
               lambda a, t: np.exp(t) * (t - a), ((3, 4), (3, 4))),
        OpSpec("scaled-dot-product-attention", F.scaled_dot_product_attention, _sdpa_ref,
               ((2, 3, 4), (2, 5, 4), (2, 5, 3))),
    ]


SPECS = (_binary_specs() + _python_scalar_specs() + _pow_specs() + _matmul_specs()
         + _math_specs() + _reduction_specs() + _shape_specs() + _index_specs()
         + _join_split_specs() + _rnn_cell_specs() + _sequence_specs()
         + _method_specs() + _loss_op_specs())
SPEC_IDS = [s.name for s in SPECS]
assert len(set(SPEC_IDS)) == len(SPEC_IDS), "duplicate op spec names"

TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


# --- the harness -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_forward_matches_numpy(spec: OpSpec, dtype, device):
    arrays = [a.astype(dtype) for a in _inputs(spec)]
    outs = _as_tuple(spec.fn(*[mg.tensor(a, device=device) for a in arrays]))
    # The reference runs in float64 on the very same (possibly float32-rounded) values.
    refs = _as_tuple(spec.ref(*[a.astype(np.float64) for a in arrays]))
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs):
        assert isinstance(out, mg.Tensor) and out.device == device
        ref = np.asarray(ref)
        assert out.shape == ref.shape
        if ref.dtype.kind in "iu":  # indices from max(dim)/min(dim)
            assert out.dtype == mg.int64
            np.testing.assert_array_equal(out.numpy(), ref)
        else:
            assert out.dtype == dtype, f"{spec.name}: dtype {out.dtype}, expected {dtype}"
            np.testing.assert_allclose(out.numpy(), ref, **TOLERANCE[dtype])


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_gradcheck(spec: OpSpec, device):
    inputs = [mg.tensor(a, device=device, requires_grad=True) for a in _inputs(spec)]
    assert mg.autograd.gradcheck(spec.fn, inputs)
    assert all(x.grad is None for x in inputs)  # gradcheck leaves .grad as it found it
    _objective(spec, inputs).backward()
    for x in inputs:
        assert x.grad is not None and x.grad.shape == x.shape and x.grad.dtype == mg.float64
        assert x.grad.device == device


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_backward_preserves_float32(spec: OpSpec):
    inputs = [mg.tensor(a.astype(np.float32), requires_grad=True) for a in _inputs(spec)]
    _objective(spec, inputs).backward()
    for x in inputs:
        assert x.grad.dtype == mg.float32 and x.grad.shape == x.shape


def _objective(spec: OpSpec, inputs, weights=None):
    """sum_k sum(w_k * out_k ** 2) over the op's float outputs."""
    outs = [o for o in _as_tuple(spec.fn(*inputs)) if o.dtype.kind == "f"]
    if weights is None:
        weights = [np.ones(o.shape) for o in outs]
    total = None
    for out, w in zip(outs, weights):
        term = (out * out * mg.tensor(w, dtype=out.dtype)).sum()
        total = term if total is None else total + term
    return total


def _gradients(spec, arrays, weights, create_graph=False):
    inputs = [mg.tensor(a, requires_grad=True) for a in arrays]
    _objective(spec, inputs, weights).backward(create_graph=create_graph)
    return inputs, [x.grad for x in inputs]


HESSIAN_SPECS = [s for s in SPECS if s.hessian]


@pytest.mark.parametrize("spec", HESSIAN_SPECS, ids=[s.name for s in HESSIAN_SPECS])
def test_second_derivative_hessian_vector_product(spec: OpSpec):
    arrays = _inputs(spec)
    rng = np.random.default_rng(7)
    outs = [o for o in _as_tuple(spec.fn(*[mg.tensor(a) for a in arrays]))
            if o.dtype.kind == "f"]
    weights = [rng.standard_normal(o.shape) for o in outs]
    directions = [rng.standard_normal(a.shape) for a in arrays]

    inputs, grads = _gradients(spec, arrays, weights, create_graph=True)
    _, plain = _gradients(spec, arrays, weights)
    for g, p in zip(grads, plain):  # the recorded gradient is the ordinary gradient
        np.testing.assert_allclose(g.numpy(), p.numpy(), rtol=1e-12, atol=1e-12)

    for x in inputs:
        x.grad = None
    dot = None
    for g, v in zip(grads, directions):
        if g.requires_grad:
            term = (g * mg.tensor(v)).sum()
            dot = term if dot is None else dot + term
    assert dot is not None, "the create_graph gradient is not differentiable"
    dot.backward()
    hvp = [np.zeros(x.shape) if x.grad is None else x.grad.numpy() for x in inputs]

    eps = 1e-6
    _, plus = _gradients(spec, [a + eps * v for a, v in zip(arrays, directions)], weights)
    _, minus = _gradients(spec, [a - eps * v for a, v in zip(arrays, directions)], weights)
    for h, gp, gm in zip(hvp, plus, minus):
        numeric = (gp.numpy() - gm.numpy()) / (2 * eps)
        np.testing.assert_allclose(h, numeric, rtol=1e-5, atol=1e-6)


# --- specific behaviours ------------------------------------------------------------


def test_every_contract_op_is_in_the_table():
    names = " ".join(SPEC_IDS)
    for op in ["add", "sub", "mul", "div", "pow-tensor-tensor", "rpow", "pow-square", "neg",
               "matmul-2d", "matmul-batched-3d", "matmul-broadcast-batch", "matmul-1d-2d",
               "matmul-2d-1d", "matmul-1d-1d", "addmm", "exp", "log", "sqrt", "abs", "tanh",
               "sigmoid", "relu", "clamp-min", "clamp-max", "clamp-both", "sum", "mean",
               "var", "max-all", "min-all", "max-dim", "min-dim", "reshape", "view",
               "flatten", "transpose", "T-", "permute", "squeeze-noop", "unsqueeze",
               "expand", "getitem-bool-mask", "getitem-tensor-repeated", "getitem-ellipsis",
               "getitem-none", "cat", "stack", "where", "split", "chunk", "unbind"]:
        assert op in names, op


def test_repeated_integer_indices_accumulate():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])
    x.grad = None
    x[mg.tensor([[1, 1], [1, -1]])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 1.0])


def test_broadcast_gradients_are_reduced_to_each_input_shape():
    a = mg.ones(2, 1, 4, requires_grad=True)
    b = mg.ones(3, 1, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (2, 1, 4) and b.grad.shape == (3, 1)
    np.testing.assert_array_equal(a.grad.numpy(), np.full((2, 1, 4), 3.0))
    np.testing.assert_array_equal(b.grad.numpy(), np.full((3, 1), 8.0))


def test_relu_and_abs_have_zero_derivative_at_zero():
    x = mg.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    (x.relu() + x.abs()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 2.0])


def test_clamp_passes_gradient_at_the_bounds():
    x = mg.tensor([-2.0, -1.0, 0.0, 1.0, 2.0], requires_grad=True)
    x.clamp(-1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0, 1.0, 1.0, 0.0])


def test_max_min_values_and_indices_are_a_named_pair():
    x = mg.tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 2.5]])
    values, indices = x.max(dim=1)
    assert values.tolist() == [5.0, 7.0] and indices.tolist() == [1, 0]
    result = x.min(dim=0, keepdim=True)
    assert result.values.tolist() == [[1.0, 2.0, 2.5]]
    assert result.indices.tolist() == [[0, 1, 1]] and result.indices.dtype == mg.int64
    assert not result.indices.requires_grad


def test_full_max_and_min_share_the_gradient_between_ties():
    x = mg.tensor([1.0, 3.0, 3.0, -2.0], requires_grad=True)
    (x.max() + x.min()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.5, 0.5, 1.0])


def test_max_dim_sends_the_gradient_to_the_returned_index():
    x = mg.tensor([[3.0, 3.0, 1.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    values.sum().backward()
    expected = np.zeros((1, 3))
    expected[0, indices.item()] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_argmax():
    x = mg.tensor([[1.0, 5.0, 3.0], [7.0, 2.0, 2.5]])
    assert mg.argmax(x).item() == 3 and x.argmax().dtype == mg.int64
    assert x.argmax(dim=1).tolist() == [1, 0]
    assert x.argmax(dim=0, keepdim=True).shape == (1, 3)


def test_full_reductions_give_0d_tensors():
    x = mg.randn(2, 3)
    for out in (x.sum(), x.mean(), x.var(), x.max(), x.min()):
        assert out.shape == () and out.ndim == 0


def test_var_of_singleton_dim_unbiased_vs_biased():
    x = mg.tensor([[1.0, 2.0, 4.0]])
    np.testing.assert_allclose(x.var(1).numpy(), [np.var([1, 2, 4], ddof=1)], rtol=1e-6)
    np.testing.assert_allclose(x.var(1, unbiased=False).numpy(), [np.var([1, 2, 4])],
                               rtol=1e-6)


def _grads_without_warnings(fn, *values):
    """``fn(*leaves).sum().backward()``, with any NumPy RuntimeWarning an error."""
    leaves = [mg.tensor(v, dtype=mg.float64, requires_grad=True) for v in values]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        fn(*leaves).sum().backward()
    return [x.grad.tolist() for x in leaves]


def test_power_zero_has_zero_derivative_at_zero():
    # x ** 0 is the constant 1: derivative 0 everywhere, as PyTorch (not 0 * 0^-1 = nan)
    assert _grads_without_warnings(lambda x: x ** 0, [0.0, 2.0]) == [[0.0, 0.0]]
    assert _grads_without_warnings(lambda x: x ** 0.0, [0.0, -1.0]) == [[0.0, 0.0]]
    assert _grads_without_warnings(lambda x, y: x ** y, [0.0, 0.0, 3.0], [0.0, 2.0, 0.0]) == [
        [0.0, 0.0, 0.0], [0.0, 0.0, np.log(3.0)]]


def test_power_of_zero_has_zero_derivative_in_the_exponent():
    # d(0^y)/dy = 0^y log 0: PyTorch takes it as 0 where y >= 0 (0^y is constant there)
    assert _grads_without_warnings(lambda y: 0.0 ** y, [0.0, 2.0]) == [[0.0, 0.0]]
    assert _grads_without_warnings(lambda x, y: x ** y, [0.0, 0.0], [0.0, 2.0]) == [
        [0.0, 0.0], [0.0, 0.0]]
    y = mg.tensor([-1.0], requires_grad=True)  # 0^-1 = inf: the gradient stays -inf
    with np.errstate(divide="ignore"):  # NumPy's warning for the forward 0^-1
        (0.0 ** y).sum().backward()
    assert y.grad.tolist() == [-np.inf]


def test_power_edge_derivatives_also_hold_under_create_graph():
    x = mg.tensor([0.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = mg.tensor([0.0, 3.0], dtype=mg.float64, requires_grad=True)
    (x ** y).sum().backward(create_graph=True)
    assert x.grad.tolist() == [0.0, 12.0] and x.grad.requires_grad
    assert y.grad.tolist() == [0.0, 8.0 * np.log(2.0)]


def test_variance_of_one_element_is_nan_without_warnings():
    x = mg.tensor([1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        v = x.var()
        assert v.shape == () and np.isnan(v.item())
        v.backward()  # nan, as PyTorch, not a ZeroDivisionError
    assert np.isnan(x.grad.item())
    assert x.var(unbiased=False).item() == 0.0
    kept = mg.ones(2, 1).var(1, keepdim=True)
    assert kept.shape == (2, 1) and np.isnan(kept.numpy()).all()
    assert np.isnan(mg.tensor(1.0).var().item())


def test_scatter_add_uses_add_at_and_falls_back_to_cupyx(monkeypatch):
    calls = []

    class FakeGpuArray(np.ndarray):
        pass

    class AddWithAt:
        @staticmethod
        def at(target, index, values):
            calls.append("add.at")
            np.add.at(target, index, values)

    fake_cupy = type("cupy", (), {"ndarray": FakeGpuArray, "add": AddWithAt})
    fake_cupyx = type("cupyx", (), {"scatter_add": staticmethod(
        lambda target, index, values: (calls.append("cupyx"), np.add.at(target, index,
                                                                         values)))})
    monkeypatch.setattr(backend, "_cupy", fake_cupy)
    monkeypatch.setitem(sys.modules, "cupyx", fake_cupyx)

    target = np.zeros(3).view(FakeGpuArray)
    backend.scatter_add(target, np.array([0, 0, 2]), np.ones(3))
    assert calls == ["add.at"] and target.tolist() == [2.0, 0.0, 1.0]  # CuPy >= 13

    fake_cupy.add = object()  # CuPy < 13: ufuncs have no .at
    backend.scatter_add(target, np.array([1]), np.ones(1))
    assert calls == ["add.at", "cupyx"] and target.tolist() == [2.0, 1.0, 1.0]

    plain = np.zeros(2)  # NumPy: np.add.at
    backend.scatter_add(plain, np.array([1, 1]), np.ones(2))
    assert plain.tolist() == [0.0, 2.0] and len(calls) == 2


def test_squeeze_on_non_unit_dim_is_a_noop():
    x = mg.randn(2, 3)
    assert x.squeeze(0).shape == (2, 3) and x.squeeze(-1).shape == (2, 3)


def test_gradient_penalty():
    """WGAN-GP style: penalize the input-gradient norm of a small network, then train
    its weights on that penalty; the weight gradient must match finite differences."""
    rng = np.random.default_rng(0)
    x_data = rng.standard_normal((4, 3))

    def penalty(w1, w2):
        x = mg.tensor(x_data, requires_grad=True)
        score = ((x @ w1).tanh() @ w2).sum()
        score.backward(create_graph=True)
        grad_x = x.grad
        assert grad_x.requires_grad  # create_graph: the gradient is part of the graph
        w1.grad = w2.grad = None  # keep only the penalty's gradient below
        return ((grad_x * grad_x).sum(1).sqrt() - 1.0).pow(2).mean()

    w1 = mg.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    w2 = mg.tensor(rng.standard_normal((5, 1)), requires_grad=True)
    assert mg.autograd.gradcheck(penalty, (w1, w2))

    value = penalty(w1, w2)
    value.backward()
    assert w1.grad.shape == (3, 5) and not w1.grad.requires_grad


def test_third_derivative_of_a_cubic():
    x = mg.tensor([2.0], dtype=mg.float64, requires_grad=True)
    (x ** 4).sum().backward(create_graph=True)
    g1 = x.grad  # 4 x^3 = 32
    x.grad = None
    g1.sum().backward(create_graph=True)
    g2 = x.grad  # 12 x^2 = 48
    x.grad = None
    g2.sum().backward()
    assert (g1.item(), g2.item(), x.grad.item()) == (32.0, 48.0, 48.0)  # 24 x = 48


# --- issue 11: ops without a gradient, checked forward only ------------------------------

V = np.array([[1.0, -2.0, 3.0, 3.0], [0.0, np.nan, -np.inf, 2.0], [5.0, 5.0, -1.0, np.inf]])
W = np.array([[1.0, 2.0, 3.0, -3.0], [0.0, 1.0, -np.inf, 2.5], [4.0, 5.0, -1.0, np.inf]])
TIES = np.array([[2.0, 1.0, 2.0, 1.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
INTS = np.array([[7, -7, 6, -6], [1, 0, -1, 9]])
DIVISORS = np.array([[2, 2, -4, -4], [3, 5, 3, -2]])


def _stable_desc(a, axis=-1):
    """Descending order keeping equal elements in index order (PyTorch's stable sort)."""
    return np.argsort(-a, axis=axis, kind="stable")


NONDIFF = [
    # (name, fn(tensor maker) -> Tensor or Python value, expected)
    ("eq", lambda T: T(V).eq(T(W)), V == W),
    ("eq-function-scalar", lambda T: mg.eq(T(V), 3.0), V == 3.0),
    ("ne", lambda T: T(V).ne(T(W)), V != W),
    ("lt", lambda T: T(V).lt(T(W)), V < W),
    ("le-function", lambda T: mg.le(T(V), T(W)), V <= W),
    ("gt-broadcast", lambda T: T(V).gt(T(W[0])), V > W[0]),
    ("ge", lambda T: mg.ge(T(V), 2), V >= 2),
    ("equal", lambda T: T(W).equal(T(W.copy())), True),  # W has infinities, no NaN
    ("equal-shape", lambda T: mg.equal(T(W), T(W[:2])), False),
    ("isnan", lambda T: T(V).isnan(), np.isnan(V)),
    ("isinf", lambda T: mg.isinf(T(V)), np.isinf(V)),
    ("isfinite", lambda T: T(V).isfinite(), np.isfinite(V)),
    ("nan_to_num", lambda T: T(V).nan_to_num(), np.nan_to_num(V)),
    ("nan_to_num-values", lambda T: mg.nan_to_num(T(V), nan=-1.0, posinf=9.0, neginf=-9.0),
     np.nan_to_num(V, nan=-1.0, posinf=9.0, neginf=-9.0)),
    ("nan_to_num-int", lambda T: T(INTS).nan_to_num(), INTS),
    ("any", lambda T: T(V).any(), np.array(True)),
    ("any-dim", lambda T: T(INTS == 0).any(1), (INTS == 0).any(1)),
    ("all-dim-keepdim", lambda T: mg.all(T(V > -5), 0, keepdim=True),
     (V > -5).all(0, keepdims=True)),
    ("all-float", lambda T: T(TIES).all(dim=1), TIES.astype(bool).all(1)),
    ("argsort", lambda T: T(TIES).argsort(), np.argsort(TIES, kind="stable")),
    ("argsort-descending-stable", lambda T: mg.argsort(T(TIES), descending=True, stable=True),
     _stable_desc(TIES)),
    ("argsort-dim0", lambda T: T(W).argsort(0), np.argsort(W, 0, kind="stable")),
    ("sort-nan-last", lambda T: T(V[1]).sort().values.isnan(), np.array([0, 0, 0, 1], bool)),
    ("sort-descending-nan-first", lambda T: T(V[1]).sort(descending=True).indices,
     np.array([1, 3, 0, 2])),
    ("topk-ties-in-index-order", lambda T: T(TIES).topk(3).indices,
     _stable_desc(TIES)[:, :3]),
    ("topk-int", lambda T: T(INTS).topk(2, largest=False).values, np.sort(INTS, 1)[:, :2]),
    ("allclose-infinities", lambda T: mg.allclose(T(W), T(W + 1e-9)), True),
    ("allclose-far", lambda T: mg.allclose(T(W), T(W + 1e-3)), False),
    ("allclose-finite", lambda T: T(W[:1]).allclose(T(W[:1] + 1e-9)), True),
    ("allclose-broadcast", lambda T: mg.allclose(T(np.ones((2, 3))), T(np.ones(3))), True),
    ("allclose-equal-nan", lambda T: mg.allclose(T(V), T(V), equal_nan=True), True),
    ("isclose", lambda T: T(V).isclose(T(V)), np.isclose(V, V)),
    ("div-trunc-int", lambda T: T(INTS).div(T(DIVISORS), rounding_mode="trunc"),
     np.trunc(INTS / DIVISORS).astype(np.int64)),
    ("div-floor-int", lambda T: mg.div(T(INTS), T(DIVISORS), rounding_mode="floor"),
     INTS // DIVISORS),
    ("floor_divide-scalar", lambda T: T(INTS).floor_divide(4), INTS // 4),
    ("div-trunc-float", lambda T: T(W).div(2.5, rounding_mode="trunc"), np.trunc(W / 2.5)),
    ("div-floor-float", lambda T: T(V[:1]).div(T(-W[0]), rounding_mode="floor"),
     np.floor_divide(V[:1], -W[0])),
    ("div-true-int", lambda T: T(INTS).div(2), INTS / 2),
    ("cumsum-int", lambda T: T(INTS).cumsum(1), INTS.cumsum(1)),
    ("cumsum-bool", lambda T: mg.cumsum(T(INTS > 0), 0), (INTS > 0).cumsum(0)),
    ("cumprod-int", lambda T: T(INTS).cumprod(0), INTS.cumprod(0)),
    ("norm-p0", lambda T: T(V[0]).norm(0), np.array(4.0)),
    ("repeat_interleave-counts-only", lambda T: mg.repeat_interleave(T(np.array([2, 0, 1]))),
     np.array([0, 0, 2])),
    ("masked_fill-int", lambda T: T(INTS).masked_fill(T(INTS < 0), 0.7), np.maximum(INTS, 0)),
    ("gather-int", lambda T: T(INTS).gather(1, T(np.array([[3], [0]]))), np.array([[-6], [1]])),
    ("tril-bool", lambda T: T(np.ones((3, 3), bool)).tril(), np.tril(np.ones((3, 3), bool))),
    ("diag-int", lambda T: T(np.array([1, 2])).diag(1), np.diag([1, 2], 1)),
    ("outer-int", lambda T: mg.outer(T(np.array([1, 2])), T(np.array([3, 4, 5]))),
     np.outer([1, 2], [3, 4, 5])),
    ("maximum-nan", lambda T: mg.maximum(T(V), T(W)), np.maximum(V, W)),
]


@pytest.mark.parametrize("name, fn, expected", NONDIFF, ids=[row[0] for row in NONDIFF])
def test_forward_of_ops_without_gradient(name, fn, expected, device):
    out = fn(lambda a: mg.tensor(a, device=device))
    if isinstance(expected, bool):
        assert out is expected or out == expected
        assert isinstance(out, bool)
        return
    expected = np.asarray(expected)
    assert isinstance(out, mg.Tensor) and out.device == device and not out.requires_grad
    kinds = {"b": "b", "i": "i", "u": "i", "f": "f"}
    assert kinds[out.dtype.kind] == kinds[expected.dtype.kind], (out.dtype, expected.dtype)
    if out.dtype.kind == "i":
        assert out.dtype == mg.int64
    np.testing.assert_array_equal(out.numpy(), expected)


def test_every_issue_11_op_is_in_a_table():
    names = " ".join(SPEC_IDS + [row[0] for row in NONDIFF])
    for op in ["clone", "view_as", "reshape_as", "expand_as", "narrow", "add-alpha",
               "sub-alpha", "mul-method", "div-method", "div-trunc", "div-floor", "eq", "ne",
               "lt", "le", "gt", "ge", "maximum", "minimum", "max-two-tensors",
               "min-two-tensors", "sin", "cos", "log1p", "expm1", "log_softmax-method",
               "norm", "norm-inf", "cumsum", "cumprod", "cumprod-with-zeros", "any", "all",
               "isnan", "isinf", "nan_to_num", "allclose", "topk", "sort", "argsort",
               "gather", "scatter-src", "scatter-value", "scatter_add", "index_select",
               "masked_select", "masked_fill", "tril", "triu", "flip", "roll", "repeat",
               "repeat_interleave", "tile", "einsum", "bmm", "baddbmm", "outer", "diag",
               "pad-constant", "pad-reflect", "pad-replicate", "normalize", "gelu",
               "gelu-tanh", "softplus", "cosine_similarity", "chunk", "split"]:
        assert op in names, op


def test_gradient_of_rounded_division_is_zero():
    a = mg.tensor([7.0, -7.5], requires_grad=True)
    b = mg.tensor([2.0, 2.0], requires_grad=True)
    a.div(b, rounding_mode="floor").sum().backward()
    assert a.grad.tolist() == [0.0, 0.0] and b.grad.tolist() == [0.0, 0.0]


def test_maximum_and_minimum_split_the_gradient_at_ties():
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mg.tensor([1.0, 0.0, 4.0], requires_grad=True)
    (mg.maximum(a, b) + 10 * mg.minimum(a, b)).sum().backward()
    assert a.grad.tolist() == [5.5, 1.0, 10.0] and b.grad.tolist() == [5.5, 10.0, 1.0]


def test_norm_has_zero_gradient_at_zero():
    x = mg.zeros(2, 3, dtype=mg.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        (x.norm(dim=1).sum() + x.norm(3) + x.norm()).backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2


@pytest.mark.parametrize("p, expected", [  # torch.norm(x, p).backward() in PyTorch 2.13
    (0.5, [0.0, 1.7071067811865472, -2.414213562373095]),
    (1.5, [0.0, 0.9040134034531213, -0.6392340078652324]),
    (3, [0.0, 0.9244816991341795, -0.2311204247835449])])
def test_p_norm_gradient_is_zero_at_a_zero_element(p, expected):
    x = mg.tensor([0.0, 2.0, -1.0], dtype=mg.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        x.norm(p).backward()
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-12, atol=0)


def test_nan_to_num_passes_the_gradient_only_where_finite():
    x = mg.tensor([1.0, np.nan, np.inf, -2.0], requires_grad=True)
    x.nan_to_num().backward(mg.tensor([1.0, 2.0, 3.0, 4.0]))
    assert x.grad.tolist() == [1.0, 0.0, 0.0, 4.0]


def test_cumprod_gradient_is_exact_at_zeros():
    # d/dx_i of sum_k prod_{j<=k} x_j, by hand: x = (2, 0, 3, 0, 5)
    x = mg.tensor([2.0, 0.0, 3.0, 0.0, 5.0], dtype=mg.float64, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0/0 on the way
        x.cumprod(0).sum().backward()
    # x_0: 1 (k=0); x_1: 2 + 2*3 = 8 (k=1, 2); after the first zero every term has x_1
    assert x.grad.tolist() == [1.0, 8.0, 0.0, 0.0, 0.0]
    y = mg.tensor([[0.0, 4.0, 0.5]], dtype=mg.float64, requires_grad=True)
    assert mg.autograd.gradcheck(lambda t: t.cumprod(1), (y,))


def test_scatter_and_gather_backward_accumulate_repeated_indices():
    x = mg.zeros(2, 3, requires_grad=True)
    index = mg.tensor([[0, 0, 2, 0], [1, 1, 1, 1]])
    x.gather(1, index).sum().backward()
    assert x.grad.tolist() == [[3.0, 0.0, 1.0], [0.0, 4.0, 0.0]]
    src = mg.ones(2, 4, requires_grad=True)
    out = mg.zeros(2, 3).scatter_add(1, index, src * 2)
    assert out.tolist() == [[6.0, 0.0, 2.0], [0.0, 8.0, 0.0]]
    out.sum().backward()
    assert src.grad.tolist() == [[2.0] * 4] * 2


def test_sort_and_topk_return_named_pairs():
    x = mg.tensor([[3.0, 1.0, 2.0]])
    result = x.sort(descending=True)
    assert isinstance(result, mg.return_types.sort) and result.values.tolist() == [[3, 2, 1]]
    values, indices = mg.topk(x, 2, largest=False)
    assert values.tolist() == [[1.0, 2.0]] and indices.tolist() == [[1, 2]]
    assert isinstance(mg.topk(x, 1), mg.return_types.topk)
    assert x.topk(0).values.shape == (1, 0)
    scalar = mg.tensor(4.0).topk(1)
    assert scalar.values.item() == 4.0 and scalar.indices.item() == 0


def test_half_int_bool_and_type_names():
    x = mg.tensor([1.5, -2.0, 0.0], requires_grad=True)
    half = x.half()
    assert half.dtype == mg.float16 and half.requires_grad
    half.float().sum().backward()
    assert x.grad.dtype == mg.float32 and x.grad.tolist() == [1.0, 1.0, 1.0]
    assert x.int().dtype == mg.int32 and x.int().tolist() == [1, -2, 0]
    assert x.bool().tolist() == [True, True, False] and not x.bool().requires_grad
    names = [(x, "minigrad.FloatTensor"), (x.double(), "minigrad.DoubleTensor"),
             (x.half(), "minigrad.HalfTensor"), (x.long(), "minigrad.LongTensor"),
             (x.int(), "minigrad.IntTensor"), (x.bool(), "minigrad.BoolTensor")]
    for t, name in names:
        assert t.type() == name
    assert x.type(mg.float64).dtype == mg.float64
    assert x.type("minigrad.LongTensor").dtype == mg.int64
    assert x.type("torch.DoubleTensor").dtype == mg.float64  # ported code works as is
    with pytest.raises(ValueError, match="invalid type: 'foo'"):
        x.type("foo")


def test_new_factories_take_dtype_and_device_from_self(device):
    x = mg.ones(2, dtype=mg.float64, device=device)
    made = [(x.new_zeros(3, 1), (3, 1), 0.0), (x.new_ones((2,)), (2,), 1.0),
            (x.new_full((2, 2), 7), (2, 2), 7.0), (x.new_tensor([5, 6]), (2,), None)]
    for t, shape, value in made:
        assert t.dtype == mg.float64 and t.device == device and t.shape == shape
        assert t.is_leaf and not t.requires_grad
        if value is not None:
            assert (t.numpy() == value).all()
    assert x.new_tensor([1, 2]).tolist() == [1.0, 2.0]
    assert x.new_zeros(2, dtype=mg.int64).dtype == mg.int64
    assert x.new_empty(4).shape == (4,)
    assert x.new_ones(2, requires_grad=True).requires_grad


def test_clone_is_a_copy():
    x = mg.tensor([1.0, 2.0])
    y = x.clone()
    y.data[0] = 9.0
    assert x.tolist() == [1.0, 2.0]
    assert x.contiguous() is x  # every layout is accepted: contiguous never copies


def test_flip_returns_a_copy():
    x = mg.tensor([1.0, 2.0, 3.0])
    y = x.flip(0)
    y.data[0] = 0.0
    assert x.tolist() == [1.0, 2.0, 3.0]


def test_chunk_and_split_as_pytorch():
    x = mg.arange(6)
    assert [c.shape[0] for c in x.chunk(5)] == [2, 2, 2]  # fewer chunks, as PyTorch
    assert [c.shape[0] for c in x.chunk(4)] == [2, 2, 2]
    assert [c.shape[0] for c in x.split(4)] == [4, 2]
    assert [c.shape[0] for c in x.split(10)] == [6]
    assert [c.tolist() for c in mg.split(x, [1, 5])] == [[0], [1, 2, 3, 4, 5]]
    assert [c.shape for c in mg.zeros(0).split(2)] == [(0,)]  # one empty piece
    assert [c.shape for c in mg.zeros(2, 0).chunk(3, 1)] == [(2, 0)] * 3


# --- multinomial ----------------------------------------------------------------------


def test_multinomial_with_replacement_follows_the_weights(device):
    weights = mg.tensor([[1.0, 0.0, 6.0, 3.0], [0.0, 0.0, 0.0, 5.0]], device=device)
    draws = weights.multinomial(20000, replacement=True, generator=None)
    assert draws.shape == (2, 20000) and draws.dtype == mg.int64 and draws.device == device
    counts = np.stack([np.bincount(row, minlength=4) for row in draws.numpy()]) / 20000
    np.testing.assert_allclose(counts[0], [0.1, 0.0, 0.6, 0.3], atol=0.015)
    assert counts[0, 1] == 0.0 and counts[1].tolist() == [0.0, 0.0, 0.0, 1.0]
    one = mg.tensor([0.2, 0.8], device=device).multinomial(3, True)
    assert one.shape == (3,)


def test_multinomial_without_replacement_draws_distinct_categories(device):
    weights = mg.tensor([0.5, 0.0, 0.3, 0.2], device=device)
    rows = mg.stack([weights] * 4000)
    draws = rows.multinomial(4).numpy()
    assert all(sorted(row) == [0, 1, 2, 3] for row in draws)  # a permutation per row
    assert (draws[:, 3] == 1).all()  # the zero-weight category only after all others
    first = np.bincount(draws[:, 0], minlength=4) / len(draws)
    np.testing.assert_allclose(first, [0.5, 0.0, 0.3, 0.2], atol=0.03)
    # the second draw follows the weights renormalized without the first
    after_0 = draws[draws[:, 0] == 0, 1]
    np.testing.assert_allclose((after_0 == 2).mean(), 0.6, atol=0.05)


def test_multinomial_is_reproducible_with_seeds_and_generators():
    weights = mg.tensor([0.1, 0.2, 0.3, 0.4])
    mg.manual_seed(3)
    a = weights.multinomial(6, True)
    mg.manual_seed(3)
    assert weights.multinomial(6, True).tolist() == a.tolist()
    g = mg.Generator().manual_seed(11)
    b = mg.multinomial(weights, 4, generator=g)
    state = mg.get_rng_state()
    assert mg.multinomial(weights, 4, generator=mg.Generator().manual_seed(11)).tolist() == (
        b.tolist())
    assert mg.get_rng_state().tolist() == state.tolist()  # the default stream untouched
