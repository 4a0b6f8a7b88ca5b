"""Ops that move the rows of variable-length sequences between the padded and the
packed layout (``nn.utils.rnn``), and reorder a batch.

Both take an *injective* index (no position twice: a packing, a permutation), so the
adjoint of a gather is a plain assignment into zeros, not a scatter-add, and each op's
backward is the other op.
"""

from __future__ import annotations

from ..autograd.function import Op
from ..backend import get_array_module


class GatherRows(Op):
    """``out = x[index]`` for an injective ``index`` (a tuple of integer arrays and
    slices over the leading dims): padded ``(T, B, *)`` -> packed ``(N, *)``, or a
    batch permutation."""

    @staticmethod
    def forward(ctx, x, index):
        ctx.in_shape, ctx.index = x.shape, index
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        # d x[index] = grad, every other position 0 (no repeats: assignment suffices)
        return ScatterRows.apply(grad, shape=ctx.in_shape, index=ctx.index, fill=0.0) \
            if ctx._graph_mode else _scatter(grad, ctx.in_shape, ctx.index, 0.0)


class ScatterRows(Op):
    """``out = full(shape, fill); out[index] = x`` for an injective ``index``: packed
    ``(N, *)`` -> padded ``(T, B, *)`` with ``fill`` (the padding value) elsewhere."""

    @staticmethod
    def forward(ctx, x, shape, index, fill=0.0):
        ctx.index = index
        return _scatter(x, shape, index, fill)

    @staticmethod
    def backward(ctx, grad):
        # the filled positions are constants: only the written ones carry gradient
        return GatherRows.apply(grad, index=ctx.index) if ctx._graph_mode \
            else grad[ctx.index]


def _scatter(x, shape, index, fill):
    xp = get_array_module(x)
    out = xp.full(shape, fill, dtype=x.dtype) if fill else xp.zeros(shape, dtype=x.dtype)
    out[index] = x
    return out


__all__ = ["GatherRows", "ScatterRows"]
