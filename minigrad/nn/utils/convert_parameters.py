"""``parameters_to_vector`` / ``vector_to_parameters``: all parameters as one flat
vector and back (for optimizers that work on a single vector, line searches, or
reading and writing the weights of a model at once)."""

from __future__ import annotations

from collections.abc import Iterable

from ...autograd.grad_mode import no_grad
from ...functions import cat
from ...tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _checked(parameters: Iterable[Tensor], name: str) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        raise TypeError(f"{name}: expected an iterable of Tensors (e.g. "
                        "model.parameters()), got a single Tensor")
    params = list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{name}: expected Tensors, got {type(p).__name__}")
    devices = {p.device for p in params}
    if len(devices) > 1:
        raise TypeError(f"{name}: found parameters on different devices "
                        f"({', '.join(sorted(devices))}); they must all be on one")
    return params


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Every parameter flattened and concatenated in order -> a 1-D Tensor of their
    total size (differentiable: a loss on it sends gradients back to each one)."""
    params = _checked(parameters, "parameters_to_vector")
    if not params:
        raise RuntimeError("parameters_to_vector: expected at least one parameter")
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters, in order (in
    place, without recording a graph; each slice reshaped to its parameter's shape and
    cast to its dtype).  ``vec`` must hold exactly their total number of elements."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, but got: {type(vec).__name__}")
    params = _checked(parameters, "vector_to_parameters")
    if vec.ndim != 1:
        raise ValueError(f"vector_to_parameters: vec must be 1-D, got shape "
                         f"{tuple(vec.shape)}")
    total = sum(p.numel() for p in params)
    if vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: vec has {vec.shape[0]} elements, but the "
                         f"parameters have {total} in all")
    if params and vec.device != params[0].device:
        raise TypeError(f"vector_to_parameters: vec is on {vec.device}, the parameters on "
                        f"{params[0].device}")
    offset = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.data[...] = vec.data[offset:offset + n].reshape(p.shape).astype(p.dtype)
            offset += n
