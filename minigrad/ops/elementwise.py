"""Elementwise ops with NumPy broadcasting.  Gradients are summed back to each
input's shape with ``sum_to``."""

from __future__ import annotations

import math

import numpy as _np

from ..autograd.function import Op
from ..backend import get_array_module
from .dual import log, sign, sum_to, zero_where


class Add(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (sum_to(grad, a_shape) if need_a else None,
                sum_to(grad, b_shape) if need_b else None)


class Sub(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return a - b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        return (sum_to(grad, a_shape) if need_a else None,
                sum_to(-grad, b_shape) if need_b else None)


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (sum_to(grad * b, a.shape) if need_a else None,
                sum_to(grad * a, b.shape) if need_b else None)


class Div(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad / b
        # d(a/b)/db = -a / b**2 = -(grad/b) * a / b
        return (sum_to(grad_a, a.shape) if need_a else None,
                sum_to(-grad_a * a / b, b.shape) if need_b else None)


class Pow(Op):
    """``a ** b`` with both operands Tensors."""

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        with _np.errstate(divide="ignore", invalid="ignore"):  # the masked entries
            if need_a:  # d(a^b)/da = b a^(b-1); 0 where b == 0 (a^0 = 1 is constant,
                # and the formula would give 0 * 0^-1 = nan at a = 0)
                grad_a = sum_to(zero_where(b == 0, grad * b * a ** (b - 1)), a.shape)
            if need_b:  # d(a^b)/db = a^b log a; 0 where a == 0 and b >= 0, as PyTorch
                # (0^b is constant there; the formula would give 0 * log 0 = nan)
                grad_b = sum_to(zero_where((a == 0) & (b >= 0), grad * out * log(a)),
                                b.shape)
        return grad_a, grad_b


class PowScalar(Op):
    """``x ** exponent`` for a Python-number exponent."""

    @staticmethod
    def forward(ctx, x, exponent):
        ctx.save_for_backward(x)
        ctx.exponent = exponent
        return x ** exponent

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        p = ctx.exponent
        if p == 2:
            return grad * (2 * x)
        if p == 0:  # x^0 = 1 is constant (p x^(p-1) would be 0 * inf = nan at x = 0)
            return grad * 0
        return grad * (p * x ** (p - 1))


class RPowScalar(Op):
    """``base ** x`` for a Python-number base."""

    @staticmethod
    def forward(ctx, x, base):
        out = get_array_module(x).power(x.dtype.type(base), x)
        ctx.save_for_backward(x, out)
        ctx.base = base
        # a Python-scalar log (CuPy's ufuncs want an array argument)
        ctx.log_base = math.log(base) if base > 0 else (-math.inf if base == 0 else math.nan)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        if ctx.base == 0:  # 0^x is constant for x >= 0: 0 there, as PyTorch (the
            # formula would give 0 * log 0 = nan); -inf where x < 0
            with _np.errstate(invalid="ignore"):
                return zero_where(x >= 0, grad * out * ctx.log_base)
        return grad * out * ctx.log_base  # d(c^x)/dx = c^x log c


class Neg(Op):
    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Op):
    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Op):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x


class Sqrt(Op):
    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).sqrt(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)  # d sqrt(x) = 1 / (2 sqrt(x))


class Abs(Op):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * sign(x)  # sign(0) = 0, as in PyTorch


class Tanh(Op):
    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        if not ctx._graph_mode:  # arrays: one temporary, updated in place
            local = out * out
            get_array_module(out).subtract(1, local, out=local)
            local *= grad
            return local
        return grad * (1 - out * out)  # d tanh = 1 - tanh^2


class Sigmoid(Op):
    @staticmethod
    def forward(ctx, x):
        # 1/(1+e^-x) overflows e^-x for very negative x; sigma(x) = (tanh(x/2) + 1) / 2
        # is stable.  One fresh array, updated in place.
        out = x * 0.5
        get_array_module(x).tanh(out, out=out)
        out += 1
        out *= 0.5
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)  # d sigma = sigma (1 - sigma)


class Relu(Op):
    @staticmethod
    def forward(ctx, x):
        ctx.mask = x > 0  # derivative 0 at 0, as in PyTorch
        return get_array_module(x).maximum(x, 0)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.mask


class Clamp(Op):
    @staticmethod
    def forward(ctx, x, min=None, max=None):  # noqa: A002  (PyTorch's names)
        xp = get_array_module(x)
        ctx.mask = xp.ones(x.shape, dtype=bool)
        if min is not None:
            ctx.mask &= x >= min
        if max is not None:
            ctx.mask &= x <= max
        return xp.clip(x, min, max).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.mask


class Where(Op):
    """``where(condition, a, b)``; the condition is a constant."""

    @staticmethod
    def forward(ctx, a, b, condition):
        ctx.condition = condition
        ctx.shapes = (a.shape, b.shape)
        return get_array_module(a).where(condition, a, b)

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        cond = ctx.condition
        return (sum_to(grad * cond, a_shape) if need_a else None,
                sum_to(grad * ~cond, b_shape) if need_b else None)


class Cast(Op):
    """Change dtype; the gradient is cast back to the input's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        if ctx._graph_mode:
            return Cast.apply(grad, dtype=ctx.in_dtype)
        return grad.astype(ctx.in_dtype)
