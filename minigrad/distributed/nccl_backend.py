"""The ``nccl`` backend: collectives between GPUs through NCCL, as CuPy exposes it
(``cupy.cuda.nccl.NcclCommunicator``); one GPU per rank.

CuPy and NCCL are looked up only when this backend is created.  The ranks meet through
MPI when mpi4py is installed (the launcher gives rank and world size; rank 0's NCCL
unique id is broadcast over MPI), and a plain ``python train.py`` is a world of size 1.
Each rank takes the GPU given by its rank on its machine (``local_rank % device
count``); two ranks on the same GPU are refused before NCCL is asked (NCCL would fail).

Collectives are queued on CuPy's current stream, so they run after the kernels that
computed the gradients; a CUDA event recorded after each one is what ``test()`` polls.
A collective that times out aborts the NCCL communicator (its kernels stop waiting).
"""

from __future__ import annotations

import os
import socket

import numpy as np

from .. import backend as array_backend

NCCL_HINT = ("CuPy looks for NCCL in the NVIDIA wheel: pip install nvidia-nccl-cu12 (for "
             "CUDA 12; nvidia-nccl-cu13 for CUDA 13)")


def import_cupy_nccl():
    """``(cupy, cupy.cuda.nccl)``, or a RuntimeError saying what is missing."""
    cupy = array_backend._cupy
    if cupy is None:
        raise RuntimeError("the 'nccl' backend needs CuPy, which is not installed (or failed "
                           "to load): pip install 'minigrad[cuda]' (in the minigrad "
                           "repository) or the cupy-cudaXXx wheel of your CUDA; for CPU "
                           "ranks use backend='mpi'")
    if not array_backend.cuda_is_available():
        raise RuntimeError("the 'nccl' backend needs a GPU, and CuPy found none; for CPU "
                           "ranks use backend='mpi'")
    try:
        from cupy.cuda import nccl
    except ImportError as e:
        raise RuntimeError(f"the 'nccl' backend: CuPy has no NCCL ({e}); {NCCL_HINT}") from e
    if not getattr(nccl, "available", True):
        raise RuntimeError(f"the 'nccl' backend: CuPy did not find the NCCL library; "
                           f"{NCCL_HINT}")
    return cupy, nccl


def nccl_available() -> bool:
    """True when CuPy, a GPU and NCCL are all there."""
    try:
        import_cupy_nccl()
    except RuntimeError:
        return False
    return True


class _EventRequest:
    """Done when the CUDA event recorded after the collective has passed."""

    __slots__ = ("_event", "_comm", "_finish", "_done", "result")

    def __init__(self, event, comm, finish=None, result=None):
        self._event, self._comm, self._finish = event, comm, finish
        self._done, self.result = False, result

    def test(self) -> bool:
        if not self._done:
            if not self._event.done:
                return False
            check = getattr(self._comm, "check_async_error", None)
            if check is not None:  # NCCL reports a failed peer here, not by hanging
                check()
            self._done = True
            if self._finish is not None:
                self._finish()
        return True


