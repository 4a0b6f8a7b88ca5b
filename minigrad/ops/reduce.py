"""Reductions over ``dim`` (an int, a tuple, or None for all dims)."""

from __future__ import annotations

from ..autograd.function import Op
from ..backend import get_array_module
from .dual import _is_tensor, broadcast_to, sign, zero_where


def normalize_dims(dim, ndim: int, op: str) -> tuple:
    """``dim`` as a sorted tuple of non-negative axes (all axes for None)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(
                f"{op}: dim {d} is out of range for a tensor of {ndim} dimension(s) "
                f"(expected a dim in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])"
            )
        out.append(d % max(ndim, 1))
    return tuple(sorted(set(out))) if ndim else ()


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    """``shape`` with the reduced axes set to 1 (the keepdim shape)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Op):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.in_shape = x.shape
        ctx.kept = _kept_shape(x.shape, axes)
        return x.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_to(grad.reshape(ctx.kept), ctx.in_shape)


class Mean(Op):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.in_shape = x.shape
        ctx.kept = _kept_shape(x.shape, axes)
        count = 1
        for a in axes:
            count *= x.shape[a]
        ctx.scale = 1.0 / max(count, 1)
        return x.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_to(grad.reshape(ctx.kept) * ctx.scale, ctx.in_shape)


class Var(Op):
    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        ctx.save_for_backward(x)
        ctx.axes, ctx.kept = axes, _kept_shape(x.shape, axes)
        count = 1
        for a in axes:
            count *= x.shape[a]
        ctx.denominator = count - correction
        if ctx.denominator <= 0:  # e.g. one element with correction 1: nan as PyTorch
            # (NumPy would warn "Degrees of freedom <= 0" on the way)
            shape = ctx.kept if keepdim else tuple(
                n for i, n in enumerate(x.shape) if i not in axes)
            return get_array_module(x).full(shape, float("nan"), dtype=x.dtype)
        return x.var(axis=axes, ddof=correction, keepdims=keepdim)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        centered = x - x.mean(ctx.axes, keepdim=True) if ctx._graph_mode else (
            x - x.mean(axis=ctx.axes, keepdims=True))
        # d var / dx = 2 (x - mean) / (N - correction); nan when N - correction <= 0
        scale = 2.0 / ctx.denominator if ctx.denominator > 0 else float("nan")
        return grad.reshape(ctx.kept) * centered * scale


class MaxMin(Op):
    """max/min over axes.  The gradient goes to the extreme element(s); ties share it
    equally (as PyTorch's full reductions do)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, largest):
        out = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        mask = x == out
        ctx.weights = (mask / mask.sum(axis=axes, keepdims=True)).astype(x.dtype)
        ctx.kept = out.shape
        return out if keepdim else out.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in axes))

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.kept) * ctx.weights


class MaxMinDim(Op):
    """``max(dim)``/``min(dim)`` returning ``(values, indices)``; the gradient goes to
    the element named by the index."""

    differentiable_outputs = (0,)

    @staticmethod
    def forward(ctx, x, dim, keepdim, largest):
        xp = get_array_module(x)
        indices = x.argmax(axis=dim) if largest else x.argmin(axis=dim)
        indices = xp.expand_dims(indices, dim)
        values = xp.take_along_axis(x, indices, axis=dim)
        ctx.in_shape, ctx.dim, ctx.indices = x.shape, dim, indices
        if not keepdim:
            values, indices = values.squeeze(dim), indices.squeeze(dim)
        return values, indices.astype(xp.int64)

    @staticmethod
    def backward(ctx, grad, _grad_indices=None):
        indices, dim = ctx.indices, ctx.dim
        xp = get_array_module(indices)
        positions = xp.arange(ctx.in_shape[dim]).reshape(
            [-1 if i == dim else 1 for i in range(len(ctx.in_shape))])
        return grad.reshape(indices.shape) * (positions == indices)  # one-hot at argmax


class PNorm(Op):
    """The vector p-norm over ``axes``: ``(sum |x|^p)^(1/p)`` (``p`` finite, > 0).

    Backward: ``d norm / dx = sign(x) |x|^(p-1) / norm^(p-1)`` (``x / norm`` for p = 2),
    taken as 0 where the norm is 0 and at ``x = 0`` (as PyTorch's subgradient; for
    ``p < 1`` the power alone would be infinite there).
    """

    @staticmethod
    def forward(ctx, x, axes, keepdim, p):
        xp = get_array_module(x)
        if p == 2:
            kept = xp.sqrt((x * x).sum(axis=axes, keepdims=True))
        else:
            kept = (xp.abs(x) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        ctx.kept, ctx.p = kept.shape, p
        out = kept if keepdim else kept.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in axes))
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        norm = out.reshape(ctx.kept)
        vanishing = (norm.data if _is_tensor(norm) else norm) == 0
        safe = zero_where(vanishing, norm) + vanishing  # 1 where the norm is 0
        g = grad.reshape(ctx.kept)
        if ctx.p == 2:
            local = x / safe
        else:
            x_data = x.data if _is_tensor(x) else x
            # |x| with 1 where x = 0: there sign(x) = 0 gives the 0, and no 0^(p-1) = inf
            # (p < 1) turns it into nan, in this backward or the next
            magnitude = (x.abs() if _is_tensor(x) else get_array_module(x).abs(x)) + (
                x_data == 0)
            local = sign(x) * magnitude ** (ctx.p - 1) / safe ** (ctx.p - 1)
        return zero_where(vanishing, g * local)
