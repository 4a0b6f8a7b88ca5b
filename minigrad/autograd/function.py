"""``Function``: one node of the autograd graph, forward and backward side by side.

Calling ``MyFn.apply(*args)`` runs ``MyFn.forward(ctx, *args)`` and, when any input
requires grad, records ``ctx`` as the ``grad_fn`` of the outputs.  ``ctx`` *is* the
graph node: it keeps the input tensors (the graph's edges), whatever ``forward``
saved, and later receives the output gradients in ``backward``.

There are two flavours sharing this mechanism:

* ``Function`` -- the public extension point, exactly PyTorch's: ``forward`` gets
  Tensors and returns Tensor(s); ``backward`` gets one Tensor gradient per output and
  returns one gradient per ``forward`` argument (``None`` for non-Tensors).
* ``Op`` -- minigrad's built-in operations.  Identical, except that ``forward`` and
  ``backward`` see the raw NumPy/CuPy arrays, which skips wrapping every
  intermediate in a Tensor (the per-op overhead matters: an RNN records thousands
  of nodes per step).  With ``create_graph=True`` the engine calls the same
  ``backward`` with Tensors instead, so the formulas -- written with operators that
  both arrays and Tensors understand -- build a differentiable graph of their own.
"""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..backend import get_array_module
from .grad_mode import _state, enable_grad, no_grad
from .versions import clock as _clock

_np_scalar = _np.generic
_FREED = {"saved": None, "inputs": None}  # what a node keeps after its backward

_tensor_cls = None  # set by minigrad.tensor (avoids an import cycle)


