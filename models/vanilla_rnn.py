"""The classic character-level vanilla RNN, trainable two ways from the same weights.

The model
---------
For a one-hot input sequence ``x_1 .. x_T`` (each ``x_t`` a vector of ``V`` entries,
``V`` = vocabulary size) and hidden size ``H``::

    h_t      = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      h_0 = 0      (H,)
    logits_t = W_out h_t + b_out                                             (V,)
    p_t      = softmax(logits_t)                                             (V,)
    L        = -(1/N) sum_{b,t} log p_t[y_t]        (mean over the N counted targets)

The parameters live in ``nn.RNN`` / ``nn.Linear`` layout (PyTorch's names and shapes)::

    rnn.weight_ih_l0 (H, V)   rnn.weight_hh_l0 (H, H)   rnn.bias_ih_l0 (H,)   rnn.bias_hh_l0 (H,)
    out.weight       (V, H)   out.bias         (V,)

Two ways to train
-----------------
* :meth:`VanillaRNN.manual_step` -- everything by hand on plain arrays: the forward and
  the BPTT of the recurrent layer come from :mod:`models.bptt`, the softmax
  cross-entropy and the output layer's gradients are derived below, the gradients are
  clipped element-wise and an SGD update is applied in place.  No autograd at all.
* :meth:`VanillaRNN.autograd_step` -- the PyTorch way: ``forward`` through
  ``minigrad.nn``, ``F.cross_entropy``, ``loss.backward()``, ``nn.utils.clip_grad_*``
  and an optimizer step.

From the same weights both give the same loss after every step (float64: equal to
rounding, ~1e-16), which is the point: BPTT is just the chain rule on the unrolled graph.

Typical use (the "hello" example)::

    import minigrad as mg
    from models import VanillaRNN
    from models.vanilla_rnn import build_vocab

    mg.manual_seed(0)
    char_to_idx, idx_to_char = build_vocab("hello")         # {'e': 0, 'h': 1, 'l': 2, 'o': 3}
    model = VanillaRNN(len(char_to_idx), 16, dtype=mg.float64)
    history = model.train_words(["hello"], char_to_idx, epochs=100, lr=0.5)
    model.predict_next("hell")                              # 'ello' (next char at each step)
    model.predict("h", char_to_idx, idx_to_char, 4)         # 'ello' (fed back one by one)

The study notes' NumPy interface
--------------------------------
The same object also speaks the language of the NumPy ``VanillaRNN`` of the RNN study
notes our users come from, positionally and by keyword::

    X = np.eye(5)                        # "h e l l o" as 5 one-hot rows (T, n_x)
    Y = np.roll(X, -1, axis=0)           # each row's target is the next row
    rnn = VanillaRNN(n_x=5, n_h=8, n_y=5)            # lr=0.01 as in the note
    for epoch in range(1000):
        hs, ys = rnn.forward(X)          # arrays (T, n_h), (T, n_y): states, softmax
        loss = rnn.compute_loss(Y, ys)
        rnn.backward(X, Y, hs, ys)       # hand-derived BPTT, clip to [-5, 5], update

with the note's weights as properties, ``Wxh (n_x, n_h)``, ``Whh (n_h, n_h)``,
``Why (n_h, n_y)``, ``bh (1, n_h)``, ``by (1, n_y)``, applied as ``x @ Wxh`` -- views
of the PyTorch-layout parameters above (``Wxh = rnn.weight_ih_l0.T``, ...).  Where the
two differ, on purpose:

* one hidden bias: the note's ``bh`` is ``bias_ih_l0 + bias_hh_l0`` (PyTorch keeps two,
  which only ever appear summed); setting ``bh`` writes ``bias_ih_l0`` and zeroes
  ``bias_hh_l0``, and :meth:`VanillaRNN.backward` updates ``bias_ih_l0`` only;
* ``compute_loss`` is the mean over the timesteps (the note's formula), where the
  note's example code sums; ``backward`` follows the note's code, i.e. it applies the
  gradient of the *sum* (``dy = ys - Y``), ``T * compute_loss``;
* ``forward(X)`` returns ``(T, n_h)`` and ``(T, n_y)`` arrays; the note's
  ``np.array`` of ``(1, n)`` rows is ``(T, 1, n)``, which makes its example's
  ``Y * np.log(ys)`` broadcast to ``(T, T, n)``.  ``backward`` accepts both;
* initialisation is PyTorch's ``U(-1/sqrt(n_h), 1/sqrt(n_h))`` (the note: ``0.01 *
  randn``, zero biases), and the dtype is minigrad's default (float32) unless
  ``dtype=`` says otherwise;
* the model is an ``nn.Module``, whose ``train()`` switches training mode, so the note's
  ``train`` method is :meth:`VanillaRNN.train_words` (on a word list) or a loop over
  ``forward`` / ``backward`` as above; called with a Tensor, ``forward`` is the
  PyTorch-style ``(logits, h_n)`` (what ``model(x)`` and autograd use);
* ``predict(seed_text, char_to_idx, idx_to_char, length)`` returns the ``length``
  generated characters, without the seed.

Words of different lengths can be trained together: :func:`prepare_sequences` pads them
at the end, and padded targets are ``IGNORE_INDEX`` (-100), which both losses skip.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import backend, nn, optim
from minigrad import random as mg_random

from . import bptt

__all__ = [
    "IGNORE_INDEX",
    "UnknownCharacterError",
    "VanillaRNN",
    "build_vocab",
    "prepare_sequences",
]

IGNORE_INDEX = -100  # target value skipped by the loss (F.cross_entropy's default)

_CLIP_MODES = ("value", "norm")


class UnknownCharacterError(KeyError, ValueError):
    """A character that is not in the vocabulary (both a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


# ----------------------------------------------------------------------------- data helpers
def build_vocab(words_or_text: str | Iterable[str]) -> tuple[dict[str, int], dict[int, str]]:
    """Character vocabulary of a text or of a list of words.

    Args:
        words_or_text: a string (``"hello"``) or an iterable of strings (``["hello",
            "help"]``).

    Returns:
        ``(char_to_idx, idx_to_char)``: the distinct characters, sorted, numbered from 0;
        e.g. ``build_vocab("hello")`` gives ``({'e': 0, 'h': 1, 'l': 2, 'o': 3},
        {0: 'e', 1: 'h', 2: 'l', 3: 'o'})``.

    Raises:
        ValueError: no characters at all.  TypeError: an item that is not a string.
    """
    if isinstance(words_or_text, str):
        texts = [words_or_text]
    else:
        texts = list(words_or_text)
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"build_vocab: expected strings, got {type(t).__name__} {t!r}")
    chars = sorted(set("".join(texts)))
    if not chars:
        raise ValueError("build_vocab: no characters (empty text or empty word list)")
    char_to_idx = {c: i for i, c in enumerate(chars)}
    idx_to_char = dict(enumerate(chars))
    return char_to_idx, idx_to_char


