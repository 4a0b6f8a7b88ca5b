"""Explicit, hand-derived backpropagation through time (BPTT) for RNN, LSTM and GRU layers.

This module computes exactly what ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (and PyTorch's
layers of the same names) compute -- outputs, final states and every gradient -- but with
the backward pass written out by hand over plain arrays (``numpy.ndarray`` or
``cupy.ndarray``).  There is no autograd here: no ``Tensor``; the only thing taken from
``minigrad`` (when installed) is its array pool, for the work buffers.

Backpropagation through time
----------------------------
A recurrent layer applies the same cell at every timestep, ``h_t = cell(x_t, h_{t-1})``.
Unrolled over ``T`` steps it is just a deep feed-forward network whose layers share their
weights, so its gradient is the ordinary chain rule applied to the unrolled graph:

* walk the steps backwards, ``t = T-1, ..., 0``, carrying ``dh`` = dL/dh_t;
* at each step ``dh`` is the sum of the gradient arriving from above (the layer output,
  ``dL/dout_t``) and the gradient flowing back from step ``t+1`` through ``W_hh``;
* push ``dh`` through the cell's nonlinearities to get the gradient of the cell's
  pre-activations ("gates") at step ``t``, and from those the new ``dh`` for step ``t-1``;
* because the weights are shared, their gradient is the sum over steps of the per-step
  contributions, e.g. ``dW_hh = sum_t dgates_t^T @ h_{t-1}``.

The last sum is where most of the speed comes from: the loop only stores the per-step
gate gradients in one ``(T, B, G*H)`` array, and after the loop every weight gradient is a
single large GEMM over all ``T*B`` rows (``dW_ih = dgates2d.T @ x2d``, ``dx = dgates2d @ W_ih``,
...).  Symmetrically, the forward pass computes the input projections ``x_t @ W_ih^T + b`` of
all timesteps with one GEMM, so the sequential loop holds only the recurrent GEMM
``h_{t-1} @ W_hh^T`` and elementwise work.  Likewise, in backward every local derivative
that does not depend on the incoming gradient (``1 - tanh^2``, ``s * (1 - s)``, ...) is
computed for all timesteps at once before the loop, which then only multiplies.

Layout and conventions
----------------------
Everything inside is time-major: ``xs`` is ``(T, B, I)``, hidden sequences ``(T, B, H)``,
gate arrays ``(T, B, G*H)`` with ``G`` = 1 (RNN), 4 (LSTM: i, f, g, o) or 3 (GRU: r, z, n).
Parameters use PyTorch's names and shapes: ``weight_ih_l{k}`` ``(G*H, I_k)``,
``weight_hh_l{k}`` ``(G*H, H)``, ``bias_ih_l{k}`` / ``bias_hh_l{k}`` ``(G*H,)``, with the
suffix ``_reverse`` for the backward direction of a bidirectional layer; without bias the
bias keys are absent.  The cell equations are PyTorch's::

    RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)              act = tanh or relu
    LSTM: i, f, g, o = sig, sig, tanh, sig (W_ih x + b_ih + W_hh h + b_hh)  (split in 4)
          c' = f * c + i * g;   h' = o * tanh(c')
    GRU:  r = sig(W_ir x + b_ir + W_hr h + b_hr);  z = sig(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r * (W_hn h + b_hn));  h' = (1 - z) * n + z * h

Two levels of API
-----------------
* Single-layer, single-direction kernels over time-major arrays -- ``rnn_layer_forward`` /
  ``rnn_layer_backward``, ``gru_layer_*``, ``lstm_layer_*``.  They are what an autograd
  ``Function`` wraps to run a whole layer as one node (``fused=True`` in ``minigrad.nn``).
  The reverse direction of a bidirectional layer is the same kernel run on the
  time-reversed input.
* Whole-module functions with ``nn.RNN``-style arguments -- ``rnn_forward`` /
  ``rnn_backward``, ``gru_*``, ``lstm_*`` -- built on one generic driver that handles
  layers, directions, ``batch_first`` and unbatched input for all three cells.

Cache layout
------------
``*_forward`` returns a :class:`BPTTCache`; ``cache.layers[k][d]`` is the kernel cache of
layer ``k``, direction ``d`` (0 forward, 1 reverse, whose arrays are in reversed time
order).  A kernel cache holds only what its backward needs:

* ``xs`` ``(T, B, I)``: the layer input (for ``dW_ih``); ``w_ih``, ``w_hh`` (for ``dx`` and
  the recurrence);
* ``hs`` ``(T+1, B, H)``: ``hs[0] = h0`` and ``hs[t+1] = h_t``, so ``hs[:-1]`` is the
  "previous state" of every step as one contiguous block (for ``dW_hh``);
* RNN: nothing else -- ``act'`` is recomputed from ``h_t`` (``1 - h^2`` or ``h > 0``);
* LSTM: ``gates`` ``(T, B, 4H)`` after their nonlinearities, ``cs`` ``(T+1, B, H)``
  (``cs[0] = c0``) and ``tanh_cs`` ``(T, B, H)``;
* GRU: ``gates`` ``(T, B, 3H)`` holding r, z, n after their nonlinearities and ``hn``
  ``(T, B, H)`` = ``W_hn h_{t-1} + b_hn`` (needed for dr).

Results have ``x``'s array kind and dtype (parameters and states are cast to it).
Dropout between layers is not supported.

Variable lengths
----------------
``*_forward(..., lengths=...)`` (one length per sequence, batch order) computes what
the layers compute on a ``PackedSequence``: the driver sorts the batch by decreasing
length, so at step ``t`` the ``batch_sizes[t]`` sequences still running are the leading
rows, and the kernels (``batch_sizes=``) update only those rows -- a finished sequence
keeps its state, so the final states are taken at each sequence's end, and in the
backward its ``dh`` passes the padded steps unchanged while its gate gradients there
are 0 (so the one-GEMM weight gradients ignore the padding).  The reverse direction
runs on each sequence reversed within its own length (an index gather), so it starts
at the sequence's own last step.  ``out`` and ``grads['input']`` are 0 past each end.
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy

__all__ = [
    "BPTTCache",
    "rnn_forward",
    "rnn_backward",
    "gru_forward",
    "gru_backward",
    "lstm_forward",
    "lstm_backward",
    "rnn_layer_forward",
    "rnn_layer_backward",
    "gru_layer_forward",
    "gru_layer_backward",
    "lstm_layer_forward",
    "lstm_layer_backward",
]

NONLINEARITIES = ("tanh", "relu")


# ----------------------------------------------------------------------------- helpers
@functools.cache
def _cupy():
    """The ``cupy`` module, or ``None`` when it cannot be imported."""
    try:
        import cupy
    except Exception:  # not installed, or installed without a usable CUDA setup
        return None
    return cupy


try:  # minigrad's host array pool: work buffers reused from call to call (no fresh pages)
    from minigrad.backend import empty as _pool_empty
    from minigrad.backend import matmul as _pool_matmul
except ImportError:  # this module also runs on its own, on plain NumPy/CuPy
    _pool_empty = _pool_matmul = None


def _empty(xp, shape, dtype):
    """An uninitialized work array; on NumPy from minigrad's array pool when there."""
    if xp is numpy and _pool_empty is not None:
        return _pool_empty(shape, dtype)
    return xp.empty(shape, dtype=dtype)


def _gemm(a, b):
    """``a @ b`` of 2-D arrays; on NumPy into a pooled result when minigrad is there."""
    return a @ b if _pool_matmul is None else _pool_matmul(a, b)


def _contiguous(xp, a):
    """``a`` if C-contiguous, else a copy of it in a (pooled) work array."""
    if a.flags.c_contiguous:
        return a
    out = _empty(xp, a.shape, dtype=a.dtype)
    out[...] = a
    return out


