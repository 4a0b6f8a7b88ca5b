"""The backward pass: reverse-mode differentiation over the recorded graph.

``backward(roots, grad_roots)`` walks the graph iteratively (never recursively, so a
graph of 100,000 nodes is as fine as one of ten):

1. discovery -- a depth-first walk with an explicit stack counts, for every node, how
   many edges lead into it from nodes that will run before it (its consumers);
2. execution -- Kahn's algorithm: a node runs once all its consumers have delivered
   their gradient, so each node's ``backward`` is called exactly once with the full
   sum of its output gradients.

An edge leads from a node to each input's ``grad_fn`` -- the one the input had when
the node was recorded: a Tensor that an in-place op later gave a new history keeps its
old ones in ``_history``, so the nodes that used its old value still reach it.

Hooks run where PyTorch runs them: a non-leaf Tensor's hooks (``register_hook``,
``retain_grad``) when its gradient is complete, just before its node's ``backward``; a
leaf's hooks, then its ``.grad`` update, then its post-accumulate hooks, as soon as the
last node that feeds it has run -- not at the end -- so that data-parallel training
can start reducing a gradient while the rest of the backward goes on.  Callbacks queued
with ``queue_callback`` run once the whole backward is done.

Gradient sums are kept in per-node slots.  The first gradient that arrives is kept
as is (it may be shared with another branch, so it is never written to); from the
second on, the slot owns its own buffer and adds in place.  Weight gradients that
matmul-like ops return as ``OuterGrad`` terms are collected and evaluated as one GEMM
when the slot is read.  A ``OneHotGrad`` (``nll_loss``'s sparse gradient for the
``log_softmax`` it reads) passes to that node as it is, and becomes dense anywhere
else it would be seen: a second gradient for the same slot, a hook, ``inputs=``.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from operator import itemgetter

from ..backend import concatenate, get_array_module, matmul
from . import versions
from .function import OneHotGrad, OuterGrad
from .grad_mode import _state, enable_grad
from .versions import clock as write_clock

_tensor_cls = None  # set by minigrad.tensor
_clock_of = itemgetter(0)
_no_grads = itertools.repeat(None)  # the input gradients of a node that did not run


class _GradSum:
    """Several gradients for one slot: a dense part (owned or not) and OuterGrad terms."""

    __slots__ = ("dense", "owned", "terms")

    def __init__(self, dense=None):
        self.dense = dense
        self.owned = False
        self.terms: list[OuterGrad] = []


def _accumulate(slot, grad):
    """Add ``grad`` (array, OuterGrad or Tensor) into ``slot``; return the new slot."""
    if slot is None:
        if type(grad) is OuterGrad:
            slot = _GradSum()
            slot.terms.append(grad)
            return slot
        return grad
    if type(grad) is OneHotGrad:  # a second gradient for the tensor: both dense
        grad = grad.dense()
    if type(slot) is OneHotGrad:
        slot = slot.dense()
    if type(slot) is not _GradSum:
        if isinstance(slot, _tensor_cls):  # create_graph: differentiable sums
            return slot + _materialize(grad)
        slot = _GradSum(slot)
    if type(grad) is OuterGrad:
        slot.terms.append(grad)
    elif slot.dense is None:
        slot.dense = grad
    elif slot.owned:
        slot.dense += grad
    else:
        slot.dense = slot.dense + grad
        slot.owned = True
    return slot


def _materialize(grad):
    if type(grad) is OuterGrad:
        product = grad.lhs.T @ grad.rhs
        return product if grad.shape is None else product.reshape(grad.shape)
    return grad


def _resolve(slot):
    """Turn a slot into ``(array, owned)``: evaluate pending terms as one GEMM."""
    if type(slot) is not _GradSum:
        if type(slot) is OuterGrad:
            return _materialize(slot), True
        if type(slot) is OneHotGrad:
            return slot.dense(), True
        return slot, False
    dense, owned = slot.dense, slot.owned
    terms = slot.terms
    if terms:
        if len(terms) == 1:
            product = matmul(terms[0].lhs.T, terms[0].rhs)
        else:  # (the concatenations and the product come from the backend's pool)
            rows = _shared_rows(terms)
            if rows is None:
                rows = (concatenate([t.lhs for t in terms], axis=0),
                        concatenate([t.rhs for t in terms], axis=0))
            product = matmul(rows[0].T, rows[1])
        if terms[0].shape is not None:
            product = product.reshape(terms[0].shape)
        if dense is None:
            dense = product
        elif owned:
            dense += product
        else:
            product += dense
            dense = product
        owned = True
    return dense, owned


def _shared_rows(terms):
    """``(lhs, rhs)`` for OuterGrad terms that are consecutive blocks ``k`` of the same two
    arrays (see ``OuterGrad.block``), as views of those arrays; None otherwise."""
    first = terms[0].block
    if first is None:
        return None
    lhs_rows, rhs_rows = first[0], first[1]
    blocks = set()
    for t in terms:
        block = t.block
        if block is None or block[0] is not lhs_rows or block[1] is not rhs_rows:
            return None
        blocks.add(block[2])
    lo, hi = min(blocks), max(blocks) + 1
    if len(blocks) != len(terms) or hi - lo != len(terms):
        return None  # a block twice, or a gap
    lhs, rhs = lhs_rows[lo:hi], rhs_rows[lo:hi]
    return (lhs.reshape((-1, lhs.shape[-1])), rhs.reshape((-1, rhs.shape[-1])))


def _own_tensor(grad):
    """``grad`` (create_graph) in a buffer of its own, still in the graph: the same
    gradient Tensor can reach several leaves (``a + b``) or be the caller's
    ``gradient``, and a later backward adds into ``leaf.grad`` in place."""
    if grad.grad_fn is None and grad.requires_grad:  # a leaf: copy through a graph node
        from ..ops.elementwise import Cast

        return Cast.apply(grad, dtype=grad.dtype)
    return _tensor_cls._make(grad.data.copy(), grad.grad_fn, grad._output_nr)


def _freed_error(node) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (through "
        f"{type(node).__name__}): its saved values were freed by the first backward(). "
        "Pass retain_graph=True to the first backward() if you need to call it twice."
    )


def _check_versions(node) -> None:
    """Raise PyTorch's error if a value ``node`` needs was overwritten in place after
    it was saved (called only when some in-place write happened since)."""
    needed_by = node.saved_needed_by
    needs = node.needs_input_grad
    for position, value in enumerate(node.saved):
        array = value.data if isinstance(value, _tensor_cls) else value  # Functions save
        if not hasattr(array, "dtype"):                                  # Tensors
            continue
        if needed_by is not None and not any(needs[i] for i in needed_by[position]):
            continue
        found = versions.overwritten(array, node._stamp)
        if found is not None:
            now, expected = found
            kind = {"f": "Float", "i": "Long", "b": "Bool", "u": "Byte"}.get(
                array.dtype.kind, "")
            if array.dtype.kind == "f" and array.dtype.itemsize == 8:
                kind = "Double"
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified "
                f"by an inplace operation: [minigrad.{kind}Tensor {list(array.shape)}], "
                f"which is saved by {type(node).__name__}Backward, is at version {now}; "
                f"expected version {expected} instead. Hint: the value was changed by an "
                "in-place op (add_, mul_, x[i] = ..., +=, ...) after it was used; use the "
                "out-of-place op, or clone() before writing.")


class _EngineState(threading.local):
    callbacks: list | None = None  # the queue of the backward running in this thread


_engine = _EngineState()


def queue_callback(callback) -> None:
    """Run ``callback()`` once the backward now running (in this thread) has finished,
    after every leaf's ``.grad`` is written (PyTorch's
    ``Variable._execution_engine.queue_callback``; DDP uses it to flush its buckets)."""
    if _engine.callbacks is None:
        raise RuntimeError("queue_callback: no backward is running; it can only be called "
                           "from a hook during backward()")
    _engine.callbacks.append(callback)


def _as_hook_arg(grad, create_graph: bool):
    return grad if create_graph else _tensor_cls._make(grad)


def _run_hooks(hooks: dict, grad, create_graph: bool):
    """Call each hook with the gradient (a Tensor); a hook's non-None result replaces it."""
    for hook in tuple(hooks.values()):
        result = hook(_as_hook_arg(grad, create_graph))
        if result is not None:
            if not isinstance(result, _tensor_cls):
                raise TypeError(f"a gradient hook must return a Tensor or None, got "
                                f"{type(result).__name__}")
            if tuple(result.shape) != tuple(grad.shape):
                raise RuntimeError(
                    f"hook {getattr(hook, '__name__', hook)!r} returned a gradient of "
                    f"shape {tuple(result.shape)}, expected {tuple(grad.shape)}")
            grad = result if create_graph else result.data
    return grad


