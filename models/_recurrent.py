"""Shared pieces of the ready-made models (``CharLM``, ``SequenceClassifier``,
``SequenceTagger``, ``Seq2Seq``).

* :func:`make_recurrent` / :func:`make_cell` map a cell name (``'rnn'``, ``'lstm'``,
  ``'gru'``) to the ``minigrad.nn`` layer / cell, batch-first.
* :func:`check_lengths` validates a ``(B,)`` vector of true sequence lengths.
* :class:`LengthAwareRNN` runs a (possibly bidirectional, multi-layer) recurrent stack
  over a right-padded batch so that padding is provably irrelevant to every valid
  position: the forward direction is causal, and the reverse direction runs on each
  sequence reversed *within its own length* (an index gather), so it too reads the
  valid tokens before any padding.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad import nn

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


def reverse_index(lengths: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """An index ``(rows, cols)`` such that ``x[rows, cols]`` reverses each sequence of
    ``x`` (B, T, ...) within its length and leaves the padding where it is. It is its
    own inverse."""
    t = np.arange(steps)[None, :]
    length = lengths[:, None]
    cols = np.where(t < length, length - 1 - t, t)
    rows = np.arange(lengths.shape[0])[:, None]
    return rows, cols


class LengthAwareRNN(nn.Module):
    """A recurrent stack over a right-padded batch ``x`` ``(B, T, input_size)`` with
    true ``lengths`` ``(B,)``.

    ``forward(x, lengths) -> (output (B, T, D*H), final (B, D*H))``, ``D = 2`` if
    bidirectional. ``output[b, t]`` for ``t < lengths[b]`` and ``final`` depend only on
    ``x[b, :lengths[b]]`` (positions ``t >= lengths[b]`` of ``output`` are junk).
    ``final`` is the last layer's forward state at ``lengths - 1`` concatenated with
    its reverse state after reading the whole sequence (position 0), as PyTorch's
    ``h_n`` for packed sequences.

    Unidirectional: one ``num_layers`` layer from :func:`make_recurrent`. Bidirectional:
    per layer one forward and one reverse single-layer module (``forward_layers``,
    ``reverse_layers``); layer ``k+1`` reads both directions of layer ``k`` as in
    ``nn.LSTM(bidirectional=True)``. ``dropout`` acts between layers only, as in
    PyTorch.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, fused: bool = False):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.bidirectional = bool(bidirectional)
        self.num_layers = num_layers
        if not self.bidirectional:
            self.rnn = make_recurrent(cell, input_size, hidden_size, num_layers, False,
                                      dropout if num_layers > 1 else 0.0, fused)
            return
        sizes = [input_size] + [2 * hidden_size] * (num_layers - 1)
        self.forward_layers = nn.ModuleList(
            [make_recurrent(cell, n, hidden_size, 1, False, 0.0, fused) for n in sizes])
        self.reverse_layers = nn.ModuleList(
            [make_recurrent(cell, n, hidden_size, 1, False, 0.0, fused) for n in sizes])
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, lengths: np.ndarray):
        batch, steps = x.shape[0], x.shape[1]
        rows = np.arange(batch)
        last = lengths - 1
        if not self.bidirectional:
            out, _ = self.rnn(x)
            return out, out[rows, last]
        rev = reverse_index(lengths, steps)
        for k, (fwd, bwd) in enumerate(zip(self.forward_layers, self.reverse_layers)):
            if k > 0:
                x = self.dropout(x)
            out_f, _ = fwd(x)
            out_b, _ = bwd(x[rev])
            out_b = out_b[rev]  # back to the original order (the gather is an involution)
            x = mg.cat([out_f, out_b], dim=-1)
        return x, mg.cat([out_f[rows, last], out_b[:, 0]], dim=-1)
