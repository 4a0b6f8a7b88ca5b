"""PyTorch's legacy typed constructors: ``mg.LongTensor([1, 2])``, ``mg.FloatTensor(2, 3)``,
and ``isinstance(t, mg.LongTensor)`` (true for an int64 tensor)."""

from __future__ import annotations

import numpy as np

from . import dtypes
from .tensor import Tensor, tensor


class _TypedTensorMeta(type):
    def __instancecheck__(cls, obj) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


class _TypedTensor(metaclass=_TypedTensorMeta):
    dtype = None

    def __new__(cls, *args, device=None):
        """``(sizes...)``: a zero-filled tensor of that shape; ``(data)``: a copy of the
        data (lists, arrays, Tensors) in this type's dtype."""
        if not args:
            return tensor(np.zeros((0,), cls.dtype), device=device)
        if all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            return tensor(np.zeros(tuple(int(a) for a in args), cls.dtype), device=device)
        if len(args) != 1:
            raise TypeError(f"{cls.__name__}: expected sizes (ints) or one sequence of data, "
                            f"got {len(args)} arguments")
        data = args[0]
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data) if not hasattr(data, "__cuda_array_interface__") else data
        return tensor(array.astype(cls.dtype), device=device)


class FloatTensor(_TypedTensor):
    """float32 tensors."""

    dtype = dtypes.float32


class DoubleTensor(_TypedTensor):
    """float64 tensors."""

    dtype = dtypes.float64


class HalfTensor(_TypedTensor):
    """float16 tensors."""

    dtype = dtypes.float16


class LongTensor(_TypedTensor):
    """int64 tensors (float data is truncated toward zero, as PyTorch)."""

    dtype = dtypes.int64


class IntTensor(_TypedTensor):
    """int32 tensors."""

    dtype = dtypes.int32


class BoolTensor(_TypedTensor):
    """bool tensors."""

    dtype = dtypes.bool_
