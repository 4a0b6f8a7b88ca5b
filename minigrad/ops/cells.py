"""One recurrent step as ONE graph node: the recurrent GEMM and the cell's pointwise
part together (the graph path of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` and their cells).

Each step op computes ``pre = proj + h @ w_t`` -- ``proj`` the step's input projection
(biases folded in), ``w_t = W_hh^T`` -- then the cell's activations (for LSTM and GRU
the forward and backward of ``elementwise.LSTMCellPointwise`` / ``GRUCellPointwise``,
called on the same ``ctx``).  Backward, from ``d pre`` (what the pointwise part gives):
``d proj = d pre``, ``d h = d pre @ w_t^T``, ``d w_t = h^T @ d pre``; the last is an
``OuterGrad``, so the T steps' terms become one GEMM (see ``autograd.engine``).

A layer direction passes its steps a shared :class:`StepSlab` (``slab=``, ``k=`` the
step's index): the states go into one ``(T+1, B, H)`` array and the ``d pre`` into one
``(T, B, G)`` array, as hand-written BPTT keeps them, so that the ``OuterGrad`` terms
are consecutive rows of two arrays and the engine multiplies them without
concatenating.  Without a slab (the cells, packed sequences) each step has its own.

Under ``backward(create_graph=True)`` the same formulas run on Tensors (``pre``
recomputed as ops), so double backward works through every step.
"""

from __future__ import annotations

from ..autograd.function import Op, OuterGrad
from ..backend import empty, empty_like, get_array_module, matmul
from .dual import sum_to, swap_last, zero_where
from .elementwise import (
    GRUCellPointwise,
    LSTMCellPointwise,
    _gru_backward_arrays,
    _gru_graph_grads,
    _lstm_backward_arrays,
    _lstm_graph_grads,
)
from .linalg import _fits

__all__ = ["StepSlab", "RNNStep", "LSTMStep", "GRUStep"]


class StepSlab:
    """The arrays the ``steps`` step nodes of one layer direction share.

    ``states[0]`` is (a copy of) the initial state and ``states[k+1]`` step ``k``'s
    output state; ``d_pres[k]`` is step ``k``'s pre-activation gradient (made at the
    first backward).  A step only writes into the slab if its input state is the one the
    slab holds (``states[k]``); otherwise it keeps its own arrays and its ``OuterGrad``
    term is concatenated as usual.
    """

    __slots__ = ("steps", "states", "views", "d_pres")

    def __init__(self, steps: int):
        self.steps, self.states, self.views, self.d_pres = steps, None, None, None

    def output(self, k: int, h, dtype):
        """Where step ``k`` (input state ``h``, result ``dtype``) writes its output state,
        or None."""
        if k == 0:
            self.states = empty((self.steps + 1,) + h.shape, dtype, get_array_module(h))
            self.states[0] = h
            self.views = [self.states[0]] + [None] * self.steps
        elif self.views is None or h is not self.views[k] or self.states.dtype != dtype:
            return None
        out = self.views[k + 1] = self.states[k + 1]
        return out

    def d_pre(self, k: int, like):
        """Where step ``k`` writes its pre-activation gradient (shaped as ``like``)."""
        d_pres = self.d_pres
        if d_pres is None or d_pres.shape[1:] != like.shape or d_pres.dtype != like.dtype:
            d_pres = self.d_pres = empty((self.steps,) + like.shape, like.dtype,
                                         get_array_module(like))
        return d_pres[k]

    def weight_grad(self, k: int, d_pre):
        """The ``OuterGrad`` term ``h_k^T @ d_pre_k`` as rows ``k`` of the slab."""
        return OuterGrad(self.views[k], d_pre, block=(self.states, self.d_pres, k))


def _pre(proj, h, w_t, out=None):
    """``proj + h @ w_t`` in a fresh (pooled) array, or in ``out``."""
    if out is None:
        out = matmul(h, w_t)
    else:
        get_array_module(h).matmul(h, w_t, out=out)
    if proj is None:
        return out
    if proj.shape == out.shape or _fits(proj.shape, out.shape):
        out += proj  # in place: the product is a fresh array
        return out
    return proj + out


def _dtype(*arrays):
    return get_array_module(arrays[0]).result_type(*arrays)


def _on_slab(ctx, slab, k, h, dtype):
    """Step ``k``'s output buffer on ``slab`` (remembered on ``ctx``), or None."""
    out = None if slab is None else slab.output(k, h, dtype)
    ctx.slab, ctx.k = (slab, k) if out is not None else (None, None)
    return out


def _d_pre_buffer(ctx, like):
    return None if ctx.slab is None else ctx.slab.d_pre(ctx.k, like)


def _gemm_grads(ctx, d_pre, h, w_t, need_h: bool, need_w: bool) -> tuple:
    """``(d h, d w_t)`` of ``pre = proj + h @ w_t`` from ``d pre``."""
    if ctx._graph_mode:
        return (d_pre @ swap_last(w_t) if need_h else None,
                swap_last(h) @ d_pre if need_w else None)
    d_w = None
    if need_w:
        d_w = OuterGrad(h, d_pre) if ctx.slab is None else ctx.slab.weight_grad(ctx.k, d_pre)
    return (matmul(d_pre, w_t.T) if need_h else None), d_w


