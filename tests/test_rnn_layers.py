"""``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` and their cells.

* every PyTorch golden fixture in ``tests/fixtures/recurrent`` (layers on both the graph
  path and ``fused=True``, and cells): outputs, final states and every gradient;
* the RNN against a plain NumPy loop; finite-difference gradchecks;
* truncated BPTT with ``detach()``; a 1,000-step sequence trains and frees its graph;
* bad input, ``create_graph`` through a fused layer, dropout between layers.
"""

from __future__ import annotations

import json
import math
import weakref
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

FIXTURES = Path(__file__).parent / "fixtures" / "recurrent"
ALL_FILES = sorted(FIXTURES.glob("*.npz"))
LAYER_FILES = [p for p in ALL_FILES if "cell" not in p.name]
CELL_FILES = [p for p in ALL_FILES if "cell" in p.name]
LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CELLS = {"rnncell": nn.RNNCell, "lstmcell": nn.LSTMCell, "grucell": nn.GRUCell}
RTOL, ATOL = 1e-9, 1e-12


def load(path: Path) -> tuple[dict, dict]:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("config"))), arrays


def params_of(z: dict) -> dict:
    return {k[len("param."):]: v for k, v in z.items() if k.startswith("param.")}


def close(actual, expected, what: str) -> None:
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else actual
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def weighted_sum(tensors, weights):
    """``sum_i sum(t_i * w_i)``: its backward feeds ``w_i`` as the upstream gradient."""
    total = None
    for t, w in zip(tensors, weights):
        term = (t * mg.tensor(w)).sum()
        total = term if total is None else total + term
    return total


def build_layer(cfg: dict, fused: bool, params: dict):
    kwargs = dict(num_layers=cfg["num_layers"], bias=cfg["bias"],
                  batch_first=cfg["batch_first"], bidirectional=cfg["bidirectional"],
                  fused=fused)
    if cfg["cell"] == "rnn":
        kwargs["nonlinearity"] = cfg["nonlinearity"]
    module = LAYERS[cfg["cell"]](cfg["input_size"], cfg["hidden_size"], **kwargs).double()
    # same names, same order as PyTorch's state dict
    assert list(module.state_dict()) == list(params)
    module.load_state_dict(params)
    return module


def call_layer(module, cell: str, x, states):
    """Uniform call; returns ``(output, [final states])``."""
    if cell == "lstm":
        out, (h_n, c_n) = module(x, None if states is None else tuple(states))
        return out, [h_n, c_n]
    out, h_n = module(x, None if states is None else states[0])
    return out, [h_n]


# ------------------------------------------------------------------ golden fixtures
@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
@pytest.mark.parametrize("path", LAYER_FILES, ids=lambda p: p.stem)
def test_layer_matches_pytorch(path, fused):
    cfg, z = load(path)
    cell = cfg["cell"]
    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    finals = ["h_n", "c_n"] if cell == "lstm" else ["h_n"]
    params = params_of(z)
    module = build_layer(cfg, fused, params)

    # Given states as in the fixture; without them, a None state (zeros) first, then
    # explicit zero states that require grad for the fixture's grad.h0 / grad.c0.
    runs = [True] if cfg["has_h0"] else [False, True]
    for with_states in runs:
        module.zero_grad()
        x = mg.tensor(z["x"], requires_grad=True)
        states = None
        if with_states:
            states = [mg.tensor(z[n] if cfg["has_h0"] else np.zeros_like(z["grad." + n]),
                                requires_grad=True) for n in names]
        out, fin = call_layer(module, cell, x, states)
        close(out, z["output"], "output")
        for name, t in zip(finals, fin):
            assert t.shape == z[name].shape
            close(t, z[name], name)
        loss = weighted_sum([out, *fin], [z["grad_output"]] + [z["grad_" + n] for n in finals])
        loss.backward()
        close(x.grad, z["grad.input"], "grad.input")
        for key, p in module.named_parameters():
            close(p.grad, z["grad.param." + key], "grad of " + key)
        if states is not None:
            for name, s in zip(names, states):
                close(s.grad, z["grad." + name], "grad." + name)


