"""Matrix products.  Weight gradients (the right-hand operand of a 2-D matmul) are
returned as ``OuterGrad`` terms so that a weight used at every timestep gets ONE
batched GEMM instead of T small ones (see ``autograd.engine``)."""

from __future__ import annotations

from ..autograd.function import Op, OuterGrad
from ..backend import as_rows, matmul
from .dual import sum_to, swap_last


class MatMul(Op):
    """``a @ b`` with NumPy's rules: 1-D operands, batch broadcasting."""

    saved_needed_by = ((1,), (0,))  # d/da needs b, d/db needs a

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # Promote 1-D operands to matrices as matmul does, so one formula serves all.
        a2 = a if a.ndim > 1 else a.reshape((1, a.shape[0]))
        b2 = b if b.ndim > 1 else b.reshape((b.shape[0], 1))
        batch = _broadcast_shape(a2.shape[:-2], b2.shape[:-2])
        g2 = grad.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        grad_a = grad_b = None
        if need_a:  # dL/da = dL/dout @ b^T, summed over broadcast batch dims
            grad_a = sum_to(g2 @ swap_last(b2), a2.shape).reshape(a.shape)
        if need_b:  # dL/db = a^T @ dL/dout, summed over batch dims
            if b2.ndim == 2 and not ctx._graph_mode:
                grad_b = OuterGrad(a2.reshape((-1, a2.shape[-1])), g2.reshape((-1, b2.shape[-1])),
                                   b.shape)
            else:
                grad_b = sum_to(swap_last(a2) @ g2, b2.shape).reshape(b.shape)
        return grad_a, grad_b


def _broadcast_shape(s1: tuple, s2: tuple) -> tuple:
    """NumPy broadcasting of two (already compatible) batch shapes."""
    n = max(len(s1), len(s2))
    s1, s2 = (1,) * (n - len(s1)) + s1, (1,) * (n - len(s2)) + s2
    return tuple(max(x, y) for x, y in zip(s1, s2))


def _fits(small: tuple, big: tuple) -> bool:
    """True if ``small`` broadcasts to ``big`` without growing it."""
    return len(small) <= len(big) and all(
        s in (1, b) for s, b in zip(reversed(small), reversed(big)))


class AddMM(Op):
    """``input + mat1 @ mat2`` in one node (PyTorch's ``addmm``); an RNN step is
    ``tanh(addmm(x_proj_t, h, W_hh.T))``."""

    saved_needed_by = ((2,), (1,))  # saved (mat1, mat2): d/dmat2 needs mat1, and back

    @staticmethod
    def forward(ctx, bias, mat1, mat2):
        ctx.save_for_backward(mat1, mat2)
        ctx.bias_shape = bias.shape
        out = matmul(mat1, mat2)
        if bias.shape == out.shape or _fits(bias.shape, out.shape):
            out += bias  # in place: the product is a fresh array
            return out
        return bias + out

    @staticmethod
    def backward(ctx, grad):
        mat1, mat2 = ctx.saved_tensors
        need_bias, need_1, need_2 = ctx.needs_input_grad
        grad_bias = sum_to(grad, ctx.bias_shape) if need_bias else None
        grad_1 = grad @ swap_last(mat2) if need_1 else None
        grad_2 = None
        if need_2:
            grad_2 = swap_last(mat1) @ grad if ctx._graph_mode else OuterGrad(mat1, grad)
        return grad_bias, grad_1, grad_2


class Linear(Op):
    """``x @ weight.T + bias`` for x of shape ``(*, in)``, weight ``(out, in)``."""

    saved_needed_by = ((1,), (0,))  # saved (x, weight): d/dweight needs x, and back

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        if x.ndim > 2:  # one 2-D GEMM over all leading dims (a strided 3-D input would
            # otherwise become one small GEMM per batch row); a strided input is copied
            # once, and backward reuses the copy
            ctx.x_rows = as_rows(x)
            out = matmul(ctx.x_rows, weight.T).reshape(x.shape[:-1] + (weight.shape[0],))
        else:
            out = matmul(x, weight.T)
        if bias is not None:
            out += bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need = ctx.needs_input_grad
        g2 = grad.reshape((-1, grad.shape[-1]))  # (N, out): all leading dims as rows
        grad_x = matmul(g2, weight).reshape(x.shape) if need[0] else None  # dx = g W
        grad_w = None
        if need[1]:  # dW = g^T x summed over all leading dims (none for a 1-D x)
            if ctx._graph_mode:
                grad_w = swap_last(g2) @ x.reshape((-1, x.shape[-1]))
            else:
                x2 = ctx.x_rows if x.ndim > 2 else x.reshape((-1, x.shape[-1]))
                grad_w = OuterGrad(g2, x2)
        if len(need) == 2:
            return grad_x, grad_w
        grad_b = sum_to(grad, (grad.shape[-1],)) if need[2] else None
        return grad_x, grad_w, grad_b