class NCCLBackend:
    """Collectives on CUDA arrays through one NCCL communicator."""

    name = "nccl"
    device = "cuda"

    def __init__(self) -> None:
        cupy, nccl = import_cupy_nccl()
        self._cupy, self._nccl = cupy, nccl
        from . import process_group

        self._mpi = None
        if process_group.is_mpi_available():
            from .mpi_backend import MPIBackend

            self._mpi = MPIBackend()
            self.rank, self.world_size = self._mpi.rank, self._mpi.world_size
        else:
            launched = process_group._launcher_world_size()
            if launched is not None and launched > 1:
                raise RuntimeError(
                    f"init_process_group('nccl'): this process is one of {launched} ranks "
                    "started by an MPI launcher, but mpi4py (the ranks' rendezvous) is not "
                    "installed: pip install 'minigrad[dist]'")
            self.rank, self.world_size = 0, 1
        try:
            self.device_id = self._pick_device()
            cupy.cuda.Device(self.device_id).use()
            unique_id = nccl.get_unique_id() if self.rank == 0 else None
            if self._mpi is not None and self.world_size > 1:
                unique_id = self._mpi._comm.bcast(unique_id, root=0)
            self._comm = nccl.NcclCommunicator(self.world_size, unique_id, self.rank)
        except BaseException:
            if self._mpi is not None:
                self._mpi.close()
            raise
        self._ops = {"sum": nccl.NCCL_SUM, "prod": nccl.NCCL_PROD, "min": nccl.NCCL_MIN,
                     "max": nccl.NCCL_MAX}
        # bool travels as uint8: sum and max are a logical or, min and prod a logical and
        self._bool_ops = {"sum": nccl.NCCL_MAX, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN,
                          "prod": nccl.NCCL_MIN}
        self._dtypes = {np.dtype(name): getattr(nccl, const) for name, const in (
            ("bool", "NCCL_UINT8"), ("int8", "NCCL_INT8"), ("uint8", "NCCL_UINT8"),
            ("int32", "NCCL_INT32"), ("int64", "NCCL_INT64"), ("float16", "NCCL_FLOAT16"),
            ("float32", "NCCL_FLOAT32"), ("float64", "NCCL_FLOAT64"))}

    def _pick_device(self) -> int:
        """This rank's GPU: its rank among the ranks on this machine, modulo the number
        of visible GPUs (so CUDA_VISIBLE_DEVICES=<one GPU> per rank works too); a
        RuntimeError (on every rank of the machine) if two would share one."""
        count = self._cupy.cuda.runtime.getDeviceCount()
        if self._mpi is None or self.world_size == 1:  # one rank: the current GPU
            return self._cupy.cuda.runtime.getDevice()
        MPI = self._mpi._MPI
        local = self._mpi._comm.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            device_id = local.Get_rank() % count
            bus_ids = local.allgather(self._cupy.cuda.Device(device_id).pci_bus_id)
            local_ranks = local.allgather(self.rank)
        finally:
            local.Free()
        for i, bus_id in enumerate(bus_ids):
            if bus_ids.index(bus_id) != i:
                first = local_ranks[bus_ids.index(bus_id)]
                raise RuntimeError(
                    f"init_process_group('nccl'): ranks {first} and {local_ranks[i]} on "
                    f"host {socket.gethostname()} would share the GPU {bus_id} ({count} "
                    f"visible GPU(s) for {len(bus_ids)} ranks): NCCL needs one GPU per "
                    "rank; start at most as many ranks per machine as it has GPUs, or use "
                    "backend='mpi' (CUDA tensors are then staged through host memory)")
        return device_id

    # -- helpers ---------------------------------------------------------------------
    def _buffer(self, array):
        """A C-contiguous device buffer for ``array`` and its write-back (or None)."""
        if array.flags.c_contiguous:
            return array, None
        buffer = self._cupy.ascontiguousarray(array)

        def write_back():
            array[...] = buffer

        return buffer, write_back

    def _type_of(self, buffer):
        if buffer.dtype == np.bool_:
            return buffer.view(np.uint8), self._dtypes[buffer.dtype]
        return buffer, self._dtypes[buffer.dtype]

    def _after(self, stream, finish=None, result=None) -> _EventRequest:
        event = self._cupy.cuda.Event(disable_timing=True)
        event.record(stream)
        return _EventRequest(event, self._comm, finish, result)

    # -- collectives -----------------------------------------------------------------
    def all_reduce(self, array, op: str) -> _EventRequest:
        buffer, write_back = self._buffer(array)
        ops = self._bool_ops if buffer.dtype == np.bool_ else self._ops
        view, dtype = self._type_of(buffer)
        stream = self._cupy.cuda.get_current_stream()
        self._comm.allReduce(view.data.ptr, view.data.ptr, view.size, dtype, ops[op],
                             stream.ptr)
        return self._after(stream, write_back)

    def broadcast(self, array, src: int) -> _EventRequest:
        buffer, write_back = self._buffer(array)
        view, dtype = self._type_of(buffer)
        stream = self._cupy.cuda.get_current_stream()
        self._comm.bcast(view.data.ptr, view.size, dtype, src, stream.ptr)
        return self._after(stream, None if self.rank == src else write_back)

    def all_gather(self, array) -> _EventRequest:
        send = self._cupy.ascontiguousarray(array)
        received = self._cupy.empty((self.world_size, *send.shape), send.dtype)
        send_view, dtype = self._type_of(send)
        received_view, _ = self._type_of(received)
        stream = self._cupy.cuda.get_current_stream()
        self._comm.allGather(send_view.data.ptr, received_view.data.ptr, send_view.size,
                             dtype, stream.ptr)
        return self._after(stream, result=received)

    def barrier(self) -> _EventRequest:
        """An all-reduce of one number: done once every rank has launched it."""
        return self.all_reduce(self._cupy.zeros(1, np.int32), "sum")

    def on_timeout(self) -> None:
        self._comm.abort()  # stop the kernels that wait for the missing rank

    def abort(self, code: int = 1) -> None:
        self._comm.abort()
        if self._mpi is not None:
            self._mpi.abort(code)
        os._exit(code)

    def close(self) -> None:
        self._comm.destroy()
        if self._mpi is not None:
            self._mpi.close()
