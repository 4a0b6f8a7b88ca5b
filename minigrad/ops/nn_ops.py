"""Fused neural-network ops: softmax, log-softmax, the classification losses, embedding
lookup, layer normalization and dropout -- forward and backward side by side.

Each is ONE graph node with a hand-derived backward, for two reasons: numerical
stability (log-softmax subtracts the max before ``exp``; the losses never take
``log(softmax)``) and speed (one node instead of the five or six a composition of
elementary ops would record).

As everywhere in ``minigrad/ops``, ``forward`` and ``backward`` see raw arrays; under
``backward(create_graph=True)`` the same ``backward`` gets Tensors, so its formula is
written with operators and the dual helpers below, which work on both.  Constants
(masks, one-hot targets) live on ``ctx`` as plain arrays.
"""

from __future__ import annotations

import threading

import numpy as np

from ..autograd.function import OneHotGrad, Op
from ..backend import device_of, empty, empty_like, get_array_module, scatter_add
from ..random import generator
from .dual import _is_tensor, sum_to
from .shape import IndexAdd

# --- helpers that accept an array or a Tensor ----------------------------------------


def _exp(x):
    return x.exp() if _is_tensor(x) else get_array_module(x).exp(x)


def _sigmoid(x):
    if _is_tensor(x):
        return x.sigmoid()
    return 0.5 * (get_array_module(x).tanh(0.5 * x) + 1)  # no overflow for x << 0


def _sum_keep(x, axes):
    """Sum over ``axes`` (an int or tuple), keeping them as size-1 dims."""
    if _is_tensor(x):
        return x.sum(axes, keepdim=True)
    return x.sum(axis=axes, keepdims=True)


def _mean_keep(x, axes):
    if _is_tensor(x):
        return x.mean(axes, keepdim=True)
    return x.mean(axis=axes, keepdims=True)


def _clamp_min(x, low):
    return x.clamp(min=low) if _is_tensor(x) else get_array_module(x).maximum(x, low)


def _clamped_log(x):
    """``max(log x, -100)`` as PyTorch's BCE, without a warning at ``x = 0``.
    (1e-44 is below e^-100 even as a float32 denormal, so the clamp still decides.)"""
    if _is_tensor(x):
        return x.clamp(min=1e-44).log().clamp(min=-100.0)
    xp = get_array_module(x)
    return xp.maximum(xp.log(xp.maximum(x, 1e-44)), -100.0)


def _class_one_hot(target, num_classes: int, dtype):
    """``(N, *d)`` class ids -> ``(N, C, *d)`` one-hot (classes on dim 1, as the logits)."""
    xp = get_array_module(target)
    classes = xp.arange(num_classes).reshape((1, num_classes) + (1,) * (target.ndim - 1))
    return (classes == target[:, None]).astype(dtype)


def _with_class_dim(per_sample):
    """``(N, *d)`` -> ``(N, 1, *d)``: broadcastable against ``(N, C, *d)`` logits."""
    shape = per_sample.shape
    return per_sample.reshape(shape[:1] + (1,) + shape[1:])


# --- softmax family ------------------------------------------------------------------
#
# Large-vocabulary heads make these ops the biggest arrays of a step (700 x 18,000
# logits: 50 MB), so on NumPy they run over blocks of rows small enough to stay in the
# CPU cache between the passes of a row (max, shift, exp, sum, ...): the logits are read
# from memory once and the result written once.  Results and gradient buffers come
# from the backend's pool.  (Sharing the blocks among threads halved the time of a
# lone log_softmax, but gained nothing inside a training step, where the BLAS threads
# of the GEMMs around it hold the other core; so it is not done.)

_BLOCK_BYTES = 1 << 18   # rows per block: about 256 KiB