def _one_minus_square(xp, a, out):
    """``out = 1 - a^2``, in place."""
    xp.multiply(a, a, out=out)
    xp.subtract(1.0, out, out=out)


def _times_sigmoid_slope(xp, s, other, out, tmp):
    """``out = other * s (1 - s)`` for a sigmoid output ``s``, through the work array
    ``tmp`` (which may be ``other``; ``out`` may be ``other`` when ``tmp`` is not)."""
    if tmp is other:
        xp.subtract(1.0, s, out=out)
        out *= s
        out *= other
    else:
        xp.subtract(1.0, s, out=tmp)
        tmp *= s
        xp.multiply(tmp, other, out=out)


def _xp(x):
    """Array module (``numpy`` or ``cupy``) that owns ``x``."""
    cp = _cupy()
    return numpy if cp is None else cp.get_array_module(x)


def _sigmoid_(xp, a):
    """In-place logistic sigmoid, via ``sig(a) = (1 + tanh(a / 2)) / 2`` (no overflow)."""
    a *= 0.5
    xp.tanh(a, out=a)
    a += 1.0
    a *= 0.5
    return a


def _check_nonlinearity(nonlinearity):
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(
            f"unknown nonlinearity {nonlinearity!r}: expected one of {NONLINEARITIES}"
        )


def _step_matmul(xp, a, b):
    """The function for the per-step products ``a_t @ b`` written into an ``out=``
    buffer of ``a``'s dtype.  For NumPy arrays of one dtype it is ``numpy.dot``: for
    2-D arrays the same BLAS product as ``numpy.matmul`` (same results), with less
    per-call overhead, which counts at one call per timestep on small sizes.
    Otherwise ``matmul``, which also casts into an ``out`` of another dtype."""
    if xp is numpy and a.dtype == b.dtype:
        return numpy.dot
    return xp.matmul


def _zeros_or_copy(xp, a, shape, dtype):
    """A fresh ``shape`` array: a copy of ``a``, or zeros when ``a`` is None."""
    out = _empty(xp, shape, dtype=dtype)
    out[...] = 0 if a is None else a
    return out


def _step_views(batch_sizes, *arrays):
    """Per-step views ``a[t]`` of ``(T, B, ...)`` arrays -- with ``batch_sizes`` only
    step ``t``'s active rows, ``a[t, :n_t]`` -- made once before a loop: building a view
    inside the loop costs Python time every step, which counts at small sizes."""
    if batch_sizes is None:
        return [list(a) for a in arrays]
    return [[a[t, :n] for t, n in enumerate(batch_sizes)] for a in arrays]


def _state_views(batch_sizes, states):
    """``(prev, next)`` per-step views of a ``(T+1, B, H)`` state array: the state
    before and after step ``t`` (active rows only with ``batch_sizes``)."""
    if batch_sizes is None:
        views = list(states)  # T+1 views, shared by both lists
        return views[:-1], views[1:]
    return _step_views(batch_sizes, states[:-1], states[1:])


def _row_views(batch_sizes, T, *buffers):
    """Per-step views ``buf[:n_t]`` of ``(B, ...)`` work buffers (the buffer itself,
    every step, without ``batch_sizes``)."""
    if batch_sizes is None:
        return [[b] * T for b in buffers]
    return [[b[:n] for n in batch_sizes] for b in buffers]


def _step_mask(xp, batch_sizes, B, dtype):
    """``(T, B, 1)``: 1 where step ``t`` of row ``b`` is inside its sequence, else 0."""
    sizes = numpy.asarray(batch_sizes)
    mask = (numpy.arange(B)[None, :] < sizes[:, None]).astype(dtype)[:, :, None]
    return xp.asarray(mask)


def _hold_past_ends(xp, batch_sizes, *states):
    """After a ``batch_sizes`` loop (which only wrote each step's active rows): every
    sequence keeps its state past its end, so ``states[-1]`` is the state at each
    sequence's own end.  ``states``: ``(T+1, B, H)`` arrays with ``[0]`` the initial
    state; one vectorised ``where`` each, no per-step work."""
    if batch_sizes is None:
        return
    sizes = numpy.asarray(batch_sizes)
    B = states[0].shape[1]
    lengths = (sizes[None, :] > numpy.arange(B)[:, None]).sum(axis=1)
    mask = _step_mask(xp, batch_sizes, B, bool)
    rows = xp.arange(B)
    for s in states:
        last = s[xp.asarray(lengths), rows]  # (B, H): the state after each last step
        s[1:] = xp.where(mask, s[1:], last[None])


def _mask_step_grads(xp, step_grads, batch_sizes, B):
    """Per-step gradients recorded by a backward (``step_grads``) are 0 past each
    sequence's end: those steps do not exist for it."""
    if step_grads is not None and batch_sizes is not None:
        for s in step_grads:
            s *= _step_mask(xp, batch_sizes, B, s.dtype)


def _weight_grads(xp, dgates, xs, hs_prev, w_ih, input_grad=True):
    """Gradients that are sums over all timesteps, each as ONE GEMM over ``T*B`` rows.

    ``dgates`` ``(T, B, G*H)`` holds dL/d(pre-activation) of every step, ``xs``
    ``(T, B, I)`` the inputs and ``hs_prev`` ``(T, B, H)`` the previous states.
    Returns ``(dx (T, B, I), dw_ih (G*H, I), dw_hh (G*H, H), db (G*H,))``; ``dx`` is
    ``None`` when ``input_grad`` is False (the input needs no gradient).
    """
    T, B, GH = dgates.shape
    d2 = dgates.reshape(T * B, GH)
    # dx_t = dgates_t @ W_ih        (for all t at once)
    dx = _gemm(d2, w_ih).reshape(T, B, w_ih.shape[1]) if input_grad else None
    # dW_ih = sum_t dgates_t^T @ x_t
    dw_ih = _gemm(d2.T, xs.reshape(T * B, -1))
    # dW_hh = sum_t dgates_t^T @ h_{t-1}
    dw_hh = _gemm(d2.T, hs_prev.reshape(T * B, -1))
    # db = sum_t sum_batch dgates_t
    db = d2.sum(axis=0)
    return dx, dw_ih, dw_hh, db


# ------------------------------------------------------------------------ RNN kernel
class RNNLayerCache(NamedTuple):
    """What :func:`rnn_layer_backward` needs (see the module docstring)."""

    xs: Any  # (T, B, I) layer input
    w_ih: Any  # (H, I)
    w_hh: Any  # (H, H)
    hs: Any  # (T+1, B, H): hs[0] = h0, hs[t+1] = h_t
    nonlinearity: str
    has_bias: bool
    batch_sizes: Any = None  # active rows per step (variable lengths), or None


