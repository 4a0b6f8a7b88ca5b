"""``minigrad.nn.functional`` (``import minigrad.nn.functional as F``): the stateless
versions of the layers and losses, with PyTorch's names and arguments.

These functions check their arguments and give clear errors; the math lives in
``minigrad/ops`` (``linalg.Linear`` and the fused ops of ``nn_ops``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import backend, dtypes
from ..autograd.grad_mode import is_grad_enabled
from ..functions import where as _where
from ..ops import indexing as _indexing
from ..ops import linalg as _linalg
from ..ops import losses as _loss_ops
from ..ops import nn_ops as _ops
from ..ops import pointwise as _pointwise
from ..ops.reduce import normalize_dims
from ..tensor import Tensor, _promote
from ..tensor import matmul as _matmul

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
    "ctc_loss", "huber_loss", "kl_div", "l1_loss", "scaled_dot_product_attention",
    "smooth_l1_loss",
    "cosine_similarity", "gelu", "normalize", "pad", "softplus",
    "embedding", "layer_norm", "linear", "log_softmax", "mse_loss", "nll_loss", "one_hot",
    "relu", "sigmoid", "softmax", "tanh",
]

REDUCTIONS = ("mean", "sum", "none")


# --- checks shared by several functions -----------------------------------------------


def _require_tensor(value, name: str, what: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(value).__name__}")
    return value


def _floating(x: Tensor) -> Tensor:
    """Integer inputs compute in the default float dtype (as the Tensor math methods)."""
    return x if x.dtype.kind == "f" else x.to(dtypes.get_default_dtype())


def check_reduction(reduction: str, name: str) -> None:
    """Raise ValueError unless ``reduction`` is ``'mean'``, ``'sum'`` or ``'none'``
    (``name``: the caller, for the message)."""
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{name}: reduction must be one of 'mean', 'sum', 'none', got {reduction!r}")


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _same_device(a: Tensor, b: Tensor, name: str) -> None:
    if a.device != b.device:
        raise RuntimeError(
            f"{name}: expected all tensors on the same device, got {a.device} and {b.device}")


def _same_shape(input: Tensor, target: Tensor, name: str) -> None:  # noqa: A002
    if input.shape != target.shape:
        raise ValueError(
            f"{name}: input shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} must be equal")


def _dim(x: Tensor, dim, name: str) -> int:
    (axis,) = normalize_dims(dim, x.ndim, name)
    return axis


# --- layers ----------------------------------------------------------------------------


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """``input @ weight.T + bias``: input ``(*, in)``, weight ``(out, in)``, bias
    ``(out,)`` -> ``(*, out)``; one graph node."""
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {tuple(weight.shape)}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {tuple(input.shape)} does not match in_features="
            f"{weight.shape[1]} (weight shape {tuple(weight.shape)}): the last dim must be "
            f"{weight.shape[1]}")
    input, weight = _promote(_floating(input), weight, "linear")
    if bias is None:
        return _linalg.Linear.apply(input, weight)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got "
                         f"{tuple(bias.shape)}")
    input, bias = _promote(input, bias, "linear")
    weight = weight if weight.dtype == input.dtype else weight.to(input.dtype)
    return _linalg.Linear.apply(input, weight, bias)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` ``(num_embeddings, dim)`` picked by the integer tensor
    ``input`` (any shape) -> ``input.shape + (dim,)``.  The gradient of row
    ``padding_idx`` is always zero.  ``max_norm``: every row looked up whose
    ``norm_type``-norm exceeds it is first rescaled, in place in ``weight`` (no graph,
    as PyTorch's ``embedding_renorm_``), to norm ``max_norm``."""
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are "
                                  "not supported")
    input = _require_tensor(input, "embedding", "input (the indices)")
    if input.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be an integer tensor (int64), got {input.dtype}")
    _same_device(input, weight, "embedding")
    num = weight.shape[0]
    indices = input.data
    bad = (indices < 0) | (indices >= num)
    if bad.any():  # one check for the whole batch; the message names one bad value
        value = int(indices[bad].reshape(-1)[0])
        raise IndexError(
            f"embedding: index {value} is out of range for an embedding of {num} rows "
            f"(expected indices in [0, {num - 1}])")
    if padding_idx is not None:
        padding_idx = _padding_index(padding_idx, num)
    if max_norm is not None:
        _renorm_rows(weight, indices, float(max_norm), float(norm_type))
    return _ops.Embedding.apply(weight, indices=indices, padding_idx=padding_idx)


def _renorm_rows(weight: Tensor, indices, max_norm: float, norm_type: float) -> None:
    """Scale, in place, each row of ``weight`` named in ``indices`` whose norm is above
    ``max_norm`` by ``max_norm / (norm + 1e-7)`` (PyTorch's ``embedding_renorm_``)."""
    xp = backend.get_array_module(weight.data)
    rows = xp.unique(indices.reshape(-1))
    picked = weight.data[rows]
    norms = xp.linalg.norm(picked, ord=norm_type, axis=1)
    over = norms > max_norm
    if bool(over.any()):
        scale = (max_norm / (norms[over] + 1e-7)).astype(weight.dtype)
        weight.data[rows[over]] = picked[over] * scale[:, None]


