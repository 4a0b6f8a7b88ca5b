"""In-place operations inside the graph: ``x.add_(y)``, ``x[idx] = v``, ``h += y``.

PyTorch's model.  An in-place op on ``x`` records a node whose input is ``x``'s *old*
value and makes that node ``x``'s new history; ``x``'s array is written in place, so
views and anyone holding ``x`` see the new values.  Every storage has a version count
that each in-place write bumps (``versions``: views share it); the engine refuses to run
a backward whose saved value was overwritten after it was saved.  ``x`` keeps its earlier
histories (``Tensor._history``, by write clock), so the nodes that used its old value
still send their gradient there.

Rules, as PyTorch's:
* writing in place into a leaf that requires grad (or a view of one) is an error,
  except under ``no_grad`` (where weight updates belong);
* the result must have the written tensor's shape (no broadcasting of the target) and a
  dtype that casts to it within its kind;
* if the op's backward needs the old value (``x.mul_(y)`` needs ``x``), the node gets a
  private copy of it, made before the write;
* a differentiable write into a view ``v = base[index]`` is recorded on the base
  (``base[index] = new value``), so the base's history sees it too.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..backend import device_of, xp_for
from ..ops import elementwise as E
from ..ops import shape as S
from . import versions
from .grad_mode import _state, no_grad

_tensor_cls = None  # set by minigrad.tensor


def check_writable(target, name: str) -> None:
    """PyTorch's errors for in-place writes into (views of) leaves that require grad."""
    if not _state.enabled:
        return
    if target.requires_grad and target.grad_fn is None:
        raise RuntimeError(f"{name}: a leaf Variable that requires grad is being used in an "
                           "in-place operation (update weights under mg.no_grad(), or write "
                           "into a clone())")
    base = target._base
    if base is not None and base[0].requires_grad and base[0].grad_fn is None:
        raise RuntimeError(f"{name}: a view of a leaf Variable that requires grad is being "
                           "used in an in-place operation (write under mg.no_grad(), or into "
                           "a clone())")


def bump(target) -> None:
    """Count one in-place write into ``target``'s storage."""
    versions.record_write(target.data)


def _alias(target):
    """A Tensor for ``target``'s current value and history: the input of the new node."""
    old = _tensor_cls._make(target.data, target.grad_fn, target._output_nr)
    old.requires_grad = target.requires_grad
    return old


def _checked_result(target, result, name: str):
    """``result`` (an out-of-place value for ``target``) in ``target``'s dtype; errors
    for a shape or dtype that an in-place op cannot write."""
    if tuple(result.shape) != tuple(target.shape):
        raise RuntimeError(f"{name}: output with shape {list(target.shape)} doesn't match the "
                           f"broadcast shape {list(result.shape)}")
    if result.dtype != target.dtype:
        if not np.can_cast(result.dtype, target.dtype, casting="same_kind"):
            raise RuntimeError(f"{name}: result type {result.dtype} can't be cast to the "
                               f"desired output type {target.dtype}")
        result = result.to(target.dtype)
    return result


def _write(target, array, name: str) -> None:
    data = target.data
    if isinstance(data, np.generic):  # a NumPy scalar is immutable: give it an array
        target.data = np.array(array, dtype=data.dtype)
        return
    try:
        data[...] = array
    except ValueError as err:  # read-only: an expand()ed (broadcast) view
        raise RuntimeError(f"{name}: cannot write into this tensor in place ({err}); it "
                           "is probably an expand()ed view: clone() it first") from None


def _rebase(target, result) -> None:
    """Make ``result``'s node ``target``'s history (``retain_grad`` moves along)."""
    previous = target.grad_fn
    if previous is not None and previous._retained:
        ref = previous._retained.get(target._output_nr)
        if ref is not None and ref() is target:
            del previous._retained[target._output_nr]
            node = result.grad_fn
            if node._tensor_hooks is None:
                node._tensor_hooks = {}
            if node._retained is None:
                node._retained = {}
            node._retained[result._output_nr] = ref
    history = target._history
    if history is None:
        history = target._history = []
    history.append((versions.clock[0], previous, target._output_nr))
    # keep it short across training steps: neighbouring entries whose nodes a backward has
    # freed are interchangeable (any use of either is the freed-graph error)
    while len(history) > 1 and _freed(history[-2][1]) and _freed(history[-1][1]):
        del history[-2]
    target.grad_fn, target._output_nr = result.grad_fn, result._output_nr
    target.requires_grad = result.requires_grad


