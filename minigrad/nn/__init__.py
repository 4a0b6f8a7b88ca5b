"""``minigrad.nn``: modules, layers, losses, initialization and utilities, with
PyTorch's names (``from minigrad import nn``; ``import minigrad.nn.functional as F``)."""

from . import functional, init, utils
from .containers import ModuleDict, ModuleList, Sequential
from .layers import (
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    LogSoftmax,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .losses import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .parameter import Parameter
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
