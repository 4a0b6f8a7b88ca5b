"""``DistributedDataParallel``: one replica of the model per rank, trained as one.

Each rank runs forward and backward on its own share of the batch; DDP makes the
replicas' gradients equal to their average before the optimizer sees them, so every
rank takes the same step and the replicas stay identical (bit for bit: they start from
rank 0's weights and apply the same averaged gradients).

How the gradients are averaged (PyTorch's reducer, in small):

* at construction the parameters requiring grad are grouped into *buckets* of at most
  ``bucket_cap_mb``, in reverse order of ``module.parameters()`` -- roughly the order in
  which backward finishes them;
* a post-accumulate-grad hook on every such parameter marks it ready once its ``.grad``
  is final in this backward; when every parameter of the next bucket in line is ready,
  the bucket's gradients are copied into one flat buffer and its all-reduce starts,
  non-blocking, while the backward goes on;
* at the end of the backward (``autograd.queue_callback``) the buckets not yet started
  are sent too -- with zeros for parameters that got no gradient on this rank -- so
  every rank starts the same all-reduces in the same order and nothing waits for a
  gradient that never comes; then each result is divided by the world size and written
  back into ``.grad``.

Each bucket also carries one count per parameter, the number of ranks that had a
gradient for it, in the same all-reduce: a parameter no rank used keeps ``.grad`` None
(as in one process), so optimizers skip it exactly as they would without DDP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ... import backend as array_backend
from ...autograd import is_grad_enabled, queue_callback, versions
from ...distributed import process_group as pg
from ...tensor import Tensor
from ..module import Module

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """Parameters whose gradients travel in one all-reduce: a flat buffer holding their
    gradients, then one count per parameter (1 where this rank has a gradient)."""

    def __init__(self, params: list) -> None:
        self.params = params
        self.offsets = []
        total = 0
        for p in params:
            self.offsets.append(total)
            total += p.numel()
        self.numel = total
        self.buffer = None  # allocated on first use, on the parameters' device

    def pack(self) -> Any:
        """Copy the current gradients (zeros where there is none) into the buffer."""
        first = self.params[0]
        xp = array_backend.get_array_module(first.data)
        if self.buffer is None:
            self.buffer = xp.empty(self.numel + len(self.params), first.dtype)
        buffer = self.buffer
        has_grad = np.zeros(len(self.params), buffer.dtype)
        for i, (p, start) in enumerate(zip(self.params, self.offsets)):
            segment = buffer[start:start + p.numel()]
            if p.grad is None:
                segment[...] = 0
            else:
                segment[...] = p.grad.data.reshape(-1)
                has_grad[i] = 1
        buffer[self.numel:] = xp.asarray(has_grad)  # one copy (to the GPU) for all flags
        return buffer

    def unpack(self, world_size: int) -> None:
        """Write the summed gradients / world_size back into ``.grad``."""
        xp = array_backend.get_array_module(self.buffer)
        counts = array_backend.to_numpy(self.buffer[self.numel:])  # ranks with a gradient
        for i, (p, start) in enumerate(zip(self.params, self.offsets)):
            if counts[i] == 0:  # no rank has a gradient for it: leave it alone
                continue
            segment = self.buffer[start:start + p.numel()].reshape(p.shape)
            grad = p.grad
            flags = None if grad is None else getattr(grad.data, "flags", None)
            if flags is not None and flags.writeable:
                xp.divide(segment, world_size, out=grad.data)
            else:  # no gradient on this rank (or a read-only NumPy scalar): a new one
                p.grad = Tensor._make(xp.divide(segment, world_size))


class _Reduction:
    """The reducer's state during one backward."""

    def __init__(self, n_buckets: int) -> None:
        self.ready = [0] * n_buckets  # parameters of each bucket whose gradient is final
        self.next = 0                 # the next bucket to start (buckets start in order)
        self.requests: list = []


