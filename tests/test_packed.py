"""Variable-length sequences: ``nn.utils.rnn`` and packed input to RNN / LSTM / GRU.

* every recurrent layer on a ``PackedSequence`` against PyTorch (fixtures
  ``packed/{cell}_{name}.npz``: layers 1-2 x bidirectional x bias, each with four
  layouts, enforce_sorted x batch_first, see tests/fixtures/README.md): packed output,
  final states, and the gradients of the input, the initial states and every parameter,
  on the graph path and the fused path, in float64 to 1e-9;
* the same numbers from the hand-derived twin, ``models.bptt.*_forward(lengths=...)``;
* ``pad_sequence`` / ``pack_sequence`` / ``pad_packed_sequence`` against PyTorch
  (``packed/utils.npz``), round trips, and finite-difference gradient checks;
* ``models.bptt`` with lengths equals each sequence run on its own;
* every bad input, with its message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)
from models import bptt, compare_gradients

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "packed"
LAYER_FILES = sorted(p.stem for p in FIXTURES.glob("*_l*.npz"))
LAYOUTS = ("sorted_tf", "sorted_bf", "unsorted_tf", "unsorted_bf")
LAYER = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
TOL = dict(rtol=0, atol=1e-9)


def load(name: str):
    z = np.load(FIXTURES / f"{name}.npz", allow_pickle=False)
    return json.loads(str(z["config"])), z


def t64(a, requires_grad=False):
    return mg.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def layout_of(layout: str):
    return layout.startswith("sorted"), layout.endswith("_bf")  # enforce_sorted, batch_first


def build(config, z, batch_first: bool, fused: bool):
    kwargs = dict(num_layers=config["num_layers"], bias=config["bias"],
                  bidirectional=config["bidirectional"], batch_first=batch_first,
                  fused=fused)
    if config["cell"] == "rnn":
        kwargs["nonlinearity"] = config["nonlinearity"]
    module = LAYER[config["cell"]](config["input_size"], config["hidden_size"],
                                   **kwargs).double()
    module.load_state_dict({k[len("param."):]: z[k] for k in z.files
                            if k.startswith("param.")})
    return module


def initial_states(config, z, p: str):
    """The fixture's initial states as leaves (zeros when it had none: grad.h0 is
    the gradient at the zero state), plus what to pass to the module."""
    D = 2 if config["bidirectional"] else 1
    batch = len(z[p + "lengths"])
    shape = (config["num_layers"] * D, batch, config["hidden_size"])
    names = ("h0", "c0") if config["cell"] == "lstm" else ("h0",)
    leaves = [t64(z[p + n] if p + n in z.files else np.zeros(shape), requires_grad=True)
              for n in names]
    return leaves, (tuple(leaves) if config["cell"] == "lstm" else leaves[0])


def finals_of(config, state):
    return list(state) if config["cell"] == "lstm" else [state]


CASES = [(name, layout, path) for name in LAYER_FILES for layout in LAYOUTS
         for path in ("graph", "fused")]


@pytest.mark.parametrize("name,layout,path", CASES)
def test_packed_layer_matches_pytorch(name, layout, path):
    config, z = load(name)
    p = layout + "."
    enforce_sorted, batch_first = layout_of(layout)
    module = build(config, z, batch_first, fused=path == "fused")
    x = t64(z[p + "x"], requires_grad=True)
    states, hx = initial_states(config, z, p)
    packed = pack_padded_sequence(x, z[p + "lengths"], batch_first=batch_first,
                                  enforce_sorted=enforce_sorted)
    out, state = module(packed, hx)
    finals = finals_of(config, state)

    assert isinstance(out, PackedSequence)
    np.testing.assert_allclose(out.data.numpy(), z[p + "output.data"], **TOL)
    np.testing.assert_array_equal(out.batch_sizes.numpy(), packed.batch_sizes.numpy())
    final_names = ("h_n", "c_n")[:len(finals)]
    for fname, f in zip(final_names, finals):
        np.testing.assert_allclose(f.numpy(), z[p + fname], **TOL, err_msg=fname)

    loss = (out.data * t64(z[p + "grad_output"])).sum()
    for fname, f in zip(final_names, finals):
        loss = loss + (f * t64(z[p + "grad_" + fname])).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), z[p + "grad.input"], **TOL)
    for sname, s in zip(("h0", "c0"), states):
        np.testing.assert_allclose(s.grad.numpy(), z[p + "grad." + sname], **TOL,
                                   err_msg=sname)
    grads = np.concatenate([q.grad.numpy().reshape(-1) for q in module.parameters()])
    np.testing.assert_allclose(grads, z[p + "grad.params"], **TOL)


def padded_grad(z, p, packed: PackedSequence, batch_first: bool, steps: int):
    """The fixture's upstream gradient of the packed output as a padded array."""
    g = PackedSequence(t64(z[p + "grad_output"]), packed.batch_sizes, packed.sorted_indices)
    return pad_packed_sequence(g, batch_first=batch_first, total_length=steps)[0].numpy()


