"""Numerical checks of the hand-derived BPTT in ``models.bptt`` (NumPy only).

Every gradient returned by ``*_backward`` is compared with central finite differences in
float64 of the scalar ``L = sum(out * G_out) + sum(h_n * G_h) (+ sum(c_n * G_c))`` over a
sampled grid of layer configurations; the forward pass is compared with plain per-step
loops and with the PyTorch golden fixtures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from models import bptt

FIXTURES = Path(__file__).parent / "fixtures" / "recurrent"
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
INPUT_SIZE, HIDDEN = 3, 3


# ----------------------------------------------------------------------------- helpers
def make_params(rng, cell, input_size, hidden, num_layers, bidirectional, bias):
    G, D = GATES[cell], 2 if bidirectional else 1
    params = {}
    for k in range(num_layers):
        in_k = input_size if k == 0 else D * hidden
        for sfx in ["", "_reverse"][:D]:
            params[f"weight_ih_l{k}{sfx}"] = rng.uniform(-0.9, 0.9, (G * hidden, in_k))
            params[f"weight_hh_l{k}{sfx}"] = rng.uniform(-0.9, 0.9, (G * hidden, hidden))
            if bias:
                params[f"bias_ih_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, G * hidden)
                params[f"bias_hh_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, G * hidden)
    return params


def forward(cell, x, params, states, kw):
    """Uniform call: returns ``(out, [finals], cache)``; ``states`` is a list or None."""
    if cell == "lstm":
        out, (h_n, c_n), cache = bptt.lstm_forward(
            x, params, None if states is None else tuple(states), **kw)
        return out, [h_n, c_n], cache
    fn = bptt.rnn_forward if cell == "rnn" else bptt.gru_forward
    out, h_n, cache = fn(x, params, None if states is None else states[0], **kw)
    return out, [h_n], cache


def backward(cell, cache, g_out, g_finals):
    if cell == "lstm":
        return bptt.lstm_backward(cache, g_out, None if g_finals is None else tuple(g_finals))
    fn = bptt.rnn_backward if cell == "rnn" else bptt.gru_backward
    return fn(cache, g_out, None if g_finals is None else g_finals[0])


def finite_differences(f, arr, eps=1e-6):
    """Central differences of the scalar ``f()`` w.r.t. every entry of ``arr`` (in place)."""
    grad = np.zeros_like(arr)
    flat, gflat = arr.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        fp = f()
        flat[i] = orig - eps
        fm = f()
        flat[i] = orig
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


def assert_close(got, want, name, rel=1e-6):
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    err = np.max(np.abs(got - want), initial=0.0)
    scale = max(1.0, np.max(np.abs(want), initial=0.0))
    assert err <= rel * scale, f"{name}: max abs error {err:.3e} (scale {scale:.3g})"


# ------------------------------------------------------------------ gradient harness
# (batch or None = unbatched, timesteps, layers, bidirectional, bias, batch_first,
#  given initial states, upstream grads of the final states: 'all' | 'none' | 'h_only')
CONFIGS = [
    (1, 1, 1, False, True, True, False, "all"),
    (3, 2, 1, True, True, True, True, "all"),
    (3, 7, 2, False, False, False, True, "all"),
    (1, 7, 2, True, True, False, False, "none"),
    (3, 2, 2, True, False, True, True, "h_only"),
    (None, 7, 1, True, True, True, True, "all"),
    (None, 2, 2, False, True, False, False, "h_only"),
    (3, 7, 1, False, True, False, True, "none"),
    (3, 7, 2, True, True, True, True, "all"),
    (1, 2, 1, False, False, False, True, "h_only"),
]


def _cases():
    for i, cfg in enumerate(CONFIGS):
        yield pytest.param("lstm", "tanh", cfg, id=f"lstm-{i}")
        yield pytest.param("gru", "tanh", cfg, id=f"gru-{i}")
        yield pytest.param("rnn", "tanh", cfg, id=f"rnn_tanh-{i}")
        if i % 2 == 1 or cfg[0] is None:
            yield pytest.param("rnn", "relu", cfg, id=f"rnn_relu-{i}")


@pytest.mark.parametrize(("cell", "nonlinearity", "cfg"), list(_cases()))
def test_gradients_match_finite_differences(cell, nonlinearity, cfg):
    batch, T, L, bidir, bias, batch_first, given, upstream = cfg
    rng = np.random.default_rng(zlib.crc32(repr((cell, nonlinearity, cfg)).encode()))
    D = 2 if bidir else 1
    if batch is None:
        x = rng.standard_normal((T, INPUT_SIZE))
        s_shape = (L * D, HIDDEN)
    else:
        x = rng.standard_normal((batch, T, INPUT_SIZE) if batch_first
                                else (T, batch, INPUT_SIZE))
        s_shape = (L * D, batch, HIDDEN)
    params = make_params(rng, cell, INPUT_SIZE, HIDDEN, L, bidir, bias)
    n_states = 2 if cell == "lstm" else 1
    states = [rng.standard_normal(s_shape) if given else np.zeros(s_shape)
              for _ in range(n_states)]
    kw = dict(num_layers=L, bidirectional=bidir, batch_first=batch_first)
    if cell == "rnn":
        kw["nonlinearity"] = nonlinearity

    out, finals, cache = forward(cell, x, params, states if given else None, kw)
    g_out = rng.standard_normal(out.shape)
    g_fin = [rng.standard_normal(f.shape) for f in finals]
    if upstream == "none":
        g_fin = [np.zeros_like(g) for g in g_fin]
        g_arg = None
    elif upstream == "h_only":
        g_fin = [g_fin[0]] + [np.zeros_like(g) for g in g_fin[1:]]
        g_arg = [g_fin[0]] + [None] * (n_states - 1)
    else:
        g_arg = g_fin
    grads = backward(cell, cache, g_out, g_arg)

    names = ["h0", "c0"][:n_states]
    assert set(grads) == {"input", *names, *params}

    def loss():
        o, fs, _ = forward(cell, x, params, states, kw)
        return float(np.sum(o * g_out) + sum(np.sum(f * g) for f, g in zip(fs, g_fin, strict=True)))

    assert_close(grads["input"], finite_differences(loss, x), "input")
    for name, s in zip(names, states, strict=True):
        assert_close(grads[name], finite_differences(loss, s), name)
    for key, p in params.items():
        assert_close(grads[key], finite_differences(loss, p), key)


# ------------------------------------------------------------------ forward references
def test_rnn_forward_matches_plain_loop():
    rng = np.random.default_rng(0)
    B, T, I, H = 4, 6, 3, 5
    x = rng.standard_normal((B, T, I))
    h0 = rng.standard_normal((1, B, H))
    p = make_params(rng, "rnn", I, H, 1, False, True)
    out, h_n, _ = bptt.rnn_forward(x, p, h0)
    h = h0[0]
    ref = []
    for t in range(T):
        h = np.tanh(x[:, t] @ p["weight_ih_l0"].T + p["bias_ih_l0"]
                    + h @ p["weight_hh_l0"].T + p["bias_hh_l0"])
        ref.append(h)
    np.testing.assert_allclose(out, np.stack(ref, axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_n[0], h, rtol=0, atol=1e-12)


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _ref_step(cell, x, state, w_ih, w_hh, b_ih, b_hh):
    """One step of each cell with PyTorch's equations, written naively."""
    h = state[0]
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if cell == "lstm":
        i, f, g, o = np.split(gi + gh, 4, axis=-1)
        c = _sig(f) * state[1] + _sig(i) * np.tanh(g)
        return [_sig(o) * np.tanh(c), c]
    ir, iz, in_ = np.split(gi, 3, axis=-1)
    hr, hz, hn = np.split(gh, 3, axis=-1)
    r, z = _sig(ir + hr), _sig(iz + hz)
    n = np.tanh(in_ + r * hn)
    return [(1 - z) * n + z * h]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_forward_matches_plain_loop(cell):
    """2 layers, bidirectional, time-major: a naive loop over layers, directions, steps."""
    rng = np.random.default_rng(1)
    B, T, I, H, L = 2, 5, 3, 4, 2
    x = rng.standard_normal((T, B, I))
    n_states = 2 if cell == "lstm" else 1
    states = [rng.standard_normal((2 * L, B, H)) for _ in range(n_states)]
    p = make_params(rng, cell, I, H, L, True, True)
    out, finals, _ = forward(cell, x, p, states, dict(num_layers=L, bidirectional=True,
                                                      batch_first=False))
    layer_in = x
    ref_finals = [np.zeros_like(s) for s in states]
    for k in range(L):
        outs = []
        for d, sfx in enumerate(["", "_reverse"]):
            w = [p[f"{n}_l{k}{sfx}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            st = [s[2 * k + d] for s in states]
            hs = [None] * T
            for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
                st = _ref_step(cell, layer_in[t], st, *w)
                hs[t] = st[0]
            for rf, s in zip(ref_finals, st, strict=True):
                rf[2 * k + d] = s
            outs.append(np.stack(hs))
        layer_in = np.concatenate(outs, axis=-1)
    np.testing.assert_allclose(out, layer_in, rtol=0, atol=1e-12)
    for got, want in zip(finals, ref_finals, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


FIXTURE_FILES = sorted(FIXTURES.glob("*_l[12]_*.npz")) + sorted(FIXTURES.glob("*_unbatched_l*.npz"))


@pytest.mark.skipif(not FIXTURE_FILES, reason="no PyTorch fixtures")
@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_matches_pytorch_fixtures(path):
    z = np.load(path, allow_pickle=False)
    cfg = json.loads(str(z["config"]))
    cell = cfg["cell"]
    params = {k[len("param."):]: z[k] for k in z.files if k.startswith("param.")}
    kw = dict(num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"],
              batch_first=cfg["batch_first"])
    if cell == "rnn":
        kw["nonlinearity"] = cfg["nonlinearity"]
    names = ["h0", "c0"] if cell == "lstm" else ["h0"]
    states = [z[n] for n in names] if cfg["has_h0"] else None
    out, finals, cache = forward(cell, z["x"], params, states, kw)
    np.testing.assert_allclose(out, z["output"], rtol=0, atol=1e-12)
    for f, n in zip(finals, ["h_n", "c_n"], strict=False):
        np.testing.assert_allclose(f, z[n], rtol=0, atol=1e-12)
    g_fin = [z["grad_" + n] for n in ["h_n", "c_n"][: len(names)]]
    grads = backward(cell, cache, z["grad_output"], g_fin)
    assert set(grads) == {"input", *names, *params}
    for key, g in grads.items():
        ref = z["grad." + ("param." + key if key in params else key)]
        np.testing.assert_allclose(g, ref, rtol=0, atol=1e-12, err_msg=key)


# ----------------------------------------------------------------- kernels and dtypes
def test_layer_kernels_direct():
    """The single-layer kernels agree with the driver and return documented shapes."""
    rng = np.random.default_rng(2)
    T, B, I, H = 4, 3, 2, 5
    xs = rng.standard_normal((T, B, I))
    p = make_params(rng, "lstm", I, H, 1, False, True)
    w = [p[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    hs, c_last, cache = bptt.lstm_layer_forward(xs, *w, None, None)
    out, (h_n, c_n), _ = bptt.lstm_forward(xs, p, batch_first=False)
    np.testing.assert_array_equal(hs, out)
    np.testing.assert_array_equal(c_last, c_n[0])
    dhs = rng.standard_normal((T, B, H))
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = bptt.lstm_layer_backward(cache, dhs)
    assert dx.shape == (T, B, I) and dh0.shape == dc0.shape == (B, H)
    assert dw_ih.shape == (4 * H, I) and dw_hh.shape == (4 * H, H) and db_ih.shape == (4 * H,)

    p = make_params(rng, "rnn", I, H, 1, False, False)
    hs, cache = bptt.rnn_layer_forward(xs, p["weight_ih_l0"], p["weight_hh_l0"], None, None,
                                       None, "relu")
    assert hs.shape == (T, B, H) and np.all(hs >= 0)
    *_, db_ih, db_hh = bptt.rnn_layer_backward(cache, dhs, None)
    assert db_ih is None and db_hh is None

    p = make_params(rng, "gru", I, H, 1, False, True)
    w = [p[k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    hs, cache = bptt.gru_layer_forward(xs, *w, None)
    dx, dh0, dw_ih, dw_hh, db_ih, db_hh = bptt.gru_layer_backward(cache, None, dhs[-1])
    assert dx.shape == (T, B, I) and dw_hh.shape == (3 * H, H) and db_hh.shape == (3 * H,)


def test_relu_derivative_is_zero_at_zero():
    """With all pre-activations exactly 0, relu passes no gradient anywhere."""
    x = np.zeros((1, 3, 2))
    p = {"weight_ih_l0": np.ones((2, 2)), "weight_hh_l0": np.ones((2, 2))}
    out, _, cache = bptt.rnn_forward(x, p, nonlinearity="relu")
    assert np.all(out == 0)
    grads = bptt.rnn_backward(cache, np.ones_like(out), np.ones((1, 1, 2)))
    for g in grads.values():
        assert np.all(g == 0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_float32_in_float32_out(cell):
    rng = np.random.default_rng(3)
    x64 = rng.standard_normal((2, 5, 3))
    p64 = make_params(rng, cell, 3, 4, 2, True, True)
    x32 = x64.astype(np.float32)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    kw = dict(num_layers=2, bidirectional=True)
    out32, fin32, cache32 = forward(cell, x32, p32, None, kw)
    out64, fin64, cache64 = forward(cell, x64, p64, None, kw)
    assert out32.dtype == np.float32 and all(f.dtype == np.float32 for f in fin32)
    g_out = rng.standard_normal(out64.shape)
    g32 = backward(cell, cache32, g_out.astype(np.float32), None)
    g64 = backward(cell, cache64, g_out, None)
    np.testing.assert_allclose(out32, out64, atol=1e-5)
    for key in g64:
        assert g32[key].dtype == np.float32, key
        np.testing.assert_allclose(g32[key], g64[key], atol=1e-4, err_msg=key)


# ------------------------------------------------------------------------- bad input
def _rnn_setup(num_layers=1):
    rng = np.random.default_rng(4)
    return rng.standard_normal((2, 3, 4)), make_params(rng, "rnn", 4, 5, num_layers, False,
                                                       True)


def test_bad_input_size():
    x, p = _rnn_setup()
    with pytest.raises(ValueError, match=r"input size mismatch: x has input_size=3.*\(5, 4\)"):
        bptt.rnn_forward(x[..., :3], p)


def test_bad_x_ndim():
    x, p = _rnn_setup()
    with pytest.raises(ValueError, match=r"x: expected a 3-D .* got shape \(2, 3, 4, 1\)"):
        bptt.rnn_forward(x[..., None], p)


def test_zero_timesteps():
    x, p = _rnn_setup()
    with pytest.raises(ValueError, match=r"x: expected at least one timestep, got shape"):
        bptt.rnn_forward(x[:, :0], p)


def test_bad_h0_shape():
    x, p = _rnn_setup()
    with pytest.raises(ValueError, match=r"h0: expected shape \(1, 2, 5\).*got \(2, 2, 5\)"):
        bptt.rnn_forward(x, p, np.zeros((2, 2, 5)))
    with pytest.raises(ValueError, match=r"c0: expected shape \(1, 2, 5\).*got \(1, 5\)"):
        rng = np.random.default_rng(0)
        bptt.lstm_forward(x, make_params(rng, "lstm", 4, 5, 1, False, False),
                          (None, np.zeros((1, 5))))


def test_missing_and_unexpected_param_keys():
    x, p = _rnn_setup(num_layers=2)
    with pytest.raises(ValueError, match=r"missing key\(s\) \['weight_ih_l0_reverse'"):
        bptt.rnn_forward(x, p, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match=r"unexpected key\(s\) \['weight_ih_l1'"):
        bptt.rnn_forward(x, p, num_layers=1)
    del p["weight_hh_l0"]
    with pytest.raises(ValueError, match=r"missing key 'weight_hh_l0'"):
        bptt.rnn_forward(x, p, num_layers=2)


def test_bad_param_shape():
    x, p = _rnn_setup()
    p["bias_hh_l0"] = np.zeros(6)
    with pytest.raises(ValueError, match=r"params\['bias_hh_l0'\]: expected shape \(5,\).*"
                                         r"got \(6,\)"):
        bptt.rnn_forward(x, p)
    rng = np.random.default_rng(0)
    p = make_params(rng, "gru", 4, 5, 1, False, True)
    with pytest.raises(ValueError, match=r"weight_ih_l0.*expected shape \(20, 4\).*got \(15, 4\)"):
        bptt.lstm_forward(x, p)  # GRU weights given to an LSTM


def test_unknown_nonlinearity():
    x, p = _rnn_setup()
    with pytest.raises(ValueError, match=r"unknown nonlinearity 'sigmoid'.*'tanh', 'relu'"):
        bptt.rnn_forward(x, p, nonlinearity="sigmoid")


@pytest.mark.parametrize("num_layers", [0, -1, 1.5, True, np.int64(0), np.float64(2.0), "2"])
def test_bad_num_layers(num_layers):
    x, p = _rnn_setup(num_layers=1 if num_layers is True else 2)
    with pytest.raises(ValueError, match=r"num_layers: expected an integer >= 1, got"):
        bptt.rnn_forward(x, p, num_layers=num_layers)


@pytest.mark.parametrize("num_layers", [np.int64(2), np.int32(2), np.uint8(2)],
                         ids=lambda n: type(n).__name__)
def test_numpy_integer_num_layers(num_layers):
    """Any integer type but bool, as ``nn.RNN`` accepts; same results as a plain int."""
    x, p = _rnn_setup(num_layers=2)
    out, h_n, cache = bptt.rnn_forward(x, p, num_layers=num_layers)
    ref_out, ref_h_n, ref_cache = bptt.rnn_forward(x, p, num_layers=2)
    assert h_n.shape == (2, 2, 5)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(h_n, ref_h_n)
    assert cache.num_layers == 2 and type(cache.num_layers) is int
    grads = bptt.rnn_backward(cache, np.ones_like(out))
    ref = bptt.rnn_backward(ref_cache, np.ones_like(out))
    assert set(grads) == set(ref)
    for key in ref:
        np.testing.assert_array_equal(grads[key], ref[key], err_msg=key)


def test_bad_backward_arguments():
    x, p = _rnn_setup()
    out, h_n, cache = bptt.rnn_forward(x, p)
    with pytest.raises(ValueError, match=r"grad_output: expected shape \(2, 3, 5\).*got"):
        bptt.rnn_backward(cache, out[:, :2])
    with pytest.raises(ValueError, match=r"grad_h_n: expected shape \(1, 2, 5\)"):
        bptt.rnn_backward(cache, out, h_n[0])
    with pytest.raises(ValueError, match=r"cache: expected the cache of gru_forward, got rnn"):
        bptt.gru_backward(cache, out)
    with pytest.raises(ValueError, match=r"hx: expected a pair"):
        bptt.lstm_forward(x, p, np.zeros((1, 2, 5)))


# ------------------------------------------------------------------ no autograd inside
_NO_MINIGRAD_SCRIPT = r"""
import sys, types
sys.modules["minigrad"] = None  # any `import minigrad` (or submodule) now raises
# Import models/bptt.py as the submodule `models.bptt` WITHOUT running
# models/__init__.py (which imports the minigrad-based models).
pkg = types.ModuleType("models")
pkg.__path__ = [sys.argv[1]]
sys.modules["models"] = pkg
import numpy as np
from models import bptt

rng = np.random.default_rng(0)
B, T, I, H, L = 2, 3, 4, 5, 2
x = rng.standard_normal((B, T, I))
for cell, G in (("rnn", 1), ("lstm", 4), ("gru", 3)):
    params = {}
    for k in range(L):
        for sfx in ("", "_reverse"):
            params[f"weight_ih_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, (G * H, I if k == 0 else 2 * H))
            params[f"weight_hh_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, (G * H, H))
            params[f"bias_ih_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, G * H)
            params[f"bias_hh_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, G * H)
    fwd, bwd = getattr(bptt, cell + "_forward"), getattr(bptt, cell + "_backward")
    out, finals, cache = fwd(x, params, num_layers=L, bidirectional=True)
    finals = finals if cell == "lstm" else (finals,)
    g_fin = tuple(np.ones_like(f) for f in finals)
    grads = bwd(cache, np.ones_like(out), g_fin if cell == "lstm" else g_fin[0])
    results = [out, *finals, *grads.values()]
    results += [a for layer in cache.layers for c in layer for a in c
                if a is not None and not isinstance(a, (str, bool))]
    bad = [type(a) for a in results if type(a) is not np.ndarray]
    assert not bad, (cell, bad)
    assert all(np.isfinite(a).all() for a in results), cell
    assert set(grads) >= {"input", "h0", *params}, cell
assert sys.modules["minigrad"] is None
loaded = sorted(m for m in sys.modules if m == "minigrad" or m.startswith("minigrad."))
assert loaded == ["minigrad"], loaded
print("no-minigrad ok")
"""


def test_bptt_runs_without_minigrad():
    """``models.bptt`` neither imports ``minigrad`` nor creates a ``Tensor``: with
    ``minigrad`` made unimportable, forward + backward of all three cells run and return
    plain ``numpy.ndarray`` results (outputs, states, gradients, cache arrays)."""
    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _NO_MINIGRAD_SCRIPT, str(repo / "models")],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no-minigrad ok" in proc.stdout