@pytest.mark.parametrize("path", CELL_FILES, ids=lambda p: p.stem)
def test_cell_matches_pytorch(path):
    cfg, z = load(path)
    cell = cfg["cell"]
    kwargs = {"bias": cfg["bias"]}
    if cell == "rnncell":
        kwargs["nonlinearity"] = cfg["nonlinearity"]
    module = CELLS[cell](cfg["input_size"], cfg["hidden_size"], **kwargs).double()
    params = params_of(z)
    assert list(module.state_dict()) == list(params)
    module.load_state_dict(params)
    x = mg.tensor(z["x"], requires_grad=True)
    h = mg.tensor(z["h"], requires_grad=True)
    if cell == "lstmcell":
        c = mg.tensor(z["c"], requires_grad=True)
        h_out, c_out = module(x, (h, c))
        outs, keys = [h_out, c_out], ["h_out", "c_out"]
    else:
        outs, keys = [module(x, h)], ["h_out"]
    for t, key in zip(outs, keys):
        assert t.shape == z[key].shape
        close(t, z[key], key)
    weighted_sum(outs, [z["grad_" + k] for k in keys]).backward()
    close(x.grad, z["grad.input"], "grad.input")
    close(h.grad, z["grad.h"], "grad.h")
    if cell == "lstmcell":
        close(c.grad, z["grad.c"], "grad.c")
    for key, p in module.named_parameters():
        close(p.grad, z["grad.param." + key], "grad of " + key)


def test_state_keyword_names():
    """``rnn(x, h0=...)`` / ``cell(x, h=...)`` as documented, ``hx=`` as PyTorch."""
    mg.manual_seed(0)
    x, h0 = mg.randn(2, 4, 3), mg.randn(1, 2, 5)
    for cls in (nn.RNN, nn.GRU):
        module = cls(3, 5)
        a, b, c = module(x, h0)[0], module(x, h0=h0)[0], module(x, hx=h0)[0]
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
        with pytest.raises(TypeError, match="got both h0 and hx"):
            module(x, h0, hx=h0)
    for cls in (nn.RNNCell, nn.GRUCell):
        cell = cls(3, 5)
        a, b, c = cell(x[:, 0], h0[0]), cell(x[:, 0], h=h0[0]), cell(x[:, 0], hx=h0[0])
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())
    lstm = nn.LSTM(3, 5)
    out, _ = lstm(x, hx=(h0, h0))
    np.testing.assert_array_equal(out.numpy(), lstm(x, (h0, h0))[0].numpy())


def test_cells_default_state_is_zeros():
    mg.manual_seed(0)
    x = mg.randn(2, 3, dtype=mg.float64)
    for cls in (nn.RNNCell, nn.GRUCell):
        cell = cls(3, 4).double()
        close(cell(x), cell(x, mg.zeros(2, 4, dtype=mg.float64)).numpy(), cls.__name__)
    cell = nn.LSTMCell(3, 4).double()
    zeros = mg.zeros(2, 4, dtype=mg.float64)
    for a, b in zip(cell(x), cell(x, (zeros, zeros))):
        close(a, b.numpy(), "LSTMCell")


# ------------------------------------------------------------------ semantics
def numpy_rnn(x_bti, layers, h0):
    """A plain NumPy Elman RNN: ``h_t = tanh(W_x x_t + W_h h_{t-1} + b)`` per layer."""
    inp = x_bti
    finals = []
    for k, (w_x, w_h, b) in enumerate(layers):
        h = h0[k]
        hs = []
        for t in range(inp.shape[1]):
            h = np.tanh(inp[:, t] @ w_x.T + h @ w_h.T + b)
            hs.append(h)
        inp = np.stack(hs, axis=1)
        finals.append(h)
    return inp, np.stack(finals)


