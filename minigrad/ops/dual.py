"""Helpers that backward formulas call on *either* arrays or Tensors.

A built-in op's backward normally runs on raw arrays (fast); under
``backward(create_graph=True)`` the very same formula runs on Tensors and records a
graph.  Operators (``+ * / ** @``) already work on both; these few helpers cover the
rest, dispatching on the argument's type.
"""

from __future__ import annotations

from ..backend import get_array_module


def _is_tensor(x) -> bool:
    # arrays are the common case; only Tensors carry a grad_fn attribute
    return hasattr(x, "grad_fn")


def sum_to(grad, shape: tuple):
    """Sum ``grad`` over the axes that broadcasting expanded, giving ``shape``."""
    if grad.shape == shape:
        return grad
    if _is_tensor(grad):
        from .shape import SumTo

        return SumTo.apply(grad, shape=shape)
    return sum_to_array(grad, shape)


def sum_to_array(grad, shape: tuple):
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1
    )
    if not axes:
        return grad.reshape(shape)
    return grad.sum(axis=axes).reshape(shape)


def broadcast_to(x, shape: tuple):
    """Broadcast ``x`` to ``shape`` (a view for arrays, an ``expand`` for Tensors)."""
    if x.shape == shape:
        return x
    if _is_tensor(x):
        return x.expand(*shape)
    # a materialized copy: xp.broadcast_to costs microseconds of Python per call
    out = get_array_module(x).empty(shape, dtype=x.dtype)
    out[...] = x
    return out


def swap_last(x):
    """Transpose the last two dims (``mT``)."""
    if _is_tensor(x):
        return x.transpose(-1, -2)
    return x.swapaxes(-1, -2)


def log(x):
    return x.log() if _is_tensor(x) else get_array_module(x).log(x)


def exp(x):
    return x.exp() if _is_tensor(x) else get_array_module(x).exp(x)


def tanh(x):
    return x.tanh() if _is_tensor(x) else get_array_module(x).tanh(x)


def sigmoid(x):
    """``1 / (1 + e^-x)``; on arrays as ``(tanh(x/2) + 1) / 2`` (no overflow for x << 0)."""
    if _is_tensor(x):
        return x.sigmoid()
    return 0.5 * (get_array_module(x).tanh(0.5 * x) + 1)


def sign(x):
    """Derivative of |x| (0 at 0); a constant either way."""
    data = x.data if _is_tensor(x) else x
    return get_array_module(data).sign(data)


def select(mask, a, b):
    """``where(mask, a, b)`` for a constant bool ``mask`` and arrays, Tensors or Python
    numbers ``a``/``b`` (at least one an array or Tensor); differentiable in ``a`` and
    ``b`` when they are Tensors."""
    mask = mask.data if _is_tensor(mask) else mask
    if _is_tensor(a) or _is_tensor(b):
        from .elementwise import Where

        like = a if _is_tensor(a) else b
        xp = get_array_module(like.data)
        cls = type(like)
        a = a if _is_tensor(a) else cls._make(xp.asarray(a, dtype=like.dtype))
        b = b if _is_tensor(b) else cls._make(xp.asarray(b, dtype=like.dtype))
        return Where.apply(a, b, condition=mask)
    like = a if hasattr(a, "dtype") else b
    xp = get_array_module(like)
    return xp.where(mask, a, b).astype(like.dtype, copy=False)


def zero_where(mask, x):
    """``x`` with zeros where ``mask`` (a constant) is true.  A select, not a product:
    ``0 * inf`` and ``0 * nan`` would stay nan."""
    if _is_tensor(x):
        return select(mask, 0, x)
    mask = mask.data if _is_tensor(mask) else mask
    return get_array_module(x).where(mask, x.dtype.type(0), x)
