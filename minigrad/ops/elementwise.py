"""Elementwise ops with NumPy broadcasting.  Gradients are summed back to each
input's shape with ``sum_to``."""

from __future__ import annotations

import math

import numpy as _np

from ..autograd.function import Op
from ..backend import POOL_MIN_BYTES, empty, empty_like, get_array_module
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
    saved_needed_by = ((1,), (0,))  # d/da needs b, d/db needs a

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
    saved_needed_by = ((1,), (0, 1))  # d/da = g / b; d/db = -g a / b^2

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
        xp = get_array_module(x)
        if x.nbytes >= POOL_MIN_BYTES and x.dtype.kind == "f":
            out = xp.tanh(x, out=empty_like(x))  # a large result: a pooled buffer
        else:
            out = xp.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        if not ctx._graph_mode:  # arrays: one temporary, updated in place
            xp = get_array_module(out)
            local = (xp.multiply(out, out, out=empty_like(out)) if out.nbytes >= POOL_MIN_BYTES
                     else out * out)
            xp.subtract(1, local, out=local)
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


# ------------------------------------------------------------------ fused RNN cells
# The pointwise part of one LSTM / GRU step as ONE node each (the GEMMs stay their own
# ``addmm`` nodes), as in PyTorch's fused cell kernels.  BPTT still comes from the
# graph: a recurrent layer records these nodes once per timestep and the engine walks
# them.  The math is written once with helpers that take arrays or Tensors, so that
# under ``backward(create_graph=True)`` the backward formula runs on Tensors and
# records a differentiable graph (the activations are then recomputed from the saved
# inputs, as ops, instead of read from the forward's cached arrays).


def _is_tensor(x) -> bool:
    return hasattr(x, "grad_fn")


def _sigmoid(x):
    """sigma(x), on an array (stable: (tanh(x/2) + 1) / 2) or as a Tensor op."""
    if _is_tensor(x):
        return Sigmoid.apply(x)
    out = x * 0.5
    get_array_module(x).tanh(out, out=out)
    out += 1
    out *= 0.5
    return out


def _tanh(x):
    return Tanh.apply(x) if _is_tensor(x) else get_array_module(x).tanh(x)


def _cat_last(*parts):
    """Join along the last dim (an array concatenate, or a ``Cat`` node)."""
    if _is_tensor(parts[0]):
        from .shape import Cat

        return Cat.apply(*parts, dim=parts[0].ndim - 1)
    return get_array_module(parts[0]).concatenate(parts, axis=-1)


def _zeros_like(x):
    if _is_tensor(x):
        return type(x)._make(get_array_module(x.data).zeros(x.shape, dtype=x.dtype))
    return get_array_module(x).zeros_like(x)


def _lstm_cell(gates, c):
    """LSTM pointwise math from the gate pre-activations ``(B, 4H)`` (order i, f, g, o)
    and the cell state ``(B, H)``; returns ``(s, g, c', tanh(c'))`` where
    ``s = sigma(gates)`` holds i, f, o in its blocks 0, 1, 3 (block 2 is unused: one
    sigmoid over all four blocks is cheaper than three calls on slices)."""
    H = c.shape[-1]
    s = _sigmoid(gates)
    g = _tanh(gates[:, 2 * H:3 * H])
    c_new = s[:, H:2 * H] * c + s[:, :H] * g  # f * c + i * g
    return s, g, c_new, _tanh(c_new)


class LSTMCellPointwise(Op):
    """One LSTM step after its GEMM: ``(gates, c) -> (h', c')`` with::

        i, f, g, o = sigma(gates_i), sigma(gates_f), tanh(gates_g), sigma(gates_o)
        c' = f * c + i * g
        h' = o * tanh(c')

    Backward (dh', dc' the output gradients; sigma' = s (1 - s), tanh' = 1 - t^2)::

        dc_tot = dc' + dh' * o * (1 - tanh(c')^2)   # c' reaches the loss two ways
        d gates_i = dc_tot * g * i (1 - i)
        d gates_f = dc_tot * c * f (1 - f)
        d gates_g = dc_tot * i * (1 - g^2)
        d gates_o = dh' * tanh(c') * o (1 - o)
        dc        = dc_tot * f
    """

    @staticmethod
    def forward(ctx, gates, c, h_out=None):
        # arrays only: every result written in place into (pooled) buffers; h' into
        # ``h_out`` when given (``cells.LSTMStep``'s slab)
        xp, H = get_array_module(gates), c.shape[-1]
        dtype = _np.result_type(gates.dtype, c.dtype)
        s = xp.multiply(gates, 0.5, out=empty(gates.shape, dtype, xp))
        xp.tanh(s, out=s)
        s += 1
        s *= 0.5  # sigma of every block; block 2 then holds g = tanh instead
        g = xp.tanh(gates[:, 2 * H:3 * H], out=s[:, 2 * H:3 * H])
        c_new = xp.multiply(s[:, H:2 * H], c, out=empty(c.shape, dtype, xp))  # f * c
        h_new = xp.multiply(s[:, :H], g, out=empty(c.shape, dtype, xp) if h_out is None
                            else h_out)
        c_new += h_new  # + i * g
        tc = xp.tanh(c_new, out=empty(c.shape, dtype, xp))
        xp.multiply(s[:, 3 * H:], tc, out=h_new)  # h' = o * tanh(c')
        ctx.save_for_backward(gates, c)  # Tensors under create_graph (see Op)
        ctx.acts = (s, g, tc)            # the arrays the ordinary backward reuses
        return h_new, c_new

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        gates, c = ctx.saved_tensors
        need_gates, need_c = ctx.needs_input_grad
        if not ctx._graph_mode:
            return _lstm_backward_arrays(ctx.acts, c, grad_h, grad_c, need_gates, need_c)
        d_gates, dc = _lstm_graph_grads(gates, c, grad_h, grad_c)
        return (d_gates if need_gates else None), (dc if need_c else None)