@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
def test_rnn_equals_plain_numpy_loop(fused):
    mg.manual_seed(3)
    rnn = nn.RNN(5, 7, num_layers=2, fused=fused).double()
    x = mg.randn(4, 9, 5, dtype=mg.float64)
    h0 = mg.randn(2, 4, 7, dtype=mg.float64)
    out, h_n = rnn(x, h0)
    sd = rnn.state_dict()
    layers = [(sd[f"weight_ih_l{k}"], sd[f"weight_hh_l{k}"],
               sd[f"bias_ih_l{k}"] + sd[f"bias_hh_l{k}"]) for k in range(2)]
    ref_out, ref_h = numpy_rnn(x.numpy(), layers, h0.numpy())
    np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-12, atol=1e-13)  # every h_t
    np.testing.assert_allclose(h_n.numpy(), ref_h, rtol=1e-12, atol=1e-13)


def _gradcheck_module(module, x, states):
    params = list(module.parameters())

    def fn(x, *rest):
        st = rest[:len(states)]
        if isinstance(module, nn.LSTM):
            out, (h, c) = module(x, st)
            return out, h, c
        return module(x, st[0])

    assert mg.autograd.gradcheck(fn, (x, *states, *params), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_gradcheck(cls, fused):
    mg.manual_seed(1)
    module = cls(2, 3, num_layers=2, bidirectional=True, fused=fused).double()
    x = mg.randn(2, 3, 2, dtype=mg.float64, requires_grad=True)
    n_states = 2 if cls is nn.LSTM else 1
    states = [mg.randn(4, 2, 3, dtype=mg.float64, requires_grad=True) for _ in range(n_states)]
    _gradcheck_module(module, x, states)


def test_gradcheck_relu_nobias_time_first():
    mg.manual_seed(2)
    module = nn.RNN(3, 4, nonlinearity="relu", bias=False, batch_first=False).double()
    x = mg.randn(4, 2, 3, dtype=mg.float64, requires_grad=True)
    h0 = mg.randn(1, 2, 4, dtype=mg.float64, requires_grad=True)
    _gradcheck_module(module, x, [h0])


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell,
                                 nn.GRUCell], ids=lambda c: c.__name__)
