"""Ops that pick, place and rearrange elements: ``masked_fill``, ``repeat``, ``roll``
and constant ``pad``, plus the index builders that turn ``gather``, ``scatter``,
``index_select``, ``sort``, ``diag`` and friends into the fancy indices of ``GetItem`` /
``IndexAdd`` (``ops.shape``), whose backward is one vectorised ``scatter_add``.

Index arrays here are already checked (dtype, range) by the public functions.
"""

from __future__ import annotations

from ..autograd.function import Op
from ..backend import get_array_module
from .dual import _is_tensor, sum_to, zero_where
from .shape import GetItem

# --- index builders ---------------------------------------------------------------------


def along_axis_key(index, dim: int) -> tuple:
    """The fancy index that reads ``x[..., index[...], ...]`` along ``dim``: for
    ``dim=1``, ``out[i, j, k] = x[i, index[i, j, k], k]`` (``gather``'s rule).  Every
    other axis is an ``arange`` broadcast against ``index``."""
    xp = get_array_module(index)
    ndim = index.ndim
    key = []
    for axis, n in enumerate(index.shape):
        if axis == dim:
            key.append(index)
        else:
            shape = [1] * ndim
            shape[axis] = n
            key.append(xp.arange(n).reshape(shape))
    return tuple(key)


def leading_box(shape: tuple) -> tuple:
    """Basic slices selecting the block ``[:shape[0], :shape[1], ...]``."""
    return tuple(slice(0, n) for n in shape)


# --- ops ---------------------------------------------------------------------------------


class MaskedFill(Op):
    """``x`` with ``value`` (a 0-d tensor) where the constant bool ``mask`` is true
    (``mask`` broadcasts with ``x``).  d/dx: the gradient where the mask is false;
    d/dvalue: the sum of the gradient where it is true."""

    @staticmethod
    def forward(ctx, x, value, mask):
        ctx.mask, ctx.x_shape = mask, x.shape
        return get_array_module(x).where(mask, value, x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        need_x, need_value = ctx.needs_input_grad
        grad_x = sum_to(zero_where(ctx.mask, grad), ctx.x_shape) if need_x else None
        grad_value = None
        if need_value:
            kept = zero_where(~ctx.mask, grad)
            grad_value = kept.sum() if _is_tensor(kept) else kept.sum().reshape(())
        return grad_x, grad_value


class Scatter(Op):
    """``x`` with ``src`` written at the fancy index ``key`` (``scatter``'s placement;
    with repeated positions one of the writes wins).  d/dx: the gradient off the
    written positions; d/dsrc: the gradient read back at ``key``."""

    @staticmethod
    def forward(ctx, x, src, key):
        xp = get_array_module(x)
        out = x.copy()
        out[key] = src
        ctx.key = key
        ctx.written = xp.zeros(x.shape, dtype=bool)
        ctx.written[key] = True
        return out

    @staticmethod
    def backward(ctx, grad):
        need_x, need_src = ctx.needs_input_grad
        grad_x = zero_where(ctx.written, grad) if need_x else None
        grad_src = None
        if need_src:
            grad_src = GetItem.apply(grad, index=ctx.key) if _is_tensor(grad) else grad[ctx.key]
        return grad_x, grad_src


class Flip(Op):
    """Reverse the order along ``dims`` (a copy, as PyTorch); backward flips back."""

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return get_array_module(x).flip(x, dims).copy()

    @staticmethod
    def backward(ctx, grad):
        if _is_tensor(grad):
            return Flip.apply(grad, dims=ctx.dims)
        return get_array_module(grad).flip(grad, ctx.dims)


class Repeat(Op):
    """``x.repeat(*sizes)`` (NumPy's ``tile``): the tensor copied ``sizes[d]`` times
    along each dim (``len(sizes) >= x.ndim``; extra sizes add leading dims).
    Backward: view the gradient as ``(r0, n0, r1, n1, ...)`` and sum over the copies."""

    @staticmethod
    def forward(ctx, x, sizes):
        ctx.sizes, ctx.in_shape = sizes, x.shape
        return get_array_module(x).tile(x, sizes)

    @staticmethod
    def backward(ctx, grad):
        sizes = ctx.sizes
        shape = (1,) * (len(sizes) - len(ctx.in_shape)) + tuple(ctx.in_shape)
        split = []
        for r, n in zip(sizes, shape):
            split += [r, n]
        copies = tuple(range(0, 2 * len(sizes), 2))
        summed = grad.reshape(tuple(split)).sum(copies)
        return summed.reshape(ctx.in_shape)


class Roll(Op):
    """Shift elements along ``dims`` by ``shifts`` (wrapping around); ``dims=None`` rolls
    the flattened tensor.  Backward: roll the gradient back."""

    @staticmethod
    def forward(ctx, x, shifts, dims):
        ctx.shifts, ctx.dims = shifts, dims
        return get_array_module(x).roll(x, shifts, dims)

    @staticmethod
    def backward(ctx, grad):
        back = tuple(-s for s in ctx.shifts) if ctx.dims is not None else -ctx.shifts
        if _is_tensor(grad):
            return Roll.apply(grad, shifts=back, dims=ctx.dims)
        return get_array_module(grad).roll(grad, back, ctx.dims)


class ConstantPad(Op):
    """Pad with ``value``: ``widths`` is one ``(before, after)`` pair (>= 0) per dim.
    Backward: the gradient's inner block."""

    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.inner = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape))
        return get_array_module(x).pad(x, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        if _is_tensor(grad):
            return GetItem.apply(grad, index=ctx.inner)
        return grad[ctx.inner]


__all__ = ["ConstantPad", "Flip", "MaskedFill", "Repeat", "Roll", "Scatter", "along_axis_key",
           "leading_box"]