@pytest.mark.parametrize("name,layout", [(n, lay) for n in LAYER_FILES for lay in LAYOUTS])
def test_hand_derived_bptt_with_lengths_matches_pytorch(name, layout):
    config, z = load(name)
    p = layout + "."
    enforce_sorted, batch_first = layout_of(layout)
    cell = config["cell"]
    params = {k[len("param."):]: z[k] for k in z.files if k.startswith("param.")}
    x, lengths = z[p + "x"], z[p + "lengths"]
    steps = x.shape[1 if batch_first else 0]
    states, _ = initial_states(config, z, p)
    kw = dict(num_layers=config["num_layers"], bidirectional=config["bidirectional"],
              batch_first=batch_first, lengths=lengths)
    packed = pack_padded_sequence(t64(x), lengths, batch_first=batch_first,
                                  enforce_sorted=enforce_sorted)
    expected_out = pad_packed_sequence(PackedSequence(
        t64(z[p + "output.data"]), packed.batch_sizes, packed.sorted_indices),
        batch_first=batch_first, total_length=steps)[0].numpy()
    g_out = padded_grad(z, p, packed, batch_first, steps)
    if cell == "lstm":
        out, (h_n, c_n), cache = bptt.lstm_forward(
            x, params, (states[0].numpy(), states[1].numpy()), **kw)
        grads = bptt.lstm_backward(cache, g_out, (z[p + "grad_h_n"], z[p + "grad_c_n"]))
        np.testing.assert_allclose(c_n, z[p + "c_n"], **TOL)
        np.testing.assert_allclose(grads["c0"], z[p + "grad.c0"], **TOL)
    else:
        extra = {"nonlinearity": config["nonlinearity"]} if cell == "rnn" else {}
        out, h_n, cache = getattr(bptt, f"{cell}_forward")(x, params, states[0].numpy(),
                                                           **kw, **extra)
        grads = getattr(bptt, f"{cell}_backward")(cache, g_out, z[p + "grad_h_n"])
    np.testing.assert_allclose(out, expected_out, **TOL)
    np.testing.assert_allclose(h_n, z[p + "h_n"], **TOL)
    np.testing.assert_allclose(grads["input"], z[p + "grad.input"], **TOL)
    np.testing.assert_allclose(grads["h0"], z[p + "grad.h0"], **TOL)
    flat = np.concatenate([grads[k].reshape(-1) for k in params])
    np.testing.assert_allclose(flat, z[p + "grad.params"], **TOL)


