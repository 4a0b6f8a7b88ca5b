"""Basic layers: ``Linear``, ``Embedding``, ``Dropout``, ``LayerNorm``, the activations
and the shape helpers ``Identity`` / ``Flatten``.  Each is a thin ``Module`` around a
function of ``nn.functional``; what a layer adds is its parameters and their
initialization."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import creation
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Dropout", "Embedding", "Flatten", "GELU", "Identity", "LayerNorm", "Linear",
           "LogSoftmax", "ReLU", "Sigmoid", "Softmax", "Softplus", "Tanh"]


def _check_size(value, name: str, cls: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{cls}: {name} must be a non-negative int, got {value!r}")
    return value


class Linear(Module):
    """``y = x @ weight.T + bias`` for x ``(*, in_features)`` -> ``(*, out_features)``.

    ``weight`` ``(out_features, in_features)`` and ``bias`` ``(out_features,)`` start
    uniform in ``[-1/sqrt(in_features), 1/sqrt(in_features)]`` (PyTorch's default:
    ``kaiming_uniform_(a=sqrt(5))``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: str | None = None, dtype: np.dtype | type | str | None = None):
        super().__init__()
        self.in_features = _check_size(in_features, "in_features", "Linear")
        self.out_features = _check_size(out_features, "out_features", "Linear")
        self.weight = Parameter(creation.empty(out_features, in_features, dtype=dtype,
                                               device=device))
        if bias:
            self.bias = Parameter(creation.empty(out_features, dtype=dtype, device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Redraw ``weight`` and ``bias`` from the default uniform init (in place)."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """``(*, in_features)`` -> ``(*, out_features)``."""
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: int indices of any shape ``S`` -> ``S + (embedding_dim,)``.

    ``weight`` ``(num_embeddings, embedding_dim)`` starts N(0, 1).  Row ``padding_idx``
    (if given) starts at zero and gets no gradient, so it stays zero in training.
    ``max_norm``: rows looked up are first rescaled in place to a ``norm_type``-norm of
    at most ``max_norm``.  ``Embedding.from_pretrained(vectors)`` wraps given vectors
    (e.g. GloVe), frozen by default.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int,
                 padding_idx: int | None = None, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False,
                 device: str | None = None, dtype: np.dtype | type | str | None = None):
        super().__init__()
        self.num_embeddings = _check_size(num_embeddings, "num_embeddings", "Embedding")
        self.embedding_dim = _check_size(embedding_dim, "embedding_dim", "Embedding")
        if padding_idx is not None:
            padding_idx = F._padding_index(padding_idx, num_embeddings)
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: scale_grad_by_freq and sparse gradients are "
                                      "not supported")
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(creation.empty(num_embeddings, embedding_dim, dtype=dtype,
                                                   device=device), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: shape of weight {tuple(_weight.shape)} does not "
                                 f"match num_embeddings and embedding_dim "
                                 f"{(num_embeddings, embedding_dim)}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True,
                        padding_idx: int | None = None, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is the 2-D ``embeddings`` ``(num, dim)`` (its data
        is shared, not copied, as in PyTorch); ``freeze`` (default) keeps it out of
        training (``weight.requires_grad = False``).  The padding row is left as given."""
        if not isinstance(embeddings, Tensor):
            raise TypeError(f"from_pretrained: embeddings must be a Tensor, got "
                            f"{type(embeddings).__name__}")
        if embeddings.ndim != 2:
            raise ValueError(f"Embeddings parameter is expected to be 2-dimensional, got "
                             f"shape {tuple(embeddings.shape)}")
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                   sparse=sparse, _weight=embeddings, _freeze=freeze)

    def reset_parameters(self) -> None:
        """Redraw ``weight`` from N(0, 1) (in place) and zero row ``padding_idx``."""
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices: Tensor) -> Tensor:
        """Integer indices of shape ``S`` -> ``S + (embedding_dim,)``."""
        return F.embedding(indices, self.weight, self.padding_idx, self.max_norm,
                           self.norm_type)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        return text


class Dropout(Module):
    """In training, zero each element with probability ``p`` and scale the rest by
    ``1/(1-p)``; in eval mode, the identity."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape (``x`` itself in eval mode)."""
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return f"p={self.p}"


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` dims, then scale and shift by
    ``weight`` (starts at 1) and ``bias`` (starts at 0) of that shape."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True,
                 device: str | None = None, dtype: np.dtype | type | str | None = None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(creation.ones(self.normalized_shape, dtype=dtype,
                                                  device=device))
            if bias:
                self.bias = Parameter(creation.zeros(self.normalized_shape, dtype=dtype,
                                                     device=device))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        """``(*, *normalized_shape)`` -> the same shape."""
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class Tanh(Module):
    """Elementwise ``tanh``."""

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape."""
        return x.tanh()


class Sigmoid(Module):
    """Elementwise ``1 / (1 + exp(-x))``."""

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape."""
        return x.sigmoid()


class ReLU(Module):
    """Elementwise ``max(x, 0)``."""

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape."""
        return x.relu()


class GELU(Module):
    """Elementwise ``x * Phi(x)`` (``F.gelu``); ``approximate='tanh'`` uses the tanh
    form."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in F.GELU_APPROXIMATIONS:
            raise RuntimeError(f"GELU: approximate argument must be either none or tanh, got "
                               f"{approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape."""
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    """Elementwise ``log(1 + exp(beta x)) / beta`` (linear above ``threshold``;
    ``F.softplus``)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape."""
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return f"beta={self.beta}, threshold={self.threshold}"


class Softmax(Module):
    """``softmax`` along ``dim``."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape, summing to 1 along ``dim``."""
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """``log_softmax`` along ``dim`` (pair with ``NLLLoss``; or use ``CrossEntropyLoss``
    on the raw logits)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        """Any shape -> the same shape (log-probabilities along ``dim``)."""
        return F.log_softmax(x, self.dim)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return f"dim={self.dim}"


class Identity(Module):
    """Returns its input (a placeholder; any constructor arguments are ignored)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()

    def forward(self, x: Any) -> Any:
        """Returns ``x`` itself (any shape)."""
        return x


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one (default: all but the batch dim)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        """``(N, d1, ..., dk)`` -> ``(N, d1 * ... * dk)`` with the default dims."""
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        """The constructor arguments shown inside ``repr``."""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
