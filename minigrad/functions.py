"""Module-level functions (``mg.cat``, ``mg.stack``, ``mg.where``, ``mg.addmm``, and
the math methods as functions: ``mg.tanh(x)`` is ``x.tanh()``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import dtypes
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S
from .tensor import MaxResult, Tensor, _as_tensor, _check_devices, _promote, matmul


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


def max(x: Tensor, dim: int | None = None,  # noqa: A001
        keepdim: bool = False) -> Tensor | MaxResult:
    """Largest value (0-d); with ``dim``, a ``(values, indices)`` pair reduced over it."""
    return x.max(dim, keepdim)


def min(x: Tensor, dim: int | None = None,  # noqa: A001
        keepdim: bool = False) -> Tensor | MaxResult:
    """Smallest value (0-d); with ``dim``, a ``(values, indices)`` pair reduced over it."""
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