class DistributedDataParallel(Module):
    """Wrap ``module`` (the same model on every rank) for data-parallel training.

    ``module``'s parameters and buffers are broadcast from rank 0 at construction
    (``init_sync``), after checking that every rank has the same parameter and buffer
    names, shapes and dtypes.  Call the wrapper as the module; every backward through a
    forward of the wrapper averages the gradients over the ranks (see the module doc).

    ``device_ids`` / ``output_device``: None for a CPU module; for a CUDA module, None or
    the one GPU it is on (as PyTorch).  ``broadcast_buffers``: copy rank 0's buffers to
    the others before each forward with autograd on.  ``bucket_cap_mb``: the largest
    bucket (MiB; None means 25, as PyTorch).  ``find_unused_parameters`` is accepted for
    PyTorch code: minigrad's reducer never waits for an unused parameter (the
    end-of-backward flush sends it), so unused parameters need no search.

    The wrapped model is ``.module``; ``state_dict()`` keys start with ``module.`` (strip
    them with ``nn.utils.consume_prefix_in_state_dict_if_present``).  ``dim`` is accepted
    for PyTorch code and unused: nothing is scattered, each rank feeds its own batch.

    Every rank's backward must reach at least one parameter (a backward that reaches none
    starts no reduction, and the other ranks' reductions then time out).
    """

    def __init__(self, module: Module, device_ids: list | None = None,
                 output_device: Any = None, dim: int = 0, broadcast_buffers: bool = True,
                 init_sync: bool = True, bucket_cap_mb: float | None = 25,
                 find_unused_parameters: bool = False) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got "
                            f"{type(module).__name__}")
        group = pg._group()  # ValueError before init_process_group, as PyTorch
        params = list(module.named_parameters())
        buffers = list(module.named_buffers())
        trainable = [p for _, p in params if p.requires_grad]
        if not trainable:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't "
                               "have any parameter that requires a gradient.")
        devices = {t.device for _, t in params + buffers}
        if len(devices) > 1:
            raise ValueError(f"DistributedDataParallel: the module's parameters and buffers "
                             f"are on several devices ({sorted(devices)}); put the whole "
                             "module on one device")
        device = devices.pop()
        _check_device_ids(device_ids, output_device, device)
        if group.backend.device is not None and device != group.backend.device:
            raise RuntimeError(f"DistributedDataParallel: the {group.name} backend needs "
                               f"the module on {group.backend.device}, but it is on {device} "
                               f"(module.to('{group.backend.device}') first)")
        cap = 25 if bucket_cap_mb is None else bucket_cap_mb
        if isinstance(cap, bool) or not isinstance(cap, (int, float)) or cap <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive "
                             f"number, got {bucket_cap_mb!r}")
        self.module = module
        self.device_ids = None if device_ids is None else list(device_ids)
        self.output_device = output_device
        self.dim = dim
        self.broadcast_buffers = bool(broadcast_buffers)
        self.bucket_cap_mb = cap
        self.find_unused_parameters = bool(find_unused_parameters)
        self.require_backward_grad_sync = True
        self._group = group
        self._check_same_model(params, buffers)
        if init_sync:
            for name, t in params + buffers:
                self._broadcast_from_rank0(t, name)
        self._buckets = _make_buckets(trainable, int(cap * 1024 * 1024))
        self._where = {}
        for b, bucket in enumerate(self._buckets):
            for p in bucket.params:
                self._where[id(p)] = b
        self._expect_hooks = False  # armed by a forward with autograd on and sync wanted
        self._reduction: _Reduction | None = None
        self._hook_handles = [p.register_post_accumulate_grad_hook(self._on_grad_ready)
                              for p in trainable]

    # -- construction ------------------------------------------------------------------
    def _check_same_model(self, params: list, buffers: list) -> None:
        """Every rank must hold the same model: compare names, shapes and dtypes."""
        layout = [("parameter", name, tuple(p.shape), str(p.dtype), p.requires_grad)
                  for name, p in params]
        layout += [("buffer", name, tuple(b.shape), str(b.dtype), False)
                   for name, b in buffers]
        layouts = [None] * self._group.world_size
        pg.all_gather_object(layouts, layout)
        for rank, other in enumerate(layouts):
            if other != layouts[0]:
                raise RuntimeError("DistributedDataParallel: every rank must build the same "
                                   "model, but " + _first_difference(layouts[0], other, rank))

    def _broadcast_from_rank0(self, t: Tensor, name: str) -> None:
        versions.record_write(t.data)  # an in-place write, as any other
        group = self._group
        group.wait(group.backend.broadcast(t.data, 0),
                   f"DistributedDataParallel: broadcast of {name} from rank 0")

    # -- forward -----------------------------------------------------------------------
    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """``module(*inputs, **kwargs)``; with autograd on, first copy rank 0's buffers
        (``broadcast_buffers``) and arm the gradient averaging of the next backward."""
        if self._reduction is not None:
            raise RuntimeError(
                "DistributedDataParallel: expected to have finished the gradient reduction "
                "of the previous backward before a new forward (did that backward raise?)")
        if is_grad_enabled():
            if self.broadcast_buffers:
                for name, b in self.module.named_buffers():
                    self._broadcast_from_rank0(b, name)
            self._expect_hooks = self.require_backward_grad_sync
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside, forwards arm no gradient averaging: the backwards of those forwards
        only accumulate local gradients (the first forward/backward after the block
        averages the accumulated sums), as PyTorch."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # -- the reducer -------------------------------------------------------------------
    def _on_grad_ready(self, param: Tensor) -> None:
        if not self._expect_hooks:
            return
        reduction = self._reduction
        if reduction is None:  # the first final gradient of this backward
            reduction = self._reduction = _Reduction(len(self._buckets))
            queue_callback(self._finish_reduction)
        reduction.ready[self._where[id(param)]] += 1
        buckets = self._buckets
        while (reduction.next < len(buckets)
               and reduction.ready[reduction.next] == len(buckets[reduction.next].params)):
            self._start_bucket(reduction)

    def _start_bucket(self, reduction: _Reduction) -> None:
        buffer = self._buckets[reduction.next].pack()
        reduction.requests.append(self._group.backend.all_reduce(buffer, "sum"))
        reduction.next += 1

    def _finish_reduction(self) -> None:
        """End of backward: send the buckets not started yet, wait, write back."""
        reduction = self._reduction
        self._expect_hooks = False
        try:
            while reduction.next < len(self._buckets):
                self._start_bucket(reduction)
            group = self._group
            for b, (bucket, request) in enumerate(zip(self._buckets, reduction.requests)):
                group.wait(request, f"DistributedDataParallel: all-reduce of gradient "
                                    f"bucket {b} of {len(self._buckets)}")
                bucket.unpack(group.world_size)
        finally:
            self._reduction = None

    def extra_repr(self) -> str:
        return f"world_size={self._group.world_size}, buckets={len(self._buckets)}"


