"""Version counting for in-place writes, kept per storage (the array that owns the
memory), so that views share their base's count with no bookkeeping on every op.

A write (``inplace.bump``) ticks a global clock and appends the tick to its storage's
list.  A node that saves values stamps itself with the clock when it is recorded; at
backward, if the clock has not moved since (the usual case: no in-place op at all), the
check is one comparison.  Otherwise each saved array's storage is looked up: a write
later than the stamp means the value backward needs was overwritten, PyTorch's error.
"""

from __future__ import annotations

import weakref
from collections import deque

clock = [0]  # in-place writes so far (a list: read by the engine without a lookup chain)
# id(storage) -> [weak reference to it, writes so far, the clock ticks of the last writes]
_writes: dict = {}
_prune_at = 1024
_RECENT = 64  # ticks kept per storage: enough to name the expected version exactly


def _owner(array):
    """The array that owns ``array``'s memory (NumPy keeps views' ``base`` collapsed)."""
    base = getattr(array, "base", None)
    return array if base is None or not hasattr(base, "shape") else base


def _entry(array):
    owner = _owner(array)
    entry = _writes.get(id(owner))
    if entry is not None and entry[0] is not None and entry[0]() is not owner:
        return owner, None  # a dead array's id, reused
    return owner, entry


def record_write(array) -> None:
    """Count one in-place write into ``array``'s storage."""
    global _prune_at
    clock[0] += 1
    owner, entry = _entry(array)
    if entry is None:
        try:
            ref = weakref.ref(owner)
        except TypeError:  # an array type without weak references: ids of live saved
            ref = None     # arrays are unique while the node holds them, which suffices
        entry = _writes[id(owner)] = [ref, 0, deque(maxlen=_RECENT)]
        if len(_writes) > _prune_at:
            for key in [k for k, e in _writes.items() if e[0] is not None and e[0]() is None]:
                del _writes[key]
            _prune_at = max(1024, 2 * len(_writes))
    entry[1] += 1
    entry[2].append(clock[0])


def version(array) -> int:
    """How many in-place writes ``array``'s storage has had."""
    entry = _entry(array)[1]
    return 0 if entry is None else entry[1]


def overwritten(array, stamp: int) -> tuple[int, int] | None:
    """``(version now, version at stamp)`` if ``array``'s storage was written after
    ``stamp``, else None."""
    entry = _entry(array)[1]
    if entry is None or entry[2][-1] <= stamp:
        return None
    count, ticks = entry[1], entry[2]
    return count, max(0, count - sum(1 for t in ticks if t > stamp))
