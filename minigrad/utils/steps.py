"""Watch the per-timestep states of the recurrent layers while they run.

``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (``fused=False``) build their graph one timestep at
a time; inside ``record_steps()`` every step is reported with the state Tensors it read
and produced, so that they can be inspected, labelled or given hooks::

    with record_steps() as steps:
        out, (h_n, c_n) = lstm(x)
    for s in steps:               # one RecordedStep per layer, direction and timestep
        s.layer, s.direction, s.t, s.states   # states = (h_t, c_t), graph Tensors
    steps.select(layer=0, direction=0)        # those of one layer direction, by time

``models.gradient_flow`` puts ``retain_grad()`` on these states to read dL/dh_t from
autograd; ``utils.viz.make_dot`` groups the graph nodes of each timestep.  Outside the
context the layers pay one ``is None`` test per step.  A fused layer (``fused=True``)
runs as one node and reports no steps, only that it ran (``steps.fused``); a
``PackedSequence`` input takes the variable-length path, which reports none either.
Recording is per thread; nested contexts record into the innermost one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..nn import rnn as _rnn
from ..tensor import Tensor

__all__ = ["RecordedStep", "StepRecord", "record_steps"]


@dataclass(frozen=True)
class RecordedStep:
    """One timestep of one layer direction of a recurrent module.

    ``t`` is the original time index (the reverse direction reports ``T-1`` first);
    ``step_input`` the step's slice of the input projection ``(B, G*H)``; ``previous``
    and ``states`` the state tuples ``(h,)`` / ``(h, c)`` before and after the step,
    each ``(B, H)``; ``constants`` the Tensors every step of the direction shares
    (the transposed ``W_hh``, GRU's ``b_hn``).
    """

    module: Any
    layer: int
    direction: int
    t: int
    step_input: Tensor
    previous: tuple
    states: tuple
    constants: tuple


class StepRecord(list):
    """The :class:`RecordedStep` s of a ``record_steps()`` context, in execution order,
    plus ``fused``: ``(module, layer, direction)`` of every fused layer direction run."""

    def __init__(self) -> None:
        super().__init__()
        self.fused: list[tuple] = []
        self._where = (None, 0, 0)

    # -- called by nn.rnn ------------------------------------------------------
    def enter(self, module, layer: int, direction: int) -> None:
        """A layer direction of ``module`` starts: the next steps belong to it."""
        self._where = (module, layer, direction)
        if module.fused:
            self.fused.append(self._where)

    def step(self, t: int, step_input: Tensor, previous: tuple, states: tuple,
             constants: tuple) -> None:
        """Record one timestep of the current layer direction."""
        module, layer, direction = self._where
        shared = tuple(c for c in constants if isinstance(c, Tensor))
        self.append(RecordedStep(module, layer, direction, t, step_input, tuple(previous),
                                 tuple(states), shared))

    # -- queries ---------------------------------------------------------------
    def select(self, module=None, layer: int | None = None,
               direction: int | None = None) -> list[RecordedStep]:
        """The recorded steps matching the given module / layer / direction, sorted by
        ``t`` (original time order, also for the reverse direction)."""
        chosen = [s for s in self
                  if (module is None or s.module is module)
                  and (layer is None or s.layer == layer)
                  and (direction is None or s.direction == direction)]
        return sorted(chosen, key=lambda s: s.t)


@contextmanager
def record_steps() -> Iterator[StepRecord]:
    """Record every timestep the recurrent layers run in this thread (see module doc)."""
    record = StepRecord()
    previous = getattr(_rnn._watch, "observer", None)
    _rnn._watch.observer = record
    try:
        yield record
    finally:
        _rnn._watch.observer = previous