# ----------------------------------------------------------------- the functions
def test_utils_match_pytorch():
    config, z = load("utils")
    seqs = [t64(z[f"seq{i}"]) for i in range(4)]
    for bf in (False, True):
        for side in ("right", "left"):
            got = pad_sequence(seqs, batch_first=bf, padding_value=config["padding_value"],
                               padding_side=side)
            np.testing.assert_array_equal(
                got.numpy(), z[f"pad_sequence.{'bf' if bf else 'tf'}.{side}"])
    packed = pack_sequence(seqs, enforce_sorted=False)
    for field in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
        np.testing.assert_array_equal(getattr(packed, field).numpy(),
                                      z[f"pack_sequence.{field}"], err_msg=field)
    padded, lengths = pad_packed_sequence(packed, **config["pad_packed"])
    np.testing.assert_array_equal(padded.numpy(), z["pad_packed_sequence.padded"])
    np.testing.assert_array_equal(lengths.numpy(), z["pad_packed_sequence.lengths"])
    assert lengths.dtype == np.int64 and lengths.device == "cpu"


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("lengths,enforce_sorted", [([5, 3, 3, 1], True),
                                                    ([2, 5, 1, 3], False),
                                                    ([4, 4, 4, 4], False)])
def test_pack_pad_round_trip(batch_first, lengths, enforce_sorted):
    rng = np.random.default_rng(0)
    steps = 6
    shape = (4, steps, 2) if batch_first else (steps, 4, 2)
    x = rng.standard_normal(shape)
    packed = pack_padded_sequence(t64(x), lengths, batch_first, enforce_sorted)
    assert packed.data.shape == (sum(lengths), 2)
    assert packed.batch_sizes.dtype == np.int64 and packed.batch_sizes.device == "cpu"
    assert packed.batch_sizes.tolist() == [sum(n > t for n in lengths)
                                           for t in range(max(lengths))]
    assert (packed.sorted_indices is None) == enforce_sorted
    padded, out_lengths = pad_packed_sequence(packed, batch_first, padding_value=-1.0,
                                              total_length=steps)
    assert out_lengths.tolist() == lengths
    valid = np.arange(steps)[:, None] < np.array(lengths)[None, :]  # (T, B)
    if batch_first:
        valid = valid.T
    np.testing.assert_array_equal(padded.numpy(), np.where(valid[..., None], x, -1.0))
    short, _ = pad_packed_sequence(packed, batch_first)  # as long as the longest
    assert short.shape[1 if batch_first else 0] == max(lengths)
    # list <-> padded <-> packed
    seqs = unpad_sequence(t64(x), lengths, batch_first)
    for seq, n, ref in zip(seqs, lengths, unpack_sequence(packed), strict=True):
        assert seq.shape == (n, 2)
        np.testing.assert_array_equal(seq.numpy(), ref.numpy())
    again = pack_sequence(seqs, enforce_sorted=enforce_sorted)
    np.testing.assert_array_equal(again.data.numpy(), packed.data.numpy())
    np.testing.assert_array_equal(
        pad_sequence(seqs, batch_first).numpy(),
        pad_packed_sequence(packed, batch_first)[0].numpy())


GRADCHECKS = {
    "pack_padded_sequence": lambda x: pack_padded_sequence(x, [3, 1, 2], False, False).data,
    "pack_padded_bf": lambda x: pack_padded_sequence(x.transpose(0, 1), [3, 2, 1], True).data,
    "pad_packed_sequence": lambda x: pad_packed_sequence(
        pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False), padding_value=0.5,
        total_length=4)[0],
    "pad_sequence": lambda x: pad_sequence([x[:, 0], x[:2, 1], x[:1, 2]], True, 2.0, "left"),
    "pack_sequence": lambda x: pack_sequence([x[:1, 0], x[:, 1], x[:2, 2]], False).data,
    "unpack_sequence": lambda x: mg.cat(unpack_sequence(
        pack_padded_sequence(x, [2, 3, 1], enforce_sorted=False)), dim=0),
    "unpad_sequence": lambda x: mg.cat(unpad_sequence(x, [3, 1, 2]), dim=0) * 2.0,
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_functions_gradcheck(name):
    x = t64(np.random.default_rng(1).standard_normal((3, 3, 2)), requires_grad=True)
    assert mg.autograd.gradcheck(GRADCHECKS[name], (x,))


@pytest.mark.parametrize("name", ["pack_padded_sequence", "pad_packed_sequence",
                                  "pad_sequence"])
