"""Adagrad (Duchi et al., 2011): per-coordinate rates from the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..backend import get_array_module
from ..tensor import Tensor
from .optimizer import Optimizer, _check_nonnegative, _l2_grad


class Adagrad(Optimizer):
    r"""``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0,
    initial_accumulator_value=0, eps=1e-10, *, maximize=False)``.

    PyTorch's algorithm (single-tensor form, same order of operations).  With learning
    rate :math:`\gamma`, decay :math:`\eta`, weight decay :math:`\lambda`, at step
    :math:`t`:

    .. math::

        g_t &= \nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1}
            \quad (-\nabla \text{ when maximizing}) \\
        \tilde\gamma_t &= \gamma / (1 + (t - 1)\,\eta) \\
        s_t &= s_{t-1} + g_t^2 \\
        \theta_t &= \theta_{t-1} - \tilde\gamma_t\, \frac{g_t}{\sqrt{s_t} + \epsilon}

    State per parameter, created at construction as in PyTorch (so ``state_dict()``
    lists every parameter from the start): ``step`` and ``sum`` (:math:`s`, starting
    at ``initial_accumulator_value``).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                 lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, *,
                 maximize: bool = False):
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value,
                        maximize=maximize)
        self._validate_group(defaults)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p.data, group)

    def _validate_group(self, group) -> None:
        super()._validate_group(group)
        _check_nonnegative(group, "lr_decay", "lr_decay value")
        _check_nonnegative(group, "weight_decay", "weight_decay value")
        _check_nonnegative(group, "initial_accumulator_value",
                           "initial_accumulator_value value")
        _check_nonnegative(group, "eps", "epsilon value")

    @staticmethod
    def _init_state(state: dict, param, group: dict) -> None:
        state["step"] = 0
        state["sum"] = get_array_module(param).full_like(
            param, group["initial_accumulator_value"])

    def _update(self, param, grad, state, group, xp) -> None:
        """One Adagrad step of ``param`` (the rule in the class docstring)."""
        if not state:  # a parameter added by add_param_group after construction
            self._init_state(state, param, group)
        state["step"] += 1
        step = state["step"]
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = _l2_grad(xp, param, grad, group["weight_decay"])  # grad + wd * param
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        total = state["sum"]
        # sum += g * g;  param += -clr * g / (sqrt(sum) + eps)
        total += grad * grad
        std = xp.sqrt(total)
        std += group["eps"]
        update = xp.multiply(grad, -clr)
        update /= std
        param += update
