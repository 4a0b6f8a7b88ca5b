"""The backward pass: reverse-mode differentiation over the recorded graph.

``backward(roots, grad_roots)`` walks the graph iteratively (never recursively, so a
graph of 100,000 nodes is as fine as one of ten):

1. discovery -- a depth-first walk with an explicit stack counts, for every node, how
   many edges lead into it from nodes that will run before it (its consumers);
2. execution -- Kahn's algorithm: a node runs once all its consumers have delivered
   their gradient, so each node's ``backward`` is called exactly once with the full
   sum of its output gradients.

Gradient sums are kept in per-node slots.  The first gradient that arrives is kept
as is (it may be shared with another branch, so it is never written to); from the
second on, the slot owns its own buffer and adds in place.  Weight gradients that
matmul-like ops return as ``OuterGrad`` terms are collected and evaluated as one GEMM
when the slot is read.
"""

from __future__ import annotations

from ..backend import get_array_module
from .function import OuterGrad
from .grad_mode import _state, enable_grad

_tensor_cls = None  # set by minigrad.tensor


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
        return slot, False
    dense, owned = slot.dense, slot.owned
    terms = slot.terms
    if terms:
        if len(terms) == 1:
            product = terms[0].lhs.T @ terms[0].rhs
        else:
            xp = get_array_module(terms[0].lhs)
            lhs = xp.concatenate([t.lhs for t in terms], axis=0)
            rhs = xp.concatenate([t.rhs for t in terms], axis=0)
            product = lhs.T @ rhs
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


def backward(roots, grad_roots, retain_graph: bool = False, create_graph: bool = False,
             inputs=None):
    """Accumulate d(roots)/d(leaf) * grad_roots into every reachable leaf's ``.grad``.

    ``roots``: Tensors; ``grad_roots``: matching arrays (Tensors with create_graph).
    ``inputs``: optional leaves to restrict accumulation to.
    """
    if create_graph and not _state.enabled:  # as PyTorch: create_graph records even
        with enable_grad():                  # when called under no_grad
            return backward(roots, grad_roots, retain_graph, create_graph, inputs)
    Tensor = _tensor_cls
    slots: dict = {}      # node -> list of per-output gradient slots
    leaf_slots: dict = {}  # leaf Tensor -> gradient slot
    dependencies: dict = {}
    stack = []
    for root, grad in zip(roots, grad_roots):
        node = root.grad_fn
        if node is None:
            leaf_slots[root] = _accumulate(leaf_slots.get(root), grad)
            continue
        if node not in slots:
            slots[node] = [None] * node._n_outputs
        slots[node][root._output_nr] = _accumulate(slots[node][root._output_nr], grad)
        if node not in dependencies:
            dependencies[node] = 0
            stack.append(node)

    # 1. discovery: count consumers of every node reachable from the roots.
    while stack:
        node = stack.pop()
        if node.inputs is None:
            raise _freed_error(node)
        for t in node.inputs:
            parent = t.grad_fn
            if parent is not None:
                if parent in dependencies:
                    dependencies[parent] += 1
                else:
                    dependencies[parent] = 1
                    stack.append(parent)

    # 2. execution in topological order.
    ready = [node for node, count in dependencies.items() if count == 0]
    while ready:
        node = ready.pop()
        node_slots = slots.pop(node, None)
        input_grads = None
        if node_slots is not None:
            if create_graph:
                grads = node_slots
            elif len(node_slots) == 1:
                slot = node_slots[0]
                grads = [slot if type(slot) is not _GradSum and type(slot) is not OuterGrad
                         else _resolve(slot)[0]]
            else:
                grads = [None if s is None else _resolve(s)[0] for s in node_slots]
            for g in grads:
                if g is not None:
                    if node.saved is None:
                        raise _freed_error(node)
                    input_grads = node._run_backward(grads, create_graph)
                    break
        inputs_ = node.inputs
        for i, t in enumerate(inputs_):
            grad = None if input_grads is None else input_grads[i]
            parent = t.grad_fn
            if parent is not None:
                if grad is not None:
                    parent_slots = slots.get(parent)
                    if parent_slots is None:
                        parent_slots = slots[parent] = [None] * parent._n_outputs
                    nr = t._output_nr
                    parent_slots[nr] = _accumulate(parent_slots[nr], grad)
                count = dependencies[parent] - 1
                dependencies[parent] = count
                if count == 0:
                    ready.append(parent)
            elif grad is not None and t.requires_grad:
                leaf_slots[t] = _accumulate(leaf_slots.get(t), grad)
        if not retain_graph:
            node._release()

    # 3. leaves: write (or add to) .grad.
    for leaf, slot in leaf_slots.items():
        if inputs is not None and not any(leaf is i for i in inputs):
            continue
        if create_graph:
            if isinstance(slot, Tensor):
                grad = _own_tensor(slot) if leaf.grad is None else slot
            else:
                array, owned = _resolve(slot)
                grad = Tensor._make(array if owned else array.copy())
            with enable_grad():
                leaf.grad = grad if leaf.grad is None else leaf.grad + grad
            continue
        array, owned = _resolve(slot)
        if array.dtype != leaf.data.dtype:
            array = array.astype(leaf.data.dtype)
            owned = True
        if leaf.grad is None:
            if not owned or array.ndim == 0:  # a copy; a NumPy scalar becomes an array
                array = get_array_module(array).array(array)
            leaf.grad = Tensor._make(array)
        else:
            leaf.grad.data += array
