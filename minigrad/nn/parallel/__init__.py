"""``nn.parallel``: ``DistributedDataParallel``, one model replica per process with
gradients averaged over the processes (see ``minigrad.distributed``)."""

from .distributed import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
