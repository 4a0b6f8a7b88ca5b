"""Factories: new leaf tensors (``zeros``, ``randn``, ``arange``, ...)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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


def zeros(*size: int | Sequence[int], dtype: np.dtype | type | str | None = None,
          device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of shape ``size`` (varargs or one tuple)."""
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.zeros(_shape_args(size), dtype=dtype), requires_grad)


def ones(*size: int | Sequence[int], dtype: np.dtype | type | str | None = None,
         device: str | None = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of shape ``size`` (varargs or one tuple)."""
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.ones(_shape_args(size), dtype=dtype), requires_grad)


def empty(*size: int | Sequence[int], dtype: np.dtype | type | str | None = None,
          device: str | None = None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor (arbitrary values) of shape ``size`` (varargs or one
    tuple)."""
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.empty(_shape_args(size), dtype=dtype), requires_grad)


def full(size: int | Sequence[int], fill_value: bool | int | float,
         dtype: np.dtype | type | str | None = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value``; by default bool, int64 or
    the default float dtype, after the value's type."""
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, int) else None)
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.full(_shape_args((size,)), fill_value, dtype=dtype), requires_grad)


def zeros_like(t: Tensor, dtype: np.dtype | type | str | None = None,
               device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``t``'s shape (and its dtype and device unless given)."""
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: np.dtype | type | str | None = None,
              device: str | None = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``t``'s shape (and its dtype and device unless given)."""
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: bool | int | float,
              dtype: np.dtype | type | str | None = None, device: str | None = None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` in ``t``'s shape (and its dtype and device unless given)."""
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def _stream(generator: _random.Generator | None, device: str):
    """What samples for ``device``: the default generator's stream for the device, or
    ``generator``'s NumPy stream (its draws are then copied to the device)."""
    _random.check_generator(generator, device)
    return _random.generator(device) if generator is None else _random.numpy_rng(generator)


def randn(*size: int | Sequence[int], generator: _random.Generator | None = None,
          dtype: np.dtype | type | str | None = None, device: str | None = None,
          requires_grad: bool = False) -> Tensor:
    """Standard normal samples of shape ``size``, from ``generator`` (default: the
    default generator, see ``manual_seed``)."""
    xp, dtype, device = _setup(dtype, device)
    array = _stream(generator, device).standard_normal(_shape_args(size)).astype(dtype)
    return _new(backend.to_device(array, device), requires_grad)


def rand(*size: int | Sequence[int], generator: _random.Generator | None = None,
         dtype: np.dtype | type | str | None = None, device: str | None = None,
         requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) of shape ``size``, from ``generator`` (default: the
    default generator)."""
    xp, dtype, device = _setup(dtype, device)
    array = _stream(generator, device).random(_shape_args(size)).astype(dtype)
    return _new(backend.to_device(array, device), requires_grad)


def randint(low: int, high: int, size: int | Sequence[int],
            dtype: np.dtype | type | str | None = None, device: str | None = None, *,
            generator: _random.Generator | None = None) -> Tensor:
    """Uniform integers in [low, high) of shape ``size`` (int64 by default), from
    ``generator`` (default: the default generator)."""
    device = backend.normalize_device(device)
    array = _stream(generator, device).integers(low, high, size=_shape_args((size,)))
    return _new(backend.to_device(array.astype(dtype or dtypes.int64), device), False)


def randperm(n: int, *, generator: _random.Generator | None = None,
             dtype: np.dtype | type | str | None = dtypes.int64, device: str | None = None,
             requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1``, shape ``(n,)`` (int64 by default), from
    ``generator`` (default: the default generator). Drawn on the host on every device."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"randperm: n must be an int, got {type(n).__name__}")
    if n < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    xp, dtype, device = _setup(dtype, device)
    _random.check_generator(generator, device)
    array = _random.numpy_rng(generator).permutation(int(n)).astype(dtype)
    return _new(backend.to_device(array, device), requires_grad)


def arange(start: int | float, end: int | float | None = None, step: int | float = 1,
           dtype: np.dtype | type | str | None = None, device: str | None = None,
           requires_grad: bool = False) -> Tensor:
    """``arange(end)`` or ``arange(start, end, step)``: 1-D ``(ceil((end - start) /
    step),)``; int64 unless a float is given."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        floats = any(isinstance(v, float) for v in (start, end, step))
        dtype = dtypes.get_default_dtype() if floats else dtypes.int64
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.arange(start, end, step).astype(dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype: np.dtype | type | str | None = None,
        device: str | None = None, requires_grad: bool = False) -> Tensor:
    """``(n, m)`` (``m`` defaults to ``n``) with ones on the main diagonal, zeros
    elsewhere."""
    xp, dtype, _ = _setup(dtype, device)
    return _new(xp.eye(n, m, dtype=dtype), requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (same shape and dtype)."""
    return Tensor._make(array)
