"""Adam and AdamW (Adam with decoupled weight decay)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

from ..tensor import Tensor
from .optimizer import Optimizer, _check_nonnegative, _l2_grad, _lerp_


class Adam(Optimizer):
    r"""``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    amsgrad=False)``.

    PyTorch's algorithm (single-tensor form, same order of operations).  With
    learning rate :math:`\gamma`, weight decay :math:`\lambda`, at step :math:`t`:

    .. math::

        g_t &= \nabla_\theta f(\theta_{t-1}) + \lambda\,\theta_{t-1}
            \qquad \text{(L2 penalty added to the gradient)} \\
        m_t &= m_{t-1} + (1 - \beta_1)(g_t - m_{t-1})
            \quad (= \beta_1 m_{t-1} + (1 - \beta_1) g_t) \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2)\, g_t^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \ \text{(amsgrad)}, \quad
            \hat v_t = v_t \ \text{(otherwise)} \\
        \theta_t &= \theta_{t-1} - \frac{\gamma}{1 - \beta_1^t}\,
            \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}

    State per parameter: ``step`` (an int), ``exp_avg`` (:math:`m`), ``exp_avg_sq``
    (:math:`v`) and, with amsgrad, ``max_exp_avg_sq``.
    """

    _decoupled_weight_decay = False

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad)
        self._validate_group(defaults)
        super().__init__(params, defaults)

    def _validate_group(self, group) -> None:
        super()._validate_group(group)
        _check_nonnegative(group, "eps", "epsilon value")
        _check_nonnegative(group, "weight_decay", "weight_decay value")
        group["betas"] = _check_betas(group["betas"])

    def _update(self, param, grad, state, group, xp) -> None:
        """One Adam step of ``param`` (the rule in the class docstring)."""
        lr = group["lr"]
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        weight_decay = group["weight_decay"]
        amsgrad = group["amsgrad"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
            if amsgrad:
                state["max_exp_avg_sq"] = xp.zeros_like(param)
        exp_avg = state["exp_avg"]
        exp_avg_sq = state["exp_avg_sq"]
        state["step"] += 1
        step = state["step"]

        owned = None  # a temporary we may overwrite once `grad` is used up
        if weight_decay != 0:
            if self._decoupled_weight_decay:
                param *= 1 - lr * weight_decay
            else:
                grad = owned = _l2_grad(xp, param, grad, weight_decay)  # grad + wd * param

        scratch = xp.empty_like(param)
        # m <- m.lerp(g, 1 - beta1)
        _lerp_(xp, exp_avg, grad, 1 - beta1, scratch)
        # v <- v * beta2 + ((1 - beta2) * g) * g
        exp_avg_sq *= beta2
        xp.multiply(grad, 1 - beta2, out=scratch)
        scratch *= grad
        exp_avg_sq += scratch

        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2 ** 0.5
        if amsgrad:
            max_exp_avg_sq = state.get("max_exp_avg_sq")
            if max_exp_avg_sq is None:  # amsgrad switched on after the first step
                max_exp_avg_sq = state["max_exp_avg_sq"] = xp.zeros_like(param)
            xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
            second = max_exp_avg_sq
        else:
            second = exp_avg_sq
        # denom = sqrt(v) / sqrt(bc2) + eps
        denom = xp.sqrt(second, out=scratch)
        denom /= bias_correction2_sqrt
        denom += eps
        # param += (-step_size * m) / denom
        update = xp.multiply(exp_avg, -step_size, out=owned)
        update /= denom
        param += update


class AdamW(Adam):
    r"""``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
    amsgrad=False)``: Adam with *decoupled* weight decay (Loshchilov & Hutter).

    The decay shrinks the parameter directly, before the Adam step, instead of
    being added to the gradient:

    .. math::

        \theta_{t-1} &\leftarrow \theta_{t-1}\,(1 - \gamma\lambda) \\
        g_t &= \nabla_\theta f(\theta_{t-1}) \quad \text{(no penalty term)}

    and then the moment updates and the step exactly as in :class:`Adam`.
    """

    _decoupled_weight_decay = True

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad)


def _check_betas(betas) -> tuple:
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}") from None
    for i, beta in enumerate((beta1, beta2)):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real):
            raise TypeError(f"Invalid beta parameter at index {i}: expected a number, "
                            f"got {beta!r}")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta} (must be in [0, 1))")
    return (beta1, beta2)
