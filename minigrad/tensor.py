"""``Tensor``: an n-dimensional array (NumPy or CuPy) plus the autograd bookkeeping.

A Tensor holds its array in ``.data``.  When it is the output of an operation on
tensors that require grad, ``.grad_fn`` is the graph node (an ``autograd.Function``
instance) that made it and ``._output_nr`` says which of that node's outputs it is.
Leaves (tensors you create) have ``grad_fn = None``; ``backward()`` writes their
gradient into ``.grad``.

Operators and methods here only check and convert their arguments; the math of
each operation, forward and backward, lives in ``minigrad/ops``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, TypeAlias

import numpy as np

from . import backend, dtypes, return_types
from .autograd import engine, function, inplace, versions
from .autograd.hooks import LeafHooks, RemovableHandle, add_hook
from .ops import elementwise as E
from .ops import linalg as L
from .ops import reduce as R
from .ops import shape as S

# Type aliases for the signatures below (module level: inside ``Tensor`` the names
# ``float`` would be read as its method by type checkers).
Scalar: TypeAlias = bool | int | float  # a Python number
Operand: TypeAlias = "Tensor | np.ndarray | Scalar"  # what the arithmetic operators take
Dims: TypeAlias = int | tuple[int, ...] | list[int] | None  # a reduction's dim (None: all)
DTypeLike: TypeAlias = np.dtype | type | str | None  # mg.float32, np.float32, "float32"
DeviceLike: TypeAlias = str | None  # "cpu", "cuda", "cuda:0"


class MaxResult(NamedTuple):
    """``(values, indices)`` from ``max(dim)``/``min(dim)``, as in PyTorch."""

    values: Tensor
    indices: Tensor


class Tensor:
    """An n-dimensional array (``.data``: NumPy or CuPy) that records the operations
    made on it when ``requires_grad``, for ``backward()``.  Make one with ``mg.tensor``
    or a factory (``mg.zeros``, ``mg.randn``, ...)."""

    # _base: (base Tensor, index or None) for a view; _hooks: a leaf's LeafHooks;
    # _history: earlier (write clock, grad_fn, output_nr) after in-place ops gave it a new one
    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_output_nr", "_base", "_hooks",
                 "_history", "__weakref__")
    __array_priority__ = 1000  # numpy_array + tensor -> Tensor.__radd__
    __hash__ = object.__hash__  # identity hash; __eq__ is elementwise

    def __init__(self, data: Any, dtype: DTypeLike = None, device: DeviceLike = None,
                 requires_grad: bool = False) -> None:
        """Same as ``mg.tensor(data, ...)``: a new leaf holding a copy of ``data``."""
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self.data, self.grad, self.grad_fn, self._output_nr = t.data, None, None, 0
        self._base = self._hooks = self._history = None
        self.requires_grad = t.requires_grad

    @classmethod
    def _make(cls, data, grad_fn=None, output_nr: int = 0) -> Tensor:
        """Wrap an array without copying or checking (the ops' fast path)."""
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.grad_fn = grad_fn
        t.requires_grad = grad_fn is not None
        t._output_nr = output_nr
        t._base = t._hooks = t._history = None
        return t

    # -- attributes -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each dim, e.g. ``(batch, features)``."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of dims (0 for a scalar tensor)."""
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        """The element type (a NumPy dtype: ``mg.float32`` is ``np.dtype('float32')``)."""
        return self.data.dtype

    @property
    def device(self) -> str:
        """``'cpu'`` or ``'cuda'``."""
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        """True unless the tensor is the output of a recorded op (``grad_fn`` is None)."""
        return self.grad_fn is None

    def size(self, dim: int | None = None) -> tuple[int, ...] | int:
        """The shape, or the size of one dim."""
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        """The number of dims (``ndim``)."""
        return self.data.ndim

    def numel(self) -> int:
        """The number of elements (the product of the shape)."""
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # -- conversion -----------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied from the GPU if needed)."""
        return backend.to_numpy(self.data)

    def item(self) -> Scalar:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(
                f"item: only one-element tensors can be converted to a Python scalar, "
                f"got shape {tuple(self.shape)}"
            )
        return self.data.item()

    def tolist(self) -> list | Scalar:
        """The data as nested Python lists (a number for a 0-d tensor)."""
        return backend.to_numpy(self.data).tolist()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __array__(self, dtype: DTypeLike = None, copy: bool | None = None) -> np.ndarray:
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def to(self, *args: DTypeLike | DeviceLike | Tensor, dtype: DTypeLike = None,
           device: DeviceLike = None, non_blocking: bool = False,
           copy: bool = False) -> Tensor:
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(other)`` (other's
        device and dtype); differentiable.  Returns ``self`` when nothing changes, unless
        ``copy``.  ``non_blocking`` is accepted (copies here are synchronous)."""
        for arg in args:  # a dtype is a numpy dtype or scalar type; anything else a device
            if isinstance(arg, Tensor):
                dtype, device = arg.dtype, arg.device
            elif isinstance(arg, (np.dtype, type)):
                dtype = arg
            else:
                device = arg
        out = self
        if device is not None:
            device = backend.normalize_device(device)
            if device != out.device:
                out = ToDevice.apply(out, device=device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype != out.dtype:
                if dtype.kind == "f":
                    out = E.Cast.apply(out, dtype=dtype)
                else:  # an integer or bool result cannot require grad: no graph
                    out = Tensor._make(out.data.astype(dtype))
        if copy and out is self:
            out = E.Cast.apply(self, dtype=self.dtype) if self.dtype.kind == "f" else (
                Tensor._make(self.data.copy()))
        return out

    def cpu(self) -> Tensor:
        """``to('cpu')``."""
        return self.to("cpu")

    def cuda(self) -> Tensor:
        """``to('cuda')``."""
        return self.to("cuda")

    def float(self) -> Tensor:
        """``to(mg.float32)``."""
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        """``to(mg.float64)``."""
        return self.to(dtypes.float64)

    def long(self) -> Tensor:
        """``to(mg.int64)`` (leaves the graph: integers have no gradient)."""
        return self.to(dtypes.int64)

    def type_as(self, other: Tensor) -> Tensor:
        """``to(other.dtype)``."""
        return self.to(other.dtype)

    # -- autograd -------------------------------------------------------------
    def backward(self, gradient: Tensor | np.ndarray | None = None,
                 retain_graph: bool | None = None,
                 create_graph: bool = False,
                 inputs: Tensor | list[Tensor] | tuple[Tensor, ...] | None = None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` (same shape as self) is required unless self has one element.
        ``retain_graph`` (default: ``create_graph``) keeps saved buffers for another
        backward; ``create_graph`` records the backward itself for higher derivatives.
        ``inputs`` (Tensors, leaves or not): accumulate into their ``.grad`` only.
        """
        if inputs is not None:
            inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
            if not inputs:
                raise RuntimeError("backward: inputs= must be a non-empty sequence of Tensors")
            for i, t in enumerate(inputs):
                if not isinstance(t, Tensor) or not t.requires_grad:
                    raise RuntimeError(f"backward: inputs[{i}] must be a Tensor that requires "
                                       "grad")
        if self._base is not None:
            function.follow_base(self)
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn "
                "(create leaves with requires_grad=True, and don't call backward on a "
                "result computed under no_grad)"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for a scalar output, "
                    f"got a tensor of shape {tuple(self.shape)}; pass gradient= of that shape"
                )
            grad = backend.get_array_module(self.data).ones_like(self.data)
        else:
            if isinstance(gradient, Tensor):
                grad_data = gradient.data
            elif type(gradient) is type(self.data):
                grad_data = gradient
            else:
                grad_data = backend.get_array_module(self.data).asarray(gradient)
            if grad_data.shape != self.data.shape:
                raise RuntimeError(
                    f"backward: gradient has shape {tuple(grad_data.shape)}, expected the "
                    f"output's shape {tuple(self.shape)}"
                )
            # (the type and dtype tests first: this runs on every backward call)
            if type(grad_data) is not type(self.data) and (
                    backend.device_of(grad_data) != self.device):
                raise RuntimeError(
                    f"backward: gradient is on {backend.device_of(grad_data)}, "
                    f"expected {self.device}"
                )
            dtype = self.data.dtype
            grad = grad_data if grad_data.dtype is dtype or grad_data.dtype == dtype else (
                grad_data.astype(dtype))
            if create_graph and isinstance(gradient, Tensor):
                grad = gradient
        if retain_graph is None:
            retain_graph = create_graph
        if create_graph and not isinstance(grad, Tensor):
            grad = Tensor._make(grad)
        engine.backward([self], [grad], retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """A tensor sharing the data, cut from the graph."""
        return Tensor._make(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Make a leaf (float) tensor record operations on it, in place; returns self."""
        if requires_grad and self.data.dtype.kind != "f":
            raise RuntimeError(
                f"requires_grad_: only floating point tensors can require gradients, "
                f"got dtype {self.dtype}"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False): only leaf tensors can change it; "
                               "use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's storage has had (shared with views)."""
        return versions.version(self.data)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed during backward; a
        returned Tensor replaces the gradient.  Returns a handle with ``.remove()``."""
        if not self.requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that "
                               "doesn't require gradient")
        if self.grad_fn is None:
            return add_hook(self._leaf_hooks().pre, hook)
        node = self.grad_fn
        if node._tensor_hooks is None:
            node._tensor_hooks = {}
        return add_hook(node._tensor_hooks.setdefault(self._output_nr, {}), hook)

    def register_post_accumulate_grad_hook(
            self, hook: Callable[[Tensor], None]) -> RemovableHandle:
        """Call ``hook(self)`` once this leaf's ``.grad`` is final in a backward (all its
        contributions added).  Returns a handle with ``.remove()``."""
        if not self.requires_grad or self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad "
                               "hooks can only be registered on leaf tensors that require "
                               "grad")
        return add_hook(self._leaf_hooks().post, hook)

    def _leaf_hooks(self) -> LeafHooks:
        if self._hooks is None:
            self._hooks = LeafHooks()
        return self._hooks

    def retain_grad(self) -> None:
        """Give this non-leaf tensor a ``.grad`` in later backward passes (leaves have
        one anyway)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: can't retain_grad on a tensor that has "
                               "requires_grad=False")
        if self.grad_fn is None:
            return
        node = self.grad_fn
        if node._tensor_hooks is None:  # (the engine looks only at _tensor_hooks)
            node._tensor_hooks = {}
        if node._retained is None:
            node._retained = {}
        node._retained[self._output_nr] = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        """True for a non-leaf tensor after ``retain_grad()``."""
        node = self.grad_fn
        if node is None or not node._retained:
            return False
        ref = node._retained.get(self._output_nr)
        return ref is not None and ref() is self

    # -- in-place ops (version counted; see autograd/inplace.py) ----------------
    def add_(self, other: Operand, *, alpha: Scalar = 1) -> Tensor:
        """``self += alpha * other`` in place."""
        return inplace.apply(self, "add_", lambda t: t + (other if alpha == 1 else
                                                           other * alpha), (other,))

    def sub_(self, other: Operand, *, alpha: Scalar = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return inplace.apply(self, "sub_", lambda t: t - (other if alpha == 1 else
                                                           other * alpha), (other,))

    def mul_(self, other: Operand) -> Tensor:
        """``self *= other`` in place."""
        return inplace.apply(self, "mul_", lambda t: t * other, (other,))

    def div_(self, other: Operand, *, rounding_mode: str | None = None) -> Tensor:
        """``self /= other`` in place (``rounding_mode`` as ``div``)."""
        if rounding_mode is None:
            return inplace.apply(self, "div_", lambda t: t / other, (other,))
        return inplace.apply(self, "div_", lambda t: t.div(other, rounding_mode=rounding_mode),
                             (other,))

    def pow_(self, exponent: Operand) -> Tensor:
        """``self **= exponent`` in place."""
        return inplace.apply(self, "pow_", lambda t: t ** exponent, (exponent,))

    def clamp_(self, min: Scalar | None = None,  # noqa: A002
               max: Scalar | None = None) -> Tensor:  # noqa: A002
        """``clamp`` in place."""
        return inplace.apply(self, "clamp_", lambda t: t.clamp(min, max))

    clip_ = clamp_

    def exp_(self) -> Tensor:
        """``exp`` in place."""
        return inplace.apply(self, "exp_", lambda t: t.exp())

    def tanh_(self) -> Tensor:
        """``tanh`` in place."""
        return inplace.apply(self, "tanh_", lambda t: t.tanh())

    def sigmoid_(self) -> Tensor:
        """``sigmoid`` in place."""
        return inplace.apply(self, "sigmoid_", lambda t: t.sigmoid())

    def relu_(self) -> Tensor:
        """``relu`` in place."""
        return inplace.apply(self, "relu_", lambda t: t.relu())

    def neg_(self) -> Tensor:
        """``-self`` in place."""
        return inplace.apply(self, "neg_", lambda t: -t)

    def masked_fill_(self, mask: Tensor, value: Scalar | Tensor) -> Tensor:
        """Write ``value`` where the bool ``mask`` (broadcast to self's shape) is True."""
        _check_mask(mask, self, "masked_fill_")
        return inplace.apply(self, "masked_fill_", lambda t: t.masked_fill(mask, value),
                             (value,))

    def fill_(self, value: Scalar | Tensor) -> Tensor:
        """Set every element to ``value`` (a number or a one-element tensor)."""
        if isinstance(value, Tensor) and value.ndim != 0:
            raise RuntimeError(f"fill_: only supports 0-dimension value tensor but got tensor "
                               f"with {value.ndim} dimensions")
        everywhere = backend.get_array_module(self.data).ones(self.shape, dtype=bool)
        return inplace.apply(self, "fill_", lambda t: _where(everywhere, value, t),
                             (value,))

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        if not inplace._needs_graph(self, ()):
            inplace.check_writable(self, "zero_")
            if isinstance(self.data, np.generic):  # NumPy gives 0-d results as immutable
                self.data = np.zeros_like(self.data)  # scalars: nothing can alias them
            else:
                self.data.fill(0)
            inplace.bump(self)
            return self
        return self.fill_(0)

    def copy_(self, src: Tensor | np.ndarray | Scalar, non_blocking: bool = False) -> Tensor:
        """Copy ``src`` (broadcast to self's shape, cast to self's dtype and device) into
        self; differentiable with respect to ``src``."""
        if not isinstance(src, Tensor):
            src = _as_tensor(backend.get_array_module(self.data).asarray(src), self)
        if not _broadcastable(self.shape, src.shape) or src.ndim > self.ndim:
            raise RuntimeError(f"copy_: the source of shape {tuple(src.shape)} can't be "
                               f"broadcast to the tensor's shape {tuple(self.shape)}")
        src = src.to(self.device, self.dtype)  # copy_ casts any dtype, as PyTorch's
        nothing = backend.get_array_module(self.data).zeros(self.shape, dtype=bool)
        return inplace.apply(self, "copy_", lambda t: _where(nothing, t, src), (src,))

    def index_add_(self, dim: int, index: Tensor, source: Tensor, *,
                   alpha: Scalar = 1) -> Tensor:
        """``self[..., index[i], ...] += alpha * source[..., i, ...]`` along ``dim``
        (repeated indices add up)."""
        where = _index_add_position(self, dim, index, source)
        scaled = source if alpha == 1 else source * alpha
        return inplace.apply(
            self, "index_add_",
            lambda t: t + S.IndexAdd.apply(scaled.to(t.dtype), shape=t.shape, index=where),
            (source,))

    def __iadd__(self, other: Operand) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Operand) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Operand) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Operand) -> Tensor:
        return self.div_(other)

    # -- printing -------------------------------------------------------------
    def __repr__(self) -> str:
        array = backend.to_numpy(self.data)
        body = np.array2string(array, separator=", ", prefix="tensor(")
        extras = []
        if array.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
            extras.append(f"dtype={array.dtype}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extras.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    # -- arithmetic -----------------------------------------------------------
    def __add__(self, other: Operand) -> Tensor:
        return _binary(E.Add, self, other, "add")

    def __radd__(self, other: Operand) -> Tensor:
        return _binary(E.Add, self, other, "add", reverse=True)

    def __sub__(self, other: Operand) -> Tensor:
        return _binary(E.Sub, self, other, "sub")

    def __rsub__(self, other: Operand) -> Tensor:
        return _binary(E.Sub, self, other, "sub", reverse=True)

    def __mul__(self, other: Operand) -> Tensor:
        return _binary(E.Mul, self, other, "mul")

    def __rmul__(self, other: Operand) -> Tensor:
        return _binary(E.Mul, self, other, "mul", reverse=True)

    def __truediv__(self, other: Operand) -> Tensor:
        if self.data.dtype.kind != "f" and not _is_float_operand(other):
            return self.to(dtypes.get_default_dtype()) / other
        return _binary(E.Div, self, other, "div")

    def __rtruediv__(self, other: Operand) -> Tensor:
        if self.data.dtype.kind != "f":
            return other / self.to(dtypes.get_default_dtype())
        return _binary(E.Div, self, other, "div", reverse=True)

    def __pow__(self, exponent: Operand) -> Tensor:
        if isinstance(exponent, (int, float)) and not isinstance(exponent, bool):
            out_dtype = dtypes.scalar_result_type(self.dtype, exponent)
            base = self if out_dtype == self.dtype else self.to(out_dtype)
            return E.PowScalar.apply(base, exponent=exponent)
        return _binary(E.Pow, self, exponent, "pow")

    def __rpow__(self, base: Operand) -> Tensor:
        if isinstance(base, (int, float)) and not isinstance(base, bool):
            out_dtype = dtypes.scalar_result_type(self.dtype, base)  # 2 ** int64 is int64
            exponent = self if out_dtype == self.dtype else self.to(out_dtype)
            return E.RPowScalar.apply(exponent, base=base)
        return _binary(E.Pow, self, base, "pow", reverse=True)

    def __matmul__(self, other: Tensor | np.ndarray) -> Tensor:
        return matmul(self, other)

    def __rmatmul__(self, other: Tensor | np.ndarray) -> Tensor:
        return matmul(_as_tensor(other, self), self)

    def __neg__(self) -> Tensor:
        return E.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def pow(self, exponent: Operand) -> Tensor:
        """``self ** exponent`` (elementwise, broadcasting)."""
        return self ** exponent

    # comparisons give bool tensors and never record a graph
    def __lt__(self, other: Operand) -> Tensor:
        return _compare(self, other, "lt")

    def __le__(self, other: Operand) -> Tensor:
        return _compare(self, other, "le")

    def __gt__(self, other: Operand) -> Tensor:
        return _compare(self, other, "gt")

    def __ge__(self, other: Operand) -> Tensor:
        return _compare(self, other, "ge")

    def __eq__(self, other: Operand) -> Tensor:  # type: ignore[override]
        return _compare(self, other, "eq")

    def __ne__(self, other: Operand) -> Tensor:  # type: ignore[override]
        return _compare(self, other, "ne")

    def __invert__(self) -> Tensor:
        if self.dtype.kind != "b":
            raise TypeError(f"~ expects a bool tensor, got {self.dtype}")
        return Tensor._make(~self.data)

    def __and__(self, other: Tensor | np.ndarray | bool) -> Tensor:
        return Tensor._make(self.data & _data(other))

    def __or__(self, other: Tensor | np.ndarray | bool) -> Tensor:
        return Tensor._make(self.data | _data(other))

    # -- math -----------------------------------------------------------------
    def exp(self) -> Tensor:
        """e ** x, elementwise."""
        return E.Exp.apply(_floating(self, "exp"))

    def log(self) -> Tensor:
        """The natural log, elementwise."""
        return E.Log.apply(_floating(self, "log"))

    def sqrt(self) -> Tensor:
        """The square root, elementwise."""
        return E.Sqrt.apply(_floating(self, "sqrt"))

    def abs(self) -> Tensor:
        """The absolute value, elementwise (gradient 0 at 0)."""
        return E.Abs.apply(self)

    def tanh(self) -> Tensor:
        """The hyperbolic tangent, elementwise."""
        return E.Tanh.apply(_floating(self, "tanh"))

    def sigmoid(self) -> Tensor:
        """``1 / (1 + e^-x)``, elementwise (computed without overflow)."""
        return E.Sigmoid.apply(_floating(self, "sigmoid"))

    def relu(self) -> Tensor:
        """``max(x, 0)``, elementwise (gradient 0 at 0)."""
        return E.Relu.apply(self)

    def clamp(self, min: Scalar | Tensor | None = None,  # noqa: A002  (PyTorch's names)
              max: Scalar | Tensor | None = None) -> Tensor:  # noqa: A002
        """Limit every element to ``[min, max]`` (either bound optional, numbers or
        broadcasting Tensors); the gradient is 0 where an element was clipped (and goes
        to a Tensor bound there)."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = _where(out < min, min, out)
            if max is not None:
                out = _where(out > max, max, out)
            return out
        return E.Clamp.apply(self, min=min, max=max)

    clip = clamp

    def softmax(self, dim: int) -> Tensor:
        """``exp(x) / sum(exp(x))`` along ``dim``: each slice sums to 1."""
        from .nn import functional as F

        return F.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        """``log(softmax(x))`` along ``dim``, computed stably."""
        from .nn import functional as F

        return F.log_softmax(self, dim)

    # -- more methods: thin bindings to ``minigrad.functions`` --------------------------
    # (each checks nothing itself: ``x.gather(1, i)`` is ``mg.gather(x, 1, i)``)
    def clone(self) -> Tensor:
        """A copy with its own memory (differentiable)."""
        return _functions().clone(self)

    def new_tensor(self, data: Any, dtype: DTypeLike = None, device: DeviceLike = None,
                   requires_grad: bool = False) -> Tensor:
        """``mg.tensor(data)`` with self's dtype and device unless given."""
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device,
                      requires_grad=requires_grad)

    def new_zeros(self, *size: int | tuple[int, ...], dtype: DTypeLike = None,
                  device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        """Zeros of shape ``size`` with self's dtype and device unless given."""
        return self.new_full(_shape_args(size), 0, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_ones(self, *size: int | tuple[int, ...], dtype: DTypeLike = None,
                 device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        """Ones of shape ``size`` with self's dtype and device unless given."""
        return self.new_full(_shape_args(size), 1, dtype=dtype, device=device,
                             requires_grad=requires_grad)

    def new_empty(self, *size: int | tuple[int, ...], dtype: DTypeLike = None,
                  device: DeviceLike = None, requires_grad: bool = False) -> Tensor:
        """An uninitialized tensor of shape ``size`` with self's dtype and device unless
        given."""
        from .creation import empty

        return empty(_shape_args(size), dtype=dtype or self.dtype, device=device or self.device,
                     requires_grad=requires_grad)

    def new_full(self, size: int | tuple[int, ...], fill_value: Scalar,
                 dtype: DTypeLike = None, device: DeviceLike = None,
                 requires_grad: bool = False) -> Tensor:
        """``fill_value`` in shape ``size`` with self's dtype and device unless given."""
        from .creation import full

        return full(size, fill_value, dtype=dtype or self.dtype, device=device or self.device,
                    requires_grad=requires_grad)

    def view_as(self, other: Tensor) -> Tensor:
        """``view(other.shape)``."""
        return self.view(other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        """``reshape(other.shape)``."""
        return self.reshape(other.shape)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """The slice ``start : start + length`` along ``dim``."""
        return _functions().narrow(self, dim, start, length)

    def add(self, other: Operand, *, alpha: Scalar = 1) -> Tensor:
        """``self + alpha * other``."""
        return _functions().add(self, other, alpha=alpha)

    def sub(self, other: Operand, *, alpha: Scalar = 1) -> Tensor:
        """``self - alpha * other``."""
        return _functions().sub(self, other, alpha=alpha)

    def mul(self, other: Operand) -> Tensor:
        """``self * other``."""
        return _functions().mul(self, other)

    def div(self, other: Operand, *, rounding_mode: str | None = None) -> Tensor:
        """``self / other`` (``rounding_mode``: None, ``'trunc'`` or ``'floor'``)."""
        return _functions().div(self, other, rounding_mode=rounding_mode)

    def floor_divide(self, other: Operand) -> Tensor:
        """``div(other, rounding_mode='floor')``."""
        return _functions().floor_divide(self, other)

    def eq(self, other: Operand) -> Tensor:
        """``self == other`` elementwise (bool)."""
        return _functions().eq(self, other)

    def ne(self, other: Operand) -> Tensor:
        """``self != other`` elementwise (bool)."""
        return _functions().ne(self, other)

    def lt(self, other: Operand) -> Tensor:
        """``self < other`` elementwise (bool)."""
        return _functions().lt(self, other)

    def le(self, other: Operand) -> Tensor:
        """``self <= other`` elementwise (bool)."""
        return _functions().le(self, other)

    def gt(self, other: Operand) -> Tensor:
        """``self > other`` elementwise (bool)."""
        return _functions().gt(self, other)

    def ge(self, other: Operand) -> Tensor:
        """``self >= other`` elementwise (bool)."""
        return _functions().ge(self, other)

    def equal(self, other: Tensor) -> Scalar:
        """True if ``other`` has the same shape and elements."""
        return _functions().equal(self, other)

    def maximum(self, other: Tensor) -> Tensor:
        """The elementwise larger of self and ``other``."""
        return _functions().maximum(self, other)

    def minimum(self, other: Tensor) -> Tensor:
        """The elementwise smaller of self and ``other``."""
        return _functions().minimum(self, other)

    def sin(self) -> Tensor:
        """Elementwise sine."""
        return _functions().sin(self)

    def cos(self) -> Tensor:
        """Elementwise cosine."""
        return _functions().cos(self)

    def log1p(self) -> Tensor:
        """Elementwise ``log(1 + x)``."""
        return _functions().log1p(self)

    def expm1(self) -> Tensor:
        """Elementwise ``exp(x) - 1``."""
        return _functions().expm1(self)

    def erf(self) -> Tensor:
        """Elementwise error function."""
        return _functions().erf(self)

    def norm(self, p: Scalar | str | None = "fro", dim: Dims = None, keepdim: bool = False,
             dtype: DTypeLike = None) -> Tensor:
        """The vector ``p``-norm over ``dim`` (``mg.norm``)."""
        return _functions().norm(self, p, dim, keepdim, dtype)

    def cumsum(self, dim: int, *, dtype: DTypeLike = None) -> Tensor:
        """Running sums along ``dim``."""
        return _functions().cumsum(self, dim, dtype=dtype)

    def cumprod(self, dim: int, *, dtype: DTypeLike = None) -> Tensor:
        """Running products along ``dim``."""
        return _functions().cumprod(self, dim, dtype=dtype)

    def any(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Whether any element (over ``dim``) is nonzero (bool)."""
        return _functions().any(self, dim, keepdim)

    def all(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Whether every element (over ``dim``) is nonzero (bool)."""
        return _functions().all(self, dim, keepdim)

    def isnan(self) -> Tensor:
        """True where NaN (bool)."""
        return _functions().isnan(self)

    def isinf(self) -> Tensor:
        """True where +-inf (bool)."""
        return _functions().isinf(self)

    def isfinite(self) -> Tensor:
        """True where neither NaN nor infinite (bool)."""
        return _functions().isfinite(self)

    def nan_to_num(self, nan: Scalar = 0.0, posinf: Scalar | None = None,
                   neginf: Scalar | None = None) -> Tensor:
        """NaN and infinities replaced by finite numbers."""
        return _functions().nan_to_num(self, nan, posinf, neginf)

    def allclose(self, other: Tensor, rtol: Scalar = 1e-05, atol: Scalar = 1e-08,
                 equal_nan: bool = False) -> Scalar:
        """True if all elements are close to ``other``'s (``mg.allclose``)."""
        return _functions().allclose(self, other, rtol, atol, equal_nan)

    def isclose(self, other: Tensor, rtol: Scalar = 1e-05, atol: Scalar = 1e-08,
                equal_nan: bool = False) -> Tensor:
        """Elementwise closeness to ``other`` (bool)."""
        return _functions().isclose(self, other, rtol, atol, equal_nan)

    def sort(self, dim: int = -1, descending: bool = False, *,
             stable: bool = False) -> return_types.sort:
        """``(values, indices)`` sorted along ``dim``."""
        return _functions().sort(self, dim, descending, stable=stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """The indices that sort along ``dim``."""
        return _functions().argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True,
             sorted: bool = True) -> return_types.topk:  # noqa: A002
        """``(values, indices)`` of the ``k`` largest (or smallest) along ``dim``."""
        return _functions().topk(self, k, dim, largest, sorted)

    def multinomial(self, num_samples: int, replacement: bool = False, *,
                    generator: Any = None) -> Tensor:
        """int64 samples from the rows of self (non-negative weights)."""
        return _functions().multinomial(self, num_samples, replacement, generator=generator)

    def gather(self, dim: int, index: Tensor) -> Tensor:
        """Values along ``dim`` at ``index`` (``mg.gather``)."""
        return _functions().gather(self, dim, index)

    def scatter(self, dim: int, index: Tensor, src: Any = None, *, value: Any = None) -> Tensor:
        """A copy with ``src`` (or ``value``) written at ``index`` along ``dim``."""
        return _functions().scatter(self, dim, index, src, value=value)

    def scatter_add(self, dim: int, index: Tensor, src: Tensor) -> Tensor:
        """A copy with ``src`` added at ``index`` along ``dim``."""
        return _functions().scatter_add(self, dim, index, src)

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        """The slices at ``index`` (1-D) along ``dim``."""
        return _functions().index_select(self, dim, index)

    def masked_select(self, mask: Tensor) -> Tensor:
        """1-D: the elements where the bool ``mask`` is True."""
        return _functions().masked_select(self, mask)

    def masked_fill(self, mask: Tensor, value: Scalar | Tensor) -> Tensor:
        """A copy with ``value`` where the bool ``mask`` is True."""
        return _functions().masked_fill(self, mask, value)

    def tril(self, diagonal: int = 0) -> Tensor:
        """The lower triangle (of the last two dims)."""
        return _functions().tril(self, diagonal)

    def triu(self, diagonal: int = 0) -> Tensor:
        """The upper triangle (of the last two dims)."""
        return _functions().triu(self, diagonal)

    def flip(self, *dims: int | tuple[int, ...] | list[int]) -> Tensor:
        """Reversed along ``dims`` (varargs or one sequence)."""
        return _functions().flip(self, _shape_args(dims))

    def roll(self, shifts: int | tuple[int, ...], dims: int | tuple[int, ...] | None = None
             ) -> Tensor:
        """Shifted (wrapping around) along ``dims``."""
        return _functions().roll(self, shifts, dims)

    def repeat(self, *sizes: int | tuple[int, ...] | list[int]) -> Tensor:
        """Copied ``sizes[d]`` times along each dim (NumPy's ``tile``)."""
        return _functions()._repeat(self, _shape_args(sizes), "repeat")

    def tile(self, *dims: int | tuple[int, ...] | list[int]) -> Tensor:
        """``repeat``, with missing leading sizes taken as 1."""
        return _functions().tile(self, _shape_args(dims))

    def repeat_interleave(self, repeats: int | Tensor, dim: int | None = None, *,
                          output_size: int | None = None) -> Tensor:
        """Each element (or slice along ``dim``) repeated ``repeats`` times."""
        return _functions().repeat_interleave(self, repeats, dim, output_size=output_size)

    def diag(self, diagonal: int = 0) -> Tensor:
        """1-D -> a diagonal matrix; 2-D -> its diagonal."""
        return _functions().diag(self, diagonal)

    def bmm(self, mat2: Tensor) -> Tensor:
        """Batched matrix product ``(b, n, m) @ (b, m, p)``."""
        return _functions().bmm(self, mat2)

    def baddbmm(self, batch1: Tensor, batch2: Tensor, *, beta: Scalar = 1,
                alpha: Scalar = 1) -> Tensor:
        """``beta * self + alpha * bmm(batch1, batch2)``."""
        return _functions().baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def outer(self, vec2: Tensor) -> Tensor:
        """Outer product with ``vec2`` (both 1-D)."""
        return _functions().outer(self, vec2)

    def type(self, dtype: DTypeLike = None, non_blocking: bool = False) -> str | Tensor:
        """Without ``dtype``: the type name (``'minigrad.FloatTensor'``, as PyTorch's
        ``'torch.FloatTensor'``); with a dtype or such a name: ``to`` it."""
        if dtype is None:
            return _functions().tensor_type_name(self)
        dtype, device = _functions().parse_tensor_type(dtype, self.device)
        return self.to(device, dtype)

    def half(self) -> Tensor:
        """``to(mg.float16)``."""
        return self.to(dtypes.float16)

    def int(self) -> Tensor:
        """``to(mg.int32)`` (leaves the graph)."""
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        """``to(mg.bool)`` (leaves the graph)."""
        return self.to(dtypes.bool_)

    # -- reductions -----------------------------------------------------------
    def sum(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Sum over ``dim`` (all dims by default); ``keepdim`` keeps them as size 1.
        Bools sum as int64."""
        axes = R.normalize_dims(dim, self.ndim, "sum")
        source = self if self.dtype.kind != "b" else self.to(dtypes.int64)
        return R.Sum.apply(source, axes=axes, keepdim=keepdim)

    def mean(self, dim: Dims = None, keepdim: bool = False) -> Tensor:
        """Mean over ``dim`` (all dims by default); ``keepdim`` keeps them as size 1."""
        axes = R.normalize_dims(dim, self.ndim, "mean")
        return R.Mean.apply(_floating(self, "mean"), axes=axes, keepdim=keepdim)

    def var(self, dim: Dims = None, unbiased: bool = True, keepdim: bool = False, *,
            correction: int | None = None) -> Tensor:
        """Variance over ``dim``: ``sum((x - mean)^2) / (N - correction)``, correction 1
        (unbiased) by default; nan when ``N - correction <= 0``."""
        axes = R.normalize_dims(dim, self.ndim, "var")
        if correction is None:
            correction = 1 if unbiased else 0
        return R.Var.apply(_floating(self, "var"), axes=axes, keepdim=keepdim,
                           correction=correction)

    def std(self, dim: Dims = None, unbiased: bool = True, keepdim: bool = False) -> Tensor:
        """The square root of ``var``."""
        return self.var(dim, unbiased, keepdim).sqrt()

    def max(self, dim: int | Tensor | None = None, keepdim: bool = False) -> Tensor | MaxResult:
        """Largest value; with ``dim``, a ``(values, indices)`` pair; ``max(other)``
        with a tensor is ``maximum(other)``."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return self._extreme(dim, keepdim, True, "max")

    def min(self, dim: int | Tensor | None = None, keepdim: bool = False) -> Tensor | MaxResult:
        """Smallest value; with ``dim``, a ``(values, indices)`` pair; ``min(other)``
        with a tensor is ``minimum(other)``."""
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return self._extreme(dim, keepdim, False, "min")

    def _extreme(self, dim, keepdim, largest, name):
        if self.data.size == 0:
            raise RuntimeError(f"{name}: expected a non-empty tensor, got shape {self.shape}")
        if dim is None:
            axes = R.normalize_dims(None, self.ndim, name)
            return R.MaxMin.apply(self, axes=axes, keepdim=keepdim, largest=largest)
        (axis,) = R.normalize_dims(dim, self.ndim, name)
        values, indices = R.MaxMinDim.apply(self, dim=axis, keepdim=keepdim, largest=largest)
        return MaxResult(values, indices)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """int64 index of the largest value (in the flattened tensor if ``dim`` is None)."""
        return self._arg(dim, keepdim, True)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """int64 index of the smallest value (in the flattened tensor if ``dim`` is None)."""
        return self._arg(dim, keepdim, False)

    def _arg(self, dim, keepdim, largest):
        xp = backend.get_array_module(self.data)
        data = self.data
        if dim is None:
            index = data.argmax() if largest else data.argmin()
            out = xp.asarray(index).reshape((1,) * self.ndim if keepdim else ())
        else:
            (axis,) = R.normalize_dims(dim, self.ndim, "argmax" if largest else "argmin")
            out = data.argmax(axis=axis) if largest else data.argmin(axis=axis)
            if keepdim:
                out = xp.expand_dims(out, axis)
        return Tensor._make(out.astype(xp.int64))

    # -- shape ----------------------------------------------------------------
    def reshape(self, *shape: int | tuple[int, ...] | list[int]) -> Tensor:
        """The same elements in a new shape (varargs or one tuple; one size may be -1)."""
        shape = _shape_args(shape)
        if shape == self.shape:
            return self
        try:
            return S.Reshape.apply(self, shape=shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {tuple(self.shape)} "
                f"({self.numel()} elements) into shape {shape}"
            ) from None

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dims ``start_dim..end_dim`` into one: ``(N, C, L)`` -> ``(N, C * L)``
        with ``start_dim=1``."""
        if self.ndim == 0:
            return self.reshape(1)
        (start,) = R.normalize_dims(start_dim, self.ndim, "flatten")
        (end,) = R.normalize_dims(end_dim, self.ndim, "flatten")
        shape = self.shape[:start] + (-1,) + self.shape[end + 1:]
        return self.reshape(shape)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims: ``(A, B, C).transpose(0, 2)`` is ``(C, B, A)``."""
        (d0,) = R.normalize_dims(dim0, self.ndim, "transpose")
        (d1,) = R.normalize_dims(dim1, self.ndim, "transpose")
        if d0 == d1:
            return self
        return S.Transpose.apply(self, dim0=d0, dim1=d1)

    swapaxes = transpose

    def t(self) -> Tensor:
        """The transpose of a matrix ``(n, m)`` -> ``(m, n)``; 0-d and 1-D unchanged."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with <= 2 dims, got {self.ndim}")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self) -> Tensor:  # noqa: N802
        """All dims reversed: ``(A, B, C)`` -> ``(C, B, A)``."""
        return self.permute(*reversed(range(self.ndim))) if self.ndim > 1 else self

    @property
    def mT(self) -> Tensor:  # noqa: N802
        """The last two dims swapped (a batch of transposed matrices)."""
        return self.transpose(-2, -1)

    def permute(self, *dims: int | tuple[int, ...] | list[int]) -> Tensor:
        """Reorder the dims: ``(N, L, C).permute(0, 2, 1)`` is ``(N, C, L)``."""
        dims = _shape_args(dims)
        if (len(dims) != self.ndim or any(not -self.ndim <= d < self.ndim for d in dims)
                or sorted(d % self.ndim for d in dims) != list(range(self.ndim))):
            raise ValueError(
                f"permute: expected a permutation of {self.ndim} dims, got {dims}")
        return S.Permute.apply(self, dims=tuple(d % self.ndim for d in dims))

    def squeeze(self, dim: Dims = None) -> Tensor:
        """Drop size-1 dims (all of them, or those in ``dim``; others are kept)."""
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            axes = R.normalize_dims(dim, self.ndim, "squeeze")
            shape = tuple(n for i, n in enumerate(self.shape) if not (i in axes and n == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dim at ``dim``: ``(3,)`` -> ``(1, 3)`` with ``dim=0``."""
        if not -self.ndim - 1 <= dim <= self.ndim:
            raise IndexError(
                f"unsqueeze: dim {dim} out of range for a tensor of {self.ndim} dims "
                f"(expected a dim in [{-self.ndim - 1}, {self.ndim}])")
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def expand(self, *sizes: int | tuple[int, ...] | list[int]) -> Tensor:
        """Broadcast size-1 dims (and new leading dims) to ``sizes``; -1 keeps a size."""
        sizes = _shape_args(sizes)
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise ValueError(f"expand: cannot expand shape {self.shape} to {sizes}")
        shape = tuple(self.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes))
        for i, n in enumerate(self.shape):
            if n != 1 and n != shape[i + lead]:
                raise ValueError(
                    f"expand: the size of dim {i} ({n}) must match {shape[i + lead]} "
                    f"or be 1 (expanding {self.shape} to {sizes})")
        if shape == self.shape:
            return self
        return S.Expand.apply(self, shape=shape)

    def expand_as(self, other: Tensor) -> Tensor:
        """``expand(*other.shape)``."""
        return self.expand(*other.shape)

    def contiguous(self) -> Tensor:
        """Returns self (for PyTorch compatibility: every op here accepts any layout)."""
        return self

    def split(self, split_size_or_sections: int | list[int] | tuple[int, ...],
              dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of
        the given sizes."""
        (axis,) = R.normalize_dims(dim, self.ndim, "split")
        length = self.shape[axis]
        if isinstance(split_size_or_sections, int):
            step = split_size_or_sections
            if step <= 0:
                raise ValueError(f"split: split_size must be positive, got {step}")
            # an empty dim gives one empty piece, as PyTorch
            sizes = [min(step, length - i) for i in range(0, length, step)] or [0]
        else:
            sizes = list(split_size_or_sections)
            if sum(sizes) != length:
                raise ValueError(
                    f"split: sections {sizes} sum to {sum(sizes)}, expected the size of "
                    f"dim {dim} ({length})")
        return S.Split.apply(self, sizes=tuple(sizes), dim=axis, squeeze=False)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """At most ``chunks`` nearly equal pieces along ``dim``."""
        (axis,) = R.normalize_dims(dim, self.ndim, "chunk")
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        if self.shape[axis] == 0:  # PyTorch gives ``chunks`` empty pieces
            return S.Split.apply(self, sizes=(0,) * chunks, dim=axis, squeeze=False)
        step = -(-self.shape[axis] // chunks)
        return self.split(step, axis)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The slices along ``dim``, as one graph node (cheap to backpropagate)."""
        (axis,) = R.normalize_dims(dim, self.ndim, "unbind")
        return S.Split.apply(self, sizes=(1,) * self.shape[axis], dim=axis, squeeze=True)

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __getitem__(self, index: Any) -> Tensor:
        index = _convert_index(index, self)
        try:
            return S.GetItem.apply(self, index=index)
        except IndexError as err:
            raise IndexError(f"index: {err} (indexing a tensor of shape "
                             f"{tuple(self.shape)})") from None

    def __setitem__(self, index: Any, value: Operand) -> None:
        """``x[index] = value`` in place; differentiable (``outputs[t] = y`` records)."""
        inplace.setitem(self, _convert_index(index, self), value)


# --- helpers for the operators ------------------------------------------------------


def _functions():
    """``minigrad.functions``, where the newer methods' code lives (imported late: it
    imports this module)."""
    from . import functions

    return functions


def _data(value):
    return value.data if isinstance(value, Tensor) else value


def _is_float_operand(value) -> bool:
    if isinstance(value, Tensor):
        return value.dtype.kind == "f"
    return isinstance(value, float)


def _floating(t: Tensor, op: str) -> Tensor:
    """Math ops on int/bool tensors compute in the default float dtype (as PyTorch)."""
    return t if t.data.dtype.kind == "f" else t.to(dtypes.get_default_dtype())


def _as_tensor(value, like: Tensor) -> Tensor:
    """``value`` as a Tensor on ``like``'s device; a Python number becomes a 0-d tensor
    of the dtype it would give with ``like`` (``dtypes.scalar_result_type``)."""
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(like.data)
    if isinstance(value, (bool, int, float, np.generic)):
        value = value.item() if isinstance(value, np.generic) else value
        dtype = dtypes.scalar_result_type(like.dtype, value)
        return Tensor._make(xp.asarray(value, dtype=dtype))
    return Tensor._make(xp.asarray(value))


def _binary(op, a: Tensor, b, name: str, reverse: bool = False):
    """Prepare ``a <op> b`` (or ``b <op> a``): check devices, promote dtypes."""
    if isinstance(b, Tensor):
        a_dtype, b_dtype = a.data.dtype, b.data.dtype  # (`is` first: this runs per op)
        if type(a.data) is not type(b.data) or (a_dtype is not b_dtype and a_dtype != b_dtype):
            a, b = _promote(a, b, name)
    elif isinstance(b, (bool, int, float, np.generic)):
        value = b.item() if isinstance(b, np.generic) else b
        dtype = dtypes.scalar_result_type(a.data.dtype, value)
        if dtype != a.data.dtype:
            a = a.to(dtype)
        b = Tensor._make(dtype.type(value))
    elif isinstance(b, (np.ndarray,)) or backend.device_of(b) == "cuda":
        a, b = _promote(a, Tensor._make(b), name)
    else:
        return NotImplemented
    if reverse:
        a, b = b, a
    try:
        return op.apply(a, b)
    except ValueError:
        if _broadcastable(a.shape, b.shape):
            raise
        raise ValueError(
            f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be broadcast "
            "together (expected equal sizes, or 1, in each trailing dim)"
        ) from None


def _broadcastable(s1: tuple, s2: tuple) -> bool:
    return all(x == y or x == 1 or y == 1 for x, y in zip(reversed(s1), reversed(s2)))


def _check_devices(name: str, *values) -> None:
    """Raise unless all ``values`` (Tensors or arrays) are on one device -- 0-d tensors
    included: a CPU scalar tensor is not moved to the GPU behind your back."""
    first = backend.device_of(_data(values[0]))
    for value in values[1:]:
        device = backend.device_of(_data(value))
        if device != first:
            raise RuntimeError(
                f"{name}: expected all tensors on the same device, got {first} and "
                f"{device} (move one with .to('{device}') or .to('{first}'))")


def _promote(a: Tensor, b: Tensor, name: str):
    """Check that ``a`` and ``b`` share a device; cast both to their result dtype
    (``dtypes.result_type``: a 0-d tensor does not widen a dimensioned one)."""
    _check_devices(name, a, b)
    if a.dtype != b.dtype:
        dtype = dtypes.result_type(a.dtype, b.dtype, a.ndim == 0, b.ndim == 0)
        a, b = a.to(dtype), b.to(dtype)
    return a, b


def _compare(a: Tensor, other, name: str) -> Tensor:
    b = _data(other)
    if isinstance(other, Tensor):
        _check_devices(name, a, other)
    ops = {"lt": "__lt__", "le": "__le__", "gt": "__gt__", "ge": "__ge__",
           "eq": "__eq__", "ne": "__ne__"}
    try:
        result = getattr(a.data, ops[name])(b)
    except ValueError:
        raise ValueError(
            f"{name}: shapes {tuple(a.shape)} and {tuple(np.shape(b))} cannot be "
            "broadcast together") from None
    if result is NotImplemented:
        return NotImplemented
    return Tensor._make(result)


def _check_mask(mask, target: Tensor, name: str) -> None:
    if not isinstance(mask, Tensor) or mask.dtype.kind != "b":
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise RuntimeError(f"{name}: only supports boolean masks, but got mask with dtype {got}")
    if not _broadcastable(target.shape, mask.shape) or mask.ndim > target.ndim:
        raise RuntimeError(f"{name}: the mask of shape {tuple(mask.shape)} must be broadcastable "
                           f"to the tensor's shape {tuple(target.shape)}")


def _where(condition, a, b) -> Tensor:
    from .functions import where

    return where(condition, a, b)


def _index_add_position(target: Tensor, dim: int, index: Tensor, source: Tensor) -> tuple:
    """The index tuple that puts ``source`` at ``index`` along ``dim`` of ``target``,
    after PyTorch's checks of ``index_add_``'s arguments."""
    (axis,) = R.normalize_dims(dim, target.ndim, "index_add_")
    if not isinstance(index, Tensor) or index.dtype.kind not in "iu" or index.ndim > 1:
        raise IndexError("index_add_: index must be a 1-D integer (int64) tensor, got "
                         f"{getattr(index, 'dtype', type(index).__name__)} of shape "
                         f"{tuple(getattr(index, 'shape', ()))}")
    if not isinstance(source, Tensor):
        raise TypeError(f"index_add_: source must be a Tensor, got {type(source).__name__}")
    expected = target.shape[:axis] + (index.numel(),) + target.shape[axis + 1:]
    if source.ndim != target.ndim or tuple(source.shape) != expected:
        raise RuntimeError(f"index_add_: source of shape {tuple(source.shape)} does not match "
                           f"the expected shape {expected} (self's shape with dim {dim} "
                           "replaced by the number of indices)")
    positions = index.data.reshape(-1)
    size = target.shape[axis]
    if positions.size and (positions.min() < -size or positions.max() >= size):
        raise IndexError(f"index_add_: index out of range for dim {dim} of size {size}")
    return (slice(None),) * axis + (positions,)


def _shape_args(args: tuple) -> tuple:
    """Sizes given as varargs ``(2, 3)`` or as one tuple/list ``((2, 3),)``."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(n) for n in args)


def _convert_index(index, like: Tensor):
    """Tensors and lists in an index become arrays on the indexed tensor's device."""
    xp = backend.get_array_module(like.data)

    def convert(item):
        if isinstance(item, Tensor):
            if item.dtype.kind not in "biu":
                raise IndexError(
                    f"tensors used as indices must be int64 or bool, got {item.dtype}")
            return item.data if xp is np else xp.asarray(item.data)  # CPU indices work too
        if isinstance(item, list):
            return xp.asarray(item)
        if isinstance(item, np.ndarray) and xp is not np:
            return xp.asarray(item)
        return item

    if isinstance(index, tuple):
        return tuple(convert(i) for i in index)
    return convert(index)


class ToDevice(function.Op):
    """Copy to another device; the gradient is copied back."""

    @staticmethod
    def forward(ctx, x, device):
        ctx.source = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, grad):
        if ctx._graph_mode:
            return grad.to(ctx.source)
        return backend.to_device(grad, ctx.source)


# --- module-level functions ---------------------------------------------------------


def tensor(data: Any, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (nested lists, scalars, arrays,
    Tensors).  Python floats become the default dtype, ints int64, bools bool;
    arrays keep their dtype."""
    device = backend.normalize_device(device) if device is not None else None
    if isinstance(data, Tensor):
        array = data.data
    elif isinstance(data, (np.ndarray, np.generic)) or backend.device_of(data) == "cuda":
        array = data  # arrays and NumPy scalars keep their dtype
    else:
        array = np.array(data)
        if dtype is None and array.dtype == np.float64:
            array = array.astype(dtypes.get_default_dtype())
        elif dtype is None and array.dtype.kind in "iu":
            array = array.astype(np.int64)
        elif array.dtype.kind not in "biuf":
            raise TypeError(
                f"tensor: could not convert data of type {type(data).__name__} "
                f"(numpy dtype {array.dtype}) to a numeric tensor")
    target = device or (backend.device_of(array) if device is None else device)
    xp = backend.xp_for(target)
    if backend.device_of(array) != target:
        array = backend.to_device(array, target)
    array = xp.array(array, dtype=None if dtype is None else np.dtype(dtype), copy=True)
    t = Tensor._make(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy/PyTorch rules (1-D operands, batch broadcasting)."""
    if not isinstance(b, Tensor):
        b = _as_tensor(b, a)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: both arguments need at least 1 dim, got shapes {tuple(a.shape)} "
            f"and {tuple(b.shape)}")
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if a.shape[-1] != k_b:
        raise ValueError(
            f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned "
            f"(expected a.shape[-1] == {'b.shape[0]' if b.ndim == 1 else 'b.shape[-2]'}, "
            f"got {a.shape[-1]} and {k_b})")
    if type(a.data) is not type(b.data) or a.dtype != b.dtype:
        a, b = _promote(a, b, "matmul")
    try:
        return L.MatMul.apply(a, b)
    except ValueError:
        raise ValueError(
            f"matmul: batch dims of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
            "broadcast together") from None


function._tensor_cls = Tensor
engine._tensor_cls = Tensor
inplace._tensor_cls = Tensor
