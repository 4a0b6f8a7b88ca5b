"""Each rank's share of a batch, for models whose batch rows are not interchangeable.

A DistributedSampler deals out *examples*.  A stateful truncated-BPTT language model
instead has ``batch_size`` parallel streams of text whose hidden states carry over from
one chunk to the next, so every rank must keep the same rows from step to step.
``batch_rows`` gives rank r the contiguous rows ``[r B/N, (r+1) B/N)``: with the mean
loss on each rank and DDP's averaged gradients, N ranks then take exactly the steps of
one process on the whole batch.
"""

from __future__ import annotations


def batch_rows(batch_size: int, rank: int | None = None,
               world_size: int | None = None) -> slice:
    """The slice of rows (of a batch of ``batch_size``) that ``rank`` works on.

    ``rank`` / ``world_size`` default to the process group's.  ``batch_size`` must be a
    multiple of ``world_size``: with unequal shares the average of the ranks' mean
    losses would not be the mean over the whole batch.
    """
    if rank is None or world_size is None:
        from .process_group import get_rank, get_world_size

        rank = get_rank() if rank is None else rank
        world_size = get_world_size() if world_size is None else world_size
    for name, value in (("batch_size", batch_size), ("world_size", world_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"batch_rows: {name} must be a positive int, got {value!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise ValueError(f"batch_rows: rank must be in [0, {world_size - 1}], got {rank!r}")
    if batch_size % world_size:
        raise ValueError(f"batch_rows: batch_size {batch_size} is not a multiple of the "
                         f"world size {world_size}: every rank needs the same number of "
                         "rows for the averaged gradient to be the whole batch's")
    share = batch_size // world_size
    return slice(rank * share, (rank + 1) * share)
