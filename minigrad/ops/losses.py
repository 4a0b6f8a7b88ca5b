"""Loss ops with a hand-derived backward: the robust regression losses (smooth L1 and
Huber), the Kullback-Leibler divergence, and the CTC loss (connectionist temporal
classification, the forward-backward recursion over alignments in log space).

As everywhere in ``minigrad/ops``, ``forward`` and ``backward`` see raw arrays; under
``backward(create_graph=True)`` the same ``backward`` gets Tensors (CTC excepted: like
PyTorch's, its gradient is not differentiable again).  Masks and other constants live
on ``ctx`` as plain arrays.
"""

from __future__ import annotations

import numpy as _np

from ..autograd.function import Op
from ..backend import get_array_module
from .dual import _is_tensor, log, sum_to


def _data(x):
    return x.data if _is_tensor(x) else x


def _exp(x):
    return x.exp() if _is_tensor(x) else get_array_module(x).exp(x)


# --- regression losses (elementwise; the caller reduces) ------------------------------


class SmoothL1(Op):
    """Elementwise ``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta``,
    with ``d = x - y`` and ``beta > 0`` (``beta = 0`` is the L1 loss, done by the
    caller).  ``scale=beta`` turns it into the Huber loss with ``delta = beta``:
    ``0.5 d**2`` inside, ``delta (|d| - 0.5 delta)`` outside."""

    @staticmethod
    def forward(ctx, x, y, beta, scale=1.0):
        xp = get_array_module(x)
        diff = x - y
        size = xp.abs(diff)
        inside = size < beta
        ctx.inside, ctx.beta, ctx.scale = inside, beta, scale
        ctx.save_for_backward(x, y)
        loss = xp.where(inside, (0.5 / beta) * diff * diff, size - 0.5 * beta)
        return loss * scale if scale != 1.0 else loss

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        diff = x - y
        inside = ctx.inside
        xp = get_array_module(inside)
        # d/dx = d / beta inside, sign(d) outside (times scale); d/dy = -d/dx
        slope = diff * (inside * (ctx.scale / ctx.beta)).astype(x.dtype) + (
            xp.sign(_data(diff)) * ~inside * ctx.scale).astype(x.dtype)
        grad_x = grad * slope
        need_x, need_y = ctx.needs_input_grad
        return (sum_to(grad_x, x.shape) if need_x else None,
                sum_to(-grad_x, y.shape) if need_y else None)


class KLDiv(Op):
    """Elementwise KL-divergence term of log-probabilities ``x`` against a target
    ``t``: ``t (log t - x)`` (0 where ``t = 0``), or ``exp(t) (t - x)`` when the target
    is given as log-probabilities (``log_target``)."""

    @staticmethod
    def forward(ctx, x, t, log_target):
        xp = get_array_module(x)
        ctx.log_target = log_target
        ctx.save_for_backward(x, t)
        if log_target:
            return xp.exp(t) * (t - x)
        positive = t > 0
        with _np.errstate(divide="ignore", invalid="ignore"):
            t_log_t = xp.where(positive, t * xp.log(xp.where(positive, t, 1)), 0)
        return t_log_t - t * x

    @staticmethod
    def backward(ctx, grad):
        x, t = ctx.saved_tensors
        need_x, need_t = ctx.needs_input_grad
        if ctx.log_target:
            # d/dx = -exp(t);  d/dt = exp(t) (t - x + 1)
            p = _exp(t)
            return (-(grad * p) if need_x else None,
                    grad * p * (t - x + 1) if need_t else None)
        # d/dx = -t;  d/dt = log t + 1 - x (-inf at t = 0, the one-sided slope)
        grad_t = None
        if need_t:
            with _np.errstate(divide="ignore"):
                grad_t = grad * (log(t) + 1 - x)
        return (-(grad * t) if need_x else None, grad_t)


# --- CTC -------------------------------------------------------------------------------


