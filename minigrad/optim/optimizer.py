"""``Optimizer``: the base class of every optimizer (PyTorch's semantics).

An optimizer holds

* ``param_groups``: a list of dicts.  Each has ``'params'`` (a list of leaf Tensors)
  and its own copy of every option (``lr``, ``momentum``, ...).  An option a group
  does not give falls back to the optimizer's ``defaults``;
* ``state``: a dict keyed by parameter (Tensors hash by identity) holding the
  per-parameter buffers (momentum, running averages, step counts).

``step()`` is written once, here: it walks every parameter that has a gradient and
calls the subclass's ``_update(param, grad, state, group, xp)``, which applies the
update rule to the raw arrays (``p.data`` in place, from ``p.grad.data``), so an
update records no graph and keeps each parameter's dtype and device.

``state_dict()`` numbers the parameters ``0, 1, 2, ...`` in the order they appear
across the groups (as PyTorch does), so a state dict can be loaded into a freshly
built optimizer over different Tensor objects with the same layout.
"""

from __future__ import annotations

import numbers
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .. import backend
from ..autograd.grad_mode import enable_grad
from ..tensor import Tensor


class _RequiredParameter:
    """Marks a default that every param group must give (no fallback)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class: ``Optimizer(params, defaults)``.

    ``params``: an iterable of Tensors, or of dicts (param groups), each with a
    ``'params'`` entry and optionally its own options.  ``defaults``: the options
    (and their values) a group falls back to.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]],
                 defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                "or dicts, but got a Tensor (pass [tensor] or model.parameters())")
        if isinstance(params, (dict, set)):
            raise TypeError(
                f"params argument given to the optimizer should be an ordered iterable "
                f"(a list) of Tensors or of param-group dicts, got a {type(params).__name__}")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # -- groups ----------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (with optional per-group options) to optimize."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param group must have a 'params' entry (a list of Tensors)")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets changes between runs; use a list instead")
        else:
            params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    "can't optimize a non-leaf Tensor (one computed from others, with a "
                    "grad_fn); optimize the leaves it comes from, or pass .detach()"
                    ".requires_grad_()")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("optimizer parameter group contains the same parameter more "
                             "than once")
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")

        group = {"params": params}
        group.update((k, v) for k, v in param_group.items() if k != "params")
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        self._validate_group(group)
        self.param_groups.append(group)

    def _validate_group(self, group: dict[str, Any]) -> None:
        """Check (and normalise) one group's options; subclasses extend it."""
        _check_nonnegative(group, "lr", "learning rate")

    # -- the training-loop API -------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``.grad = None`` (or fill them with zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.grad_fn is not None:
                        p.grad = p.grad.detach()
                    p.grad.data.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a ``.grad``; returns ``closure()``'s
        loss when a closure is given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            needs_state = self._needs_state(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                param = p.data
                xp = backend.get_array_module(param)
                state = self.state[p] if needs_state else None
                self._update(param, p.grad.data, state, group, xp)
        return loss

    def _update(self, param, grad, state, group, xp) -> None:
        """Apply the update rule to one parameter (subclasses implement this).

        ``param``: the parameter's array, updated in place.  ``grad``: its gradient
        array (read only: it is ``p.grad``'s).  ``state``: the parameter's dict in
        ``self.state`` (filled on the first step; None when ``_needs_state(group)``
        is false).  ``group``: its param group (the options).  ``xp``: the array
        module, NumPy or CuPy.
        """
        raise NotImplementedError

    def _needs_state(self, group) -> bool:
        """Whether the parameters of ``group`` keep per-parameter state (their entry in
        ``self.state`` is only created when they do)."""
        return True

    @staticmethod
    def _eval_closure(closure):
        """``closure()`` (re-evaluates the loss, with grad enabled), or None."""
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # -- checkpoints -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{'state': {index: {name: array or number}}, 'param_groups': [...]}``.

        Parameters are replaced by their index, counted across the groups in order;
        arrays are copies (on the parameter's device), so the result is a snapshot.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                entry = self.state.get(p)
                if entry:
                    state[index[id(p)]] = {k: _snapshot(v) for k, v in entry.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a ``state_dict()`` (e.g. from ``mg.load``) into this optimizer.

        The groups must have the same number of parameters as this optimizer's;
        state arrays are copied onto each parameter's device (float ones cast to
        its dtype).  On any error nothing is changed.
        """
        if (not isinstance(state_dict, dict) or "state" not in state_dict
                or "param_groups" not in state_dict):
            raise ValueError("load_state_dict: expected a dict with 'state' and 'param_groups' "
                             "(as returned by Optimizer.state_dict())")
        saved_groups = state_dict["param_groups"]
        saved_state = state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise ValueError("load_state_dict: 'param_groups' must be a list and 'state' a dict")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter group(s), but the "
                f"optimizer has {len(self.param_groups)}")
        id_map: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"load_state_dict: parameter group {i} is not a dict with "
                                 f"a 'params' entry")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"loaded state dict's parameter group {i} has {len(saved['params'])} "
                    f"parameter(s), but the optimizer's group {i} has {len(group['params'])}")
            for key, p in zip(saved["params"], group["params"]):
                id_map[_as_index(key)] = p

        new_state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, entry in saved_state.items():
            index = _as_index(key)
            if index not in id_map:
                raise ValueError(f"load_state_dict: state for parameter {key!r}, which is in "
                                 f"no parameter group")
            if not isinstance(entry, dict):
                raise ValueError(f"load_state_dict: state of parameter {key!r} must be a dict, "
                                 f"got {type(entry).__name__}")
            p = id_map[index]
            new_state[p] = {name: _cast_state(p, index, name, value)
                            for name, value in entry.items()}

        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            options = {"params": group["params"]}
            options.update((k, v) for k, v in saved.items() if k != "params")
            for name, default in self.defaults.items():
                options.setdefault(name, default)
            self._validate_group(options)
            new_groups.append(options)

        # everything checked: commit (group dicts updated in place, so references to
        # them, e.g. a scheduler's, stay valid)
        self.state = new_state
        for group, options in zip(self.param_groups, new_groups):
            group.clear()
            group.update(options)

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# --- helpers ---------------------------------------------------------------------------


def _check_nonnegative(group: dict, key: str, label: str) -> None:
    value = group[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"Invalid {label}: expected a number, got {value!r}")
    if not value >= 0.0:  # also rejects NaN
        raise ValueError(f"Invalid {label}: {value} (must be >= 0)")


def _as_index(key) -> int:
    """A state-dict parameter index: an int (or a digit string, e.g. from JSON)."""
    if isinstance(key, str) and key.isdigit():
        return int(key)
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return int(key)
    raise ValueError(f"load_state_dict: parameter indices must be ints, got {key!r}")


def _snapshot(value):
    """A copy of a state value (arrays copied on their device; containers rebuilt)."""
    if isinstance(value, Tensor):
        return value.data.copy()
    if _is_array(value):
        return value.copy()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_snapshot(v) for v in value)
    return value


def _cast_state(p: Tensor, index: int, name: str, value):
    """A loaded state value made ready for parameter ``p``: arrays copied to its device
    (floating ones cast to its dtype), after checking their shape."""
    if isinstance(value, Tensor):
        value = value.data
    if not _is_array(value):
        return value
    if name == "step" and value.size == 1:  # PyTorch keeps the step count in a tensor
        number = backend.to_numpy(value).item()
        return int(number) if float(number).is_integer() else number
    if value.ndim > 0 and tuple(value.shape) != tuple(p.shape):
        raise ValueError(
            f"load_state_dict: state '{name}' of parameter {index} has shape "
            f"{tuple(value.shape)}, but the parameter has shape {tuple(p.shape)}")
    moved = backend.to_device(value, p.device)
    dtype = p.dtype if value.dtype.kind == "f" else value.dtype
    return moved.astype(dtype, copy=moved is value)


def _is_array(value) -> bool:
    """A NumPy or CuPy array (not a NumPy scalar)."""
    return isinstance(value, np.ndarray) or backend.device_of(value) == "cuda"


def _l2_grad(xp, param, grad, weight_decay: float):
    """``grad + weight_decay * param`` (the gradient plus the L2 penalty's) as a fresh
    array, computed as ``weight_decay * param`` first, then ``+ grad``; ``grad`` is
    left alone."""
    out = xp.multiply(param, weight_decay)
    out += grad
    return out


def _lerp_(xp, start, end, weight: float, scratch) -> None:
    """``start.lerp_(end, weight)`` in place, with PyTorch's formula:
    ``start + w (end - start)`` for ``|w| < 0.5``, else ``end - (end - start)(1 - w)``.
    ``scratch`` is a work array shaped like ``start`` (overwritten)."""
    xp.subtract(end, start, out=scratch)
    if abs(weight) < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1.0 - weight
        xp.subtract(end, scratch, out=start)
