"""Autograd BPTT (the graph path of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``) against the
hand-derived BPTT of ``models.bptt`` on the same weights, inputs and upstream gradients.

float64: every gradient (input, initial states, each parameter), the output and the final
states agree to a max abs difference below 1e-9; float32: to a relative 1e-4.  The grid
(cell x batch x timesteps 1/2/50 x sizes x layers 1-3 x bidirectional x tanh/relu x bias x
layout x given states) is sampled by a fixed list of cases to keep the file fast.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from models import bptt

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
LAYERS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def make_case(cell, B, T, I, H, L, bidirectional, bias, batch_first, unbatched, seed, dtype):
    rng = np.random.default_rng(seed)
    D = 2 if bidirectional else 1
    G = GATES[cell]
    params = {}
    for k in range(L):
        in_k = I if k == 0 else D * H
        for sfx in ["", "_reverse"][:D]:
            params[f"weight_ih_l{k}{sfx}"] = rng.uniform(-0.6, 0.6, (G * H, in_k))
            params[f"weight_hh_l{k}{sfx}"] = rng.uniform(-0.6, 0.6, (G * H, H))
            if bias:
                params[f"bias_ih_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, G * H)
                params[f"bias_hh_l{k}{sfx}"] = rng.uniform(-0.5, 0.5, G * H)
    params = {k: v.astype(dtype) for k, v in params.items()}
    if unbatched:
        x_shape, s_shape, o_shape = (T, I), (L * D, H), (T, D * H)
    else:
        x_shape = (B, T, I) if batch_first else (T, B, I)
        s_shape = (L * D, B, H)
        o_shape = (B, T, D * H) if batch_first else (T, B, D * H)
    n = 2 if cell == "lstm" else 1
    x = rng.standard_normal(x_shape).astype(dtype)
    states = [rng.standard_normal(s_shape).astype(dtype) for _ in range(n)]
    g_out = rng.standard_normal(o_shape).astype(dtype)
    g_fin = [rng.standard_normal(s_shape).astype(dtype) for _ in range(n)]
    return params, x, states, g_out, g_fin


def autograd_run(cell, params, x, states, g_out, g_fin, L, bidirectional, bias, batch_first,
                 nonlinearity, fused=False):
    """Forward + backward through ``nn``; returns ``(out, finals, grads)`` as arrays."""
    kwargs = dict(num_layers=L, bias=bias, batch_first=batch_first,
                  bidirectional=bidirectional, fused=fused)
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    I = x.shape[-1]
    H = params["weight_hh_l0"].shape[1]
    module = LAYERS[cell](I, H, **kwargs).to(x.dtype)
    module.load_state_dict(params)
    xt = mg.tensor(x, requires_grad=True)
    st = None if states is None else [mg.tensor(s, requires_grad=True) for s in states]
    if cell == "lstm":
        out, (h_n, c_n) = module(xt, None if st is None else tuple(st))
        finals = [h_n, c_n]
    else:
        out, h_n = module(xt, None if st is None else st[0])
        finals = [h_n]
    # g_out None: no term in the output (only the final states carry a gradient)
    loss = None if g_out is None else (out * mg.tensor(g_out)).sum()
    for f, g in zip(finals, g_fin):
        if g is not None:
            term = (f * mg.tensor(g)).sum()
            loss = term if loss is None else loss + term
    loss.backward()
    grads = {"input": xt.grad.numpy()}
    if st is not None:
        for name, s in zip(["h0", "c0"], st):
            grads[name] = s.grad.numpy()
    for key, p in module.named_parameters():
        grads[key] = p.grad.numpy()
    return out.numpy(), [f.numpy() for f in finals], grads


def bptt_run(cell, params, x, states, g_out, g_fin, L, bidirectional, batch_first,
             nonlinearity):
    kw = dict(num_layers=L, bidirectional=bidirectional, batch_first=batch_first)
    if cell == "lstm":
        out, (h_n, c_n), cache = bptt.lstm_forward(
            x, params, None if states is None else tuple(states), **kw)
        grads = bptt.lstm_backward(cache, g_out, tuple(g_fin))
        return out, [h_n, c_n], grads
    if cell == "rnn":
        out, h_n, cache = bptt.rnn_forward(x, params, None if states is None else states[0],
                                           nonlinearity=nonlinearity, **kw)
        grads = bptt.rnn_backward(cache, g_out, g_fin[0])
    else:
        out, h_n, cache = bptt.gru_forward(x, params, None if states is None else states[0],
                                           **kw)
        grads = bptt.gru_backward(cache, g_out, g_fin[0])
    return out, [h_n], grads


# cell, B, T, I, H, layers, bidirectional, nonlinearity, bias, batch_first, unbatched, states
CASES = [
    ("rnn", 3, 1, 4, 5, 1, False, "tanh", True, True, False, True),
    ("rnn", 2, 2, 3, 4, 2, True, "relu", True, False, False, False),
    ("rnn", 4, 50, 5, 6, 1, False, "tanh", False, True, False, True),
    ("rnn", 1, 50, 2, 3, 3, True, "tanh", True, True, False, True),
    ("rnn", 3, 50, 4, 4, 2, False, "relu", True, True, False, True),
    ("rnn", 2, 2, 6, 2, 3, False, "relu", False, False, False, True),
    ("rnn", 1, 7, 3, 5, 2, True, "tanh", True, True, True, True),
    ("rnn", 5, 1, 3, 3, 3, True, "tanh", False, True, False, False),
    ("lstm", 3, 1, 4, 5, 1, False, None, True, True, False, True),
    ("lstm", 2, 2, 3, 4, 2, True, None, False, False, False, True),
    ("lstm", 4, 50, 5, 3, 1, False, None, True, True, False, False),
    ("lstm", 1, 50, 2, 3, 3, True, None, True, False, False, True),
    ("lstm", 2, 50, 3, 4, 2, False, None, False, True, False, True),
    ("lstm", 3, 2, 2, 6, 3, False, None, True, True, False, True),
    ("lstm", 1, 6, 3, 4, 2, True, None, True, True, True, False),
    ("gru", 3, 1, 4, 5, 1, False, None, True, True, False, True),
    ("gru", 2, 2, 3, 4, 2, True, None, False, True, False, True),
    ("gru", 4, 50, 5, 3, 1, False, None, True, False, False, True),
    ("gru", 1, 50, 2, 3, 3, True, None, True, True, False, False),
    ("gru", 2, 50, 3, 4, 2, False, None, False, True, False, True),
    ("gru", 3, 2, 6, 2, 3, True, None, True, False, False, True),
    ("gru", 1, 5, 3, 4, 1, True, None, True, True, True, True),
]


def case_id(case):
    cell, B, T, I, H, L, bi, nl, bias, bf, unb, st = case
    parts = [cell, f"B{B}", f"T{T}", f"I{I}", f"H{H}", f"L{L}", "bi" if bi else "uni"]
    parts += [nl] if nl else []
    parts += ["bias" if bias else "nobias", "bf" if bf else "tf"]
    parts += ["unbatched"] if unb else []
    parts += ["h0" if st else "noh0"]
    return "-".join(parts)


def compare(case, dtype, fused=False):
    cell, B, T, I, H, L, bi, nl, bias, bf, unb, with_states = case
    seed = zlib.crc32(case_id(case).encode())
    params, x, states, g_out, g_fin = make_case(cell, B, T, I, H, L, bi, bias, bf, unb,
                                                seed=seed, dtype=dtype)
    if not with_states:
        # bptt gets None (zeros); autograd gets explicit zeros, whose gradient is the
        # gradient at the zero state that bptt reports
        states_bptt = None
        states = [np.zeros_like(s) for s in states]
    else:
        states_bptt = states
    ref = bptt_run(cell, params, x, states_bptt, g_out, g_fin, L, bi, bf, nl)
    got = autograd_run(cell, params, x, states, g_out, g_fin, L, bi, bias, bf, nl, fused)
    pairs = [("output", got[0], ref[0])]
    pairs += [(f"final state {i}", a, b) for i, (a, b) in enumerate(zip(got[1], ref[1]))]
    assert set(got[2]) == set(ref[2])
    pairs += [(f"grad {k}", got[2][k], ref[2][k]) for k in ref[2]]
    return pairs


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_autograd_matches_bptt_float64(case):
    for what, a, b in compare(case, np.float64):
        assert a.shape == b.shape, what
        assert a.dtype == np.float64, what
        diff = np.abs(a - b).max()
        assert diff < 1e-9, f"{what}: max abs diff {diff:.3g}"


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_autograd_matches_bptt_float32(case):
    for what, a, b in compare(case, np.float32):
        assert a.shape == b.shape, what
        assert a.dtype == np.float32, what
        scale = max(np.abs(b).max(), 1e-30)
        rel = np.abs(a.astype(np.float64) - b).max() / scale
        assert rel < 1e-4, f"{what}: max relative diff {rel:.3g}"


@pytest.mark.parametrize("case", CASES[1::4], ids=case_id)
def test_fused_matches_bptt_float64(case):
    for what, a, b in compare(case, np.float64, fused=True):
        diff = np.abs(a - b).max()
        assert diff < 1e-9, f"{what}: max abs diff {diff:.3g}"


# upstream gradient only on the final states: ``*_backward(cache, None, grad_h_n)``
FINAL_ONLY = [
    ("rnn", "tanh", "h_n"),
    ("rnn", "relu", "h_n"),
    ("gru", None, "h_n"),
    ("lstm", None, "h_n+c_n"),
    ("lstm", None, "h_n"),
    ("lstm", None, "c_n"),
]


@pytest.mark.parametrize("with_states", [True, False], ids=["h0", "noh0"])
@pytest.mark.parametrize(("cell", "nonlinearity", "upstream"), FINAL_ONLY,
                         ids=["-".join(filter(None, c)) for c in FINAL_ONLY])
def test_final_state_only_gradient_matches_graph(cell, nonlinearity, upstream, with_states):
    """``grad_output=None`` with a gradient on ``h_n`` (LSTM: on ``h_n`` and / or ``c_n``,
    the other ``None``), 2 layers, bidirectional, float64: every gradient equals that of
    the graph path of ``nn`` for ``loss = sum(h_n * g_h) (+ sum(c_n * g_c))``."""
    B, T, I, H, L, bi = 3, 6, 4, 5, 2, True
    seed = zlib.crc32(repr((cell, nonlinearity, upstream, with_states)).encode())
    params, x, states, _, g_fin = make_case(cell, B, T, I, H, L, bi, True, True, False,
                                            seed=seed, dtype=np.float64)
    if cell == "lstm":
        g_fin = [g if name in upstream.split("+") else None
                 for g, name in zip(g_fin, ("h_n", "c_n"))]
    kw = dict(num_layers=L, bidirectional=bi)
    given = states if with_states else None
    if cell == "lstm":
        out, (h_n, c_n), cache = bptt.lstm_forward(x, params, None if given is None
                                                   else tuple(given), **kw)
        finals, ref = [h_n, c_n], bptt.lstm_backward(cache, None, tuple(g_fin))
    elif cell == "rnn":
        out, h_n, cache = bptt.rnn_forward(x, params, None if given is None else given[0],
                                           nonlinearity=nonlinearity, **kw)
        finals, ref = [h_n], bptt.rnn_backward(cache, None, g_fin[0])
    else:
        out, h_n, cache = bptt.gru_forward(x, params, None if given is None else given[0],
                                           **kw)
        finals, ref = [h_n], bptt.gru_backward(cache, None, g_fin[0])
    # the graph path gets explicit zeros when bptt got None (see ``compare``)
    graph_states = states if with_states else [np.zeros_like(s) for s in states]
    got_out, got_finals, got = autograd_run(cell, params, x, graph_states, None, g_fin, L, bi,
                                            True, True, nonlinearity)
    assert np.abs(got_out - out).max() < 1e-9
    for a, b in zip(got_finals, finals):
        assert np.abs(a - b).max() < 1e-9
    assert set(got) == set(ref) == {"input", *["h0", "c0"][:len(finals)], *params}
    for key in ref:
        assert ref[key].shape == got[key].shape, key
        diff = np.abs(got[key] - ref[key]).max()
        assert diff < 1e-9, f"grad {key}: max abs diff {diff:.3g}"
        # not vacuous: the final states feed every gradient (reverse direction: input
        # and h0 through its whole sequence; forward direction: all steps too)
        assert np.abs(ref[key]).max() > 1e-6, key
