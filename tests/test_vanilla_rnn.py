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
        assert model.predict("hell", c2i, i2c, 1) == "o"
        assert model.predict("h", c2i, i2c, 4) == "ello"
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
                                print_interval=50, progress=False)
    assert len(history) == 100 and all(isinstance(v, float) for v in history)
    assert history[-1] < 0.1 * history[0]
    assert "epoch 100/100" in capsys.readouterr().out
    # the vocabulary is remembered for prediction
    assert model.char_to_idx == {"e": 0, "h": 1, "l": 2, "o": 3}
    assert model.predict_next("hell") == "ello"


def test_train_words_methods_give_the_same_history():
    a = make_model(4).train_words("hello", epochs=30, lr=LR, method="manual", progress=False)
    b = make_model(4).train_words("hello", epochs=30, lr=LR, method="autograd",
                                  progress=False)
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
        out = model.predict("he", c2i, i2c, n)
        assert isinstance(out, str) and len(out) == n and set(out) <= set(c2i)
    mg.manual_seed(5)
    s1 = model.predict("h", c2i, i2c, 20, temperature=1.0)
    mg.manual_seed(5)
    s2 = model.predict("h", c2i, i2c, 20, temperature=1.0)
    assert len(s1) == 20 and s1 == s2  # reproducible with mg.manual_seed
    rng = np.random.default_rng(0)
    assert len(model.predict("h", c2i, i2c, 5, temperature=0.5, rng=rng)) == 5


# ----------------------------------------------------------------------------- bad input
def test_bad_input():
    c2i, i2c = build_vocab("hello")
    model = make_model(len(c2i))
    with pytest.raises(KeyError, match="'x'"):
        model.predict("hex", c2i, i2c, 3)
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
        model.predict("", c2i, i2c, 3)
    with pytest.raises(ValueError, match="length"):
        model.predict("h", c2i, i2c, -1)
    with pytest.raises(ValueError, match="no vocabulary"):
        model.predict("h", length=3)
    with pytest.raises(TypeError, match="length="):
        model.predict("h", 3, c2i, i2c)  # the older (seed, length, ...) order
    with pytest.raises(TypeError, match="length"):
        model.predict("h", c2i, i2c)
    with pytest.raises(TypeError, match="epochs= and lr= by keyword"):
        model.train_words(["hello"], 30, 0.5, progress=False)
    with pytest.raises(ValueError, match="lr"):
        model.train_words(["hello"], epochs=1, lr=0, progress=False)
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


# ----------------------------------------------------------- the study notes' interface
NOTE_X = np.eye(5)  # "h e l l o" as in the note: 5 one-hot rows
NOTE_Y = np.roll(NOTE_X, -1, axis=0)  # each row's target is the next row


def note_model(dtype=mg.float64, seed=0, **kw):
    mg.manual_seed(seed)
    return VanillaRNN(n_x=5, n_h=8, n_y=5, dtype=dtype, **kw)


