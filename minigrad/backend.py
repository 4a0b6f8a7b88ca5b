"""The one place that decides between NumPy (CPU) and CuPy (GPU).

Every array operation in minigrad asks this module for its array module
(``xp``) instead of importing NumPy directly, so the same op code runs on both
devices.  A device is named by a string: ``'cpu'`` or ``'cuda'`` (``'cuda:0'``
is accepted and means the same).
"""

from __future__ import annotations

import mmap
import weakref
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


# --- host array pool --------------------------------------------------------------------
#
# A training step allocates the same large temporaries every time (projections, stacked
# outputs, logits, gradient sums).  NumPy gets them from malloc, and glibc hands big
# blocks back to the OS when they are freed, so every step faults the same pages in
# again (on a VM, microseconds per 4 KiB page).  The pool keeps such buffers instead,
# as CuPy's memory pool and PyTorch's caching allocator do: ``empty`` serves an array
# from a free buffer of its size class, and the buffer comes back to the pool when
# that array and every view of it are gone.  Arrays below ``min_bytes`` (8 KiB) still
# come from NumPy directly: for them the pool's own cost (about 0.8 us to serve and
# take back an array, against 0.16 us for malloc) would be more than it saves.  From
# 8 KiB up the pool pays: glibc keeps the states of a sequence in its heap, but when a
# backward frees thousands of them at once it trims the heap, and the next step faults
# those pages in again (LSTM hidden states of 32 x 128 floats: 300 faults per step).


POOL_MIN_BYTES = 1 << 13  # arrays from this size on come from the pool (ArrayPool's default)
_HUGE_PAGE_BYTES = 1 << 22


def _map(size: int):
    """An anonymous mapping of ``size`` bytes; from 4 MiB up it asks for transparent huge
    pages, as NumPy does for its own large arrays (fewer TLB misses when streaming)."""
    buffer = mmap.mmap(-1, size)
    if size >= _HUGE_PAGE_BYTES and hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            buffer.madvise(mmap.MADV_HUGEPAGE)
        except OSError:  # a kernel without transparent huge pages
            pass
    return buffer


class _Served(weakref.ref):
    """The pool's weak reference to an array it served, with that array's buffer."""

    __slots__ = ("size", "buffer")


