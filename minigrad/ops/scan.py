"""Scans along one dim: ``cumsum`` and ``cumprod``."""

from __future__ import annotations

from ..autograd.function import Op
from .dual import _is_tensor, select, zero_where


def _flip(x, dim: int):
    return x[(slice(None),) * dim + (slice(None, None, -1),)]


class CumSum(Op):
    """``out[i] = sum_{j <= i} x[j]`` along ``dim`` (``reverse``: ``sum_{j >= i}``).
    Backward: the reversed scan of the gradient."""

    @staticmethod
    def forward(ctx, x, dim, reverse=False):
        ctx.dim, ctx.reverse = dim, reverse
        return _cumsum_array(x, dim, reverse)

    @staticmethod
    def backward(ctx, grad):
        return _cumsum(grad, ctx.dim, reverse=not ctx.reverse)


def _cumsum_array(x, dim: int, reverse: bool):
    if reverse:
        return _flip(_flip(x, dim).cumsum(axis=dim), dim)
    return x.cumsum(axis=dim)


def _cumsum(x, dim: int, reverse: bool = False):
    if _is_tensor(x):
        return CumSum.apply(x, dim=dim, reverse=reverse)
    return _cumsum_array(x, dim, reverse)


def _cumprod(x, dim: int):
    return CumProd.apply(x, dim=dim) if _is_tensor(x) else x.cumprod(axis=dim)


class CumProd(Op):
    """``out[i] = prod_{j <= i} x[j]`` along ``dim``.

    Backward, ``g`` the output gradient: ``dx_i = sum_{k >= i} g_k prod_{j <= k, j != i}
    x_j``.  Before the first zero of a slice that is ``revcumsum(g * out)_i / x_i``; at
    the first zero ``z`` it is ``revcumsum(g * cumprod(x with x_z := 1))_z``; after it,
    0 (every product there contains ``x_z`` and another factor).  So first derivatives
    are exact at zeros, with no division by zero.  Under ``create_graph`` the same
    formula is differentiated: exact second derivatives away from zeros (at an exact
    zero, the entries after it are treated as constant 0).
    """

    @staticmethod
    def forward(ctx, x, dim):
        out = x.cumprod(axis=dim)
        ctx.save_for_backward(x, out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        dim = ctx.dim
        x_data = x.data if _is_tensor(x) else x
        zero = x_data == 0
        scan = _cumsum(grad * out, dim, reverse=True)
        if not bool(zero.any()):
            return scan / x
        zeros_so_far = zero.cumsum(axis=dim)
        before = zeros_so_far == 0                     # strictly before the first zero
        first = zero & (zeros_so_far == 1)             # the first zero itself
        safe_x = select(before, x, 1.0)
        grad_before = zero_where(~before, scan / safe_x)
        skipped = _cumprod(select(first, 1.0, x), dim)  # the products without x_z
        at_first = _cumsum(grad * skipped, dim, reverse=True)
        return grad_before + zero_where(~first, at_first)
