"""``autograd.grad``: gradients of outputs with respect to chosen inputs, returned
instead of accumulated into ``.grad``."""

from __future__ import annotations

from collections.abc import Sequence

from ..backend import get_array_module
from . import engine
from .function import follow_base


def _as_tuple(value) -> tuple:
    if isinstance(value, engine._tensor_cls):
        return (value,)
    return tuple(value)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None,
         materialize_grads: bool = False) -> tuple:
    """``d(outputs)/d(inputs)`` (times ``grad_outputs``) as a tuple with one gradient per
    input, in its shape; no ``.grad`` is touched.

    ``outputs``/``inputs``: a Tensor or a sequence of Tensors (inputs may be leaves or
    intermediate results).  ``grad_outputs``: one gradient per output (None: ones, for
    one-element outputs).  An input that the outputs do not depend on is an error
    unless ``allow_unused`` (then its gradient is None, or zeros with
    ``materialize_grads``).  ``create_graph`` records the gradient computation itself.
    """
    Tensor = engine._tensor_cls
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if not inputs:
        raise RuntimeError("grad requires at least one input")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] must be a Tensor, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"grad: One of the differentiated Tensors (inputs[{i}]) does "
                               "not require grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    if retain_graph is None:
        retain_graph = create_graph
    roots, root_grads = _roots("grad", outputs, grad_outputs, create_graph)
    grads = engine.backward(roots, root_grads, retain_graph=retain_graph,
                            create_graph=create_graph, inputs=inputs, accumulate=False)
    result = []
    for i, (t, g) in enumerate(zip(inputs, grads)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"grad: inputs[{i}] (shape {tuple(t.shape)}) was not used to compute "
                    "the outputs; pass allow_unused=True if this is what you want")
            if materialize_grads:
                g = Tensor._make(get_array_module(t.data).zeros_like(t.data))
        result.append(g)
    return tuple(result)


def _roots(name: str, outputs: tuple, grad_outputs, create_graph: bool) -> tuple:
    """Check the tensors a backward starts from and their gradients: ``(roots, grads)``."""
    Tensor = engine._tensor_cls
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs) if not isinstance(
            grad_outputs, Sequence) or isinstance(grad_outputs, Tensor) else tuple(
            grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{name}: expected {len(outputs)} gradients (one per output), "
                           f"got {len(grad_outputs)}")
    roots, root_grads = [], []
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"{name}: outputs[{i}] must be a Tensor, got "
                            f"{type(out).__name__}")
        if out._base is not None:
            follow_base(out)
        if not out.requires_grad:
            raise RuntimeError(f"{name}: element {i} of outputs does not require grad and "
                               "has no grad_fn")
        roots.append(out)
        root_grads.append(_root_grad(out, g, i, create_graph))
    return roots, root_grads


def _root_grad(out, g, i: int, create_graph: bool):
    """The gradient that starts the backward at ``out``, checked like
    ``Tensor.backward``'s ``gradient``."""
    Tensor = engine._tensor_cls
    xp = get_array_module(out.data)
    if g is None:
        if out.data.size != 1:
            raise RuntimeError(f"grad can be implicitly created only for scalar outputs: "
                               f"outputs[{i}] has shape {tuple(out.shape)}; pass "
                               "grad_outputs")
        g = xp.ones_like(out.data)
        return Tensor._make(g) if create_graph else g
    data = g.data if isinstance(g, Tensor) else xp.asarray(g)
    if data.shape != out.data.shape:
        raise RuntimeError(f"grad_outputs[{i}] has shape {tuple(data.shape)}, expected the "
                           f"shape of outputs[{i}], {tuple(out.shape)}")
    if data.dtype != out.data.dtype:
        data = data.astype(out.data.dtype)
    if create_graph:
        return g if isinstance(g, Tensor) and g.dtype == out.dtype else Tensor._make(data)
    return data


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """``torch.autograd.backward``: accumulate d(tensors)/d(leaves) * grad_tensors into
    the leaves' ``.grad`` (``tensors``: a Tensor or a sequence; ``grad_tensors``: one
    per tensor, None for one-element tensors).  ``inputs`` as ``Tensor.backward``'s."""
    if retain_graph is None:
        retain_graph = create_graph
    roots, root_grads = _roots("backward", _as_tuple(tensors), grad_tensors, create_graph)
    if inputs is not None:
        inputs = _as_tuple(inputs)
    engine.backward(roots, root_grads, retain_graph=retain_graph, create_graph=create_graph,
                    inputs=inputs)
