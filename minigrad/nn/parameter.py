"""``nn.Parameter``: a Tensor that a ``Module`` registers as one of its weights."""

from __future__ import annotations

import numpy as np

from .. import backend
from ..tensor import Tensor, tensor


class Parameter(Tensor):
    """A leaf Tensor marked as a module weight (``requires_grad=True`` by default).

    Assigning one to a module attribute registers it, so it appears in
    ``parameters()``, ``state_dict()`` and moves with ``to(device)``.  Like PyTorch's,
    ``Parameter(t)`` shares ``t``'s data instead of copying it.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            array = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            array = data.data
        elif isinstance(data, np.ndarray) or backend.device_of(data) == "cuda":
            array = data
        else:  # lists and scalars: copied into a new array
            array = tensor(data).data
        self.data, self.grad, self.grad_fn, self._output_nr = array, None, None, 0
        self._base = self._hooks = self._history = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)  # raises for integer data, as PyTorch

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __setattr__(self, name: str, value) -> None:
        # ``weight.data = pretrained`` (the GloVe idiom): a Tensor's array is stored, so
        # ``.data`` stays the backing array; shape and dtype may change, as in PyTorch
        if name == "data" and not _is_array(value):
            if not isinstance(value, Tensor):
                raise TypeError(f"Variable data has to be a tensor, but got "
                                f"{type(value).__name__}")
            value = value.data
        object.__setattr__(self, name, value)


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray) or backend.device_of(value) == "cuda"