class Function:
    """Base class for differentiable operations (subclass and define
    ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` as static methods)."""

    # Set by ``apply`` when a graph is recorded:
    #   inputs            the Tensor arguments, in order (the graph's edges)
    #   needs_input_grad  one bool per forward argument
    #   saved             what forward passed to save_for_backward (None once freed)
    #   _stamp            the in-place write clock when the node was recorded (see
    #                     ``versions``): which history each input had then, and whether a
    #                     saved value was overwritten since
    inputs: tuple | None = None
    saved: tuple = ()
    needs_input_grad: tuple = ()
    _graph_mode = False  # True while the engine runs a create_graph backward
    _n_outputs = 1
    _stamp = 0
    # Optional, per saved value: the inputs whose gradient needs it.  A value that no
    # needed gradient uses is not version-checked (``y = x * 2; x.mul_(3)`` is fine, as PyTorch)
    saved_needed_by: tuple | None = None
    _tensor_hooks = None  # {output_nr: {handle_id: hook}} from Tensor.register_hook
    _retained = None      # {output_nr: weakref to the Tensor} from Tensor.retain_grad
    #                       (which also sets _tensor_hooks: the one field the engine checks)

    def save_for_backward(self, *values: Any) -> None:
        """Keep values for ``backward`` (freed after backward unless retain_graph)."""
        self.saved = values

    @property
    def saved_tensors(self) -> tuple:
        if self.saved is None:
            raise RuntimeError(
                f"{type(self).__name__}: the saved values were freed by an earlier "
                "backward(); pass retain_graph=True to backward through it twice"
            )
        return self.saved

    @staticmethod
    def forward(ctx: Function, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Function, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any):
        """Run ``forward`` and record the node if any Tensor input requires grad."""
        Tensor = _tensor_cls
        for a in args:
            if isinstance(a, Tensor) and a._base is not None:
                follow_base(a)
        ctx = cls()
        with no_grad():
            result = cls.forward(ctx, *args)
        outputs = result if isinstance(result, tuple) else (result,)
        for out in outputs:
            if not isinstance(out, Tensor):
                raise TypeError(
                    f"{cls.__name__}.forward must return Tensor(s), got {type(out).__name__}"
                )
        tensor_args = tuple(a for a in args if isinstance(a, Tensor))
        record = _state.enabled and any(t.requires_grad for t in tensor_args)
        wrapped = []
        for index, out in enumerate(outputs):
            if record and out.data.dtype.kind == "f":
                wrapped.append(Tensor._make(out.data, ctx, index))
            else:
                wrapped.append(Tensor._make(out.data))
        if record:
            ctx.inputs = tensor_args
            ctx._stamp = _clock[0]
            ctx.needs_input_grad = tuple(
                isinstance(a, Tensor) and a.requires_grad for a in args
            )

            ctx._arg_is_tensor = tuple(isinstance(a, Tensor) for a in args)
            ctx._n_outputs = len(outputs)
            # to give an output that received no gradient zeros, as PyTorch does
            ctx._output_like = tuple((o.data.shape, o.data.dtype, get_array_module(o.data))
                                     for o in outputs)
        return tuple(wrapped) if isinstance(result, tuple) else wrapped[0]

    # -- called by the engine -------------------------------------------------
    def _run_backward(self, grads: list, create_graph: bool) -> tuple:
        """Gradients for ``self.inputs`` (one per input Tensor) from output grads."""
        Tensor = _tensor_cls
        if any(g is None for g in grads):  # backward gets one gradient per output
            grads = [xp.zeros(shape, dtype) if g is None else g
                     for g, (shape, dtype, xp) in zip(grads, self._output_like)]
        if create_graph:
            grads = [g if g is None or isinstance(g, Tensor) else Tensor._make(g)
                     for g in grads]
            with enable_grad():
                result = self.backward(self, *grads)
        else:
            grads = [None if g is None else Tensor._make(g) for g in grads]
            with no_grad():
                result = self.backward(self, *grads)
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) != len(self._arg_is_tensor):
            raise RuntimeError(
                f"{type(self).__name__}.backward returned {len(result)} gradients, "
                f"expected {len(self._arg_is_tensor)} (one per forward argument)"
            )
        # the gradients of the Tensor arguments, each checked against its input
        positions = [i for i, is_t in enumerate(self._arg_is_tensor) if is_t]
        picked = tuple(self._checked_grad(result[i], t, i)
                       for i, t in zip(positions, self.inputs))
        if create_graph:
            return picked
        return tuple(g.data if isinstance(g, Tensor) else g for g in picked)

    def _checked_grad(self, grad, input_, index: int):
        """A user ``backward``'s gradient for ``input_``, as PyTorch validates it: the
        input's shape, or one that broadcasting made from it (summed back); anything
        else is an error naming the argument ``index``."""
        if grad is None or getattr(grad, "shape", None) == input_.shape:
            return grad
        if not hasattr(grad, "shape"):
            raise TypeError(
                f"Function {type(self).__name__}Backward returned a "
                f"{type(grad).__name__} at index {index}, expected a Tensor or None")
        shape, target = tuple(grad.shape), tuple(input_.shape)
        lead = len(shape) - len(target)
        if lead < 0 or any(n not in (1, m) for n, m in zip(target, shape[lead:])):
            raise RuntimeError(
                f"Function {type(self).__name__}Backward returned an invalid gradient at "
                f"index {index} - got {list(shape)} but expected shape compatible with "
                f"{list(target)}")
        from ..ops.dual import sum_to

        return sum_to(grad, target)

    def _release(self) -> None:
        """Free everything the node holds after a backward without retain_graph: the
        saved values, the edges, and any buffer ``forward`` kept as a plain ``ctx``
        attribute (masks, probabilities, ...)."""
        state = self.__dict__  # (dict operations: this runs once per node per backward)
        n_outputs = state.get("_n_outputs")  # set by apply only for several outputs
        retained = state.get("_retained")  # (weak references: kept for ``retains_grad``)
        state.clear()
        state.update(_FREED)  # saved = None marks the node as freed (engine._freed_error)
        if retained is not None:
            state["_retained"] = retained
        if n_outputs is not None:  # a freed node's outputs are still addressed by index
            state["_n_outputs"] = n_outputs

    def __repr__(self) -> str:
        return f"<{type(self).__name__}Backward>"


