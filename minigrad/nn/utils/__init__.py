"""``nn.utils``, with PyTorch's names: gradient clipping (``clip_grad``), parameters
as one vector (``convert_parameters``), ``consume_prefix_in_state_dict_if_present``
(DDP checkpoints) and variable-length sequences (``rnn``: ``PackedSequence``,
``pad_sequence``, ``pack_padded_sequence``, ...)."""

from ..parallel._utils import consume_prefix_in_state_dict_if_present
from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .convert_parameters import parameters_to_vector, vector_to_parameters

__all__ = ["clip_grad_norm_", "clip_grad_value_",
           "consume_prefix_in_state_dict_if_present", "parameters_to_vector", "rnn",
           "vector_to_parameters"]