def test_functions_double_backward(name):
    """The gradient of a pack or pad is itself differentiable (create_graph=True)."""
    fn = GRADCHECKS[name]
    x = t64(np.random.default_rng(2).standard_normal((3, 3, 2)), requires_grad=True)
    w = t64(np.random.default_rng(3).standard_normal(fn(x).shape))
    (g,) = mg.autograd.grad((fn(x) ** 2 * w).sum(), [x], create_graph=True)
    (gg,) = mg.autograd.grad((g * g).sum(), [x])
    # y = a copy of some entries of x (+ constants): dL/dx = 2 w y on the copied
    # entries, so d/dx sum((dL/dx)^2) = 8 w^2 x there (w^2 brought back to x's layout)
    (w2,) = mg.autograd.grad((fn(x) * (w * w)).sum(), [x])
    np.testing.assert_allclose(gg.numpy(), 8 * w2.numpy() * x.numpy(), atol=1e-12)


def test_packed_sequence_is_a_named_tuple_with_conversions():
    packed = pack_padded_sequence(mg.randn(3, 2, 4), [3, 1], enforce_sorted=False)
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert packed._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert data is packed.data and batch_sizes.tolist() == [2, 1, 1]
    assert sorted_indices.tolist() == [0, 1] and unsorted_indices.tolist() == [0, 1]
    double = packed.double()
    assert double.data.dtype == np.float64 and double.batch_sizes is packed.batch_sizes
    assert double.float().data.dtype == np.float32
    assert packed.to(mg.float32) is packed and packed.cpu() is packed
    assert not packed.is_cuda and not packed.is_pinned()
    assert packed.to("cpu", mg.float64).sorted_indices.tolist() == [0, 1]


# ----------------------------------------------------------------- layers, more
def test_padding_never_enters_the_graph_path():
    """Whatever the padding holds (even NaN), outputs and gradients are the same."""
    mg.manual_seed(0)
    lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True).double()
    x = np.random.default_rng(0).standard_normal((3, 5, 2))
    results = []
    for fill in (0.0, np.nan):
        xf = x.copy()
        xf[1, 2:] = fill
        xf[2, 4:] = fill
        xt = t64(xf, requires_grad=True)
        out, (h, c) = lstm(pack_padded_sequence(xt, [5, 2, 4], True, False))
        (out.data.sum() + h.sum() + c.sum()).backward()
        grad = np.nan_to_num(xt.grad.numpy(), nan=123.0)
        results.append((out.data.numpy(), h.numpy(), grad,
                        lstm.weight_hh_l0_reverse.grad.numpy().copy()))
        lstm.zero_grad()
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fused", [False, True])
def test_packed_equals_running_each_sequence_alone(fused):
    """h_n of a packed batch (caller's order) = each sequence run alone, unpadded."""
    mg.manual_seed(1)
    gru = nn.GRU(2, 3, bidirectional=True, fused=fused).double()
    seqs = [t64(np.random.default_rng(i).standard_normal((n, 2))) for i, n in
            enumerate((2, 5, 3))]
    out, h_n = gru(pack_sequence(seqs, enforce_sorted=False))
    for b, (seq, alone) in enumerate(zip(seqs, unpack_sequence(out), strict=True)):
        ref_out, ref_h = gru(seq.reshape(1, *seq.shape))
        np.testing.assert_allclose(alone.numpy(), ref_out.numpy()[0], atol=1e-12)
        np.testing.assert_allclose(h_n.numpy()[:, b], ref_h.numpy()[:, 0], atol=1e-12)


