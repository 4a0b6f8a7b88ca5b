"""Random streams: ``mg.Generator`` objects (each one a NumPy PCG64 stream) and the
``default_generator`` that ``mg.manual_seed`` resets, so that parameter init,
``randn``/``rand``/``randint``/``randperm``, dropout and the data loaders' shuffling
repeat.

    g = mg.Generator().manual_seed(42)      # a private stream, as torch.Generator
    mg.randperm(10, generator=g)            # reproducible, and leaves the default alone
    mg.manual_seed(0)                       # reseeds the default generator (and the GPU's)

On the GPU, sampling without a ``generator`` uses CuPy's generator, seeded from the
default generator's seed; with a ``generator`` the numbers are drawn by its NumPy
stream on the host and copied, so they are the same on every device.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from . import backend

if TYPE_CHECKING:
    from .tensor import Tensor

_DEFAULT_SEED = 67280421310721  # a fresh torch.Generator's seed, as in PyTorch
_SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch.manual_seed accepts
# get_state() layout: initial seed, PCG64 state and increment (16 bytes each),
# has_uint32 (1 byte), the buffered uint32 (4 bytes): little-endian unsigned.
_STATE_FIELDS = (("seed", 8), ("state", 16), ("inc", 16), ("has_uint32", 1), ("uinteger", 4))
_STATE_BYTES = sum(size for _, size in _STATE_FIELDS)


def _check_seed(seed: Any, where: str) -> int:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{where}: expected an int seed, got {type(seed).__name__}")
    seed = int(seed)
    if not _SEED_RANGE[0] <= seed <= _SEED_RANGE[1]:
        raise ValueError(f"{where}: seed {seed} is out of range: expected an int in "
                         f"[-2**63, 2**64 - 1]")
    return seed % 2**64  # negative seeds work, as in PyTorch


def _fresh_seed() -> int:
    """A non-deterministic 64-bit seed (from the OS's entropy)."""
    return int.from_bytes(os.urandom(8), "little")


class Generator:
    """A random number generator, as ``torch.Generator``: an independent stream that
    ``randn``/``rand``/``randint``/``randperm``, the samplers, ``random_split`` and
    ``DataLoader`` accept as ``generator=``.

    ``Generator(device='cpu')``; a new generator starts from PyTorch's default seed
    (67280421310721), so two fresh generators give the same numbers.
    """

    def __init__(self, device: str | None = "cpu") -> None:
        self._device = backend.normalize_device(device)
        self._seed = _DEFAULT_SEED
        self._rng = np.random.Generator(np.random.PCG64(self._seed))

    @property
    def device(self) -> str:
        """``'cpu'`` or ``'cuda'``: where tensors sampled with this generator live."""
        return self._device

    def manual_seed(self, seed: int) -> Generator:
        """Restart the stream from ``seed`` (an int in [-2**63, 2**64)); returns ``self``."""
        self._seed = _check_seed(seed, "manual_seed")
        self._rng = np.random.Generator(np.random.PCG64(self._seed))
        return self

    def seed(self) -> int:
        """Restart from a non-deterministic seed (from the OS) and return it."""
        self.manual_seed(_fresh_seed())
        return self._seed

    def initial_seed(self) -> int:
        """The seed the stream last started from."""
        return self._seed

    def get_state(self) -> Tensor:
        """The full state as a uint8 ``Tensor`` of 45 bytes, for ``set_state``."""
        from .tensor import Tensor  # here: the ops that tensor.py imports import this module

        pcg = self._rng.bit_generator.state
        values = {"seed": self._seed, "state": pcg["state"]["state"],
                  "inc": pcg["state"]["inc"], "has_uint32": pcg["has_uint32"],
                  "uinteger": pcg["uinteger"]}
        raw = b"".join(values[name].to_bytes(size, "little") for name, size in _STATE_FIELDS)
        return Tensor._make(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor | np.ndarray | bytes) -> Generator:
        """Restore a state from ``get_state`` (a uint8 Tensor, NumPy array or bytes);
        returns ``self``."""
        from .tensor import Tensor

        if isinstance(new_state, (bytes, bytearray)):
            raw = bytes(new_state)
        else:
            array = new_state.numpy() if isinstance(new_state, Tensor) else new_state
            if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
                got = getattr(array, "dtype", type(new_state).__name__)
                raise TypeError(f"set_state: the RNG state must be a uint8 tensor (from "
                                f"get_state()), got {got}")
            raw = array.tobytes()
        if len(raw) != _STATE_BYTES:
            raise RuntimeError(f"set_state: expected an RNG state of {_STATE_BYTES} bytes "
                               f"(from get_state()), got {len(raw)}")
        values, offset = {}, 0
        for name, size in _STATE_FIELDS:
            values[name] = int.from_bytes(raw[offset:offset + size], "little")
            offset += size
        bit_generator = np.random.PCG64()
        bit_generator.state = {"bit_generator": "PCG64",
                               "state": {"state": values["state"], "inc": values["inc"]},
                               "has_uint32": values["has_uint32"],
                               "uinteger": values["uinteger"]}
        self._seed, self._rng = values["seed"], np.random.Generator(bit_generator)
        return self

    def __repr__(self) -> str:
        return f"Generator(device='{self._device}', initial_seed={self._seed})"


default_generator = Generator()
default_generator.seed()  # unseeded runs differ, until mg.manual_seed
_cupy_rng = None  # the GPU stream of the default generator, made on first use
_cuda_seed: int | None = None  # set by mg.cuda.manual_seed (None: the default's seed)


def numpy_rng(generator: Generator | None = None) -> np.random.Generator:
    """The ``numpy.random.Generator`` that samples for ``generator`` (the default
    generator when None)."""
    if generator is None:
        return default_generator._rng
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be a minigrad.Generator, got "
                        f"{type(generator).__name__}")
    return generator._rng


def check_generator(generator: Generator | None, device: str) -> None:
    """Reject a generator made for another device, as PyTorch does."""
    numpy_rng(generator)  # type check
    if generator is not None and generator.device != device:
        raise RuntimeError(f"Expected a '{device}' device type for generator but found "
                           f"'{generator.device}'")


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (CPU and GPU streams); returns it."""
    global _cupy_rng, _cuda_seed
    default_generator.manual_seed(seed)
    _cupy_rng, _cuda_seed = None, None  # recreated from the seed on first GPU use
    return default_generator


def manual_seed_cuda(seed: int) -> None:
    """Seed only the GPU stream (``mg.cuda.manual_seed``)."""
    global _cupy_rng, _cuda_seed
    _cuda_seed = _check_seed(seed, "cuda.manual_seed") % 2**64
    _cupy_rng = None


def seed() -> int:
    """Seed the default generator non-deterministically; returns the seed."""
    return manual_seed(_fresh_seed()).initial_seed()


def initial_seed() -> int:
    """The seed the default generator last started from."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state (a uint8 Tensor), for ``set_rng_state``."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor | np.ndarray | bytes) -> None:
    """Restore the default generator's state from ``get_rng_state``."""
    default_generator.set_state(new_state)


def generator(device: str = "cpu") -> np.random.Generator | Any:
    """The default generator's stream for ``device`` (``numpy.random.Generator`` or
    CuPy's)."""
    global _cupy_rng
    if device == "cuda":
        if _cupy_rng is None:
            xp = backend.xp_for("cuda")
            seed = default_generator.initial_seed() if _cuda_seed is None else _cuda_seed
            _cupy_rng = xp.random.default_rng(seed)
        return _cupy_rng
    return default_generator._rng