def _encode(text: str, char_to_idx: Mapping[str, int], what: str) -> list[int]:
    """Indices of the characters of ``text``; a clear error for an unknown one."""
    out = []
    for pos, c in enumerate(text):
        if c not in char_to_idx:
            raise UnknownCharacterError(
                f"{what}: character {c!r} (position {pos} of {text!r}) is not in the "
                f"vocabulary {''.join(sorted(char_to_idx))!r}"
            )
        out.append(char_to_idx[c])
    return out


def _as_word_list(words) -> list[str]:
    if isinstance(words, str):  # one word given bare: train_words("hello", ...)
        words = [words]
    words = list(words)
    if not words:
        raise ValueError("expected at least one word, got an empty word list")
    for w in words:
        if not isinstance(w, str):
            raise TypeError(f"expected words as strings, got {type(w).__name__} {w!r}")
    return words


def prepare_sequences(words: str | Sequence[str], char_to_idx: Mapping[str, int], *,
                      dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """Next-character training data: input ``word[:-1]``, target ``word[1:]``.

    Args:
        words: ``N`` words (a bare string counts as one word), each at least 2 characters.
        char_to_idx: the vocabulary (see :func:`build_vocab`), ``V = len(char_to_idx)``.
        dtype: float dtype of ``X`` (default: ``mg.get_default_dtype()``).

    Returns:
        ``(X, Y)`` as NumPy arrays:

        * ``X`` ``(N, T, V)`` one-hot inputs, ``X[n, t, char_to_idx[word_n[t]]] = 1``;
        * ``Y`` ``(N, T)`` int64 targets, ``Y[n, t] = char_to_idx[word_n[t + 1]]``;

        with ``T = max(len(word)) - 1``.  Shorter words are padded at the end: zero input
        rows and target ``IGNORE_INDEX`` (-100), skipped by the loss.  Padding at the end
        cannot change the real steps, because a step only sees the past.

        ``prepare_sequences(["hello"], c2i)`` with ``c2i = {'e':0,'h':1,'l':2,'o':3}``
        gives ``X`` = one-hot of h, e, l, l (shape (1, 4, 4)) and ``Y = [[0, 2, 2, 3]]``
        (e, l, l, o).

    Raises:
        ValueError: empty word list or a word shorter than 2 characters.
        UnknownCharacterError (a KeyError and a ValueError): a character not in the
        vocabulary.
    """
    words = _as_word_list(words)
    for w in words:
        if len(w) < 2:
            raise ValueError(
                f"prepare_sequences: word {w!r} has {len(w)} character(s); at least 2 are "
                "needed (one input and the next character as its target)"
            )
    V = len(char_to_idx)
    N, T = len(words), max(len(w) for w in words) - 1
    dtype = mg.get_default_dtype() if dtype is None else np.dtype(dtype)
    X = np.zeros((N, T, V), dtype=dtype)
    Y = np.full((N, T), IGNORE_INDEX, dtype=np.int64)
    eye = np.eye(V, dtype=dtype)  # row i is the one-hot vector of index i
    for n, w in enumerate(words):
        idx = _encode(w, char_to_idx, "prepare_sequences")
        X[n, : len(w) - 1] = eye[idx[:-1]]
        Y[n, : len(w) - 1] = idx[1:]
    return X, Y


# ----------------------------------------------------------------------------- the model
class VanillaRNN(nn.Module):
    """Character model: ``nn.RNN`` (tanh) -> ``nn.Linear`` -> softmax cross-entropy.

    Args:
        n_x: input size (the vocabulary size ``V`` for a character model).
        n_h: hidden size ``H``.
        n_y: output size (default ``n_x``; a character model has ``n_y == n_x``).
        lr: the learning rate :meth:`backward` and :meth:`train_words` use by default
            (the note's ``lr=0.01``).
        dtype: parameter dtype (``mg.float32`` default, or ``mg.float64``).
        device: ``'cpu'`` or ``'cuda'``.

    ``VanillaRNN(V, H)`` is the character model of the tutorial; ``VanillaRNN(n_x, n_h,
    n_y, lr)`` the study notes' constructor (see the module docstring for their
    ``forward`` / ``backward`` interface and the weights ``Wxh``, ``Whh``, ``Why``,
    ``bh``, ``by``).  Submodules: ``rnn = nn.RNN(n_x, H, batch_first=True)`` and
    ``out = nn.Linear(H, n_y)``.  ``train_words`` remembers the vocabulary in
    ``char_to_idx`` / ``idx_to_char`` so that ``predict`` can be called without it.
    """

    build_vocab = staticmethod(build_vocab)
    prepare_sequences = staticmethod(prepare_sequences)

    def __init__(self, n_x: int, n_h: int, n_y: int | None = None, lr: float = 0.01, *,
                 dtype=None, device=None):
        super().__init__()
        n_y = n_x if n_y is None else n_y
        for name, v in (("n_x", n_x), ("n_h", n_h), ("n_y", n_y)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"VanillaRNN: {name} must be a positive int, got {v!r}")
        _check_lr(lr, "VanillaRNN")
        self.n_x, self.n_h, self.n_y, self.lr = n_x, n_h, n_y, float(lr)
        self.vocab_size = n_x
        self.hidden_size = n_h
        self.rnn = nn.RNN(n_x, n_h, batch_first=True)
        self.out = nn.Linear(n_h, n_y)
        if dtype is not None:
            dtype = np.dtype(dtype)
            if dtype == np.float64:
                self.double()
            elif dtype == np.float32:
                self.float()
            else:
                raise ValueError(f"VanillaRNN: dtype must be float32 or float64, got {dtype}")
        if device is not None:
            self.to(device)
        self.char_to_idx: dict[str, int] | None = None
        self.idx_to_char: dict[int, str] | None = None

    def extra_repr(self) -> str:
        return f"n_x={self.n_x}, n_h={self.n_h}, n_y={self.n_y}, lr={self.lr}"

    # ------------------------------------------------------------------ the note's weights
    # Views of the PyTorch-layout parameters in the note's layout (``x @ Wxh``); setting
    # one writes the parameter (shape checked).
    @property
    def Wxh(self):  # noqa: N802 - the note's names
        """``(n_x, n_h)``: ``rnn.weight_ih_l0.T`` (a view)."""
        return self.rnn.weight_ih_l0.data.T

    @Wxh.setter
    def Wxh(self, value):  # noqa: N802
        self._set("Wxh", self.rnn.weight_ih_l0, value, transpose=True)

    @property
    def Whh(self):  # noqa: N802
        """``(n_h, n_h)``: ``rnn.weight_hh_l0.T`` (a view), applied as ``h @ Whh``."""
        return self.rnn.weight_hh_l0.data.T

    @Whh.setter
    def Whh(self, value):  # noqa: N802
        self._set("Whh", self.rnn.weight_hh_l0, value, transpose=True)

    @property
    def Why(self):  # noqa: N802
        """``(n_h, n_y)``: ``out.weight.T`` (a view)."""
        return self.out.weight.data.T

    @Why.setter
    def Why(self, value):  # noqa: N802
        self._set("Why", self.out.weight, value, transpose=True)

    @property
    def bh(self):
        """``(1, n_h)``: the one hidden bias, ``bias_ih_l0 + bias_hh_l0`` (a new array)."""
        return (self.rnn.bias_ih_l0.data + self.rnn.bias_hh_l0.data)[None, :]

    @bh.setter
    def bh(self, value):
        self._set("bh", self.rnn.bias_ih_l0, value)
        self.rnn.bias_hh_l0.data[...] = 0

    @property
    def by(self):
        """``(1, n_y)``: ``out.bias`` as a row (a view)."""
        return self.out.bias.data[None, :]

    @by.setter
    def by(self, value):
        self._set("by", self.out.bias, value)

    def _set(self, name, param, value, transpose=False):
        xp = backend.get_array_module(param.data)
        value = xp.asarray(backend.to_device(backend.to_numpy(value), param.device)
                           if not isinstance(value, xp.ndarray) else value, dtype=param.dtype)
        want = param.shape[::-1] if transpose else (1,) + tuple(param.shape)
        if value.shape != want and not (not transpose and value.shape == param.shape):
            raise ValueError(f"VanillaRNN.{name}: expected shape {want}, got {value.shape}")
        param.data[...] = value.T if transpose else value.reshape(param.shape)

    # ------------------------------------------------------------------ forward
    def forward(self, x, h0=None):
        """Two forms, told apart by the input's type.

        * ``x`` a Tensor ``(B, T, n_x)`` (the autograd path, what ``model(x)`` uses):
          returns ``(logits (B, T, n_y), h_n (1, B, H))``; ``h0`` ``(1, B, H)`` or ``None``.
        * ``x`` an array ``(T, n_x)`` of one-hot rows (the note's ``forward(X)``): plain
          arrays, no graph; returns ``(hs (T, n_h), ys (T, n_y))``, the hidden states
          ``h_t = tanh(x_t @ Wxh + h_{t-1} @ Whh + bh)`` and the softmax outputs
          ``y_t = softmax(h_t @ Why + by)``.
        """
        if not isinstance(x, mg.Tensor):
            if h0 is not None:
                raise TypeError("VanillaRNN.forward(X) with an array X takes no h0 (the "
                                "note's forward starts from zeros); pass a Tensor for h0")
            return self._note_forward(x)
        hs, h_n = self.rnn(x, h0)  # hs (B, T, H): h_1 .. h_T
        return self.out(hs), h_n  # logits_t = W_out h_t + b_out

    def _rows(self, a, width: int, name: str):
        """``a`` as ``(T, width)`` rows on the parameters' device and dtype; accepts the
        note's ``(T, width)`` and ``(T, 1, width)``."""
        xp, dtype, device = self._ref()
        a = xp.asarray(backend.to_device(a, device) if isinstance(a, np.ndarray) else a,
                       dtype=dtype)
        if a.ndim == 3 and a.shape[1] == 1:
            a = a[:, 0, :]
        if a.ndim != 2 or a.shape[1] != width or a.shape[0] == 0:
            raise ValueError(f"{name}: expected (timesteps, {width}) rows (one per step), "
                             f"got shape {tuple(a.shape)}")
        return a

    def _note_forward(self, X):
        xp = self._ref()[0]
        X = self._rows(X, self.n_x, "forward: X")
        Wxh, Whh, Why, bh, by = self.Wxh, self.Whh, self.Why, self.bh, self.by
        pre = X @ Wxh + bh  # x_t @ Wxh + bh for every step at once
        hs = xp.empty((X.shape[0], self.n_h), dtype=X.dtype)
        h = xp.zeros((1, self.n_h), dtype=X.dtype)
        for t in range(X.shape[0]):
            h = xp.tanh(pre[t:t + 1] + h @ Whh)  # h_t = tanh(x_t Wxh + h_{t-1} Whh + bh)
            hs[t] = h[0]
        logits = hs @ Why + by
        z = xp.exp(logits - logits.max(axis=1, keepdims=True))
        return hs, z / z.sum(axis=1, keepdims=True)  # y_t = softmax(h_t Why + by)

    def compute_loss(self, Y, ys) -> float:
        """Cross-entropy of the softmax outputs ``ys`` against one-hot targets ``Y``, both
        ``(T, n_y)`` (or the note's ``(T, 1, n_y)``), averaged over the timesteps:
        ``L = -(1/T) sum_t sum_j Y_tj log ys_tj`` (the note's formula; its example code
        sums, which is ``T`` times this)."""
        xp = self._ref()[0]
        Y = self._rows(Y, self.n_y, "compute_loss: Y")
        ys = self._rows(ys, self.n_y, "compute_loss: ys")
        if Y.shape != ys.shape:
            raise ValueError(f"compute_loss: Y {tuple(Y.shape)} and ys {tuple(ys.shape)} "
                             "must have the same number of timesteps")
        tiny = np.finfo(ys.dtype).tiny  # log(0) guard that leaves other entries exact
        return float(-(Y * xp.log(xp.maximum(ys, tiny))).sum() / Y.shape[0])

    def backward(self, X, Y, hs, ys, lr: float | None = None, clip: float | None = 5.0):
        """The note's hand-derived BPTT for one sequence, then the clipped SGD update.

        Args:
            X: ``(T, n_x)`` one-hot inputs; Y: ``(T, n_y)`` one-hot targets;
            hs, ys: what :meth:`forward` returned for ``X``.
            lr: learning rate (default: the constructor's ``lr``).
            clip: every gradient entry is clipped to ``[-clip, clip]`` before the update
                (the note's ``np.clip(dparam, -5, 5)``); ``None``: no clipping.

        The gradients are those of the summed loss ``-sum_t sum_j Y_tj log ys_tj``, as in
        the note's code, walking ``t = T-1 .. 0``::

            dy_t   = ys_t - Y_t                          (softmax + cross-entropy)
            dh_t   = dy_t @ Why.T + dh_next              (from the output and from t+1)
            draw_t = (1 - h_t^2) * dh_t                  (through tanh)
            dh_next = draw_t @ Whh.T
            dWhy = sum hs_t.T dy_t,  dWxh = sum X_t.T draw_t,  dWhh = sum h_{t-1}.T draw_t

        Returns:
            The unclipped gradients ``{'Wxh', 'Whh', 'Why', 'bh', 'by'}`` in the note's
            layout (arrays), for inspection; the parameters are already updated.
        """
        lr = self.lr if lr is None else lr
        _check_lr(lr, "backward")
        if clip is not None and not (isinstance(clip, int | float) and clip > 0):
            raise ValueError(f"backward: clip must be a positive number or None, got {clip!r}")
        xp = self._ref()[0]
        X = self._rows(X, self.n_x, "backward: X")
        Y = self._rows(Y, self.n_y, "backward: Y")
        hs = self._rows(hs, self.n_h, "backward: hs")
        ys = self._rows(ys, self.n_y, "backward: ys")
        T = X.shape[0]
        if not (Y.shape[0] == hs.shape[0] == ys.shape[0] == T):
            raise ValueError(f"backward: X, Y, hs, ys must have the same number of "
                             f"timesteps, got {T}, {Y.shape[0]}, {hs.shape[0]}, {ys.shape[0]}")
        Whh, Why = self.Whh, self.Why
        dy = ys - Y  # (T, n_y)
        dh_out = dy @ Why.T  # every step's gradient from its output, at once
        draw = xp.empty_like(hs)  # (T, n_h): dL/d(pre-activation) per step
        dh_next = xp.zeros((self.n_h,), dtype=hs.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh_out[t] + dh_next
            draw[t] = (1.0 - hs[t] ** 2) * dh
            dh_next = draw[t] @ Whh.T
        grads = {
            "Wxh": X.T @ draw,
            "Whh": hs[:-1].T @ draw[1:],  # h_{t-1}.T draw_t for t >= 1 (h_{-1} = 0)
            "Why": hs.T @ dy,
            "bh": draw.sum(axis=0, keepdims=True),
            "by": dy.sum(axis=0, keepdims=True),
        }
        # update in the parameters' own layout; the one bias bh lives in bias_ih_l0
        targets = {"Wxh": (self.rnn.weight_ih_l0, True), "Whh": (self.rnn.weight_hh_l0, True),
                   "Why": (self.out.weight, True), "bh": (self.rnn.bias_ih_l0, False),
                   "by": (self.out.bias, False)}
        for name, g in grads.items():
            param, transpose = targets[name]
            step = g if clip is None else xp.clip(g, -clip, clip)
            param.data -= lr * (step.T if transpose else step.reshape(param.shape))
        return grads

    # ------------------------------------------------------------------ helpers
    def _ref(self):
        """(array module, dtype, device) of the parameters."""
        w = self.rnn.weight_ih_l0
        return backend.get_array_module(w.data), w.dtype, w.device

    def _inputs_as_arrays(self, x, targets):
        """``x`` and ``targets`` as raw arrays on the parameters' device (no Tensors)."""
        xp, dtype, device = self._ref()
        x = x.data if isinstance(x, mg.Tensor) else x
        t = targets.data if isinstance(targets, mg.Tensor) else targets
        x = xp.asarray(backend.to_device(x, device), dtype=dtype)
        t = xp.asarray(backend.to_device(t, device))
        self._check_batch(x.shape, t.shape)
        return x, t.astype(np.int64, copy=False)

    def _inputs_as_tensors(self, x, targets):
        _, dtype, device = self._ref()
        if isinstance(x, mg.Tensor):
            x = x.to(device, dtype)
        else:
            x = mg.tensor(backend.to_numpy(x), dtype=dtype, device=device)
        if isinstance(targets, mg.Tensor):
            targets = targets.to(device, mg.int64)
        else:
            targets = mg.tensor(backend.to_numpy(targets), dtype=mg.int64, device=device)
        self._check_batch(x.shape, targets.shape)
        return x, targets

    def _check_batch(self, x_shape, t_shape):
        V = self.n_x
        if len(x_shape) != 3 or x_shape[2] != V:
            raise ValueError(f"x: expected one-hot inputs (batch, timesteps, {V}), "
                             f"got shape {tuple(x_shape)}")
        if tuple(t_shape) != tuple(x_shape[:2]):
            raise ValueError(f"targets: expected shape {tuple(x_shape[:2])} (batch, "
                             f"timesteps), got {tuple(t_shape)}")

    # ------------------------------------------------------------------ manual BPTT path
    def manual_step(self, x_onehot, targets, lr: float, clip: float | None = 5.0,
                    clip_mode: str = "value") -> float:
        """One SGD step with hand-derived gradients on plain arrays (no autograd).

        Args:
            x_onehot: ``(B, T, V)`` one-hot inputs (array or Tensor).
            targets: ``(B, T)`` int target indices; ``IGNORE_INDEX`` entries are skipped.
            lr: learning rate.
            clip: ``'value'`` mode clips every gradient entry to ``[-clip, clip]`` (the
                classic tutorial's ``np.clip(d, -5, 5)``); ``'norm'`` mode rescales all
                gradients together so that their global L2 norm is at most ``clip``.
                ``None``: no clipping.

        Returns:
            The loss before the update (float), the mean cross-entropy over the counted
            targets.
        """
        _check_clip(clip, clip_mode)
        x, y = self._inputs_as_arrays(x_onehot, targets)
        xp = backend.get_array_module(x)
        named = dict(self.named_parameters())
        rnn_params = {k: p.data for k, p in self.rnn.named_parameters()}
        W_out, b_out = named["out.weight"].data, named["out.bias"].data  # (V, H), (V,)
        B, T, V = x.shape[0], x.shape[1], self.n_y

        # ---- forward --------------------------------------------------------------
        # hs (B, T, H): h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), by models.bptt
        hs, _h_n, cache = bptt.rnn_forward(x, rnn_params, nonlinearity="tanh",
                                           batch_first=True)
        logits = hs @ W_out.T + b_out  # (B, T, V): logits_t = W_out h_t + b_out
        loss, dlogits = _softmax_cross_entropy(xp, logits, y)

        # ---- backward -------------------------------------------------------------
        # output layer, summed over all (b, t) rows:
        #   dL/dW_out = sum_{b,t} dlogits_{bt}^T h_{bt}   (V, H)
        #   dL/db_out = sum_{b,t} dlogits_{bt}            (V,)
        #   dL/dh_t   = dlogits_t @ W_out                 (B, T, H), enters the RNN from above
        d2 = dlogits.reshape(B * T, V)
        grads = {
            "out.weight": d2.T @ hs.reshape(B * T, -1),
            "out.bias": d2.sum(axis=0),
        }
        dhs = dlogits @ W_out
        # BPTT through the recurrence (models.bptt): walks t = T..1 carrying
        #   dh_t = dL/dh_t (from above) + W_hh^T dpre_{t+1},   dpre_t = (1 - h_t^2) * dh_t
        # and sums the shared-weight gradients over t, e.g. dW_hh = sum_t dpre_t^T h_{t-1}.
        rnn_grads = bptt.rnn_backward(cache, dhs)
        for k in rnn_params:
            grads["rnn." + k] = rnn_grads[k]

        # ---- clip + SGD update in place -------------------------------------------
        _clip_arrays(xp, list(grads.values()), clip, clip_mode)
        for name, g in grads.items():
            p = named[name].data
            p -= lr * g  # in place on the parameter's array: theta <- theta - lr * dL/dtheta
        return float(loss)

    # ------------------------------------------------------------------ autograd path
    def autograd_step(self, x_onehot, targets, optimizer_or_lr, clip: float | None = 5.0,
                      clip_mode: str = "value") -> float:
        """One training step the PyTorch way: autograd computes the gradients.

        ``forward`` -> ``F.cross_entropy`` -> ``loss.backward()`` ->
        ``nn.utils.clip_grad_value_`` (``clip_mode='value'``) or ``clip_grad_norm_``
        (``'norm'``) -> ``optimizer.step()``.

        Args:
            x_onehot: ``(B, T, V)`` one-hot inputs (array or Tensor).
            targets: ``(B, T)`` int targets; ``IGNORE_INDEX`` entries are skipped.
            optimizer_or_lr: an optimizer over this model's parameters, or a learning
                rate for plain SGD (``optim.SGD(self.parameters(), lr)``).
            clip, clip_mode: as in :meth:`manual_step`.

        Returns:
            The loss before the update (float).
        """
        _check_clip(clip, clip_mode)
        if isinstance(optimizer_or_lr, int | float):
            optimizer = optim.SGD(self.parameters(), lr=float(optimizer_or_lr))
        else:
            optimizer = optimizer_or_lr
        x, y = self._inputs_as_tensors(x_onehot, targets)
        B, T, V = x.shape[0], x.shape[1], self.n_y
        optimizer.zero_grad()
        self.zero_grad()
        logits, _ = self(x)  # (B, T, V)
        # cross_entropy wants classes on dim 1: flatten (B, T, V) -> (B*T, V)
        loss = F.cross_entropy(logits.reshape(B * T, V), y.reshape(B * T),
                               ignore_index=IGNORE_INDEX)
        loss.backward()
        if clip is not None:
            if clip_mode == "value":
                nn.utils.clip_grad_value_(self.parameters(), clip)
            else:
                nn.utils.clip_grad_norm_(self.parameters(), clip)
        optimizer.step()
        return loss.item()

    # ------------------------------------------------------------------ evaluation
    def loss_on(self, X, Y) -> float:
        """Mean cross-entropy on ``X`` ``(N, T, V)`` one-hot, ``Y`` ``(N, T)`` (no update)."""
        x, y = self._inputs_as_tensors(X, Y)
        N, T, V = x.shape[0], x.shape[1], self.n_y
        with mg.no_grad():
            logits, _ = self(x)
            loss = F.cross_entropy(logits.reshape(N * T, V), y.reshape(N * T),
                                   ignore_index=IGNORE_INDEX)
        return loss.item()

    # ------------------------------------------------------------------ training loop
    def train_words(self, words: str | Sequence[str],
                    char_to_idx: Mapping[str, int] | None = None, epochs: int = 100,
                    print_interval: int | None = None, *, lr: float | None = None,
                    method: str = "manual", progress: bool = True,
                    clip: float | None = 5.0, clip_mode: str = "value",
                    print_every: int | None = None) -> list[float]:
        """Train on next-character prediction over ``words``; one step per epoch.

        The study notes' ``train_words(words, char_to_idx, epochs, print_interval)``.
        Each epoch is one full-batch step on all words (padded, see
        :func:`prepare_sequences`), by :meth:`manual_step` (``method='manual'``) or
        :meth:`autograd_step` with plain SGD (``method='autograd'``).

        Args:
            words: the training words (a bare string is one word).
            char_to_idx: the vocabulary; default: ``build_vocab(words)`` (or the one this
                model was trained with before).  It must have ``n_x == n_y`` entries.
            epochs: number of steps.
            print_interval: print ``epoch k/N  loss x`` every that many epochs (and after
                the first); ``None``: never.  ``print_every`` is the same (older name).
            lr: SGD learning rate (default: the constructor's ``lr``).
            method: ``'manual'`` (hand-derived BPTT) or ``'autograd'``.
            progress: show a tqdm progress bar with the current loss.
            clip, clip_mode: as in :meth:`manual_step`.

        Returns:
            The loss history: ``epochs`` floats, the loss before each step (the mean
            cross-entropy over the characters).
        """
        from tqdm.auto import tqdm

        if char_to_idx is not None and not isinstance(char_to_idx, Mapping):
            raise TypeError(
                f"train_words(words, char_to_idx, epochs, print_interval): char_to_idx must "
                f"be a dict (the vocabulary), got {type(char_to_idx).__name__} "
                f"{char_to_idx!r}; pass epochs= and lr= by keyword")
        if print_every is not None:
            if print_interval is not None and print_interval != print_every:
                raise TypeError("train_words: got both print_interval and print_every (the "
                                "same setting); pass one")
            print_interval = print_every
        lr = self.lr if lr is None else lr
        _check_lr(lr, "train_words")
        print_every = print_interval
        if method not in ("manual", "autograd"):
            raise ValueError(f"method: expected 'manual' or 'autograd', got {method!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs: expected an int >= 0, got {epochs!r}")
        if print_every is not None and (not isinstance(print_every, int) or print_every < 1):
            raise ValueError(f"print_interval: expected a positive int or None, got "
                             f"{print_every!r}")
        _check_clip(clip, clip_mode)
        words = _as_word_list(words)
        if char_to_idx is None:
            char_to_idx = self.char_to_idx or build_vocab(words)[0]
        if not len(char_to_idx) == self.n_x == self.n_y:
            raise ValueError(
                f"vocabulary has {len(char_to_idx)} characters but the model has "
                f"n_x={self.n_x} inputs and n_y={self.n_y} outputs (vocab_size): build the "
                f"model with VanillaRNN(len(char_to_idx), hidden_size)"
            )
        _, dtype, _ = self._ref()
        X, Y = prepare_sequences(words, char_to_idx, dtype=dtype)
        self.char_to_idx = dict(char_to_idx)
        self.idx_to_char = {i: c for c, i in char_to_idx.items()}

        if method == "manual":
            step, lr_or_opt = self.manual_step, lr
        else:  # one optimizer for the whole run
            step, lr_or_opt = self.autograd_step, optim.SGD(self.parameters(), lr=lr)
        history: list[float] = []
        bar = tqdm(range(epochs), desc=f"train ({method})", disable=not progress)
        for epoch in bar:
            loss = step(X, Y, lr_or_opt, clip=clip, clip_mode=clip_mode)
            history.append(loss)
            bar.set_postfix(loss=f"{loss:.4f}")
            if print_every is not None and ((epoch + 1) % print_every == 0 or epoch == 0):
                tqdm.write(f"epoch {epoch + 1}/{epochs}  loss {loss:.6f}")
        bar.close()
        return history

    # ------------------------------------------------------------------ generation
    def _vocab(self, char_to_idx, idx_to_char):
        c2i = self.char_to_idx if char_to_idx is None else char_to_idx
        if c2i is None:
            raise ValueError("no vocabulary: pass char_to_idx (and idx_to_char), or call "
                             "train_words first")
        i2c = idx_to_char
        if i2c is None:
            i2c = (self.idx_to_char if char_to_idx is None and self.idx_to_char is not None
                   else {i: c for c, i in c2i.items()})
        return c2i, i2c

    def _onehot(self, indices):
        """``(1, len(indices), V)`` one-hot Tensor of the parameters' dtype and device."""
        _, dtype, device = self._ref()
        x = np.zeros((1, len(indices), self.vocab_size), dtype=dtype)
        x[0, np.arange(len(indices)), indices] = 1.0
        return mg.tensor(x, device=device)

    def predict_next(self, text: str, char_to_idx: Mapping[str, int] | None = None,
                     idx_to_char=None) -> str:
        """The most likely next character after every prefix of ``text``.

        Returns a string of ``len(text)`` characters: character ``t`` is
        ``argmax softmax(logits_t)`` after reading ``text[: t + 1]``.  A model trained on
        "hello" gives ``predict_next("hell") == "ello"``.
        """
        c2i, i2c = self._vocab(char_to_idx, idx_to_char)
        if not isinstance(text, str) or not text:
            raise ValueError(f"predict_next: expected a non-empty string, got {text!r}")
        idx = _encode(text, c2i, "predict_next")
        with mg.no_grad():
            logits, _ = self(self._onehot(idx))  # (1, T, V)
        best = backend.to_numpy(logits.data[0]).argmax(axis=-1)  # (T,)
        return "".join(i2c[int(i)] for i in best)

    def predict(self, seed_text: str, char_to_idx: Mapping[str, int] | None = None,
                idx_to_char=None, length: int | None = None, *,
                temperature: float | None = None, rng=None) -> str:
        """Generate ``length`` characters after ``seed_text``, feeding each one back.

        The study notes' ``predict(seed_text, char_to_idx, idx_to_char, length)``.  The
        seed is read first (its last step gives the first new character); each new
        character is then the next input, with the hidden state carried along.

        Args:
            seed_text: the start, at least one character, all in the vocabulary.
            char_to_idx, idx_to_char: the vocabulary (default: the one of ``train_words``).
            length: how many characters to generate (``>= 0``; required).
            temperature: ``None`` for greedy (argmax) decoding; a float ``> 0`` samples
                from ``softmax(logits / temperature)`` (lower = greedier).
            rng: a ``numpy.random.Generator`` for sampling (default: minigrad's stream,
                reproducible with ``mg.manual_seed``).

        Returns:
            The ``length`` generated characters (without the seed).

        Raises:
            UnknownCharacterError (a KeyError and a ValueError): a seed character not in
            the vocabulary.  ValueError: empty seed, negative length, bad temperature.
        """
        if char_to_idx is not None and not isinstance(char_to_idx, Mapping):
            raise TypeError(
                f"predict(seed_text, char_to_idx, idx_to_char, length): char_to_idx must be "
                f"a dict (the vocabulary), got {type(char_to_idx).__name__} {char_to_idx!r}; "
                "pass the number of characters as length= (the 4th argument)")
        if length is None:
            raise TypeError("predict: length (how many characters to generate) is required: "
                            "predict(seed_text, char_to_idx, idx_to_char, length)")
        if self.n_x != self.n_y:
            raise ValueError(f"predict: feeding outputs back needs n_x == n_y, the model has "
                             f"n_x={self.n_x}, n_y={self.n_y}")
        c2i, i2c = self._vocab(char_to_idx, idx_to_char)
        if not isinstance(seed_text, str) or not seed_text:
            raise ValueError(f"predict: seed_text must be a non-empty string, got {seed_text!r}")
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"predict: length must be an int >= 0, got {length!r}")
        if temperature is not None and not (isinstance(temperature, int | float)
                                            and temperature > 0):
            raise ValueError(f"predict: temperature must be None or > 0, got {temperature!r}")
        idx = _encode(seed_text, c2i, "predict")
        if rng is None:
            rng = mg_random.generator("cpu")
        generated: list[str] = []
        with mg.no_grad():
            logits, h = self(self._onehot(idx))  # read the whole seed
            for _ in range(length):
                last = backend.to_numpy(logits.data[0, -1]).astype(np.float64)  # (V,)
                if temperature is None:
                    nxt = int(last.argmax())
                else:
                    z = last / temperature
                    p = np.exp(z - z.max())
                    nxt = int(rng.choice(len(p), p=p / p.sum()))
                generated.append(i2c[nxt])
                if len(generated) < length:
                    logits, h = self(self._onehot([nxt]), h)  # feed it back
        return "".join(generated)


# ----------------------------------------------------------------------------- math helpers
def _check_lr(lr, where: str) -> None:
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
        raise ValueError(f"{where}: lr must be a positive number, got {lr!r}")


def _check_clip(clip, clip_mode):
    if clip_mode not in _CLIP_MODES:
        raise ValueError(f"clip_mode: expected one of {_CLIP_MODES}, got {clip_mode!r}")
    if clip is not None and not (isinstance(clip, int | float) and clip > 0):
        raise ValueError(f"clip: expected a positive number or None, got {clip!r}")


def _softmax_cross_entropy(xp, logits, targets):
    """Mean softmax cross-entropy and its gradient, by hand.

    Args:
        logits: ``(B, T, V)``.  targets: ``(B, T)`` int, ``IGNORE_INDEX`` = not counted.

    Returns:
        ``(loss, dlogits)`` with ``loss`` a 0-d array and ``dlogits`` ``(B, T, V)``.

    With ``p = softmax(z)`` and ``L_bt = -log p[y]``, the classic result is
    ``dL_bt/dz = p - onehot(y)``; averaging over the ``N`` counted targets divides it by
    ``N``, and ignored positions get zero gradient.
    """
    V = logits.shape[-1]
    mask = targets != IGNORE_INDEX  # (B, T)
    n = int(mask.sum())
    if n == 0:
        raise ValueError("targets: every target is IGNORE_INDEX, nothing to learn from")
    safe = xp.where(mask, targets, 0)
    if int(safe.min()) < 0 or int(safe.max()) >= V:
        raise ValueError(f"targets: indices must be in [0, {V}) or {IGNORE_INDEX}")
    # log-softmax, stabilised: log p = z - max z - log sum exp(z - max z)
    z = logits - logits.max(axis=-1, keepdims=True)
    log_p = z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))
    onehot = (xp.arange(V) == safe[..., None]).astype(logits.dtype)  # (B, T, V)
    weight = mask.astype(logits.dtype) / n  # 1/N where counted, 0 where ignored
    loss = -((log_p * onehot).sum(axis=-1) * weight).sum()
    dlogits = (xp.exp(log_p) - onehot) * weight[..., None]  # (p - onehot(y)) / N
    return loss, dlogits


def _clip_arrays(xp, grads, clip, clip_mode):
    """Clip gradient arrays in place, as ``nn.utils.clip_grad_value_`` / ``_norm_`` do."""
    if clip is None:
        return
    if clip_mode == "value":
        for g in grads:  # every entry into [-clip, clip]
            xp.clip(g, -clip, clip, out=g)
    else:
        # global L2 norm over all gradients; scale by clip / (norm + 1e-6) when above 1
        total = math.sqrt(sum(float((g * g).sum()) for g in grads))
        coef = clip / (total + 1e-6)
        if coef < 1.0:
            for g in grads:
                g *= coef
