"""Learning-rate schedulers (PyTorch's ``torch.optim.lr_scheduler`` semantics).

A scheduler changes ``group['lr']`` of every param group of an optimizer.  Call
``scheduler.step()`` once per epoch (or per iteration), *after* ``optimizer.step()``:

    for epoch in range(n):
        train_one_epoch(model, optimizer)   # optimizer.step() inside
        scheduler.step()

Construction records each group's starting rate as ``group['initial_lr']`` (the
``base_lrs``) and counts as step 0: ``last_epoch`` is 0 afterwards and the rate is
still the initial one.  Like PyTorch's, the schedules are computed *recursively*
(each new rate from the current ``group['lr']``), so they compose with manual
changes of the rate; the closed forms in the docstrings give the same numbers.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR"]


class LRScheduler:
    """Base class.  Subclasses implement ``get_lr()`` (the new rate of each group,
    from the current ones; called with ``last_epoch`` already advanced) and may give
    ``_get_closed_form_lr()`` (used by ``step(epoch)``)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] "
                                   f"when resuming an optimizer (last_epoch={last_epoch})")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """The new rate of each group (subclasses implement it)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The rate of each group as set by the last ``step()``."""
        return self._last_lr

    def step(self, epoch: int | None = None) -> None:
        """Advance the schedule by one (or jump to ``epoch``, deprecated as in
        PyTorch) and write the new rates into the optimizer's groups."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn("passing an epoch to scheduler.step() is deprecated (as in "
                          "PyTorch); call step() once per epoch", UserWarning, stacklevel=2)
            self.last_epoch = epoch
            closed_form = getattr(self, "_get_closed_form_lr", None)
            values = closed_form() if closed_form is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer: plain numbers and lists (``mg.save``-able)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a ``state_dict()``.  The rates themselves live in the optimizer's
        groups: load the optimizer's state dict as well."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"load_state_dict: expected a dict, got {type(state_dict).__name__}")
        if "optimizer" in state_dict:
            raise ValueError("load_state_dict: a scheduler state dict has no 'optimizer' entry")
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, last_lr={self._last_lr})"


_LRScheduler = LRScheduler  # PyTorch's old name


class StepLR(LRScheduler):
    r"""Multiply the rate by ``gamma`` every ``step_size`` steps:

    .. math:: \eta_t = \eta_0 \, \gamma^{\lfloor t / \text{step\_size} \rfloor}
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        if (isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral)
                or step_size <= 0):
            raise ValueError(f"StepLR: step_size must be a positive int, got {step_size!r}")
        self.step_size = int(step_size)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current rates, times ``gamma`` when ``last_epoch`` is a positive multiple
        of ``step_size``."""
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size)
                for base_lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    r"""Multiply the rate by ``gamma`` every step:  :math:`\eta_t = \eta_0\,\gamma^t`."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The current rates times ``gamma`` (unchanged at step 0)."""
        if self.last_epoch == 0:
            return [group["lr"] for group in self.optimizer.param_groups]
        return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** self.last_epoch for base_lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    r"""Cosine annealing from the initial rate :math:`\eta_0` down to ``eta_min``
    over ``T_max`` steps (and back up over the next ``T_max``: it is periodic):

    .. math::

        \eta_t = \eta_{min} + \tfrac12 (\eta_0 - \eta_{min})
            \left(1 + \cos\frac{\pi t}{T_{max}}\right)

    computed, as in PyTorch, by the equivalent recursion

    .. math::

        \eta_{t} = \eta_{min} + (\eta_{t-1} - \eta_{min})\,
            \frac{1 + \cos(\pi t / T_{max})}{1 + \cos(\pi (t - 1) / T_{max})}

    (with the special case :math:`t - 1 - T_{max} \equiv 0 \pmod{2 T_{max}}`, where the
    denominator vanishes: :math:`\eta_t = \eta_{t-1} + (\eta_0 - \eta_{min})
    (1 - \cos(\pi / T_{max})) / 2`).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        if isinstance(T_max, bool) or not isinstance(T_max, numbers.Real) or not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be positive, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        """The next rate of each group, by the recursion in the class docstring."""
        groups = self.optimizer.param_groups
        if self.last_epoch == 0:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and self.last_epoch > 0:
            return [self.eta_min + (base_lr - self.eta_min)
                    * (1 + math.cos(self.last_epoch * math.pi / self.T_max)) / 2
                    for base_lr in self.base_lrs]
        if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
            return [group["lr"] + (base_lr - self.eta_min)
                    * (1 - math.cos(math.pi / self.T_max)) / 2
                    for base_lr, group in zip(self.base_lrs, groups)]
        return [(1 + math.cos(math.pi * self.last_epoch / self.T_max))
                / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
                * (group["lr"] - self.eta_min) + self.eta_min
                for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min)
                * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]
