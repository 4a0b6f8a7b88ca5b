"""The default process group and the collectives on it, with PyTorch's names.

``init_process_group`` picks a backend (``mpi``: :mod:`.mpi_backend`, ``nccl``:
:mod:`.nccl_backend`, each imported only when chosen), and every collective here

1. checks its arguments on this rank (a clear error before anything is sent);
2. all-gathers a small fixed-size *signature* -- which collective, its op or source
   rank, the dtype and the shape -- and compares it across ranks, so that ranks passing
   different shapes or dtypes, or calling different collectives, get a RuntimeError
   naming each rank's call instead of a hang or silently wrong data (DDP, which checks
   its parameters once at construction, skips this on its gradient reductions);
3. starts the collective non-blocking and waits for it with the group's ``timeout``:
   a collective that some rank never joins becomes a RuntimeError naming the collective
   and the rank (after which the group is unusable: MPI cannot cancel it).

With more than one rank, ``init_process_group`` also installs an exception hook that
prints the traceback and aborts every rank (``MPI_Abort``), so one failing rank ends
the job instead of leaving the others waiting.
"""

from __future__ import annotations

import datetime
import enum
import importlib.util
import os
import pickle
import sys
import time
from typing import Any

import numpy as np

from .. import backend as array_backend
from ..autograd import versions
from ..tensor import Tensor
from . import _poll

__all__ = ["ReduceOp", "Work", "all_gather", "all_gather_object", "all_reduce", "barrier",
           "broadcast", "broadcast_object_list", "destroy_process_group", "get_backend",
           "get_rank", "get_world_size", "init_process_group", "is_available",
           "is_initialized", "is_mpi_available", "is_nccl_available"]

BACKENDS = ("mpi", "nccl")
default_pg_timeout = datetime.timedelta(minutes=30)  # PyTorch's default
_ABORT_GRACE_S = 0.5
_NOT_INITIALIZED = ("Default process group has not been initialized, please make sure to "
                    "call init_process_group.")

# The environment variables by which MPI launchers tell a process the number of ranks:
# MPICH / Intel MPI (Hydra), Open MPI, PMIx, MVAPICH.
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")


