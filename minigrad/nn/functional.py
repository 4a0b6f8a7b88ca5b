"""``minigrad.nn.functional`` (``import minigrad.nn.functional as F``): the stateless
versions of the layers and losses, with PyTorch's names and arguments.

These functions check their arguments and give clear errors; the math lives in
``minigrad/ops`` (``linalg.Linear`` and the fused ops of ``nn_ops``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .. import backend, dtypes
from ..ops import linalg as _linalg
from ..ops import nn_ops as _ops
from ..ops.reduce import normalize_dims
from ..tensor import Tensor, _promote

__all__ = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout",
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


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of ``weight`` ``(num_embeddings, dim)`` picked by the integer tensor
    ``input`` (any shape) -> ``input.shape + (dim,)``.  The gradient of row
    ``padding_idx`` is always zero."""
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
    return _ops.Embedding.apply(weight, indices=indices, padding_idx=padding_idx)


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
    return op.apply(x, dim=_dim(x, dim, name))


# --- losses ----------------------------------------------------------------------------


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Cross-entropy of logits ``input`` ``(N, C)`` / ``(N, C, d1, ...)`` (or ``(C,)``)
    against int64 class ids ``target`` ``(N,)`` / ``(N, d1, ...)`` (or ``()``).

    Fused ``log_softmax`` + NLL in one op.  Targets equal to ``ignore_index`` contribute
    nothing; ``'mean'`` divides by the (weighted) number of the others; ``'none'`` has
    the target's shape.  ``weight`` ``(C,)``: optional per-class factors.
    """
    return _class_loss(_ops.CrossEntropy, "cross_entropy", input, target, weight,
                       ignore_index, reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` ``(N, C)`` against int64
    ``target`` ``(N,)`` -> scalar; shapes and options as ``cross_entropy`` (whose input
    is ``log_softmax``-ed first)."""
    return _class_loss(_ops.NLL, "nll_loss", input, target, weight, ignore_index, reduction)


def _class_loss(op, name, input, target, weight, ignore_index, reduction):  # noqa: A002
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
    if reduction == "mean" and op is _ops.CrossEntropy:  # the mean inside: one node
        loss = op.apply(input, target=safe_target, weight=sample_weight, mean=True)
        return loss.reshape(()) if unbatched else loss
    loss = op.apply(input, target=safe_target, weight=sample_weight)
    if reduction == "none":
        return loss.reshape(()) if unbatched else loss
    total = loss.sum()
    if reduction == "sum":
        return total
    # 'mean': over the non-ignored targets (each counted with its class weight)
    return total / Tensor._make(sample_weight.sum())


def _sample_weights(input, target, weight, ignore_index, name):  # noqa: A002
    """Check the class ids; give (target with ignored ids replaced by 0, per-sample
    factor: 0 where ignored, else the class weight or 1)."""
    xp = backend.get_array_module(target)
    num_classes = input.shape[1]
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
