"""Shape ops: views, transposes, broadcasting, indexing, joining and splitting.
Their gradients only move numbers around, so every backward is itself a shape op."""

from __future__ import annotations

from .. import backend
from ..autograd.function import Op
from ..backend import get_array_module, scatter_add
from .dual import broadcast_to, sum_to


class Reshape(Op):
    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.in_shape)


class Transpose(Op):
    """Swap two dims (a view)."""

    is_view = True

    @staticmethod
    def forward(ctx, x, dim0, dim1):
        ctx.dims = (dim0, dim1)
        return x.swapaxes(dim0, dim1)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(*ctx.dims) if ctx._graph_mode else grad.swapaxes(*ctx.dims)


class Permute(Op):
    is_view = True

    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, grad):
        return grad.permute(*ctx.inverse) if ctx._graph_mode else grad.transpose(ctx.inverse)


class Expand(Op):
    """Broadcast to a larger shape (a read-only view); backward sums it back."""

    is_view = True

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return get_array_module(x).broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return sum_to(grad, ctx.in_shape)


class SumTo(Op):
    """Sum over broadcast dims down to ``shape`` (the adjoint of ``Expand``)."""

    @staticmethod
    def forward(ctx, x, shape):
        from .dual import sum_to_array

        ctx.in_shape = x.shape
        return sum_to_array(x, shape)

    @staticmethod
    def backward(ctx, grad):
        return broadcast_to(grad, ctx.in_shape)


def is_basic_index(index) -> bool:
    """True for ints, slices, None and ``...`` only (no repeated elements possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items)


class GetItem(Op):
    is_view = True

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        if ctx._graph_mode:
            return IndexAdd.apply(grad, shape=ctx.in_shape, index=ctx.index)
        return _scatter(grad, ctx.in_shape, ctx.index)


def _scatter(grad, shape, index):
    """A zeros array of ``shape`` with ``grad`` added at ``index`` (repeats add up)."""
    xp = get_array_module(grad)
    out = xp.zeros(shape, dtype=grad.dtype)
    if is_basic_index(index):
        out[index] = grad
    else:
        scatter_add(out, index, grad)
    return out


class IndexAdd(Op):
    """The adjoint of ``GetItem`` (used by double backward through indexing)."""

    @staticmethod
    def forward(ctx, grad, shape, index):
        ctx.index = index
        return _scatter(grad, shape, index)

    @staticmethod
    def backward(ctx, grad):
        return GetItem.apply(grad, index=ctx.index) if ctx._graph_mode else grad[ctx.index]


class SetItem(Op):
    """``x[index] = value``, written into ``x``'s own array (``copy=True``: into a copy).

    The in-place write behind ``outputs[t] = y``: ``value`` already has ``x``'s dtype
    and broadcasts to ``x[index]``.  Nothing is saved, so later writes cannot spoil it.
    """

    @staticmethod
    def forward(ctx, x, value, index, copy=False):
        if copy:
            x = x.copy()
        x[index] = value
        ctx.index, ctx.value_shape = index, value.shape
        return x

    @staticmethod
    def backward(ctx, grad):
        index = ctx.index
        need_x, need_value = ctx.needs_input_grad
        # d/dx: the gradient, except where x was overwritten; d/dvalue: the gradient there
        grad_x = ZeroAt.apply(grad, index=index) if need_x and ctx._graph_mode else (
            ZeroAt.forward(ctx, grad, index) if need_x else None)
        grad_value = sum_to(grad[index], ctx.value_shape) if need_value else None
        return grad_x, grad_value


class ZeroAt(Op):
    """A copy of ``x`` with ``x[index] = 0`` (``SetItem``'s gradient for ``x``; its own
    adjoint)."""

    @staticmethod
    def forward(ctx, x, index):
        out = x.copy()
        out[index] = 0
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx._graph_mode:
            return ZeroAt.apply(grad, index=ctx.index)
        return ZeroAt.forward(ctx, grad, ctx.index)


class Cat(Op):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.bounds = []
        start = 0
        for a in arrays:
            ctx.bounds.append((start, start + a.shape[dim]))
            start += a.shape[dim]
        return backend.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        dim = ctx.dim % grad.ndim
        lead = (slice(None),) * dim
        return tuple(
            grad[lead + (slice(lo, hi),)] if need else None
            for (lo, hi), need in zip(ctx.bounds, ctx.needs_input_grad)
        )


class Stack(Op):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        return backend.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        dim = ctx.dim % grad.ndim
        lead = (slice(None),) * dim
        return tuple(grad[lead + (i,)] if need else None
                     for i, need in enumerate(ctx.needs_input_grad))


class Split(Op):
    """Split along ``dim`` into pieces of the given sizes (``split``/``chunk``/
    ``unbind``); one node with several outputs, whose backward joins the pieces'
    gradients in one concatenate (zeros for pieces that got none)."""

    is_view = True

    @staticmethod
    def forward(ctx, x, sizes, dim, squeeze):
        ctx.dim, ctx.sizes, ctx.squeeze = dim, sizes, squeeze
        ctx.in_shape, ctx.dtype = x.shape, x.dtype
        lead = (slice(None),) * dim
        pieces, start = [], 0
        for n in sizes:
            pieces.append(x[lead + ((start,) if squeeze else (slice(start, start + n),))])
            start += n
        return tuple(pieces)

    @staticmethod
    def backward(ctx, *grads):
        dim = ctx.dim
        if ctx._graph_mode:
            from ..creation import zeros

            device = next(g for g in grads if g is not None).device
            parts = []
            for g, n in zip(grads, ctx.sizes):
                if g is None:
                    shape = list(ctx.in_shape)
                    shape[dim] = n
                    g = zeros(*shape, dtype=ctx.dtype, device=device)
                elif ctx.squeeze:
                    g = g.unsqueeze(dim)
                parts.append(g)
            from .. import cat

            return cat(parts, dim=dim)
        present = next(g for g in grads if g is not None)
        xp = get_array_module(present)
        if ctx.squeeze:  # unbind: stack is cheaper than expand_dims + concatenate
            zero = None
            parts = []
            for g in grads:
                if g is None:
                    zero = xp.zeros_like(present) if zero is None else zero
                    g = zero
                parts.append(g)
            return backend.stack(parts, axis=dim)
        out = backend.empty(ctx.in_shape, present.dtype, xp)
        lead = (slice(None),) * dim
        start = 0
        for g, n in zip(grads, ctx.sizes):
            out[lead + (slice(start, start + n),)] = 0 if g is None else g
            start += n
        return out


__all__ = ["Reshape", "Transpose", "Permute", "Expand", "SumTo", "GetItem", "IndexAdd",
           "Cat", "Stack", "Split", "broadcast_to", "is_basic_index"]