class ReduceOp(enum.Enum):
    """How ``all_reduce`` combines the ranks' tensors.  ``AVG`` needs a floating dtype;
    on bool tensors ``SUM``/``MAX`` are a logical or, ``MIN``/``PRODUCT`` a logical and."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "prod"
    MIN = "min"
    MAX = "max"


# -------------------------------------------------------------------- the signature check
_KINDS = ("all_reduce", "broadcast", "all_gather", "barrier", "broadcast_object_list",
          "all_gather_object")
_OPS = tuple(ReduceOp)
_DTYPES = tuple(np.dtype(name) for name in (
    "bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"))
_SIG_DIMS = 7  # dims recorded in the signature (the element count covers the rest)


def _signature(kind: str, arg: int, dtype, shape: tuple[int, ...]) -> np.ndarray:
    dims = list(shape[:_SIG_DIMS]) + [-1] * (_SIG_DIMS - min(len(shape), _SIG_DIMS))
    return np.array([_KINDS.index(kind), arg, _DTYPES.index(dtype), len(shape),
                     int(np.prod(shape, dtype=np.int64))] + dims, dtype=np.int64)


def _describe(signature: np.ndarray) -> str:
    kind, arg, dtype, ndim, _, *dims = (int(v) for v in signature)
    name = _KINDS[kind]
    shape = tuple(dims[:min(ndim, _SIG_DIMS)]) + (("...",) if ndim > _SIG_DIMS else ())
    if name == "all_reduce":
        call = f"all_reduce(op={_OPS[arg].name})"
    elif name in ("broadcast", "broadcast_object_list"):
        call = f"{name}(src={arg})"
    else:
        call = name
    if name in ("barrier", "all_gather_object"):
        return call
    if name == "broadcast_object_list":
        return f"{call} on a list of {shape[0]} objects"
    return f"{call} on a {_DTYPES[dtype]} tensor of shape {shape}"


# -------------------------------------------------------------------- the group
class _Done:
    """A request that is already complete (world size 1 without MPI)."""

    __slots__ = ("result",)

    def __init__(self, result=None):
        self.result = result

    def test(self) -> bool:
        return True


class LocalBackend:
    """World size 1 in a plain ``python`` process without mpi4py: every collective is
    complete at once and leaves the data as it is (what one rank's reduction does)."""

    device = None
    rank, world_size = 0, 1

    def __init__(self, name: str) -> None:
        self.name = name

    def all_reduce(self, array, op):
        return _Done()

    def broadcast(self, array, src):
        return _Done()

    def all_gather(self, array):
        return _Done(array_backend.get_array_module(array).array(array)[None])

    def barrier(self):
        return _Done()

    def on_timeout(self) -> None:
        pass

    def abort(self, code: int = 1) -> None:
        os._exit(code)

    def close(self) -> None:
        pass


class _ProcessGroup:
    def __init__(self, backend, timeout: float | None) -> None:
        self.backend = backend
        self.name = backend.name
        self.rank, self.world_size = backend.rank, backend.world_size
        self.timeout = timeout
        self.broken: str | None = None  # why the group is unusable (a timed-out collective)

    def wait(self, request, what: str, timeout: float | None = None) -> None:
        """Wait for ``request`` (at most ``timeout`` s, default the group's)."""
        if self.broken is not None:
            raise RuntimeError(f"minigrad.distributed: the process group is unusable after "
                               f"an earlier failure ({self.broken})")
        try:
            _poll.wait(request, what, self.rank, self.timeout if timeout is None else timeout)
        except _poll.CollectiveTimeout as e:
            self.broken = str(e)
            self.backend.on_timeout()
            raise

    def device_array(self, array: np.ndarray):
        """``array`` on the device the backend communicates from (GPU for NCCL)."""
        if self.backend.device == "cuda":
            return array_backend.to_device(array, "cuda")
        return array

    def check_same(self, kind: str, arg: int, dtype, shape: tuple[int, ...]) -> None:
        """All-gather this rank's call signature; raise if any rank's differs."""
        if self.world_size == 1:
            return
        request = self.backend.all_gather(self.device_array(_signature(kind, arg, dtype,
                                                                       shape)))
        self.wait(request, f"{kind} (the check that every rank makes the same call)")
        signatures = array_backend.to_numpy(request.result)
        if (signatures == signatures[0]).all():
            return
        calls = "; ".join(f"rank {r}: {_describe(s)}" for r, s in enumerate(signatures))
        raise RuntimeError(
            f"{kind} on rank {self.rank}: the ranks made different calls ({calls}); every "
            "rank must call the same collectives in the same order, on tensors of the same "
            "shape and dtype")

    def all_reduce(self, array, op: ReduceOp) -> Work:
        """Start an in-place all-reduce of ``array`` (no checks)."""
        request = self.backend.all_reduce(array, "sum" if op is ReduceOp.AVG else op.value)
        finish = None
        if op is ReduceOp.AVG:
            def finish():
                array[...] /= self.world_size
        return Work(self, request, f"all_reduce(op={op.name})", finish)


_world: _ProcessGroup | None = None


def _group() -> _ProcessGroup:
    if _world is None:
        raise ValueError(_NOT_INITIALIZED)
    return _world


class Work:
    """The handle of an ``async_op=True`` collective: ``wait()`` blocks until it is done
    (raising if it times out); ``is_completed()`` asks without blocking."""

    def __init__(self, group: _ProcessGroup, request, what: str, finish=None) -> None:
        self._group, self._request, self._what, self._finish = group, request, what, finish
        self._done = False

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            self._finish()

    def is_completed(self) -> bool:
        """True once the collective has finished on this rank (never blocks)."""
        if not self._done and self._request.test():
            self._complete()
        return self._done

    def wait(self, timeout: datetime.timedelta | float | None = None) -> bool:
        """Block until the collective is done; returns True.  After ``timeout`` (default:
        the process group's) a RuntimeError says which collective is missing a rank."""
        if not self._done:
            seconds = None if timeout is None else _seconds(timeout, "Work.wait")
            self._group.wait(self._request, self._what, seconds)
            self._complete()
        return True


# -------------------------------------------------------------------- setup
def _seconds(timeout, where: str = "init_process_group") -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        timeout = timeout.total_seconds()
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"{where}: timeout must be a positive datetime.timedelta or number "
                         f"of seconds (or None: wait forever), got {timeout!r}")
    return float(timeout)