def _lstm_graph_grads(gates, c, grad_h, grad_c):
    """``(d gates, dc)`` of ``LSTMCellPointwise`` as differentiable ops (Tensors, under
    ``create_graph``), the activations recomputed from ``gates`` and ``c``."""
    s, g, _, tc = _lstm_cell(gates, c)
    H = c.shape[-1]
    i, f, o = s[:, :H], s[:, H:2 * H], s[:, 3 * H:]
    if grad_h is None:  # an output that received no gradient
        grad_h = _zeros_like(c if grad_c is None else grad_c)
    ds = s * (1 - s)  # sigma' of every block (block 2 unused)
    dc = grad_h * o * (1 - tc * tc)
    if grad_c is not None:
        dc = dc + grad_c
    d_gates = _cat_last(dc * g * ds[:, :H], dc * c * ds[:, H:2 * H],
                        dc * i * (1 - g * g), grad_h * tc * ds[:, 3 * H:])
    return d_gates, dc * f


def _lstm_backward_arrays(acts, c, grad_h, grad_c, need_gates: bool, need_c: bool,
                          d_out=None):
    """``LSTMCellPointwise.backward`` on arrays, in place into two (pooled) buffers
    (``acts``: what the forward kept; the gates' gradient into ``d_out`` when given)."""
    s, g, tc = acts
    xp, H = get_array_module(s), c.shape[-1]
    i, f, o = s[:, :H], s[:, H:2 * H], s[:, 3 * H:]
    d = xp.multiply(s, s, out=empty(s.shape, s.dtype, xp) if d_out is None else d_out)
    xp.subtract(s, d, out=d)  # sigma' = s (1 - s) of blocks i, f, o
    dc = xp.multiply(tc, tc, out=empty(c.shape, s.dtype, xp))
    xp.subtract(1, dc, out=dc)
    dc *= o
    if grad_h is None:  # an output that received no gradient
        dc[...] = 0
        d[:, 3 * H:] = 0
    else:
        dc *= grad_h  # dc_tot = dh' o (1 - tanh(c')^2) + dc'
        d[:, 3 * H:] *= grad_h
        d[:, 3 * H:] *= tc  # d gates_o = dh' tanh(c') o (1 - o)
    if grad_c is not None:
        dc += grad_c
    d[:, :H] *= dc
    d[:, :H] *= g  # d gates_i = dc_tot g i (1 - i)
    d[:, H:2 * H] *= dc
    d[:, H:2 * H] *= c  # d gates_f = dc_tot c f (1 - f)
    dg = d[:, 2 * H:3 * H]
    xp.multiply(g, g, out=dg)
    xp.subtract(1, dg, out=dg)
    dg *= i
    dg *= dc  # d gates_g = dc_tot i (1 - g^2)
    if need_c:
        dc *= f  # dc = dc_tot f
    return (d if need_gates else None), (dc if need_c else None)


def _gru_cell(xg, hg, h):
    """GRU pointwise math from the input and hidden projections ``(B, 3H)`` (order
    r, z, n; ``hg`` includes ``b_hn``) and the state ``(B, H)``; returns
    ``(r, z, n, hg_n, h')``."""
    H = h.shape[-1]
    rz = _sigmoid(xg[:, :2 * H] + hg[:, :2 * H])
    r, z = rz[:, :H], rz[:, H:]
    hg_n = hg[:, 2 * H:]
    n = _tanh(xg[:, 2 * H:] + r * hg_n)
    return r, z, n, hg_n, n + z * (h - n)  # h' = (1 - z) * n + z * h


