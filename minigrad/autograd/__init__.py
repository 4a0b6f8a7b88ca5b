"""Reverse-mode automatic differentiation.

* ``grad_mode``  -- ``no_grad``/``enable_grad`` (thread-local)
* ``function``   -- ``Function`` (a graph node: forward and backward side by side)
* ``engine``     -- ``backward``: iterative topological traversal of the graph
* ``functional`` -- ``grad``: gradients returned instead of accumulated
* ``hooks``      -- what the ``register_*hook`` methods store, and their handles
* ``gradcheck``  -- finite-difference checking
"""

from .engine import queue_callback
from .function import Function, Op, OuterGrad
from .functional import backward, grad
from .grad_mode import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from .gradcheck import gradcheck
from .hooks import RemovableHandle

__all__ = ["Function", "Op", "OuterGrad", "RemovableHandle", "backward", "enable_grad",
           "grad", "gradcheck", "inference_mode", "is_grad_enabled",
           "is_inference_mode_enabled", "no_grad", "queue_callback", "set_grad_enabled"]