def _padding_index(padding_idx: int, num: int) -> int:
    """A padding index in ``[-num, num)`` as a row number (negative counts from the end)."""
    if not -num <= padding_idx < num:
        raise ValueError(
            f"padding_idx {padding_idx} is out of range for {num} embeddings "
            f"(expected a value in [{-num}, {num - 1}])")
    return padding_idx % num


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing dims ``normalized_shape`` to zero mean and unit
    (biased) variance, then ``* weight + bias`` (both of shape ``normalized_shape``):
    ``(*, *normalized_shape)`` -> the same shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    input = _floating(input)
    if input.shape[input.ndim - len(shape):] != shape or len(shape) > input.ndim:
        raise ValueError(
            f"layer_norm: expected an input whose last dims are normalized_shape={shape}, "
            f"got shape {tuple(input.shape)}")
    axes = tuple(range(input.ndim - len(shape), input.ndim))
    if weight is None and bias is None:
        return _ops.LayerNorm.apply(input, axes=axes, eps=eps)
    xp = backend.get_array_module(input.data)
    if weight is None:  # the op takes both: a constant stands in for the missing one
        weight = Tensor._make(xp.ones(shape, dtype=input.dtype))
    if bias is None:
        bias = Tensor._make(xp.zeros(shape, dtype=input.dtype))
    for name, param in (("weight", weight), ("bias", bias)):
        if param.shape != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}, got "
                             f"{tuple(param.shape)}")
    input, weight = _promote(input, weight, "layer_norm")
    input, bias = _promote(input, bias, "layer_norm")
    weight = weight if weight.dtype == input.dtype else weight.to(input.dtype)
    return _ops.LayerNorm.apply(input, weight, bias, axes=axes, eps=eps)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:  # noqa: A002
    """Zero elements with probability ``p`` and scale the others by ``1/(1-p)`` when
    ``training``; the identity otherwise.  Draws from minigrad's seeded stream."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return input
    return _ops.Dropout.apply(_floating(input), p=float(p))


# --- activations -----------------------------------------------------------------------


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise ``tanh``; same shape as ``input``."""
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise ``1 / (1 + exp(-x))``; same shape as ``input``."""
    return input.sigmoid()


def relu(input: Tensor) -> Tensor:  # noqa: A002
    """Elementwise ``max(x, 0)``; same shape as ``input``."""
    return input.relu()


def softmax(input: Tensor, dim: int,  # noqa: A002
            dtype: np.dtype | type | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (stable: the max is subtracted first);
    same shape as ``input``, cast to ``dtype`` first if given."""
    return _softmax_like(_ops.Softmax, input, dim, dtype, "softmax")


def log_softmax(input: Tensor, dim: int,  # noqa: A002
                dtype: np.dtype | type | None = None) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed stably in one op (finite even where
    ``softmax`` underflows to 0); same shape as ``input``."""
    return _softmax_like(_ops.LogSoftmax, input, dim, dtype, "log_softmax")


def _softmax_like(op, input, dim, dtype, name):  # noqa: A002
    x = _floating(input) if dtype is None else input.to(dtype)
    if x.ndim == 0:  # a single value: treat it as a vector of one
        return op.apply(x.reshape(1), dim=0).reshape(())
    if op is _ops.LogSoftmax and x.requires_grad and is_grad_enabled():
        return op.apply(x, dim=_dim(x, dim, name), keep_exps=True)
    return op.apply(x, dim=_dim(x, dim, name))


# --- more activations, normalization, similarity and padding ----------------------------

GELU_APPROXIMATIONS = ("none", "tanh")


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """``x * Phi(x)`` (Phi: the standard normal CDF), or with ``approximate='tanh'``
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``; same shape as ``input``."""
    if approximate not in GELU_APPROXIMATIONS:
        raise RuntimeError(f"gelu: approximate argument must be either none or tanh, got "
                           f"{approximate!r}")
    return _pointwise.GELU.apply(_floating(_require_tensor(input, "gelu", "input")),
                                 approximate=approximate)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """``log(1 + exp(beta x)) / beta``, and ``x`` itself where ``beta x > threshold``
    (for numerical stability, as PyTorch); same shape as ``input``."""
    x = _floating(_require_tensor(input, "softplus", "input"))
    return _pointwise.Softplus.apply(x, beta=float(beta), threshold=float(threshold))


def normalize(input: Tensor, p: float = 2.0, dim: int | Sequence[int] = 1,  # noqa: A002
              eps: float = 1e-12) -> Tensor:
    """``input / max(||input||_p, eps)`` with the norm over ``dim`` (kept for
    broadcasting); same shape as ``input``."""
    x = _floating(_require_tensor(input, "normalize", "input"))
    return x / x.norm(p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))`` over ``dim`` (the inputs
    broadcast); the broadcast shape without ``dim``."""
    _require_tensor(x1, "cosine_similarity", "x1")
    _require_tensor(x2, "cosine_similarity", "x2")
    x1, x2 = _promote(_floating(x1), _floating(x2), "cosine_similarity")
    try:
        shape = np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:
        raise ValueError(f"cosine_similarity: shapes {tuple(x1.shape)} and "
                         f"{tuple(x2.shape)} cannot be broadcast together") from None
    (axis,) = normalize_dims(dim, len(shape), "cosine_similarity")
    x1 = x1 if x1.shape == shape else x1.expand(*shape)
    x2 = x2 if x2.shape == shape else x2.expand(*shape)
    n1 = x1.norm(2, axis, keepdim=True).clamp(min=eps)
    n2 = x2.norm(2, axis, keepdim=True).clamp(min=eps)
    return ((x1 / n1) * (x2 / n2)).sum(axis)