def _launcher_world_size() -> int | None:
    """The number of ranks an MPI launcher says it started, or None (no launcher)."""
    for var in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return int(value)
    return None


def _make_backend(name: str):
    if name == "nccl":
        from .nccl_backend import NCCLBackend

        return NCCLBackend()
    if is_mpi_available():
        from .mpi_backend import MPIBackend

        return MPIBackend()
    from .mpi_backend import INSTALL_HINT

    launched = _launcher_world_size()
    if launched is not None and launched > 1:
        raise RuntimeError(f"init_process_group: this process is one of {launched} ranks "
                           f"started by an MPI launcher, but mpi4py is not installed: "
                           f"{INSTALL_HINT}")
    return LocalBackend(name)


def _install_abort_hook(group: _ProcessGroup) -> None:
    """On an uncaught exception: print the traceback, then abort every rank (a plain
    ``mpiexec -n 2 python train.py`` would otherwise hang in the other ranks)."""
    previous = sys.excepthook

    def abort_all_ranks(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        print(f"minigrad.distributed: rank {group.rank} raised {exc_type.__name__}; "
              f"aborting all {group.world_size} ranks", file=sys.stderr, flush=True)
        sys.stdout.flush()
        # mpiexec forwards output through pipes, and tears the job down at the abort:
        # a moment first, so the traceback above reaches the user
        time.sleep(_ABORT_GRACE_S)
        group.backend.abort(1)

    abort_all_ranks.previous = previous
    sys.excepthook = abort_all_ranks


def init_process_group(backend: str | None = None, init_method: str | None = None,
                       timeout: datetime.timedelta | float | None = default_pg_timeout,
                       world_size: int = -1, rank: int = -1) -> None:
    """Join the job's default process group.

    ``backend``: ``'mpi'`` (default; CPU tensors, and CUDA tensors staged through host
    memory) or ``'nccl'`` (CUDA tensors, one GPU per rank, via CuPy).  Ranks and world
    size come from the MPI launcher (``mpiexec -n N python -m mpi4py train.py`` or
    ``python -m minigrad.distributed.run -n N train.py``); a plain ``python train.py``
    is a world of size 1.  ``init_method`` may be None or ``'env://'`` (both mean: from
    the launcher); ``world_size`` / ``rank``, when given, must match the launcher's.
    ``timeout`` (default 30 minutes, as PyTorch) turns a collective that some rank never
    joins into a RuntimeError; None waits forever.
    """
    global _world
    if _world is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = "mpi" if backend is None else str(backend).lower()
    if name not in BACKENDS:
        raise ValueError(f"init_process_group: unknown backend {backend!r}: expected 'mpi' "
                         "(CPU, through mpi4py: use it where PyTorch code says 'gloo') or "
                         "'nccl' (GPUs, through CuPy)")
    if init_method not in (None, "env://"):
        raise ValueError(
            f"init_process_group: init_method={init_method!r} is not supported: minigrad's "
            "ranks meet through the MPI launcher (init_method=None or 'env://'); start the "
            "job with mpiexec or python -m minigrad.distributed.run")
    seconds = _seconds(timeout)
    for arg, value in (("world_size", world_size), ("rank", rank)):
        if isinstance(value, bool) or not isinstance(value, int) or value < -1:
            raise ValueError(f"init_process_group: {arg} must be an int >= 0 (or -1: from "
                             f"the launcher), got {value!r}")
    made = _make_backend(name)
    if world_size not in (-1, made.world_size) or rank not in (-1, made.rank):
        made.close()
        raise ValueError(
            f"init_process_group: world_size={world_size}, rank={rank} were given, but the "
            f"launcher started this process as rank {made.rank} of {made.world_size}")
    _world = _ProcessGroup(made, seconds)
    if made.world_size > 1:
        _install_abort_hook(_world)


def destroy_process_group() -> None:
    """Leave the default process group (its collectives are unusable afterwards)."""
    global _world
    group = _group()
    hook = sys.excepthook
    if hasattr(hook, "previous"):
        sys.excepthook = hook.previous
    _world = None
    group.backend.close()


def is_available() -> bool:
    """True: the package always works (a world of size 1 needs no MPI).  Whether more
    ranks can run: :func:`is_mpi_available`, :func:`is_nccl_available`."""
    return True


def is_mpi_available() -> bool:
    """True when mpi4py is installed (the ``mpi`` backend across processes)."""
    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    """True when CuPy sees a GPU and has NCCL (the ``nccl`` backend)."""
    from .nccl_backend import nccl_available

    return nccl_available()


def is_initialized() -> bool:
    """True between ``init_process_group`` and ``destroy_process_group``."""
    return _world is not None


def get_rank() -> int:
    """This process's rank, 0 ... world_size - 1."""
    return _group().rank


def get_world_size() -> int:
    """The number of ranks in the job."""
    return _group().world_size


def get_backend() -> str:
    """``'mpi'`` or ``'nccl'``."""
    return _group().name


# -------------------------------------------------------------------- collectives
def _checked_array(tensor: Any, what: str, group: _ProcessGroup):
    """``tensor.data``, checked (a Tensor, supported dtype, right device) and made a
    writable array (NumPy keeps some 0-d results as read-only scalars)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{what}: expected a minigrad Tensor, got {type(tensor).__name__}")
    if tensor.dtype not in _DTYPES:
        raise TypeError(f"{what}: unsupported dtype {tensor.dtype} (supported: "
                        f"{', '.join(map(str, _DTYPES))})")
    if group.backend.device is not None and tensor.device != group.backend.device:
        raise RuntimeError(
            f"{what}: the {group.name} backend communicates {group.backend.device} tensors, "
            f"got a {tensor.device} tensor (move it with .to('{group.backend.device}'), or "
            "use backend='mpi', which takes both)")
    if isinstance(tensor.data, np.generic):
        tensor.data = np.array(tensor.data)
    return tensor.data


def _written(array):
    """``array``, counted as written in place: a backward that saved its old value
    then raises PyTorch's "modified by an inplace operation" error."""
    versions.record_write(array)
    return array


def _finish(work: Work, async_op: bool) -> Work | None:
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor: Tensor, op: ReduceOp = ReduceOp.SUM,
               async_op: bool = False) -> Work | None:
    """Reduce ``tensor`` over all ranks, in place: afterwards every rank holds the sum
    (or ``op``) of all ranks' tensors.  ``async_op=True`` returns a :class:`Work`."""
    group = _group()
    array = _checked_array(tensor, "all_reduce", group)
    if not isinstance(op, ReduceOp):
        raise TypeError(f"all_reduce: op must be a ReduceOp (SUM, AVG, PRODUCT, MIN, MAX), "
                        f"got {op!r}")
    if op is ReduceOp.AVG and array.dtype.kind != "f":
        raise TypeError(f"all_reduce: ReduceOp.AVG needs a floating-point tensor, got "
                        f"{array.dtype}")
    group.check_same("all_reduce", _OPS.index(op), array.dtype, array.shape)
    return _finish(group.all_reduce(_written(array), op), async_op)


