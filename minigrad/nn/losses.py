"""Loss modules: thin wrappers that store the options and call ``nn.functional``.

``reduction`` is ``'mean'`` (default), ``'sum'`` or ``'none'`` (one loss per target,
shaped like the target).
"""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CTCLoss", "CrossEntropyLoss", "HuberLoss",
           "KLDivLoss", "L1Loss", "MSELoss", "NLLLoss", "SmoothL1Loss"]


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
    ``logits.transpose(1, 2)`` or ``logits.reshape(B * T, C)``.  ``label_smoothing`` and
    class-probability targets as ``F.cross_entropy``."""

    def __init__(self, weight: Tensor | None = None, ignore_index: int = -100,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, ignore_index, reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """``(N, C)`` logits, ``(N,)`` int64 targets (or ``(N, C)`` probabilities) ->
        scalar (``(N,)`` for ``reduction='none'``)."""
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


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


class _LegacyLoss(_Loss):
    """A loss whose constructor starts with PyTorch's deprecated ``size_average`` and
    ``reduce`` flags (either given overrides ``reduction``)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(F._legacy_reduction(size_average, reduce, reduction))


class L1Loss(_LegacyLoss):
    """Mean absolute error ``|input - target|`` (same shapes)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """``input`` and ``target`` of one shape -> scalar (that shape for
        ``reduction='none'``)."""
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_LegacyLoss):
    """Squared error below ``beta``, absolute error above: ``0.5 d**2 / beta`` where
    ``|d| < beta``, else ``|d| - 0.5 beta`` (``beta=0``: L1)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """Same shapes -> scalar (that shape for ``reduction='none'``)."""
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5 d**2`` where ``|d| < delta``, else ``delta (|d| - 0.5 delta)``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """Same shapes -> scalar (that shape for ``reduction='none'``)."""
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_LegacyLoss):
    """KL divergence of log-probabilities ``input`` from ``target`` (probabilities, or
    log-probabilities if ``log_target``).  Use ``reduction='batchmean'`` for the
    mathematical KL divergence per sample; ``'mean'`` averages over every element."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean",
                 log_target: bool = False):
        reduction = F._legacy_reduction(size_average, reduce, reduction)
        if reduction not in F.REDUCTIONS + ("batchmean",):
            raise ValueError(f"KLDivLoss: reduction must be one of 'mean', 'batchmean', "
                             f"'sum', 'none', got {reduction!r}")
        super().__init__(reduction="mean" if reduction == "batchmean" else reduction)
        self.reduction = reduction  # 'batchmean' is KLDivLoss's own
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        """Same shapes -> scalar (that shape for ``reduction='none'``)."""
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CTCLoss(_Loss):
    """Connectionist temporal classification loss over all alignments of a label
    sequence with the frames of ``log_probs`` ``(T, N, C)`` (see ``F.ctc_loss``)."""

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False):
        super().__init__(reduction=reduction)
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Tensor, targets: Tensor, input_lengths,
                target_lengths) -> Tensor:
        """``(T, N, C)`` log-probabilities, ``(N, S)`` padded or concatenated targets,
        ``(N,)`` lengths -> scalar (``(N,)`` for ``reduction='none'``)."""
        return F.ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                          self.reduction, self.zero_infinity)
