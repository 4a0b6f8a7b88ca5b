"""RMSprop (Hinton's running average of squared gradients)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, _check_nonnegative, _l2_grad, _lerp_


class RMSprop(Optimizer):
    r"""``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False)``.

    PyTorch's algorithm (single-tensor form, same order of operations).  With
    learning rate :math:`\gamma`, smoothing constant :math:`\alpha`, weight decay
    :math:`\lambda` and momentum :math:`\mu`, at step :math:`t`:

    .. math::

        g_t &= \nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1} \\
        v_t &= \alpha\, v_{t-1} + (1 - \alpha)\, g_t^2 \\
        \bar g_t &= \bar g_{t-1} + (1 - \alpha)(g_t - \bar g_{t-1}),\quad
            \tilde v_t = v_t - \bar g_t^2 \ \text{(centered)}, \qquad
            \tilde v_t = v_t \ \text{(otherwise)} \\
        b_t &= \mu\, b_{t-1} + \frac{g_t}{\sqrt{\tilde v_t} + \epsilon},\quad
            \theta_t = \theta_{t-1} - \gamma\, b_t \qquad (\mu > 0) \\
        \theta_t &= \theta_{t-1} - \gamma\, \frac{g_t}{\sqrt{\tilde v_t} + \epsilon}
            \qquad (\mu = 0)

    State per parameter: ``step``, ``square_avg`` (:math:`v`), ``momentum_buffer``
    (:math:`b`, when :math:`\mu > 0`) and ``grad_avg`` (:math:`\bar g`, when centered).
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group) -> None:
        super()._validate_group(group)
        _check_nonnegative(group, "eps", "epsilon value")
        _check_nonnegative(group, "momentum", "momentum value")
        _check_nonnegative(group, "weight_decay", "weight_decay value")
        _check_nonnegative(group, "alpha", "alpha value")

    def _update(self, param, grad, state, group, xp) -> None:
        """One RMSprop step of ``param`` (the rule in the class docstring)."""
        lr = group["lr"]
        alpha = group["alpha"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        momentum = group["momentum"]
        centered = group["centered"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = xp.zeros_like(param)
            if centered:
                state["grad_avg"] = xp.zeros_like(param)
        state["step"] += 1
        square_avg = state["square_avg"]

        owned = None  # a temporary we may overwrite once `grad` is used up
        if weight_decay != 0:
            grad = owned = _l2_grad(xp, param, grad, weight_decay)  # grad + wd * param

        avg = xp.empty_like(param)
        # v <- v * alpha + ((1 - alpha) * g) * g
        square_avg *= alpha
        xp.multiply(grad, 1 - alpha, out=avg)
        avg *= grad
        square_avg += avg
        if centered:
            grad_avg = state.get("grad_avg")
            if grad_avg is None:  # centered switched on after the first step
                grad_avg = state["grad_avg"] = xp.zeros_like(param)
            _lerp_(xp, grad_avg, grad, 1 - alpha, avg)
            # sqrt(v - g_avg * g_avg)
            xp.multiply(grad_avg, grad_avg, out=avg)
            xp.subtract(square_avg, avg, out=avg)
            xp.sqrt(avg, out=avg)
        else:
            xp.sqrt(square_avg, out=avg)
        avg += eps

        if momentum > 0:
            buf = state.get("momentum_buffer")
            if buf is None:  # momentum switched on after the first step
                buf = state["momentum_buffer"] = xp.zeros_like(param)
            # buf <- buf * momentum + g / avg;  param += -lr * buf
            buf *= momentum
            xp.divide(grad, avg, out=avg)
            buf += avg
            xp.multiply(buf, -lr, out=avg)
            param += avg
        else:
            # param += (-lr * g) / avg
            update = xp.multiply(grad, -lr, out=owned)
            update /= avg
            param += update