def _check_src(src: Any, what: str, group: _ProcessGroup) -> int:
    if isinstance(src, bool) or not isinstance(src, (int, np.integer)) or not (
            0 <= src < group.world_size):
        raise ValueError(f"{what}: src must be a rank in [0, {group.world_size - 1}], "
                         f"got {src!r}")
    return int(src)


def broadcast(tensor: Tensor, src: int, async_op: bool = False) -> Work | None:
    """Overwrite ``tensor`` on every rank with rank ``src``'s, in place."""
    group = _group()
    array = _checked_array(tensor, "broadcast", group)
    src = _check_src(src, "broadcast", group)
    group.check_same("broadcast", src, array.dtype, array.shape)
    request = group.backend.broadcast(_written(array), src)
    return _finish(Work(group, request, f"broadcast(src={src})"), async_op)


def all_gather(tensor_list: list[Tensor], tensor: Tensor,
               async_op: bool = False) -> Work | None:
    """Fill ``tensor_list[r]`` (one tensor per rank, each of ``tensor``'s shape and dtype)
    with rank r's ``tensor``, in place."""
    group = _group()
    array = _checked_array(tensor, "all_gather", group)
    if not isinstance(tensor_list, list) or len(tensor_list) != group.world_size:
        got = (f"a list of {len(tensor_list)}" if isinstance(tensor_list, list)
               else type(tensor_list).__name__)
        raise ValueError(f"all_gather: tensor_list must be a list of world_size = "
                         f"{group.world_size} tensors, got {got}")
    targets = [_checked_array(t, "all_gather", group) for t in tensor_list]
    for r, target in enumerate(targets):
        if target.shape != array.shape or target.dtype != array.dtype:
            raise ValueError(f"all_gather: tensor_list[{r}] is {target.dtype} "
                             f"{tuple(target.shape)}, expected the tensor's {array.dtype} "
                             f"{tuple(array.shape)}")
    group.check_same("all_gather", 0, array.dtype, array.shape)
    request = group.backend.all_gather(array)

    def scatter_into_list():
        for target, row in zip(targets, request.result):
            _written(target)[...] = row

    return _finish(Work(group, request, "all_gather", scatter_into_list), async_op)