class ArrayPool:
    """Size-bucketed pool of host buffers behind :func:`empty` (see the notes above).

    A buffer is an anonymous ``mmap``; the array served from it is an ``np.ndarray`` over
    it, so NumPy makes that array the base of all its views, and a weak reference to it
    tells the pool when the last view has died.  At most ``limit_bytes`` of free
    buffers are kept; beyond that, a returning buffer is released to the OS.

    No lock (it was half of the pool's cost): the free lists change only by
    ``list.pop`` / ``list.append``, which are atomic, so a buffer is never handed out
    twice; the counters change by ``+=`` on ints, during which neither CPython's GIL
    switches threads nor the garbage collector (whose weak-reference callbacks return
    buffers) can run.  (On a free-threaded build the counters, and with them the
    limit, could drift a little; the buffers still could not be shared.)
    """

    def __init__(self, min_bytes: int = POOL_MIN_BYTES, limit_bytes: int = 1 << 30):
        self.min_bytes = min_bytes
        self.limit_bytes = limit_bytes
        self.enabled = True
        self._free: dict[int, list] = {}   # size class -> free buffers (memoryviews)
        self._live: dict[int, _Served] = {}  # id(ref) -> ref, for each array served
        self._plans: dict[tuple, tuple | bool] = {}  # (shape, dtype) -> see _plan
        self.free_bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def in_use_bytes(self) -> int:
        """Bytes of the buffers behind arrays (and views) still alive."""
        return sum(ref.size for ref in list(self._live.values()))

    @staticmethod
    def size_class(nbytes: int) -> int:
        """``nbytes`` rounded up to its size class: a multiple of the page size and of
        1/8 of the next power of two (so at most 25% is wasted)."""
        step = 1 << max(12, nbytes.bit_length() - 3)
        return -(-nbytes // step) * step

    def empty(self, shape: tuple, dtype) -> np.ndarray:
        """An uninitialized C-contiguous array, from a free buffer when there is one."""
        plan = self._plans.get((shape, dtype))
        if plan is None:
            if len(self._plans) > 4096:  # many shapes (variable lengths): start afresh
                self._plans.clear()
            plan = self._plans[(shape, dtype)] = self._plan(shape, dtype)
        if plan is False or not self.enabled:
            return np.empty(shape, dtype)
        size, free, dtype = plan
        try:
            buffer = free.pop()
            self.free_bytes -= size
            self.hits += 1
        except IndexError:
            buffer = memoryview(_map(size))
            self.misses += 1
        array = np.ndarray(shape, dtype, buffer)
        ref = _Served(array, self._recycle)
        ref.size, ref.buffer = size, buffer
        self._live[id(ref)] = ref
        return array

    def _plan(self, shape: tuple, dtype):
        """``(size class, its free list, dtype)`` for arrays of ``shape``/``dtype``, or
        False for those below ``min_bytes`` (cached per shape and dtype)."""
        dtype = np.dtype(dtype)
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if nbytes < self.min_bytes:
            return False
        size = self.size_class(nbytes)
        return size, self._free.setdefault(size, []), dtype

    def _recycle(self, ref: _Served) -> None:
        """The last view of a served array died: keep its buffer (or release it)."""
        if self._live.pop(id(ref), None) is None:
            return
        size = ref.size
        if self.enabled and self.free_bytes + size <= self.limit_bytes:
            free = self._free.get(size)
            if free is None:
                free = self._free.setdefault(size, [])
            free.append(ref.buffer)
            self.free_bytes += size
        # else: dropping the last reference unmaps it

    def empty_cache(self) -> None:
        """Release every free buffer to the OS (buffers in use are not affected)."""
        for free in list(self._free.values()):  # (the plans hold these same lists)
            while free:
                free.pop()
        self.free_bytes = 0

    def set_limit(self, limit_bytes: int) -> None:
        """Keep at most ``limit_bytes`` of free buffers, releasing any excess now."""
        self.limit_bytes = limit_bytes
        for size, free in list(self._free.items()):
            while self.free_bytes > limit_bytes and free:
                free.pop()
                self.free_bytes -= size

    def stats(self) -> dict:
        """``in_use_bytes``, ``free_bytes`` (kept for reuse), ``free_buffers``,
        ``hits`` / ``misses`` (served from a free buffer / newly mapped) so far."""
        return {"in_use_bytes": self.in_use_bytes, "free_bytes": self.free_bytes,
                "free_buffers": sum(len(v) for v in list(self._free.values())),
                "hits": self.hits, "misses": self.misses}


_pool = ArrayPool()


def empty(shape: tuple, dtype, xp=np):
    """An uninitialized array of ``shape``/``dtype`` for the array module ``xp``: from
    the host pool for NumPy (large arrays), from CuPy's own memory pool for CuPy."""
    if xp is np:
        return _pool.empty(shape, dtype)
    return xp.empty(shape, dtype)


def empty_like(array):
    """:func:`empty` with the shape and dtype (C order) and array module of ``array``."""
    if type(array) is np.ndarray:
        if array.nbytes < _pool.min_bytes:  # the common small case, without the pool
            return np.empty(array.shape, array.dtype)
        return _pool.empty(array.shape, array.dtype)
    return empty(array.shape, array.dtype, get_array_module(array))


def pool_stats() -> dict:
    """The host pool's figures (see ``ArrayPool.stats``), and CuPy's pool's
    ``cuda_used_bytes`` / ``cuda_total_bytes`` when CuPy is installed."""
    stats = _pool.stats()
    if _cupy is not None:
        pool = _cupy.get_default_memory_pool()
        stats["cuda_used_bytes"] = pool.used_bytes()
        stats["cuda_total_bytes"] = pool.total_bytes()
    return stats


def empty_cache() -> None:
    """Release all free pooled memory: the host pool's free buffers and, with CuPy,
    the free blocks of CuPy's memory pool (as ``torch.cuda.empty_cache``)."""
    _pool.empty_cache()
    if _cupy is not None:
        _cupy.get_default_memory_pool().free_all_blocks()


def set_pool_enabled(enabled: bool) -> None:
    """Turn the host pool on or off (off: ``empty`` is ``np.empty``; free buffers are
    released)."""
    _pool.enabled = bool(enabled)
    if not enabled:
        _pool.empty_cache()


def set_pool_limit(limit_bytes: int) -> None:
    """Keep at most ``limit_bytes`` of free host buffers (default 1 GiB)."""
    if limit_bytes < 0:
        raise ValueError(f"set_pool_limit: expected limit_bytes >= 0, got {limit_bytes}")
    _pool.set_limit(int(limit_bytes))


def _result_dtype(arrays):
    dtype = arrays[0].dtype
    for a in arrays:
        if a.dtype != dtype:
            return np.result_type(*arrays)
    return dtype


def concatenate(arrays, axis: int = 0):
    """``xp.concatenate(arrays, axis)`` into a pooled result."""
    first = arrays[0]
    if type(first) is not np.ndarray:
        return get_array_module(first).concatenate(arrays, axis=axis)
    axis %= first.ndim
    shape = list(first.shape)
    shape[axis] = sum(a.shape[axis] for a in arrays)
    out = _pool.empty(tuple(shape), _result_dtype(arrays))
    return np.concatenate(arrays, axis=axis, out=out)


def stack(arrays, axis: int = 0):
    """``xp.stack(arrays, axis)`` into a pooled result."""
    first = arrays[0]
    if type(first) is not np.ndarray:
        return get_array_module(first).stack(arrays, axis=axis)
    axis %= first.ndim + 1
    shape = first.shape[:axis] + (len(arrays),) + first.shape[axis:]
    return np.stack(arrays, axis=axis, out=_pool.empty(shape, _result_dtype(arrays)))


def as_rows(x):
    """``x`` ``(*, n)`` as a C-contiguous 2-D ``(rows, n)`` array: a view when ``x`` is
    C-contiguous, else one copy into a pooled buffer (``reshape`` would copy into a
    fresh one)."""
    if x.flags.c_contiguous or type(x) is not np.ndarray:
        return x.reshape((-1, x.shape[-1]))
    out = _pool.empty((x.size // x.shape[-1], x.shape[-1]), x.dtype)
    np.copyto(out.reshape(x.shape), x)
    return out


def matmul(a, b):
    """``a @ b`` of 2-D arrays into a pooled result."""
    if (type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2
            or a.shape[0] * b.shape[1] * a.itemsize < _pool.min_bytes):
        return a @ b
    out = _pool.empty((a.shape[0], b.shape[1]), _result_dtype((a, b)))
    return np.matmul(a, b, out=out)


def tune_malloc(trim_threshold: int = 1 << 30, mmap_threshold: int = 1 << 25) -> bool:
    """Opt in to glibc keeping freed memory in the process (``mallopt``), for the arrays
    below the pool's ``min_bytes``: with many such arrays live in a step (long
    sequences of small states), glibc otherwise trims its heap when they are freed and
    the next step faults the pages in again.  This changes malloc for the whole process
    (every library in it), which is why minigrad never does it by itself.

    ``trim_threshold``: free bytes at the top of the heap before glibc returns them;
    ``mmap_threshold``: allocations from this size on get their own mapping.  Returns
    False (and changes nothing) where the C library has no ``mallopt`` (not glibc).
    """
    import ctypes
    import ctypes.util

    for value, name in ((trim_threshold, "trim_threshold"), (mmap_threshold, "mmap_threshold")):
        if not 0 <= value < 1 << 31:
            raise ValueError(f"tune_malloc: {name} must be in [0, 2**31), got {value}")
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from glibc's <malloc.h>
    return bool(mallopt(M_TRIM_THRESHOLD, int(trim_threshold))
                and mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)))
