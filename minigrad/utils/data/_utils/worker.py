"""What runs in a DataLoader worker process, and what it sends back.

A worker owns one index queue. It reads ``(task_number, indices)`` from it, fetches
and collates the batch, and puts ``(task_number, payload)`` on the shared result
queue: the batch pickled here (so that a batch that cannot be pickled is reported like
any other error), or an ``ExceptionWrapper`` holding the error's traceback text.
``None`` on the index queue means "exit"; ``_ResumeIteration`` starts a new epoch
(persistent workers).
"""

from __future__ import annotations

import copyreg
import io
import os
import pickle
import queue
import random
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from .... import backend
from ....random import manual_seed
from ....tensor import Tensor
from . import MP_STATUS_CHECK_INTERVAL
from .fetch import create_fetcher


@dataclass(frozen=True)
class WorkerInfo:
    """What ``get_worker_info()`` returns inside a worker."""

    id: int  # 0 .. num_workers - 1
    num_workers: int
    seed: int  # the base seed of this epoch's workers + id
    dataset: Any  # this worker's copy of the dataset


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker: its ``WorkerInfo`` (``id``, ``num_workers``, ``seed``,
    ``dataset``, this process's copy); in the main process: None. Use it in an
    ``IterableDataset.__iter__`` or a ``worker_init_fn`` to give each worker its share."""
    return _worker_info


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    """A worker's iterable dataset is exhausted."""

    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    """Start the next epoch (persistent workers)."""


class KeyErrorMessage(str):
    """A KeyError's message shown as is (``KeyError`` would show its ``repr``)."""

    def __repr__(self) -> str:
        return str(self)


class ExceptionWrapper:
    """An exception's type and formatted traceback, to raise again in another process
    as PyTorch does: ``Caught ValueError in DataLoader worker process 0.`` followed by
    ``Original Traceback (most recent call last): ...``."""

    def __init__(self, exc_info=None, where: str = "in background") -> None:
        exc_info = sys.exc_info() if exc_info is None else exc_info
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raise the original exception type (RuntimeError when it cannot be rebuilt)
        with the worker's traceback in its message."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = KeyErrorMessage(msg)
        try:
            exception = self.exc_type(msg)
        except Exception:  # an exception type that needs other arguments
            exception = None
        if exception is None:
            raise RuntimeError(msg) from None
        try:
            raise exception
        finally:
            # no cycle frame -> exception -> traceback -> frame: once the caller drops
            # the exception, the iterator (and its workers) can go at once
            del exception


# ------------------------------------------------------------------ sending batches
def _rebuild_tensor(array: np.ndarray, device: str, requires_grad: bool) -> Tensor:
    t = Tensor._make(backend.to_device(array, device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _reduce_tensor(t: Tensor):
    # the array, not the graph: a batch crosses the process boundary as data (a
    # non-leaf arrives as a leaf that does not require grad)
    return _rebuild_tensor, (backend.to_numpy(t.data), t.device, t.requires_grad and t.is_leaf)


class _BatchPickler(pickle.Pickler):
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[Tensor] = _reduce_tensor


def pack(data: Any) -> bytes:
    """Pickle a batch (Tensors as their arrays) for the result queue."""
    buffer = io.BytesIO()
    _BatchPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(data)
    return buffer.getvalue()


def unpack(payload: bytes) -> Any:
    """The batch back from :func:`pack` (the main process's side of the queue)."""
    return pickle.loads(payload)


# ------------------------------------------------------------------ the worker
def _seed_worker(base_seed: int, worker_id: int) -> int:
    """Seed Python's, NumPy's legacy and minigrad's default streams for this worker;
    returns the seed (``base_seed + worker_id``, as PyTorch)."""
    seed = base_seed + worker_id
    random.seed(seed)
    manual_seed(seed)
    # NumPy's legacy seed takes 32-bit words; hash both numbers into them so that
    # nearby base seeds give unrelated streams
    np.random.seed(np.random.SeedSequence([worker_id, base_seed]).generate_state(4))
    return seed


def _worker_loop(is_iterable: bool, dataset, index_queue, data_queue, done_event,
                 auto_collation: bool, collate_fn, drop_last: bool, base_seed: int,
                 init_fn, worker_id: int, num_workers: int) -> None:
    global _worker_info
    parent = os.getppid()
    try:
        seed = _seed_worker(base_seed, worker_id)
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed,
                                  dataset=dataset)
        where = f"in DataLoader worker process {worker_id}"
        init_error = fetcher = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = create_fetcher(is_iterable, dataset, auto_collation, collate_fn,
                                     drop_last)
        except Exception:
            init_error = ExceptionWrapper(where=where)  # sent as the first answer
        iteration_end = False
        while os.getppid() == parent:  # the parent died: stop (no orphans)
            try:
                request = index_queue.get(timeout=MP_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(request, _ResumeIteration):
                data_queue.put((request, None))
                iteration_end = False
                if init_error is None:
                    fetcher = create_fetcher(is_iterable, dataset, auto_collation,
                                             collate_fn, drop_last)
                continue
            if request is None:
                break
            if done_event.is_set() or iteration_end:
                continue  # shutting down, or nothing left to read: no answer
            task, index = request
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = pack(fetcher.fetch(index))
                except StopIteration:
                    if not is_iterable:
                        data = ExceptionWrapper(where=where)
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                except Exception:
                    data = ExceptionWrapper(where=where)
            data_queue.put((task, data))
            del data, index, request  # free the batch before blocking again
    except KeyboardInterrupt:
        pass  # the main process handles Ctrl-C
    if done_event.is_set():
        # don't wait for unread results to be flushed to a main process that is gone
        data_queue.cancel_join_thread()
        data_queue.close()