def rnn_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, h0, nonlinearity="tanh", batch_sizes=None):
    """One direction of one Elman RNN layer, time-major.

    ``h_t = act(x_t @ w_ih.T + b_ih + h_{t-1} @ w_hh.T + b_hh)``, ``act`` = tanh or relu.

    Args:
        xs: ``(T, B, I)`` inputs.  w_ih: ``(H, I)``.  w_hh: ``(H, H)``.
        b_ih, b_hh: ``(H,)`` or both ``None`` (no bias).
        h0: ``(B, H)`` initial state, or ``None`` for zeros.
        nonlinearity: ``'tanh'`` or ``'relu'``.
        batch_sizes: ``None``, or for sequences of different lengths, sorted by
            decreasing length: ``batch_sizes[t]`` = how many of them are longer than
            ``t`` (the packed layout).  Step ``t`` then only computes those leading
            rows; the others keep their state, so ``hs[-1]`` is every sequence's state
            at its own end (see :func:`lstm_layer_forward`).
    All arrays must share one array module and dtype.

    Returns:
        ``(hs, cache)``: ``hs`` ``(T, B, H)`` is ``h_1 .. h_T`` (a view into the cache, do
        not modify it); the final state is ``hs[-1]``.
    """
    _check_nonlinearity(nonlinearity)
    xp = _xp(xs)
    xs = _contiguous(xp, xs)
    T, B, I = xs.shape
    H = w_hh.shape[1]
    has_bias = b_ih is not None
    # Input projection of every timestep in one GEMM, both biases folded in:
    # pre[t] = x_t @ W_ih^T + b_ih + b_hh
    pre = _gemm(xs.reshape(T * B, I), w_ih.T).reshape(T, B, H)
    if has_bias:
        pre += b_ih + b_hh
    hs = _empty(xp, (T + 1, B, H), dtype=xs.dtype)
    hs[0] = 0 if h0 is None else h0
    w_hh_t = w_hh.T
    # The per-step views are made in one go (``hs[t]`` inside the loop would build a
    # new view object every step) and the functions are looked up once: at small
    # sizes this Python overhead is a good part of the step's cost.  With
    # ``batch_sizes`` the views hold only each step's active rows.
    h_prev, h_next = _state_views(batch_sizes, hs)
    (pre_steps,) = _step_views(batch_sizes, pre)
    matmul, tanh, use_tanh = _step_matmul(xp, hs, w_hh), xp.tanh, nonlinearity == "tanh"
    for t in range(T):
        h = h_next[t]
        matmul(h_prev[t], w_hh_t, out=h)  # h_{t-1} @ W_hh^T
        h += pre_steps[t]
        if use_tanh:
            tanh(h, out=h)
        else:
            xp.maximum(h, 0, out=h)
    _hold_past_ends(xp, batch_sizes, hs)
    return hs[1:], RNNLayerCache(xs, w_ih, w_hh, hs, nonlinearity, has_bias, batch_sizes)


def rnn_layer_backward(cache, dhs, dh_last=None, input_grad=True, step_grads=None):
    """BPTT through one direction of one RNN layer.

    Args:
        cache: from :func:`rnn_layer_forward`.
        dhs: ``(T, B, H)`` dL/dh_t from outside the recurrence (the layer output), or
            ``None`` for zeros.  May be any strided view.
        dh_last: ``(B, H)`` extra dL/dh_T (the final state), or ``None``.
        step_grads: ``None``, or ``(dh_steps,)`` with a ``(T, B, H)`` array that receives
            the total dL/dh_t of every step (in this kernel's time order).

    Returns:
        ``(dx (T, B, I), dh0 (B, H), dw_ih, dw_hh, db_ih, db_hh)``; the bias gradients are
        ``None`` when the layer has no bias; ``dx`` is ``None`` when ``input_grad`` is
        False (skips one GEMM when the input needs no gradient).
    """
    xs, w_ih, w_hh, hs, nonlinearity, has_bias, batch_sizes = cache
    xp = _xp(xs)
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    # Local derivative act'(pre_t) for every step, from the stored outputs h_t:
    dpre = _empty(xp, (T, B, H), dtype=hs.dtype)
    if nonlinearity == "tanh":
        # tanh'(pre) = 1 - tanh(pre)^2 = 1 - h^2
        xp.multiply(hs[1:], hs[1:], out=dpre)
        xp.subtract(1.0, dpre, out=dpre)
    else:
        # relu'(pre) = 1 where h > 0, else 0 (also 0 at 0)
        dpre[...] = hs[1:] > 0
    dh = _zeros_or_copy(xp, dh_last, (B, H), hs.dtype)
    # per-step views made once, as in the forward loop; with batch_sizes only the
    # active rows: a finished sequence's dh passes its padded steps unchanged (its
    # state was carried), and nothing from outside enters there
    if batch_sizes is not None:
        dpre *= _step_mask(xp, batch_sizes, B, dpre.dtype)
    (dh_rows,) = _row_views(batch_sizes, T, dh)
    (dpre_steps,) = _step_views(batch_sizes, dpre)
    dhs_steps = None if dhs is None else _step_views(batch_sizes, dhs)[0]
    matmul = _step_matmul(xp, dpre, w_hh)
    dh_steps = None if step_grads is None else step_grads[0]
    for t in range(T - 1, -1, -1):
        dh_t = dh_rows[t]
        # dh = dL/dh_t: from above plus from step t+1
        if dhs_steps is not None:
            dh_t += dhs_steps[t]
        if dh_steps is not None:
            dh_steps[t] = dh
        # dpre_t = act'(pre_t) * dh
        dpre_t = dpre_steps[t]
        dpre_t *= dh_t
        # dh_{t-1} = dpre_t @ W_hh
        matmul(dpre_t, w_hh, out=dh_t)
    _mask_step_grads(xp, step_grads, batch_sizes, B)
    dx, dw_ih, dw_hh, db = _weight_grads(xp, dpre, xs, hs[:-1], w_ih, input_grad)
    # b_ih and b_hh enter the same sum, so both get db
    db_ih, db_hh = (db, db.copy()) if has_bias else (None, None)
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


# ----------------------------------------------------------------------- LSTM kernel
class LSTMLayerCache(NamedTuple):
    """What :func:`lstm_layer_backward` needs (see the module docstring)."""

    xs: Any  # (T, B, I)
    w_ih: Any  # (4H, I)
    w_hh: Any  # (4H, H)
    hs: Any  # (T+1, B, H): hs[0] = h0
    cs: Any  # (T+1, B, H): cs[0] = c0
    gates: Any  # (T, B, 4H): i, f, g, o after their nonlinearities
    tanh_cs: Any  # (T, B, H): tanh(c_t)
    has_bias: bool
    batch_sizes: Any = None  # active rows per step (variable lengths), or None


def lstm_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, h0, c0, batch_sizes=None):
    """One direction of one LSTM layer, time-major (gate order i, f, g, o).

    ``i, f, g, o = sig, sig, tanh, sig(x_t @ w_ih.T + b_ih + h_{t-1} @ w_hh.T + b_hh)``,
    ``c_t = f * c_{t-1} + i * g``, ``h_t = o * tanh(c_t)``.

    Args:
        xs: ``(T, B, I)``.  w_ih: ``(4H, I)``.  w_hh: ``(4H, H)``.
        b_ih, b_hh: ``(4H,)`` or both ``None``.
        h0, c0: ``(B, H)`` or ``None`` for zeros.
        batch_sizes: variable lengths, as :func:`rnn_layer_forward`: ``xs`` holds
            the batch sorted by decreasing length, right-padded, and ``batch_sizes[t]``
            counts the sequences longer than ``t``.  Step ``t`` updates only those
            leading rows; the others carry their ``h`` and ``c`` unchanged (so
            ``hs[-1]`` and ``c_last`` are taken at each sequence's end), and
            their outputs past the end are that carried state.

    Returns:
        ``(hs, c_last, cache)``: ``hs`` ``(T, B, H)`` (a view into the cache), ``c_last``
        ``(B, H)`` the final cell state; the final hidden state is ``hs[-1]``.
    """
    xp = _xp(xs)
    xs = _contiguous(xp, xs)
    T, B, I = xs.shape
    H = w_hh.shape[1]
    dtype = xs.dtype
    has_bias = b_ih is not None
    # All input projections in one GEMM: gates[t] = x_t @ W_ih^T + b_ih + b_hh
    gates = _gemm(xs.reshape(T * B, I), w_ih.T).reshape(T, B, 4 * H)
    if has_bias:
        gates += b_ih + b_hh
    hs = _empty(xp, (T + 1, B, H), dtype=dtype)
    cs = _empty(xp, (T + 1, B, H), dtype=dtype)
    # past a sequence's end nothing writes tanh(c): zeros keep the backward finite
    tanh_cs = (_empty(xp, (T, B, H), dtype=dtype) if batch_sizes is None
               else xp.zeros((T, B, H), dtype=dtype))
    hs[0] = 0 if h0 is None else h0
    cs[0] = 0 if c0 is None else c0
    rec = _empty(xp, (B, 4 * H), dtype=dtype)
    ig = _empty(xp, (B, H), dtype=dtype)
    w_hh_t = w_hh.T
    # per-step views made once (with batch_sizes: only the rows still running)
    h_prev, h_next = _state_views(batch_sizes, hs)
    c_prev, c_next = _state_views(batch_sizes, cs)
    a_steps, tc_steps = _step_views(batch_sizes, gates, tanh_cs)
    rec_rows, ig_rows = _row_views(batch_sizes, T, rec, ig)
    for t in range(T):
        a, r, ig_t, tc = a_steps[t], rec_rows[t], ig_rows[t], tc_steps[t]
        xp.matmul(h_prev[t], w_hh_t, out=r)  # h_{t-1} @ W_hh^T
        a += r
        _sigmoid_(xp, a[:, : 2 * H])  # i, f
        xp.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])  # g
        _sigmoid_(xp, a[:, 3 * H :])  # o
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c = c_next[t]
        xp.multiply(f, c_prev[t], out=c)  # c_t = f * c_{t-1} + i * g
        xp.multiply(i, g, out=ig_t)
        c += ig_t
        xp.tanh(c, out=tc)
        xp.multiply(o, tc, out=h_next[t])  # h_t = o * tanh(c_t)
    _hold_past_ends(xp, batch_sizes, hs, cs)
    cache = LSTMLayerCache(xs, w_ih, w_hh, hs, cs, gates, tanh_cs, has_bias, batch_sizes)
    return hs[1:], cs[T], cache


