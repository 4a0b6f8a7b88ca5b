"""The one place that decides between NumPy (CPU) and CuPy (GPU).

Every array operation in minigrad asks this module for its array module
(``xp``) instead of importing NumPy directly, so the same op code runs on both
devices.  A device is named by a string: ``'cpu'`` or ``'cuda'`` (``'cuda:0'``
is accepted and means the same).
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:  # CuPy is an optional extra: `pip install -e '.[cuda]'` in the repository.
    import cupy as _cupy
except Exception:  # ImportError, or a CuPy build that fails to load its CUDA libs
    _cupy = None

DEVICES = ("cpu", "cuda")
_cuda_ok: bool | None = None


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    global _cuda_ok
    if _cuda_ok is None:
        try:
            _cuda_ok = _cupy is not None and _cupy.cuda.runtime.getDeviceCount() > 0
        except Exception:
            _cuda_ok = False
    return _cuda_ok


def normalize_device(device: Any) -> str:
    """Turn ``None``/``'cpu'``/``'cuda'``/``'cuda:0'`` into ``'cpu'`` or ``'cuda'``.

    Raises ValueError for unknown names and RuntimeError for ``'cuda'`` without a GPU.
    """
    if device is None:
        return "cpu"
    name = str(getattr(device, "type", device)).lower()
    if name.startswith("cuda:") and name[5:].isdigit():
        name = "cuda"
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")
    if name == "cuda" and not cuda_is_available():
        why = "CuPy is not installed" if _cupy is None else "CuPy found no GPU"
        raise RuntimeError(
            f"device 'cuda' is not available: {why} "
            "(install CuPy: pip install -e '.[cuda]' in the minigrad repository, "
            "or the cupy-cudaXXx wheel that matches your CUDA)"
        )
    return name


def xp_for(device: str):
    """The array module (numpy or cupy) for a normalized device name."""
    return _cupy if device == "cuda" else np


def get_array_module(array: Any):
    """The array module (numpy or cupy) that owns ``array``."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return np


def device_of(array: Any) -> str:
    """``'cuda'`` for a CuPy array, ``'cpu'`` for anything else."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return "cuda"
    return "cpu"


def to_device(array: Any, device: str):
    """Move (copy) an array to ``device``; returns it unchanged if already there."""
    if device_of(array) == device:
        return array
    if device == "cuda":
        return _cupy.asarray(array)
    return _cupy.asnumpy(array)


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy view/copy of any backend array."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


def scatter_add(target, index, values) -> None:
    """``target[index] += values`` where repeated indices accumulate (in place).

    ``xp.add.at`` does exactly this on NumPy, and on CuPy >= 13 (where ufuncs have
    ``.at``); older CuPy has only ``cupyx.scatter_add``.
    """
    xp = get_array_module(target)
    add_at = getattr(xp.add, "at", None)
    if add_at is not None:
        add_at(target, index, values)
    else:
        import cupyx

        cupyx.scatter_add(target, index, values)