def barrier(async_op: bool = False) -> Work | None:
    """Return once every rank has called ``barrier``."""
    group = _group()
    group.check_same("barrier", 0, _DTYPES[0], ())
    return _finish(Work(group, group.backend.barrier(), "barrier"), async_op)


def _broadcast_bytes(group: _ProcessGroup, payload: bytes | None, src: int) -> bytes:
    size = group.device_array(np.array([0 if payload is None else len(payload)], np.int64))
    group.wait(group.backend.broadcast(size, src), "broadcast_object_list (sizes)")
    n = int(array_backend.to_numpy(size)[0])
    data = np.frombuffer(payload, np.uint8).copy() if payload is not None else (
        np.empty(n, np.uint8))
    data = group.device_array(data)
    group.wait(group.backend.broadcast(data, src), "broadcast_object_list (data)")
    return array_backend.to_numpy(data).tobytes()


def broadcast_object_list(object_list: list, src: int = 0) -> None:
    """Replace ``object_list``'s items on every rank with rank ``src``'s (picklable
    objects; the list has the same length on every rank).  Uses pickle: the ranks of a
    job trust each other."""
    group = _group()
    if not isinstance(object_list, list):
        raise TypeError(f"broadcast_object_list: expected a list, got "
                        f"{type(object_list).__name__}")
    src = _check_src(src, "broadcast_object_list", group)
    group.check_same("broadcast_object_list", src, _DTYPES[0], (len(object_list),))
    if group.world_size == 1:
        return
    payload = pickle.dumps(object_list) if group.rank == src else None
    received = _broadcast_bytes(group, payload, src)
    if group.rank != src:
        object_list[:] = pickle.loads(received)


def all_gather_object(object_list: list, obj: Any) -> None:
    """Fill ``object_list`` (a list of world_size items) with every rank's ``obj``."""
    group = _group()
    if not isinstance(object_list, list) or len(object_list) != group.world_size:
        raise ValueError(f"all_gather_object: object_list must be a list of world_size = "
                         f"{group.world_size} items")
    group.check_same("all_gather_object", 0, _DTYPES[0], ())
    object_list[:] = _all_gather_objects(group, obj)


def _all_gather_objects(group: _ProcessGroup, obj: Any) -> list:
    """Every rank's ``obj`` (no signature check; for callers that made one)."""
    if group.world_size == 1:
        return [obj]
    payload = np.frombuffer(pickle.dumps(obj), np.uint8)
    sizes_request = group.backend.all_gather(group.device_array(
        np.array([payload.size], np.int64)))
    group.wait(sizes_request, "all_gather_object (sizes)")
    sizes = array_backend.to_numpy(sizes_request.result).reshape(-1)
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[:payload.size] = payload
    request = group.backend.all_gather(group.device_array(padded))
    group.wait(request, "all_gather_object (data)")
    rows = array_backend.to_numpy(request.result)
    return [pickle.loads(row[:n].tobytes()) for row, n in zip(rows, sizes)]
