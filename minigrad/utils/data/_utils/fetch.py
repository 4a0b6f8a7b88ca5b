"""Turning one index (or one list of indices) from the sampler into a batch, the
same way in the main process and in a worker."""

from __future__ import annotations

from collections.abc import Callable

from ....tensor import Tensor
from ..dataset import TensorDataset
from .collate import default_collate


class _MapDatasetFetcher:
    """``dataset[i]`` for each index, collated (or one ``dataset[index]`` converted,
    without auto-batching). ``__getitems__(indices)`` is used when the dataset has one."""

    def __init__(self, dataset, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        # a TensorDataset under default_collate: one gather per tensor gives the same
        # batch as stacking the samples one by one
        self.gather = (auto_collation and collate_fn is default_collate
                       and type(dataset) is TensorDataset
                       and all(isinstance(t, Tensor) for t in dataset.tensors))

    def fetch(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.gather and isinstance(index, list):  # (a tuple would index dims)
            return [t[index] for t in self.dataset.tensors]
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(index) if callable(getitems) else [self.dataset[i] for i in index]
        return self.collate_fn(samples)


class _IterableDatasetFetcher:
    """The next ``len(index)`` samples of the dataset's iterator, collated (fewer at
    the end; ``StopIteration`` when none are left, or a short batch under
    ``drop_last``)."""

    def __init__(self, dataset, auto_collation: bool, collate_fn: Callable,
                 drop_last: bool) -> None:
        self.dataset_iter = iter(dataset)
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.dataset_iter))
        samples = []
        for _ in index:
            try:
                samples.append(next(self.dataset_iter))
            except StopIteration:
                self.ended = True
                break
        if not samples or (self.drop_last and len(samples) < len(index)):
            raise StopIteration
        return self.collate_fn(samples)


def create_fetcher(is_iterable: bool, dataset, auto_collation: bool, collate_fn: Callable,
                   drop_last: bool):
    """The fetcher that turns one batch's indices (map-style) or sample count
    (iterable) into a collated batch."""
    kind = _IterableDatasetFetcher if is_iterable else _MapDatasetFetcher
    return kind(dataset, auto_collation, collate_fn, drop_last)