PAD_MODES = ("constant", "reflect", "replicate", "circular")
_NUMPY_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input: Tensor, pad: Sequence[int], mode: str = "constant",  # noqa: A002
        value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dims: ``pad = (left, right)`` for the last dim,
    then ``(top, bottom)`` for the one before, ...

    ``'constant'`` fills with ``value`` (0 by default; negative widths crop);
    ``'reflect'`` mirrors without repeating the edge, ``'replicate'`` repeats it,
    ``'circular'`` wraps around -- those three pad 1 to 3 trailing dims of a batched
    (or unbatched) input, as PyTorch.  The gradient of a copied element is summed into
    its source.
    """
    x = _require_tensor(input, "pad", "input")
    widths_flat = [int(w) for w in pad]
    if len(widths_flat) % 2:
        raise ValueError(f"pad: padding length must be divisible by 2, got {len(widths_flat)}")
    n_dims = len(widths_flat) // 2
    if n_dims > x.ndim:
        raise ValueError(f"pad: padding length should be less than or equal to two times the "
                         f"input dimension but got padding length {len(widths_flat)} and "
                         f"input of dimension {x.ndim}")
    if mode not in PAD_MODES:
        raise NotImplementedError(f"pad: unrecognised padding mode {mode!r} (expected one of "
                                  f"{', '.join(PAD_MODES)})")
    widths = [(0, 0)] * x.ndim
    for i in range(n_dims):  # pad lists the last dim first
        widths[x.ndim - 1 - i] = (widths_flat[2 * i], widths_flat[2 * i + 1])
    if mode == "constant":
        return _constant_pad(x, widths, 0.0 if value is None else value)
    if value is not None:
        raise RuntimeError(f'pad: padding mode "{mode}" doesn\'t take in value argument')
    if n_dims > 3 or x.ndim not in (n_dims + 1, n_dims + 2):
        raise NotImplementedError(f"pad: padding size {len(widths_flat)} is not supported for "
                                  f"{x.ndim}D input tensor in mode {mode!r} (expected "
                                  f"{n_dims + 1}D or {n_dims + 2}D input)")
    return _copy_pad(x, widths, mode)


def _constant_pad(x: Tensor, widths: list, value) -> Tensor:
    crop = []
    for (before, after), n in zip(widths, x.shape):
        start, stop = -min(before, 0), n + min(after, 0)
        if stop < start:
            raise RuntimeError(f"pad: negative padding {(before, after)} removes more than the "
                               f"dim's {n} elements")
        crop.append(slice(start, stop))
    if any(b < 0 or a < 0 for b, a in widths):
        x = x[tuple(crop)]
    grow = tuple((max(b, 0), max(a, 0)) for b, a in widths)
    if not any(b or a for b, a in grow):
        return x
    return _indexing.ConstantPad.apply(x, widths=grow, value=value)


def _copy_pad(x: Tensor, widths: list, mode: str) -> Tensor:
    """Reflect / replicate / circular padding as one gather: each output position reads
    a source position (``numpy.pad`` of an ``arange`` says which)."""
    xp = backend.get_array_module(x.data)
    key, padded = [], [d for d, (b, a) in enumerate(widths) if b or a]
    for d, ((before, after), n) in enumerate(zip(widths, x.shape)):
        if d not in padded:
            key.append(slice(None))
            continue
        if before < 0 or after < 0:
            raise ValueError(f"pad: negative padding is only supported in 'constant' mode, "
                             f"got {(before, after)} for dim {d}")
        limit = n if mode == "circular" else (n - 1 if mode == "reflect" else None)
        if limit is not None and max(before, after) > limit:
            raise RuntimeError(f"pad: padding size should be less than the corresponding input "
                               f"dimension, but got padding {(before, after)} at dimension "
                               f"{d} of input {list(x.shape)} (mode {mode!r})")
        if n == 0:
            raise RuntimeError(f"pad: cannot pad an empty dim {d} in mode {mode!r}")
        source = np.pad(np.arange(n), (before, after), mode=_NUMPY_PAD_MODES[mode])
        shape = [1] * len(padded)
        shape[padded.index(d)] = source.shape[0]
        key.append(xp.asarray(source.reshape(shape)))
    if not padded:
        return x
    return x[tuple(key)]


# --- losses ----------------------------------------------------------------------------


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` ``(N, C)`` / ``(N, C, d1, ...)`` (or ``(C,)``)
    against int64 class ids ``target`` ``(N,)`` / ``(N, d1, ...)`` (or ``()``), or
    against class probabilities: a float ``target`` of the input's shape.

    Class ids: fused ``log_softmax`` + NLL in one op.  Targets equal to ``ignore_index``
    contribute nothing; ``'mean'`` divides by the (weighted) number of the others;
    ``'none'`` has the target's shape.  ``weight`` ``(C,)``: optional per-class factors.
    ``label_smoothing`` ``eps`` in [0, 1] mixes in the uniform distribution, as
    PyTorch: ``(1 - eps) * nll + eps / C * sum_c -w_c log p_c`` per sample (the same
    denominator for ``'mean'``).  Probabilities: ``-sum_c w_c y_c log p_c`` per
    position (``y`` smoothed to ``(1 - eps) y + eps / C``), ``'mean'`` divides by the
    number of positions; ``ignore_index`` is not supported there.
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    if (isinstance(input, Tensor) and isinstance(target, Tensor)
            and target.shape == input.shape and target.dtype.kind != "i"):
        return _soft_cross_entropy(input, target, weight, ignore_index, reduction,
                                   label_smoothing)
    return _class_loss(_ops.CrossEntropy, "cross_entropy", input, target, weight,
                       ignore_index, reduction, label_smoothing)


def _class_weight_along(weight: Tensor | None, x: Tensor, name: str):
    """``weight`` ``(C,)`` reshaped to broadcast along the class dim of ``x``
    (dim 1, or 0 for an unbatched ``(C,)``); None stays None."""
    if weight is None:
        return None
    C = x.shape[0 if x.ndim == 1 else 1]
    if weight.shape != (C,):
        raise ValueError(f"{name}: weight must have shape ({C},) (one per class), got "
                         f"{tuple(weight.shape)}")
    _same_device(x, weight, name)
    w = weight.to(x.dtype)
    return w if x.ndim <= 1 else w.reshape((1, C) + (1,) * (x.ndim - 2))


def _soft_cross_entropy(input, target, weight, ignore_index, reduction,  # noqa: A002
                        label_smoothing):
    """``cross_entropy`` against class probabilities (see there)."""
    name = "cross_entropy"
    check_reduction(reduction, name)
    if target.dtype.kind != "f":
        raise RuntimeError("cross_entropy: expected a floating point target for class "
                           f"probabilities, got {target.dtype}")
    if ignore_index != -100:
        raise RuntimeError("cross_entropy: ignore_index is not supported for floating "
                           "point (class probability) targets")
    x = _floating(input)
    _same_device(x, target, name)
    class_dim = 0 if x.ndim == 1 else 1
    C = x.shape[class_dim]
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / C
    term = log_softmax(x, dim=class_dim) * target
    w = _class_weight_along(weight, x, name)
    if w is not None:
        term = term * w
    loss = -term.sum(class_dim)
    if reduction == "none":
        return loss
    total = loss.sum()
    return total if reduction == "sum" else total / (x.numel() // C)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` ``(N, C)`` against int64
    ``target`` ``(N,)`` -> scalar; shapes and options as ``cross_entropy`` (whose input
    is ``log_softmax``-ed first)."""
    return _class_loss(_ops.NLL, "nll_loss", input, target, weight, ignore_index, reduction)


