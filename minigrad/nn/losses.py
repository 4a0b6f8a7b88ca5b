"""Loss modules: thin wrappers that store the options and call ``nn.functional``.

``reduction`` is ``'mean'`` (default), ``'sum'`` or ``'none'`` (one loss per target,
shaped like the target).
"""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "NLLLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        F.check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with an optional ``weight`` tensor, kept as a buffer (it moves with
    ``to(device)`` and is saved in ``state_dict``, as in PyTorch)."""

    def __init__(self, weight: Tensor | None = None, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", weight)


class _ClassIndexLoss(_WeightedLoss):
    """A weighted loss over int64 class-index targets, some of which may be skipped
    (``ignore_index``)."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean"):
        super().__init__(weight, reduction)
        self.ignore_index = ignore_index


class CrossEntropyLoss(_ClassIndexLoss):
    """Cross-entropy of logits ``(N, C)`` / ``(N, C, d1, ...)`` against int64 class ids
    ``(N,)`` / ``(N, d1, ...)``; targets equal to ``ignore_index`` are skipped and
    ``'mean'`` averages over the others.  For ``(B, T, C)`` sequence logits pass
    ``logits.transpose(1, 2)`` or ``logits.reshape(B * T, C)``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """``(N, C)`` logits, ``(N,)`` int64 targets -> scalar (``(N,)`` for
        ``reduction='none'``)."""
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction)


class NLLLoss(_ClassIndexLoss):
    """Negative log-likelihood of log-probabilities (e.g. ``LogSoftmax`` outputs);
    arguments and shapes as ``CrossEntropyLoss``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """``(N, C)`` log-probabilities, ``(N,)`` int64 targets -> scalar (``(N,)`` for
        ``reduction='none'``)."""
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    """Mean squared error ``(input - target)**2`` (same shapes)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """``input`` and ``target`` of one shape -> scalar (that shape for
        ``reduction='none'``)."""
        return F.mse_loss(input, target, self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities in [0, 1] (e.g. ``Sigmoid`` outputs); prefer
    ``BCEWithLogitsLoss`` on the raw logits, which is numerically stable."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """Probabilities and float targets of one shape -> scalar (that shape for
        ``reduction='none'``)."""
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    """``BCELoss(sigmoid(x))`` fused into one stable op on the logits ``x``."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """Logits and float targets of one shape -> scalar (that shape for
        ``reduction='none'``)."""
        return F.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction)