def test_note_hello_usage_end_to_end():
    """The note's example, as written there (with compute_loss for the loss line)."""
    mg.manual_seed(0)
    positional = VanillaRNN(5, 8, 5)
    rnn = note_model(dtype=None)  # keyword form, same seed: the same model
    for (k, a), b in zip(params_of(rnn).items(), params_of(positional).values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert rnn.lr == 0.01 and rnn.Wxh.dtype == np.float32
    losses = []
    for _epoch in range(1000):
        hs, ys = rnn.forward(NOTE_X)
        losses.append(rnn.compute_loss(NOTE_Y, ys))
        rnn.backward(NOTE_X, NOTE_Y, hs, ys)
    assert hs.shape == (5, 8) and ys.shape == (5, 5)
    np.testing.assert_allclose(ys.sum(axis=1), 1.0, rtol=1e-6)
    assert losses[-1] < 0.05 * losses[0]
    assert ys.argmax(axis=1).tolist() == NOTE_Y.argmax(axis=1).tolist()  # e l l o h


def _autograd_note_grads(model, X, Y):
    """Gradients of the note's summed loss by autograd, in the note's layout."""
    model.zero_grad()
    logits, _ = model(mg.tensor(X[None], dtype=mg.float64))
    loss = mg.nn.functional.cross_entropy(logits.reshape(len(X), -1),
                                          mg.tensor(Y.argmax(axis=1)), reduction="sum")
    loss.backward()
    rnn, out = model.rnn, model.out
    np.testing.assert_allclose(rnn.bias_ih_l0.grad.data, rnn.bias_hh_l0.grad.data)
    return loss.item(), {"Wxh": rnn.weight_ih_l0.grad.data.T,
                         "Whh": rnn.weight_hh_l0.grad.data.T,
                         "Why": out.weight.grad.data.T,
                         "bh": rnn.bias_ih_l0.grad.data[None], "by": out.bias.grad.data[None]}


@pytest.mark.parametrize("epochs_before, clip", [(0, 5.0), (300, 5.0), (0, 0.01)])
def test_note_backward_equals_autograd_and_updates(epochs_before, clip):
    rnn = note_model(lr=0.1)
    for _ in range(epochs_before):
        rnn.backward(NOTE_X, NOTE_Y, *rnn.forward(NOTE_X))
    hs, ys = rnn.forward(NOTE_X)
    loss, expected = _autograd_note_grads(rnn, NOTE_X, NOTE_Y)
    assert abs(len(NOTE_X) * rnn.compute_loss(NOTE_Y, ys) - loss) < 1e-12  # sum = T * mean
    before = {k: np.array(getattr(rnn, k)) for k in expected}
    grads = rnn.backward(NOTE_X, NOTE_Y, hs, ys, clip=clip)
    assert set(grads) == set(expected)
    clipped = False
    for k, g in grads.items():
        assert g.shape == before[k].shape
        np.testing.assert_allclose(g, expected[k], rtol=0, atol=1e-9, err_msg=k)
        # then the update: theta <- theta - lr * clip(grad), in the note's layout
        np.testing.assert_allclose(getattr(rnn, k), before[k] - 0.1 * np.clip(g, -clip, clip),
                                   rtol=0, atol=1e-12, err_msg=k)
        clipped |= bool((np.abs(g) > clip).any())
    assert clipped == (clip < 1)  # the small bound is active, the note's [-5, 5] is not


def test_note_forward_matches_the_module_forward_and_weight_views():
    rnn = note_model()
    assert (rnn.Wxh.shape, rnn.Whh.shape, rnn.Why.shape, rnn.bh.shape, rnn.by.shape) == (
        (5, 8), (8, 8), (8, 5), (1, 8), (1, 5))
    hs, ys = rnn.forward(NOTE_X)
    with mg.no_grad():
        logits, h_n = rnn(mg.tensor(NOTE_X[None]))
        states, _ = rnn.rnn(mg.tensor(NOTE_X[None]))
    np.testing.assert_allclose(hs, states.data[0], rtol=0, atol=1e-12)
    p = np.exp(logits.data[0]) / np.exp(logits.data[0]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(ys, p, rtol=0, atol=1e-12)
    # the note's (T, 1, n) row layout is accepted too, with the same results
    hs3, ys3 = rnn.forward(NOTE_X[:, None, :])
    np.testing.assert_array_equal(hs3, hs)
    assert rnn.compute_loss(NOTE_Y[:, None, :], ys[:, None, :]) == rnn.compute_loss(NOTE_Y, ys)
    # Wxh is a view of weight_ih_l0; setting the note's weights writes the parameters
    assert np.shares_memory(rnn.Wxh, rnn.rnn.weight_ih_l0.data)
    rnn.Wxh = np.ones((5, 8))
    assert (rnn.rnn.weight_ih_l0.data == 1).all()
    rnn.bh = np.full((1, 8), 0.5)
    assert (rnn.rnn.bias_ih_l0.data == 0.5).all() and (rnn.rnn.bias_hh_l0.data == 0).all()
    np.testing.assert_array_equal(rnn.bh, np.full((1, 8), 0.5))
    rnn.by = np.zeros(5)
    assert (rnn.out.bias.data == 0).all()
    with pytest.raises(ValueError, match=r"Whh: expected shape \(8, 8\)"):
        rnn.Whh = np.zeros((8, 5))


def test_note_sizes_can_differ():
    mg.manual_seed(0)
    model = VanillaRNN(3, 4, 2, dtype=mg.float64)
    hs, ys = model.forward(np.eye(3))
    assert hs.shape == (3, 4) and ys.shape == (3, 2)
    Y = np.eye(2)[[0, 1, 1]]
    grads = model.backward(np.eye(3), Y, hs, ys)
    assert grads["Wxh"].shape == (3, 4) and grads["Why"].shape == (4, 2)
    logits, _ = model(mg.zeros(2, 6, 3, dtype=mg.float64))
    assert logits.shape == (2, 6, 2)
    loss = model.manual_step(np.zeros((2, 6, 3)), np.zeros((2, 6), dtype=np.int64), 0.1)
    assert np.isfinite(loss)
    with pytest.raises(ValueError, match="n_x == n_y"):
        model.predict("a", {"a": 0, "b": 1, "c": 2}, None, 2)


def test_note_train_words_and_predict_in_the_notes_order(capsys):
    c2i, i2c = build_vocab("hello")
    model = VanillaRNN(len(c2i), HIDDEN, len(c2i), 0.5, dtype=mg.float64)
    history = model.train_words(["hello"], c2i, 100, 50, progress=False)
    assert len(history) == 100 and history[-1] < 0.1 * history[0]
    out = capsys.readouterr().out
    assert "epoch 1/100" in out and "epoch 50/100" in out and "epoch 100/100" in out
    assert model.predict("h", c2i, i2c, 4) == "ello"
    assert model.predict(seed_text="h", char_to_idx=c2i, idx_to_char=i2c, length=4) == "ello"
    again = VanillaRNN(len(c2i), HIDDEN, dtype=mg.float64)
    again.train_words(words=["hello"], char_to_idx=c2i, epochs=2, print_every=1,
                      progress=False)  # print_every: the older name of print_interval
    assert "epoch 2/2" in capsys.readouterr().out


def test_note_bad_input():
    rnn = note_model()
    with pytest.raises(ValueError, match=r"X: expected \(timesteps, 5\)"):
        rnn.forward(np.eye(4))
    hs, ys = rnn.forward(NOTE_X)
    with pytest.raises(ValueError, match="same number of timesteps"):
        rnn.backward(NOTE_X, NOTE_Y[:3], hs, ys)
    with pytest.raises(ValueError, match="same number of timesteps"):
        rnn.compute_loss(NOTE_Y[:3], ys)
    with pytest.raises(TypeError, match="h0"):
        rnn.forward(NOTE_X, np.zeros((1, 8)))
    with pytest.raises(ValueError, match="lr"):
        VanillaRNN(5, 8, 5, lr=-1)
    with pytest.raises(ValueError, match="n_y"):
        VanillaRNN(5, 8, 0)
    with pytest.raises(ValueError, match="clip"):
        rnn.backward(NOTE_X, NOTE_Y, hs, ys, clip=0)


def test_note_interface_on_device(device):
    cpu, dev = note_model(), note_model(device=device)
    for _ in range(3):
        hs_c, ys_c = cpu.forward(NOTE_X)
        hs_d, ys_d = dev.forward(NOTE_X)  # NumPy rows in, arrays of the device out
        assert mg.backend.device_of(hs_d) == device
        g_c = cpu.backward(NOTE_X, NOTE_Y, hs_c, ys_c)
        g_d = dev.backward(NOTE_X, NOTE_Y, hs_d, ys_d)
        for k in g_c:
            np.testing.assert_allclose(mg.backend.to_numpy(g_d[k]), g_c[k], rtol=0,
                                       atol=1e-12, err_msg=k)
    assert abs(cpu.compute_loss(NOTE_Y, ys_c) - dev.compute_loss(NOTE_Y, ys_d)) < 1e-12
