"""Grad mode: whether new operations record a graph.

The switch is thread-local (a global flag would let one thread's ``no_grad``
silence another thread's training), and both helpers work as context managers
and as decorators, as in PyTorch.
"""

from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    enabled = True  # class attributes: the defaults every new thread starts from
    inference = False


_state = _GradState()


def is_grad_enabled() -> bool:
    """True when operations currently record the autograd graph."""
    return _state.enabled


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
            with self._fresh():
                return fn(*args, **kwargs)

        return wrapper

    def _fresh(self) -> _GradModeContext:
        """A new context of the same kind (one per decorated call: calls may nest)."""
        return self.__class__()


class _NoParamDecorator(_GradModeContext):
    """Also usable as a bare decorator: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, orig_func=None):
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)


class no_grad(_NoParamDecorator):  # noqa: N801  (PyTorch's name)
    """Context manager / decorator: operations inside record no graph."""

    mode = False


class enable_grad(_NoParamDecorator):  # noqa: N801
    """Context manager / decorator: turn recording back on inside ``no_grad``."""

    mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Turn recording on or off: at once as a function call (``set_grad_enabled(False)``),
    for a block (``with set_grad_enabled(False):`` restores the previous mode on exit),
    or for a function (``@set_grad_enabled(False)``)."""

    def __init__(self, mode: bool) -> None:
        self.mode = bool(mode)
        self._previous = _state.enabled
        _state.enabled = self.mode

    def __enter__(self) -> None:
        pass  # the mode was set by __init__ (the previous one is kept there)

    def __call__(self, fn):
        _state.enabled = self._previous  # as a decorator it only applies inside fn
        return super().__call__(fn)

    def _fresh(self) -> _GradModeContext:
        return _ModeBlock(self.mode)


class _ModeBlock(_GradModeContext):
    """A block with a given mode (what ``@set_grad_enabled(mode)`` wraps each call in)."""

    def __init__(self, mode: bool) -> None:
        self.mode = mode


class inference_mode(_GradModeContext):  # noqa: N801
    """``no_grad`` for inference (context manager / decorator, also bare:
    ``@inference_mode``); ``inference_mode(False)`` turns recording on, as PyTorch's.
    minigrad has no separate inference tensors: results are ordinary tensors that
    record no graph."""

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode without parentheses
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        self.enabled = bool(mode)

    def __enter__(self) -> None:
        self._previous, self._previous_inference = _state.enabled, _state.inference
        _state.enabled, _state.inference = not self.enabled, self.enabled

    def __exit__(self, *exc) -> None:
        _state.enabled, _state.inference = self._previous, self._previous_inference

    def _fresh(self) -> _GradModeContext:
        return inference_mode(self.enabled)


def is_inference_mode_enabled() -> bool:
    """True inside ``inference_mode()``."""
    return _state.inference
