"""``DistributedSampler``: each rank's disjoint share of a dataset's indices, as
``torch.utils.data.distributed.DistributedSampler``.

Every rank draws the same permutation (seeded by ``seed + epoch``), pads it by wrapping
around (or, with ``drop_last``, cuts it) to a multiple of the number of replicas, and
takes every ``num_replicas``-th index starting at its rank.  So the ranks' shares are
disjoint (up to the padding), together cover the dataset, and are all the same length:
every rank runs the same number of steps, which the collectives need.

This module imports no MPI: the rank and the number of replicas come from
``minigrad.distributed`` only when they are not given.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import numpy as np

from ...random import Generator, numpy_rng
from .sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler[int]):
    """Indices of this rank's share of ``dataset`` (any object with ``len()``).

    ``num_replicas`` / ``rank`` default to the process group's world size and rank.
    ``shuffle``: a new permutation each epoch -- call ``set_epoch(epoch)`` before each
    epoch, with the same ``seed`` on every rank.  ``drop_last=False`` pads with indices
    from the start so every rank gets ``ceil(len / num_replicas)``; ``drop_last=True``
    drops the tail so every rank gets ``floor(len / num_replicas)``.
    """

    def __init__(self, dataset: Sized, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from ... import distributed as dist

            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if isinstance(num_replicas, bool) or not isinstance(num_replicas, int) or (
                num_replicas < 1):
            raise ValueError(f"num_replicas should be a positive integer, got "
                             f"{num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not (
                0 <= rank < num_replicas):
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed should be an int, got {type(seed).__name__}")
        length = len(dataset)
        self.dataset = dataset
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.drop_last = bool(drop_last)
        self.shuffle = bool(shuffle)
        self.seed = seed
        if self.drop_last and length % num_replicas:
            self.num_samples = math.ceil((length - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(length / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        length = len(self.dataset)
        if self.shuffle:
            rng = numpy_rng(Generator().manual_seed(self.seed + self.epoch))
            indices = rng.permutation(length)
        else:
            indices = np.arange(length)
        if self.drop_last:
            indices = indices[:self.total_size]
        elif self.total_size > length:  # pad by wrapping around (several times if needed)
            indices = np.resize(indices, self.total_size)
        yield from indices[self.rank:self.total_size:self.num_replicas].tolist()

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of this epoch (``seed + epoch``) in the next passes."""
        self.epoch = epoch