def _make_buckets(params: list, cap_bytes: int) -> list[_Bucket]:
    """Reverse parameter order; a new bucket when the cap would be passed or the dtype
    changes (one flat buffer has one dtype)."""
    buckets, current, size = [], [], 0
    for p in reversed(params):
        nbytes = p.numel() * p.dtype.itemsize
        if current and (size + nbytes > cap_bytes or p.dtype != current[0].dtype):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    buckets.append(_Bucket(current))
    return buckets


def _check_device_ids(device_ids, output_device, device: str) -> None:
    if device == "cpu":
        if device_ids or output_device is not None:
            raise ValueError(
                f"DistributedDataParallel device_ids and output_device arguments only work "
                f"with single-device GPU modules or CPU modules, but got device_ids "
                f"{device_ids}, output_device {output_device}, and module parameters on "
                "cpu (leave both None for a CPU module)")
        return
    if device_ids is not None and len(list(device_ids)) > 1:
        raise ValueError(f"DistributedDataParallel: device_ids can only be None or contain a "
                         f"single element (one GPU per process), got {list(device_ids)}")


def _first_difference(reference: list, other: list, rank: int) -> str:
    """Say how rank ``rank``'s model layout differs from rank 0's."""
    mine = {(kind, name): rest for kind, name, *rest in reference}
    theirs = {(kind, name): rest for kind, name, *rest in other}
    for key in mine:
        if key not in theirs:
            return f"rank {rank} has no {key[0]} {key[1]!r} (rank 0 has)"
    for key in theirs:
        if key not in mine:
            return f"rank {rank} has a {key[0]} {key[1]!r} that rank 0 has not"
    for key, (shape, dtype, requires_grad) in mine.items():
        shape2, dtype2, requires_grad2 = theirs[key]
        if (shape, dtype) != (shape2, dtype2):
            return (f"{key[0]} {key[1]!r} is {dtype} {shape} on rank 0 and {dtype2} "
                    f"{shape2} on rank {rank}")
        if requires_grad != requires_grad2:
            return (f"{key[0]} {key[1]!r} has requires_grad={requires_grad} on rank 0 and "
                    f"{requires_grad2} on rank {rank}")
    return f"the parameters are registered in another order on rank {rank} than on rank 0"
