"""More elementwise ops: ``sin cos log1p expm1 erf``, ``maximum``/``minimum``, division
with rounding, ``nan_to_num``, ``clone`` and the activations ``gelu`` and ``softplus``.

As in ``elementwise``, each backward is written with operators and the dual helpers
of ``ops.dual`` and below (which take an array or a Tensor), so that under
``backward(create_graph=True)`` the same formula records a differentiable graph.
"""

from __future__ import annotations

import math

import numpy as _np

from ..autograd.function import Op
from ..backend import get_array_module
from .dual import _is_tensor, exp, select, sigmoid, sum_to, tanh, zero_where

# --- dual helpers (array or Tensor) -------------------------------------------------


def _sin(x):
    return Sin.apply(x) if _is_tensor(x) else get_array_module(x).sin(x)


def _cos(x):
    return Cos.apply(x) if _is_tensor(x) else get_array_module(x).cos(x)


def _erf(x):
    return Erf.apply(x) if _is_tensor(x) else erf_array(x)


# --- trigonometric and exponential ----------------------------------------------------


class Sin(Op):
    """``sin(x)``; backward ``cos(x)``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _cos(x)


class Cos(Op):
    """``cos(x)``; backward ``-sin(x)``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).cos(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return -grad * _sin(x)


class Log1p(Op):
    """``log(1 + x)``, accurate for small ``x``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return get_array_module(x).log1p(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / (x + 1)


class Expm1(Op):
    """``exp(x) - 1``, accurate for small ``x``."""

    @staticmethod
    def forward(ctx, x):
        out = get_array_module(x).expm1(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out + 1)  # d(e^x - 1) = e^x


# Cephes' rational approximations of erf / erfc (S. L. Moshier, public domain; the
# same coefficients as scipy.special), evaluated with Horner's rule on whole arrays.
_ERF_T = (9.60497373987051638749e0, 9.00260197203842689217e1, 2.23200534594684319226e3,
          7.00332514112805075473e3, 5.55923013010394962768e4)
_ERF_U = (1.0, 3.35617141647503099647e1, 5.21357949780152679795e2, 4.59432382970980127987e3,
          2.26290000613890934246e4, 4.92673942608635921086e4)
_ERFC_P = (2.46196981473530512524e-10, 5.64189564831068821977e-1, 7.46321056442269912687e0,
           4.86371970985681366614e1, 1.96520832956077098242e2, 5.26445194995477358631e2,
           9.34528527171957607540e2, 1.02755188689515710272e3, 5.57535335369399327526e2)
_ERFC_Q = (1.0, 1.32281951154744992508e1, 8.67072140885989742329e1, 3.54937778887819891062e2,
           9.75708501743205489753e2, 1.82390916687909736289e3, 2.24633760818710981792e3,
           1.65666309194161350182e3, 5.57535340817727675546e2)
_ERFC_R = (5.64189583547755073984e-1, 1.27536670759978104416e0, 5.01905042251180477414e0,
           6.16021097993053585195e0, 7.40974269950448939160e0, 2.97886665372100240670e0)
_ERFC_S = (1.0, 2.26052863220117276590e0, 9.39603524938001434673e0, 1.20489539808096656605e1,
           1.70814450747565897222e1, 9.60896809063285878198e0, 3.36907645100081516050e0)


def _horner(x, coefficients):
    """``c0 x^n + c1 x^(n-1) + ... + cn`` for a NumPy array ``x``."""
    out = _np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        out = out * x + c
    return out


def erf_array(x):
    """The error function of a NumPy/CuPy float array, elementwise (about 1e-16 relative
    error in float64; NumPy has no ``erf``).  CuPy arrays use ``cupyx.scipy.special``."""
    xp = get_array_module(x)
    if xp is not _np:
        from cupyx.scipy.special import erf

        return erf(x)
    dtype = x.dtype
    a = _np.abs(x.astype(_np.float64))
    z = a * a
    with _np.errstate(over="ignore", under="ignore", invalid="ignore"):
        small = a * _horner(z, _ERF_T) / _horner(z, _ERF_U)  # |x| <= 1
        mid = _np.exp(-z) * _horner(a, _ERFC_P) / _horner(a, _ERFC_Q)  # erfc, 1 < |x| < 8
        large = _np.exp(-z) * _horner(a, _ERFC_R) / _horner(a, _ERFC_S)  # erfc, |x| >= 8
    erfc = _np.where(a < 8.0, mid, large)
    out = _np.where(a <= 1.0, small, 1.0 - erfc)
    out = _np.where(_np.isnan(a), a, _np.where(a > 27.0, 1.0, out))  # exp underflow
    return (_np.sign(x) * out).astype(dtype, copy=False)


class Erf(Op):
    """The error function; backward ``2/sqrt(pi) e^(-x^2)``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return erf_array(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (exp(-(x * x)) * (2 / math.sqrt(math.pi)))  # erf' = 2/sqrt(pi) e^-x^2


# --- binary ---------------------------------------------------------------------------


class MaxMinimum(Op):
    """``maximum(a, b)`` (``largest``) or ``minimum(a, b)``, broadcasting.  The gradient
    goes to the chosen operand; where ``a == b`` each gets half (as PyTorch)."""

    @staticmethod
    def forward(ctx, a, b, largest):
        xp = get_array_module(a)
        ctx.shapes = (a.shape, b.shape)
        ctx.a_wins = (a > b) if largest else (a < b)
        ctx.tie = a == b  # (where either is NaN the result is NaN and the gradient goes to b)
        return xp.maximum(a, b) if largest else xp.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        need_a, need_b = ctx.needs_input_grad
        half = grad * 0.5
        grad_a = grad_b = None
        if need_a:
            grad_a = sum_to(select(ctx.a_wins, grad, select(ctx.tie, half, 0.0)), a_shape)
        if need_b:
            b_wins = ~(ctx.a_wins | ctx.tie)
            grad_b = sum_to(select(b_wins, grad, select(ctx.tie, half, 0.0)), b_shape)
        return grad_a, grad_b


def rounded_divide(a, b, rounding_mode: str):
    """``a / b`` rounded toward zero (``'trunc'``) or down (``'floor'``), in the operands'
    (common) dtype; integer division by zero raises ZeroDivisionError."""
    xp = get_array_module(a)
    if a.dtype.kind in "biu":
        if bool((b == 0).any()):
            raise ZeroDivisionError("div: integer division by zero (rounding_mode="
                                    f"{rounding_mode!r})")
        if rounding_mode == "floor":
            return xp.floor_divide(a, b)
        quotient = xp.floor_divide(xp.abs(a), xp.abs(b))
        return xp.where((a < 0) != (b < 0), -quotient, quotient).astype(a.dtype, copy=False)
    with _np.errstate(divide="ignore", invalid="ignore"):
        if rounding_mode == "floor":  # Python's divmod rule, as PyTorch's div_floor
            return xp.floor_divide(a, b)
        return xp.trunc(a / b)


class DivRounded(Op):
    """``div(a, b, rounding_mode='trunc' | 'floor')``: piecewise constant, so its
    gradient is zero (as PyTorch)."""

    @staticmethod
    def forward(ctx, a, b, rounding_mode):
        ctx.shapes = (a.shape, b.shape)
        return rounded_divide(a, b, rounding_mode)

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        zero = grad * 0
        return sum_to(zero, a_shape), sum_to(zero, b_shape)


# --- unary utilities -------------------------------------------------------------------


class NanToNum(Op):
    """NaN, +inf and -inf replaced by the given finite numbers; the gradient passes
    where the input was finite and is 0 where an element was replaced."""

    @staticmethod
    def forward(ctx, x, nan, posinf, neginf):
        xp = get_array_module(x)
        ctx.replaced = ~xp.isfinite(x)
        return xp.nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    def backward(ctx, grad):
        return zero_where(ctx.replaced, grad)


class Clone(Op):
    """A copy with its own memory; the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


# --- activations -----------------------------------------------------------------------

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_CUBIC = 0.044715


def _gelu_grad(x, approximate: str):
    """d gelu / dx: ``Phi(x) + x phi(x)`` exactly, or the derivative of the tanh form."""
    if approximate == "tanh":
        t = tanh((x + x * x * x * _GELU_CUBIC) * _SQRT_2_OVER_PI)
        du = (x * x * (3 * _GELU_CUBIC) + 1) * _SQRT_2_OVER_PI
        return (t + 1) * 0.5 + x * (1 - t * t) * du * 0.5
    cdf = (_erf(x * _INV_SQRT_2) + 1) * 0.5
    return cdf + x * exp(x * x * -0.5) * _INV_SQRT_2PI


class GELU(Op):
    """``gelu(x) = x Phi(x)`` (Phi the standard normal CDF), or with
    ``approximate='tanh'``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approximate = approximate
        xp = get_array_module(x)
        if approximate == "tanh":
            inner = (x + _GELU_CUBIC * x * x * x) * _SQRT_2_OVER_PI
            return (0.5 * x * (1 + xp.tanh(inner))).astype(x.dtype, copy=False)
        return (0.5 * x * (1 + erf_array(x * _INV_SQRT_2))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * _gelu_grad(x, ctx.approximate)


class Softplus(Op):
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``
    (as PyTorch).  Backward: ``sigmoid(beta x)`` (1 on the linear part)."""

    @staticmethod
    def forward(ctx, x, beta, threshold):
        xp = get_array_module(x)
        z = x * beta
        ctx.save_for_backward(x)
        ctx.beta, ctx.linear = beta, z > threshold
        # log1p(e^z) = max(z, 0) + log1p(e^-|z|): no overflow for large z
        soft = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta
        return xp.where(ctx.linear, x, soft).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * select(ctx.linear, 1.0, sigmoid(x * ctx.beta))
