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
    history = model.train_words(["hello"], epochs=100, lr=0.5, method="manual")
    model.predict_next("hell")                              # 'ello' (next char at each step)
    model.predict("h", 4)                                   # 'ello' (fed back one by one)

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
        vocab_size: ``V``, the number of distinct characters (input and output size).
        hidden_size: ``H``.
        dtype: parameter dtype (``mg.float32`` default, or ``mg.float64``).
        device: ``'cpu'`` or ``'cuda'``.

    Submodules: ``rnn = nn.RNN(V, H, batch_first=True)`` and ``out = nn.Linear(H, V)``.
    ``train_words`` remembers the vocabulary in ``char_to_idx`` / ``idx_to_char`` so that
    ``predict`` can be called without it afterwards.
    """

    build_vocab = staticmethod(build_vocab)
    prepare_sequences = staticmethod(prepare_sequences)

    def __init__(self, vocab_size: int, hidden_size: int, *, dtype=None, device=None):
        super().__init__()
        for name, v in (("vocab_size", vocab_size), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"VanillaRNN: {name} must be a positive int, got {v!r}")
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.rnn = nn.RNN(vocab_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size)
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

    # ------------------------------------------------------------------ autograd forward
    def forward(self, x, h0=None):
        """Logits for every timestep.

        Args:
            x: ``(B, T, V)`` one-hot inputs (a Tensor).  h0: ``(1, B, H)`` or ``None``.

        Returns:
            ``(logits (B, T, V), h_n (1, B, H))``.
        """
        hs, h_n = self.rnn(x, h0)  # hs (B, T, H): h_1 .. h_T
        return self.out(hs), h_n  # logits_t = W_out h_t + b_out

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
        V = self.vocab_size
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
        B, T, V = x.shape

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
        B, T, V = x.shape
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
        N, T, V = x.shape
        with mg.no_grad():
            logits, _ = self(x)
            loss = F.cross_entropy(logits.reshape(N * T, V), y.reshape(N * T),
                                   ignore_index=IGNORE_INDEX)
        return loss.item()

    # ------------------------------------------------------------------ training loop
    def train_words(self, words: str | Sequence[str], epochs: int = 100, lr: float = 0.1,
                    method: str = "manual", print_every: int | None = None,
                    progress: bool = True, *, clip: float | None = 5.0,
                    clip_mode: str = "value",
                    char_to_idx: Mapping[str, int] | None = None) -> list[float]:
        """Train on next-character prediction over ``words``; one step per epoch.

        Each epoch is one full-batch step on all words (padded, see
        :func:`prepare_sequences`), by :meth:`manual_step` (``method='manual'``) or
        :meth:`autograd_step` with plain SGD (``method='autograd'``).

        Args:
            words: the training words (a bare string is one word).
            epochs: number of steps.  lr: SGD learning rate.
            method: ``'manual'`` (hand-derived BPTT) or ``'autograd'``.
            print_every: print ``epoch k/N  loss x`` every that many epochs (``None``: never).
            progress: show a tqdm progress bar with the current loss.
            clip, clip_mode: as in :meth:`manual_step`.
            char_to_idx: the vocabulary; default: ``build_vocab(words)`` (or the one this
                model was trained with before).  It must have ``vocab_size`` entries.

        Returns:
            The loss history: ``epochs`` floats, the loss before each step.
        """
        from tqdm.auto import tqdm

        if method not in ("manual", "autograd"):
            raise ValueError(f"method: expected 'manual' or 'autograd', got {method!r}")
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs: expected an int >= 0, got {epochs!r}")
        if print_every is not None and (not isinstance(print_every, int) or print_every < 1):
            raise ValueError(f"print_every: expected a positive int or None, got {print_every!r}")
        _check_clip(clip, clip_mode)
        words = _as_word_list(words)
        if char_to_idx is None:
            char_to_idx = self.char_to_idx or build_vocab(words)[0]
        if len(char_to_idx) != self.vocab_size:
            raise ValueError(
                f"vocabulary has {len(char_to_idx)} characters but the model has "
                f"vocab_size={self.vocab_size}: build the model with "
                f"VanillaRNN(len(char_to_idx), hidden_size)"
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

    def predict(self, seed_text: str, length: int, char_to_idx: Mapping[str, int] | None = None,
                idx_to_char=None, temperature: float | None = None, rng=None) -> str:
        """Generate ``length`` characters after ``seed_text``, feeding each one back.

        The seed is read first (its last step gives the first new character); each new
        character is then the next input, with the hidden state carried along.

        Args:
            seed_text: the start, at least one character, all in the vocabulary.
            length: how many characters to generate (``>= 0``).
            char_to_idx, idx_to_char: the vocabulary (default: the one of ``train_words``).
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
