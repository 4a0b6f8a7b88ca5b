"""The named tuples some functions return, as ``torch.return_types``: unpack them
(``values, indices = x.sort()``) or read the fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .tensor import Tensor


class sort(NamedTuple):  # noqa: N801  (PyTorch's name)
    """``(values, indices)`` from ``sort``."""

    values: Tensor
    indices: Tensor


class topk(NamedTuple):  # noqa: N801
    """``(values, indices)`` from ``topk``."""

    values: Tensor
    indices: Tensor