class RNNStep(Op):
    """One Elman RNN step: ``act(proj + h @ w_t)``, ``act`` = tanh or relu.

    Backward, with ``out = act(pre)``: ``d pre = grad * act'(pre)``, where ``tanh' = 1 -
    out^2`` and ``relu' = [out > 0]``.
    """

    # saved (h, w_t, out): d w_t needs h, d h needs w_t, every gradient needs out
    saved_needed_by = ((2,), (1,), (0, 1, 2))

    @staticmethod
    def forward(ctx, proj, h, w_t, nonlinearity="tanh", slab=None, k=0):
        out = _pre(proj, h, w_t, _on_slab(ctx, slab, k, h, _dtype(proj, h, w_t)))
        xp = get_array_module(out)
        if nonlinearity == "tanh":
            xp.tanh(out, out=out)
        else:
            xp.maximum(out, 0, out=out)
        ctx.tanh, ctx.proj_shape = nonlinearity == "tanh", proj.shape
        ctx.save_for_backward(h, w_t, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        h, w_t, out = ctx.saved_tensors
        need_proj, need_h, need_w = ctx.needs_input_grad
        if ctx._graph_mode:  # Tensors: the formula itself is differentiable
            d_pre = grad * (1 - out * out) if ctx.tanh else zero_where(out.data <= 0, grad)
        else:
            xp = get_array_module(out)
            d_pre = _d_pre_buffer(ctx, out)
            if d_pre is None:
                d_pre = empty_like(out)
            if ctx.tanh:
                xp.multiply(out, out, out=d_pre)
                xp.subtract(1, d_pre, out=d_pre)
                d_pre *= grad
            else:
                xp.multiply(grad, out > 0, out=d_pre)
        return (sum_to(d_pre, ctx.proj_shape) if need_proj else None,
                *_gemm_grads(ctx, d_pre, h, w_t, need_h, need_w))


class LSTMStep(Op):
    """One LSTM step: ``(proj, h, c, w_t) -> (h', c')``, the gates ``proj + h @ w_t``
    (order i, f, g, o) going through ``LSTMCellPointwise``'s math."""

    @staticmethod
    def forward(ctx, proj, h, c, w_t, slab=None, k=0):
        h_out = _on_slab(ctx, slab, k, h, _dtype(proj, h, c, w_t))
        h_new, c_new = LSTMCellPointwise.forward(ctx, _pre(proj, h, w_t), c, h_out)  # (acts)
        ctx.proj_shape = proj.shape
        ctx.save_for_backward(proj, h, c, w_t)  # Tensors under create_graph (see Op)
        return h_new, c_new

    @staticmethod
    def backward(ctx, grad_h, grad_c):
        proj, h, c, w_t = ctx.saved_tensors
        need_proj, need_h, need_c, need_w = ctx.needs_input_grad
        if ctx._graph_mode:
            d_gates, dc = _lstm_graph_grads(proj + h @ w_t, c, grad_h, grad_c)
        else:
            s = ctx.acts[0]  # (the gates' shape and dtype)
            d_gates, dc = _lstm_backward_arrays(ctx.acts, c, grad_h, grad_c, True, need_c,
                                                _d_pre_buffer(ctx, s))
        d_h, d_w = _gemm_grads(ctx, d_gates, h, w_t, need_h, need_w)
        return (sum_to(d_gates, ctx.proj_shape) if need_proj else None, d_h,
                dc if need_c else None, d_w)


class GRUStep(Op):
    """One GRU step: ``(proj, h, w_t[, b_hn]) -> h'`` with the hidden projection ``hg =
    h @ w_t (+ b_hn)`` (``b_hn``: ``(0, 0, b_hn)`` over the r, z, n blocks) going with
    ``proj`` through ``GRUCellPointwise``'s math."""

    @staticmethod
    def forward(ctx, proj, h, w_t, b_h=None, slab=None, k=0):
        dtype = _dtype(proj, h, w_t) if b_h is None else _dtype(proj, h, w_t, b_h)
        h_out = _on_slab(ctx, slab, k, h, dtype)
        h_new = GRUCellPointwise.forward(ctx, proj, _pre(b_h, h, w_t), h, h_out)  # (acts)
        ctx.b_shape = None if b_h is None else b_h.shape
        ctx.save_for_backward(proj, h, w_t, *(() if b_h is None else (b_h,)))
        return h_new

    @staticmethod
    def backward(ctx, grad):
        proj, h, w_t, *b_h = ctx.saved_tensors
        need_proj, need_h, need_w, *need_b = ctx.needs_input_grad
        need_b = bool(need_b and need_b[0])
        need_hg = need_h or need_w or need_b
        if ctx._graph_mode:
            hg = h @ w_t if not b_h else h @ w_t + b_h[0]
            d_proj, d_hg, d_h = _gru_graph_grads(proj, hg, h, grad)
        else:
            d_proj, d_hg, d_h = _gru_backward_arrays(ctx.acts, h, grad, need_proj, need_hg,
                                                     need_h, _d_pre_buffer(ctx, proj))
        d_h_gemm, d_w = _gemm_grads(ctx, d_hg, h, w_t, need_h, need_w)
        if need_h:  # h reaches h' directly (z h) and through hg
            if ctx._graph_mode:
                d_h = d_h + d_h_gemm
            else:
                d_h_gemm += d_h
                d_h = d_h_gemm
        grads = (d_proj if need_proj else None, d_h if need_h else None, d_w)
        if ctx.b_shape is None:
            return grads
        return grads + (sum_to(d_hg, ctx.b_shape) if need_b else None,)
