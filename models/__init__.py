"""Ready-made sequence models on ``minigrad.nn``, and the explicit hand-derived BPTT
(``models.bptt``, plain NumPy/CuPy arrays, no autograd) they are checked against."""

from . import bptt
from .char_lm import CharLM
from .classifier import SequenceClassifier
from .seq2seq import Seq2Seq
from .tagger import SequenceTagger
from .vanilla_rnn import VanillaRNN

__all__ = ["CharLM", "Seq2Seq", "SequenceClassifier", "SequenceTagger", "VanillaRNN", "bptt"]
