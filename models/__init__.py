"""Ready-made models built on ``minigrad.nn``, and the explicit hand-derived BPTT
(``models.bptt``)."""

from . import bptt
from .vanilla_rnn import VanillaRNN
