"""Gradient hooks: what ``Tensor.register_hook`` and friends store, and their handles."""

from __future__ import annotations

import itertools
from typing import Any

_next_id = itertools.count()


class RemovableHandle:
    """Returned by every ``register_*hook``; ``remove()`` unregisters the hook (also as a
    context manager: the hook is removed on exit)."""

    __slots__ = ("_hooks", "id")

    def __init__(self, hooks: dict) -> None:
        self._hooks = hooks
        self.id = next(_next_id)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


def add_hook(hooks: dict, hook) -> RemovableHandle:
    """Insert ``hook`` into ``hooks`` (ordered: hooks run in registration order)."""
    if not callable(hook):
        raise TypeError(f"a hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


class LeafHooks:
    """A leaf's hooks: ``pre`` get its complete gradient before ``.grad`` is updated (a
    returned Tensor replaces it); ``post`` get the leaf once ``.grad`` is final."""

    __slots__ = ("pre", "post")

    def __init__(self) -> None:
        self.pre: dict = {}
        self.post: dict = {}
