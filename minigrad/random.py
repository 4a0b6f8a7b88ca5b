"""Random streams: one NumPy generator (and one CuPy generator on the GPU), reset by
``manual_seed`` so that parameter init, ``randn``/``rand`` and dropout repeat."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import backend

_numpy_rng = np.random.default_rng()
_cupy_rng = None
_seed: int | None = None


def manual_seed(seed: int) -> None:
    """Seed every minigrad random stream (CPU and GPU)."""
    global _numpy_rng, _cupy_rng, _seed
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")
    _seed = int(seed) % 2**64  # negative seeds work, as in PyTorch
    _numpy_rng = np.random.default_rng(_seed)
    _cupy_rng = None  # recreated from the seed on first GPU use


def generator(device: str = "cpu") -> np.random.Generator | Any:
    """The random generator for ``device`` (``numpy.random.Generator`` or CuPy's)."""
    global _cupy_rng
    if device == "cuda":
        if _cupy_rng is None:
            xp = backend.xp_for("cuda")
            _cupy_rng = xp.random.default_rng(_seed)
        return _cupy_rng
    return _numpy_rng
