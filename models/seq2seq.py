"""Encoder-decoder with attention (Luong dot / Bahdanau additive scores)."""

from __future__ import annotations

import numbers

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ._recurrent import _cell_name, check_lengths, make_cell, make_recurrent

ATTENTIONS = ("dot", "additive", None)
_MASKED = -1e9  # score of a padded source position: exp(-1e9 - max) is exactly 0


class Seq2Seq(nn.Module):
    """Encoder RNN over the source; decoder cells stepped one target token at a time.

    Shapes (batch first)::

        src          (B, S) int64, right-padded; src_lengths (B,) ints in [1, S]
                     (None: every source has length S)
        tgt_in       (B, T) int64: the decoder inputs (teacher forcing), e.g. BOS + y[:-1]
        logits       (B, T, tgt_vocab)   logits[:, t] predicts the token after tgt_in[:, t]
        attention    (B, T, S): rows sum to 1, exactly 0 on padded source positions

    The encoder (``nn.RNN/LSTM/GRU``, ``num_layers``) runs on the packed sources
    (``pack_padded_sequence(..., enforce_sorted=False)``) and gives outputs ``e_s``
    (0 past each end) and its final state at each source's true end, which starts the
    decoder stack (``nn.RNNCell/LSTMCell/GRUCell`` per layer). At step
    ``t`` the top decoder state ``h_t`` scores every source position, Luong-style:

        'dot':      score_s = h_t . e_s
        'additive': score_s = v . tanh(W_q h_t + W_k e_s)        (Bahdanau's score)

    padded positions are set to -1e9, ``a_t = softmax(score)``, the context is
    ``c_t = sum_s a_ts e_s``, and ``logits_t = W_out tanh(W_c [c_t; h_t])``. With
    ``attention=None`` the logits are ``W_out h_t`` and no weights are returned.

        model = Seq2Seq(src_vocab=13, tgt_vocab=13, attention='dot')
        logits, attn = model(src, tgt_in, src_lengths, return_attention=True)
        tokens, attn = model.greedy_decode(src, max_len=10, bos_id=1, eos_id=2)

    ``model.attention_weights`` also holds the (detached) weights of the last call.
    ``dropout`` acts on the embeddings and between recurrent layers (training only).
    """

    def __init__(self, src_vocab: int, tgt_vocab: int, embed_dim: int = 32,
                 hidden_size: int = 64, cell: str = "gru", attention: str | None = "dot",
                 num_layers: int = 1, padding_idx: int | None = 0, *,
                 dropout: float = 0.0, fused: bool = False):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"Seq2Seq: unknown attention {attention!r}: expected 'dot', "
                             f"'additive' or None")
        if num_layers < 1:
            raise ValueError(f"Seq2Seq: num_layers must be >= 1, got {num_layers}")
        self.cell = _cell_name(cell)
        self.attention = attention
        self.tgt_vocab = tgt_vocab
        self.num_layers = num_layers
        self.src_embedding = nn.Embedding(src_vocab, embed_dim, padding_idx=padding_idx)
        self.tgt_embedding = nn.Embedding(tgt_vocab, embed_dim, padding_idx=padding_idx)
        self.encoder = make_recurrent(self.cell, embed_dim, hidden_size, num_layers, False,
                                      dropout if num_layers > 1 else 0.0, fused)
        self.decoder = nn.ModuleList(
            [make_cell(self.cell, embed_dim if k == 0 else hidden_size, hidden_size)
             for k in range(num_layers)])
        self.dropout = nn.Dropout(dropout)
        if attention == "additive":
            self.attn_query = nn.Linear(hidden_size, hidden_size, bias=False)
            self.attn_key = nn.Linear(hidden_size, hidden_size)
            self.attn_v = nn.Linear(hidden_size, 1, bias=False)
        if attention is not None:
            self.attn_combine = nn.Linear(2 * hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, tgt_vocab)
        self.attention_weights = None

    # -- public API -----------------------------------------------------------
    def forward(self, src, tgt_in, src_lengths=None, return_attention: bool = False):
        _check_ids(src, "src")
        _check_ids(tgt_in, "tgt_in")
        if tgt_in.shape[0] != src.shape[0]:
            raise ValueError(f"Seq2Seq: src and tgt_in batch sizes differ: {src.shape[0]} "
                             f"vs {tgt_in.shape[0]}")
        memory = self._encode(src, src_lengths)
        states = memory["state"]
        emb = self.dropout(self.tgt_embedding(tgt_in))
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):
            step_logits, states, w = self._step(emb[:, t], states, memory)
            logits.append(step_logits)
            weights.append(w)
        logits = mg.stack(logits, dim=1)
        attn = mg.stack(weights, dim=1) if self.attention is not None else None
        self.attention_weights = attn.detach() if attn is not None else None
        return (logits, attn) if return_attention else logits

    def greedy_decode(self, src, max_len: int, bos_id: int, eos_id: int,
                      src_lengths=None):
        """Decode by feeding back the argmax token, in eval mode under no_grad.

        Returns ``(tokens, attention)``: ``tokens`` an int64 NumPy array ``(B, L)``,
        ``L <= max_len`` (decoding stops once every row has produced ``eos_id``; a row's
        positions after its first ``eos_id`` are filled with ``eos_id``), ``attention``
        a NumPy array ``(B, L, S)`` (None when the model has no attention).
        """
        if not isinstance(max_len, numbers.Integral) or isinstance(max_len, bool) \
                or max_len < 1:
            raise ValueError(f"greedy_decode: max_len must be an int >= 1, got {max_len!r}")
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if not isinstance(value, numbers.Integral) or not 0 <= value < self.tgt_vocab:
                raise ValueError(f"greedy_decode: {name} must be an int in "
                                 f"[0, tgt_vocab={self.tgt_vocab}), got {value!r}")
        was_training = self.training
        self.eval()
        try:
            with mg.no_grad():
                memory = self._encode(src, src_lengths)
                states = memory["state"]
                batch, device = src.shape[0], src.device
                token = mg.full((batch, 1), int(bos_id), dtype=mg.int64, device=device)
                done = np.zeros(batch, dtype=bool)
                tokens, weights = [], []
                for _ in range(max_len):
                    logits, states, w = self._step(self.tgt_embedding(token)[:, 0], states,
                                                   memory)
                    token = logits.argmax(dim=-1, keepdim=True)
                    step = token.numpy()[:, 0]
                    tokens.append(np.where(done, eos_id, step))
                    weights.append(w.numpy() if w is not None else None)
                    done |= step == eos_id
                    if done.all():
                        break
        finally:
            self.train(was_training)
        attn = np.stack(weights, axis=1) if self.attention is not None else None
        return np.stack(tokens, axis=1).astype(np.int64), attn

    # -- internals ------------------------------------------------------------
    def _encode(self, src, src_lengths):
        """Encoder outputs, key projections, source mask and per-layer initial decoder
        states taken at each source's true end."""
        _check_ids(src, "src")
        batch, steps = src.shape
        if src_lengths is None:
            lengths = np.full(batch, steps, dtype=np.int64)
        else:
            lengths = check_lengths(src_lengths, batch, steps, "Seq2Seq")
        emb = self.dropout(self.src_embedding(src))
        if (lengths == steps).all():
            out, state = self.encoder(emb)
        else:  # packed: the final states are taken at each source's true end
            packed = pack_padded_sequence(emb, lengths, batch_first=True,
                                          enforce_sorted=False)
            out, state = self.encoder(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=steps)
        positions = mg.arange(steps, device=src.device).reshape(1, steps)
        mask = positions < mg.tensor(lengths, device=src.device).reshape(batch, 1)
        if self.cell == "lstm":
            layers = list(zip(state[0].unbind(0), state[1].unbind(0)))
        else:
            layers = list(state.unbind(0))
        keys = self.attn_key(out) if self.attention == "additive" else None
        return {"out": out, "keys": keys, "mask": mask, "state": layers}

    def _step(self, x, states, memory):
        """One decoder step: input embeddings ``x`` (B, E) -> logits (B, V), new states,
        attention weights (B, S) or None."""
        new_states = []
        for k, cell in enumerate(self.decoder):
            if k > 0:
                x = self.dropout(x)
            state = cell(x, states[k])
            new_states.append(state)
            x = state[0] if self.cell == "lstm" else state
        if self.attention is None:
            return self.out(x), new_states, None
        enc = memory["out"]
        if self.attention == "dot":
            scores = (enc @ x.unsqueeze(-1)).squeeze(-1)
        else:
            energy = mg.tanh(memory["keys"] + self.attn_query(x).unsqueeze(1))
            scores = self.attn_v(energy).squeeze(-1)
        weights = F.softmax(mg.where(memory["mask"], scores, _MASKED), dim=-1)
        context = (weights.unsqueeze(1) @ enc).squeeze(1)
        combined = mg.tanh(self.attn_combine(mg.cat([context, x], dim=-1)))
        return self.out(combined), new_states, weights


def _check_ids(x, name: str) -> None:
    if not isinstance(x, mg.Tensor) or x.ndim != 2 or x.dtype.kind not in "iu":
        got = (f"shape {tuple(x.shape)} and dtype {x.dtype}" if isinstance(x, mg.Tensor)
               else type(x).__name__)
        raise ValueError(f"Seq2Seq: expected {name} of shape (B, L) with integer dtype, "
                         f"got {got}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"Seq2Seq: {name} is empty, shape {tuple(x.shape)}")