def _gru_backward_arrays(acts, h, grad, need_x: bool, need_h_proj: bool, need_h: bool,
                         d_h_out=None):
    """``GRUCellPointwise.backward`` on arrays, in place into (pooled) buffers
    (``acts``: what the forward kept; the hidden projection's gradient into ``d_h_out``
    when given)."""
    r, z, n, hg_n = acts
    xp, H = get_array_module(grad), h.shape[-1]
    B, dtype = h.shape[0], r.dtype
    d_x = empty((B, 3 * H), dtype, xp)  # (dr_pre, dz_pre, dn_pre)
    dr, dz, dn = d_x[:, :H], d_x[:, H:2 * H], d_x[:, 2 * H:]
    grad_h = xp.multiply(grad, z, out=empty(h.shape, dtype, xp))  # dh = dh' z
    tmp = empty(h.shape, dtype, xp)
    xp.multiply(n, n, out=dn)
    xp.subtract(1, dn, out=dn)
    xp.subtract(grad, grad_h, out=tmp)
    dn *= tmp  # dn_pre = dh' (1 - z) (1 - n^2)
    xp.subtract(h, n, out=dz)
    dz *= grad
    dz *= z
    xp.multiply(dz, z, out=tmp)
    dz -= tmp  # dz_pre = dh' (h - n) z (1 - z)
    xp.multiply(dn, hg_n, out=dr)
    dr *= r
    xp.multiply(dr, r, out=tmp)
    dr -= tmp  # dr_pre = dn_pre hg_n r (1 - r)
    d_h = None
    if need_h_proj:
        d_h = empty((B, 3 * H), dtype, xp) if d_h_out is None else d_h_out
        # (dr_pre, dz_pre, dn_pre r)
        d_h[:, :2 * H] = d_x[:, :2 * H]
        xp.multiply(dn, r, out=d_h[:, 2 * H:])
    return (d_x if need_x else None), d_h, (grad_h if need_h else None)


class GRUCellPointwise(Op):
    """One GRU step after its GEMMs: ``(xg, hg, h) -> h'`` with ``xg = W_ih x + b_ih
    (+ b_hr, b_hz)`` and ``hg = W_hh h (+ b_hn)``, both ``(B, 3H)``::

        r = sigma(xg_r + hg_r);   z = sigma(xg_z + hg_z)
        n = tanh(xg_n + r * hg_n);   h' = (1 - z) * n + z * h

    Backward (dh' the output gradient)::

        dn_pre = dh' * (1 - z) * (1 - n^2)       # through n's tanh
        dz_pre = dh' * (h - n) * z (1 - z)
        dr_pre = dn_pre * hg_n * r (1 - r)
        d xg = (dr_pre, dz_pre, dn_pre);   d hg = (dr_pre, dz_pre, dn_pre * r)
        dh   = dh' * z
    """

    @staticmethod
    def forward(ctx, xg, hg, h, h_out=None):
        # arrays only: every result written in place into (pooled) buffers; h' into
        # ``h_out`` when given (``cells.GRUStep``'s slab)
        xp, H = get_array_module(xg), h.shape[-1]
        dtype = _np.result_type(xg.dtype, hg.dtype, h.dtype)
        rz = xp.add(xg[:, :2 * H], hg[:, :2 * H], out=empty((h.shape[0], 2 * H), dtype, xp))
        xp.multiply(rz, 0.5, out=rz)
        xp.tanh(rz, out=rz)
        rz += 1
        rz *= 0.5  # r, z = sigma(xg_rz + hg_rz)
        r, z = rz[:, :H], rz[:, H:]
        hg_n = hg[:, 2 * H:]
        n = xp.multiply(r, hg_n, out=empty(h.shape, dtype, xp))
        n += xg[:, 2 * H:]
        xp.tanh(n, out=n)  # n = tanh(xg_n + r hg_n)
        h_new = xp.subtract(h, n, out=empty(h.shape, dtype, xp) if h_out is None else h_out)
        h_new *= z
        h_new += n  # h' = n + z (h - n)
        ctx.save_for_backward(xg, hg, h)  # Tensors under create_graph (see Op)
        ctx.acts = (r, z, n, hg_n)        # the arrays the ordinary backward reuses
        return h_new

    @staticmethod
    def backward(ctx, grad):
        xg, hg, h = ctx.saved_tensors
        need_x, need_h_proj, need_h = ctx.needs_input_grad
        if not ctx._graph_mode:
            return _gru_backward_arrays(ctx.acts, h, grad, need_x, need_h_proj, need_h)
        d_x, d_hg, d_h = _gru_graph_grads(xg, hg, h, grad)
        return (d_x if need_x else None), (d_hg if need_h_proj else None), (
            d_h if need_h else None)


def _gru_graph_grads(xg, hg, h, grad):
    """``(d xg, d hg, dh)`` of ``GRUCellPointwise`` as differentiable ops (Tensors, under
    ``create_graph``), the activations recomputed from the inputs."""
    r, z, n, hg_n, _ = _gru_cell(xg, hg, h)
    dn = grad * (1 - z) * (1 - n * n)
    dz = grad * (h - n) * z * (1 - z)
    dr = dn * hg_n * r * (1 - r)
    return _cat_last(dr, dz, dn), _cat_last(dr, dz, dn * r), grad * z
