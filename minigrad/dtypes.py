"""dtypes: minigrad uses NumPy's dtype objects (``mg.float32 is numpy.float32``'s dtype),
with PyTorch's defaults and promotion rules on top."""

from __future__ import annotations

import numpy as np

float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
float16 = np.dtype(np.float16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
long = int64
double = float64
half = float16

_default_dtype = float32


def set_default_dtype(dtype) -> None:
    """Set the dtype of Python floats and of float factories (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dtype}")
    _default_dtype = dtype


def get_default_dtype() -> np.dtype:
    """The dtype Python floats become (float32 unless changed)."""
    return _default_dtype


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def _category(dtype: np.dtype) -> int:
    """PyTorch's dtype categories: bool 0 < integer 1 < floating 2."""
    return 2 if dtype.kind == "f" else (0 if dtype.kind == "b" else 1)


def result_type(d1: np.dtype, d2: np.dtype, zero_dim1: bool = False,
                zero_dim2: bool = False) -> np.dtype:
    """PyTorch's promotion for two tensors (``torch.result_type``).

    A higher category wins outright (int64 + float32 is float32, not NumPy's float64);
    within one category the wider type wins -- except that a 0-d tensor
    (``zero_dim``) never widens a dimensioned one: float32 ``(2,)`` + float64 ``()`` is
    float32, and int32 ``(2,)`` + int64 ``()`` is int32.  A 0-d tensor of a higher
    category still decides: int32 ``(2,)`` + float64 ``()`` is float64.
    """
    if d1 == d2:
        return d1
    c1, c2 = _category(d1), _category(d2)
    if zero_dim1 != zero_dim2 and c1 == c2:
        return d2 if zero_dim1 else d1  # the dimensioned operand's dtype
    if c1 != c2:
        return d1 if c1 > c2 else d2
    return np.promote_types(d1, d2)


def scalar_result_type(tensor_dtype: np.dtype, value) -> np.dtype:
    """dtype of ``tensor <op> python_scalar``: the scalar never widens a tensor of
    its own kind (float32 * 2.5 is float32); a float scalar makes an int or bool
    tensor the default float dtype; an int scalar makes a bool tensor int64."""
    if isinstance(value, bool):
        return tensor_dtype
    if isinstance(value, int):
        return int64 if tensor_dtype.kind == "b" else tensor_dtype
    if isinstance(value, float):
        return tensor_dtype if tensor_dtype.kind == "f" else _default_dtype
    raise TypeError(f"unsupported scalar type {type(value).__name__}")
