"""Fused recurrent layers: one layer direction = ONE autograd node.

``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` with ``fused=True`` run every layer and direction
as a single :class:`FusedRecurrentLayer` op whose forward and backward are the
hand-derived BPTT kernels of ``models.bptt`` (``rnn_layer_forward`` /
``rnn_layer_backward`` and the LSTM/GRU equivalents).  The graph then holds a handful
of nodes however long the sequence is, and the results equal those of the default
graph path (where BPTT comes out of per-timestep autograd nodes).

The kernels' backward is written over arrays, not differentiable ops, so a
``create_graph=True`` backward through a fused layer raises; use ``fused=False`` for
higher-order gradients.
"""

from __future__ import annotations

import numpy as np

from ..autograd.function import Op
from ..backend import get_array_module
from .utils.rnn import lengths_of, packed_positions

__all__ = ["FusedRecurrentLayer", "fused_direction"]


def _bptt():
    from models import bptt  # lazy: models/ is an optional sibling package

    return bptt


class FusedRecurrentLayer(Op):
    """One direction of one recurrent layer, forward and BPTT by ``models.bptt``.

    Inputs (Tensors, in order): ``x`` (``(T, B, I)``, or ``(B, T, I)`` with
    ``time_dim=1``), the initial states ``h0`` (and ``c0`` for LSTM) ``(B, H)``,
    ``w_ih``, ``w_hh`` and, with bias, ``b_ih``, ``b_hh``.  Keywords: ``cell``
    (``'rnn'``, ``'lstm'``, ``'gru'``), ``nonlinearity`` (RNN), ``reverse`` (run the
    recurrence from the last timestep to the first), ``time_dim`` and ``out_dim``
    (where time is in ``x`` and in the output: 0 or 1).

    Outputs: the hidden state of every step (``(T, B, H)``, or ``(B, T, H)`` with
    ``out_dim=1``), then the final ``h`` (and ``c``) ``(B, H)`` -- "final" in
    processing order, i.e. the state after timestep 0 for ``reverse=True``.

    Packed input (``batch_sizes`` given, see ``nn.utils.rnn``): ``x`` is the packed
    ``(N, I)`` data and the output the packed ``(N, H)`` states.  The rows are scattered
    into a zero-padded time-major block for the kernels' ``batch_sizes`` mode (step
    ``t`` computes only its active rows; finished rows keep their state, so the final
    states are taken at each sequence's end).  For ``reverse=True`` the scatter index
    reverses each sequence within its own length, so the recurrence starts at every
    sequence's own last step.
    """

    @staticmethod
    def forward(ctx, x, *rest, cell, nonlinearity="tanh", reverse=False, time_dim=0,
                out_dim=0, batch_sizes=None):
        bptt = _bptt()
        n_states = 2 if cell == "lstm" else 1
        states, weights = rest[:n_states], rest[n_states:]
        w_ih, w_hh = weights[0], weights[1]
        b_ih, b_hh = (weights[2], weights[3]) if len(weights) == 4 else (None, None)
        ctx.padded = None
        if batch_sizes is not None:  # packed rows -> padded (T, B, I) in kernel time
            ctx.padded = _padded_index(get_array_module(x), batch_sizes, reverse)
            xs = get_array_module(x).zeros((len(batch_sizes), int(batch_sizes[0]))
                                           + x.shape[1:], dtype=x.dtype)
            xs[ctx.padded] = x
        else:
            xs = x.swapaxes(0, 1) if time_dim == 1 else x  # time-major (T, B, I)
            if reverse:
                xs = xs[::-1]
        if cell == "rnn":
            hs, cache = bptt.rnn_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, states[0],
                                               nonlinearity, batch_sizes=batch_sizes)
            finals = (hs[-1],)
        elif cell == "gru":
            hs, cache = bptt.gru_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, states[0],
                                               batch_sizes=batch_sizes)
            finals = (hs[-1],)
        else:
            hs, c_last, cache = bptt.lstm_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, *states,
                                                        batch_sizes=batch_sizes)
            finals = (hs[-1], c_last)
        ctx.save_for_backward(cache)  # freed with the graph (retain_graph=False)
        ctx.cell, ctx.reverse, ctx.time_dim, ctx.out_dim = cell, reverse, time_dim, out_dim
        ctx.n_weights = len(weights)
        if ctx.padded is not None:
            return (hs[ctx.padded], *finals)
        if reverse:
            hs = hs[::-1]
        if out_dim == 1:
            hs = hs.swapaxes(0, 1)
        return (hs, *finals)

    @staticmethod
    def backward(ctx, grad_out, *grad_finals):
        if ctx._graph_mode:
            raise RuntimeError(
                "backward(create_graph=True) through a fused recurrent layer is not "
                "supported: its backward is the hand-derived BPTT over arrays, not a "
                "differentiable graph. Build the layer with fused=False for higher-order "
                "gradients.")
        bptt = _bptt()
        (cache,) = ctx.saved_tensors
        need_dx = ctx.needs_input_grad[0]  # the first layer's input rarely needs one
        dhs = grad_out
        if dhs is not None and ctx.padded is not None:  # packed -> padded, kernel time
            T, B = cache.hs.shape[0] - 1, cache.hs.shape[1]
            padded = get_array_module(dhs).zeros((T, B, dhs.shape[1]), dtype=dhs.dtype)
            padded[ctx.padded] = dhs
            dhs = padded
        elif dhs is not None:
            if ctx.out_dim == 1:
                dhs = dhs.swapaxes(0, 1)
            if ctx.reverse:
                dhs = dhs[::-1]
        if ctx.cell == "rnn":
            dx, dh0, *dw = bptt.rnn_layer_backward(cache, dhs, grad_finals[0], need_dx)
            d_states = (dh0,)
        elif ctx.cell == "gru":
            dx, dh0, *dw = bptt.gru_layer_backward(cache, dhs, grad_finals[0], need_dx)
            d_states = (dh0,)
        else:
            dx, dh0, dc0, *dw = bptt.lstm_layer_backward(cache, dhs, *grad_finals, need_dx)
            d_states = (dh0, dc0)
        if dx is not None and ctx.padded is not None:
            dx = dx[ctx.padded]
        elif dx is not None and ctx.reverse:
            dx = dx[::-1]
        if dx is not None and ctx.time_dim == 1 and ctx.padded is None:
            dx = dx.swapaxes(0, 1)
        return (dx, *d_states, *dw[:ctx.n_weights])