def lstm_layer_backward(cache, dhs, dh_last=None, dc_last=None, input_grad=True,
                        step_grads=None):
    """BPTT through one direction of one LSTM layer.

    Args:
        cache: from :func:`lstm_layer_forward`.
        dhs: ``(T, B, H)`` dL/dh_t from the layer output, or ``None``.
        dh_last, dc_last: ``(B, H)`` dL/dh_T and dL/dc_T from the final states, or ``None``.
        step_grads: ``None``, or ``(dh_steps, dc_steps)``, ``(T, B, H)`` arrays that
            receive the total dL/dh_t and dL/dc_t of every step.

    Returns:
        ``(dx (T, B, I), dh0 (B, H), dc0 (B, H), dw_ih, dw_hh, db_ih, db_hh)``; bias
        gradients are ``None`` without bias.
    """
    xs, w_ih, w_hh, hs, cs, gates, tanh_cs, has_bias, batch_sizes = cache
    xp = _xp(xs)
    T, B, H = tanh_cs.shape
    dtype = hs.dtype
    gi, gf, gg, go = (gates[..., k * H : (k + 1) * H] for k in range(4))
    # Before the loop, the local factors of every step, written straight into dgates
    # (viewed as (T, B, 4, H)); the loop then only multiplies them by dc or dh:
    dgates = _empty(xp, (T, B, 4 * H), dtype=dtype)
    d4 = dgates.reshape(T, B, 4, H)
    # (each as in-place products through one work array: no temporaries)
    tmp3 = _empty(xp, (T, B, H), dtype=dtype)
    _times_sigmoid_slope(xp, gi, gg, d4[:, :, 0], tmp3)  # di_raw = dc * g * i(1-i)
    _times_sigmoid_slope(xp, gf, cs[:-1], d4[:, :, 1], tmp3)  # df_raw = dc * c_{t-1} * f(1-f)
    _one_minus_square(xp, gg, tmp3)
    xp.multiply(tmp3, gi, out=d4[:, :, 2])  # dg_raw = dc * i * (1-g^2)
    _times_sigmoid_slope(xp, go, tanh_cs, d4[:, :, 3], tmp3)  # do_raw = dh * tanh(c_t) * o(1-o)
    dc_dh = _empty(xp, (T, B, H), dtype=dtype)  # dc += dh * o * (1 - tanh(c_t)^2)
    _one_minus_square(xp, tanh_cs, dc_dh)
    dc_dh *= go
    del tmp3
    if batch_sizes is not None:  # no gate gradient past a sequence's end
        dgates *= _step_mask(xp, batch_sizes, B, dtype)
    dh = _zeros_or_copy(xp, dh_last, (B, H), dtype)
    dc = _zeros_or_copy(xp, dc_last, (B, H), dtype)
    tmp = _empty(xp, (B, H), dtype=dtype)
    dh_steps, dc_steps = (None, None) if step_grads is None else step_grads
    # per-step views made once; with batch_sizes only the rows still running at step
    # t: the others' dh, dc pass their padded steps unchanged
    dh_rows, dc_rows, tmp_rows = _row_views(batch_sizes, T, dh, dc, tmp)
    ifg_steps, o_steps, dg_steps, dc_dh_steps, gf_steps = _step_views(
        batch_sizes, d4[:, :, :3], d4[:, :, 3], dgates, dc_dh, gf)
    dhs_steps = None if dhs is None else _step_views(batch_sizes, dhs)[0]
    for t in range(T - 1, -1, -1):
        dh_t, dc_t, tmp_t = dh_rows[t], dc_rows[t], tmp_rows[t]
        # dh = dL/dh_t: from above plus from step t+1
        if dhs_steps is not None:
            dh_t += dhs_steps[t]
        # dc = dL/dc_t = dc (from step t+1 and c_T) + dh * o * (1 - tanh(c_t)^2)
        xp.multiply(dh_t, dc_dh_steps[t], out=tmp_t)
        dc_t += tmp_t
        if dh_steps is not None:
            dh_steps[t] = dh
            dc_steps[t] = dc
        # [di_raw, df_raw, dg_raw] = dc * factors;  do_raw = dh * factor
        ifg_steps[t] *= dc_t[:, None, :]
        o_steps[t] *= dh_t
        # dc_{t-1} = dc * f
        dc_t *= gf_steps[t]
        # dh_{t-1} = dgates_t @ W_hh
        xp.matmul(dg_steps[t], w_hh, out=dh_t)
    _mask_step_grads(xp, step_grads, batch_sizes, B)
    dx, dw_ih, dw_hh, db = _weight_grads(xp, dgates, xs, hs[:-1], w_ih, input_grad)
    db_ih, db_hh = (db, db.copy()) if has_bias else (None, None)
    return dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh


# ------------------------------------------------------------------------ GRU kernel
class GRULayerCache(NamedTuple):
    """What :func:`gru_layer_backward` needs (see the module docstring)."""

    xs: Any  # (T, B, I)
    w_ih: Any  # (3H, I)
    w_hh: Any  # (3H, H)
    hs: Any  # (T+1, B, H): hs[0] = h0
    gates: Any  # (T, B, 3H): r, z, n after their nonlinearities
    hn: Any  # (T, B, H): W_hn h_{t-1} + b_hn
    has_bias: bool
    batch_sizes: Any = None  # active rows per step (variable lengths), or None


