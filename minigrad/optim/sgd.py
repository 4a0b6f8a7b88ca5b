"""Stochastic gradient descent, with optional momentum, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, _check_nonnegative, _l2_grad


class SGD(Optimizer):
    r"""``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False)``.

    PyTorch's algorithm (single-tensor form, same order of operations).  With learning
    rate :math:`\gamma`, weight decay :math:`\lambda`, momentum :math:`\mu` and
    dampening :math:`\tau`, at step :math:`t` for each parameter :math:`\theta`:

    .. math::

        g_t &= \nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        b_t &= g_t \ (t = 1), \qquad b_t = \mu\, b_{t-1} + (1 - \tau)\, g_t \ (t > 1) \\
        g_t &\leftarrow g_t + \mu\, b_t \ \text{(nesterov)}, \qquad
            g_t \leftarrow b_t \ \text{(otherwise)} \\
        \theta_t &= \theta_{t-1} - \gamma\, g_t

    (the momentum lines only when :math:`\mu \ne 0`).  State per parameter:
    ``momentum_buffer`` (:math:`b`), only when momentum is used.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0,
                 nesterov: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group) -> None:
        super()._validate_group(group)
        _check_nonnegative(group, "momentum", "momentum value")
        _check_nonnegative(group, "dampening", "dampening value")
        _check_nonnegative(group, "weight_decay", "weight_decay value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"Nesterov momentum requires a momentum and zero dampening (got momentum="
                f"{group['momentum']}, dampening={group['dampening']})")

    def _needs_state(self, group) -> bool:
        return group["momentum"] != 0  # the momentum buffer is the only state

    def _update(self, param, grad, state, group, xp) -> None:
        """One SGD step of ``param`` (the rule in the class docstring)."""
        lr = group["lr"]
        momentum = group["momentum"]
        dampening = group["dampening"]
        weight_decay = group["weight_decay"]
        owned = False  # may `grad` be overwritten (a temporary of ours)?
        if weight_decay != 0:
            grad = _l2_grad(xp, param, grad, weight_decay)  # grad + wd * param
            owned = True
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad if owned else grad.copy()
                state["momentum_buffer"] = buf
                owned = False  # now the buffer
            else:
                buf *= momentum
                if dampening == 0:
                    buf += grad
                else:
                    buf += xp.multiply(grad, 1.0 - dampening)
            if group["nesterov"]:
                # grad + momentum * buf
                step_dir = xp.multiply(buf, momentum)
                step_dir += grad
                grad, owned = step_dir, True
            else:
                grad, owned = buf, False
        # param += (-lr) * grad
        if owned:
            grad *= -lr
            param += grad
        else:
            param += xp.multiply(grad, -lr)
