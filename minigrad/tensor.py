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

from collections.abc import Iterator
from typing import Any, NamedTuple, TypeAlias

import numpy as np

from . import backend, dtypes
from .autograd import engine, function
from .autograd.grad_mode import _state
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

    # _vc: the version counter ([n], shared with views; None until first needed),
    # _base: (base Tensor, index or None) for a view, _hooks: a leaf's LeafHooks
    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_output_nr", "_vc", "_base",
                 "_hooks", "__weakref__")
    __array_priority__ = 1000  # numpy_array + tensor -> Tensor.__radd__
    __hash__ = object.__hash__  # identity hash; __eq__ is elementwise

    def __init__(self, data: Any, dtype: DTypeLike = None, device: DeviceLike = None,
                 requires_grad: bool = False) -> None:
        """Same as ``mg.tensor(data, ...)``: a new leaf holding a copy of ``data``."""
        t = tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)
        self.data, self.grad, self.grad_fn, self._output_nr = t.data, None, None, 0
        self._vc = self._base = self._hooks = None
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
        t._vc = t._base = t._hooks = None
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

    def to(self, *args: DTypeLike | DeviceLike, dtype: DTypeLike = None,
           device: DeviceLike = None) -> Tensor:
        """``to(device)``, ``to(dtype)`` or ``to(device, dtype)``; differentiable.
        Returns ``self`` when nothing changes."""
        for arg in args:  # a dtype is a numpy dtype or scalar type; anything else a device
            if isinstance(arg, (np.dtype, type)):
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
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` (same shape as self) is required unless self has one element.
        ``retain_graph`` (default: ``create_graph``) keeps saved buffers for another
        backward; ``create_graph`` records the backward itself for higher derivatives.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad and has no grad_fn "
                "(create leaves with requires_grad=True, and don't call backward on a "
                "result computed under no_grad)"
            )
        xp = backend.get_array_module(self.data)
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for a scalar output, "
                    f"got a tensor of shape {tuple(self.shape)}; pass gradient= of that shape"
                )
            grad = xp.ones_like(self.data)
        else:
            grad_data = gradient.data if isinstance(gradient, Tensor) else xp.asarray(gradient)
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
            grad = grad_data if grad_data.dtype == self.data.dtype else (
                grad_data.astype(self.data.dtype))
            if create_graph and isinstance(gradient, Tensor):
                grad = gradient
        if retain_graph is None:
            retain_graph = create_graph
        if create_graph and not isinstance(grad, Tensor):
            grad = Tensor._make(grad)
        engine.backward([self], [grad], retain_graph=retain_graph, create_graph=create_graph)

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

    def zero_(self) -> Tensor:
        """Fill with zeros in place (no graph)."""
        if isinstance(self.data, np.generic):  # NumPy gives 0-d results as immutable
            self.data = np.zeros_like(self.data)  # scalars: nothing can alias them
        else:
            self.data.fill(0)
        return self

    def retain_grad(self) -> None:  # pragma: no cover - documented limitation
        """Not supported: only leaves get a ``.grad``."""
        raise NotImplementedError("retain_grad is not supported: non-leaves get no .grad")

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

    def clamp(self, min: Scalar | None = None,  # noqa: A002  (PyTorch's names)
              max: Scalar | None = None) -> Tensor:  # noqa: A002
        """Limit every element to ``[min, max]`` (either bound optional); the gradient is
        0 where an element was clipped."""
        if min is None and max is None:
            raise ValueError("clamp: at least one of min and max must be given")
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

    def max(self, dim: int | None = None, keepdim: bool = False) -> Tensor | MaxResult:
        """Largest value; with ``dim``, a ``(values, indices)`` pair."""
        return self._extreme(dim, keepdim, True, "max")

    def min(self, dim: int | None = None, keepdim: bool = False) -> Tensor | MaxResult:
        """Smallest value; with ``dim``, a ``(values, indices)`` pair."""
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
            sizes = [min(step, length - i) for i in range(0, length, step)]
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
        if _state.enabled and (self.requires_grad or getattr(value, "requires_grad", False)):
            raise RuntimeError(
                "setitem: in-place assignment into a tensor that requires grad (or of a "
                "value that does) is not differentiable here; build the result with "
                "mg.where/mg.cat, or assign under mg.no_grad()"
            )
        self.data[_convert_index(index, self)] = _data(value)


# --- helpers for the operators ------------------------------------------------------


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
        if type(a.data) is not type(b.data) or a.data.dtype != b.data.dtype:
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