def _node_hooks(node, grads: list, create_graph: bool) -> list:
    """Apply the non-leaf Tensor hooks registered on ``node``'s outputs, then store
    retained gradients (``retain_grad`` runs last, as in PyTorch)."""
    grads = [g.dense() if type(g) is OneHotGrad else g for g in grads]
    for nr, hooks in (node._tensor_hooks or {}).items():
        if grads[nr] is not None and hooks:
            grads[nr] = _run_hooks(hooks, grads[nr], create_graph)
    for nr, ref in (node._retained or {}).items():
        tensor = ref()
        if tensor is not None and grads[nr] is not None:
            _store_grad(tensor, grads[nr], False, create_graph)
    return grads


def _store_grad(tensor, grad, owned: bool, create_graph: bool) -> None:
    """Write (or add) ``grad`` into ``tensor.grad``, in the tensor's dtype."""
    Tensor = _tensor_cls
    if create_graph:
        if not isinstance(grad, Tensor):
            grad = Tensor._make(grad if owned else grad.copy())
        elif tensor.grad is None:
            grad = _own_tensor(grad)
        with enable_grad():
            tensor.grad = grad if tensor.grad is None else tensor.grad + grad
        return
    if owned:  # (a slot that owns its buffer)
        grad = _GradSum(grad)
        grad.owned = True
    _store_array_grads({tensor: grad})