def gru_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, h0, batch_sizes=None):
    """One direction of one GRU layer, time-major (gate order r, z, n).

    ``r, z = sig(W_i{r,z} x_t + b_i{r,z} + W_h{r,z} h_{t-1} + b_h{r,z})``,
    ``n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))``, ``h_t = (1-z) * n + z * h_{t-1}``.

    Args:
        xs: ``(T, B, I)``.  w_ih: ``(3H, I)``.  w_hh: ``(3H, H)``.
        b_ih, b_hh: ``(3H,)`` or both ``None``.  h0: ``(B, H)`` or ``None`` for zeros.
        batch_sizes: variable lengths, as :func:`lstm_layer_forward`.

    Returns:
        ``(hs, cache)`` with ``hs`` ``(T, B, H)`` (a view into the cache).
    """
    xp = _xp(xs)
    xs = _contiguous(xp, xs)
    T, B, I = xs.shape
    H = w_hh.shape[1]
    dtype = xs.dtype
    has_bias = b_ih is not None
    # All input projections in one GEMM: gates[t] = x_t @ W_ih^T + b_ih, plus b_hh for
    # r and z (b_hn cannot be folded: it sits inside r * (W_hn h + b_hn)).
    gates = _gemm(xs.reshape(T * B, I), w_ih.T).reshape(T, B, 3 * H)
    if has_bias:
        gates += b_ih
        gates[..., : 2 * H] += b_hh[: 2 * H]
        b_hn = b_hh[2 * H :]
    hs = _empty(xp, (T + 1, B, H), dtype=dtype)
    hs[0] = 0 if h0 is None else h0
    # past a sequence's end nothing writes hn: zeros keep the backward finite
    hn = (_empty(xp, (T, B, H), dtype=dtype) if batch_sizes is None
          else xp.zeros((T, B, H), dtype=dtype))
    rec = _empty(xp, (B, 3 * H), dtype=dtype)
    rhn = _empty(xp, (B, H), dtype=dtype)
    w_hh_t = w_hh.T
    # per-step views made once (with batch_sizes: only the rows still running)
    h_prev, h_next = _state_views(batch_sizes, hs)
    a_steps, hn_steps = _step_views(batch_sizes, gates, hn)
    rec_rows, rhn_rows = _row_views(batch_sizes, T, rec, rhn)
    for t in range(T):
        a, rec_t, hn_t, rhn_t = a_steps[t], rec_rows[t], hn_steps[t], rhn_rows[t]
        xp.matmul(h_prev[t], w_hh_t, out=rec_t)  # h_{t-1} @ W_hh^T
        rz = a[:, : 2 * H]
        rz += rec_t[:, : 2 * H]
        _sigmoid_(xp, rz)  # r, z
        r, z, n = a[:, :H], a[:, H : 2 * H], a[:, 2 * H :]
        if has_bias:  # hn = W_hn h_{t-1} + b_hn
            xp.add(rec_t[:, 2 * H :], b_hn, out=hn_t)
        else:
            hn_t[...] = rec_t[:, 2 * H :]
        xp.multiply(r, hn_t, out=rhn_t)  # n = tanh(W_in x + b_in + r * hn)
        n += rhn_t
        xp.tanh(n, out=n)
        h = h_next[t]  # h_t = n + z * (h_{t-1} - n)
        xp.subtract(h_prev[t], n, out=h)
        h *= z
        h += n
    _hold_past_ends(xp, batch_sizes, hs)
    return hs[1:], GRULayerCache(xs, w_ih, w_hh, hs, gates, hn, has_bias, batch_sizes)


def gru_layer_backward(cache, dhs, dh_last=None, input_grad=True, step_grads=None):
    """BPTT through one direction of one GRU layer.

    Args:
        cache: from :func:`gru_layer_forward`.
        dhs: ``(T, B, H)`` dL/dh_t from the layer output, or ``None``.
        dh_last: ``(B, H)`` dL/dh_T from the final state, or ``None``.
        step_grads: ``None``, or ``(dh_steps,)`` with a ``(T, B, H)`` array that receives
            the total dL/dh_t of every step.

    Returns:
        ``(dx (T, B, I), dh0 (B, H), dw_ih, dw_hh, db_ih, db_hh)``; bias gradients are
        ``None`` without bias.
    """
    xs, w_ih, w_hh, hs, gates, hn, has_bias, batch_sizes = cache
    xp = _xp(xs)
    T, B, H = hn.shape
    dtype = hs.dtype
    r, z, n = gates[..., :H], gates[..., H : 2 * H], gates[..., 2 * H :]
    # The recurrent side sees pre-activations [r_raw, z_raw, hn]; their gradients go in
    # dgh (T, B, 3H), seeded before the loop with the factors that multiply dh:
    # dn_raw = dh * (1-z) * (1-n^2)
    # (each as in-place products through one work array: no temporaries)
    tmp3 = _empty(xp, (T, B, H), dtype=dtype)
    dn = _empty(xp, (T, B, H), dtype=dtype)
    _one_minus_square(xp, n, dn)
    xp.subtract(1.0, z, out=tmp3)
    dn *= tmp3
    dgh = _empty(xp, (T, B, 3 * H), dtype=dtype)
    d3 = dgh.reshape(T, B, 3, H)
    xp.multiply(dn, hn, out=tmp3)
    _times_sigmoid_slope(xp, r, tmp3, d3[:, :, 0], tmp3)  # dr_raw = dn_raw * hn * r(1-r)
    xp.subtract(hs[:-1], n, out=d3[:, :, 1])
    _times_sigmoid_slope(xp, z, d3[:, :, 1], d3[:, :, 1], tmp3)  # dz_raw = dh (h_{t-1} - n) z(1-z)
    xp.multiply(dn, r, out=d3[:, :, 2])  # dhn = dn_raw * r
    del tmp3
    if batch_sizes is not None:  # no gate gradient past a sequence's end
        mask = _step_mask(xp, batch_sizes, B, dtype)
        dgh *= mask
        dn *= mask
    dh = _zeros_or_copy(xp, dh_last, (B, H), dtype)
    rec = _empty(xp, (B, H), dtype=dtype)
    dh_steps = None if step_grads is None else step_grads[0]
    # per-step views made once; with batch_sizes only the rows still running at step
    # t: the others' dh passes their padded steps unchanged
    dh_rows, rec_rows = _row_views(batch_sizes, T, dh, rec)
    d3_steps, dn_steps, dgh_steps, z_steps = _step_views(batch_sizes, d3, dn, dgh, z)
    dhs_steps = None if dhs is None else _step_views(batch_sizes, dhs)[0]
    for t in range(T - 1, -1, -1):
        dh_t, rec_t = dh_rows[t], rec_rows[t]
        # dh = dL/dh_t: from above plus from step t+1
        if dhs_steps is not None:
            dh_t += dhs_steps[t]
        if dh_steps is not None:
            dh_steps[t] = dh
        d3_steps[t] *= dh_t[:, None, :]
        dn_steps[t] *= dh_t
        # dh_{t-1} = dh * z + [dr_raw, dz_raw, dhn] @ W_hh
        xp.matmul(dgh_steps[t], w_hh, out=rec_t)
        dh_t *= z_steps[t]
        dh_t += rec_t
    _mask_step_grads(xp, step_grads, batch_sizes, B)
    # Recurrent side: dW_hh = sum_t dgh_t^T @ h_{t-1};  db_hh = sum dgh
    T_B = T * B
    dgh2 = dgh.reshape(T_B, 3 * H)
    dw_hh = _gemm(dgh2.T, hs[:-1].reshape(T_B, H))
    db_hh = dgh2.sum(axis=0) if has_bias else None
    # Input side sees [r_raw, z_raw, n_raw]: reuse dgh, replacing the hn slot by dn_raw
    d3[:, :, 2] = dn
    # dx = dgi @ W_ih;  dW_ih = sum_t dgi_t^T @ x_t;  db_ih = sum dgi
    dx = _gemm(dgh2, w_ih).reshape(T, B, w_ih.shape[1]) if input_grad else None
    dw_ih = _gemm(dgh2.T, xs.reshape(T_B, -1))
    db_ih = dgh2.sum(axis=0) if has_bias else None
    return dx, dh, dw_ih, dw_hh, db_ih, db_hh