def _padded_index(xp, batch_sizes, reverse: bool) -> tuple:
    """``(t, b)`` in the padded kernel layout of every packed row (time-major packed
    order: row ``n`` is step ``t`` of sorted sequence ``b``); with ``reverse`` the step
    counts back from each sequence's own last step."""
    steps, rows = packed_positions(np.asarray(batch_sizes))
    if reverse:
        steps = lengths_of(np.asarray(batch_sizes))[rows] - 1 - steps
    return xp.asarray(steps), xp.asarray(rows)


def fused_direction(cell, x, states, weights, *, reverse=False, time_dim=0, out_dim=0,
                    nonlinearity="tanh", batch_sizes=None):
    """Run one layer direction as a fused node; returns ``(output, final_states)``.

    ``cell``: ``'rnn'``, ``'lstm'``, ``'gru'`` (or an object with that ``name``);
    ``states``: a tuple of ``(B, H)`` Tensors (zeros where the caller had none);
    ``weights``: ``(w_ih, w_hh, b_ih, b_hh)`` with ``None`` biases when there are none;
    ``batch_sizes``: packed input (``x`` ``(N, I)``, see :class:`FusedRecurrentLayer`).
    """
    args = [x, *states, *(w for w in weights if w is not None)]
    outs = FusedRecurrentLayer.apply(*args, cell=getattr(cell, "name", cell),
                                     nonlinearity=nonlinearity, reverse=reverse,
                                     time_dim=time_dim, out_dim=out_dim,
                                     batch_sizes=batch_sizes)
    return outs[0], tuple(outs[1:])