def _row_blocks(fn, x) -> None:
    """Call ``fn(rows)`` for slices of rows covering the 2-D NumPy array ``x``, block
    by block."""
    if x.nbytes <= _BLOCK_BYTES:  # one block
        fn(slice(None))
        return
    n, row_bytes = x.shape[0], max(1, x.shape[1] * x.itemsize)
    step = max(1, _BLOCK_BYTES // row_bytes)
    for i in range(0, n, step):
        fn(slice(i, min(i + step, n)))


def _blocked(x, dim) -> bool:
    """Whether the row-block kernels apply: a 2-D C-contiguous NumPy array over dim 1."""
    return (type(x) is np.ndarray and x.ndim == 2 and dim in (1, -1) and x.shape[1] > 0
            and x.flags.c_contiguous)


_scratch = threading.local()  # one scratch block per calling thread


def _scratch_rows(rows: int, cols: int, dtype):
    """A scratch block of at least ``rows x cols``, kept across calls."""
    a = getattr(_scratch, "array", None)
    if a is None or a.dtype != dtype or a.size < rows * cols:
        a = _scratch.array = np.empty(rows * cols, dtype)
    return a[:rows * cols].reshape(rows, cols)


def _ones(n: int, dtype):
    """A kept vector of ``n`` ones: ``block @ ones`` sums rows (a BLAS matrix-vector
    product, about 3x faster than ``block.sum(axis=1)`` on float32 rows)."""
    a = getattr(_scratch, "ones", None)
    if a is None or a.dtype != dtype or a.shape[0] != n:
        a = _scratch.ones = np.ones(n, dtype)
    return a


def _log_softmax_rows(x, out, exps=None, sums=None) -> None:
    """``out = log_softmax(x)`` over dim 1 of a 2-D array; when given, also ``exps =
    exp(x - max)`` and each row's ``sums`` of it (the ``exp`` is computed anyway):
    ``softmax = exps / sums``."""
    ones = _ones(x.shape[1], x.dtype)

    def block(rows):
        xb, ob = x[rows], out[rows]
        np.subtract(xb, xb.max(axis=1, keepdims=True), out=ob)
        eb = _scratch_rows(ob.shape[0], ob.shape[1], ob.dtype) if exps is None else (
            exps[rows])
        np.exp(ob, out=eb)
        row_sums = eb @ ones
        if sums is not None:
            sums[rows] = row_sums
        ob -= np.log(row_sums, out=row_sums)[:, None]

    _row_blocks(block, x)


def _softmax_rows(x, out, row_max=None, log_sums=None) -> None:
    """``out = softmax(x)`` over dim 1 of a 2-D array; optionally also each row's max
    and log of the sum of ``exp(x - max)`` (``(N,)`` arrays to fill)."""
    ones = _ones(x.shape[1], x.dtype)

    def block(rows):
        xb, ob = x[rows], out[rows]
        m = xb.max(axis=1, keepdims=True)
        np.subtract(xb, m, out=ob)
        np.exp(ob, out=ob)  # shifted: exp never overflows
        sums = ob @ ones
        ob *= (1 / sums)[:, None]
        if row_max is not None:
            row_max[rows] = m[:, 0]
            np.log(sums, out=log_sums[rows])

    _row_blocks(block, x)


def _scale_rows(block, factors) -> None:
    """``block[i] *= factors[i]`` (in place)."""
    block *= factors[:, None]


def _softmax(x, dim):
    """``softmax(x)`` along ``dim`` into a new (pooled) array."""
    out = empty_like(x)
    if _blocked(x, dim):
        _softmax_rows(x, out)
    else:
        xp = get_array_module(x)
        xp.subtract(x, x.max(axis=dim, keepdims=True), out=out)
        xp.exp(out, out=out)  # shifted: exp never overflows
        out /= out.sum(axis=dim, keepdims=True)
    return out


class Softmax(Op):
    """``softmax(x)_i = exp(x_i) / sum_j exp(x_j)`` along ``dim``."""

    @staticmethod
    def forward(ctx, x, dim):
        out = _softmax(x, dim)
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # dy_i/dx_j = y_i (delta_ij - y_j)  =>  dL/dx = y * (g - sum_j g_j y_j)
        if _is_tensor(grad):
            return y * (grad - _sum_keep(grad * y, ctx.dim))
        out = empty_like(grad)
        if _blocked(grad, ctx.dim) and grad.shape == y.shape:
            def block(rows):
                gb, yb, ob = grad[rows], y[rows], out[rows]
                np.multiply(gb, yb, out=ob)
                dot = ob.sum(axis=1, keepdims=True)
                np.subtract(gb, dot, out=ob)
                ob *= yb

            _row_blocks(block, grad)
            return out
        xp = get_array_module(grad)
        xp.multiply(grad, y, out=out)
        xp.subtract(grad, out.sum(axis=ctx.dim, keepdims=True), out=out)
        out *= y
        return out


class LogSoftmax(Op):
    """``log_softmax(x)_i = x_i - log sum_j exp(x_j)`` along ``dim``, computed as
    ``(x_i - m) - log sum_j exp(x_j - m)`` with ``m = max x``: no overflow, and the sum
    is at least 1, so its log is finite (never ``log(softmax(x))``, which is
    ``log 0 = -inf`` as soon as a probability underflows).

    ``keep_exps`` (set by ``F.log_softmax`` when a backward will follow): on the
    row-block path ``exp(x - max)`` and its row sums, computed anyway, are kept for the
    backward, which then needs no ``exp`` of its own and uses them as its output buffer.
    """

    @staticmethod
    def forward(ctx, x, dim, keep_exps=False):
        out = empty_like(x)
        ctx.exps = ctx.sums = None
        if _blocked(x, dim):
            if keep_exps:
                ctx.exps, ctx.sums = empty_like(x), np.empty(x.shape[0], x.dtype)
            _log_softmax_rows(x, out, ctx.exps, ctx.sums)
        else:
            xp = get_array_module(x)
            xp.subtract(x, x.max(axis=dim, keepdims=True), out=out)
            out -= xp.log(xp.exp(out).sum(axis=dim, keepdims=True))
        ctx.dim = dim
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        # dy_i/dx_j = delta_ij - softmax_j  =>  dL/dx = g - exp(y) * sum_i g_i
        if _is_tensor(grad):
            return grad - _exp(y) * _sum_keep(grad, ctx.dim)
        # softmax = exps / sums (kept by forward, used up here as the output buffer), or
        # exp(y) when forward kept nothing (or a second backward, retain_graph)
        exps, sums, ctx.exps = ctx.exps, ctx.sums, None
        if type(grad) is OneHotGrad:  # from nll_loss: g = values at the targets, else 0
            if not _blocked(y, ctx.dim):
                grad = grad.dense()
            else:  # sum_i g_i = values  =>  dL/dx = -softmax * values, + values at targets
                scale = -grad.values if exps is None else -grad.values / sums
                out = exps if exps is not None else np.exp(y, out=empty_like(y))
                _scale_rows(out, scale)  # (one pass: in row blocks it would only cost more)
                _scatter_targets(out, grad.index, grad.values)
                return out
        if _blocked(grad, ctx.dim) and grad.shape == y.shape:
            out = exps if exps is not None else empty_like(grad)
            ones = _ones(grad.shape[1], grad.dtype)

            def block(rows):
                gb, ob = grad[rows], out[rows]
                g_sums = gb @ ones
                if exps is None:
                    np.exp(y[rows], out=ob)
                else:
                    g_sums /= sums[rows]
                _scale_rows(ob, g_sums)
                np.subtract(gb, ob, out=ob)

            _row_blocks(block, grad)
            return out
        out = empty_like(grad)
        xp = get_array_module(grad)
        xp.exp(y, out=out)
        out *= grad.sum(axis=ctx.dim, keepdims=True)
        xp.subtract(grad, out, out=out)
        return out


# --- classification losses (per-sample; the caller reduces) ---------------------------


def _pick(x, target):
    """``x[n, target[n], ...]``: the class entries of ``(N, C, *d)`` ``x`` -> ``(N, *d)``."""
    xp = get_array_module(x)
    if x.ndim == 2:  # (N, C): plain indexing, cheaper than take_along_axis
        return x[xp.arange(x.shape[0]), target]
    return xp.take_along_axis(x, target[:, None], axis=1)[:, 0]


def _scatter_targets(grad_x, target, values) -> None:
    """``grad_x[n, target[n], ...] += values[n, ...]`` (one target per position)."""
    xp = get_array_module(grad_x)
    if grad_x.ndim == 2:
        grad_x[xp.arange(grad_x.shape[0]), target] += values
        return
    # (N, C, *d), C-contiguous: flat position of [n, target[n, d], d] is (n C + t) D + d
    N, C = grad_x.shape[:2]
    D = grad_x.size // (N * C)
    flat = (xp.arange(N)[:, None] * C + target.reshape(N, D)) * D + xp.arange(D)[None, :]
    grad_x.reshape(-1)[flat.reshape(-1)] += values.reshape(-1)


def _reduce(ctx, loss, weight, mean: bool):
    """The per-sample ``loss``, or with ``mean`` its weighted mean over the non-ignored
    samples (each counted with its class weight), as ``reduction='mean'``."""
    ctx.total_weight = weight.sum() if mean else None
    return loss.sum() / ctx.total_weight if mean else loss


def _per_sample_grad(ctx, grad):
    """The gradient of each sample's loss: with the mean inside, grad / sum(w)."""
    return grad if ctx.total_weight is None else grad / ctx.total_weight


class CrossEntropy(Op):
    """Per-sample cross-entropy of logits ``x`` ``(N, C, *d)`` against class ids.

    ``target`` ``(N, *d)``: int class ids, ignored positions replaced by any valid id;
    ``weight`` ``(N, *d)``: each sample's factor (0 where ignored, else its class weight).
    Returns ``loss = weight * (logsumexp(x) - x[target])`` of shape ``(N, *d)``.

    With ``mean=True`` it returns the weighted mean ``loss.sum() / weight.sum()`` (a
    0-d array) instead: ``reduction='mean'`` as one graph node rather than three
    (this op, a sum, a division), which matters when the step is only a few ops.  The
    arithmetic is the same as that of the three nodes, so are the results.
    """

    @staticmethod
    def forward(ctx, x, target, weight, mean=False):
        xp = get_array_module(x)
        probs = empty_like(x)
        if _blocked(x, 1):
            row_max = xp.empty(x.shape[0], x.dtype)
            log_sums = xp.empty(x.shape[0], x.dtype)
            _softmax_rows(x, probs, row_max, log_sums)  # the probabilities, for backward
            loss = (log_sums - (_pick(x, target) - row_max)) * weight
        else:
            xp.subtract(x, x.max(axis=1, keepdims=True), out=probs)
            picked = _pick(probs, target)  # x[target] - max
            xp.exp(probs, out=probs)
            sums = probs.sum(axis=1, keepdims=True)
            probs /= sums  # now the softmax probabilities, kept for backward
            loss = (xp.log(sums[:, 0]) - picked) * weight
        ctx.probs, ctx.target, ctx.weight = probs, target, weight
        ctx.save_for_backward(x)
        return _reduce(ctx, loss, weight, mean)

    @staticmethod
    def backward(ctx, grad):
        # loss_n = w_n (log sum_c exp x_nc - x_n,t_n)
        #   =>  dloss_n/dx_nc = w_n (softmax(x_n)_c - [c == t_n])
        (x,) = ctx.saved_tensors
        grad = _per_sample_grad(ctx, grad)
        if ctx._graph_mode:
            probs = Softmax.apply(x, dim=1)
            one_hot = _class_one_hot(ctx.target, x.shape[1], x.dtype)
            return (probs - one_hot) * _with_class_dim(grad * ctx.weight)
        scale = grad * ctx.weight  # (N, *d)
        probs = ctx.probs
        if probs is None:  # a second backward (retain_graph): the first used them up
            probs = _softmax(x, 1)
        ctx.probs = None  # the probabilities become the gradient, in place
        probs *= _with_class_dim(scale)
        _scatter_targets(probs, ctx.target, -scale)
        return probs


class NLL(Op):
    """Per-sample negative log-likelihood: ``loss = -weight * logp[target]``, with
    ``logp`` ``(N, C, *d)`` and ``target``/``weight`` as in ``CrossEntropy``; with
    ``mean=True`` the weighted mean, as ``CrossEntropy``'s.

    ``one_hot_grad`` (set by ``F.nll_loss`` when ``logp`` is the output of a
    ``log_softmax`` over the classes): the gradient goes back as a ``OneHotGrad`` (the
    values at the targets, without the zeros), which ``LogSoftmax.backward`` turns into
    ``dL/dx`` in one pass.
    """

    @staticmethod
    def forward(ctx, logp, target, weight, mean=False, one_hot_grad=False):
        ctx.target, ctx.weight, ctx.num_classes = target, weight, logp.shape[1]
        ctx.shape, ctx.dtype = logp.shape, logp.dtype
        ctx.one_hot_grad = one_hot_grad and logp.ndim == 2
        return _reduce(ctx, -_pick(logp, target) * weight, weight, mean)

    @staticmethod
    def backward(ctx, grad):
        # dloss_n/dlogp_nc = -w_n [c == t_n]: the gradient lands on the target entries
        grad = _per_sample_grad(ctx, grad)
        if _is_tensor(grad):
            one_hot = _class_one_hot(ctx.target, ctx.num_classes, grad.dtype)
            return one_hot * _with_class_dim(-(grad * ctx.weight))
        values = -(grad * ctx.weight)  # (N, *d)
        if ctx.one_hot_grad:
            return OneHotGrad(ctx.shape, ctx.dtype, ctx.target,
                              values.astype(ctx.dtype, copy=False))
        out = empty(ctx.shape, ctx.dtype, get_array_module(grad))
        if _blocked(out, 1):
            def block(rows):
                out[rows] = 0

            _row_blocks(block, out)
        else:
            out[...] = 0
        _scatter_targets(out, ctx.target, values)
        return out


class BCEWithLogits(Op):
    """Elementwise ``-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))``, computed as
    ``max(x, 0) - x y + log1p(exp(-|x|))``: ``exp`` only of non-positive numbers, so it
    is finite for any ``x``."""

    @staticmethod
    def forward(ctx, x, y):
        xp = get_array_module(x)
        ctx.save_for_backward(x, y)
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        # dL/dx = sigmoid(x) - y;  dL/dy = -x
        return (grad * (_sigmoid(x) - y) if need_x else None,
                -(grad * x) if need_y else None)


class BCE(Op):
    """Elementwise ``-(y log p + (1 - y) log(1 - p))`` on probabilities ``p``, each log
    clamped at -100 as in PyTorch (so ``p = 0`` or ``1`` gives a finite loss)."""

    @staticmethod
    def forward(ctx, p, y):
        ctx.save_for_backward(p, y)
        return -(y * _clamped_log(p) + (1 - y) * _clamped_log(1 - p))

    @staticmethod
    def backward(ctx, grad):
        p, y = ctx.saved_tensors
        need_p, need_y = ctx.needs_input_grad
        # dL/dp = (p - y) / (p (1 - p)), the denominator floored at 1e-12 like PyTorch;
        # dL/dy = log(1 - p) - log p
        grad_p = grad * (p - y) / _clamp_min(p * (1 - p), 1e-12) if need_p else None
        grad_y = grad * (_clamped_log(1 - p) - _clamped_log(p)) if need_y else None
        return grad_p, grad_y


# --- layers --------------------------------------------------------------------------


class Embedding(Op):
    """``weight[indices]``: rows of ``weight`` ``(num, dim)`` for int ``indices`` of any
    shape, giving ``indices.shape + (dim,)``."""

    @staticmethod
    def forward(ctx, weight, indices, padding_idx=None):
        ctx.indices, ctx.padding_idx, ctx.shape = indices, padding_idx, weight.shape
        return get_array_module(weight).take(weight, indices, axis=0)

    @staticmethod
    def backward(ctx, grad):
        # out[p] = W[idx[p]]  =>  dW[r] = sum of g[p] over positions p with idx[p] == r:
        # a scatter-add (a row used twice gets both gradients).  The padding row's
        # gradient is zeroed so that it is never updated.
        indices, pad = ctx.indices, ctx.padding_idx
        if ctx._graph_mode:
            grad_w = IndexAdd.apply(grad, shape=ctx.shape, index=indices)
            if pad is not None:
                xp = get_array_module(indices)
                keep = xp.ones((ctx.shape[0], 1), dtype=grad.dtype)
                keep[pad] = 0
                grad_w = grad_w * keep
            return grad_w
        xp = get_array_module(grad)
        grad_w = xp.zeros(ctx.shape, dtype=grad.dtype)
        scatter_add(grad_w, indices.reshape(-1), grad.reshape(-1, ctx.shape[1]))
        if pad is not None:
            grad_w[pad] = 0
        return grad_w


def _normalize(x, axes, eps):
    """``(xhat, rstd)`` with ``xhat = (x - mean) * rstd``, ``rstd = 1/sqrt(var + eps)``
    over ``axes`` (biased variance); works on arrays and Tensors."""
    centered = x - _mean_keep(x, axes)
    rstd = (_mean_keep(centered * centered, axes) + eps) ** -0.5
    return centered * rstd, rstd


class LayerNorm(Op):
    """``y = xhat * weight + bias`` where ``xhat`` normalizes ``x`` over its last
    ``len(weight.shape)`` dims (``axes``).  ``weight`` and ``bias`` are both given or
    both omitted."""

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, *, axes, eps):
        xhat, rstd = _normalize(x, axes, eps)
        ctx.xhat, ctx.rstd, ctx.axes, ctx.eps = xhat, rstd, axes, eps
        if weight is None:
            ctx.save_for_backward(x)
            return xhat
        ctx.save_for_backward(x, weight)
        return xhat * weight + bias

    @staticmethod
    def backward(ctx, grad):
        saved = ctx.saved_tensors
        x, axes = saved[0], ctx.axes
        if ctx._graph_mode:  # rebuild xhat from x so that it is differentiable
            xhat, rstd = _normalize(x, axes, ctx.eps)
        else:
            xhat, rstd = ctx.xhat, ctx.rstd
        need = ctx.needs_input_grad
        grad_xhat = grad if len(saved) == 1 else grad * saved[1]
        grad_x = None
        if need[0]:
            # xhat = (x - mu) rstd: the mean and the variance both depend on every x
            # in the group, which gives (n = group size)
            #   dL/dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
            grad_x = rstd * (grad_xhat - _mean_keep(grad_xhat, axes)
                             - xhat * _mean_keep(grad_xhat * xhat, axes))
        if len(saved) == 1:
            return grad_x
        weight_shape = saved[1].shape
        # dL/dweight = sum over the leading dims of g * xhat; dL/dbias = sum of g
        grad_w = sum_to(grad * xhat, weight_shape) if need[1] else None
        grad_b = sum_to(grad, weight_shape) if need[2] else None
        return grad_x, grad_w, grad_b


class Dropout(Op):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``, so
    the expected value is unchanged (inverted dropout: nothing to do at eval time)."""

    @staticmethod
    def forward(ctx, x, p):
        xp = get_array_module(x)
        if p >= 1:
            mask = xp.zeros(x.shape, dtype=x.dtype)
        else:
            draws = generator(device_of(x)).random(x.shape)
            mask = (draws >= p).astype(x.dtype)
            mask *= x.dtype.type(1.0 / (1.0 - p))
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.mask  # the same mask (and scale) as the forward
