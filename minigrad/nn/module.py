"""``nn.Module``: the base class of every layer and model.

A module owns three ordered registries, filled automatically by attribute assignment
(``self.fc = nn.Linear(...)`` registers a submodule, ``self.w = nn.Parameter(...)`` a
parameter) or explicitly (``register_buffer``): ``_parameters``, ``_buffers`` and
``_modules``.  Everything else -- ``parameters()``, ``state_dict()``, ``to(device)``,
``train()`` -- is a walk over these registries, in registration order, so names and
orders match PyTorch's.
"""

from __future__ import annotations

import warnings
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import backend, dtypes
from ..autograd.function import Op
from ..autograd.grad_mode import is_grad_enabled
from ..tensor import Tensor
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: keys the module expected but did not get, and
    keys it got but does not have."""

    missing_keys: list
    unexpected_keys: list

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"IncompatibleKeys(missing_keys={self.missing_keys}, "
                f"unexpected_keys={self.unexpected_keys})")


class RemovableHandle:
    """Returned by every ``register_*_hook``; ``remove()`` unregisters the hook (also
    usable as a context manager: the hook is removed on exit)."""

    next_id = 0

    def __init__(self, hooks_dict: dict, *, extra_dict: dict | list | None = None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = RemovableHandle.next_id
        RemovableHandle.next_id += 1
        extras = [extra_dict] if isinstance(extra_dict, dict) else list(extra_dict or ())
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self) -> None:
        """Unregister the hook (nothing happens if it is already gone)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            hooks = ref()
            if hooks is not None:
                hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.remove()


class _BackwardHookIdentity(Op):
    """The identity, recorded as a graph node so that the gradients flowing through it
    can be seen (and replaced) by a module's backward hooks: ``forward`` returns its
    inputs unchanged; ``backward`` hands the gradients (as Tensors; None for an output
    that received none, as in PyTorch) to ``ctx.on_grad`` and passes on what it
    returns."""

    @staticmethod
    def forward(ctx, *arrays, on_grad):
        ctx.on_grad = on_grad
        return arrays  # a tuple, even of one: one graph output per input

    @staticmethod
    def backward(ctx, *grads):
        tensors = tuple(g if g is None or isinstance(g, Tensor) else Tensor._make(g)
                        for g in grads)
        result = ctx.on_grad(tensors)
        if ctx._graph_mode:  # create_graph: hand on Tensors (differentiable)
            return tuple(result)
        return tuple(g.data if isinstance(g, Tensor) else g for g in result)


