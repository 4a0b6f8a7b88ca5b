"""Grad mode: whether new operations record a graph.

The switch is thread-local (a global flag would let one thread's ``no_grad``
silence another thread's training), and both helpers work as context managers
and as decorators, as in PyTorch.
"""

from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    enabled = True  # class attribute: the default every new thread starts from


_state = _GradState()


def is_grad_enabled() -> bool:
    """True when operations currently record the autograd graph."""
    return _state.enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn graph recording on or off for the current thread."""
    _state.enabled = bool(mode)


class _GradModeContext:
    """Base of ``no_grad``/``enable_grad``: sets a mode, restores the old one on exit."""

    mode = True

    def __enter__(self) -> None:
        self._previous = _state.enabled
        _state.enabled = self.mode

    def __exit__(self, *exc) -> None:
        _state.enabled = self._previous

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):  # noqa: N801  (PyTorch's name)
    """Context manager / decorator: operations inside record no graph."""

    mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Context manager / decorator: turn recording back on inside ``no_grad``."""

    mode = True