def _store_array_grads(leaf_slots: dict) -> None:
    """``_store_grad`` for every ``leaf: slot`` at the end of a backward in one call (this
    loop runs for every weight of every step)."""
    Tensor = _tensor_cls
    for tensor, slot in leaf_slots.items():
        if type(slot) is _GradSum or type(slot) is OuterGrad or type(slot) is OneHotGrad:
            grad, owned = _resolve(slot)
        else:
            grad, owned = slot, False
        data = tensor.data
        if grad.dtype is not data.dtype and grad.dtype != data.dtype:
            grad = grad.astype(data.dtype)
            owned = True
        if tensor.grad is None:
            if not owned or grad.ndim == 0:  # a copy; a NumPy scalar becomes an array
                grad = get_array_module(grad).array(grad)
            tensor.grad = Tensor._make(grad)
        else:
            tensor.grad.data += grad


def backward(roots, grad_roots, retain_graph: bool = False, create_graph: bool = False,
             inputs=None, accumulate: bool = True):
    """Backpropagate ``grad_roots`` from ``roots`` through the recorded graph.

    ``roots``: Tensors; ``grad_roots``: matching arrays (Tensors with create_graph).
    ``inputs=None``: accumulate into every reachable leaf's ``.grad``.  With ``inputs``
    (leaves or not), only their gradients are kept: written to their ``.grad`` when
    ``accumulate`` (``Tensor.backward(inputs=...)``), else returned in a list, with None
    for an input that got no gradient (``autograd.grad``).
    """
    if create_graph and not _state.enabled:  # as PyTorch: create_graph records even
        with enable_grad():                  # when called under no_grad
            return backward(roots, grad_roots, retain_graph, create_graph, inputs,
                            accumulate)
    engine = _engine
    outer = engine.callbacks
    callbacks = engine.callbacks = []
    try:
        captured = _execute(roots, grad_roots, retain_graph, create_graph, inputs,
                            accumulate)
        while callbacks:  # a callback may queue another
            callbacks.pop(0)()
    finally:
        engine.callbacks = outer
    return captured


