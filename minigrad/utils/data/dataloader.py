"""``DataLoader``: batches from a dataset, in the main process or in worker processes,
as ``torch.utils.data.DataLoader``.

    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    for epoch in range(epochs):
        for xb, yb in loader:          # a new order every epoch
            ...

How a batch is made: the *sampler* gives indices (``SequentialSampler``, or
``RandomSampler`` under ``shuffle=True``), the *batch sampler* groups them
(``BatchSampler(sampler, batch_size, drop_last)``), the dataset is read at those
indices and ``collate_fn`` (``default_collate``) stacks the samples into Tensors.
``batch_size=None`` turns the grouping off: each sample is only converted
(``default_convert``).

With ``num_workers > 0`` the batches are made by worker processes. The main process
hands the batches' indices round-robin to the workers (at most ``prefetch_factor``
outstanding per worker) and yields the results in the order it handed them out, so
the batches and their order are exactly those of ``num_workers=0``. Each epoch draws a
base seed from ``generator`` (or the default generator); worker ``i`` seeds Python's
``random``, NumPy's legacy stream and minigrad's default generator from
``base_seed + i``. An exception in a worker is raised again in the main process with
the worker's traceback in its message.

``pin_memory`` is accepted for PyTorch compatibility and does nothing (it would page-lock
host memory for faster copies to a GPU; minigrad copies with CuPy as usual).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import warnings
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from ...random import Generator, numpy_rng
from . import _utils
from ._utils import worker as _worker
from ._utils.collate import default_collate, default_convert
from ._utils.fetch import create_fetcher
from .dataset import Dataset, IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler, _check_generator

__all__ = ["DataLoader"]

T_co = TypeVar("T_co", covariant=True)


class _InfiniteConstantSampler(Sampler):
    """``None`` forever: the placeholder "indices" of an iterable dataset (it decides
    its own order; the batch sampler only counts how many samples a batch takes)."""

    def __iter__(self):
        while True:
            yield None


def _draw_base_seed(generator: Generator | None) -> int:
    return int(numpy_rng(generator).integers(0, 2**63))


class DataLoader(Generic[T_co]):
    """Iterate over ``dataset`` in batches.

    Args (PyTorch's):
        dataset: a map-style ``Dataset`` (``__getitem__``, ``__len__``) or an
            ``IterableDataset``.
        batch_size: samples per batch (default 1); ``None`` disables batching.
        shuffle: a new random order every epoch (map-style datasets only).
        sampler: the index order (an iterable of indices); excludes ``shuffle``.
        batch_sampler: an iterable of index lists; excludes ``batch_size``,
            ``shuffle``, ``sampler`` and ``drop_last``.
        num_workers: worker processes (0: load in the main process).
        collate_fn: merges a list of samples into a batch (default ``default_collate``).
        pin_memory: accepted, no effect (see the module docstring).
        drop_last: drop the last batch when it is short.
        timeout: seconds to wait for a batch from the workers (0: forever); waiting
            longer raises RuntimeError.
        worker_init_fn: called as ``worker_init_fn(worker_id)`` in each worker after
            seeding, before loading.
        multiprocessing_context: a start method (``'fork'``, ``'spawn'``,
            ``'forkserver'``) or context for the workers (default: the platform's).
        generator: the ``mg.Generator`` for ``RandomSampler`` and the workers' base
            seed (default: the default generator, reset by ``mg.manual_seed``).
        prefetch_factor: batches loaded ahead per worker (default 2 with workers).
        persistent_workers: keep the workers (and their dataset copies) between
            epochs.

    ``len(loader)`` is the number of batches (for an ``IterableDataset``, an estimate
    from ``len(dataset)``; once it was asked, a pass that yields more than
    ``len(dataset)`` warns, as PyTorch does).
    """

    _initialized = False

    def __init__(self, dataset: Dataset[T_co], batch_size: int | None = 1,
                 shuffle: bool | None = None, sampler: Sampler | Iterable | None = None,
                 batch_sampler: Sampler | Iterable | None = None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context=None, generator: Generator | None = None, *,
                 prefetch_factor: int | None = None,
                 persistent_workers: bool = False) -> None:
        if not isinstance(num_workers, int) or isinstance(num_workers, bool):
            raise TypeError(f"num_workers should be an int, got {type(num_workers).__name__}")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 "
                             "to disable multiprocessing.")
        if timeout < 0:
            raise ValueError(f"timeout option should be non-negative, got timeout={timeout}")
        if timeout > 0 and num_workers == 0:
            # PyTorch fails at the first iteration (an AssertionError); say it now
            raise ValueError(f"timeout option needs num_workers > 0 (batches loaded in the "
                             f"main process cannot time out), got timeout={timeout}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing. let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor <= 0:
            raise ValueError(f"prefetch_factor option should be positive, got "
                             f"prefetch_factor={prefetch_factor}")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        _check_generator(generator)
        context = _check_context(multiprocessing_context, num_workers)

        is_iterable = isinstance(dataset, IterableDataset)
        if is_iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None:
            if is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)  # checks both

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = context
        self.generator = generator
        self.collate_fn = collate_fn or (default_collate if batch_sampler is not None
                                         else default_convert)
        self.persistent_workers = persistent_workers
        self._is_iterable = is_iterable
        self._iterator = None
        self._iterable_len_called = None  # len(dataset) once len(loader) asked for it
        self._initialized = True
        _warn_if_too_many_workers(num_workers)

    def __setattr__(self, name: str, value: Any) -> None:
        if self._initialized and name in ("batch_size", "batch_sampler", "sampler",
                                          "drop_last", "dataset", "persistent_workers"):
            raise ValueError(f"{name} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.pin_memory:
            from ... import backend

            if not backend.cuda_is_available():
                warnings.warn("'pin_memory' argument is set as true but no accelerator is "
                              "found, then device pinned memory won't be used.", stacklevel=2)
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if self.persistent_workers:
            if self._iterator is None:
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        return _MultiProcessIter(self)

    def __len__(self) -> int:
        if self._is_iterable:
            # TypeError when the stream has no length; kept, to warn when it yields more
            length = self._iterable_len_called = len(self.dataset)
            if self.batch_size is not None:
                length = (length // self.batch_size if self.drop_last
                          else math.ceil(length / self.batch_size))
            return length
        return len(self._index_sampler)


def _check_context(context, num_workers: int):
    """The multiprocessing context for the workers (None: the default)."""
    if context is None:
        return None
    if num_workers == 0:
        raise ValueError(f"multiprocessing_context can only be used with multi-process "
                         f"loading (num_workers > 0), but got num_workers={num_workers}")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start "
                             f"method in {methods!r}, but got "
                             f"multiprocessing_context={context!r}")
        return multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError(f"multiprocessing_context option should be a valid context object "
                        f"or a string specifying the start method, but got "
                        f"multiprocessing_context={context}")
    return context


def _warn_if_too_many_workers(num_workers: int) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if num_workers and cores and num_workers > cores:
        warnings.warn(f"This DataLoader will create {num_workers} worker processes in total. "
                      f"Our suggested max number of worker in current system is {cores}, "
                      f"which is smaller than what this DataLoader is going to create. "
                      f"Excessive worker creation might get DataLoader running slow or even "
                      f"freeze.", stacklevel=3)


class _BaseIter:
    """One pass over a DataLoader."""

    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._is_iterable = loader._is_iterable
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._collate_fn = loader.collate_fn
        self._sampler_iter = iter(self._index_sampler)
        self._num_workers = loader.num_workers
        self._count_from(loader)
        # drawn every epoch, also without workers, so that the random streams advance
        # the same way whatever num_workers is (as PyTorch)
        self._base_seed = _draw_base_seed(loader.generator)

    def __iter__(self):
        return self

    def _count_from(self, loader: DataLoader) -> None:
        """Start counting the yielded batches of a pass (see ``__next__``)."""
        self._num_yielded = 0
        self._len_called = loader._iterable_len_called

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        # an iterable dataset whose copies in the workers all yield the whole stream
        # gives more than len(dataset): say so, as PyTorch (which also compares the
        # batch count with len(dataset))
        if self._is_iterable and self._len_called is not None and (
                self._num_yielded > self._len_called):
            message = (f"Length of IterableDataset {self._dataset} was reported to be "
                       f"{self._len_called} (when accessing len(dataloader)), but "
                       f"{self._num_yielded} samples have been fetched. ")
            if self._num_workers > 0:
                message += ("For multiprocessing data-loading, this could be caused by not "
                            "properly configuring the IterableDataset replica at each "
                            "worker (see minigrad.utils.data.get_worker_info).")
            warnings.warn(message, stacklevel=2)
        return data

    def _next_data(self):
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __getstate__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader: DataLoader) -> None:
        super().__init__(loader)
        self._fetcher = create_fetcher(self._is_iterable, self._dataset,
                                       self._auto_collation, self._collate_fn,
                                       self._drop_last)

    def _next_data(self):
        index = next(self._sampler_iter)  # StopIteration: the epoch is over
        return self._fetcher.fetch(index)  # (an exhausted iterable dataset raises it too)


class _MultiProcessIter(_BaseIter):
    """Workers, their index queues, one result queue; task ``k`` is the ``k``-th batch
    of the epoch, and ``__next__`` returns task ``k`` before task ``k + 1``."""

    def __init__(self, loader: DataLoader) -> None:
        self._shutdown = True  # nothing to shut down until the workers exist
        self._owner = os.getpid()  # a forked copy of this object must not touch them
        self._workers: list = []
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._timeout = loader.timeout
        self._persistent = loader.persistent_workers
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._result_queue = ctx.Queue()
        self._done_event = ctx.Event()
        self._index_queues = []
        self._workers_status = [True] * self._num_workers
        self._shutdown = False
        try:
            for worker_id in range(self._num_workers):
                index_queue = ctx.Queue()
                index_queue.cancel_join_thread()  # never block exit on unsent indices
                process = ctx.Process(
                    target=_worker._worker_loop,
                    args=(self._is_iterable, self._dataset, index_queue, self._result_queue,
                          self._done_event, self._auto_collation, self._collate_fn,
                          self._drop_last, self._base_seed, loader.worker_init_fn,
                          worker_id, self._num_workers),
                    daemon=True)  # killed with the main process
                process.start()
                self._index_queues.append(index_queue)
                self._workers.append(process)
        except BaseException:
            self._shutdown_workers()
            raise
        self._reset(loader, first_iter=True)

    def _reset(self, loader: DataLoader, first_iter: bool = False) -> None:
        self._sampler_iter = iter(self._index_sampler)
        self._count_from(loader)
        self._send_idx = 0  # the next task to hand out
        self._rcvd_idx = 0  # the next task to return
        # task -> (worker,) while outstanding, (worker, data) once it arrived early
        self._task_info: dict[int, tuple] = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._next_worker = 0
        if not first_iter:  # persistent workers: restart them, drop last epoch's leftovers
            # the workers keep their seeds, but draw the epoch's base seed anyway, so that
            # the shuffling stream advances as with fresh iterators (and num_workers=0)
            # and every epoch's order is the same whatever the workers are
            _draw_base_seed(loader.generator)
            for index_queue in self._index_queues:
                index_queue.put(_worker._ResumeIteration())
            pending = self._num_workers
            while pending:
                task, _ = self._get_data()
                if isinstance(task, _worker._ResumeIteration):
                    pending -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    # -- talking to the workers -----------------------------------------------
    def _try_put_index(self) -> None:
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next worker still running
            worker_id = self._next_worker
            self._next_worker = (self._next_worker + 1) % self._num_workers
            if self._workers_status[worker_id]:
                break
        else:
            return  # every worker's iterable dataset is exhausted
        self._index_queues[worker_id].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker_id,)
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _try_get_data(self, timeout: float):
        try:
            return True, self._result_queue.get(timeout=timeout)
        except queue.Empty:
            dead = [w for i, w in enumerate(self._workers)
                    if self._workers_status[i] and not w.is_alive()]
            if dead:
                for i, w in enumerate(self._workers):
                    if w in dead:
                        self._mark_worker_unavailable(i)
                pids = ", ".join(str(w.pid) for w in dead)
                raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly "
                                   f"(exit code(s) {', '.join(str(w.exitcode) for w in dead)})"
                                   ) from None
            return False, None

    def _get_data(self):
        if self._timeout > 0:
            ok, data = self._try_get_data(self._timeout)
            if not ok:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
            return data
        while True:
            ok, data = self._try_get_data(_utils.MP_STATUS_CHECK_INTERVAL)
            if ok:
                return data

    def _mark_worker_unavailable(self, worker_id: int) -> None:
        self._index_queues[worker_id].put(None)  # exit
        self._workers_status[worker_id] = False

    def _next_data(self):
        while True:
            # skip tasks that will never come back (their worker's stream ended)
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # it arrived earlier
                _, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process(data)
            task, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _worker._IterableDatasetStopIteration):
                if self._persistent:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if task != self._rcvd_idx:  # out of order: keep it for later
                self._task_info[task] += (data,)
                continue
            self._task_info.pop(task)
            self._rcvd_idx += 1
            return self._process(data)

    def _process(self, data):
        self._try_put_index()  # keep the workers busy
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return _worker.unpack(data)

    # -- shutting down --------------------------------------------------------
    def _shutdown_workers(self) -> None:
        """Stop the workers: ask, wait briefly, then terminate the ones still alive."""
        if self._shutdown or _utils.python_exit_status or os.getpid() != self._owner:
            return
        self._shutdown = True
        try:
            self._done_event.set()
            for worker_id, index_queue in enumerate(self._index_queues):
                if self._persistent or self._workers_status[worker_id]:
                    index_queue.put(None)
            for w in self._workers:
                w.join(timeout=_utils.MP_STATUS_CHECK_INTERVAL)
            for index_queue in self._index_queues:
                index_queue.close()
        finally:
            for w in self._workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=_utils.MP_STATUS_CHECK_INTERVAL)
            self._result_queue.cancel_join_thread()
            self._result_queue.close()

    def __del__(self) -> None:
        self._shutdown_workers()
