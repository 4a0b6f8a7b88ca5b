"""Ready-made models (models.char_lm / classifier / tagger / seq2seq): shapes, padding
invariance, generation, attention, bad input, and each one overfitting a tiny dataset.

Loss thresholds: every training set here is deterministic (each target is a fixed
function of the input), so the achievable loss is 0. A uniform guess scores log(C)
(C = number of classes: 0.69 for 2, 1.10 for 3, ~2.4 for the char vocab) and even a
model that learnt only the class frequencies stays well above 0.3. The thresholds
(0.05) need the mean probability of the right answer above ~0.95, i.e. the dataset is
actually fitted (the tests also check every prediction), and sit far above what these
few hundred Adam steps reach (~1e-4 - 1e-3 over several seeds), so they are not flaky.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn, optim
from models._recurrent import LengthAwareRNN, check_lengths, make_cell, make_recurrent
from models.char_lm import CharLM, _sample
from models.classifier import SequenceClassifier
from models.seq2seq import Seq2Seq
from models.tagger import SequenceTagger

CELLS = ["rnn", "lstm", "gru"]


def fit(model, loss_fn, steps: int, lr: float) -> float:
    """Full-batch Adam; returns the last loss."""
    opt = optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    return loss.item()


def pad(seqs, width: int, rng, low: int = 1, high: int = 6) -> np.ndarray:
    """Right-pad token lists to ``width`` with random junk tokens (not the pad id)."""
    out = rng.integers(low, high, size=(len(seqs), width))
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out


def ids(array) -> mg.Tensor:
    return mg.tensor(np.asarray(array), dtype=mg.int64)


# --- shared helper ---------------------------------------------------------------------


def test_make_recurrent_maps_names():
    for name, cls in [("rnn", nn.RNN), ("LSTM", nn.LSTM), ("Gru", nn.GRU)]:
        layer = make_recurrent(name, 3, 4, num_layers=2, bidirectional=True)
        assert isinstance(layer, cls)
        out, _ = layer(mg.randn(2, 5, 3))  # batch first
        assert out.shape == (2, 5, 8)
    for name, cls in [("rnn", nn.RNNCell), ("lstm", nn.LSTMCell), ("gru", nn.GRUCell)]:
        assert isinstance(make_cell(name, 3, 4), cls)


@pytest.mark.parametrize("bad", ["lstmm", "", None, 3])
def test_make_recurrent_unknown_cell(bad):
    with pytest.raises(ValueError, match="unknown cell .*expected one of 'rnn', 'lstm', 'gru'"):
        make_recurrent(bad, 3, 4)
    with pytest.raises(ValueError, match="unknown cell"):
        make_cell(bad, 3, 4)


def test_check_lengths_messages():
    assert check_lengths(mg.tensor([3, 1]), 2, 3, "m").tolist() == [3, 1]
    with pytest.raises(ValueError, match=r"m: lengths must be in \[1, T=3\].*lengths\[1\]=4"):
        check_lengths([3, 4], 2, 3, "m")
    with pytest.raises(ValueError, match=r"lengths\[0\]=0"):
        check_lengths(np.array([0, 2]), 2, 3, "m")
    with pytest.raises(ValueError, match=r"shape \(2,\).*got shape \(3,\)"):
        check_lengths([1, 2, 3], 2, 3, "m")
    with pytest.raises(ValueError, match=r"got shape \(2, 1\)"):
        check_lengths([[1], [2]], 2, 3, "m")
    with pytest.raises(ValueError, match="must be integers"):
        check_lengths([1.0, 2.0], 2, 3, "m")


def test_length_aware_rnn_bidirectional_equals_reference():
    # A 1-layer bidirectional LengthAwareRNN on full-length sequences is exactly a
    # bidirectional layer: reverse direction = forward layer run on the flipped input.
    mg.manual_seed(0)
    rnn = LengthAwareRNN("gru", 3, 4, bidirectional=True).double()
    x = mg.randn(2, 5, 3, dtype=mg.float64)
    out, final = rnn(x, np.array([5, 5]))
    sd = rnn.rnn.state_dict()
    forward_layer, reverse_layer = nn.GRU(3, 4).double(), nn.GRU(3, 4).double()
    forward_layer.load_state_dict({k: v for k, v in sd.items() if "reverse" not in k})
    reverse_layer.load_state_dict({k.replace("_reverse", ""): v for k, v in sd.items()
                                   if "reverse" in k})
    ref_f, _ = forward_layer(x)
    ref_b, _ = reverse_layer(x[:, ::-1])
    np.testing.assert_allclose(out.numpy()[..., :4], ref_f.numpy(), atol=1e-12)
    np.testing.assert_allclose(out.numpy()[..., 4:], ref_b.numpy()[:, ::-1], atol=1e-12)
    np.testing.assert_allclose(final.numpy(), np.concatenate(
        [ref_f.numpy()[:, -1], ref_b.numpy()[:, -1]], axis=-1), atol=1e-12)


# --- CharLM ----------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_char_lm_shapes_and_carried_state(cell):
    mg.manual_seed(0)
    model = CharLM(11, embed_dim=8, hidden_size=16, num_layers=2, cell=cell)
    idx = ids(np.random.default_rng(0).integers(0, 11, size=(3, 6)))
    logits, state = model(idx)
    assert logits.shape == (3, 6, 11)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 3, 16)
    # Running the sequence in two halves, carrying the state, gives the same logits.
    first, state = model(idx[:, :4])
    second, _ = model(idx[:, 4:], state)
    np.testing.assert_allclose(mg.cat([first, second], dim=1).numpy(), logits.numpy(),
                               atol=1e-6)


def test_char_lm_fused_matches_unfused():
    mg.manual_seed(0)
    plain = CharLM(7, embed_dim=5, hidden_size=6, cell="lstm")
    fused = CharLM(7, embed_dim=5, hidden_size=6, cell="lstm", fused=True)
    fused.load_state_dict(plain.state_dict())
    idx = ids([[1, 2, 3, 4], [6, 5, 0, 1]])
    np.testing.assert_allclose(fused(idx)[0].numpy(), plain(idx)[0].numpy(), atol=1e-5)


def test_char_lm_overfits_text_and_regenerates_it():
    text = "the cat sat on the mat."
    chars = sorted(set(text))
    data = np.array([[chars.index(c) for c in text]])
    x, y = ids(data[:, :-1]), ids(data[:, 1:])
    mg.manual_seed(0)
    model = CharLM(len(chars), embed_dim=16, hidden_size=64, cell="lstm")

    def loss_fn():
        logits, _ = model(x)
        return F.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))

    initial = loss_fn().item()
    assert abs(initial - math.log(len(chars))) < 0.3  # starts near a uniform guess
    # Each next char is determined by the position in the (single) string: loss -> 0.
    final = fit(model, loss_fn, steps=150, lr=0.02)
    assert final < 0.05, final
    # Greedy generation (top_k=1) from the first char reproduces the sentence.
    out = model.generate([int(data[0, 0])], length=len(text) - 1, top_k=1)
    assert "".join(chars[i] for i in out) == text[1:]


def test_char_lm_generate_length_determinism_and_mode():
    mg.manual_seed(0)
    model = CharLM(9, embed_dim=4, hidden_size=8, cell="gru", dropout=0.0)
    model.train()
    for length in (0, 1, 12):
        out = model.generate([1, 2, 3], length)
        assert len(out) == length and all(isinstance(t, int) and 0 <= t < 9 for t in out)
    assert model.training  # restored
    mg.manual_seed(123)
    a = model.generate([4], 30, temperature=1.5)
    mg.manual_seed(123)
    b = model.generate(mg.tensor([4]), 30, temperature=1.5)  # Tensor prompt too
    assert a == b
    mg.manual_seed(123)
    assert model.generate([4], 30, temperature=1.5, top_k=3) != model.generate(
        [4], 30, temperature=1.5)  # different draws (vanishingly unlikely to match)


@pytest.mark.parametrize("cell", CELLS)
def test_char_lm_generate_carries_state(cell):
    # With top_k=1 sampling is the argmax; feeding one token at a time with the carried
    # state must agree with re-running the whole prefix each step.
    mg.manual_seed(1)
    model = CharLM(10, embed_dim=6, hidden_size=12, num_layers=2, cell=cell)
    prompt = [3, 1, 4]
    out = model.generate(prompt, 8, top_k=1)
    seq = list(prompt)
    with mg.no_grad():
        for _ in range(8):
            logits, _ = model(ids([seq]))
            seq.append(int(logits[0, -1].argmax().item()))
    assert out == seq[len(prompt):]


def test_sample_temperature_and_top_k():
    rng = mg.Generator().manual_seed(0)  # _sample draws with mg.multinomial(generator=)
    logits = np.array([0.0, 10.0, 9.5, -5.0, 9.0])
    draws = [_sample(logits, 1.0, 2, rng) for _ in range(300)]
    assert set(draws) == {1, 2}  # only the 2 largest, both drawn
    assert {_sample(logits, 1e-3, None, rng) for _ in range(50)} == {1}  # T -> 0: argmax
    hot = [_sample(logits, 100.0, None, rng) for _ in range(500)]
    assert set(hot) == {0, 1, 2, 3, 4}  # high temperature: near uniform


def test_char_lm_bad_input():
    model = CharLM(5, embed_dim=3, hidden_size=4)
    with pytest.raises(ValueError, match="temperature must be a finite number > 0, got 0"):
        model.generate([1], 3, temperature=0)
    for t in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            model.generate([1], 3, temperature=t)
    for k in (0, 6, 2.0, True):
        with pytest.raises(ValueError, match=r"top_k must be None or an int in \[1, "
                                             r"vocab_size=5\]"):
            model.generate([1], 3, top_k=k)
    assert len(model.generate([1], 3, top_k=5)) == 3  # k == V is allowed
    with pytest.raises(ValueError, match="at least one token"):
        model.generate([], 3)
    with pytest.raises(ValueError, match=r"token id 5 out of range \[0, 5\)"):
        model.generate([1, 5], 3)
    with pytest.raises(ValueError, match="length must be an int >= 0, got -1"):
        model.generate([1], -1)
    with pytest.raises(ValueError, match="1-D"):
        model.generate(mg.tensor([[1, 2]]), 3)
    with pytest.raises(ValueError, match=r"idx of shape \(B, T\) with integer dtype"):
        model(mg.randn(2, 3))
    with pytest.raises(ValueError, match=r"idx of shape \(B, T\)"):
        model(ids([1, 2, 3]))
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        CharLM(5, cell="transformer")


# --- SequenceClassifier --------------------------------------------------------------


@pytest.mark.parametrize("cell,bidirectional,num_layers",
                         [("lstm", False, 1), ("gru", False, 2), ("rnn", True, 1),
                          ("lstm", True, 2), ("gru", True, 1)])
def test_classifier_padding_is_irrelevant(cell, bidirectional, num_layers):
    rng = np.random.default_rng(0)
    mg.manual_seed(0)
    model = SequenceClassifier(8, num_classes=3, embed_dim=5, hidden_size=7, cell=cell,
                               num_layers=num_layers, bidirectional=bidirectional)
    seqs = [[1, 2, 3, 4, 5], [6, 7], [3, 3, 1, 2]]
    lengths = [len(s) for s in seqs]
    a = model(ids(pad(seqs, 5, rng, 1, 8)), mg.tensor(lengths))
    b = model(ids(pad(seqs, 9, rng, 1, 8)), lengths)  # other T, other junk, list lengths
    c = model(ids(pad(seqs, 9, rng, 0, 1)), np.array(lengths))  # padded with pad id 0
    assert a.shape == (3, 3)
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6)
    np.testing.assert_allclose(c.numpy(), a.numpy(), atol=1e-6)
    for i, s in enumerate(seqs):  # each sequence alone, unpadded
        alone = model(ids([s]), [len(s)])
        np.testing.assert_allclose(alone.numpy()[0], a.numpy()[i], atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_classifier_float_features_padding_is_irrelevant(bidirectional):
    rng = np.random.default_rng(1)
    mg.manual_seed(0)
    model = SequenceClassifier(input_size=4, num_classes=1, hidden_size=6, cell="gru",
                               bidirectional=bidirectional)
    valid = rng.standard_normal((2, 6, 4)).astype(np.float32)
    lengths = [6, 3]
    x1 = valid.copy()
    x1[1, 3:] = rng.standard_normal((3, 4)) * 100
    x2 = np.concatenate([valid, rng.standard_normal((2, 4, 4)).astype(np.float32)], axis=1)
    x2[1, 3:] = -50.0
    a = model(mg.tensor(x1), lengths)
    b = model(mg.tensor(x2), lengths)
    assert a.shape == (2,)  # num_classes == 1: one logit per sequence
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6)


def test_classifier_binary_overfits():
    # label = does token 1 occur in the sequence; the padding junk contains 1s too.
    rng = np.random.default_rng(0)
    lengths = rng.integers(2, 8, size=16)
    seqs = [rng.integers(1, 6, size=n).tolist() for n in lengths]
    labels = np.array([float(1 in s) for s in seqs], dtype=np.float32)
    assert 0.25 < labels.mean() < 0.75
    x, y = ids(pad(seqs, 8, rng)), mg.tensor(labels)
    mg.manual_seed(0)
    model = SequenceClassifier(6, num_classes=1, embed_dim=8, hidden_size=32, cell="lstm")
    loss_fn = nn.BCEWithLogitsLoss()
    final = fit(model, lambda: loss_fn(model(x, lengths), y), steps=150, lr=0.02)
    assert final < 0.05, final  # log(2) = 0.69 for a coin flip
    assert ((model(x, lengths).numpy() > 0) == (labels > 0.5)).all()


def test_classifier_multiclass_bidirectional_overfits():
    # label = first token mod 3: the reverse direction must carry it to the end.
    rng = np.random.default_rng(2)
    lengths = rng.integers(2, 7, size=18)
    seqs = [rng.integers(1, 7, size=n).tolist() for n in lengths]
    labels = np.array([s[0] % 3 for s in seqs])
    x, y = ids(pad(seqs, 7, rng, 1, 7)), ids(labels)
    mg.manual_seed(0)
    model = SequenceClassifier(7, num_classes=3, embed_dim=8, hidden_size=16, cell="gru",
                               bidirectional=True)
    final = fit(model, lambda: F.cross_entropy(model(x, lengths), y), steps=120, lr=0.02)
    assert final < 0.05, final  # log(3) = 1.10 for a uniform guess
    assert (model(x, lengths).numpy().argmax(-1) == labels).all()


def test_classifier_bad_input():
    model = SequenceClassifier(5, num_classes=2, embed_dim=3, hidden_size=4)
    x = ids([[1, 2, 3], [2, 3, 0]])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=3\].*lengths\[1\]=4"):
        model(x, [3, 4])
    with pytest.raises(ValueError, match=r"lengths\[0\]=0"):
        model(x, [0, 2])
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\).*got shape \(2, 1\)"):
        model(x, mg.tensor([[3], [2]]))
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        model(x, [3, 2, 1])
    with pytest.raises(ValueError, match="lengths must be integers"):
        model(x, mg.tensor([3.0, 2.0]))
    with pytest.raises(ValueError, match=r"token ids x of shape \(B, T\)"):
        model(mg.randn(2, 3), [3, 2])
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        SequenceClassifier(5, input_size=3)
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        SequenceClassifier()
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        SequenceClassifier(5, num_classes=0)
    with pytest.raises(ValueError, match="unknown cell 'cnn'"):
        SequenceClassifier(5, cell="cnn")
    feats = SequenceClassifier(input_size=3, num_classes=2)
    with pytest.raises(ValueError, match=r"float features x of shape \(B, T, 3\)"):
        feats(mg.randn(2, 4, 5), [4, 4])


# --- SequenceTagger --------------------------------------------------------------------


def _updown_tags(seq):
    """Tag of position t: 0 if the next token is larger, 1 if smaller or equal, 2 at the
    end -- needs the future, i.e. the reverse direction."""
    return [0 if b > a else 1 for a, b in zip(seq, seq[1:])] + [2]


@pytest.mark.parametrize("cell", CELLS)
def test_tagger_shapes_and_padding(cell):
    rng = np.random.default_rng(0)
    mg.manual_seed(0)
    model = SequenceTagger(8, num_tags=4, embed_dim=5, hidden_size=6, cell=cell,
                           num_layers=2)
    seqs = [[1, 2, 3], [4, 5, 6, 7, 1], [2]]
    lengths = [3, 5, 1]
    a = model(ids(pad(seqs, 5, rng, 1, 8)), lengths)
    b = model(ids(pad(seqs, 8, rng, 1, 8)), mg.tensor(lengths))
    assert a.shape == (3, 5, 4) and b.shape == (3, 8, 4)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(b.numpy()[i, :n], a.numpy()[i, :n], atol=1e-6)
    # Without lengths every sequence is taken as full length T.
    full = ids([[1, 2, 3, 4]])
    np.testing.assert_allclose(model(full).numpy(), model(full, [4]).numpy(), atol=1e-7)
    uni = SequenceTagger(8, num_tags=4, hidden_size=6, cell=cell, bidirectional=False)
    assert uni(full).shape == (1, 4, 4)


def test_tagger_loss_ignores_index():
    mg.manual_seed(0)
    model = SequenceTagger(6, num_tags=3, embed_dim=4, hidden_size=5)
    x = ids([[1, 2, 3], [4, 5, 0]])
    tags = ids([[0, 2, 1], [1, -100, -100]])
    logits = model(x)
    loss = model.loss(logits, tags)
    logp = logits.log_softmax(-1).numpy()
    expect = -(logp[0, 0, 0] + logp[0, 1, 2] + logp[0, 2, 1] + logp[1, 0, 1]) / 4
    assert abs(loss.item() - expect) < 1e-5
    other = model.loss(logits, ids([[0, 2, 1], [1, 7, 7]]), ignore_index=7)
    assert abs(other.item() - expect) < 1e-5


def test_tagger_overfits():
    rng = np.random.default_rng(3)
    lengths = rng.integers(2, 8, size=12)
    seqs = [rng.integers(1, 6, size=n).tolist() for n in lengths]
    tags = np.full((12, 8), -100)
    for i, s in enumerate(seqs):
        tags[i, :len(s)] = _updown_tags(s)
    x, y = ids(pad(seqs, 8, rng)), ids(tags)
    mg.manual_seed(0)
    model = SequenceTagger(6, num_tags=3, embed_dim=8, hidden_size=24, cell="lstm")
    final = fit(model, lambda: model.loss(model(x, lengths), y), steps=120, lr=0.02)
    assert final < 0.05, final  # log(3) = 1.10 for a uniform guess
    pred = model(x, lengths).numpy().argmax(-1)
    assert (pred[tags != -100] == tags[tags != -100]).all()


def test_tagger_bad_input():
    model = SequenceTagger(5, num_tags=3, embed_dim=3, hidden_size=4)
    x = ids([[1, 2, 3]])
    with pytest.raises(ValueError, match=r"lengths must be in \[1, T=3\].*lengths\[0\]=9"):
        model(x, [9])
    with pytest.raises(ValueError, match=r"token ids x of shape \(B, T\)"):
        model(ids([1, 2, 3]))
    logits = model(x)
    with pytest.raises(ValueError, match=r"expected tags of shape \(1, 3\).*got \(1, 2\)"):
        model.loss(logits, ids([[0, 1]]))
    with pytest.raises(ValueError, match="tags must be integers"):
        model.loss(logits, mg.zeros(1, 3))
    with pytest.raises(ValueError, match=r"expected logits \(B, T, 3\)"):
        model.loss(logits[0], ids([[0, 1, 2]]))
    with pytest.raises(ValueError, match="num_tags must be >= 1"):
        SequenceTagger(5, num_tags=0)


# --- all models ----------------------------------------------------------------------


def _grads(model):
    return {n: p.grad.numpy() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("kind", ["classifier", "tagger", "seq2seq"])
def test_fused_flag_gives_the_same_results(kind):
    rng = np.random.default_rng(4)
    x = ids(pad([[1, 2, 3, 4], [5, 1]], 5, rng))
    lengths = [4, 2]

    def build(fused):
        mg.manual_seed(0)
        if kind == "classifier":
            m = SequenceClassifier(6, 3, embed_dim=4, hidden_size=5, cell="lstm",
                                   num_layers=2, bidirectional=True, fused=fused)
            return m, lambda: m(x, lengths)
        if kind == "tagger":
            m = SequenceTagger(6, 3, embed_dim=4, hidden_size=5, cell="gru", fused=fused)
            return m, lambda: m(x, lengths)
        m = Seq2Seq(6, 6, embed_dim=4, hidden_size=5, cell="lstm", num_layers=2, fused=fused)
        return m, lambda: m(x, x[:, :3], lengths)

    results = []
    for fused in (False, True):
        model, run = build(fused)
        out = run()
        (out * out).sum().backward()
        results.append((out.numpy(), _grads(model)))
    np.testing.assert_allclose(results[1][0], results[0][0], atol=1e-5)
    assert results[1][1].keys() == results[0][1].keys()
    for name, g in results[0][1].items():
        np.testing.assert_allclose(results[1][1][name], g, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("kind", ["char_lm", "classifier", "tagger", "seq2seq"])
def test_dropout_train_vs_eval(kind, recwarn):
    x = ids([[1, 2, 3, 4], [5, 1, 2, 0]])

    def build(p):
        mg.manual_seed(0)
        if kind == "char_lm":
            m = CharLM(6, embed_dim=8, hidden_size=16, dropout=p)
            return m, lambda: m(x)[0]
        if kind == "classifier":
            m = SequenceClassifier(6, 3, embed_dim=8, hidden_size=16, dropout=p)
            return m, lambda: m(x, [4, 3])
        if kind == "tagger":
            m = SequenceTagger(6, 3, embed_dim=8, hidden_size=16, num_layers=2, dropout=p)
            return m, lambda: m(x, [4, 3])
        m = Seq2Seq(6, 6, embed_dim=8, hidden_size=16, dropout=p)
        return m, lambda: m(x, x[:, :2], [4, 3])

    model, run = build(0.5)
    assert not np.allclose(run().numpy(), run().numpy())  # fresh masks in training
    plain, run_plain = build(0.0)
    model.eval()
    np.testing.assert_allclose(run().numpy(), run_plain().numpy(), atol=1e-6)
    assert not [w for w in recwarn if "dropout" in str(w.message)]  # 1 layer: no warning


@pytest.mark.skipif(not mg.cuda.is_available(), reason="needs CuPy and a GPU")
def test_models_run_on_cuda():
    mg.manual_seed(0)
    x = mg.tensor([[1, 2, 3, 4], [5, 1, 0, 0]], device="cuda")
    lengths = mg.tensor([4, 2], device="cuda")
    lm = CharLM(6, embed_dim=4, hidden_size=5).cuda()
    logits, _ = lm(x)
    assert logits.device == "cuda"
    mg.manual_seed(5)
    a = lm.generate([1, 2], 6, top_k=3)
    mg.manual_seed(5)
    assert lm.generate([1, 2], 6, top_k=3) == a and len(a) == 6
    clf = SequenceClassifier(6, 2, embed_dim=4, hidden_size=5, bidirectional=True).cuda()
    cpu = SequenceClassifier(6, 2, embed_dim=4, hidden_size=5, bidirectional=True)
    cpu.load_state_dict(clf.state_dict())
    out = clf(x, lengths)
    out.sum().backward()
    np.testing.assert_allclose(out.numpy(), cpu(x.cpu(), [4, 2]).numpy(), atol=1e-5)
    tagger = SequenceTagger(6, 3, embed_dim=4, hidden_size=5).cuda()
    assert tagger.loss(tagger(x, lengths), mg.tensor([[0, 1, 2, 0], [1, 2, -100, -100]],
                                                     device="cuda")).device == "cuda"
    s2s = Seq2Seq(6, 6, embed_dim=4, hidden_size=5, attention="additive").cuda()
    logits, attn = s2s(x, x[:, :3], lengths, return_attention=True)
    assert (attn.numpy()[1, :, 2:] == 0).all()
    tokens, attn = s2s.greedy_decode(x, 4, BOS, EOS, src_lengths=lengths)
    assert tokens.shape[0] == 2 and attn.shape[0] == 2


# --- Seq2Seq ---------------------------------------------------------------------------

PAD, BOS, EOS = 0, 1, 2


@pytest.mark.parametrize("cell,attention",
                         [("gru", "dot"), ("lstm", "additive"), ("rnn", "dot"),
                          ("lstm", "dot"), ("gru", "additive")])
def test_seq2seq_attention_weights(cell, attention):
    rng = np.random.default_rng(0)
    mg.manual_seed(0)
    model = Seq2Seq(9, 7, embed_dim=6, hidden_size=8, cell=cell, attention=attention,
                    num_layers=2)
    src_lengths = [4, 2, 3]
    src = ids(pad([[3, 4, 5, 6], [7, 8], [3, 3, 5]], 6, rng, 1, 9))
    tgt_in = ids(rng.integers(1, 7, size=(3, 5)))
    logits, attn = model(src, tgt_in, src_lengths, return_attention=True)
    assert logits.shape == (3, 5, 7) and attn.shape == (3, 5, 6)
    w = attn.numpy()
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-6)
    for b, n in enumerate(src_lengths):
        assert (w[b, :, n:] == 0).all()
        assert (w[b, :, :n] > 0).all()
    np.testing.assert_array_equal(model.attention_weights.numpy(), w)
    assert model(src, tgt_in, src_lengths).shape == (3, 5, 7)  # default: logits only


@pytest.mark.parametrize("cell", CELLS)
def test_seq2seq_padding_is_irrelevant(cell):
    rng = np.random.default_rng(1)
    mg.manual_seed(0)
    model = Seq2Seq(9, 7, embed_dim=6, hidden_size=8, cell=cell, attention="additive",
                    num_layers=2)
    seqs = [[3, 4, 5, 6], [7, 8], [5]]
    lengths = [4, 2, 1]
    tgt_in = ids(rng.integers(1, 7, size=(3, 4)))
    a, wa = model(ids(pad(seqs, 4, rng, 1, 9)), tgt_in, lengths, return_attention=True)
    b, wb = model(ids(pad(seqs, 7, rng, 1, 9)), tgt_in, mg.tensor(lengths),
                  return_attention=True)
    np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-6)
    np.testing.assert_allclose(wb.numpy()[..., :4], wa.numpy(), atol=1e-6)
    # The longest sequence alone (no padding: the one-call encoder path) agrees too.
    alone = model(ids([seqs[0]]), tgt_in[:1])
    np.testing.assert_allclose(alone.numpy()[0], a.numpy()[0], atol=1e-5)


def test_seq2seq_without_attention():
    mg.manual_seed(0)
    model = Seq2Seq(6, 5, embed_dim=4, hidden_size=6, cell="lstm", attention=None)
    logits, attn = model(ids([[3, 4, 0]]), ids([[1, 2]]), [2], return_attention=True)
    assert logits.shape == (1, 2, 5) and attn is None and model.attention_weights is None
    tokens, attn = model.greedy_decode(ids([[3, 4, 0]]), 4, BOS, EOS, src_lengths=[2])
    assert attn is None and tokens.shape[0] == 1 and 1 <= tokens.shape[1] <= 4


@pytest.mark.parametrize("cell,attention", [("gru", "dot"), ("lstm", "additive")])
def test_seq2seq_greedy_decode_matches_teacher_forcing(cell, attention):
    rng = np.random.default_rng(2)
    mg.manual_seed(3)
    model = Seq2Seq(9, 6, embed_dim=6, hidden_size=8, cell=cell, attention=attention)
    model.train()
    src, lengths = ids(pad([[3, 4, 5], [6, 7, 8], [8]], 3, rng, 1, 9)), [3, 3, 1]
    tokens, attn = model.greedy_decode(src, 6, BOS, EOS, src_lengths=lengths)
    assert model.training  # mode restored
    assert tokens.dtype == np.int64 and tokens.shape[0] == 3
    steps = tokens.shape[1]
    assert attn.shape == (3, steps, 3)
    # Feeding the decoded tokens back with teacher forcing reproduces them (up to each
    # row's first EOS, after which greedy_decode pads with EOS) and the same attention.
    tgt_in = ids(np.concatenate([np.full((3, 1), BOS), tokens[:, :-1]], axis=1))
    model.eval()
    logits, ref_attn = model(src, tgt_in, lengths, return_attention=True)
    pred = logits.numpy().argmax(-1)
    for b in range(3):
        row = tokens[b].tolist()
        n = row.index(EOS) + 1 if EOS in row else steps
        assert pred[b, :n].tolist() == row[:n]
        assert all(t == EOS for t in row[n:])
        np.testing.assert_allclose(attn[b, :n], ref_attn.numpy()[b, :n], atol=1e-6)


def test_seq2seq_learns_to_reverse_digits():
    # Reverse digit strings of length 2-5 (digits d -> token d + 3). Exact match of the
    # greedy decode on the training set must reach >= 0.9.
    rng = np.random.default_rng(0)
    n = 24
    lengths = rng.integers(2, 6, size=n)
    seqs = [(rng.integers(0, 10, size=k) + 3).tolist() for k in lengths]
    src = ids(pad(seqs, 5, rng, 0, 1))
    tgt_in = np.full((n, 6), PAD)
    tgt_out = np.full((n, 6), -100)
    for i, s in enumerate(seqs):
        rev = s[::-1]
        tgt_in[i, :len(s) + 1] = [BOS] + rev
        tgt_out[i, :len(s) + 1] = rev + [EOS]
    tgt_in, tgt_out = ids(tgt_in), ids(tgt_out)
    mg.manual_seed(0)
    model = Seq2Seq(13, 13, embed_dim=16, hidden_size=48, cell="gru", attention="dot")

    def loss_fn():
        logits = model(src, tgt_in, lengths)
        return F.cross_entropy(logits.reshape(-1, 13), tgt_out.reshape(-1), ignore_index=-100)

    fit(model, loss_fn, steps=200, lr=0.01)
    tokens, _ = model.greedy_decode(src, 7, BOS, EOS, src_lengths=lengths)
    hits = 0
    for i, s in enumerate(seqs):
        row = tokens[i].tolist()
        hits += row[:row.index(EOS)] == s[::-1] if EOS in row else False
    assert hits / n >= 0.9, hits / n


def test_seq2seq_bad_input():
    with pytest.raises(ValueError, match="unknown attention 'luong'"):
        Seq2Seq(5, 5, attention="luong")
    with pytest.raises(ValueError, match="unknown cell 'tree'"):
        Seq2Seq(5, 5, cell="tree")
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        Seq2Seq(5, 5, num_layers=0)
    model = Seq2Seq(5, 5, embed_dim=3, hidden_size=4)
    src, tgt = ids([[1, 2, 3]]), ids([[1, 2]])
    with pytest.raises(ValueError, match=r"Seq2Seq: lengths must be in \[1, T=3\].*=4"):
        model(src, tgt, [4])
    with pytest.raises(ValueError, match=r"expected src of shape \(B, L\)"):
        model(ids([1, 2, 3]), tgt)
    with pytest.raises(ValueError, match=r"expected tgt_in of shape \(B, L\) with integer"):
        model(src, mg.randn(1, 2))
    with pytest.raises(ValueError, match="batch sizes differ: 1 vs 2"):
        model(src, ids([[1], [2]]))
    with pytest.raises(ValueError, match="max_len must be an int >= 1, got 0"):
        model.greedy_decode(src, 0, 1, 2)
    with pytest.raises(ValueError, match=r"eos_id must be an int in \[0, tgt_vocab=5\)"):
        model.greedy_decode(src, 3, 1, 5)
    with pytest.raises(ValueError, match=r"lengths\[0\]=0"):
        model.greedy_decode(src, 3, 1, 2, src_lengths=[0])