def _execute(roots, grad_roots, retain_graph, create_graph, inputs, accumulate):
    clock = write_clock  # (locals: this function's loops run once per node and edge)
    GradSum, accumulate_into = _GradSum, _accumulate
    slots: dict = {}         # node -> list of per-output gradient slots
    leaf_slots: dict = {}    # leaf Tensor -> gradient slot
    leaf_pending: dict = {}  # leaf Tensor -> edges into it that have not run yet
    dependencies: dict = {}
    stack = []

    # what to keep: every leaf (inputs=None), or the given tensors only
    wanted_leaves = captured = wanted_nodes = None
    if inputs is not None:
        captured = [None] * len(inputs)
        wanted_leaves, wanted_nodes = {}, {}
        for i, t in enumerate(inputs):
            if t.grad_fn is None:
                wanted_leaves.setdefault(t, []).append(i)  # (an input may be listed twice)
            else:
                wanted_nodes.setdefault(t.grad_fn, []).append((t._output_nr, i, t))

    for root, grad in zip(roots, grad_roots):
        node = root.grad_fn
        if node is None:
            leaf_slots[root] = accumulate_into(leaf_slots.get(root), grad)
            continue
        if node not in slots:
            slots[node] = [None] * node._n_outputs
        slots[node][root._output_nr] = accumulate_into(slots[node][root._output_nr], grad)
        if node not in dependencies:
            dependencies[node] = 0
            stack.append(node)

    # 1. discovery: count the consumers of every node reachable from the roots, and the
    # edges into every leaf.
    while stack:
        node = stack.pop()
        inputs_ = node.inputs
        if inputs_ is None:
            raise _freed_error(node)
        for t in inputs_:
            parent = t.grad_fn if t._history is None else _edge_as_of(t, node._stamp)[0]
            if parent is not None:
                if parent in dependencies:
                    dependencies[parent] += 1
                else:
                    dependencies[parent] = 1
                    stack.append(parent)
            elif t._hooks is not None and t.requires_grad and t._history is None:
                # a leaf with hooks is finished as soon as its last edge has run; the
                # others all at the end (which saves the counting)
                leaf_pending[t] = leaf_pending.get(t, 0) + 1

    leaf_args = (leaf_slots, create_graph, wanted_leaves, accumulate, captured)

    # with inputs=, only the nodes on a path to an input run; the rest stay as they were
    # (PyTorch's exec_info): ``g = grad(loss, h); h.backward(g)`` then still works
    needed = None if inputs is None else _nodes_leading_to(dependencies, wanted_leaves,
                                                           wanted_nodes)

    # leaves with hooks given as roots, and reached by no node, are complete already
    if leaf_slots:
        for leaf in [t for t in leaf_slots if t._hooks is not None and t not in leaf_pending]:
            _finish_leaf(leaf, *leaf_args)

    # 2. execution in topological order.
    ready = [node for node, count in dependencies.items() if count == 0]
    while ready:
        node = ready.pop()
        node_slots = slots.pop(node, None)
        input_grads = None
        runs = needed is None or node in needed
        if node_slots is not None and (runs or node in wanted_nodes):
            if create_graph:
                grads = node_slots
            elif len(node_slots) == 1:
                slot = node_slots[0]
                grads = [slot if type(slot) is not GradSum and type(slot) is not OuterGrad
                         else _resolve(slot)[0]]
            else:
                grads = [None if s is None else _resolve(s)[0] for s in node_slots]
            if node._tensor_hooks is not None:  # (retain_grad sets it too)
                grads = _node_hooks(node, grads, create_graph)
            if wanted_nodes is not None and node in wanted_nodes:
                _capture_node(wanted_nodes[node], grads, accumulate, captured, create_graph)
            if runs:
                for g in grads:
                    if g is not None:
                        if node.saved is None:
                            raise _freed_error(node)
                        if node._stamp != clock[0]:
                            _check_versions(node)
                        input_grads = node._run_backward(grads, create_graph)
                        break
        for t, grad in zip(node.inputs, _no_grads if input_grads is None else input_grads):
            parent = t.grad_fn
            if t._history is not None:
                parent, nr = _edge_as_of(t, node._stamp)
                if parent is None and nr is None:
                    continue
            else:
                nr = t._output_nr if parent is not None else t
            if parent is not None:
                if grad is not None:
                    parent_slots = slots.get(parent)
                    if parent_slots is None:
                        parent_slots = slots[parent] = [None] * parent._n_outputs
                    parent_slots[nr] = accumulate_into(parent_slots[nr], grad)
                count = dependencies[parent] - 1
                dependencies[parent] = count
                if count == 0:
                    ready.append(parent)
            elif t.requires_grad:
                if grad is not None:
                    leaf_slots[nr] = accumulate_into(leaf_slots.get(nr), grad)
                if t._hooks is not None:
                    count = leaf_pending[nr] - 1
                    leaf_pending[nr] = count
                    if count == 0:
                        _finish_leaf(nr, *leaf_args)
        if not retain_graph and runs:
            node._release()

    # 3. the leaves without hooks
    if create_graph or wanted_leaves is not None:
        for leaf in list(leaf_slots):
            _finish_leaf(leaf, *leaf_args)
        return captured
    # the common case: no hooks, keep every leaf
    _store_array_grads(leaf_slots)
    return captured


