"""Module-level functions (``mg.cat``, ``mg.stack``, ``mg.where``, ``mg.addmm``, and
the math methods as functions: ``mg.tanh(x)`` is ``x.tanh()``)."""

from __future__ import annotations

import builtins
import math
from collections.abc import Sequence

import numpy as np

from . import backend, dtypes, return_types
from . import random as _random
from .ops import einsum as EIN
from .ops import elementwise as E
from .ops import indexing as I
from .ops import linalg as L
from .ops import pointwise as P
from .ops import reduce as R
from .ops import scan as SC
from .ops import shape as S
from .tensor import (
    MaxResult,
    Tensor,
    _as_tensor,
    _broadcastable,
    _check_devices,
    _compare,
    _promote,
    matmul,
)


def _same_kind(tensors: Sequence[Tensor], name: str) -> list[Tensor]:
    """Check a list of tensors for one device; promote to one dtype."""
    if len(tensors) == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
    _check_devices(name, *tensors)
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = dtypes.result_type(dtype, t.dtype)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim: shapes equal except in ``dim``, whose sizes
    add up."""
    tensors = _same_kind(tensors, "cat")
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated "
                         "(use mg.stack)")
    (axis,) = R.normalize_dims(dim, ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ndim or t.shape[:axis] + t.shape[axis + 1:] != (
                tensors[0].shape[:axis] + tensors[0].shape[axis + 1:]):
            raise ValueError(
                f"cat: tensor {i} has shape {tuple(t.shape)}, expected "
                f"{tuple(tensors[0].shape)} except in dim {dim}")
    return S.Cat.apply(*tensors, dim=axis)


def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join ``n`` same-shape tensors along a new dim: ``S`` -> ``S`` with ``n`` inserted
    at ``dim``."""
    tensors = _same_kind(tensors, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(
                f"stack: tensor {i} has shape {tuple(t.shape)}, expected "
                f"{tuple(tensors[0].shape)} (all tensors must have the same shape)")
    ndim = tensors[0].ndim + 1
    if not -ndim <= dim < ndim:
        raise IndexError(f"stack: dim {dim} out of range for {ndim} dims")
    return S.Stack.apply(*tensors, dim=dim % ndim)


def where(condition: Tensor | np.ndarray, input: Tensor | float,  # noqa: A002
          other: Tensor | float) -> Tensor:
    """``input`` where the bool ``condition`` is true, else ``other`` (either may be a
    scalar); the result has the three arguments' broadcast shape."""
    like = input if isinstance(input, Tensor) else other
    if not isinstance(like, Tensor):
        raise TypeError("where: at least one of input and other must be a Tensor")
    cond = condition.data if isinstance(condition, Tensor) else condition
    if getattr(cond, "dtype", None) is None or cond.dtype.kind != "b":
        raise TypeError(f"where: condition must be a bool tensor, got "
                        f"{getattr(cond, 'dtype', type(cond).__name__)}")
    a, b = _as_tensor(input, like), _as_tensor(other, like)
    _check_devices("where", cond, a, b)
    a, b = _promote(a, b, "where")
    try:
        return E.Where.apply(a, b, condition=cond)
    except ValueError:
        raise ValueError(
            f"where: condition, input and other of shapes {tuple(cond.shape)}, "
            f"{tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast together") from None


def addmm(input: Tensor, mat1: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    """``input + mat1 @ mat2`` for 2-D ``mat1`` ``(n, k)`` and ``mat2`` ``(k, m)``, as
    one graph node; ``input`` broadcasts to ``(n, m)``."""
    if mat1.ndim != 2 or mat2.ndim != 2 or mat1.shape[1] != mat2.shape[0]:
        raise ValueError(
            f"addmm: expected 2-D mat1 (n, k) and mat2 (k, m), got {tuple(mat1.shape)} "
            f"and {tuple(mat2.shape)}")
    input, mat1 = _promote(input, mat1, "addmm")
    mat1, mat2 = _promote(mat1, mat2, "addmm")
    try:
        return L.AddMM.apply(input, mat1, mat2)
    except ValueError:
        raise ValueError(
            f"addmm: input of shape {tuple(input.shape)} cannot be broadcast to the "
            f"product's shape {(mat1.shape[0], mat2.shape[1])}") from None


def exp(x: Tensor) -> Tensor:
    """Elementwise ``e**x``; same shape as ``x``."""
    return x.exp()


def log(x: Tensor) -> Tensor:
    """Elementwise natural log; same shape as ``x``."""
    return x.log()


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root; same shape as ``x``."""
    return x.sqrt()


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """Elementwise ``|x|``; same shape as ``x``."""
    return x.abs()


def tanh(x: Tensor) -> Tensor:
    """Elementwise ``tanh``; same shape as ``x``."""
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    """Elementwise ``1 / (1 + exp(-x))``; same shape as ``x``."""
    return x.sigmoid()


def relu(x: Tensor) -> Tensor:
    """Elementwise ``max(x, 0)``; same shape as ``x``."""
    return x.relu()


def clamp(x: Tensor, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
    """Elementwise clip into ``[min, max]`` (at least one given); same shape as ``x``."""
    return x.clamp(min, max)


def sum(x: Tensor, dim: int | Sequence[int] | None = None,  # noqa: A001
        keepdim: bool = False) -> Tensor:
    """Sum over ``dim`` (all dims when None: a 0-d result); bool sums as int64."""
    return x.sum(dim, keepdim)


def mean(x: Tensor, dim: int | Sequence[int] | None = None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (all dims when None: a 0-d result)."""
    return x.mean(dim, keepdim)


def max(x: Tensor, dim: int | Tensor | None = None,  # noqa: A001
        keepdim: bool = False) -> Tensor | MaxResult:
    """Largest value (0-d); with ``dim``, a ``(values, indices)`` pair reduced over it;
    ``max(a, b)`` with two tensors is ``maximum(a, b)`` (elementwise)."""
    if isinstance(dim, Tensor):
        return maximum(x, dim)
    return x.max(dim, keepdim)


def min(x: Tensor, dim: int | Tensor | None = None,  # noqa: A001
        keepdim: bool = False) -> Tensor | MaxResult:
    """Smallest value (0-d); with ``dim``, a ``(values, indices)`` pair reduced over it;
    ``min(a, b)`` with two tensors is ``minimum(a, b)`` (elementwise)."""
    if isinstance(dim, Tensor):
        return minimum(x, dim)
    return x.min(dim, keepdim)


def var(x: Tensor, dim: int | Sequence[int] | None = None, unbiased: bool = True,
        keepdim: bool = False) -> Tensor:
    """Variance over ``dim`` (all dims when None); ``unbiased`` divides by ``n - 1``."""
    return x.var(dim, unbiased, keepdim)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """int64 index of the largest value: along ``dim``, or into the flattened tensor
    (0-d) when None."""
    return x.argmax(dim, keepdim)


def pow(x: Tensor, exponent: Tensor | float) -> Tensor:  # noqa: A001
    """Elementwise ``x ** exponent`` (broadcasting a tensor exponent)."""
    return x ** exponent


def reshape(x: Tensor, *shape: int | Sequence[int]) -> Tensor:
    """``x`` with a new shape of the same size (one ``-1`` is inferred)."""
    return x.reshape(*shape)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """``x`` with dims ``dim0`` and ``dim1`` swapped."""
    return x.transpose(dim0, dim1)


def permute(x: Tensor, *dims: int | Sequence[int]) -> Tensor:
    """``x`` with its dims reordered: output dim ``i`` is input dim ``dims[i]``."""
    return x.permute(*dims)


def squeeze(x: Tensor, dim: int | Sequence[int] | None = None) -> Tensor:
    """``x`` without its size-1 dims (only those in ``dim``, when given)."""
    return x.squeeze(dim)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """``x`` with a new size-1 dim inserted at ``dim``."""
    return x.unsqueeze(dim)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``x`` with dims ``start_dim..end_dim`` merged into one (a 0-d ``x`` -> ``(1,)``)."""
    return x.flatten(start_dim, end_dim)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    """The ``x.shape[dim]`` slices along ``dim``, each without that dim."""
    return x.unbind(dim)


def split(x: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``: of size ``split_size`` each (the last may be smaller), or
    of the given section sizes (which must sum to ``x.shape[dim]``)."""
    return x.split(split_size_or_sections, dim)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` pieces along ``dim``, of size ``ceil(x.shape[dim] / chunks)``
    (the last may be smaller)."""
    return x.chunk(chunks, dim)


def softmax(x: Tensor, dim: int) -> Tensor:
    """``softmax`` along ``dim``; same shape as ``x`` (see ``nn.functional.softmax``)."""
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed stably; same shape as ``x``."""
    return x.log_softmax(dim)


def is_tensor(obj: object) -> bool:
    """Whether ``obj`` is a minigrad ``Tensor`` (Parameters included)."""
    return isinstance(obj, Tensor)


__all__ = ["addmm", "cat", "matmul", "stack", "where"]


# =====================================================================================
# Tensor methods as functions, and the functions behind the newer Tensor methods
# (``x.gather(...)`` calls ``gather(x, ...)`` below).  Each checks its arguments with
# PyTorch's conditions and messages, then applies ops from ``minigrad/ops``.
# =====================================================================================


def _require(value, name: str, what: str = "input") -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}(): argument '{what}' must be a Tensor, got "
                        f"{type(value).__name__}")
    return value


def _axis(x: Tensor, dim: int, name: str) -> int:
    """``dim`` as a non-negative axis of ``x`` (IndexError when out of range; a 0-d
    tensor accepts 0 and -1)."""
    if x.ndim == 0:
        if dim not in (0, -1):
            raise IndexError(f"{name}(): dim {dim} is out of range for a 0-d tensor "
                             "(expected 0 or -1)")
        return 0
    (axis,) = R.normalize_dims(dim, x.ndim, name)
    return axis


def _floating_input(x: Tensor) -> Tensor:
    """Math on int/bool tensors computes in the default float dtype (as PyTorch)."""
    return x if x.dtype.kind == "f" else x.to(dtypes.get_default_dtype())


# --- elementwise ------------------------------------------------------------------------


def sin(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise sine; same shape as ``input``."""
    return P.Sin.apply(_floating_input(_require(input, "sin")))


def cos(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise cosine; same shape as ``input``."""
    return P.Cos.apply(_floating_input(_require(input, "cos")))


def log1p(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise ``log(1 + x)`` (accurate for small ``x``)."""
    return P.Log1p.apply(_floating_input(_require(input, "log1p")))


def expm1(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise ``exp(x) - 1`` (accurate for small ``x``)."""
    return P.Expm1.apply(_floating_input(_require(input, "expm1")))


def erf(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt``."""
    return P.Erf.apply(_floating_input(_require(input, "erf")))


def clone(input: Tensor) -> Tensor:  # noqa: A002
    """A copy with its own memory (differentiable: the gradient passes through)."""
    return P.Clone.apply(_require(input, "clone"))


def add(input: Tensor, other, *, alpha: float = 1) -> Tensor:  # noqa: A002
    """``input + alpha * other`` (broadcasting)."""
    return _require(input, "add") + _scaled(input, other, alpha, "add")


def sub(input: Tensor, other, *, alpha: float = 1) -> Tensor:  # noqa: A002
    """``input - alpha * other`` (broadcasting)."""
    return _require(input, "sub") - _scaled(input, other, alpha, "sub")


def _scaled(input, other, alpha, name):  # noqa: A002
    if alpha == 1:
        return other
    if isinstance(alpha, float) and input.dtype.kind in "biu" and not (
            isinstance(other, float) or getattr(other, "dtype", np.dtype(int)).kind == "f"):
        raise RuntimeError(f"{name}(): for integral input tensors, argument alpha must not "
                           f"be a floating point number, got alpha={alpha}")
    return other * alpha


def mul(input: Tensor, other) -> Tensor:  # noqa: A002
    """``input * other`` (broadcasting)."""
    return _require(input, "mul") * other


ROUNDING_MODES = (None, "trunc", "floor")


def div(input: Tensor, other, *, rounding_mode: str | None = None) -> Tensor:  # noqa: A002
    """``input / other``: true division (a float result), or rounded toward zero
    (``'trunc'``) or down (``'floor'``) in the operands' dtype (integers stay integers;
    integer division by zero raises ZeroDivisionError).  The rounded forms have zero
    gradient."""
    _require(input, "div")
    if rounding_mode not in ROUNDING_MODES:
        raise ValueError(f"div(): expected rounding_mode to be one of None, 'trunc', or "
                         f"'floor', got {rounding_mode!r}")
    if rounding_mode is None:
        return input / other
    a, b = _promote(input, _as_tensor(other, input), "div")
    return P.DivRounded.apply(a, b, rounding_mode=rounding_mode)


def floor_divide(input: Tensor, other) -> Tensor:  # noqa: A002
    """``div(input, other, rounding_mode='floor')``."""
    return div(input, other, rounding_mode="floor")


def maximum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise larger of two tensors (broadcasting); where they are equal each
    gets half the gradient."""
    return _max_min_pair(input, other, True, "maximum")


def minimum(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Elementwise smaller of two tensors (broadcasting); ties share the gradient."""
    return _max_min_pair(input, other, False, "minimum")


def _max_min_pair(input, other, largest, name):  # noqa: A002
    _require(input, name)
    _require(other, name, "other")
    a, b = _promote(input, other, name)
    try:
        return P.MaxMinimum.apply(a, b, largest=largest)
    except ValueError:
        raise ValueError(f"{name}(): shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                         "broadcast together") from None


def eq(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise ``input == other`` (a bool tensor)."""
    return _compare(_require(input, "eq"), other, "eq")


def ne(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise ``input != other`` (a bool tensor)."""
    return _compare(_require(input, "ne"), other, "ne")


def lt(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise ``input < other`` (a bool tensor)."""
    return _compare(_require(input, "lt"), other, "lt")


def le(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise ``input <= other`` (a bool tensor)."""
    return _compare(_require(input, "le"), other, "le")


def gt(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise ``input > other`` (a bool tensor)."""
    return _compare(_require(input, "gt"), other, "gt")


def ge(input: Tensor, other) -> Tensor:  # noqa: A002
    """Elementwise ``input >= other`` (a bool tensor)."""
    return _compare(_require(input, "ge"), other, "ge")


def equal(input: Tensor, other: Tensor) -> bool:  # noqa: A002
    """True if both tensors have the same shape and elements."""
    _require(input, "equal")
    _require(other, "equal", "other")
    _check_devices("equal", input, other)
    return input.shape == other.shape and bool((input.data == other.data).all())


def isnan(input: Tensor) -> Tensor:  # noqa: A002
    """Bool tensor: True where ``input`` is NaN."""
    x = _require(input, "isnan")
    return Tensor._make(backend.get_array_module(x.data).isnan(x.data))


def isinf(input: Tensor) -> Tensor:  # noqa: A002
    """Bool tensor: True where ``input`` is +inf or -inf."""
    x = _require(input, "isinf")
    return Tensor._make(backend.get_array_module(x.data).isinf(x.data))


def isfinite(input: Tensor) -> Tensor:  # noqa: A002
    """Bool tensor: True where ``input`` is neither NaN nor infinite."""
    x = _require(input, "isfinite")
    return Tensor._make(backend.get_array_module(x.data).isfinite(x.data))


def nan_to_num(input: Tensor, nan: float = 0.0, posinf: float | None = None,  # noqa: A002
               neginf: float | None = None) -> Tensor:
    """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (by default the dtype's
    largest and smallest finite values); integer tensors are returned as a copy."""
    x = _require(input, "nan_to_num")
    if x.dtype.kind != "f":
        return clone(x)
    return P.NanToNum.apply(x, nan=nan, posinf=posinf, neginf=neginf)


def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
             equal_nan: bool = False) -> bool:
    """True if ``|input - other| <= atol + rtol * |other|`` everywhere (broadcasting)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
            equal_nan: bool = False) -> Tensor:
    """Bool tensor: ``|input - other| <= atol + rtol * |other|`` (broadcasting)."""
    _require(input, "isclose")
    _require(other, "isclose", "other")
    _check_devices("isclose", input, other)
    if input.dtype != other.dtype:
        raise RuntimeError(f"isclose(): expected both tensors to have the same dtype, got "
                           f"{input.dtype} and {other.dtype}")
    xp = backend.get_array_module(input.data)
    if not _broadcastable(input.shape, other.shape):
        raise ValueError(f"isclose(): shapes {tuple(input.shape)} and {tuple(other.shape)} "
                         "cannot be broadcast together")
    return Tensor._make(xp.asarray(xp.isclose(input.data, other.data, rtol=rtol, atol=atol,
                                              equal_nan=equal_nan)))


# --- reductions and scans -------------------------------------------------------------


def any(input: Tensor, dim: int | Sequence[int] | None = None,  # noqa: A001, A002
        keepdim: bool = False) -> Tensor:
    """Bool tensor: whether any element (over ``dim``; all dims when None) is nonzero."""
    return _logical_reduce(input, dim, keepdim, "any")


def all(input: Tensor, dim: int | Sequence[int] | None = None,  # noqa: A001, A002
        keepdim: bool = False) -> Tensor:
    """Bool tensor: whether every element (over ``dim``; all dims when None) is
    nonzero."""
    return _logical_reduce(input, dim, keepdim, "all")


def _logical_reduce(input, dim, keepdim, name):  # noqa: A002
    x = _require(input, name)
    axes = R.normalize_dims(dim, x.ndim, name)
    data = x.data.astype(bool)
    out = data.any(axis=axes, keepdims=keepdim) if name == "any" else data.all(
        axis=axes, keepdims=keepdim)
    return Tensor._make(backend.get_array_module(data).asarray(out))


def cumsum(input: Tensor, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """Running sums along ``dim``: ``out[i] = x[0] + ... + x[i]``; same shape (integer
    and bool inputs give int64)."""
    return _scan(input, dim, dtype, "cumsum")


def cumprod(input: Tensor, dim: int, *, dtype=None) -> Tensor:  # noqa: A002
    """Running products along ``dim``: ``out[i] = x[0] * ... * x[i]``; same shape. The
    gradient is exact where ``x`` has zeros."""
    return _scan(input, dim, dtype, "cumprod")


def _scan(input, dim, dtype, name):  # noqa: A002
    x = _require(input, name)
    axis = _axis(x, dim, name)
    if dtype is not None:
        x = x.to(dtype)
    elif x.dtype.kind in "biu":
        x = x.to(dtypes.int64)
    flat = x.ndim == 0
    source = x.reshape(1) if flat else x
    out = (SC.CumSum.apply(source, dim=axis) if name == "cumsum"
           else SC.CumProd.apply(source, dim=axis))
    return out.reshape(()) if flat else out


NORM_ORDERS = "a number, inf, -inf or 'fro'"


def norm(input: Tensor, p: float | str | None = "fro",  # noqa: A002
         dim: int | Sequence[int] | None = None, keepdim: bool = False,
         dtype=None) -> Tensor:
    """The vector ``p``-norm over ``dim`` (all elements when None): ``p=2`` / ``'fro'``
    (the default) is the Euclidean / Frobenius norm, ``inf`` the largest ``|x|``,
    ``-inf`` the smallest, ``0`` the number of nonzeros.  Gradient 0 where the norm is
    0."""
    x = _require(input, "norm")
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind != "f":
        raise RuntimeError(f"norm(): expected a floating point tensor as input, got "
                           f"{x.dtype}")
    if p is None or p == "fro":
        p = 2
    if isinstance(p, str) or isinstance(p, bool) or not isinstance(p, (int, float)):
        raise ValueError(f"norm(): p must be {NORM_ORDERS}, got {p!r}")
    axes = R.normalize_dims(dim, x.ndim, "norm")
    if p == math.inf or p == -math.inf:
        return R.MaxMin.apply(x.abs(), axes=axes, keepdim=keepdim, largest=p > 0)
    if p == 0:
        nonzero = Tensor._make((x.data != 0).astype(x.dtype))
        return nonzero.sum(axes, keepdim)
    if p == 1:
        return x.abs().sum(axes, keepdim)
    return R.PNorm.apply(x, axes=axes, keepdim=keepdim, p=float(p))


# --- sorting and sampling ----------------------------------------------------------------


def _sort_indices(data, axis: int, descending: bool):
    """Stable argsort along ``axis``; descending keeps equal elements in their original
    order and puts NaN first (as PyTorch), via the ascending sort of the reversed
    array."""
    xp = backend.get_array_module(data)
    kind = {"kind": "stable"} if xp is np else {}
    if not descending:
        return xp.argsort(data, axis=axis, **kind)
    n = data.shape[axis]
    flipped = xp.flip(data, axis)
    return (n - 1) - xp.flip(xp.argsort(flipped, axis=axis, **kind), axis)


def _take_sorted(x: Tensor, indices, axis: int) -> Tensor:
    """``x`` gathered at ``indices`` along ``axis`` (differentiable: the gradient is
    scattered back to the chosen positions)."""
    return S.GetItem.apply(x, index=I.along_axis_key(indices, axis))


def sort(input: Tensor, dim: int = -1, descending: bool = False, *,  # noqa: A002
         stable: bool = False) -> return_types.sort:
    """``(values, indices)``: ``input`` sorted along ``dim`` and the int64 positions
    the values came from.  The sort is always stable (``stable`` is accepted for
    PyTorch's signature)."""
    x = _require(input, "sort")
    axis = _axis(x, dim, "sort")
    if x.ndim == 0:
        return return_types.sort(x, Tensor._make(
            backend.get_array_module(x.data).zeros((), dtype=np.int64)))
    indices = _sort_indices(x.data, axis, descending)
    return return_types.sort(_take_sorted(x, indices, axis),
                             Tensor._make(indices.astype(np.int64)))


def argsort(input: Tensor, dim: int = -1, descending: bool = False,  # noqa: A002
            stable: bool = False) -> Tensor:
    """The int64 indices that sort ``input`` along ``dim`` (``sort(...).indices``)."""
    return sort(input, dim, descending, stable=stable).indices


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True,  # noqa: A002
         sorted: bool = True) -> return_types.topk:  # noqa: A002
    """``(values, indices)`` of the ``k`` largest (``largest=False``: smallest) elements
    along ``dim``, in sorted order (best first; ties in index order)."""
    x = _require(input, "topk")
    axis = _axis(x, dim, "topk")
    size = 1 if x.ndim == 0 else x.shape[axis]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
        raise RuntimeError(f"topk(): selected index k out of range: expected k in "
                           f"[0, {size}] (the size of dim {dim}), got {k!r}")
    if x.ndim == 0:
        return return_types.topk(*sort(x))
    indices = _sort_indices(x.data, axis, descending=largest)
    indices = indices[(slice(None),) * axis + (slice(0, int(k)),)]
    return return_types.topk(_take_sorted(x, indices, axis),
                             Tensor._make(indices.astype(np.int64)))


def _random_stream(generator, device: str):
    """The NumPy/CuPy generator to draw from: the default generator's stream for
    ``device`` (see ``manual_seed``) when ``generator`` is None, else the given
    ``mg.Generator``'s NumPy stream (on the GPU its draws are copied over)."""
    if generator is None:
        return _random.generator(device)
    _random.check_generator(generator, device)  # an mg.Generator for this device
    return _random.numpy_rng(generator)


def multinomial(input: Tensor, num_samples: int, replacement: bool = False,  # noqa: A002
                *, generator=None) -> Tensor:
    """int64 category indices drawn from the rows of ``input`` (``(n,)`` or
    ``(rows, n)``; non-negative weights, not necessarily normalized) ->
    ``(num_samples,)`` or ``(rows, num_samples)``.

    With ``replacement`` each draw inverts the row's CDF; without, draws are distinct
    (an exponential race: the smallest ``E_i / p_i``, E_i ~ Exp(1), ordered, which is
    sequential sampling without replacement), and zero-weight categories come only
    after every positive one is taken.
    """
    x = _require(input, "multinomial")
    if x.dtype.kind != "f":
        raise RuntimeError(f"multinomial(): only floating-point dtypes are supported for "
                           f"input, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise RuntimeError(f"multinomial(): prob_dist must be 1 or 2 dim, got {x.ndim} dims "
                           f"(shape {tuple(x.shape)})")
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
        raise TypeError(f"multinomial(): num_samples must be an int, got "
                        f"{type(num_samples).__name__}")
    n = x.shape[-1]
    if num_samples <= 0:
        raise RuntimeError(f"multinomial(): cannot sample n_sample <= 0 samples, got "
                           f"{num_samples}")
    if not replacement and num_samples > n:
        raise RuntimeError(f"multinomial(): cannot sample n_sample > prob_dist.size(-1) "
                           f"samples without replacement: {num_samples} > {n}")
    xp = backend.get_array_module(x.data)
    probs = x.data.reshape((-1, n)).astype(np.float64)
    if not bool(xp.isfinite(probs).all()) or bool((probs < 0).any()):
        raise RuntimeError("multinomial(): probability tensor contains either `inf`, `nan` "
                           "or element < 0")
    total = probs.sum(axis=1, keepdims=True)
    if bool((total <= 0).any()):
        row = int(xp.argmax(total[:, 0] <= 0))
        raise RuntimeError(f"multinomial(): invalid multinomial distribution (sum of "
                           f"probabilities <= 0) in row {row}")
    rng = _random_stream(generator, x.device)
    rows = probs.shape[0]
    if replacement:
        u = xp.asarray(rng.random((rows, int(num_samples))))
        cdf = probs.cumsum(axis=1)
        samples = _invert_cdf(cdf / cdf[:, -1:], u)  # the last value is exactly 1
    else:
        u = xp.asarray(rng.random((rows, n)))
        with np.errstate(divide="ignore", invalid="ignore"):
            keys = -xp.log1p(-u) / probs  # Exp(1) / p: inf (or nan) where p == 0
        samples = _sort_indices(keys, 1, False)[:, :num_samples]
    samples = samples.astype(np.int64)
    return Tensor._make(samples if x.ndim == 2 else samples.reshape(-1))


def _invert_cdf(cdf, u):
    """Per row, the first index whose CDF value exceeds each uniform draw:
    ``searchsorted(cdf[r], u[r], side='right')`` for all rows at once.  The CDF values
    and the draws are sorted together (CDF first on ties); a draw's answer is the
    number of CDF values before it."""
    xp = backend.get_array_module(cdf)
    rows, n = cdf.shape
    joined = xp.concatenate([cdf, u], axis=1)
    kind = {"kind": "stable"} if xp is np else {}
    order = xp.argsort(joined, axis=1, **kind)
    is_cdf = order < n
    cdf_before = xp.cumsum(is_cdf, axis=1)
    draw = ~is_cdf
    out = xp.empty(u.shape, dtype=np.int64)
    row_ids = xp.broadcast_to(xp.arange(rows)[:, None], order.shape)
    out[row_ids[draw], order[draw] - n] = cdf_before[draw]
    return xp.minimum(out, n - 1)  # u < 1 = cdf[-1]: never reached, kept for safety


# --- indexing ----------------------------------------------------------------------------


def _index_data(index, like: Tensor, name: str):
    """The array of an integer index tensor on ``like``'s device."""
    if not isinstance(index, Tensor):
        raise TypeError(f"{name}(): index must be a Tensor of int64, got "
                        f"{type(index).__name__}")
    if index.dtype.kind not in "iu":
        raise RuntimeError(f"{name}(): expected dtype int32/int64 for index, got "
                           f"{index.dtype}")
    _check_devices(name, like, index)
    return index.data.astype(np.int64, copy=False)


def _check_index_range(data, size: int, dim: int, name: str) -> None:
    bad = (data < 0) | (data >= size)
    if data.size and bool(bad.any()):
        value = int(data[bad].reshape(-1)[0])
        raise RuntimeError(f"{name}(): index {value} is out of bounds for dimension {dim} "
                           f"with size {size} (expected indices in [0, {size - 1}])")


def _check_index_shape(index_shape, x_shape, axis: int, name: str, src_shape=None) -> None:
    if len(index_shape) != len(x_shape):
        raise RuntimeError(f"{name}(): index tensor must have the same number of dimensions "
                           f"as input tensor: got {len(index_shape)} and {len(x_shape)}")
    for d, (i, n) in enumerate(zip(index_shape, x_shape)):
        if d != axis and i > n:
            raise RuntimeError(
                f"{name}(): size does not match at dimension {d}: expected index "
                f"{list(index_shape)} to be no larger than self {list(x_shape)} apart "
                f"from dimension {axis}")
    if src_shape is not None:
        if len(src_shape) != len(index_shape) or builtins.any(
                i > s for i, s in zip(index_shape, src_shape)):
            raise RuntimeError(f"{name}(): expected index {list(index_shape)} to be no "
                               f"larger than src {list(src_shape)} in every dimension")


def gather(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """Values along ``dim`` at ``index`` (same ndim as ``input``; the output has
    ``index``'s shape): for ``dim=1``, ``out[i][j][k] = input[i][index[i][j][k]][k]``.
    The gradient is scatter-added back."""
    x = _require(input, "gather")
    idx = _index_data(index, x, "gather")
    if x.ndim == 0:
        return gather(x.reshape(1), dim, Tensor._make(idx.reshape(1))).reshape(idx.shape)
    axis = _axis(x, dim, "gather")
    _check_index_shape(idx.shape, x.shape, axis, "gather")
    _check_index_range(idx, x.shape[axis], axis, "gather")
    return S.GetItem.apply(x, index=I.along_axis_key(idx, axis))


def _scatter_args(input, dim, index, src, name):  # noqa: A002
    x = _require(input, name)
    idx = _index_data(index, x, name)
    axis = _axis(x, dim, name)
    if isinstance(src, Tensor):
        _check_devices(name, x, src)
        if src.dtype != x.dtype:
            raise RuntimeError(f"{name}(): expected self.dtype to be equal to src.dtype, got "
                               f"{x.dtype} and {src.dtype}")
        _check_index_shape(idx.shape, x.shape, axis, name, src.shape)
    else:
        _check_index_shape(idx.shape, x.shape, axis, name)
    _check_index_range(idx, x.shape[axis], axis, name)
    return x, idx, axis


def _src_block(src: Tensor, shape: tuple) -> Tensor:
    """The leading ``shape`` block of ``src`` (scatter reads only that part)."""
    return src if src.shape == shape else S.GetItem.apply(src, index=I.leading_box(shape))


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *,  # noqa: A002
            value=None) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor, or a number ``value``) written along
    ``dim`` at ``index``: for ``dim=1``, ``out[i][index[i][j][k]][k] = src[i][j][k]``.
    Differentiable in ``input`` (off the written places) and ``src``."""
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter(): expected a src tensor or a value")
    x, idx, axis = _scatter_args(input, dim, index, src, "scatter")
    key = I.along_axis_key(idx, axis)
    if isinstance(src, Tensor):
        block = _src_block(src, idx.shape)
    else:
        xp = backend.get_array_module(x.data)
        block = Tensor._make(xp.full(idx.shape, src, dtype=x.dtype))
    return I.Scatter.apply(x, block, key=key)


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:  # noqa: A002
    """A copy of ``input`` with ``src`` added along ``dim`` at ``index`` (repeated
    positions accumulate): ``out[i][index[i][j][k]][k] += src[i][j][k]`` for
    ``dim=1``."""
    _require(src, "scatter_add", "src")
    x, idx, axis = _scatter_args(input, dim, index, src, "scatter_add")
    added = S.IndexAdd.apply(_src_block(src, idx.shape), shape=x.shape,
                             index=I.along_axis_key(idx, axis))
    return x + added


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """The slices of ``input`` at the positions ``index`` (1-D int) along ``dim``; that
    dim gets ``len(index)`` entries.  The gradient is scatter-added back."""
    x = _require(input, "index_select")
    idx = _index_data(index, x, "index_select")
    if idx.ndim > 1:
        raise IndexError(f"index_select(): index is supposed to be a vector, got "
                         f"{idx.ndim} dims (shape {tuple(idx.shape)})")
    if x.ndim == 0:
        return index_select(x.reshape(1), dim, index).reshape(())
    axis = _axis(x, dim, "index_select")
    idx = idx.reshape(-1)
    _check_index_range(idx, x.shape[axis], axis, "index_select")
    return S.GetItem.apply(x, index=(slice(None),) * axis + (idx,))


def _bool_mask(mask, like: Tensor, name: str, what: str = "mask"):
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name}(): {what} must be a bool Tensor, got {type(mask).__name__}")
    if mask.dtype.kind != "b":
        raise RuntimeError(f"{name}(): expected a bool tensor for {what}, got {mask.dtype}")
    _check_devices(name, like, mask)
    return mask.data


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:  # noqa: A002
    """``input`` with ``value`` (a number or a 0-d tensor, cast to ``input``'s dtype)
    where the bool ``mask`` is True; ``mask`` and ``input`` broadcast.  Differentiable
    in ``input`` and in a tensor ``value``."""
    x = _require(input, "masked_fill")
    mask_data = _bool_mask(mask, x, "masked_fill")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill(): only supports a 0-dimensional value tensor, "
                               f"but got tensor with {value.ndim} dimension(s)")
        _check_devices("masked_fill", x, value)
        fill = value if value.dtype == x.dtype else value.to(x.dtype)
    elif isinstance(value, (bool, int, float, np.generic)):
        xp = backend.get_array_module(x.data)
        fill = Tensor._make(xp.asarray(value).astype(x.dtype))
    else:
        raise TypeError(f"masked_fill(): value must be a number or a 0-d Tensor, got "
                        f"{type(value).__name__}")
    if not _broadcastable(x.shape, mask_data.shape):
        raise ValueError(f"masked_fill(): mask of shape {tuple(mask_data.shape)} cannot be "
                         f"broadcast with input of shape {tuple(x.shape)}")
    return I.MaskedFill.apply(x, fill, mask=mask_data)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:  # noqa: A002
    """1-D tensor of the elements of ``input`` where the bool ``mask`` is True (both
    broadcast to a common shape first), in row-major order."""
    x = _require(input, "masked_select")
    mask_data = _bool_mask(mask, x, "masked_select")
    if not _broadcastable(x.shape, mask_data.shape):
        raise ValueError(f"masked_select(): mask of shape {tuple(mask_data.shape)} cannot be "
                         f"broadcast with input of shape {tuple(x.shape)}")
    xp = backend.get_array_module(x.data)
    shape = np.broadcast_shapes(x.shape, mask_data.shape)
    source = x if x.shape == shape else x.expand(*shape)
    return S.GetItem.apply(source, index=xp.broadcast_to(mask_data, shape))


def _triangle(input, diagonal, lower, name):  # noqa: A002
    x = _require(input, name)
    if x.ndim < 2:
        raise RuntimeError(f"{name}(): input tensor must have at least 2 dimensions, got "
                           f"{x.ndim}")
    xp = backend.get_array_module(x.data)
    n, m = x.shape[-2:]
    below = xp.tri(n, m, diagonal if lower else diagonal - 1, dtype=bool)
    drop = ~below if lower else below
    zero = Tensor._make(xp.zeros((), dtype=x.dtype))
    return I.MaskedFill.apply(x, zero, mask=drop)


def tril(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The lower triangle of the last two dims (on and below ``diagonal``), zeros
    above."""
    return _triangle(input, diagonal, True, "tril")


def triu(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """The upper triangle of the last two dims (on and above ``diagonal``), zeros
    below."""
    return _triangle(input, diagonal, False, "triu")


def _dims_list(dims, x: Tensor, name: str) -> tuple:
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    axes = []
    for d in dims:
        (axis,) = R.normalize_dims(d, x.ndim, name)
        if axis in axes:
            raise RuntimeError(f"{name}(): dim {d} appears multiple times in the list of "
                               "dims")
        axes.append(axis)
    return tuple(axes)


def flip(input: Tensor, dims: int | Sequence[int]) -> Tensor:  # noqa: A002
    """A copy with the order of elements reversed along each of ``dims``."""
    x = _require(input, "flip")
    axes = _dims_list(dims, x, "flip") if x.ndim else ()
    return I.Flip.apply(x, dims=axes) if axes else clone(x)


def roll(input: Tensor, shifts: int | Sequence[int],  # noqa: A002
         dims: int | Sequence[int] | None = None) -> Tensor:
    """Elements shifted by ``shifts`` along ``dims`` (wrapping around); with ``dims``
    None the flattened tensor is rolled and the shape restored."""
    x = _require(input, "roll")
    shift_list = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    if dims is None:
        if len(shift_list) != 1:
            raise RuntimeError(f"roll(): shifts and dimensions must align: with dims=None "
                               f"expected one shift, got {len(shift_list)}")
        return I.Roll.apply(x, shifts=int(shift_list[0]), dims=None)
    axes = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shift_list) != len(axes):
        raise RuntimeError(f"roll(): shifts and dimensions must align. shifts: "
                           f"{len(shift_list)}, dims: {len(axes)}")
    axes = tuple(R.normalize_dims(d, x.ndim, "roll")[0] for d in axes)
    return I.Roll.apply(x, shifts=tuple(int(s) for s in shift_list), dims=axes)


def _repeat(input: Tensor, sizes: tuple, name: str) -> Tensor:  # noqa: A002
    x = _require(input, name)
    if len(sizes) < x.ndim:
        raise RuntimeError(f"{name}(): number of dimensions of repeat dims ({len(sizes)}) "
                           f"can not be smaller than number of dimensions of tensor "
                           f"({x.ndim})")
    if builtins.any(s < 0 for s in sizes):
        raise RuntimeError(f"{name}(): repeats must be non-negative, got {list(sizes)}")
    return I.Repeat.apply(x, sizes=tuple(sizes))


def tile(input: Tensor, dims: Sequence[int]) -> Tensor:  # noqa: A002
    """``input`` copied ``dims[d]`` times along each dim (``dims`` shorter than the
    tensor's ndim is padded with leading 1s; longer adds leading dims)."""
    x = _require(input, "tile")
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    dims = (1,) * (x.ndim - len(dims)) + dims
    return _repeat(x, dims, "tile")


def repeat_interleave(input: Tensor, repeats: int | Tensor | None = None,  # noqa: A002
                      dim: int | None = None, *, output_size: int | None = None) -> Tensor:
    """Each element (``dim`` None: of the flattened tensor) or slice along ``dim``
    repeated ``repeats`` times (an int, or an int tensor with one count per slice):
    ``[a, b]`` -> ``[a, a, b, b]``.  ``repeat_interleave(counts)`` alone gives
    ``arange(len(counts))`` repeated by ``counts``."""
    x = _require(input, "repeat_interleave")
    if repeats is None:  # mg.repeat_interleave(counts)
        counts = _repeat_counts(x, 1 if x.ndim == 0 else x.shape[0])
        xp = backend.get_array_module(x.data)
        return Tensor._make(xp.asarray(np.repeat(np.arange(counts.shape[0]), counts)))
    if dim is None:
        x, axis = x.reshape(-1), 0
    else:
        axis = _axis(x, dim, "repeat_interleave")
        if x.ndim == 0:
            x = x.reshape(1)
    n = x.shape[axis]
    counts = _repeat_counts(repeats, n, like=x)
    index = backend.get_array_module(x.data).asarray(np.repeat(np.arange(n), counts))
    if output_size is not None and output_size != index.shape[0]:
        raise RuntimeError(f"repeat_interleave(): output_size={output_size} does not match "
                           f"the total of repeats ({index.shape[0]})")
    return S.GetItem.apply(x, index=(slice(None),) * axis + (index,))


def _repeat_counts(repeats, n: int, like: Tensor | None = None):
    """``repeats`` (an int or an integer tensor of 1 or ``n`` counts) as ``n`` counts, a
    host (NumPy) array: the output's length depends on them."""
    if isinstance(repeats, Tensor):
        if repeats.dtype.kind not in "iu":
            raise TypeError(f"repeat_interleave(): repeats must be an int or an integer "
                            f"tensor, got dtype {repeats.dtype}")
        if like is not None:
            _check_devices("repeat_interleave", like, repeats)
        counts = backend.to_numpy(repeats.data).reshape(-1).astype(np.int64)
        if counts.shape[0] == 1 and like is not None:
            counts = np.full(n, int(counts[0]), dtype=np.int64)
    elif isinstance(repeats, (int, np.integer)) and not isinstance(repeats, bool):
        counts = np.full(n, int(repeats), dtype=np.int64)
    else:
        raise TypeError(f"repeat_interleave(): repeats must be an int or an integer tensor, "
                        f"got {type(repeats).__name__}")
    if counts.ndim != 1 or counts.shape[0] != n:
        raise RuntimeError(f"repeat_interleave(): repeats must have the same size as input "
                           f"along dim, but got repeats.size(0) = {counts.shape[0]} and "
                           f"input.size(dim) = {n}")
    if counts.size and bool((counts < 0).any()):
        raise RuntimeError("repeat_interleave(): repeats can not be negative, got "
                           f"{counts.tolist()}")
    return counts


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:  # noqa: A002
    """The slice ``start : start + length`` of ``input`` along ``dim`` (a negative
    ``start`` counts from the end)."""
    x = _require(input, "narrow")
    if x.ndim == 0:
        raise RuntimeError("narrow(): cannot be applied to a 0-dim tensor")
    axis = _axis(x, dim, "narrow")
    n = x.shape[axis]
    start = int(start)
    if not -n <= start <= n:
        raise IndexError(f"narrow(): start out of range (expected to be in range of "
                         f"[{-n}, {n}], but got {start})")
    if length < 0:
        raise RuntimeError(f"narrow(): length must be non-negative, got {length}")
    start %= n if n else 1
    if start + length > n:
        raise RuntimeError(f"narrow(): start ({start}) + length ({length}) exceeds dimension "
                           f"size ({n})")
    return S.GetItem.apply(x, index=(slice(None),) * axis + (slice(start, start + length),))


def diag(input: Tensor, diagonal: int = 0) -> Tensor:  # noqa: A002
    """1-D ``(n,)`` -> the square matrix with it on ``diagonal`` (0 main, > 0 above,
    < 0 below); 2-D -> that diagonal as a 1-D tensor."""
    x = _require(input, "diag")
    xp = backend.get_array_module(x.data)
    if x.ndim == 1:
        n = x.shape[0]
        size = n + builtins.abs(diagonal)
        rows = xp.arange(n) + builtins.max(-diagonal, 0)
        cols = xp.arange(n) + builtins.max(diagonal, 0)
        return S.IndexAdd.apply(x, shape=(size, size), index=(rows, cols))
    if x.ndim == 2:
        n, m = x.shape
        length = builtins.max(builtins.min(n, m - diagonal) if diagonal >= 0
                              else builtins.min(n + diagonal, m), 0)
        rows = xp.arange(length) + builtins.max(-diagonal, 0)
        cols = xp.arange(length) + builtins.max(diagonal, 0)
        return S.GetItem.apply(x, index=(rows, cols))
    raise RuntimeError(f"diag(): supports 1D or 2D tensors, got {x.ndim}D")


# --- products -----------------------------------------------------------------------------


def bmm(input: Tensor, mat2: Tensor) -> Tensor:  # noqa: A002
    """Batched matrix product: ``(b, n, m) @ (b, m, p)`` -> ``(b, n, p)`` (no
    broadcasting)."""
    _require(input, "bmm")
    _require(mat2, "bmm", "mat2")
    _check_bmm(input, mat2, "bmm")
    return matmul(input, mat2)


def _check_bmm(batch1, batch2, name):
    for label, t in (("batch1", batch1), ("batch2", batch2)):
        if t.ndim != 3:
            raise RuntimeError(f"{name}(): {label} must be a 3D tensor, got shape "
                               f"{tuple(t.shape)}")
    expected = (batch1.shape[0], batch1.shape[2])
    if batch2.shape[:2] != expected:
        raise RuntimeError(f"{name}(): expected size for first two dimensions of batch2 "
                           f"tensor to be: {list(expected)} but got: "
                           f"{list(batch2.shape[:2])}")


def baddbmm(input: Tensor, batch1: Tensor, batch2: Tensor, *,  # noqa: A002
            beta: float = 1, alpha: float = 1) -> Tensor:
    """``beta * input + alpha * bmm(batch1, batch2)``; ``input`` broadcasts to
    ``(b, n, p)`` (with ``beta=0`` it is ignored, NaNs included)."""
    _require(input, "baddbmm")
    _check_bmm(_require(batch1, "baddbmm", "batch1"), _require(batch2, "baddbmm", "batch2"),
               "baddbmm")
    product = matmul(batch1, batch2)
    shape = product.shape
    if not _broadcastable(input.shape, shape) or len(input.shape) > 3 or tuple(
            np.broadcast_shapes(input.shape, shape)) != shape:
        raise RuntimeError(f"baddbmm(): input of shape {tuple(input.shape)} cannot be "
                           f"broadcast to the product's shape {tuple(shape)}")
    if alpha != 1:
        product = product * alpha
    if beta == 0:
        return product
    return product + (input if beta == 1 else input * beta)


def outer(input: Tensor, vec2: Tensor) -> Tensor:  # noqa: A002
    """Outer product of two 1-D tensors: ``(n,)``, ``(m,)`` -> ``(n, m)``."""
    for label, t in (("self", input), ("vec2", vec2)):
        _require(t, "outer", label)
        if t.ndim != 1:
            raise RuntimeError(f"outer(): expected 1-D argument {label}, but got "
                               f"{t.ndim}-D")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


ger = outer


def einsum(equation: str, *operands: Tensor) -> Tensor:
    """Einstein summation, as ``torch.einsum``: ``einsum('bij,bjk->bik', a, b)``.
    Letters name dims; letters missing from the output are summed; ``...`` stands for
    broadcast dims; without ``->`` the output is the letters used once, in
    alphabetical order.  A letter repeated in one operand takes its diagonal.  Dims of
    size 1 broadcast.  The operands may also be given as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str):
        raise TypeError(f"einsum(): equation must be a str, got {type(equation).__name__}")
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    tensors = _same_kind(operands, "einsum")
    inputs, output = _parse_einsum(equation.replace(" ", ""), tensors)
    sizes: dict[str, int] = {}
    for k, (sub, t) in enumerate(zip(inputs, tensors)):
        local: dict[str, int] = {}
        for c, n in zip(sub, t.shape):
            if local.setdefault(c, n) != n:
                raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but "
                                   f"the sizes don't match, {local[c]} != {n}")
            seen = sizes.get(c)
            if seen is not None and n != seen and 1 not in (n, seen):
                raise RuntimeError(f"einsum(): subscript {c} has size {n} for operand {k} "
                                   f"which does not broadcast with previously seen size "
                                   f"{seen}")
            sizes[c] = n if seen is None or seen == 1 else seen
    expanded = []
    for sub, t in zip(inputs, tensors):  # size-1 dims broadcast against the others
        shape = tuple(sizes[c] for c in sub)
        expanded.append(t if shape == t.shape else t.expand(*shape))
    return EIN.Einsum.apply(*expanded, inputs=tuple(inputs), output=output)


def _parse_einsum(equation: str, tensors: list) -> tuple[list[str], str]:
    """Subscripts per operand and for the output, with ``...`` replaced by letters."""
    lhs, arrow, rhs = equation.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(tensors):
        which = "fewer" if len(tensors) < len(inputs) else "more"
        raise RuntimeError(f"einsum(): {which} operands were provided than specified in the "
                           f"equation: {len(inputs)} subscripts, {len(tensors)} operands")
    for part in inputs + ([rhs] if arrow else []):
        stripped = part.replace("...", "")
        if "." in stripped or builtins.any(not c.isalpha() or not c.isascii()
                                           for c in stripped):
            raise ValueError(f"einsum(): invalid subscript string {part!r} in {equation!r}: "
                             "expected letters a-z, A-Z and at most one '...' per operand")
        if part.count("...") > 1:
            raise ValueError(f"einsum(): more than one '...' in {part!r}")
    used = set(equation)
    spare = [c for c in EIN.LETTERS if c not in used]
    ellipsis_ndim = 0
    for k, (sub, t) in enumerate(zip(inputs, tensors)):
        letters = len(sub.replace("...", ""))
        if "..." not in sub and letters != t.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                               f"({letters}) does not match the number of dimensions "
                               f"({t.ndim}) for operand {k} and no ellipsis was given")
        if "..." in sub:
            if letters > t.ndim:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation "
                                   f"({letters}) is more than the number of dimensions "
                                   f"({t.ndim}) for operand {k}")
            ellipsis_ndim = builtins.max(ellipsis_ndim, t.ndim - letters)
    ell = "".join(spare[:ellipsis_ndim])
    expanded = []
    for sub, t in zip(inputs, tensors):
        own = t.ndim - len(sub.replace("...", ""))
        expanded.append(sub.replace("...", ell[ellipsis_ndim - own:] if own else ""))
    if arrow:
        output = rhs.replace("...", ell)
        all_letters = set("".join(expanded))
        for c in output:
            if output.count(c) > 1:
                raise RuntimeError(f"einsum(): output subscript {c} appears more than once "
                                   "in the output")
            if c not in all_letters:
                raise RuntimeError(f"einsum(): output subscript {c} does not appear in the "
                                   "equation for any input operand")
    else:
        joined = "".join(s.replace("...", "") for s in inputs)
        output = ell + "".join(builtins.sorted(c for c in set(joined) if joined.count(c) == 1))
    return expanded, output


# --- type names ---------------------------------------------------------------------------

_TYPE_NAMES = {
    dtypes.float32: "FloatTensor", dtypes.float64: "DoubleTensor",
    dtypes.float16: "HalfTensor", dtypes.int64: "LongTensor", dtypes.int32: "IntTensor",
    np.dtype(np.int16): "ShortTensor", np.dtype(np.int8): "CharTensor",
    np.dtype(np.uint8): "ByteTensor", dtypes.bool_: "BoolTensor",
}


def tensor_type_name(x: Tensor) -> str:
    """``'minigrad.FloatTensor'``, ``'minigrad.cuda.LongTensor'``, ... (PyTorch's
    ``x.type()`` names with ``minigrad`` for ``torch``)."""
    prefix = "minigrad.cuda." if x.device == "cuda" else "minigrad."
    return prefix + _TYPE_NAMES.get(x.dtype, f"{x.dtype}Tensor")


def parse_tensor_type(dtype, device: str) -> tuple:
    """``(dtype, device)`` for ``x.type(dtype)``: a dtype, or a type name such as
    ``'minigrad.LongTensor'`` / ``'torch.cuda.FloatTensor'`` (which also names the
    device)."""
    if not isinstance(dtype, str):
        return np.dtype(dtype), device
    name = dtype
    for prefix in ("minigrad.", "torch."):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    else:
        raise ValueError(f"invalid type: {dtype!r} (expected e.g. 'minigrad.FloatTensor')")
    if name.startswith("cuda."):
        name, device = name[len("cuda."):], "cuda"
    else:
        device = "cpu"
    by_name = {v: k for k, v in _TYPE_NAMES.items()}
    if name not in by_name:
        raise ValueError(f"invalid type: {dtype!r} (expected one of "
                         f"{', '.join(sorted(by_name))} after 'minigrad.')")
    return by_name[name], device