def test_parameters_init_and_names(cls):
    """PyTorch's names and shapes; every parameter U(-1/sqrt(H), 1/sqrt(H)), spread over
    that range (not constant), reproducible with the seed; layers and cells alike."""
    is_cell = cls in CELLS.values()
    G = {nn.RNN: 1, nn.LSTM: 4, nn.GRU: 3, nn.RNNCell: 1, nn.LSTMCell: 4, nn.GRUCell: 3}[cls]
    weights = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def make(**kwargs):
        return cls(5, 16, **kwargs) if is_cell else cls(5, 16, num_layers=2,
                                                          bidirectional=True, **kwargs)

    mg.manual_seed(0)
    module = make()
    names = [n for n, _ in module.named_parameters()]
    if is_cell:
        expected = list(weights)
        shapes = {"weight_ih": (G * 16, 5), "weight_hh": (G * 16, 16), "bias_ih": (G * 16,),
                  "bias_hh": (G * 16,)}
    else:
        expected = [f"{w}_l{k}{s}" for k in range(2) for s in ("", "_reverse")
                    for w in weights]
        shapes = {"weight_ih_l0": (G * 16, 5), "weight_ih_l1_reverse": (G * 16, 32),
                  "weight_hh_l1": (G * 16, 16), "bias_hh_l0": (G * 16,)}
    assert names == expected
    params = dict(module.named_parameters())
    for name, shape in shapes.items():
        assert params[name].shape == shape, name
    bound = 1 / math.sqrt(16)
    for name, p in module.named_parameters():
        a = p.numpy()
        assert p.requires_grad and p.dtype == mg.get_default_dtype(), name
        assert -bound <= a.min() and a.max() <= bound, name
        assert np.abs(a).max() > bound / 2, name  # spread over the range
        assert np.unique(a).size > a.size // 2, name  # not all equal (nor a few values)
    mg.manual_seed(0)
    again = make()
    for (_, a), (_, b) in zip(module.named_parameters(), again.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    no_bias = [n for n, _ in cls(5, 16, bias=False).named_parameters()]
    assert no_bias == (["weight_ih", "weight_hh"] if is_cell else ["weight_ih_l0",
                                                                     "weight_hh_l0"])


def test_extra_repr():
    assert repr(nn.RNN(3, 4)) == "RNN(3, 4)"
    assert "num_layers=2" in repr(nn.LSTM(3, 4, num_layers=2, bidirectional=True))
    assert "bidirectional=True" in repr(nn.LSTM(3, 4, num_layers=2, bidirectional=True))
    assert "nonlinearity='relu'" in repr(nn.RNN(3, 4, nonlinearity="relu"))
    assert "batch_first=False" in repr(nn.GRU(3, 4, batch_first=False))
    assert repr(nn.GRUCell(3, 4)) == "GRUCell(3, 4)"
    assert repr(nn.RNNCell(3, 4, bias=False, nonlinearity="relu")) == (
        "RNNCell(3, 4, bias=False, nonlinearity='relu')")


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_unbatched_equals_batch_of_one(cls):
    mg.manual_seed(4)
    module = cls(3, 4, num_layers=2, bidirectional=True).double()
    x = mg.randn(6, 3, dtype=mg.float64)
    out, fin = call_layer(module, cls.__name__.lower(), x, None)
    out1, fin1 = call_layer(module, cls.__name__.lower(), x.unsqueeze(0), None)
    assert out.shape == (6, 8) and all(f.shape == (4, 4) for f in fin)
    close(out, out1.numpy()[0], "output")
    for a, b in zip(fin, fin1):
        close(a, b.numpy()[:, 0], "final state")


def test_truncated_bptt_with_detach():
    """``h = h.detach()`` between chunks: each backward stays inside its chunk."""
    mg.manual_seed(5)
    rnn = nn.RNN(3, 6).double()
    seq = mg.randn(2, 12, 3, dtype=mg.float64)
    chunks = [seq[:, k:k + 4] for k in range(0, 12, 4)]
    h = None
    grads = []
    for chunk in chunks:
        rnn.zero_grad()
        out, h = rnn(chunk, h)
        (out * out).mean().backward()  # would raise on chunk 2 without the detach
        grads.append(rnn.weight_hh_l0.grad.numpy().copy())
        h_value = h.detach()
        assert h_value.grad_fn is None and not h_value.requires_grad
        h = h_value
    # the last chunk's gradient is that of the chunk alone with its start state a constant
    _, h_before = rnn(mg.cat(chunks[:2], dim=1))
    rnn.zero_grad()
    out, _ = rnn(chunks[2], h_before.detach())
    (out * out).mean().backward()
    np.testing.assert_allclose(grads[2], rnn.weight_hh_l0.grad.numpy(), rtol=1e-12)

    # without detach the second backward reaches the first chunk's freed graph
    out, h = rnn(chunks[0])
    (out * out).mean().backward()
    out, h = rnn(chunks[1], h)
    with pytest.raises(RuntimeError, match="second time"):
        (out * out).mean().backward()


@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
def test_long_sequence_trains_and_frees_graph(fused):
    mg.manual_seed(6)
    rnn = nn.RNN(8, 32, fused=fused)
    x = mg.randn(16, 1000, 8)
    before = [p.numpy().copy() for p in rnn.parameters()]
    out, h_n = rnn(x)
    loss = (out * out).mean() + (h_n * h_n).mean()
    # every node and every non-leaf tensor of the graph, weakly
    nodes, tensors, stack, seen = [], [], [loss.grad_fn], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        for t in node.inputs:
            if t.grad_fn is not None:
                tensors.append(weakref.ref(t))
                stack.append(t.grad_fn)
    assert len(nodes) > (4 if fused else 1000)  # one node per step: deeper than the
    # default recursion limit
    del out, h_n, stack, node, t
    loss.backward()  # no recursion error at 1,000+ nodes deep
    for p, old in zip(rnn.parameters(), before):
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all()
        with mg.no_grad():
            p.data -= 0.1 * p.grad.data  # an SGD step
        assert not np.array_equal(p.numpy(), old)
    assert all(n.saved is None and n.inputs is None for n in nodes)
    assert all(r() is None for r in tensors)  # intermediate Tensors were released
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


# ------------------------------------------------------------------ bad input
@pytest.fixture
def rnn():
    mg.manual_seed(0)
    return nn.RNN(3, 4, num_layers=2)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"nonlinearity": "sigmoid"}, ValueError, "unknown nonlinearity 'sigmoid'"),
    ({"num_layers": 0}, ValueError, "num_layers must be >= 1, got 0"),
    ({"hidden_size": 0}, ValueError, "hidden_size must be >= 1, got 0"),
    ({"input_size": -1}, ValueError, "input_size must be >= 1, got -1"),
    ({"dropout": 1.5}, ValueError, r"dropout must be a number in \[0, 1\].*got 1.5"),
    ({"dropout": -0.1}, ValueError, r"dropout must be a number in \[0, 1\]"),
    ({"hidden_size": 2.5}, TypeError, "hidden_size must be an int, got float"),
])
def test_bad_constructor_arguments(kwargs, error, match):
    args = {"input_size": 3, "hidden_size": 4, **kwargs}
    with pytest.raises(error, match=match):
        nn.RNN(**args)
    if "nonlinearity" in kwargs:
        with pytest.raises(error, match=match):
            nn.RNNCell(3, 4, nonlinearity="sigmoid")
    else:
        other = {k: v for k, v in args.items() if k != "nonlinearity"}
        with pytest.raises(error, match=match):
            nn.LSTM(**other)


