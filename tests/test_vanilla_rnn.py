"""``models.VanillaRNN``: manual BPTT and autograd train identically; helpers; errors."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from models import VanillaRNN
from models.vanilla_rnn import IGNORE_INDEX, build_vocab, prepare_sequences

HIDDEN = 16
LR = 0.5


def make_model(vocab_size, seed=0, hidden=HIDDEN, device=None):
    mg.manual_seed(seed)
    return VanillaRNN(vocab_size, hidden, dtype=mg.float64, device=device)


def params_of(model):
    return {k: np.array(v) for k, v in model.state_dict().items()}


# ----------------------------------------------------------------------------- helpers
def test_build_vocab():
    c2i, i2c = build_vocab("hello")
    assert c2i == {"e": 0, "h": 1, "l": 2, "o": 3}
    assert i2c == {0: "e", 1: "h", 2: "l", 3: "o"}
    c2i, i2c = build_vocab(["hi", "ho"])
    assert list(c2i) == ["h", "i", "o"] and [i2c[i] for i in range(3)] == ["h", "i", "o"]
    with pytest.raises(ValueError, match="empty"):
        build_vocab([])
    with pytest.raises(ValueError):
        build_vocab("")


def test_prepare_sequences_shapes_and_content():
    c2i, _ = build_vocab("hello")
    X, Y = prepare_sequences(["hello"], c2i)
    assert X.shape == (1, 4, 4) and Y.shape == (1, 4)
    assert Y.dtype == np.int64 and Y.tolist() == [[0, 2, 2, 3]]  # e l l o
    assert X[0].argmax(axis=-1).tolist() == [1, 0, 2, 2]  # h e l l
    assert (X.sum(axis=-1) == 1).all()
    assert X.dtype == mg.get_default_dtype()
    assert prepare_sequences("hello", c2i, dtype=mg.float64)[0].dtype == np.float64


def test_prepare_sequences_pads_shorter_words():
    c2i, _ = build_vocab(["hello", "hi"])
    X, Y = prepare_sequences(["hello", "hi"], c2i)
    assert X.shape == (2, 4, len(c2i)) and Y.shape == (2, 4)
    assert Y[1].tolist() == [c2i["i"], IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
    assert (X[1, 1:] == 0).all() and X[1, 0].argmax() == c2i["h"]


# ------------------------------------------------------------------- layout / Module
def test_parameter_layout():
    model = make_model(4)
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes == {
        "rnn.weight_ih_l0": (HIDDEN, 4), "rnn.weight_hh_l0": (HIDDEN, HIDDEN),
        "rnn.bias_ih_l0": (HIDDEN,), "rnn.bias_hh_l0": (HIDDEN,),
        "out.weight": (4, HIDDEN), "out.bias": (4,),
    }
    assert all(v.dtype == np.float64 for v in model.state_dict().values())
    assert model.num_parameters() == 4 * HIDDEN + HIDDEN * HIDDEN + 2 * HIDDEN + HIDDEN * 4 + 4
    logits, h_n = model(mg.zeros(2, 3, 4, dtype=mg.float64))
    assert logits.shape == (2, 3, 4) and h_n.shape == (1, 2, HIDDEN)


# ------------------------------------------------- manual BPTT == autograd, step by step
def test_manual_and_autograd_train_identically_on_hello():
    c2i, i2c = build_vocab("hello")
    X, Y = prepare_sequences(["hello"], c2i, dtype=mg.float64)
    manual, auto = make_model(len(c2i)), make_model(len(c2i))
    for (k, a), b in zip(params_of(manual).items(), params_of(auto).values()):
        np.testing.assert_array_equal(a, b, err_msg=k)  # the same init

    sgd = optim.SGD(auto.parameters(), lr=LR)
    losses_m, losses_a = [], []
    for step in range(100):
        losses_m.append(manual.manual_step(X, Y, LR, clip=5.0))
        losses_a.append(auto.autograd_step(X, Y, sgd, clip=5.0, clip_mode="value"))
        assert abs(losses_m[-1] - losses_a[-1]) < 1e-8, f"step {step}"
    # and the weights they end with
    for (k, a), b in zip(params_of(manual).items(), params_of(auto).values()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-8, err_msg=k)

    assert losses_m[-1] < 0.1 * losses_m[0]
    for model in (manual, auto):
        # next-char predictions over "hell" are "ello"
        assert model.predict_next("hell", c2i, i2c) == "ello"
        assert model.predict("hell", 1, c2i, i2c) == "o"
        assert model.predict("h", 4, c2i, i2c) == "ello"
        assert model.loss_on(X, Y) < losses_m[0]


def test_clipping_is_active_and_identical():
    """A large lr makes gradients exceed the clip bounds; both paths must clip alike."""
    c2i, _ = build_vocab("hello")
    X, Y = prepare_sequences(["hello"], c2i, dtype=mg.float64)
    for mode, clip in (("value", 0.05), ("norm", 0.1)):
        manual, auto = make_model(len(c2i), seed=3), make_model(len(c2i), seed=3)
        for _ in range(20):
            lm = manual.manual_step(X, Y, 2.0, clip=clip, clip_mode=mode)
            la = auto.autograd_step(X, Y, 2.0, clip=clip, clip_mode=mode)
            assert abs(lm - la) < 1e-8, mode
        for (k, a), b in zip(params_of(manual).items(), params_of(auto).values()):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-8, err_msg=f"{mode} {k}")


def test_clip_none_and_padded_batches_agree():
    words = ["hello", "help", "hi", "hole"]
    c2i, _ = build_vocab(words)
    X, Y = prepare_sequences(words, c2i, dtype=mg.float64)
    manual, auto = make_model(len(c2i), seed=1), make_model(len(c2i), seed=1)
    for _ in range(10):
        lm = manual.manual_step(X, Y, 0.3, clip=None)
        la = auto.autograd_step(X, Y, 0.3, clip=None)
        assert abs(lm - la) < 1e-10


def test_manual_step_uses_no_autograd(monkeypatch):
    c2i, _ = build_vocab("hello")
    X, Y = prepare_sequences(["hello"], c2i, dtype=mg.float64)
    model = make_model(len(c2i))
    before = params_of(model)

    def no_backward(*args, **kwargs):
        raise AssertionError("manual_step must not call backward()")

    monkeypatch.setattr(mg.Tensor, "backward", no_backward)
    loss = model.manual_step(X, Y, LR)
    assert isinstance(loss, float) and loss > 0
    assert all(p.grad is None for p in model.parameters())
    after = params_of(model)
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # updated in place


def test_float32_model_trains_both_ways():
    c2i, _ = build_vocab("hello")
    mg.manual_seed(0)
    model = VanillaRNN(len(c2i), 8)  # default dtype float32
    X, Y = prepare_sequences(["hello"], c2i)
    l1 = model.manual_step(X, Y, LR)
    l2 = model.autograd_step(X, Y, LR)
    assert model.rnn.weight_hh_l0.dtype == np.float32
    assert np.isfinite([l1, l2]).all() and l2 < l1


# ----------------------------------------------------------------------------- train_words
@pytest.mark.parametrize("method", ["manual", "autograd"])
def test_train_words(method, capsys):
    model = make_model(4)
    history = model.train_words(["hello"], epochs=100, lr=LR, method=method,
                                print_every=50, progress=False)
    assert len(history) == 100 and all(isinstance(v, float) for v in history)
    assert history[-1] < 0.1 * history[0]
    assert "epoch 100/100" in capsys.readouterr().out
    # the vocabulary is remembered for prediction
    assert model.char_to_idx == {"e": 0, "h": 1, "l": 2, "o": 3}
    assert model.predict_next("hell") == "ello"


def test_train_words_methods_give_the_same_history():
    a = make_model(4).train_words("hello", 30, LR, method="manual", progress=False)
    b = make_model(4).train_words("hello", 30, LR, method="autograd", progress=False)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-8)


def test_train_words_progress_bar(capsys):
    make_model(4).train_words(["hello"], epochs=3, lr=LR, progress=True)
    err = capsys.readouterr().err
    assert "loss=" in err and "3/3" in err


# ----------------------------------------------------------------------------- predict
def test_predict_length_and_sampling():
    c2i, i2c = build_vocab("hello")
    model = make_model(len(c2i))
    for n in (0, 1, 7):
        out = model.predict("he", n, c2i, i2c)
        assert isinstance(out, str) and len(out) == n and set(out) <= set(c2i)
    mg.manual_seed(5)
    s1 = model.predict("h", 20, c2i, i2c, temperature=1.0)
    mg.manual_seed(5)
    s2 = model.predict("h", 20, c2i, i2c, temperature=1.0)
    assert len(s1) == 20 and s1 == s2  # reproducible with mg.manual_seed
    rng = np.random.default_rng(0)
    assert len(model.predict("h", 5, c2i, i2c, temperature=0.5, rng=rng)) == 5


# ----------------------------------------------------------------------------- bad input
def test_bad_input():
    c2i, i2c = build_vocab("hello")
    model = make_model(len(c2i))
    with pytest.raises(KeyError, match="'x'"):
        model.predict("hex", 3, c2i, i2c)
    with pytest.raises(ValueError, match="'z'"):  # also a ValueError
        model.predict_next("zz", c2i, i2c)
    with pytest.raises(ValueError, match="empty"):
        model.train_words([], epochs=1, progress=False)
    with pytest.raises(ValueError, match="empty"):
        prepare_sequences([], c2i)
    with pytest.raises(ValueError, match="at least 2"):
        prepare_sequences(["h"], c2i)
    with pytest.raises(KeyError, match="'a'"):
        prepare_sequences(["hat"], c2i)
    with pytest.raises(ValueError, match="seed_text"):
        model.predict("", 3, c2i, i2c)
    with pytest.raises(ValueError, match="length"):
        model.predict("h", -1, c2i, i2c)
    with pytest.raises(ValueError, match="no vocabulary"):
        model.predict("h", 3)
    with pytest.raises(ValueError, match="vocab_size"):
        model.train_words(["abcdef"], epochs=1, progress=False)
    with pytest.raises(ValueError, match="method"):
        model.train_words(["hello"], epochs=1, method="magic", progress=False)
    X, Y = prepare_sequences(["hello"], c2i)
    with pytest.raises(ValueError, match="targets"):
        model.manual_step(X, Y[:, :2], LR)
    with pytest.raises(ValueError, match="clip_mode"):
        model.autograd_step(X, Y, LR, clip_mode="max")


# ----------------------------------------------------------------------------- devices
def test_manual_and_autograd_agree_on_device(device):
    c2i, _ = build_vocab("hello")
    X, Y = prepare_sequences(["hello"], c2i, dtype=mg.float64)
    manual = make_model(len(c2i), device=device)
    auto = make_model(len(c2i), device=device)
    assert manual.rnn.weight_ih_l0.device == device
    for _ in range(5):
        assert abs(manual.manual_step(X, Y, LR) - auto.autograd_step(X, Y, LR)) < 1e-8
