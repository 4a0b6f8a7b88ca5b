"""Factories: new leaf tensors (``zeros``, ``randn``, ``arange``, ...)."""

from __future__ import annotations

from . import backend, dtypes
from . import random as _random
from .tensor import Tensor, _shape_args


def _new(array, requires_grad: bool) -> Tensor:
    t = Tensor._make(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _setup(dtype, device):
    device = backend.normalize_device(device)
    dtype = dtypes.get_default_dtype() if dtype is None else dtypes.np.dtype(dtype)
    return backend.xp_for(device), dtype, device


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros; ``size`` as varargs or a tuple."""
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.zeros(_shape_args(size), dtype=dtype), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.ones(_shape_args(size), dtype=dtype), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.empty(_shape_args(size), dtype=dtype), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, int) else None)
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.full(_shape_args((size,)), fill_value, dtype=dtype), requires_grad)


def zeros_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from minigrad's seeded stream (see ``manual_seed``)."""
    xp, dtype, device = _setup(dtype, device)
    array = _random.generator(device).standard_normal(_shape_args(size)).astype(dtype)
    return _new(array, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    xp, dtype, device = _setup(dtype, device)
    array = _random.generator(device).random(_shape_args(size)).astype(dtype)
    return _new(array, requires_grad)


def randint(low: int, high: int, size, dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (int64 by default)."""
    device = backend.normalize_device(device)
    array = _random.generator(device).integers(low, high, size=_shape_args((size,)))
    return _new(array.astype(dtype or dtypes.int64), False)


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """``arange(end)`` or ``arange(start, end, step)``; int64 unless a float is given."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        floats = any(isinstance(v, float) for v in (start, end, step))
        dtype = dtypes.get_default_dtype() if floats else dtypes.int64
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.arange(start, end, step).astype(dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.eye(n, m, dtype=dtype), requires_grad)


def from_numpy(array) -> Tensor:
    """A tensor sharing memory with a NumPy array."""
    return Tensor._make(array)