def test_bad_input_shapes(rnn):
    with pytest.raises(ValueError, match=r"expected input_size=3.*got 5.*\(7, 5\)"):
        rnn(mg.randn(7, 5))  # 2-D (unbatched) input of the wrong size
    with pytest.raises(ValueError, match=r"3-D input \(batch, timesteps, input_size\).*"
                                         r"got a 4-D input of shape \(2, 5, 3, 1\)"):
        rnn(mg.randn(2, 5, 3, 1))
    with pytest.raises(ValueError, match=r"expected input_size=3.*got 6.*\(2, 5, 6\)"):
        rnn(mg.randn(2, 5, 6))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 2, 4\) "
                                         r"\(num_layers\*num_directions, batch, hidden_size\), "
                                         r"got \(1, 2, 4\)"):
        rnn(mg.randn(2, 5, 3), mg.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"expected h0 of shape \(2, 4\).*unbatched.*"
                                         r"got \(2, 1, 4\)"):
        rnn(mg.randn(5, 3), mg.zeros(2, 1, 4))  # batched state for an unbatched input
    with pytest.raises(ValueError, match="at least one timestep"):
        rnn(mg.randn(2, 0, 3))


def test_bad_input_types(rnn):
    with pytest.raises(TypeError, match="floating-point input, got dtype int64"):
        rnn(mg.tensor(np.ones((2, 5, 3), dtype=np.int64)))
    with pytest.raises(TypeError, match="input has dtype float64 but the parameters have "
                                        "dtype float32"):
        rnn(mg.randn(2, 5, 3, dtype=mg.float64))
    with pytest.raises(TypeError, match="expected the input to be a Tensor, got ndarray"):
        rnn(np.ones((2, 5, 3)))
    with pytest.raises(TypeError, match="expected h0 to be a Tensor, got ndarray"):
        rnn(mg.randn(2, 5, 3), np.zeros((2, 2, 4)))
    with pytest.raises(TypeError, match="h0 has dtype float64 but the input has dtype float32"):
        rnn(mg.randn(2, 5, 3), mg.zeros(2, 2, 4, dtype=mg.float64))