class _BackwardHook:
    """PyTorch's ``BackwardHook``: the state one forward call shares between the node
    wrapping the module's outputs (which sees ``grad_output`` first and runs the
    backward pre-hooks) and the node wrapping its positional Tensor inputs (which
    sees ``grad_input`` once it is ready and runs the full backward hooks)."""

    def __init__(self, module: Module, hooks: list, pre_hooks: list):
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.grad_outputs: tuple | None = None
        self.n_inputs = 0
        self.input_index: list | None = None  # positions of the wrapped inputs
        self.n_outputs = 0
        self.output_index: list | None = None

    @staticmethod
    def _wrap(values: tuple, on_grad) -> tuple[tuple, list | None]:
        """Route the Tensors among ``values`` that require grad through one identity
        node; returns the new values and the positions wrapped (None: nothing was)."""
        index = [i for i, v in enumerate(values)
                 if isinstance(v, Tensor) and v.requires_grad]
        if not index or not is_grad_enabled():
            return values, None
        wrapped = _BackwardHookIdentity.apply(*[values[i] for i in index], on_grad=on_grad)
        values = list(values)
        for i, t in zip(index, wrapped):
            values[i] = t
        return tuple(values), index

    @staticmethod
    def _pack(index: list, grads: tuple, size: int) -> tuple:
        packed = [None] * size
        for i, g in zip(index, grads):
            packed[i] = g
        return tuple(packed)

    def setup_input_hook(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        args, self.input_index = self._wrap(args, self._on_grad_input)
        return args

    def setup_output_hook(self, result: Any) -> Any:
        is_tuple = isinstance(result, tuple)
        outputs = result if is_tuple else (result,)
        self.n_outputs = len(outputs)
        outputs, self.output_index = self._wrap(outputs, self._on_grad_output)
        return outputs if is_tuple else outputs[0]

    def _on_grad_output(self, grads: tuple) -> tuple:
        grad_outputs = _replacing_hooks(
            self.pre_hooks, lambda hook, g: hook(self.module, g),
            self._pack(self.output_index, grads, self.n_outputs), "grad_output",
            "Backward pre hook")
        self.grad_outputs = grad_outputs
        if self.input_index is None:  # no input requires grad: the hooks fire here
            if self.hooks:
                warnings.warn("Full backward hook is firing when gradients are computed with "
                              "respect to module outputs since no inputs require gradients "
                              "(see Module.register_full_backward_hook)", stacklevel=2)
            grad_inputs = (None,) * self.n_inputs
            for hook in self.hooks:
                result = hook(self.module, grad_inputs, grad_outputs)
                if result is not None and not all(g is None for g in _as_grad_tuple(result)):
                    raise RuntimeError(
                        "Backward hook for Modules where no input requires gradient should "
                        "always return None or None for all gradients.")
            self.grad_outputs = None
        return tuple(grad_outputs[i] for i in self.output_index)

    def _on_grad_input(self, grads: tuple) -> tuple:
        if self.grad_outputs is None:  # the gradient did not come through the outputs
            return grads
        grad_inputs = _replacing_hooks(
            self.hooks, lambda hook, g: hook(self.module, g, self.grad_outputs),
            self._pack(self.input_index, grads, self.n_inputs), "grad_input", "Backward hook")
        self.grad_outputs = None
        return tuple(grad_inputs[i] for i in self.input_index)


def _as_grad_tuple(result: Any) -> tuple:
    """A hook's return value as a tuple of gradients (a lone Tensor is one)."""
    if isinstance(result, Tensor):
        return (result,)
    if isinstance(result, (tuple, list)):
        for g in result:
            if g is not None and not isinstance(g, Tensor):
                raise TypeError(f"a backward hook must return None or a tuple of Tensors "
                                f"(or None), got a {type(g).__name__} in it")
        return tuple(result)
    raise TypeError(f"a backward hook must return None or a tuple of Tensors (or None), "
                    f"got {type(result).__name__}")


def _replacing_hooks(hooks, call, grads: tuple, what: str, kind: str) -> tuple:
    """Call each hook (``call(hook, grads)``); a result that is not None replaces the
    gradients, after PyTorch's checks of its length and shapes."""
    for hook in hooks:
        result = call(hook, grads)
        if result is None:
            continue
        result = _as_grad_tuple(result)
        if len(result) != len(grads):
            raise RuntimeError(f"{kind} returned an invalid number of {what}, got "
                               f"{len(result)}, but expected {len(grads)}")
        _check_shapes(result, grads, what)
        grads = result
    return grads


def _check_shapes(new: tuple, old: tuple, what: str) -> None:
    """A replacement gradient must have the shape of the one it replaces."""
    for i, (g, before) in enumerate(zip(new, old)):
        if g is not None and before is not None and g.shape != before.shape:
            raise RuntimeError(f"backward hook returned a {what}[{i}] of shape "
                               f"{tuple(g.shape)}, expected {tuple(before.shape)}")


_HOOK_REGISTRIES = (
    "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs", "_forward_hooks",
    "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_backward_pre_hooks",
    "_backward_hooks",
)


def _add_indent(text: str, spaces: int) -> str:
    """Indent every line but the first (for nested reprs)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


class Module:
    """Base class for layers and models: define ``__init__`` (call
    ``super().__init__()`` first, then assign layers and parameters) and ``forward``."""

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these dicts to exist
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_non_persistent_buffers", {})  # name -> True
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_has_hooks", False)  # set by every register_*_hook
        for name in _HOOK_REGISTRIES:
            object.__setattr__(self, name, OrderedDict())  # weakref-able

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The module's computation: every subclass defines it (shapes are the layer's)."""
        raise NotImplementedError(
            f"{type(self).__name__} has no forward(): define forward(self, ...) in the "
            "subclass")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward(*args, **kwargs)``, surrounded by the registered hooks."""
        if not self._has_hooks:
            return self.forward(*args, **kwargs)  # the fast path: no hooks at all
        return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        """PyTorch's order: forward pre-hooks (may replace the arguments), the input
        side of the backward hooks, ``forward``, forward hooks (may replace the
        output), the output side of the backward hooks."""
        if not (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks
                or self._backward_pre_hooks):  # all removed: back to the fast path
            object.__setattr__(self, "_has_hooks", False)
            return self.forward(*args, **kwargs)
        for hook_id, hook in list(self._forward_pre_hooks.items()):
            if hook_id in self._forward_pre_hooks_with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    if not (isinstance(result, tuple) and len(result) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {result}.")
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        backward_hook = None
        if self._backward_hooks or self._backward_pre_hooks:
            backward_hook = _BackwardHook(self, list(self._backward_hooks.values()),
                                          list(self._backward_pre_hooks.values()))
            args = backward_hook.setup_input_hook(args)
        called = set()
        output = None
        try:
            output = self.forward(*args, **kwargs)
            for hook_id, hook in list(self._forward_hooks.items()):
                called.add(hook_id)
                output = self._run_forward_hook(hook_id, hook, args, kwargs, output)
        except Exception:
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id in self._forward_hooks_always_called and hook_id not in called:
                    try:
                        output = self._run_forward_hook(hook_id, hook, args, kwargs, output)
                    except Exception as err:  # the forward's error is the one to see
                        warnings.warn("module forward hook with ``always_call=True`` raised "
                                      "an exception that was silenced as another error was "
                                      f"raised in forward: {err}", stacklevel=2)
            raise
        if backward_hook is not None:
            output = backward_hook.setup_output_hook(output)
        return output

    def _run_forward_hook(self, hook_id: int, hook: Callable, args: tuple, kwargs: dict,
                          output: Any) -> Any:
        if hook_id in self._forward_hooks_with_kwargs:
            result = hook(self, args, kwargs, output)
        else:
            result = hook(self, args, output)
        return output if result is None else result

    # -- hooks ----------------------------------------------------------------------
    def _add_hook(self, registry: str, hook: Callable, prepend: bool,
                  flags: Sequence[str] = ()) -> RemovableHandle:
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        hooks = getattr(self, registry)
        handle = RemovableHandle(hooks, extra_dict=[getattr(self, f) for f in flags])
        hooks[handle.id] = hook
        object.__setattr__(self, "_has_hooks", True)
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        for flag in flags:
            getattr(self, flag)[handle.id] = True
        return handle

    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before every forward; a non-None return value
        replaces the positional arguments (a non-tuple is wrapped into one).  With
        ``with_kwargs``: ``hook(module, args, kwargs)`` returning None or
        ``(new_args, new_kwargs)``.  ``prepend`` runs it before the hooks already
        registered.  Returns a handle whose ``remove()`` undoes this."""
        flags = ["_forward_pre_hooks_with_kwargs"] if with_kwargs else []
        return self._add_hook("_forward_pre_hooks", hook, prepend, flags)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False,
                              always_call: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after every forward (``args``: the
        positional arguments forward got); a non-None return value replaces the
        output.  ``with_kwargs``: ``hook(module, args, kwargs, output)``.
        ``always_call``: run it even when forward raises.  Returns a handle."""
        flags = (["_forward_hooks_with_kwargs"] if with_kwargs else []) + (
            ["_forward_hooks_always_called"] if always_call else [])
        return self._add_hook("_forward_hooks", hook, prepend, flags)

    def register_full_backward_pre_hook(self, hook: Callable,
                                        prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients with respect to the
        module's outputs are computed (``grad_output``: a tuple, one entry per output,
        None for non-Tensors); a non-None return value (a tuple of the same length)
        replaces them.  Returns a handle."""
        return self._add_hook("_backward_pre_hooks", hook, prepend)

    def register_full_backward_hook(self, hook: Callable,
                                    prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` once the gradients with
        respect to the module's positional Tensor inputs are computed.  ``grad_input``
        has one entry per positional argument (None for non-Tensors and inputs that
        need no grad); a non-None return value (same length) replaces it in the rest
        of the backward.  If no input requires grad, the hook fires with all-None
        ``grad_input`` as soon as ``grad_output`` is known.  Returns a handle.

        Implemented as PyTorch does it: the inputs and outputs of every hooked call
        pass through an identity graph node whose backward runs the hooks."""
        return self._add_hook("_backward_hooks", hook, prepend)

    # -- registration ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params, buffers, modules = d.get("_parameters"), d.get("_buffers"), d.get("_modules")
        if isinstance(value, (Parameter, Module)) and params is None:
            raise AttributeError(
                f"cannot assign {type(value).__name__} {name!r} before Module.__init__() "
                "is called: call super().__init__() first in your __init__")
        if isinstance(value, Parameter):
            self._forget(name, keep="_parameters")  # keep its place if re-assigned
            params[name] = value
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} "
                    "(nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            self._forget(name, keep="_modules")
            modules[name] = value
        elif modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} (nn.Module or None expected)")
            modules[name] = None
        elif buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                "(Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str = "") -> None:
        """Remove ``name`` from the instance dict and every registry but ``keep``."""
        d = self.__dict__
        d.pop(name, None)
        for store in ("_parameters", "_buffers", "_modules", "_non_persistent_buffers"):
            if store != keep:
                d[store].pop(name, None)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails.  Read the registries from __dict__
        # directly: during copy/unpickling they may not exist yet (no recursion then).
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            registry = d.get(store)
            if registry is not None and name in registry:
                return registry[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__[store]:
                self._forget(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def _check_name(self, name: str, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name must be a str, got {type(name).__name__}")
        if name == "" or "." in name:
            raise KeyError(f"{kind} name must be non-empty and contain no '.', got {name!r}")
        registered = name in self._parameters or name in self._buffers or name in self._modules
        if hasattr(self, name) and not registered:
            raise KeyError(f"attribute {name!r} already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` (a Parameter, or None for "no such parameter", e.g. a
        disabled bias) under ``name``."""
        self._check_name(name, "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r} "
                            "(nn.Parameter or None expected)")
        self._forget(name, keep="_parameters")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Register a non-trainable tensor (e.g. running statistics) that moves with the
        module and, if ``persistent``, is part of ``state_dict()``."""
        self._check_name(name, "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer {name!r} "
                            "(Tensor or None expected)")
        self._forget(name, keep="_buffers")
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent_buffers[name] = True

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` as a child under ``name``."""
        self._check_name(name, "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._forget(name, keep="_modules")
        self._modules[name] = module

    register_module = add_module

    # -- iteration ------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted name, module)`` for this module (name ``''``) and all below it,
        depth first in registration order; a module reachable twice is listed once."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            child_prefix = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, child_prefix, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        """This module and all below it, in the order of ``named_modules``."""
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, module)`` for each direct child (a module held twice is listed once)."""
        seen = set()
        for name, module in self._modules.items():
            if module is not None and id(module) not in seen:
                seen.add(id(module))
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct child modules, as ``named_children``."""
        for _, module in self.named_children():
            yield module

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for module_prefix, module in modules:
            for name, value in getattr(module, store).items():
                if value is None:
                    continue
                if remove_duplicate:
                    if id(value) in seen:  # a shared parameter is listed once
                        continue
                    seen.add(id(value))
                yield module_prefix + ("." if module_prefix else "") + name, value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, parameter)`` pairs, e.g. ``('0.weight', ...)``."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (of submodules too, if ``recurse``), each shared one once."""
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted name, buffer)`` pairs, as ``named_parameters``."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer (of submodules too, if ``recurse``), each shared one once."""
        for _, buffer in self.named_buffers(recurse=recurse):
            yield buffer

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of parameter elements (each shared parameter counted once)."""
        return sum(p.numel() for p in self.parameters()
                   if p.requires_grad or not trainable_only)

    # -- modes and gradients --------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (dropout active) on this module and all below it."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: mode must be a bool, got {type(mode).__name__}")
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (False) or unfreeze every parameter."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad``: set it to None (default, as PyTorch) or
        fill it with zeros."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.zero_()

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first), then on this module."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- devices and dtypes ---------------------------------------------------------
    def _apply_to_arrays(self, convert: Callable) -> Module:
        """Replace the array of every parameter and buffer (and gradient) by
        ``convert(array)``, in place: the Parameter objects stay the same, so an
        optimizer built before ``model.to('cuda')`` still holds the right ones."""
        for module in self.modules():
            for store in (module._parameters, module._buffers):
                for t in store.values():
                    if t is None:
                        continue
                    t.data = convert(t.data)
                    if t.grad is not None:
                        t.grad.data = convert(t.grad.data)
        return self

    def to(self, *args: str | np.dtype | type, device: str | None = None,
           dtype: np.dtype | type | str | None = None) -> Module:
        """``to(device)``, ``to(dtype)`` or both: move every parameter and buffer to the
        device; cast the floating-point ones to the dtype.  Returns self."""
        for arg in args:
            if isinstance(arg, (np.dtype, type)):
                dtype = arg
            else:
                device = arg
        if device is not None:
            device = backend.normalize_device(device)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype.kind != "f":
                raise TypeError(f"Module.to only accepts floating dtypes, got {dtype}")

        def convert(array):
            if device is not None:
                array = backend.to_device(array, device)
            if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
                array = array.astype(dtype)
            return array

        return self._apply_to_arrays(convert)

    def cuda(self) -> Module:
        """``to('cuda')``: move every parameter and buffer to the GPU; returns self."""
        return self.to("cuda")

    def cpu(self) -> Module:
        """``to('cpu')``: move every parameter and buffer to the host; returns self."""
        return self.to("cpu")

    def float(self) -> Module:
        """Cast floating parameters and buffers to float32; returns self."""
        return self.to(dtypes.float32)

    def double(self) -> Module:
        """Cast floating parameters and buffers to float64; returns self."""
        return self.to(dtypes.float64)

    # -- state dict -----------------------------------------------------------------
    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> dict:
        """Every parameter and persistent buffer by dotted name, in registration order.

        Values are copies of the arrays (``numpy.ndarray`` on CPU, CuPy on GPU): a
        snapshot that later training does not change.  ``keep_vars=True`` gives the
        Tensors themselves instead.  A parameter shared by two submodules appears under
        both names, as in PyTorch.
        """
        out: dict = {}
        for name, module in self.named_modules(prefix=prefix, remove_duplicate=False):
            dot = "." if name else ""
            for key, param in module._parameters.items():
                if param is not None:
                    out[name + dot + key] = param if keep_vars else param.data.copy()
            for key, buffer in module._buffers.items():
                if buffer is not None and key not in module._non_persistent_buffers:
                    out[name + dot + key] = buffer if keep_vars else buffer.data.copy()
        return out

    def load_state_dict(self, state_dict: dict, strict: bool = True) -> IncompatibleKeys:
        """Copy ``state_dict``'s arrays into the existing parameters and buffers (cast to
        their dtype, moved to their device).

        Returns ``(missing_keys, unexpected_keys)``.  Raises one RuntimeError listing
        every problem -- missing and unexpected keys when ``strict``, shape mismatches
        always -- and in that case changes nothing (everything is checked first).
        """
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        problems = []
        sources = {}
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else value
            if not (isinstance(array, np.ndarray) or backend.device_of(array) == "cuda"):
                array = np.asarray(array)
            if array.dtype.kind not in "biuf":
                problems.append(f"{key}: expected a numeric array, got dtype {array.dtype}")
            elif tuple(array.shape) != tuple(target.shape):
                problems.append(f"size mismatch for {key}: copying a param with shape "
                                f"{tuple(array.shape)}, the shape in the current model is "
                                f"{tuple(target.shape)}")
            sources[key] = array
        errors = []
        if strict and missing:
            errors.append("Missing key(s) in state_dict: " + ", ".join(map(repr, missing)))
        if strict and unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(map(repr, unexpected)))
        errors.extend(problems)
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:"
                               "\n\t" + "\n\t".join(errors))
        for key, array in sources.items():
            target = own[key].data
            array = backend.to_device(array, backend.device_of(target))
            target[...] = array.astype(target.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # -- printing -------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside ``Name(...)``; layers override it (``in_features=3, ...``)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _add_indent(repr(module), 2)
                       for name, module in self._modules.items()]
        lines = extra_lines + child_lines
        text = type(self).__name__ + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                text += extra_lines[0]
            else:
                text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"

    def summary(self, input_shape: Sequence[int],
                dtype: np.dtype | type | str | None = None) -> str:
        """Print and return a Keras-style table (layer, output shape, parameters) from a
        forward pass on zeros of ``input_shape`` (batch dim included)."""
        from .summary import summary

        return summary(self, input_shape, dtype=dtype)