def _capture_node(wanted: list, grads: list, accumulate: bool, captured: list,
                  create_graph: bool) -> None:
    """``inputs=`` names non-leaf outputs of this node: store (``backward``) or hand back
    (``autograd.grad``) their gradients."""
    for nr, index, tensor in wanted:
        if grads[nr] is None:
            continue
        if type(grads[nr]) is OneHotGrad:
            grads[nr] = grads[nr].dense()
        if accumulate:
            _store_grad(tensor, grads[nr], False, create_graph)
        else:
            captured[index] = _captured(grads[nr], False, create_graph)


def _finish_leaf(leaf, leaf_slots, create_graph, wanted_leaves, accumulate, captured) -> None:
    """A leaf's gradient is complete: run its hooks, then write ``.grad`` (or hand the
    gradient to ``autograd.grad``), then its post-accumulate hooks."""
    slot = leaf_slots.pop(leaf, None)
    if slot is None:  # no gradient reached it
        return
    if create_graph and isinstance(slot, _tensor_cls):
        grad, owned = slot, False
    else:
        grad, owned = _resolve(slot)
    hooks = leaf._hooks
    if hooks is not None and hooks.pre:
        grad = _run_hooks(hooks.pre, grad, create_graph)
    if wanted_leaves is not None:
        indices = wanted_leaves.get(leaf)
        if indices is None:
            return
        if not accumulate:
            for index in indices:
                captured[index] = _captured(grad, owned, create_graph)
            return
    _store_grad(leaf, grad, owned, create_graph)
    if hooks is not None and hooks.post:
        for hook in tuple(hooks.post.values()):
            hook(leaf)


def _edge_as_of(t, stamp: int):
    """``(grad_fn, output_nr)`` that ``t`` had at write-clock time ``stamp`` (``t`` was
    given a new history in place since); ``(None, t)`` for a leaf, ``(None, None)`` for a
    constant."""
    history = t._history  # (clock, grad_fn, output_nr) in the order of the rewrites
    position = bisect.bisect_right(history, stamp, key=_clock_of)
    if position < len(history):
        _, grad_fn, output_nr = history[position]
    else:
        grad_fn, output_nr = t.grad_fn, t._output_nr
    if grad_fn is None:
        return None, None  # only constants (no grad) are ever rewritten in place
    return grad_fn, output_nr


def _captured(grad, owned: bool, create_graph: bool):
    """A gradient handed back by ``autograd.grad``: a Tensor in a buffer of its own."""
    if create_graph:
        return grad if isinstance(grad, _tensor_cls) else _tensor_cls._make(grad)
    return _tensor_cls._make(grad if owned and grad.ndim else get_array_module(grad).array(grad))


def _nodes_leading_to(dependencies: dict, wanted_leaves: dict, wanted_nodes: dict) -> set:
    """The nodes (of those discovered) from which a path of edges leads to a wanted
    leaf or a wanted node: a topological pass, then one in reverse."""
    counts = dict(dependencies)
    ready = [node for node, count in counts.items() if count == 0]
    order, parents_of = [], {}
    while ready:
        node = ready.pop()
        order.append(node)
        parents = []
        for t in node.inputs:
            parent, nr = t.grad_fn, t
            if t._history is not None:
                parent, nr = _edge_as_of(t, node._stamp)
            parents.append((parent, nr))
            if parent is not None:
                counts[parent] -= 1
                if counts[parent] == 0:
                    ready.append(parent)
        parents_of[node] = parents
    needed: set = set()
    for node in reversed(order):
        for parent, nr in parents_of[node]:
            if parent is None:
                if nr is not None and nr in wanted_leaves:
                    needed.add(node)
                    break
            elif parent in needed or parent in wanted_nodes:
                needed.add(node)
                break
    return needed