# ---------------------------------------------------------------- generic driver
@dataclass(frozen=True)
class _CellSpec:
    """How the generic driver calls one cell type's kernels.

    ``forward(xs, w_ih, w_hh, b_ih, b_hh, states, **opts) -> (hs, final_states, cache)``
    and ``backward(cache, dhs, d_final_states) -> (dx, d_states, (dw_ih, dw_hh, db_ih,
    db_hh))``, where the state tuples hold ``(h,)`` or ``(h, c)``.
    """

    name: str
    num_gates: int
    state_names: tuple[str, ...]
    forward: Callable
    backward: Callable


def _rnn_fw(xs, w_ih, w_hh, b_ih, b_hh, states, nonlinearity="tanh", batch_sizes=None):
    hs, cache = rnn_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, states[0], nonlinearity,
                                  batch_sizes)
    return hs, (hs[-1],), cache


def _rnn_bw(cache, dhs, d_finals, step_grads=None):
    dx, dh0, *dw = rnn_layer_backward(cache, dhs, d_finals[0], step_grads=step_grads)
    return dx, (dh0,), dw


def _gru_fw(xs, w_ih, w_hh, b_ih, b_hh, states, batch_sizes=None):
    hs, cache = gru_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, states[0], batch_sizes)
    return hs, (hs[-1],), cache


def _gru_bw(cache, dhs, d_finals, step_grads=None):
    dx, dh0, *dw = gru_layer_backward(cache, dhs, d_finals[0], step_grads=step_grads)
    return dx, (dh0,), dw


def _lstm_fw(xs, w_ih, w_hh, b_ih, b_hh, states, batch_sizes=None):
    hs, c_last, cache = lstm_layer_forward(xs, w_ih, w_hh, b_ih, b_hh, *states,
                                           batch_sizes=batch_sizes)
    return hs, (hs[-1], c_last), cache


def _lstm_bw(cache, dhs, d_finals, step_grads=None):
    dx, dh0, dc0, *dw = lstm_layer_backward(cache, dhs, *d_finals, step_grads=step_grads)
    return dx, (dh0, dc0), dw


_RNN = _CellSpec("rnn", 1, ("h0",), _rnn_fw, _rnn_bw)
_GRU = _CellSpec("gru", 3, ("h0",), _gru_fw, _gru_bw)
_LSTM = _CellSpec("lstm", 4, ("h0", "c0"), _lstm_fw, _lstm_bw)


@dataclass
class BPTTCache:
    """Everything ``*_backward`` needs from ``*_forward`` (see the module docstring)."""

    cell: str  # 'rnn' | 'gru' | 'lstm'
    layers: list  # layers[k][d]: kernel cache of layer k, direction d
    param_keys: list  # the keys of ``params``, in their order
    has_bias: bool
    num_layers: int
    num_directions: int
    hidden_size: int
    batch_first: bool
    unbatched: bool
    out_shape: tuple  # shape of ``out`` as returned
    state_shape: tuple  # shape of h0 / h_n as given / returned
    dtype: Any
    xp: Any  # numpy or cupy
    layout: Any = None  # _LengthLayout with variable lengths, else None


class _LengthLayout:
    """How the driver runs a batch of sequences of different ``lengths`` (batch order)
    on the kernels: sorted by decreasing length (``order``; ``inverse`` undoes it), with
    ``batch_sizes[t]`` rows active at step ``t``.  The reverse direction reads each
    sequence backwards from its OWN last step: ``rev`` (an index pair over ``(T, B)``)
    reverses every sorted sequence within its length and leaves the padding in place;
    it is its own inverse."""

    def __init__(self, lengths, T, xp):
        self.order = numpy.argsort(-lengths, kind="stable")
        self.inverse = numpy.argsort(self.order)
        sorted_lengths = lengths[self.order]
        t = numpy.arange(T)[:, None]
        self.batch_sizes = (sorted_lengths[None, :] > t).sum(axis=1)
        inside = t < sorted_lengths[None, :]
        self.rev = (xp.asarray(numpy.where(inside, sorted_lengths - 1 - t, t)),
                    xp.asarray(numpy.arange(len(lengths))[None, :]))
        self.mask = xp.asarray(inside[:, :, None])  # (T, B, 1) valid steps, sorted order
        self.order_xp, self.inverse_xp = xp.asarray(self.order), xp.asarray(self.inverse)


def _check_lengths(lengths, B, T):
    """``lengths`` as a host int64 ``(B,)`` array with values in ``[1, T]``."""
    cp = _cupy()
    if cp is not None and isinstance(lengths, cp.ndarray):
        lengths = lengths.get()
    arr = numpy.asarray(lengths)
    if arr.ndim != 1 or arr.shape[0] != B:
        raise ValueError(f"lengths: expected shape ({B},) (one length per sequence, batch "
                         f"order), got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iu":
        raise ValueError(f"lengths: expected integers, got dtype {arr.dtype}")
    arr = arr.astype(numpy.int64)
    bad = numpy.flatnonzero((arr < 1) | (arr > T))
    if bad.size:
        raise ValueError(f"lengths: every length must be in [1, T={T}] (T = the padded "
                         f"timesteps of x), got lengths[{bad[0]}]={arr[bad[0]]}")
    return arr


def _layer_keys(k, d, has_bias):
    sfx = f"_l{k}" + ("_reverse" if d else "")
    names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if has_bias else [])
    return [n + sfx for n in names]


def _check_params(cell, params, input_size, num_layers, D, xp, dtype):
    """Validate ``params`` against the layout; returns ``(weights, H, has_bias)``.

    ``weights[k*D + d]`` is ``(w_ih, w_hh, b_ih, b_hh)`` (biases ``None`` without bias),
    cast to ``dtype``.
    """
    if not hasattr(params, "keys"):
        raise ValueError(f"params: expected a dict of arrays, got {type(params).__name__}")
    if "weight_hh_l0" not in params:
        raise ValueError(
            "params: missing key 'weight_hh_l0' (needed to infer hidden_size); "
            f"got keys {list(params)}"
        )
    w_hh0 = params["weight_hh_l0"]
    if len(getattr(w_hh0, "shape", ())) != 2:
        raise ValueError(
            f"params['weight_hh_l0']: expected a 2-D ({cell.num_gates}*hidden_size, "
            f"hidden_size) array, got shape {getattr(w_hh0, 'shape', None)}"
        )
    H = int(w_hh0.shape[1])
    G = cell.num_gates
    has_bias = "bias_ih_l0" in params or "bias_hh_l0" in params
    expected = [key for k in range(num_layers) for d in range(D)
                for key in _layer_keys(k, d, has_bias)]
    layout = (f"{cell.name} with num_layers={num_layers}, bidirectional={D == 2}, "
              f"bias={has_bias}")
    missing = [key for key in expected if key not in params]
    if missing:
        raise ValueError(f"params: missing key(s) {missing}; expected for {layout}: {expected}")
    unexpected = [key for key in params if key not in expected]
    if unexpected:
        raise ValueError(
            f"params: unexpected key(s) {unexpected}; expected for {layout}: {expected}"
        )
    weights = []
    for k in range(num_layers):
        in_size = input_size if k == 0 else D * H
        for d in range(D):
            arrays = []
            for key in _layer_keys(k, d, has_bias):
                a = xp.asarray(params[key], dtype=dtype)
                if key.startswith("weight_ih"):
                    shape, desc = (G * H, in_size), f"{G}*hidden_size, input_size"
                elif key.startswith("weight_hh"):
                    shape, desc = (G * H, H), f"{G}*hidden_size, hidden_size"
                else:
                    shape, desc = (G * H,), f"{G}*hidden_size"
                if tuple(a.shape) != shape:
                    if (k == 0 and key.startswith("weight_ih") and a.ndim == 2
                            and a.shape[0] == G * H):
                        raise ValueError(
                            f"input size mismatch: x has input_size={input_size}, but "
                            f"params[{key!r}] has shape {tuple(a.shape)} "
                            f"(expected {shape})"
                        )
                    raise ValueError(
                        f"params[{key!r}]: expected shape {shape} ({desc}) with "
                        f"hidden_size={H}, got {tuple(a.shape)}"
                    )
                arrays.append(a)
            if not has_bias:
                arrays += [None, None]
            weights.append(tuple(arrays))
    return weights, H, has_bias


