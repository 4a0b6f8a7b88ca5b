"""Samplers, as ``torch.utils.data``: iterables of dataset indices (or, for
``BatchSampler``, of lists of indices) that decide the order a ``DataLoader`` reads.

Random samplers draw from their ``generator``; without one, each pass draws a fresh
seed from the default generator (as PyTorch), so ``mg.manual_seed`` makes every pass
repeat while consecutive passes differ.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Generic, TypeVar

import numpy as np

from ...random import Generator, numpy_rng
from ...tensor import Tensor

T_co = TypeVar("T_co", covariant=True)

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


class Sampler(Generic[T_co]):
    """Base class: subclasses define ``__iter__`` (the indices) and usually
    ``__len__``."""

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


def _check_positive_int(name: str, value) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        raise ValueError(f"{name} should be a positive integer value, but got "
                         f"{name}={value}")


def _check_bool(name: str, value, error: type[Exception] = ValueError) -> None:
    """PyTorch's check; its type differs by sampler (TypeError in ``RandomSampler``)."""
    if not isinstance(value, bool):
        raise error(f"{name} should be a boolean value, but got {name}={value}")


def _pass_rng(generator: Generator | None) -> np.random.Generator:
    """The stream for one pass: ``generator``'s, or a fresh one seeded from the default
    generator."""
    if generator is not None:
        return numpy_rng(generator)
    seed = int(numpy_rng(None).integers(0, 2**63))
    return numpy_rng(Generator().manual_seed(seed))


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"generator must be a minigrad.Generator or None, got "
                        f"{type(generator).__name__}")


class SequentialSampler(Sampler[int]):
    """``0, 1, ..., len(data_source) - 1``, always in that order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Indices in random order: a new permutation of ``range(len(data_source))`` each
    pass, or with ``replacement=True`` ``num_samples`` independent uniform draws.
    ``num_samples`` (default ``len(data_source)``) beyond the length without
    replacement chains several permutations."""

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Generator | None = None) -> None:
        _check_bool("replacement", replacement, TypeError)
        _check_generator(generator)
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        _check_positive_int("num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        if n == 0:
            raise ValueError(f"RandomSampler: cannot draw num_samples={self.num_samples} "
                             f"from an empty data_source")
        rng = _pass_rng(self.generator)
        if self.replacement:
            order = rng.integers(0, n, size=self.num_samples)
        else:
            whole, rest = divmod(self.num_samples, n)
            order = np.concatenate([rng.permutation(n) for _ in range(whole)]
                                   + [rng.permutation(n)[:rest]])
        yield from order.tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices``, in a new random order each pass."""

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        _check_generator(generator)
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rng = numpy_rng(self.generator)  # PyTorch: randperm(generator=generator)
        for i in rng.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices into ``weights`` (1-D, non-negative, not necessarily
    summing to 1), index ``i`` with probability proportional to ``weights[i]``; without
    replacement an index is drawn at most once."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        _check_positive_int("num_samples", num_samples)
        _check_bool("replacement", replacement)
        _check_generator(generator)
        w = weights.numpy() if isinstance(weights, Tensor) else weights
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have "
                             f"shape {tuple(w.shape)}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ValueError("invalid multinomial distribution: weights must be finite and "
                             ">= 0")
        if w.sum() <= 0:
            raise ValueError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"cannot sample num_samples={num_samples} without replacement "
                             f"from {np.count_nonzero(w)} non-zero weights")
        self.weights = Tensor._make(w)
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        p = self.weights.data / self.weights.data.sum()
        rng = numpy_rng(self.generator)
        draws = rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p)
        yield from draws.tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Group another sampler's indices into lists of ``batch_size``; the last, shorter
    list is dropped when ``drop_last``.

        list(BatchSampler(SequentialSampler(range(10)), 3, drop_last=False))
        # [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    """

    def __init__(self, sampler: Sampler[int] | Iterable[int], batch_size: int,
                 drop_last: bool) -> None:
        _check_positive_int("batch_size", batch_size)
        _check_bool("drop_last", drop_last)
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        indices = iter(self.sampler)
        while batch := list(itertools.islice(indices, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return (len(self.sampler) + self.batch_size - 1) // self.batch_size
