"""Many-to-one classification of padded, variable-length sequences."""

from __future__ import annotations

import minigrad as mg
from minigrad import nn

from ._recurrent import LengthAwareRNN, check_lengths


class SequenceClassifier(nn.Module):
    """(Embedding ->) RNN/LSTM/GRU -> Linear over each sequence's state at its TRUE end.

    Shapes (batch first, right-padded)::

        x        (B, T) int64 token ids           (built with vocab_size)
                 (B, T, input_size) float         (built with input_size=..., no embedding)
        lengths  (B,) ints in [1, T]: sequence b is x[b, :lengths[b]]
        logits   (B,) for num_classes == 1 (binary: nn.BCEWithLogitsLoss)
                 (B, num_classes) otherwise (nn.CrossEntropyLoss)

    The features are the last layer's forward output at ``lengths - 1`` and, when
    bidirectional, its reverse state after reading each sequence backwards from its
    own last valid token: the batch runs packed (``pack_padded_sequence(...,
    enforce_sorted=False)``, see ``models._recurrent.LengthAwareRNN``), so the values
    in the padding never change the logits. ``dropout`` acts between recurrent layers and on
    the features before the head (training mode only).

        model = SequenceClassifier(vocab_size=100, num_classes=3, bidirectional=True)
        logits = model(x, lengths)                  # (B, 3)
    """

    def __init__(self, vocab_size: int | None = None, num_classes: int = 2,
                 embed_dim: int = 32, hidden_size: int = 64, cell: str = "lstm",
                 num_layers: int = 1, bidirectional: bool = False,
                 padding_idx: int | None = 0, *, input_size: int | None = None,
                 dropout: float = 0.0, fused: bool = False):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("SequenceClassifier: give exactly one of vocab_size (token "
                             "ids in) and input_size (float features in)")
        if num_classes < 1:
            raise ValueError(f"SequenceClassifier: num_classes must be >= 1, got "
                             f"{num_classes}")
        self.vocab_size, self.input_size = vocab_size, input_size
        self.num_classes = num_classes
        if vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
            features = embed_dim
        else:
            self.embedding = None
            features = input_size
        self.encoder = LengthAwareRNN(cell, features, hidden_size, num_layers,
                                      bidirectional, dropout, fused)
        self.dropout = nn.Dropout(dropout)
        directions = 2 if bidirectional else 1
        self.head = nn.Linear(directions * hidden_size, num_classes)

    def forward(self, x, lengths):
        x = self._check_input(x)
        lengths = check_lengths(lengths, x.shape[0], x.shape[1], "SequenceClassifier")
        if self.embedding is not None:
            x = self.embedding(x)
        _, features = self.encoder(x, lengths)
        logits = self.head(self.dropout(features))
        return logits.squeeze(-1) if self.num_classes == 1 else logits

    def _check_input(self, x):
        if not isinstance(x, mg.Tensor):
            raise ValueError(f"SequenceClassifier: x must be a Tensor, got "
                             f"{type(x).__name__}")
        if self.embedding is not None:
            if x.ndim != 2 or x.dtype.kind not in "iu":
                raise ValueError(f"SequenceClassifier: expected token ids x of shape (B, T) "
                                 f"with integer dtype, got shape {tuple(x.shape)} and "
                                 f"dtype {x.dtype}")
        elif x.ndim != 3 or x.shape[-1] != self.input_size or x.dtype.kind != "f":
            raise ValueError(f"SequenceClassifier: expected float features x of shape "
                             f"(B, T, {self.input_size}), got shape {tuple(x.shape)} and "
                             f"dtype {x.dtype}")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(f"SequenceClassifier: empty batch or sequence, x has shape "
                             f"{tuple(x.shape)}")
        return x
