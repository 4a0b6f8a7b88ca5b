"""Module-level functions (``mg.cat``, ``mg.stack``, ``mg.where``, ``mg.addmm``, and
the math methods as functions: ``mg.tanh(x)`` is ``x.tanh()``)."""

from __future__ import annotations

from collections.abc import Sequence

from . import dtypes
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S
from .tensor import Tensor, _as_tensor, _promote, matmul


def _same_kind(tensors: Sequence[Tensor], name: str) -> list[Tensor]:
    """Check a list of tensors for one device; promote to one dtype."""
    if len(tensors) == 0:
        raise ValueError(f"{name}: expected a non-empty sequence of tensors")
    tensors = list(tensors)
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(t).__name__}")
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        raise RuntimeError(
            f"{name}: expected all tensors on the same device, got {sorted(devices)}")
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = dtypes.result_type(dtype, t.dtype)
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim."""
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
    """Join same-shape tensors along a new dim."""
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


def where(condition, input, other) -> Tensor:  # noqa: A002 (PyTorch's names)
    """``input`` where ``condition`` is true, else ``other`` (both may be scalars)."""
    like = input if isinstance(input, Tensor) else other
    if not isinstance(like, Tensor):
        raise TypeError("where: at least one of input and other must be a Tensor")
    cond = condition.data if isinstance(condition, Tensor) else condition
    if getattr(cond, "dtype", None) is None or cond.dtype.kind != "b":
        raise TypeError(f"where: condition must be a bool tensor, got "
                        f"{getattr(cond, 'dtype', type(cond).__name__)}")
    a, b = _as_tensor(input, like), _as_tensor(other, like)
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
    return x.exp()


def log(x: Tensor) -> Tensor:
    return x.log()


def sqrt(x: Tensor) -> Tensor:
    return x.sqrt()


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return x.abs()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def relu(x: Tensor) -> Tensor:
    return x.relu()


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002
    return x.clamp(min, max)


def sum(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return x.sum(dim, keepdim)


def mean(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return x.mean(dim, keepdim)


def max(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    return x.max(dim, keepdim)


def min(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    return x.min(dim, keepdim)


def var(x: Tensor, dim=None, unbiased: bool = True, keepdim: bool = False) -> Tensor:
    return x.var(dim, unbiased, keepdim)


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return x.argmax(dim, keepdim)


def pow(x: Tensor, exponent) -> Tensor:  # noqa: A001
    return x ** exponent


def reshape(x: Tensor, *shape) -> Tensor:
    return x.reshape(*shape)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    return x.transpose(dim0, dim1)


def permute(x: Tensor, *dims) -> Tensor:
    return x.permute(*dims)


def squeeze(x: Tensor, dim=None) -> Tensor:
    return x.squeeze(dim)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    return x.unsqueeze(dim)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return x.flatten(start_dim, end_dim)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    return x.unbind(dim)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    return x.split(split_size_or_sections, dim)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    return x.chunk(chunks, dim)


def softmax(x: Tensor, dim: int) -> Tensor:
    return x.softmax(dim)


def log_softmax(x: Tensor, dim: int) -> Tensor:
    return x.log_softmax(dim)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


__all__ = ["addmm", "cat", "matmul", "stack", "where"]