def test_bad_lstm_states():
    lstm = nn.LSTM(3, 4)
    x = mg.randn(2, 5, 3)
    with pytest.raises(ValueError, match=r"h0 and c0 must have the same shape \(1, 2, 4\).*"
                                         r"got h0 \(1, 2, 4\) and c0 \(1, 3, 4\)"):
        lstm(x, (mg.zeros(1, 2, 4), mg.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match=r"expected c0 of shape \(1, 2, 4\)"):
        lstm(x, (None, mg.zeros(1, 2, 5)))
    with pytest.raises(TypeError, match=r"LSTM: expected hx to be a tuple \(h0, c0\) of "
                                        r"Tensors or None, got Tensor$"):
        lstm(x, mg.zeros(1, 2, 4))
    h0 = mg.zeros(1, 2, 4)
    with pytest.raises(TypeError, match=r"LSTM: expected hx to be a tuple \(h0, c0\).*"
                                        r"got a tuple of length 1$"):
        lstm(x, (h0,))
    with pytest.raises(TypeError, match=r"LSTM: .*got a list of length 3$"):
        lstm(x, [h0, h0, h0])
    cell = nn.LSTMCell(3, 4)
    h = mg.zeros(2, 4)
    with pytest.raises(TypeError, match=r"LSTMCell: expected hx to be a tuple \(h, c\) of "
                                        r"Tensors or None, got a tuple of length 1$"):
        cell(x[:, 0], (h,))
    with pytest.raises(TypeError, match=r"LSTMCell: .*got a tuple of length 0$"):
        cell(x[:, 0], ())
    with pytest.raises(TypeError, match=r"LSTMCell: .*got Tensor$"):
        cell(x[:, 0], h)
    # a list of two states is accepted, as a tuple
    np.testing.assert_array_equal(cell(x[:, 0], [h, h])[0].numpy(),
                                  cell(x[:, 0], (h, h))[0].numpy())
    with pytest.raises(ValueError, match=r"LSTMCell: expected c of shape \(2, 4\)"):
        nn.LSTMCell(3, 4)(mg.randn(2, 3), (mg.zeros(2, 4), mg.zeros(3, 4)))


def test_bad_cell_input():
    cell = nn.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"expected input_size=3.*got 2"):
        cell(mg.randn(5, 2))
    with pytest.raises(ValueError, match=r"got a 3-D input of shape \(1, 5, 3\)"):
        cell(mg.randn(1, 5, 3))
    with pytest.raises(ValueError, match=r"expected h of shape \(5, 4\) \(batch, hidden_size\)"):
        cell(mg.randn(5, 3), mg.zeros(4, 4))
    with pytest.raises(TypeError, match="floating-point input"):
        cell(mg.tensor([[1, 2, 3]]))


class _ClaimsCuda(mg.Tensor):
    """A CPU tensor that reports device 'cuda': checks device mismatches without a GPU."""

    @property
    def device(self):
        return "cuda"


def _on_fake_cuda(t):
    fake = object.__new__(_ClaimsCuda)
    fake.data, fake.grad, fake.grad_fn, fake._output_nr = t.data, None, None, 0
    fake.requires_grad = False
    return fake