class Op(Function):
    """Base of the built-in ops: ``forward``/``backward`` work on raw arrays.

    ``forward(ctx, *arrays, **params)`` returns an array or a tuple of arrays; Tensor
    inputs are positional, non-differentiable parameters are keywords.  Only inputs or
    the output may go to ``save_for_backward`` (they become Tensors under
    ``create_graph``); constants such as masks are stored as plain ``ctx`` attributes.
    """

    differentiable_outputs = None  # e.g. (0,) when later outputs are indices
    # True for ops whose output may be a NumPy view of their first input (reshape,
    # transpose, indexing, ...): such an output remembers its base (see _share_storage)
    is_view = False

    @classmethod
    def apply(cls, *inputs, **params):
        Tensor = _tensor_cls
        ctx = cls()
        result = cls.forward(ctx, *[t.data for t in inputs], **params)
        if isinstance(result, _np_scalar):  # NumPy gives scalars for 0-d results
            result = _np.asarray(result)
        record = _state.enabled
        if record:  # (a view whose base was rewritten in place first takes its new history)
            needs = tuple([t.requires_grad if t._base is None else _followed(t)
                           for t in inputs])
            record = True in needs
        if type(result) is not tuple:
            if not record:
                out = Tensor._make(result)
            else:
                ctx.inputs = inputs
                ctx._stamp = _clock[0]
                ctx.needs_input_grad = needs
                out = Tensor._make(result, ctx, 0)
            if cls.is_view:
                _share_storage(inputs[0], (out,), params)
            return out
        if not record:
            outs = tuple([Tensor._make(r) for r in result])
        else:
            ctx.inputs = inputs
            ctx._stamp = _clock[0]
            ctx.needs_input_grad = needs
            ctx._n_outputs = len(result)
            keep = cls.differentiable_outputs
            outs = tuple([
                Tensor._make(r, ctx, i) if keep is None or i in keep else Tensor._make(r)
                for i, r in enumerate(result)
            ])

        if cls.is_view:
            _share_storage(inputs[0], outs, params)
        return outs

    @property
    def saved_tensors(self) -> tuple:
        saved = Function.saved_tensors.fget(self)
        if not self._graph_mode:
            return saved
        # create_graph: give back Tensors that are part of the graph, so the backward
        # formula itself becomes differentiable.  A saved array is an input's data
        # (-> that input Tensor) or this node's output (-> a Tensor with grad_fn=self).
        # Inputs are matched by identity, each used once where possible, so that in
        # ``x * x.detach()`` (two inputs, one array) the detached one stays a constant.
        Tensor = _tensor_cls
        tensors = []
        used = set()
        for array in saved:
            matches = [i for i, t in enumerate(self.inputs) if t.data is array]
            if matches:
                i = next((i for i in matches if i not in used), matches[0])
                used.add(i)
                tensors.append(self.inputs[i])
            else:
                tensors.append(Tensor._make(array, self, 0))
        return tuple(tensors)

    def _run_backward(self, grads: list, create_graph: bool) -> tuple:
        n = self._n_outputs
        if create_graph:
            Tensor = _tensor_cls
            grads = [g if g is None or isinstance(g, Tensor) else Tensor._make(g)
                     for g in grads]
            self._graph_mode = True
            try:
                with enable_grad():
                    result = self.backward(self, *grads) if n > 1 else self.backward(
                        self, grads[0])
            finally:
                self._graph_mode = False
        else:
            result = self.backward(self, *grads) if n > 1 else self.backward(self, grads[0])
        if type(result) is not tuple:
            result = (result,)
        return result


# --- graph bookkeeping shared by Function.apply and Op.apply ---------------------------


def _share_storage(source, outputs, params) -> None:
    """Outputs that NumPy made as views of ``source``'s array remember their base Tensor:
    ``(base, index, clock)``, with the index when the view is a direct ``base[index]``
    (which lets an in-place write on the view be recorded on the base, and the view
    follow the base's new history, see ``follow_base``) and the write clock then."""
    data = source.data
    for out in outputs:
        owner = getattr(out.data, "base", None)
        if owner is None or not (owner is data or owner is getattr(data, "base", None)):
            continue  # a copy (e.g. reshape of a non-contiguous array, fancy indexing)
        if source._base is not None:
            out._base = (source._base[0], None, _clock[0])
        else:
            out._base = (source, params.get("index") if len(outputs) == 1 else None,
                         _clock[0])


