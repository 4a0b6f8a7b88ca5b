"""Utilities outside the tensor core, as ``torch.utils``: ``minigrad.utils.data``
(datasets, samplers, ``DataLoader``)."""

from . import data
