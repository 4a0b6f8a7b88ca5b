"""Reverse-mode automatic differentiation.

* ``grad_mode``  -- ``no_grad``/``enable_grad`` (thread-local)
* ``function``   -- ``Function`` (a graph node: forward and backward side by side)
* ``engine``     -- ``backward``: iterative topological traversal of the graph
* ``gradcheck``  -- finite-difference checking
"""

from .engine import backward
from .function import Function, Op, OuterGrad
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck

__all__ = ["Function", "Op", "OuterGrad", "backward", "enable_grad", "gradcheck",
           "is_grad_enabled", "no_grad", "set_grad_enabled"]
