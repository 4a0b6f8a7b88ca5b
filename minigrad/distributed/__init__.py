"""``minigrad.distributed``: data-parallel training over several processes, with
PyTorch's names (``import minigrad.distributed as dist``).

    dist.init_process_group("mpi")      # or "nccl" for one GPU per rank
    rank, world = dist.get_rank(), dist.get_world_size()
    model = nn.parallel.DistributedDataParallel(model)
    ...                                 # train as usual on this rank's share of the batch
    dist.destroy_process_group()

Launch with ``python -m minigrad.distributed.run -n 2 train.py`` (or
``mpiexec -n 2 python -m mpi4py train.py``); a plain ``python train.py`` is a world of
size 1 that behaves like no distribution at all.

* ``process_group`` -- ``init_process_group`` and the collectives (``all_reduce``,
  ``broadcast``, ``all_gather``, ``barrier``, the object versions), with the checks
  that turn mismatched calls and missing ranks into errors;
* ``mpi_backend`` (mpi4py) and ``nccl_backend`` (CuPy's NCCL): imported only when
  chosen, so ``import minigrad`` needs neither;
* ``run`` -- the launcher; ``utils`` -- each rank's share of a batch.
"""

from .process_group import (
    ReduceOp,
    Work,
    all_gather,
    all_gather_object,
    all_reduce,
    barrier,
    broadcast,
    broadcast_object_list,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
    is_mpi_available,
    is_nccl_available,
)
from .utils import batch_rows

__all__ = ["ReduceOp", "Work", "all_gather", "all_gather_object", "all_reduce", "barrier",
           "batch_rows", "broadcast", "broadcast_object_list", "destroy_process_group",
           "get_backend", "get_rank", "get_world_size", "init_process_group",
           "is_available", "is_initialized", "is_mpi_available", "is_nccl_available"]