def test_mismatched_devices(rnn):
    x = mg.randn(2, 5, 3)
    with pytest.raises(ValueError, match="input is on device 'cuda' but the parameters are "
                                         "on 'cpu'"):
        rnn(_on_fake_cuda(x))
    with pytest.raises(ValueError, match="h0 is on device 'cuda' but the input is on 'cpu'"):
        rnn(x, _on_fake_cuda(mg.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match="input is on device 'cuda' but the parameters are "
                                         "on 'cpu'"):
        nn.LSTMCell(3, 4)(_on_fake_cuda(mg.randn(2, 3)))


def test_mismatched_devices_on_gpu(rnn):
    if not mg.cuda.is_available():
        pytest.skip("needs a GPU")
    with pytest.raises(ValueError, match="input is on device 'cuda' but the parameters are "
                                         "on 'cpu'"):
        rnn(mg.randn(2, 5, 3, device="cuda"))
    with pytest.raises(ValueError, match="h0 is on device 'cuda' but the input is on 'cpu'"):
        rnn(mg.randn(2, 5, 3), mg.zeros(2, 2, 4, device="cuda"))


def test_bad_input_changes_nothing(rnn):
    before = {k: v.copy() for k, v in rnn.state_dict().items()}
    with pytest.raises(ValueError):
        rnn(mg.randn(2, 5, 6))
    for k, v in rnn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    assert all(p.grad is None for p in rnn.parameters())


# ------------------------------------------------------------------ fused specifics
def test_create_graph_through_fused_raises():
    lstm = nn.LSTM(3, 4, fused=True).double()
    x = mg.randn(2, 5, 3, dtype=mg.float64, requires_grad=True)
    out, _ = lstm(x)
    with pytest.raises(RuntimeError, match="create_graph=True.*fused=False"):
        (out * out).sum().backward(create_graph=True)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_create_graph_through_graph_path(cls):
    """The graph path supports double backward (the graph of the backward); the
    Hessian-vector product it gives equals finite differences of the gradient."""
    mg.manual_seed(3)
    rnn = cls(2, 3).double()
    x0 = mg.randn(2, 4, 2, dtype=mg.float64).numpy()
    v = np.cos(np.arange(x0.size)).reshape(x0.shape)

    def grad_at(a, create_graph=False):
        x = mg.tensor(a, requires_grad=True)
        out, _ = rnn(x)
        (out * out).sum().backward(create_graph=create_graph)
        return x, x.grad

    x, g = grad_at(x0, create_graph=True)
    assert g.requires_grad
    x.grad = None
    (g * mg.tensor(v)).sum().backward()
    eps = 1e-6
    numeric = (grad_at(x0 + eps * v)[1].numpy() - grad_at(x0 - eps * v)[1].numpy()) / (
        2 * eps)
    np.testing.assert_allclose(x.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_graph_path_records_one_node_per_step(cls):
    """Per timestep ONE node: the recurrent GEMM and the cell's pointwise part
    (``ops.cells.RNNStep`` / ``LSTMStep`` / ``GRUStep``)."""
    counts = [count_nodes(cls(3, 4)(mg.randn(2, T, 3, requires_grad=True))[0])
              for T in (5, 9)]
    assert counts[1] - counts[0] == 9 - 5


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_fused_is_few_nodes_and_equals_graph(cls):
    mg.manual_seed(7)
    graph = cls(3, 5, num_layers=2, bidirectional=True, batch_first=False).double()
    fused = cls(3, 5, num_layers=2, bidirectional=True, batch_first=False, fused=True).double()
    fused.load_state_dict(graph.state_dict())
    x = mg.randn(7, 2, 3, dtype=mg.float64)
    name = cls.__name__.lower()
    results = []
    for module in (graph, fused):
        xi = mg.tensor(x.numpy(), requires_grad=True)
        out, fin = call_layer(module, name, xi, None)
        weighted_sum([out, *fin], [np.cos(np.arange(out.numel())).reshape(out.shape)]
                     + [np.ones(f.shape) for f in fin]).backward()
        results.append([out.numpy(), *[f.numpy() for f in fin], xi.grad.numpy()]
                       + [p.grad.numpy() for p in module.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    # fused: one node per layer direction (+ plumbing); graph: nodes per timestep
    counts = [count_nodes(call_layer(m, name, x, None)[0]) for m in (graph, fused)]
    assert counts[1] < 20 < 7 * 4 * 2 <= counts[0]
    assert sum(type(n).__name__ == "FusedRecurrentLayer" for n in walk(
        call_layer(fused, name, x, None)[0])) == 4


def walk(t):
    """Every node of the graph behind ``t``."""
    seen, stack = {}, [t.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(i.grad_fn for i in node.inputs)
    return list(seen.values())


def count_nodes(t):
    return len(walk(t))


# ------------------------------------------------------------------ dropout
@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
def test_dropout_between_layers(fused):
    mg.manual_seed(8)
    rnn = nn.LSTM(4, 6, num_layers=3, dropout=0.5, fused=fused).double()
    plain = nn.LSTM(4, 6, num_layers=3, fused=fused).double()
    plain.load_state_dict(rnn.state_dict())
    x = mg.randn(3, 5, 4, dtype=mg.float64)
    mg.manual_seed(1)
    a, _ = rnn(x)
    mg.manual_seed(2)
    b, _ = rnn(x)
    mg.manual_seed(1)
    a_again, _ = rnn(x)
    reference, _ = plain(x)
    assert not np.allclose(a.numpy(), b.numpy())  # active in training mode
    np.testing.assert_array_equal(a.numpy(), a_again.numpy())  # reproducible with the seed
    assert not np.allclose(a.numpy(), reference.numpy())
    rnn.eval()
    c, _ = rnn(x)
    d, _ = rnn(x)
    np.testing.assert_array_equal(c.numpy(), d.numpy())  # identity in eval mode
    np.testing.assert_allclose(c.numpy(), reference.numpy(), rtol=1e-12)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
def test_dropout_placement(fused, bidirectional):
    """Dropout acts only on the input of layers k > 0: never inside layer 0 (its final
    state is the dropout-free one), never on the last layer's output nor on h_n (the
    output at the last step of each top direction IS its final state, and tanh outputs
    stay in [-1, 1] with no exact zeros -- inverted dropout would zero or double them)."""
    mg.manual_seed(10)
    D, H = (2 if bidirectional else 1), 6
    kwargs = dict(num_layers=2, bidirectional=bidirectional, fused=fused)
    rnn = nn.RNN(4, H, dropout=0.5, **kwargs).double()
    plain = nn.RNN(4, H, **kwargs).double()
    plain.load_state_dict(rnn.state_dict())
    assert rnn.training
    x = mg.randn(3, 5, 4, dtype=mg.float64)
    mg.manual_seed(1)
    out, h_n = rnn(x)
    ref_out, ref_h_n = plain(x)
    out, h_n, ref_out, ref_h_n = (t.numpy() for t in (out, h_n, ref_out, ref_h_n))
    # dropout is active: the top layer saw a different input
    assert not np.allclose(out, ref_out)
    assert not np.allclose(h_n[D:], ref_h_n[D:])
    # layer 0 (every direction) is untouched
    np.testing.assert_allclose(h_n[:D], ref_h_n[:D], rtol=0, atol=1e-12)
    # no dropout on the top output / h_n: out at the last step of each direction is h_n
    np.testing.assert_array_equal(out[:, -1, :H], h_n[D])
    if bidirectional:
        np.testing.assert_array_equal(out[:, 0, H:], h_n[D + 1])
    for what, a in (("output", out), ("h_n", h_n)):
        assert np.abs(a).max() <= 1.0, what  # not scaled by 1 / (1 - p)
        assert np.count_nonzero(a == 0) == 0, what  # not zeroed


def test_dropout_on_one_layer_warns():
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        nn.GRU(3, 4, dropout=0.2)


@pytest.mark.parametrize("fused", [False, True], ids=["graph", "fused"])
@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM, nn.GRU], ids=lambda c: c.__name__)
def test_cuda_matches_cpu(cls, fused):
    if not mg.cuda.is_available():
        pytest.skip("needs a GPU")
    mg.manual_seed(9)
    cpu = cls(3, 5, num_layers=2, bidirectional=True, fused=fused).double()
    gpu = cls(3, 5, num_layers=2, bidirectional=True, fused=fused).double().to("cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = mg.randn(2, 6, 3, dtype=mg.float64)
    results = []
    for module, device in ((cpu, "cpu"), (gpu, "cuda")):
        xi = mg.tensor(x.numpy(), device=device, requires_grad=True)
        out, fin = call_layer(module, cls.__name__.lower(), xi, None)
        assert out.device == device
        ((out * out).sum() + sum(f.sum() for f in fin)).backward()
        results.append([out.numpy(), xi.grad.numpy()]
                       + [p.grad.numpy() for p in module.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
