"""Module.summary(): the Keras-style table, exactly."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class PairOut(nn.Module):
    """Returns a tuple (like an RNN's ``(output, h_n)``): the first tensor is listed."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 6)
        self.gain = nn.Parameter(mg.ones(6))  # owned directly by this module

    def forward(self, x):
        y = self.proj(x) * self.gain
        return y, y[:, -1]


class TextModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 8, padding_idx=0)
        self.encoder = PairOut()
        self.drop = nn.Dropout(0.5)
        self.head = nn.Sequential(nn.Tanh(), nn.Linear(6, 3))
        self.unused = nn.Linear(2, 2, bias=False)
        self.unused.requires_grad_(False)

    def forward(self, idx):
        out, _ = self.encoder(self.emb(idx))
        return self.head(self.drop(out))


EXPECTED = """\
Model: "TextModel"
--------------------------------------------
Layer (type)           Output Shape  Param #
============================================
emb (Embedding)        (2, 5, 8)         800
encoder (PairOut)      (2, 5, 6)           6
encoder.proj (Linear)  (2, 5, 6)          54
drop (Dropout)         (2, 5, 6)           0
head (Sequential)      (2, 5, 3)           0
head.0 (Tanh)          (2, 5, 6)           0
head.1 (Linear)        (2, 5, 3)          21
unused (Linear)        --                  4
============================================
Total params: 885
Trainable params: 881
Non-trainable params: 4
--------------------------------------------"""


def test_summary_table(capsys):
    model = TextModel()
    model.drop.train()
    model.head.eval()  # mixed modes must come back as they were
    text = model.summary((2, 5))  # int64 zeros: the model has an Embedding
    assert text == EXPECTED
    assert capsys.readouterr().out == text + "\n"  # printed too, as Keras does
    assert model.training and model.drop.training and not model.head.training
    assert not model.head[1].training
    assert all(not hooks for m in model.modules() for hooks in [m._forward_hooks])


def test_summary_float_input_totals_and_no_random_draws():
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5), nn.Linear(3, 1))
    mg.manual_seed(0)
    expected_next = mg.rand(3).numpy()
    mg.manual_seed(0)
    lines = model.summary((7, 4)).splitlines()
    assert lines[4:7] == ["0 (Linear)    (7, 3)             15",
                          "1 (Dropout)   (7, 3)              0",
                          "2 (Linear)    (7, 1)              4"]
    assert lines[-4:-1] == ["Total params: 19", "Trainable params: 19",
                            "Non-trainable params: 0"]
    # eval mode during the pass: dropout drew nothing from the seeded stream
    np.testing.assert_array_equal(mg.rand(3).numpy(), expected_next)


def test_summary_dtype_override_and_double_model():
    model = nn.Sequential(nn.Linear(2, 2)).double()
    seen = []
    model.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].dtype))
    model.summary((1, 2))
    model.summary((1, 2), dtype=mg.float32)
    assert seen == [mg.float64, mg.float32]


class HeadFirst(nn.Module):
    """The head is registered before the Embedding that feeds it."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(10, 2)
        self.emb = nn.Embedding(20, 10)

    def forward(self, idx):
        return self.head(self.emb(idx))


def test_summary_uses_int64_input_when_an_embedding_is_anywhere():
    seen = []
    model = HeadFirst()
    model.register_forward_hook(lambda m, inputs, out: seen.append(inputs[0].dtype))
    lines = model.summary((3, 7)).splitlines()
    assert seen == [mg.int64]
    assert lines[4:6] == ["head (Linear)    (3, 7, 2)          22",
                          "emb (Embedding)  (3, 7, 10)        200"]


def test_summary_suggests_dtype_when_the_forward_pass_fails():
    class Lookup(nn.Module):  # indexes a table with its input: needs int ids
        def __init__(self):
            super().__init__()
            self.table = nn.Parameter(mg.randn(10, 3))

        def forward(self, idx):
            return self.table[idx]

    model = Lookup()
    with pytest.raises(RuntimeError, match=r"summary: the forward pass on zeros of shape "
                                           r"\(4,\) and dtype float32 failed \(IndexError: "
                                           r".*\); .*pass it: summary\(input_shape, dtype="):
        model.summary((4,))
    assert model.training and not model._forward_hooks  # restored despite the failure
    assert "(4, 3)" in model.summary((4,), dtype=mg.int64)