def _freed(node) -> bool:
    return node is not None and node.inputs is None


def _needs_graph(target, operands) -> bool:
    if not _state.enabled or target.data.dtype.kind != "f":  # an integer tensor has no
        return False                                             # gradient to record
    return target.requires_grad or any(
        getattr(o, "requires_grad", False) for o in operands)


def apply(target, name: str, compute: Callable, operands: tuple = ()):
    """Do ``target <- compute(target)`` in place; returns ``target``.

    ``compute(t)`` is the op written out of place (``lambda t: t * y`` for ``mul_``) and
    must use ``t`` itself as an input of the node it returns; ``operands`` are the other
    Tensors it reads (to know whether a graph is needed).
    """
    check_writable(target, name)
    if not _needs_graph(target, operands):
        with no_grad():
            result = _checked_result(target, compute(target), name)
        _write(target, result.data, name)
        bump(target)
        return target
    base = target._base
    if base is not None:  # a view: record the write on its base, base[index] = new value
        base_tensor, index, _ = base
        if index is None:
            raise RuntimeError(
                f"{name}: in-place operation on a view made by reshape/transpose/split of "
                "a tensor in the graph is not supported; index the base (base[i] = value) "
                "or write into a clone()")
        old = _alias(target)
        result = _checked_result(target, compute(old), name)
        _keep_old_value(result.grad_fn, old, target)
        setitem(base_tensor, index, result)
        _rebase(target, result)
        target._base = (base_tensor, index, versions.clock[0])  # (its history is current)
        return target
    old = _alias(target)
    result = _checked_result(target, compute(old), name)
    _keep_old_value(result.grad_fn, old, target)
    _write(target, result.data, name)
    bump(target)
    _rebase(target, result)
    return target


def _keep_old_value(node, old, target) -> None:
    """If ``node``'s backward needs the value about to be overwritten (``x.mul_(y)``
    needs ``x`` for dy), give the node a copy of its own, made before the write."""
    if node is None or not node.saved or not any(a is target.data for a in node.saved):
        return
    copy = target.data.copy()
    node.saved = tuple(copy if a is target.data else a for a in node.saved)
    old.data = copy


def setitem(target, index, value) -> None:
    """``target[index] = value`` (index already converted to arrays); differentiable
    with respect to both ``target``'s old values and ``value``."""
    Tensor = _tensor_cls
    check_writable(target, "setitem")
    if isinstance(value, Tensor) and device_of(value.data) != device_of(target.data):
        raise RuntimeError(f"setitem: value is on {value.device}, the tensor on "
                           f"{target.device} (move it with .to('{target.device}'))")
    if not _needs_graph(target, (value,)):
        try:
            target.data[index] = value.data if isinstance(value, Tensor) else value
        except ValueError as err:
            raise _setitem_error(target, index, value, err) from None
        bump(target)
        return
    if isinstance(value, Tensor):
        if value.dtype != target.dtype:
            if not np.can_cast(value.dtype, target.dtype, casting="same_kind"):
                raise RuntimeError(f"setitem: value of dtype {value.dtype} can't be cast to "
                                   f"the tensor's dtype {target.dtype}")
            value = E.Cast.apply(value, dtype=target.dtype) if target.dtype.kind == "f" \
                else Tensor._make(value.data.astype(target.dtype))
    else:  # a number or an array: a constant on the target's device
        value = Tensor._make(xp_for(device_of(target.data)).asarray(
            value, dtype=target.dtype))
    if target._base is not None:  # a view: out of place, then onto the base
        apply(target, "setitem",
              lambda old: S.SetItem.apply(old, value, index=index, copy=True), (value,))
        return
    old = _alias(target)
    try:
        result = S.SetItem.apply(old, value, index=index)
    except ValueError as err:
        raise _setitem_error(target, index, value, err) from None
    bump(target)
    _rebase(target, result)


def _setitem_error(target, index, value, err) -> RuntimeError:
    shape = tuple(getattr(value, "shape", ()))
    return RuntimeError(f"setitem: cannot assign a value of shape {shape} to the indexed "
                        f"part of a tensor of shape {tuple(target.shape)} ({err})")
