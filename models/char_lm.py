"""A character-level language model: Embedding -> RNN/LSTM/GRU -> Linear."""

from __future__ import annotations

import math
import numbers

import minigrad as mg
from minigrad import nn

from ._recurrent import make_recurrent


class CharLM(nn.Module):
    """Next-token model over a vocabulary of ``vocab_size`` symbols (batch first).

    Shapes::

        idx     (B, T) int64, values in [0, vocab_size)
        logits  (B, T, vocab_size)   logits[:, t] predicts idx[:, t + 1]
        state   the recurrent layer's final state: h_n (num_layers, B, hidden_size),
                or (h_n, c_n) for cell='lstm'

    ``dropout`` acts between recurrent layers and on the last layer's output (training
    mode only).

        model = CharLM(vocab_size=65)
        logits, state = model(idx)                  # train with cross-entropy
        logits, state = model(next_idx, state)      # continue (truncated BPTT: detach)
        model.generate([3, 7], length=100, temperature=0.8, top_k=10)  # list[int]
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 128,
                 num_layers: int = 1, cell: str = "lstm", dropout: float = 0.0,
                 fused: bool = False):
        super().__init__()
        if vocab_size < 1:
            raise ValueError(f"CharLM: vocab_size must be >= 1, got {vocab_size}")
        self.vocab_size = vocab_size
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = make_recurrent(cell, embed_dim, hidden_size, num_layers, False,
                                  dropout if num_layers > 1 else 0.0, fused)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, idx, state=None):
        if not isinstance(idx, mg.Tensor) or idx.ndim != 2 or idx.dtype.kind not in "iu":
            got = (f"a {idx.ndim}-D {idx.dtype} tensor" if isinstance(idx, mg.Tensor)
                   else type(idx).__name__)
            raise ValueError(f"CharLM: expected idx of shape (B, T) with integer dtype, "
                             f"got {got}")
        out, state = self.rnn(self.embedding(idx), state)
        return self.head(self.dropout(out)), state

    def generate(self, prompt, length: int, temperature: float = 1.0,
                 top_k: int | None = None) -> list[int]:
        """Sample ``length`` new token ids after ``prompt`` (a non-empty list of ids or a
        1-D integer Tensor) and return them (the prompt is not included).

        The prompt is run once; each new token is then fed with the carried state.
        Logits are divided by ``temperature`` (> 0; small = greedier) and, with
        ``top_k``, all but the ``top_k`` largest are dropped before sampling from the
        softmax. Randomness comes from minigrad's seeded generator
        (``mg.manual_seed`` makes it repeatable). Runs in eval mode under no_grad and
        restores the previous mode.
        """
        tokens = self._check_generate(prompt, length, temperature, top_k)
        device = self.embedding.weight.device
        was_training = self.training
        self.eval()
        out: list[int] = []
        try:
            with mg.no_grad():
                logits, state = self(mg.tensor([tokens], dtype=mg.int64, device=device))
                for i in range(length):
                    token = _sample(logits[0, -1], temperature, top_k)
                    out.append(token)
                    if i + 1 < length:
                        step = mg.tensor([[token]], dtype=mg.int64, device=device)
                        logits, state = self(step, state)
        finally:
            self.train(was_training)
        return out

    def _check_generate(self, prompt, length, temperature, top_k) -> list[int]:
        if isinstance(prompt, mg.Tensor):
            if prompt.ndim != 1 or prompt.dtype.kind not in "iu":
                raise ValueError(f"generate: a Tensor prompt must be 1-D of integer dtype, "
                                 f"got shape {tuple(prompt.shape)} and dtype {prompt.dtype}")
            prompt = prompt.tolist()
        tokens = list(prompt)
        if not tokens:
            raise ValueError("generate: prompt must hold at least one token id")
        for t in tokens:
            if not isinstance(t, numbers.Integral) or isinstance(t, bool):
                raise ValueError(f"generate: prompt token ids must be ints, got {t!r}")
            if not 0 <= t < self.vocab_size:
                raise ValueError(f"generate: prompt token id {t} out of range "
                                 f"[0, {self.vocab_size})")
        if not isinstance(length, numbers.Integral) or isinstance(length, bool) or length < 0:
            raise ValueError(f"generate: length must be an int >= 0, got {length!r}")
        if (not isinstance(temperature, numbers.Real) or isinstance(temperature, bool)
                or not math.isfinite(temperature) or temperature <= 0):
            raise ValueError(f"generate: temperature must be a finite number > 0, got "
                             f"{temperature!r}")
        if top_k is not None and (not isinstance(top_k, numbers.Integral)
                                  or isinstance(top_k, bool)
                                  or not 1 <= top_k <= self.vocab_size):
            raise ValueError(f"generate: top_k must be None or an int in "
                             f"[1, vocab_size={self.vocab_size}], got {top_k!r}")
        return [int(t) for t in tokens]


def _sample(logits, temperature: float, top_k: int | None = None,
            generator: mg.Generator | None = None) -> int:
    """One id drawn from ``softmax(logits / temperature)`` restricted to the ``top_k``
    largest logits (exactly k kept; ties broken by lower id): ``topk`` then
    ``multinomial`` on the 1-D ``logits`` (a Tensor or an array), in float64 on its
    device.  Draws come from ``generator`` (default: minigrad's seeded stream)."""
    z = (logits if isinstance(logits, mg.Tensor) else mg.tensor(logits)).double() / temperature
    ids = None
    if top_k is not None and top_k < z.shape[0]:
        z, ids = z.topk(top_k)
    pick = z.softmax(0).multinomial(1, generator=generator)
    return int((pick if ids is None else ids[pick]).item())