def _check_state(xp, name, s, full_shape, unbatched, dtype, what):
    """``None`` or ``s`` as a ``full_shape`` = ``(L*D, B, H)`` array of ``dtype``."""
    if s is None:
        return None
    s = xp.asarray(s, dtype=dtype)
    shape = (full_shape[0], full_shape[2]) if unbatched else full_shape
    if tuple(s.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape} {what}, got {tuple(s.shape)}")
    return s[:, None, :] if unbatched else s


def _state_desc(unbatched):
    return ("(num_layers*num_directions, hidden_size)" if unbatched
            else "(num_layers*num_directions, batch, hidden_size)")


def _multilayer_forward(cell, x, params, states, num_layers, bidirectional, batch_first,
                        lengths=None, **opts):
    """Generic forward for all cells: layers, directions, layouts; see ``rnn_forward``."""
    # any integer type (NumPy's too) except bool, as ``nn.RNN`` accepts
    if (isinstance(num_layers, bool) or not isinstance(num_layers, numbers.Integral)
            or num_layers < 1):
        raise ValueError(f"num_layers: expected an integer >= 1, got {num_layers!r}")
    num_layers = int(num_layers)
    xp = _xp(x)
    x = xp.asarray(x)
    if x.dtype.kind != "f":
        raise ValueError(f"x: expected a floating-point array, got dtype {x.dtype}")
    if x.ndim == 2:  # unbatched (T, I)
        unbatched, xs = True, x[:, None, :]
    elif x.ndim == 3:
        unbatched, xs = False, (x.transpose(1, 0, 2) if batch_first else x)
    else:
        layout = "(batch, timesteps, input_size)" if batch_first else \
            "(timesteps, batch, input_size)"
        raise ValueError(
            f"x: expected a 3-D {layout} or 2-D (timesteps, input_size) array, "
            f"got shape {tuple(x.shape)}"
        )
    xs = _contiguous(xp, xs)  # time-major (T, B, I)
    T, B, I = xs.shape
    if T == 0:
        raise ValueError(f"x: expected at least one timestep, got shape {tuple(x.shape)}")
    dtype = x.dtype
    D = 2 if bidirectional else 1
    weights, H, has_bias = _check_params(cell, params, I, num_layers, D, xp, dtype)
    full_shape = (num_layers * D, B, H)
    states = [_check_state(xp, name, s, full_shape, unbatched, dtype, _state_desc(unbatched))
              for name, s in zip(cell.state_names, states, strict=True)]
    layout = None
    if lengths is not None:  # run sorted by decreasing length; undone at the end
        layout = _LengthLayout(_check_lengths(lengths, B, T), T, xp)
        xs = xs[:, layout.order_xp]
        states = [None if s is None else s[:, layout.order_xp] for s in states]
        opts["batch_sizes"] = layout.batch_sizes

    finals = [_empty(xp, full_shape, dtype=dtype) for _ in cell.state_names]
    caches = []
    layer_in = xs
    for k in range(num_layers):
        top = k == num_layers - 1
        if top and batch_first and not unbatched:
            # write the top layer straight into the (B, T, D*H) result
            out_final = _empty(xp, (B, T, D * H), dtype=dtype)
            out = out_final.transpose(1, 0, 2)
        else:
            out = out_final = _empty(xp, (T, B, D * H), dtype=dtype)
        layer_caches = []
        for d in range(D):
            idx = k * D + d
            # the reverse direction is the same recurrence on the time-reversed sequence
            # (with lengths: each sequence reversed within its own length)
            if d == 0:
                inp = layer_in
            elif layout is None:
                inp = xp.ascontiguousarray(layer_in[::-1])
            else:
                inp = layer_in[layout.rev]
            st = tuple(None if s is None else s[idx] for s in states)
            hs, fin, c = cell.forward(inp, *weights[idx], st, **opts)
            if d == 1:
                hs = hs[::-1] if layout is None else hs[layout.rev]
            out[:, :, d * H : (d + 1) * H] = hs
            for f_all, f in zip(finals, fin, strict=True):
                f_all[idx] = f
            layer_caches.append(c)
        caches.append(layer_caches)
        layer_in = out

    if layout is not None:  # zeros past each end (as pad_packed_sequence), caller's order
        out *= layout.mask
        out_final = out_final[layout.inverse_xp] if batch_first else \
            out_final[:, layout.inverse_xp]
        finals = [f[:, layout.inverse_xp] for f in finals]
    if unbatched:
        out_final = out_final[:, 0, :]
        finals = [f[:, 0, :] for f in finals]
    cache = BPTTCache(
        cell=cell.name, layers=caches, param_keys=list(params), has_bias=has_bias,
        num_layers=num_layers, num_directions=D, hidden_size=H, batch_first=batch_first,
        unbatched=unbatched, out_shape=tuple(out_final.shape),
        state_shape=tuple(finals[0].shape), dtype=dtype, xp=xp, layout=layout,
    )
    return out_final, finals, cache


def _multilayer_backward(cell, cache, grad_output, grad_finals, return_step_grads=False):
    """Generic BPTT for all cells; returns the grads dict (see ``rnn_backward``)."""
    if not isinstance(cache, BPTTCache) or cache.cell != cell.name:
        got = cache.cell if isinstance(cache, BPTTCache) else type(cache).__name__
        raise ValueError(f"cache: expected the cache of {cell.name}_forward, got {got}")
    xp, dtype, H, D = cache.xp, cache.dtype, cache.hidden_size, cache.num_directions
    L = cache.num_layers

    # Upstream gradients to time-major (T, B, D*H) / (L*D, B, H) views.
    g_out = None
    if grad_output is not None:
        g_out = xp.asarray(grad_output, dtype=dtype)
        if tuple(g_out.shape) != cache.out_shape:
            raise ValueError(
                f"grad_output: expected shape {cache.out_shape} (that of the output), "
                f"got {tuple(g_out.shape)}"
            )
        if cache.unbatched:
            g_out = g_out[:, None, :]
        elif cache.batch_first:
            g_out = g_out.transpose(1, 0, 2)
    B = cache.layers[0][0].hs.shape[1]
    full_shape = (L * D, B, H)
    g_finals = [
        _check_state(xp, "grad_" + name.replace("0", "_n"), g, full_shape, cache.unbatched,
                     dtype, "(that of " + name.replace("0", "_n") + ")")
        for name, g in zip(cell.state_names, grad_finals, strict=True)
    ]

    layout = cache.layout
    if layout is not None:  # into the sorted order the kernels ran in
        if g_out is not None:
            g_out = g_out[:, layout.order_xp]
        g_finals = [None if g is None else g[:, layout.order_xp] for g in g_finals]
    d_states = [_empty(xp, full_shape, dtype=dtype) for _ in cell.state_names]
    T = cache.layers[0][0].hs.shape[0] - 1
    # per-step dL/dh_t (and dL/dc_t), (L*D, T, B, H); the kernels fill them per direction
    steps = ([_empty(xp, (L * D, T, B, H), dtype=dtype) for _ in cell.state_names]
             if return_step_grads else None)
    param_grads = {}
    d_layer_out = g_out  # dL/d(output of layer k), (T, B, D*H) or None
    for k in range(L - 1, -1, -1):
        d_in = None
        for d in range(D):
            idx = k * D + d
            dhs = None
            if d_layer_out is not None:
                dhs = d_layer_out[:, :, d * H : (d + 1) * H]
                if d == 1:  # the reverse kernel ran in reversed time
                    dhs = dhs[::-1] if layout is None else dhs[layout.rev]
            d_fin = tuple(None if g is None else g[idx] for g in g_finals)
            # the reverse kernel runs in reversed time: give it reversed views to fill
            # (with lengths: buffers in its time order, reordered below)
            step_views = None
            if steps is not None:
                step_views = tuple(s[idx] if d == 0 else s[idx, ::-1] if layout is None
                                   else xp.empty_like(s[idx]) for s in steps)
            dx, d_st, dw = cell.backward(cache.layers[k][d], dhs, d_fin, step_views)
            if d == 1 and layout is not None and steps is not None:
                for s, view in zip(steps, step_views, strict=True):
                    s[idx] = view[layout.rev]
            if d == 1:
                dx = dx[::-1] if layout is None else dx[layout.rev]
            # the layer input feeds both directions: dL/dinput is the sum
            if d_in is None:
                d_in = dx
            else:
                d_in += dx
            for s_all, s in zip(d_states, d_st, strict=True):
                s_all[idx] = s
            # without bias, zip drops the trailing (None, None) bias gradients
            for key, g in zip(_layer_keys(k, d, cache.has_bias), dw, strict=False):
                param_grads[key] = g
        d_layer_out = d_in

    if layout is not None:  # back to the caller's batch order
        d_layer_out = d_layer_out[:, layout.inverse_xp]
        d_states = [s[:, layout.inverse_xp] for s in d_states]
        if steps is not None:
            steps = [s[:, :, layout.inverse_xp] for s in steps]
    if cache.unbatched:
        d_input = d_layer_out[:, 0, :]
        d_states = [s[:, 0, :] for s in d_states]
    elif cache.batch_first:
        d_input = _contiguous(xp, d_layer_out.transpose(1, 0, 2))
    else:
        d_input = d_layer_out
    grads = {"input": d_input}
    grads.update(zip(cell.state_names, d_states, strict=True))
    if steps is not None:  # 'dh_steps' (and 'dc_steps'), unbatched: (L*D, T, H)
        for name, s in zip(cell.state_names, steps, strict=True):
            grads["d" + name[0] + "_steps"] = s[:, :, 0, :] if cache.unbatched else s
    for key in cache.param_keys:
        grads[key] = param_grads[key]
    return grads


