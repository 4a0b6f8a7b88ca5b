"""Many-to-many sequence tagging (one label per token)."""

from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

from ._recurrent import LengthAwareRNN, check_lengths


class SequenceTagger(nn.Module):
    """Embedding -> (bidirectional) RNN/LSTM/GRU -> Linear, one tag per position.

    Shapes (batch first)::

        x        (B, T) int64 token ids
        lengths  optional (B,) ints in [1, T]; None means every sequence has length T
        logits   (B, T, num_tags)
        tags     (B, T) int64, ``ignore_index`` at positions that carry no label

    With ``lengths``, the logits at valid positions do not depend on the padding
    (the reverse direction reads each sequence backwards from its own last token);
    logits at padded positions are meaningless: give them ``ignore_index`` tags.
    ``dropout`` acts between recurrent layers and before the head (training mode only).

        model = SequenceTagger(vocab_size=100, num_tags=5)
        logits = model(x, lengths)
        loss = model.loss(logits, tags)              # tags == -100 are ignored
    """

    def __init__(self, vocab_size: int, num_tags: int, embed_dim: int = 32,
                 hidden_size: int = 64, cell: str = "lstm", num_layers: int = 1,
                 bidirectional: bool = True, padding_idx: int | None = 0, *,
                 dropout: float = 0.0, fused: bool = False):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"SequenceTagger: num_tags must be >= 1, got {num_tags}")
        self.num_tags = num_tags
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        self.encoder = LengthAwareRNN(cell, embed_dim, hidden_size, num_layers,
                                      bidirectional, dropout, fused)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear((2 if bidirectional else 1) * hidden_size, num_tags)

    def forward(self, x, lengths=None):
        if not isinstance(x, mg.Tensor) or x.ndim != 2 or x.dtype.kind not in "iu":
            got = (f"shape {tuple(x.shape)} and dtype {x.dtype}" if isinstance(x, mg.Tensor)
                   else type(x).__name__)
            raise ValueError(f"SequenceTagger: expected token ids x of shape (B, T) with "
                             f"integer dtype, got {got}")
        batch, steps = x.shape
        if lengths is None:
            lengths = np.full(batch, steps, dtype=np.int64)
        else:
            lengths = check_lengths(lengths, batch, steps, "SequenceTagger")
        out, _ = self.encoder(self.embedding(x), lengths)
        return self.head(self.dropout(out))

    def loss(self, logits, tags, ignore_index: int = -100):
        """Mean cross-entropy over the positions whose tag is not ``ignore_index``."""
        if logits.ndim != 3 or logits.shape[-1] != self.num_tags:
            raise ValueError(f"SequenceTagger.loss: expected logits (B, T, "
                             f"{self.num_tags}), got shape {tuple(logits.shape)}")
        if not isinstance(tags, mg.Tensor) or tuple(tags.shape) != tuple(logits.shape[:2]):
            got = tuple(tags.shape) if isinstance(tags, mg.Tensor) else type(tags).__name__
            raise ValueError(f"SequenceTagger.loss: expected tags of shape "
                             f"{tuple(logits.shape[:2])} (one per position), got {got}")
        if tags.dtype.kind not in "iu":
            raise ValueError(f"SequenceTagger.loss: tags must be integers, got {tags.dtype}")
        return F.cross_entropy(logits.reshape(-1, self.num_tags), tags.reshape(-1),
                               ignore_index=ignore_index)