def test_packed_graph_path_has_second_derivatives():
    """The packed graph path is ordinary differentiable ops: the gradient of a
    create_graph=True gradient matches finite differences of the gradient."""
    mg.manual_seed(3)
    gru = nn.GRU(2, 3, num_layers=2, bidirectional=True).double()

    def loss(x):
        out, h_n = gru(pack_padded_sequence(x, [2, 4, 1], batch_first=True,
                                            enforce_sorted=False))
        return (out.data ** 2).sum() + (h_n ** 2).sum()

    def grad_norm2(values):
        x = t64(values, requires_grad=True)
        (g,) = mg.autograd.grad(loss(x), [x])
        return float((g.numpy() ** 2).sum())

    rng = np.random.default_rng(5)
    values, direction = rng.standard_normal((2, 3, 4, 2))
    x = t64(values, requires_grad=True)
    (g,) = mg.autograd.grad(loss(x), [x], create_graph=True)
    (gg,) = mg.autograd.grad((g * g).sum(), [x])
    eps = 1e-6
    fd = (grad_norm2(values + eps * direction) - grad_norm2(values - eps * direction)) / (
        2 * eps)
    np.testing.assert_allclose((gg.numpy() * direction).sum(), fd, rtol=1e-6)


def test_dropout_between_layers_on_packed_input():
    mg.manual_seed(2)
    rnn = nn.RNN(2, 4, num_layers=2, dropout=0.5)
    packed = pack_sequence([mg.randn(3, 2), mg.randn(1, 2)])
    train_out = rnn(packed)[0].data.numpy()
    rnn.eval()
    eval1, eval2 = rnn(packed)[0].data.numpy(), rnn(packed)[0].data.numpy()
    np.testing.assert_array_equal(eval1, eval2)
    assert train_out.shape == eval1.shape == (4, 4) and not np.allclose(train_out, eval1)


def test_bptt_lengths_equal_each_sequence_alone_with_step_grads():
    """The hand-derived kernels' variable-length mode, checked without any packing:
    each sequence of the batch alone (no lengths) gives the same outputs, final
    states, input / state gradients and per-step gradients (0 past its end)."""
    rng = np.random.default_rng(4)
    B, T, I, H = 3, 5, 2, 3
    lengths = np.array([3, 5, 1])
    params = compare_gradients._random_params(rng, "lstm", I, H, 2, 2, True)
    x = rng.standard_normal((B, T, I))
    h0, c0 = rng.standard_normal((2, 4, B, H))
    g_out = rng.standard_normal((B, T, 2 * H))
    g_h, g_c = rng.standard_normal((2, 4, B, H))
    kw = dict(num_layers=2, bidirectional=True)
    out, (h_n, c_n), cache = bptt.lstm_forward(x, params, (h0, c0), lengths=lengths, **kw)
    grads = bptt.lstm_backward(cache, g_out, (g_h, g_c), return_step_grads=True)
    assert np.all(out[2, 1:] == 0) and np.all(grads["input"][0, 3:] == 0)
    for b, n in enumerate(lengths):
        o, (h, c), cb = bptt.lstm_forward(x[b:b + 1, :n], params,
                                          (h0[:, b:b + 1], c0[:, b:b + 1]), **kw)
        g = bptt.lstm_backward(cb, g_out[b:b + 1, :n], (g_h[:, b:b + 1], g_c[:, b:b + 1]),
                               return_step_grads=True)
        np.testing.assert_allclose(out[b, :n], o[0], atol=1e-12)
        np.testing.assert_allclose(h_n[:, b], h[:, 0], atol=1e-12)
        np.testing.assert_allclose(c_n[:, b], c[:, 0], atol=1e-12)
        for key in ("input", "h0", "c0"):
            got = grads[key][b, :n] if key == "input" else grads[key][:, b]
            want = g[key][0] if key == "input" else g[key][:, 0]
            np.testing.assert_allclose(got, want, atol=1e-12, err_msg=key)
        for key in ("dh_steps", "dc_steps"):
            np.testing.assert_allclose(grads[key][:, :n, b], g[key][:, :, 0], atol=1e-12)
            assert np.all(grads[key][:, n:, b] == 0)


