"""The ``mpi`` backend: collectives through mpi4py, on CPU ranks (and on CUDA tensors by
staging them through host memory).

mpi4py is imported when this backend is created, never by ``import minigrad``.  The
backend works on arrays: the caller (``process_group``) has already checked the
arguments.  Every collective is started non-blocking on a private duplicate of
``COMM_WORLD`` (so the user's own MPI calls cannot interleave with ours) and returns a
request whose ``test()`` finishes the job (copying staged results back) once MPI says
it is complete.
"""

from __future__ import annotations

import numpy as np

from .. import backend as array_backend

INSTALL_HINT = ("pip install 'minigrad[dist]' (mpi4py with the MPICH wheel: no system "
                "packages needed), or pip install mpi4py built against your cluster's MPI")


def import_mpi():
    """``mpi4py.MPI``, or a RuntimeError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError(f"the 'mpi' backend needs mpi4py, which is not installed: "
                           f"{INSTALL_HINT}") from e
    return MPI


class _Request:
    """An MPI request plus what to do once it completes (copy a staged result back)."""

    __slots__ = ("_request", "_finish", "_done", "result")

    def __init__(self, request, finish=None, result=None):
        self._request, self._finish, self._done, self.result = request, finish, False, result

    def test(self) -> bool:
        if not self._done:
            if not self._request.Test():
                return False
            self._done = True
            if self._finish is not None:
                self._finish()
        return True


def _host_buffer(array, need_values: bool = True):
    """A C-contiguous NumPy buffer for ``array`` and the function that writes the
    buffer back into ``array`` (None when the buffer is ``array`` itself)."""
    if array_backend.device_of(array) == "cuda":  # the MPICH wheel is not CUDA-aware
        xp = array_backend.get_array_module(array)
        buffer = (array_backend.to_numpy(array) if need_values
                  else np.empty(array.shape, array.dtype))
        buffer = np.ascontiguousarray(buffer)

        def write_back():
            array[...] = xp.asarray(buffer)

        return buffer, write_back
    if array.flags.c_contiguous:
        return array, None
    buffer = np.ascontiguousarray(array)

    def write_back():
        array[...] = buffer

    return buffer, write_back


class MPIBackend:
    """Collectives over ``MPI.COMM_WORLD`` (a private duplicate of it)."""

    name = "mpi"
    device = None  # takes CPU and CUDA tensors alike

    def __init__(self) -> None:
        MPI = import_mpi()
        self._MPI = MPI
        self._comm = MPI.COMM_WORLD.Dup()
        self.rank = self._comm.Get_rank()
        self.world_size = self._comm.Get_size()
        self._ops = {"sum": MPI.SUM, "prod": MPI.PROD, "min": MPI.MIN, "max": MPI.MAX}
        # bool: logical or for sum and max (as PyTorch's NCCL: "sum" of flags), and for min
        # and prod
        self._bool_ops = {"sum": MPI.LOR, "max": MPI.LOR, "min": MPI.LAND, "prod": MPI.LAND}

    def library(self) -> str:
        """The MPI library's name and version (first line of its version string)."""
        return self._MPI.Get_library_version().strip().splitlines()[0]

    def all_reduce(self, array, op: str) -> _Request:
        """Reduce ``array`` in place over all ranks (``op``: sum, prod, min, max)."""
        buffer, write_back = _host_buffer(array)
        ops = self._bool_ops if buffer.dtype == np.bool_ else self._ops
        flat = buffer.reshape(-1)
        request = self._comm.Iallreduce(self._MPI.IN_PLACE, flat, op=ops[op])
        return _Request(request, write_back)

    def broadcast(self, array, src: int) -> _Request:
        """Overwrite ``array`` on every rank with rank ``src``'s."""
        buffer, write_back = _host_buffer(array, need_values=self.rank == src)
        request = self._comm.Ibcast(buffer.reshape(-1), root=src)
        return _Request(request, None if self.rank == src else write_back)

    def all_gather(self, array) -> _Request:
        """Every rank's ``array`` stacked: ``request.result`` has shape
        ``(world_size, *array.shape)``, on ``array``'s device, once the request is done."""
        send = np.ascontiguousarray(array_backend.to_numpy(array))
        received = np.empty((self.world_size, *send.shape), send.dtype)
        request = _Request(self._comm.Iallgather(send.reshape(-1), received.reshape(-1)),
                           result=received)
        if array_backend.device_of(array) == "cuda":
            xp = array_backend.get_array_module(array)

            def to_device():
                request.result = xp.asarray(received)

            request._finish = to_device
        return request

    def barrier(self) -> _Request:
        """Completes once every rank has entered it."""
        return _Request(self._comm.Ibarrier())

    def on_timeout(self) -> None:
        """Nothing to cancel: MPI cannot cancel a started collective (the group is
        marked unusable by the caller)."""

    def abort(self, code: int = 1) -> None:
        """End every rank of the job now (``MPI_Abort``)."""
        self._MPI.COMM_WORLD.Abort(code)

    def close(self) -> None:
        self._comm.Free()