def _logsumexp3(a, b, c, xp):
    """Elementwise ``log(exp a + exp b + exp c)``, stable, ``-inf`` where all are."""
    top = xp.maximum(xp.maximum(a, b), c)
    shift = xp.where(xp.isfinite(top), top, 0)
    with _np.errstate(divide="ignore"):
        return shift + xp.log(xp.exp(a - shift) + xp.exp(b - shift) + xp.exp(c - shift))


def _shift_right(x, k, xp):
    """``x`` moved ``k`` places to higher positions along the last axis, ``-inf`` in."""
    out = xp.full(x.shape, -xp.inf, dtype=x.dtype)
    out[..., k:] = x[..., :-k]
    return out


def _shift_left(x, k, xp):
    """``x`` moved ``k`` places to lower positions along the last axis, ``-inf`` in."""
    out = xp.full(x.shape, -xp.inf, dtype=x.dtype)
    out[..., :-k] = x[..., k:]
    return out


class CTCLoss(Op):
    """Per-sample CTC negative log-likelihood ``-log p(target | log_probs)``.

    ``log_probs`` ``(T, N, C)``; ``targets`` ``(N, S)`` int class ids (padded; entries
    past a target's length are ignored); ``input_lengths``/``target_lengths`` ``(N,)``
    ints; ``blank`` the blank class.  Returns ``(N,)`` losses (``inf`` for a target no
    alignment can produce; 0 instead when ``zero_infinity``).

    The alignments run over the extended label sequence ``l'`` = blank, l_1, blank, l_2,
    ..., l_S, blank (length ``2S + 1``).  ``alpha[t, s]`` is the log-probability of all
    alignment prefixes ending at ``l'_s`` at time ``t``, ``beta[t, s]`` that of the
    suffixes starting there (emission at ``t`` included, PyTorch's convention).  Both
    recursions are a loop over time, vectorised over the batch and over ``s``.
    """

    @staticmethod
    def forward(ctx, log_probs, targets, input_lengths, target_lengths, blank,
                zero_infinity):
        xp = get_array_module(log_probs)
        T, N, _ = log_probs.shape
        S = targets.shape[1]
        positions = 2 * S + 1
        # extended labels (N, 2S+1): blanks at even positions, padding read as blank
        in_target = xp.arange(S)[None, :] < target_lengths[:, None]
        labels = xp.full((N, positions), blank, dtype=xp.int64)
        labels[:, 1::2] = xp.where(in_target, targets, blank)
        # l'_s may be reached from l'_{s-2} when it is a label differing from l'_{s-2}
        skip = xp.zeros((N, positions), dtype=bool)
        skip[:, 2:] = (labels[:, 2:] != blank) & (labels[:, 2:] != labels[:, :-2])
        # emissions (T, N, 2S+1): log_probs of each extended label at each time
        emit = xp.take_along_axis(log_probs, xp.broadcast_to(labels[None], (T, N, positions)),
                                  axis=2)
        neg_inf = -xp.inf
        alpha = xp.full((T, N, positions), neg_inf, dtype=log_probs.dtype)
        alpha[0, :, 0] = emit[0, :, 0]
        if positions > 1:
            alpha[0, :, 1] = xp.where(target_lengths > 0, emit[0, :, 1], neg_inf)
        for t in range(1, T):
            prev = alpha[t - 1]
            from_skip = xp.where(skip, _shift_right(prev, 2, xp), neg_inf)
            alpha[t] = emit[t] + _logsumexp3(prev, _shift_right(prev, 1, xp), from_skip, xp)

        # the loss: paths ending at the last label or the final blank at t = len - 1
        batch = xp.arange(N)
        last_t = xp.maximum(input_lengths - 1, 0)
        end = 2 * target_lengths  # index of the final blank
        final = alpha[last_t, batch]  # (N, 2S+1)
        at_end = final[batch, end]
        before_end = xp.where(end > 0, final[batch, xp.maximum(end - 1, 0)], neg_inf)
        log_likelihood = xp.logaddexp(at_end, before_end)
        # no input frames: only the empty target has an alignment (of probability 1)
        empty_input = input_lengths == 0
        log_likelihood = xp.where(empty_input,
                                  xp.where(target_lengths == 0, 0.0, neg_inf),
                                  log_likelihood).astype(log_probs.dtype)
        nll = -log_likelihood
        infinite = xp.isinf(nll)
        if zero_infinity:
            nll = xp.where(infinite, 0, nll).astype(log_probs.dtype)
        ctx.zero_rows = infinite if zero_infinity else None
        ctx.alpha, ctx.emit, ctx.labels, ctx.skip = alpha, emit, labels, skip
        ctx.input_lengths, ctx.target_lengths, ctx.log_likelihood = (
            input_lengths, target_lengths, log_likelihood)
        ctx.save_for_backward(log_probs)
        return nll

    @staticmethod
    def backward(ctx, grad):
        if ctx._graph_mode:
            raise RuntimeError(
                "ctc_loss: the CTC gradient is not differentiable again (double backward "
                "is not supported, as in PyTorch)")
        (log_probs,) = ctx.saved_tensors
        xp = get_array_module(log_probs)
        T, N, C = log_probs.shape
        alpha, emit, labels, skip = ctx.alpha, ctx.emit, ctx.labels, ctx.skip
        input_lengths, target_lengths = ctx.input_lengths, ctx.target_lengths
        positions = labels.shape[1]
        neg_inf = -xp.inf
        s_index = xp.arange(positions)[None, :]
        end = 2 * target_lengths[:, None]
        is_final = (s_index == end) | (s_index == end - 1)  # where a path may end
        # skips into l'_{s+2} seen from s: l'_{s+2} may be reached from l'_s
        skip_from = _shift_left(skip.astype(log_probs.dtype), 2, xp) == 1
        beta = xp.full((T, N, positions), neg_inf, dtype=log_probs.dtype)
        following = xp.full((N, positions), neg_inf, dtype=log_probs.dtype)
        for t in range(T - 1, -1, -1):
            last = (input_lengths - 1 == t)[:, None]
            inside = (t < input_lengths - 1)[:, None]
            from_skip = xp.where(skip_from, _shift_left(following, 2, xp), neg_inf)
            step = emit[t] + _logsumexp3(following, _shift_left(following, 1, xp),
                                         from_skip, xp)
            beta[t] = xp.where(last & is_final, emit[t], xp.where(inside, step, neg_inf))
            following = beta[t]

        # dL/dlogp[t, c] = exp(logp[t, c]) - sum_{s: l'_s = c} alpha beta / (p exp(logp))
        # (PyTorch's formula: the gradient for log_softmax outputs, which already
        # includes the softmax normalisation term), zero past each input's length.
        log_ab = alpha + beta  # (T, N, 2S+1)
        top = log_ab.max(axis=2, keepdims=True)
        top = xp.where(xp.isfinite(top), top, 0)
        weights = xp.exp(log_ab - top).transpose(1, 0, 2)  # (N, T, 2S+1)
        one_hot = (labels[:, :, None] == xp.arange(C)[None, None, :]).astype(log_probs.dtype)
        per_class = (weights @ one_hot).transpose(1, 0, 2)  # (T, N, C)
        with _np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_post = xp.log(per_class) + top - ctx.log_likelihood[None, :, None]
            grad_lp = xp.exp(log_probs) - xp.exp(log_post - log_probs)
        valid_t = xp.arange(T)[:, None] < input_lengths[None, :]  # (T, N)
        grad_lp = xp.where(valid_t[:, :, None], grad_lp, 0)
        if ctx.zero_rows is not None:
            grad_lp = xp.where(ctx.zero_rows[None, :, None], 0, grad_lp)
        return (grad_lp * grad[None, :, None]).astype(log_probs.dtype)