def test_compare_gradients_cli_with_lengths(capsys):
    assert compare_gradients.main(["--cell", "lstm", "--lengths", "5", "3", "2", "--layers",
                                   "2", "--bidirectional", "--fused"]) == 0
    text = capsys.readouterr().out
    assert "lengths=[5, 3, 2] (packed)" in text and "PASS: all" in text
    assert compare_gradients.main(["--cell", "gru", "--random-lengths", "--seed", "3"]) == 0
    assert compare_gradients.main(["--lengths", "11", "2"]) == 2
    assert "lengths: expected 2 (batch) lengths in [1, timesteps=10]" in \
        capsys.readouterr().err


# ----------------------------------------------------------------- bad input
X = mg.randn(4, 3, 2)  # (T, B, I)
SORT_MSG = "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True"
BAD_INPUTS = {
    "zero length": (lambda: pack_padded_sequence(X, [4, 1, 0]), RuntimeError,
                    r"Length of all samples has to be greater than 0.*lengths\[2\]=0"),
    "negative length": (lambda: pack_padded_sequence(X, [4, -1, 1], enforce_sorted=False),
                        RuntimeError, "greater than 0"),
    "too long": (lambda: pack_padded_sequence(X, [5, 2, 1]), RuntimeError,
                 r"lengths\[0\]=5 is longer than the padded sequence dimension \(4\).*"
                 "pass batch_first=True"),
    "wrong count": (lambda: pack_padded_sequence(X, [4, 2]), RuntimeError,
                    r"Expected `len\(lengths\)` to be equal to batch_size, but got 2 "
                    r"\(batch_size=3\)"),
    "unsorted": (lambda: pack_padded_sequence(X, [2, 4, 1]), RuntimeError,
                 SORT_MSG + ". You can pass `enforce_sorted=False`"),
    "2-D lengths": (lambda: pack_padded_sequence(X, [[2, 4, 1]]), RuntimeError,
                    "'lengths' argument should be a 1D CPU int64 tensor, but got 2D"),
    "fractional lengths": (lambda: pack_padded_sequence(X, [2.5, 4, 1], False, False),
                           TypeError, "lengths must be integers"),
    "input not a tensor": (lambda: pack_padded_sequence(np.zeros((4, 3)), [4, 2, 1]),
                           TypeError, "expected input to be a Tensor, got ndarray"),
    "1-D input": (lambda: pack_padded_sequence(mg.randn(4), [4]), ValueError,
                  r"at least 2 dims.*\(4,\)"),
    "empty batch": (lambda: pack_padded_sequence(mg.zeros(3, 0, 2), []), RuntimeError,
                    "Cannot pack empty tensors"),
    "no timesteps": (lambda: pack_padded_sequence(mg.zeros(0, 2, 2), [1, 1]), RuntimeError,
                     "Cannot pack empty tensors"),
    "total_length": (lambda: pad_packed_sequence(pack_padded_sequence(X, [4, 2, 1]),
                                                 total_length=3), ValueError,
                     "Expected total_length to be at least the length of the longest "
                     "sequence in input, but got total_length=3 and max sequence length "
                     "being 4"),
    "pad_packed of a tensor": (lambda: pad_packed_sequence(X), TypeError,
                               "expected a PackedSequence, got Tensor"),
    "pad empty": (lambda: pad_sequence([]), RuntimeError,
                  "received an empty list of sequences"),
    "pad mismatch": (lambda: pad_sequence([mg.randn(3, 2), mg.randn(2, 3)]), RuntimeError,
                     r"sequences\[0\] has shape \(3, 2\), sequences\[1\] has \(2, 3\)"),
    "pad dtype": (lambda: pad_sequence([mg.randn(3), mg.randn(2, dtype=mg.float64)]),
                  TypeError, "one dtype and device"),
    "pad side": (lambda: pad_sequence([mg.randn(3)], padding_side="middle"), RuntimeError,
                 "Expected padding_side to be one of left or right, but got middle."),
    "pack_sequence unsorted": (lambda: pack_sequence([mg.randn(2), mg.randn(3)]),
                               RuntimeError, SORT_MSG),
    "pack_sequence empty sequence": (lambda: pack_sequence([mg.randn(2), mg.randn(0)]),
                                     RuntimeError, "greater than 0"),
    "PackedSequence batch_sizes": (lambda: PackedSequence(mg.randn(3, 2), [1, 2]),
                                   ValueError, "positive and non-increasing"),
    "PackedSequence sum": (lambda: PackedSequence(mg.randn(3, 2), [2, 2]), ValueError,
                           r"sum = data.shape\[0\] = 3"),
    "layer feature size": (lambda: nn.LSTM(3, 4)(pack_padded_sequence(X, [4, 2, 1])),
                           ValueError, r"PackedSequence feature size mismatch: expected "
                           r"data of shape \(sum\(lengths\), input_size=3\), got \(7, 2\)"),
    "packed h0 batch": (lambda: nn.GRU(2, 4)(pack_padded_sequence(X, [4, 2, 1]),
                                             mg.zeros(1, 2, 4)), ValueError,
                        r"expected h0 of shape \(1, 3, 4\).*PackedSequence of 3 sequences"),
    "packed c0 batch": (lambda: nn.LSTM(2, 4, fused=True)(
        pack_padded_sequence(X, [4, 2, 1]), (mg.zeros(1, 3, 4), mg.zeros(1, 4, 4))),
        ValueError, r"expected c0 of shape \(1, 3, 4\)"),
    "packed dtype": (lambda: nn.RNN(2, 4).double()(pack_padded_sequence(X, [4, 2, 1])),
                     TypeError, "the input has dtype float32 but the parameters have "
                     "dtype float64"),
    "bptt lengths count": (lambda: bptt.gru_forward(np.zeros((3, 4, 2)), _gru_params(),
                                                    lengths=[4, 2]), ValueError,
                           r"lengths: expected shape \(3,\).*got shape \(2,\)"),
    "bptt lengths range": (lambda: bptt.gru_forward(np.zeros((3, 4, 2)), _gru_params(),
                                                    lengths=[4, 5, 1]), ValueError,
                           r"in \[1, T=4\].*lengths\[1\]=5"),
}