def _class_loss(op, name, input, target, weight, ignore_index, reduction,  # noqa: A002
                label_smoothing=0.0):
    check_reduction(reduction, name)
    input = _floating(_require_tensor(input, name, "input"))
    target = _require_tensor(target, name, "target")
    if target.dtype != dtypes.int64:
        raise TypeError(
            f"{name}: target must be int64 class indices, got {target.dtype} "
            "(convert with target.long())")
    unbatched = input.ndim == 1
    if unbatched:  # (C,) with a 0-d target: a batch of one
        input, target = input.reshape(1, -1), target.reshape(-1)
    if input.ndim < 2:
        raise ValueError(f"{name}: input must be (N, C, ...) or (C,), got shape "
                         f"{tuple(input.shape)}")
    expected = input.shape[:1] + input.shape[2:]
    if target.shape != expected:
        raise ValueError(
            f"{name}: target shape {tuple(target.shape)} does not match input shape "
            f"{tuple(input.shape)}: expected target shape {expected} (classes on dim 1)")
    _same_device(input, target, name)
    safe_target, sample_weight = _sample_weights(input, target.data, weight, ignore_index,
                                                 name)
    if label_smoothing > 0:
        loss = _smoothed(input, target, weight, safe_target, sample_weight, label_smoothing,
                         ignore_index)
        if reduction == "none":
            return loss.reshape(()) if unbatched else loss
        total = loss.sum()
        return total if reduction == "sum" else total / Tensor._make(sample_weight.sum())
    params = {}
    if op is _ops.NLL and input.ndim == 2 and isinstance(input.grad_fn, _ops.LogSoftmax) \
            and getattr(input.grad_fn, "dim", None) in (1, -1):  # (None: freed by a backward)
        # log_softmax, then nll: the gradient between them stays sparse (see OneHotGrad)
        params["one_hot_grad"] = True
    if reduction == "mean":  # the mean inside: one node
        loss = op.apply(input, target=safe_target, weight=sample_weight, mean=True, **params)
        return loss.reshape(()) if unbatched else loss
    loss = op.apply(input, target=safe_target, weight=sample_weight, **params)
    if reduction == "none":
        return loss.reshape(()) if unbatched else loss
    total = loss.sum()
    if reduction == "sum":
        return total
    # 'mean': over the non-ignored targets (each counted with its class weight)
    return total / Tensor._make(sample_weight.sum())


