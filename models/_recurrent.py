"""Shared pieces of the ready-made models (``CharLM``, ``SequenceClassifier``,
``SequenceTagger``, ``Seq2Seq``).

* :func:`make_recurrent` / :func:`make_cell` map a cell name (``'rnn'``, ``'lstm'``,
  ``'gru'``) to the ``minigrad.nn`` layer / cell, batch-first.
* :func:`check_lengths` validates a ``(B,)`` vector of true sequence lengths.
* :class:`LengthAwareRNN` runs a (possibly bidirectional, multi-layer) recurrent stack
  over a right-padded batch the PyTorch way: ``pack_padded_sequence`` ->
  ``nn.RNN/LSTM/GRU`` -> ``pad_packed_sequence``.  Packed, padding never enters a
  computation, the reverse direction starts at each sequence's own last token, and
  ``h_n`` is taken at each sequence's true end.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = ("rnn", "lstm", "gru")


def _cell_name(cell) -> str:
    name = cell.lower() if isinstance(cell, str) else cell
    if name not in CELLS:
        raise ValueError(f"unknown cell {cell!r}: expected one of {', '.join(map(repr, CELLS))}")
    return name


def make_recurrent(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                   bidirectional: bool = False, dropout: float = 0.0,
                   fused: bool = False) -> nn.Module:
    """``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (batch_first) for ``cell`` in
    ``'rnn' | 'lstm' | 'gru'`` (case-insensitive); ValueError for any other name."""
    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[_cell_name(cell)]
    return layer(input_size, hidden_size, num_layers=num_layers, batch_first=True,
                 dropout=dropout, bidirectional=bidirectional, fused=fused)


def make_cell(cell: str, input_size: int, hidden_size: int) -> nn.Module:
    """``nn.RNNCell`` / ``nn.LSTMCell`` / ``nn.GRUCell`` for ``cell``."""
    layer = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[_cell_name(cell)]
    return layer(input_size, hidden_size)


def check_lengths(lengths, batch: int, steps: int, who: str) -> np.ndarray:
    """``lengths`` (Tensor, list or array) as a host int64 array of shape ``(batch,)``
    with every value in ``[1, steps]``; ValueError naming the bad values otherwise."""
    if isinstance(lengths, mg.Tensor):
        lengths = lengths.numpy()
    arr = np.asarray(lengths)
    if arr.ndim != 1 or arr.shape[0] != batch:
        raise ValueError(f"{who}: lengths must have shape ({batch},) (one per sequence), "
                         f"got shape {tuple(arr.shape)}")
    if arr.size and (arr.dtype.kind not in "iu"):
        raise ValueError(f"{who}: lengths must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = np.nonzero((arr < 1) | (arr > steps))[0]
    if bad.size:
        shown = ", ".join(f"lengths[{i}]={arr[i]}" for i in bad[:5])
        raise ValueError(f"{who}: lengths must be in [1, T={steps}] (T = padded length "
                         f"of the batch), got {shown}")
    return arr


class LengthAwareRNN(nn.Module):
    """A recurrent stack over a right-padded batch ``x`` ``(B, T, input_size)`` with
    true ``lengths`` ``(B,)``.

    ``forward(x, lengths) -> (output (B, T, D*H), final (B, D*H))``, ``D = 2`` if
    bidirectional. ``output[b, t]`` for ``t < lengths[b]`` and ``final`` depend only on
    ``x[b, :lengths[b]]``; ``output`` is 0 past each end.  ``final`` is the last
    layer's ``h_n``: the forward state at ``lengths - 1`` (concatenated, when
    bidirectional, with the reverse state after reading the whole sequence backwards
    from its own last token).

    One :func:`make_recurrent` module (``self.rnn``, ``num_layers``, ``bidirectional``,
    ``dropout`` between layers as in PyTorch) run on the packed batch::

        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, h_n = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, fused: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.cell = _cell_name(cell)
        self.bidirectional = bool(bidirectional)
        self.num_layers = num_layers
        self.rnn = make_recurrent(cell, input_size, hidden_size, num_layers,
                                  self.bidirectional, dropout if num_layers > 1 else 0.0,
                                  fused)

    def forward(self, x, lengths: np.ndarray):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        h_n = state[0] if self.cell == "lstm" else state  # (L*D, B, H), caller's order
        final = mg.cat([h_n[-2], h_n[-1]], dim=-1) if self.bidirectional else h_n[-1]
        return out, final