def _gru_params():
    rng = np.random.default_rng(0)
    return compare_gradients._random_params(rng, "gru", 2, 3, 1, 1, True)


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input(case):
    fn, exc, message = BAD_INPUTS[case]
    with pytest.raises(exc, match=message):
        fn()


# ----------------------------------------------------------------- the batch_first trap
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU])
@pytest.mark.parametrize("fused", [False, True])
def test_time_major_input_to_the_batch_first_default_says_so(cls, fused):
    """A PyTorch-style (T, B, I) input with a (L, B, H) state: the error says how to
    fix it; with batch_first=False the same call works."""
    x, h0 = mg.randn(7, 3, 2), mg.zeros(1, 3, 4)  # (timesteps, batch, input), (L, B, H)
    state = (h0, h0) if cls is nn.LSTM else h0
    with pytest.raises(ValueError, match=r"expected h0 of shape \(1, 7, 4\).*got \(1, 3, 4\)"
                       r".*if your input is \(timesteps, batch, input_size\), pass "
                       "batch_first=False"):
        cls(2, 4, fused=fused)(x, state)
    out, _ = cls(2, 4, batch_first=False, fused=fused)(x, state)
    assert out.shape == (7, 3, 4)


def test_no_batch_first_hint_when_batch_first_is_false():
    with pytest.raises(ValueError, match=r"expected h0 of shape \(1, 3, 4\)") as info:
        nn.GRU(2, 4, batch_first=False)(mg.randn(7, 3, 2), mg.zeros(1, 5, 4))
    assert "batch_first=False" not in str(info.value)


def test_packed_step_benchmark_runs():
    """benchmarks/packed_step.py (packing vs padding with masks) runs and prints its
    table; the timings themselves are for reading, not asserting."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "packed_step.py"
    proc = subprocess.run([sys.executable, str(script), "--config", "tiny", "--cell", "gru",
                           "--repeats", "1"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split() == ["path", "full", "pad+gather", "pad+mask", "packed"]
    assert [line.split()[0] for line in lines[2:]] == ["graph", "fused"]