def _smoothed(input, target, weight, safe_target, sample_weight, eps,  # noqa: A002
              ignore_index):
    """Per-sample label-smoothed cross-entropy ``(1 - eps) * ce + eps / C * smooth`` with
    ``smooth = -sum_c w_c log p_c`` (0 where the target is ignored), as PyTorch."""
    C = input.shape[1]
    ce = _ops.CrossEntropy.apply(input, target=safe_target, weight=sample_weight)
    term = log_softmax(input, dim=1)
    w = _class_weight_along(weight, input, "cross_entropy")
    if w is not None:
        term = term * w
    valid = Tensor._make((target.data != ignore_index).astype(input.dtype))
    smooth = -term.sum(1) * valid
    return ce * (1 - eps) + smooth * (eps / C)


def _sample_weights(input, target, weight, ignore_index, name):  # noqa: A002
    """Check the class ids; give (target with ignored ids replaced by 0, per-sample
    factor: 0 where ignored, else the class weight or 1)."""
    xp = backend.get_array_module(target)
    num_classes = input.shape[1]
    if (target.size and not 0 <= ignore_index < num_classes
            and 0 <= int(target.min()) and int(target.max()) < num_classes):
        # the common case, in two reductions: every id valid, none ignored
        safe_target, sample_weight = target, xp.ones(target.shape, input.dtype)
    else:
        valid = target != ignore_index
        bad = valid & ((target < 0) | (target >= num_classes))
        if bad.any():
            value = int(target[bad].reshape(-1)[0])
            raise IndexError(
                f"{name}: target {value} is out of range: expected class indices in "
                f"[0, {num_classes - 1}] (or ignore_index={ignore_index})")
        safe_target = xp.where(valid, target, 0)
        sample_weight = valid.astype(input.dtype)
    if weight is not None:
        if weight.shape != (num_classes,):
            raise ValueError(f"{name}: weight must have shape ({num_classes},) (one per "
                             f"class), got {tuple(weight.shape)}")
        _same_device(input, weight, name)
        sample_weight *= weight.data.astype(input.dtype)[safe_target]
    return safe_target, sample_weight


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Squared error ``(input - target)**2`` of same-shape tensors -> scalar (that
    shape for ``reduction='none'``)."""
    check_reduction(reduction, "mse_loss")
    _same_shape(_require_tensor(input, "mse_loss", "input"),
                _require_tensor(target, "mse_loss", "target"), "mse_loss")
    diff = _floating(input) - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    """``-(y log p + (1-y) log(1-p))`` for probabilities ``input`` in [0, 1] and float
    targets of the same shape -> scalar (that shape for ``reduction='none'``); each log
    is clamped at -100 (as PyTorch)."""
    check_reduction(reduction, "binary_cross_entropy")
    input, target = _binary_args(input, target, "binary_cross_entropy")
    data = input.data
    if bool(((data < 0) | (data > 1)).any()):
        raise ValueError(
            f"binary_cross_entropy: input values must be probabilities in [0, 1], got "
            f"values in [{float(data.min())}, {float(data.max())}] "
            "(for logits use binary_cross_entropy_with_logits)")
    return _weighted(_ops.BCE.apply(input, target), weight, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None,
                                     reduction: str = "mean") -> Tensor:
    """``binary_cross_entropy(sigmoid(input), target)`` in one stable op:
    ``max(x, 0) - x y + log1p(exp(-|x|))``, finite for any logit."""
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    input, target = _binary_args(input, target, "binary_cross_entropy_with_logits")
    return _weighted(_ops.BCEWithLogits.apply(input, target), weight, reduction)


def _binary_args(input, target, name):  # noqa: A002
    input = _floating(_require_tensor(input, name, "input"))
    target = _require_tensor(target, name, "target")
    if target.dtype.kind != "f":
        raise TypeError(f"{name}: target must be a floating tensor (0/1 or soft labels), "
                        f"got {target.dtype} (convert with target.float())")
    _same_shape(input, target, name)
    return _promote(input, target, name)


def _weighted(loss: Tensor, weight, reduction: str) -> Tensor:
    return _reduce(loss if weight is None else loss * weight, reduction)


# --- regression, divergence and sequence losses ---------------------------------------


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` flags, mapped to ``reduction``
    (either given overrides it; both default to True)."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _pointwise_args(input, target, name):  # noqa: A002
    """Same-shape float input and target, on one device, in one dtype."""
    input = _floating(_require_tensor(input, name, "input"))
    target = _floating(_require_tensor(target, name, "target"))
    _same_shape(input, target, name)
    return _promote(input, target, name)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Absolute error ``|input - target|`` of same-shape tensors (times ``weight`` if
    given) -> scalar (that shape for ``reduction='none'``)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "l1_loss")
    input, target = _pointwise_args(input, target, "l1_loss")
    return _weighted((input - target).abs(), weight, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """``0.5 d**2 / beta`` where ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = input -
    target``, same shapes) -> scalar (that shape for ``'none'``); ``beta=0`` is L1."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    check_reduction(reduction, "smooth_l1_loss")
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    input, target = _pointwise_args(input, target, "smooth_l1_loss")
    if beta == 0:
        return _reduce((input - target).abs(), reduction)
    return _reduce(_loss_ops.SmoothL1.apply(input, target, beta=float(beta)), reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)`` (``d =
    input - target``, same shapes; times ``weight`` if given) -> scalar (that shape
    for ``'none'``).  Equals ``delta * smooth_l1_loss(beta=delta)``."""
    check_reduction(reduction, "huber_loss")
    if not delta > 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    input, target = _pointwise_args(input, target, "huber_loss")
    loss = _loss_ops.SmoothL1.apply(input, target, beta=float(delta), scale=float(delta))
    return _weighted(loss, weight, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence ``sum target * (log target - input)`` of log-probabilities
    ``input`` from ``target`` (probabilities, or log-probabilities if ``log_target``),
    same shapes.  ``reduction``: ``'batchmean'`` (sum / batch size: the true KL
    divergence per sample), ``'sum'``, ``'mean'`` (over every element) or ``'none'``."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if reduction not in REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: reduction must be one of 'mean', 'batchmean', 'sum', "
                         f"'none', got {reduction!r}")
    input, target = _pointwise_args(input, target, "kl_div")
    loss = _loss_ops.KLDiv.apply(input, target, log_target=bool(log_target))
    if reduction == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, reduction)


def _lengths(value, name: str, device: str):
    """CTC lengths (an int tensor, a sequence of ints, or an int) as an int64 array."""
    if isinstance(value, Tensor):
        if value.dtype.kind not in "iu":
            raise TypeError(f"ctc_loss: {name} must hold integers, got a {value.dtype} tensor")
        array = value.data
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "iu":
            raise TypeError(f"ctc_loss: {name} must be an int tensor or a sequence of ints, "
                            f"got {value!r}")
    return backend.to_device(array.astype(np.int64).reshape(-1), device)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths, target_lengths,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification loss (speech, handwriting).

    ``log_probs`` ``(T, N, C)`` (or unbatched ``(T, C)``): ``log_softmax`` outputs over
    ``C`` classes, class ``blank`` the blank.  ``targets``: int class ids, padded
    ``(N, S)`` or all targets concatenated ``(sum(target_lengths),)`` (unbatched:
    ``(S,)``); never the blank.  ``input_lengths``/``target_lengths``: ``(N,)`` int
    tensors or sequences (the valid frames / labels of each sample).

    Returns ``-log p(target | input)`` summed over alignments: ``'none'`` ``(N,)``,
    ``'sum'``, or ``'mean'`` (each loss divided by its target length, then averaged
    over the batch).  ``zero_infinity`` replaces infinite losses (no alignment fits
    in the input) and their gradients by zero.  The gradient is PyTorch's: that of
    the loss with respect to the logits under ``log_softmax``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"ctc_loss: reduction must be one of 'mean', 'sum', 'none', got "
                         f"{reduction!r}")
    log_probs = _require_tensor(log_probs, "ctc_loss", "log_probs")
    targets = _require_tensor(targets, "ctc_loss", "targets")
    if log_probs.dtype.kind != "f":
        raise TypeError(f"ctc_loss: log_probs must be a floating tensor, got {log_probs.dtype}")
    if targets.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: targets must be an integer tensor of class ids, got "
                        f"{targets.dtype}")
    unbatched = log_probs.ndim == 2
    if unbatched:
        log_probs, targets = log_probs.unsqueeze(1), targets.reshape(1, -1)
    if log_probs.ndim != 3:
        raise ValueError(f"ctc_loss: log_probs must be (T, N, C) or unbatched (T, C), got "
                         f"shape {tuple(log_probs.shape)}")
    _same_device(log_probs, targets, "ctc_loss")
    T, N, C = log_probs.shape
    device = log_probs.device
    in_lens = _lengths(input_lengths, "input_lengths", device)
    tg_lens = _lengths(target_lengths, "target_lengths", device)
    if not 0 <= blank < C:
        raise RuntimeError(f"blank must be in label range: got blank={blank} for {C} classes")
    if in_lens.shape[0] != N:
        raise RuntimeError(f"input_lengths must be of size batch_size: got "
                           f"{in_lens.shape[0]} lengths for a batch of {N}")
    if tg_lens.shape[0] != N:
        raise RuntimeError(f"target_lengths must be of size batch_size: got "
                           f"{tg_lens.shape[0]} lengths for a batch of {N}")
    if N and int(in_lens.max()) > T:
        raise RuntimeError(f"Expected input_lengths to have value at most {T}, but got value "
                           f"{int(in_lens.max())}")
    for name, lens in (("input_lengths", in_lens), ("target_lengths", tg_lens)):
        if N and int(lens.min()) < 0:
            raise RuntimeError(f"Expected {name} to have value at least 0, but got value "
                               f"{int(lens.min())}")
    xp = backend.get_array_module(log_probs.data)
    labels = targets.data.astype(np.int64)
    max_len = int(tg_lens.max()) if N else 0
    if targets.ndim == 1 and not unbatched:  # concatenated: cut out each sample's labels
        total = int(tg_lens.sum())
        if labels.shape[0] != total:
            raise RuntimeError(f"Expected tensor to have size {total} at dimension 0, but got "
                               f"size {labels.shape[0]} for argument #2 'targets' (the "
                               "concatenated targets must hold sum(target_lengths) labels)")
        starts = xp.cumsum(tg_lens) - tg_lens
        column = xp.arange(max_len)
        inside = column[None, :] < tg_lens[:, None]
        index = xp.where(inside, starts[:, None] + column[None, :], 0)
        labels = xp.where(inside, labels[index] if total else 0, blank)
    elif targets.ndim == 2:
        if labels.shape[0] != N:
            raise RuntimeError(f"ctc_loss: padded targets must be (N, S) with N={N}, got "
                               f"shape {tuple(labels.shape)}")
        if labels.shape[1] < max_len:
            raise RuntimeError(f"Expected tensor to have size at least {max_len} at dimension "
                               f"1, but got size {labels.shape[1]} for argument #2 'targets'")
        labels = labels[:, :max_len]
    else:
        raise ValueError(f"ctc_loss: targets must be (N, S) padded or 1-D concatenated, got "
                         f"shape {tuple(targets.shape)}")
    used = xp.arange(labels.shape[1])[None, :] < tg_lens[:, None]
    bad = used & ((labels < 0) | (labels >= C))
    if bad.any():
        raise IndexError(f"ctc_loss: target {int(labels[bad][0])} is out of range: expected "
                         f"class ids in [0, {C - 1}]")
    loss = _loss_ops.CTCLoss.apply(log_probs, targets=labels, input_lengths=in_lens,
                                   target_lengths=tg_lens, blank=int(blank),
                                   zero_infinity=bool(zero_infinity))
    if reduction == "mean":
        per_label = xp.maximum(tg_lens, 1).astype(log_probs.dtype)
        return (loss / Tensor._make(per_label)).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss


# --- attention -------------------------------------------------------------------------


def _attention_bias(mask, like: Tensor, name: str, allowed_is_true: bool):
    """A boolean or float attention mask as an additive float bias (a Tensor of
    ``like``'s dtype, or None).  Boolean masks give ``-inf`` at the blocked entries:
    the False ones when ``allowed_is_true`` (SDPA's convention), else the True ones
    (``nn.MultiheadAttention``'s)."""
    if mask is None:
        return None
    mask = _require_tensor(mask, name, "the mask")
    _same_device(mask, like, name)
    xp = backend.get_array_module(like.data)
    if mask.dtype.kind == "b":
        blocked = ~mask.data if allowed_is_true else mask.data
        return Tensor._make(xp.where(blocked, -xp.inf, 0.0).astype(like.dtype))
    if mask.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected the mask dtype to be bool or float, got "
                           f"{mask.dtype}")
    return mask if mask.dtype == like.dtype else mask.to(like.dtype)


def _attend(query: Tensor, key: Tensor, value: Tensor, bias: Tensor | None,
            dropout_p: float, scale: float, safe: bool) -> tuple[Tensor, Tensor]:
    """``softmax(q k^T * scale + bias) v`` over the last two dims -> (output, weights).
    ``safe``: a row whose every score is ``-inf`` (fully masked) gets zero weights
    (PyTorch's SDPA) instead of NaN (its ``MultiheadAttention`` with weights)."""
    scores = _matmul(query * scale, key.transpose(-2, -1))
    if bias is not None:
        scores = scores + bias
    dead = None
    if safe:
        xp = backend.get_array_module(scores.data)
        dead = (scores.data == -xp.inf).all(axis=-1, keepdims=True)
        if dead.any():  # keep the softmax (and its gradient) finite on those rows
            scores = _where(dead, 0.0, scores)
        else:
            dead = None
    weights = softmax(scores, -1)
    if dead is not None:
        weights = _where(dead, 0.0, weights)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True)
    return _matmul(weights, value), weights


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key^T * scale + mask) @ value`` with ``scale = 1/sqrt(E)``.

    ``query`` ``(..., L, E)``, ``key`` ``(..., S, E)``, ``value`` ``(..., S, Ev)`` (the
    leading dims broadcast) -> ``(..., L, Ev)``.  ``attn_mask`` broadcastable to
    ``(..., L, S)``: bool (True = may attend) or float (added to the scores).
    ``is_causal``: position ``i`` attends to ``j <= i`` only (no ``attn_mask`` then).
    ``dropout_p``: dropout on the attention weights (always applied when > 0, as in
    PyTorch: pass 0 in eval mode).  A fully masked row gives zeros.  ``enable_gqa``:
    ``key``/``value`` ``(..., Hkv, S, E)`` may have fewer heads than ``query``
    ``(..., H, L, E)`` (``Hkv`` divides ``H``; each is repeated ``H / Hkv`` times).
    """
    for name, t in (("query", query), ("key", key), ("value", value)):
        _require_tensor(t, "scaled_dot_product_attention", name)
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise RuntimeError(
            "Expected query, key, and value to all be at least 2 dimensional, but got "
            f"query.dim: {query.ndim} key.dim: {key.ndim} and value.dim: {value.ndim} "
            "instead.")
    if enable_gqa and min(query.ndim, key.ndim, value.ndim) >= 3:
        # grouped-query attention: each key/value head serves several query heads
        heads = query.shape[-3]
        for name, t in (("key", key), ("value", value)):
            if heads % t.shape[-3] != 0:
                raise RuntimeError(
                    f"Number of heads in key and value must divide the number of heads in "
                    f"query: got {heads} query heads and {t.shape[-3]} {name} heads")
        key = key.repeat_interleave(heads // key.shape[-3], dim=key.ndim - 3)
        value = value.repeat_interleave(heads // value.shape[-3], dim=value.ndim - 3)
    if query.shape[-1] != key.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query and key must have the same "
                           f"embedding size, got {query.shape[-1]} and {key.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(f"scaled_dot_product_attention: key and value must have the same "
                           f"sequence length, got {key.shape[-2]} and {value.shape[-2]}")
    if is_causal and attn_mask is not None:
        raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be "
                           "set when is_causal=True")
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1], got "
                         f"{dropout_p}")
    query = _floating(query)
    key, value = key.to(query.dtype), value.to(query.dtype)
    L, S = query.shape[-2], key.shape[-2]
    if is_causal:
        xp = backend.get_array_module(query.data)
        bias = Tensor._make(xp.triu(xp.full((L, S), -xp.inf, dtype=query.dtype), 1))
    else:
        bias = _attention_bias(attn_mask, query, "scaled_dot_product_attention", True)
        if bias is not None and not _broadcastable_to(bias.shape, query.shape[:-2] + (L, S)):
            raise RuntimeError(f"scaled_dot_product_attention: attn_mask of shape "
                               f"{tuple(bias.shape)} cannot be broadcast to the scores' shape "
                               f"{query.shape[:-2] + (L, S)}")
    scale = 1.0 / np.sqrt(query.shape[-1]) if scale is None else float(scale)
    return _attend(query, key, value, bias, float(dropout_p), scale, safe=True)[0]


def _broadcastable_to(shape: tuple, target: tuple) -> bool:
    if len(shape) > len(target):
        return False
    return all(a in (1, b) for a, b in zip(reversed(shape), reversed(target)))


# --- utilities -------------------------------------------------------------------------


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 class ids of any shape -> int64 ``tensor.shape + (num_classes,)`` with a 1
    at each id.  ``num_classes=-1`` uses ``max + 1``."""
    tensor = _require_tensor(tensor, "one_hot", "input")
    if tensor.dtype != dtypes.int64:
        raise TypeError(f"one_hot: expected an int64 tensor of class indices, got "
                        f"{tensor.dtype}")
    data = tensor.data
    xp = backend.get_array_module(data)
    if num_classes == -1:
        if data.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
        num_classes = int(data.max()) + 1
    bad = (data < 0) | (data >= num_classes)
    if bad.any():
        value = int(data[bad].reshape(-1)[0])
        raise IndexError(f"one_hot: class index {value} is out of range for "
                         f"num_classes={num_classes} (expected values in "
                         f"[0, {num_classes - 1}])")
    return Tensor._make((data[..., None] == xp.arange(num_classes)).astype(xp.int64))
