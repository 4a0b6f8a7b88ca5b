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

import sys
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import backend
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


SPECS = (_binary_specs() + _python_scalar_specs() + _pow_specs() + _matmul_specs()
         + _math_specs() + _reduction_specs() + _shape_specs() + _index_specs()
         + _join_split_specs() + _rnn_cell_specs())
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
