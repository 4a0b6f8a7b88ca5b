"""Gradient clipping, the usual guard against exploding gradients in recurrent nets
(call between ``loss.backward()`` and ``optimizer.step()``)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ... import backend
from ...tensor import Tensor, tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(array, p: float):
    return backend.get_array_module(array).linalg.norm(array.reshape(-1), ord=p)


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Rescale the gradients in place so that their joint norm is at most ``max_norm``.

    The total norm is that of all gradients concatenated into one vector
    (``norm_type``: any p >= 1 or ``inf``).  If ``max_norm / (total + 1e-6)`` is below 1,
    every gradient is multiplied by it (PyTorch's formula).  Returns the total norm
    *before* clipping, as a 0-d Tensor -- worth logging to see how often clipping acts.
    """
    grads = _grads(parameters)
    if not grads:
        return tensor(0.0)
    norm_type = float(norm_type)
    device = grads[0].device
    xp = backend.get_array_module(grads[0].data)
    # the norm of all gradients concatenated = the norm of the per-tensor norms
    norms = [backend.to_device(_vector_norm(g.data, norm_type), device) for g in grads]
    total = xp.asarray(_vector_norm(xp.stack(norms), norm_type))
    if error_if_nonfinite and not math.isfinite(float(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{float(total)}; set error_if_nonfinite=False to clip anyway")
    # min(coef, 1) and always multiply: no branch on a device value (no GPU sync);
    # a factor of exactly 1 leaves the gradients unchanged
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g.data *= backend.to_device(coef, g.device).astype(g.dtype)
    return Tensor._make(total)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]``, in place."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        xp = backend.get_array_module(g.data)
        xp.clip(g.data, -clip_value, clip_value, out=g.data)
