"""Finite-difference checking of analytic gradients."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .. import backend
from . import engine


def gradcheck(fn: Callable, inputs, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Compare autograd's gradients of ``fn(*inputs)`` with central differences.

    ``inputs``: a Tensor or a sequence of Tensors (those with requires_grad are
    checked; they should be float64).  The output may be any shape: the check uses
    a fixed random projection ``sum(out * v)``.  Returns True, or raises
    AssertionError naming the input, the worst element, both values.
    """
    from ..tensor import Tensor

    if isinstance(inputs, Tensor):
        inputs = (inputs,)
    inputs = tuple(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for t in checked:
        if t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: inputs should be float64 for finite differences, got {t.dtype}")

    def outputs():
        out = fn(*inputs)
        return out if isinstance(out, (tuple, list)) else (out,)

    rng = np.random.default_rng(0)
    first = [o for o in outputs() if isinstance(o, Tensor) and o.dtype.kind == "f"]
    projections = [rng.standard_normal(o.shape) for o in first]

    def scalar() -> float:
        outs = [o for o in outputs() if isinstance(o, Tensor) and o.dtype.kind == "f"]
        return float(sum((backend.to_numpy(o.data) * v).sum()
                         for o, v in zip(outs, projections)))

    # analytic: d(scalar)/d(input) by one backward, accumulated into the checked
    # inputs only (other leaves that fn uses keep their .grad), whose own .grad is
    # saved and restored
    saved_grads = [t.grad for t in checked]
    try:
        for t in checked:
            t.grad = None
        outs = [o for o in outputs() if isinstance(o, Tensor) and o.dtype.kind == "f"]
        total = None
        for o, v in zip(outs, projections):
            if not o.requires_grad:
                continue
            xp = backend.get_array_module(o.data)
            term = (o * Tensor._make(xp.asarray(v))).sum()
            total = term if total is None else total + term
        if total is not None:
            xp = backend.get_array_module(total.data)
            engine.backward([total], [xp.ones_like(total.data)], inputs=checked)
        analytic = [np.zeros(t.shape) if t.grad is None else backend.to_numpy(t.grad.data)
                    for t in checked]
    finally:
        for t, grad in zip(checked, saved_grads):
            t.grad = grad

    # numeric: perturb each element in place, through an index into the real array
    # (``data.reshape(-1)`` would be a copy for a non-contiguous array)
    for index, (t, grad) in enumerate(zip(checked, analytic)):
        numeric = np.zeros(t.shape)
        for position in np.ndindex(*t.shape):  # one perturbation per element: test-only
            old = t.data[position].item()
            try:
                t.data[position] = old + eps
                plus = scalar()
                t.data[position] = old - eps
                minus = scalar()
            finally:
                t.data[position] = old
            numeric[position] = (plus - minus) / (2 * eps)
        error = np.abs(numeric - grad) - (atol + rtol * np.abs(numeric))
        if error.size and error.max() > 0:
            worst = np.unravel_index(int(error.argmax()), error.shape)
            message = (
                f"gradcheck failed for input {index} (shape {tuple(t.shape)}) at element "
                f"{tuple(int(i) for i in worst)}: analytic {grad[worst]:.10g}, numeric "
                f"{numeric[worst]:.10g} (atol={atol}, rtol={rtol})")
            if raise_exception:
                raise AssertionError(message)
            return False
    return True