def _followed(view) -> bool:
    """``follow_base(view)``, then whether ``view`` requires grad."""
    follow_base(view)
    return view.requires_grad


def follow_base(view) -> None:
    """If ``view``'s base got a new history in place since ``view`` was taken (its
    values changed under it), make ``view``'s history ``base[index]`` again, as PyTorch
    regenerates a view's grad_fn; its old history stays for the nodes that used it."""
    base, index, seen = view._base
    history = base._history
    if history is None or history[-1][0] <= seen or not _state.enabled:
        return
    rewritten = history[-1][0]
    view._base = (base, index, rewritten)
    if index is None:
        raise RuntimeError(
            "a view made by reshape/transpose/split (or a view of a view) was used after "
            "its base was modified by an in-place operation in the graph; take the view "
            "again after the write (minigrad can re-derive only views made by indexing)")
    from ..ops.shape import GetItem  # (ops import this module)

    current = _tensor_cls._make(base.data, base.grad_fn, base._output_nr)
    fresh = GetItem.apply(current, index=index)
    if view._history is None:
        view._history = []
    view._history.append((rewritten, view.grad_fn, view._output_nr))
    view.grad_fn, view._output_nr = fresh.grad_fn, fresh._output_nr
    view.requires_grad = fresh.requires_grad



class OuterGrad:
    """A weight gradient left unevaluated: ``lhs.T @ rhs`` with 2-D ``lhs`` and ``rhs``.

    Matmul-like ops return this for their right-hand operand instead of computing the
    GEMM.  When the same weight is used at every timestep, the engine collects the T
    terms and evaluates them as ONE GEMM over the concatenated rows
    (``concat(lhs).T @ concat(rhs)``) -- the batched weight gradient of BPTT, found by
    the graph rather than hand-written.

    ``block``: ``(lhs_rows, rhs_rows, k)`` when ``lhs`` is ``lhs_rows[k]`` and ``rhs`` is
    ``rhs_rows[k]`` of two arrays that the terms share (the recurrent step nodes keep
    their states and pre-activation gradients in such arrays, ``ops.cells.StepSlab``):
    terms with consecutive ``k`` are then rows of one array already, and the engine
    multiplies the blocks without concatenating.
    """

    __slots__ = ("lhs", "rhs", "shape", "block")

    def __init__(self, lhs, rhs, shape=None, block=None):
        self.lhs = lhs
        self.rhs = rhs
        self.shape = shape  # reshape the product to this (None: leave (K, N))
        self.block = block


class OneHotGrad:
    """A gradient left sparse: zero except ``dense[n, index[n]] = values[n]`` for the
    ``(N, C)`` array it stands for -- what ``nll_loss`` sends back to its log-probabilities.

    ``nll_loss`` returns it only when its input came straight from ``log_softmax``
    (whose backward then costs one pass, ``softmax * -values`` plus the targets, instead
    of building a dense ``(N, C)`` array mostly of zeros and reading it twice).  The
    engine turns it into the dense array wherever anything else would see it: a second
    gradient for the same tensor, a hook, ``retain_grad``, ``inputs=``.
    """

    __slots__ = ("shape", "dtype", "index", "values")

    def __init__(self, shape: tuple, dtype, index, values):
        self.shape, self.dtype, self.index, self.values = shape, dtype, index, values

    def dense(self):
        """The ``(N, C)`` array (from the backend's pool)."""
        from ..backend import empty

        xp = get_array_module(self.values)
        out = empty(self.shape, self.dtype, xp)
        out.fill(0)
        out[xp.arange(self.shape[0]), self.index] = self.values  # one entry per row
        return out
