"""``mg.cuda``: the GPU as PyTorch's ``torch.cuda`` presents it (CuPy underneath)."""

from __future__ import annotations

from . import backend
from . import random as _random


def is_available() -> bool:
    """True when CuPy imports and sees at least one GPU."""
    return backend.cuda_is_available()


def device_count() -> int:
    """The number of GPUs CuPy sees (0 without CuPy)."""
    if not is_available():
        return 0
    return int(backend.xp_for("cuda").cuda.runtime.getDeviceCount())


def current_device() -> int:
    """The index of the GPU in use."""
    if not is_available():
        raise RuntimeError("current_device: CUDA is not available")
    return int(backend.xp_for("cuda").cuda.Device().id)


def synchronize() -> None:
    """Wait for the GPU to finish its queued work (no-op without a GPU)."""
    if is_available():
        backend.xp_for("cuda").cuda.Device().synchronize()


def manual_seed(seed: int) -> None:
    """Seed the GPU random stream only (``mg.manual_seed`` seeds every stream).  Works
    without a GPU too, as PyTorch's (the seed is used once one is)."""
    _random.manual_seed_cuda(seed)


manual_seed_all = manual_seed  # one GPU per process