def _unpack_pair(name, pair, what):
    if pair is None:
        return None, None
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise ValueError(f"{name}: expected a pair {what} or None, got {type(pair).__name__}")
    return pair


# -------------------------------------------------------------------- public API
def rnn_forward(x, params, h0=None, *, nonlinearity="tanh", num_layers=1, bidirectional=False,
                batch_first=True, lengths=None):
    """Forward of an ``nn.RNN`` given its parameters as plain arrays.

    Args:
        x: ``(B, T, I)`` if ``batch_first`` else ``(T, B, I)``, or unbatched ``(T, I)``.
        params: ``nn.RNN`` state-dict names -> arrays (``weight_ih_l0`` ``(H, I)``, ...);
            without bias the bias keys are absent.
        h0: ``(num_layers*D, B, H)`` (unbatched ``(num_layers*D, H)``) or ``None``.
        nonlinearity: ``'tanh'`` or ``'relu'``.
        lengths: ``None``, or ``(B,)`` ints in ``[1, T]``, batch order: sequence ``b`` is
            ``x``'s first ``lengths[b]`` steps, the rest padding -- what ``nn.RNN``
            computes for ``pack_padded_sequence(x, lengths, enforce_sorted=False)``.
            Each sequence's state stops at its end (``h_n`` is taken there), the
            reverse direction starts at its own last step, ``out`` is 0 past the end,
            and no padding value reaches any result or gradient.

    Returns:
        ``(out, h_n, cache)``: ``out`` ``(B, T, D*H)`` (``(T, B, D*H)`` if not
        ``batch_first``, ``(T, D*H)`` unbatched; forward then reverse features), ``h_n``
        shaped like ``h0``, and the cache for :func:`rnn_backward`.

    Raises:
        ValueError: unknown nonlinearity, ``num_layers < 1``, or shapes / keys of ``x``,
        ``h0``, ``params`` that do not fit together.
    """
    _check_nonlinearity(nonlinearity)
    out, (h_n,), cache = _multilayer_forward(_RNN, x, params, (h0,), num_layers, bidirectional,
                                             batch_first, lengths, nonlinearity=nonlinearity)
    return out, h_n, cache


def rnn_backward(cache, grad_output, grad_h_n=None, *, return_step_grads=False):
    """BPTT for :func:`rnn_forward`.

    Args:
        cache: from :func:`rnn_forward`.
        grad_output: dL/d``out``, shaped like ``out`` (``None``: zeros).
        grad_h_n: dL/d``h_n``, shaped like ``h_n`` (``None``: zeros).
        return_step_grads: also return the ``dh`` the backward computes at every step.

    Returns:
        dict with ``'input'`` (like ``x``), ``'h0'`` (like ``h_n``; the gradient at the
        zero state when none was given) and one entry per key of ``params``; with
        ``return_step_grads``, also ``'dh_steps'`` ``(num_layers*D, T, B, H)``
        (unbatched ``(num_layers*D, T, H)``): the total dL/dh_t of every layer direction
        and timestep, in original time order (the gradient-flow view of BPTT).
    """
    return _multilayer_backward(_RNN, cache, grad_output, (grad_h_n,), return_step_grads)


def gru_forward(x, params, h0=None, *, num_layers=1, bidirectional=False, batch_first=True,
                lengths=None):
    """Forward of an ``nn.GRU`` (gate order r, z, n); arguments as :func:`rnn_forward`.

    Returns ``(out, h_n, cache)``.
    """
    out, (h_n,), cache = _multilayer_forward(_GRU, x, params, (h0,), num_layers, bidirectional,
                                             batch_first, lengths)
    return out, h_n, cache


def gru_backward(cache, grad_output, grad_h_n=None, *, return_step_grads=False):
    """BPTT for :func:`gru_forward`; as :func:`rnn_backward`."""
    return _multilayer_backward(_GRU, cache, grad_output, (grad_h_n,), return_step_grads)


def lstm_forward(x, params, hx=None, *, num_layers=1, bidirectional=False, batch_first=True,
                 lengths=None):
    """Forward of an ``nn.LSTM`` (gate order i, f, g, o).

    Args as :func:`rnn_forward`, except ``hx = (h0, c0)`` or ``None`` (either element may
    be ``None``: zeros), both ``(num_layers*D, B, H)``.

    Returns:
        ``(out, (h_n, c_n), cache)``.
    """
    h0, c0 = _unpack_pair("hx", hx, "(h0, c0)")
    out, (h_n, c_n), cache = _multilayer_forward(_LSTM, x, params, (h0, c0), num_layers,
                                                 bidirectional, batch_first, lengths)
    return out, (h_n, c_n), cache


def lstm_backward(cache, grad_output, grad_hx=None, *, return_step_grads=False):
    """BPTT for :func:`lstm_forward`.

    Args:
        grad_hx: ``(grad_h_n, grad_c_n)`` or ``None``; either element may be ``None``.
        return_step_grads: as :func:`rnn_backward`; adds ``'dh_steps'`` and
            ``'dc_steps'`` (the total dL/dc_t, through ``h_t`` and ``c_{t+1}``).

    Returns:
        dict with ``'input'``, ``'h0'``, ``'c0'`` and one entry per key of ``params``.
    """
    g_h, g_c = _unpack_pair("grad_hx", grad_hx, "(grad_h_n, grad_c_n)")
    return _multilayer_backward(_LSTM, cache, grad_output, (g_h, g_c), return_step_grads)
