"""``models.gradient_flow`` and ``models.bptt(return_step_grads=True)``: the per-step
state gradients from autograd equal the hand-derived ones (and finite differences), the
analytic one-step Jacobians equal dense finite-difference Jacobians."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.utils.steps import record_steps
from models import bptt
from models import gradient_flow as gf

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
I, H, B, T = 3, 4, 2, 5


def make(cell, num_layers=1, bidirectional=False, seed=0, **kw):
    mg.manual_seed(seed)
    module = CELLS[cell](I, H, num_layers=num_layers, bidirectional=bidirectional,
                         **kw).double()
    x = mg.randn(B, T, I, dtype=mg.float64)
    D = 2 if bidirectional else 1
    weights = mg.randn(B, T, D * H, dtype=mg.float64)

    def loss_fn(output, state):
        """Every output step and the final state contribute (non-trivially)."""
        h_n = state[0] if isinstance(state, tuple) else state
        loss = (output * weights).sum() + (h_n * h_n).sum()
        if isinstance(state, tuple):  # LSTM: the final cell state too
            loss = loss + state[1].sum() * 0.5
        return loss

    return module, x, loss_fn


# ------------------------------------------------------- autograd == hand-derived BPTT
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("cell", list(CELLS))
def test_autograd_and_bptt_step_grads_agree(cell, num_layers, bidirectional):
    module, x, loss_fn = make(cell, num_layers, bidirectional)
    auto, hand, diff = gf.compare(module, x, loss_fn)
    D = 2 if bidirectional else 1
    assert auto.dh.shape == hand.dh.shape == (num_layers, D, T, B, H)
    assert (auto.source, hand.source, auto.cell) == ("autograd", "bptt", cell)
    assert abs(auto.loss - hand.loss) < 1e-12
    assert diff < 1e-9
    np.testing.assert_allclose(auto.dh_norm, hand.dh_norm, rtol=0, atol=1e-9)
    assert (auto.dh_norm > 0).all()  # every step receives gradient in this loss
    if cell == "lstm":
        assert auto.dc.shape == hand.dc.shape
        np.testing.assert_allclose(auto.dc_norm, hand.dc_norm, rtol=0, atol=1e-9)
    else:
        assert auto.dc is None and hand.dc is None and auto.dc_norm is None
    assert all(p.grad is None for p in module.parameters())  # nothing accumulated


@pytest.mark.parametrize("cell", list(CELLS))
def test_fused_module_and_initial_state(cell):
    """A fused module is measured through its graph path; an explicit hx is used."""
    module, x, loss_fn = make(cell, num_layers=2, fused=True)
    h0 = mg.randn(2, B, H, dtype=mg.float64)
    hx = (h0, mg.randn(2, B, H, dtype=mg.float64)) if cell == "lstm" else h0
    auto, hand, diff = gf.compare(module, x, loss_fn, hx)
    assert module.fused and diff < 1e-9
    zero_state, _, diff0 = gf.compare(module, x, loss_fn)
    assert diff0 < 1e-9 and not np.allclose(auto.dh, zero_state.dh)


def test_unbatched_input():
    module, _, _ = make("gru", bidirectional=True)
    x = mg.randn(T, I, dtype=mg.float64)
    auto, hand, diff = gf.compare(module, x, lambda out, h: (out ** 2).sum())
    assert auto.dh.shape == (1, 2, T, 1, H) and diff < 1e-9


def test_bptt_step_grads_layout():
    """``dh_steps`` is in original time order: its last forward step is the final-state
    gradient plus the output gradient, its first reverse step likewise."""
    module, x, _ = make("rnn", bidirectional=True)
    params = {k: p.data for k, p in module.named_parameters()}
    out, h_n, cache = bptt.rnn_forward(x.data, params, bidirectional=True)
    g_out = np.random.default_rng(0).standard_normal(out.shape)
    g_h = np.random.default_rng(1).standard_normal(h_n.shape)
    grads = bptt.rnn_backward(cache, g_out, g_h, return_step_grads=True)
    assert grads["dh_steps"].shape == (2, T, B, H)
    np.testing.assert_allclose(grads["dh_steps"][0, -1], g_out[:, -1, :H] + g_h[0])
    np.testing.assert_allclose(grads["dh_steps"][1, 0], g_out[:, 0, H:] + g_h[1])
    plain = bptt.rnn_backward(cache, g_out, g_h)
    assert "dh_steps" not in plain
    for key in plain:  # the flag changes nothing else
        np.testing.assert_array_equal(plain[key], grads[key], err_msg=key)


# ------------------------------------------------------------- == finite differences
def _suffix_loss(module, x, loss_fn, out, t, state):
    """The loss with the state after step ``t`` replaced by ``state`` (1 layer, uni)."""
    h = state[0]
    parts = [out[:, :t], h[:, None, :]]
    hx = None
    if t + 1 < T:
        s = tuple(v[None] for v in state)
        rest, hx = module(x[:, t + 1:], s if len(s) == 2 else s[0])
        parts.append(rest)
    else:
        hx = tuple(v[None] for v in state) if len(state) == 2 else h[None]
    return loss_fn(mg.cat(parts, dim=1), hx).item()


@pytest.mark.parametrize("cell", list(CELLS))
def test_step_grads_match_finite_differences(cell):
    module, x, loss_fn = make(cell)
    hand = gf.gradient_flow(module, x, loss_fn, source="bptt")
    params = {k: p.data for k, p in module.named_parameters()}
    with mg.no_grad():
        out, state = module(x)
        if cell == "lstm":
            _, _, cache = bptt.lstm_forward(x.data, params)
            c_steps, o_steps = cache.layers[0][0].cs[1:], cache.layers[0][0].gates[..., 3 * H:]
        eps = 1e-6
        for t in range(T):
            h_t = out.data[:, t]
            fd_h, fd_c = np.zeros((B, H)), np.zeros((B, H))
            for b in range(B):
                for j in range(H):
                    vals = []
                    for sign in (1, -1):
                        h = h_t.copy()
                        h[b, j] += sign * eps
                        st = (h, c_steps[t]) if cell == "lstm" else (h,)
                        vals.append(_suffix_loss(module, x, loss_fn, out,
                                                 t, tuple(mg.tensor(v) for v in st)))
                    fd_h[b, j] = (vals[0] - vals[1]) / (2 * eps)
                    if cell == "lstm":  # perturb c_t; h_t = o_t tanh(c_t) follows it
                        vals = []
                        for sign in (1, -1):
                            c = c_steps[t].copy()
                            c[b, j] += sign * eps
                            st = (o_steps[t] * np.tanh(c), c)
                            vals.append(_suffix_loss(module, x, loss_fn, out, t,
                                                     tuple(mg.tensor(v) for v in st)))
                        fd_c[b, j] = (vals[0] - vals[1]) / (2 * eps)
            np.testing.assert_allclose(hand.dh[0, 0, t], fd_h, rtol=1e-6, atol=1e-7,
                                       err_msg=f"dh t={t}")
            if cell == "lstm":
                np.testing.assert_allclose(hand.dc[0, 0, t], fd_c, rtol=1e-6, atol=1e-7,
                                           err_msg=f"dc t={t}")


# ---------------------------------------------------------------------- Jacobians
_STEP_CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_jacobians_match_dense_finite_differences(cell, bidirectional):
    """Analytic one-step Jacobians == central differences of the cell, and the power
    iteration's norms == the dense matrices' largest singular values."""
    module, x, _ = make(cell, bidirectional=bidirectional)
    J = gf.step_jacobians(module, x)
    n = 2 * H if cell == "lstm" else H
    D = 2 if bidirectional else 1
    assert J.shape == (1, D, T, B, n, n)
    jac = gf.jacobian_norms(module, x)
    assert jac.norms.shape == jac.log10_product.shape == (1, D, T, B)
    np.testing.assert_allclose(jac.norms, np.linalg.norm(J, 2, axis=(-2, -1)), rtol=1e-8)

    with record_steps() as steps, mg.no_grad():
        module(x)
    eps = 1e-6
    for d in range(D):
        sfx = "_l0" + ("_reverse" if d else "")
        step_cell = _STEP_CELLS[cell](I, H).double()
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(step_cell, name).data[...] = getattr(module, name + sfx).data
        for s in steps.select(module, 0, d):
            t = s.t
            prev = np.concatenate([v.data for v in s.previous], axis=1)  # (B, n)
            dense = np.zeros((B, n, n))
            for j in range(n):
                outs = []
                for sign in (1, -1):
                    p = prev.copy()
                    p[:, j] += sign * eps
                    st = (mg.tensor(p[:, :H]), mg.tensor(p[:, H:])) if cell == "lstm" \
                        else mg.tensor(p)
                    new = step_cell(x[:, t], st)
                    outs.append(np.concatenate([v.data for v in new], axis=1)
                                if cell == "lstm" else new.data)
                dense[:, :, j] = (outs[0] - outs[1]) / (2 * eps)
            np.testing.assert_allclose(J[0, d, t], dense, rtol=1e-6, atol=1e-8,
                                       err_msg=f"d={d} t={t}")
            np.testing.assert_allclose(jac.norms[0, d, t], np.linalg.norm(dense, 2, axis=(1, 2)),
                                       rtol=1e-6)


def test_running_product_is_the_sum_of_later_logs():
    module, x, _ = make("rnn", bidirectional=True)
    jac = gf.jacobian_norms(module, x)
    logs = np.log10(jac.norms)
    fw, rv = jac.log10_product[0, 0], jac.log10_product[0, 1]
    np.testing.assert_allclose(fw[-1], 0.0)  # the last processed step: nothing after it
    np.testing.assert_allclose(rv[0], 0.0)  # the reverse direction ends at t = 0
    np.testing.assert_allclose(fw[0], logs[0, 0, 1:].sum(axis=0))
    np.testing.assert_allclose(rv[-1], logs[0, 1, :-1].sum(axis=0))


def test_spectral_norm_by_power_iteration():
    rng = np.random.default_rng(3)
    J = rng.standard_normal((6, 5, 5))
    np.testing.assert_allclose(gf.spectral_norm(J), np.linalg.norm(J, 2, axis=(1, 2)),
                               rtol=1e-9)
    assert (gf.spectral_norm(np.zeros((2, 3, 3))) == 0).all()


# ---------------------------------------------------------------------- errors
def test_bad_input():
    module, x, loss_fn = make("lstm")
    with pytest.raises(TypeError, match="nn.RNN, nn.LSTM or nn.GRU"):
        gf.gradient_flow(nn.Linear(3, 4), x, loss_fn)
    with pytest.raises(ValueError, match="source"):
        gf.gradient_flow(module, x, loss_fn, source="magic")
    with pytest.raises(TypeError, match="one-element Tensor"):
        gf.gradient_flow(module, x, lambda out, state: out)
    dropped = nn.GRU(I, H, num_layers=2, dropout=0.5).double()
    with pytest.raises(ValueError, match="eval"):
        gf.gradient_flow(dropped, x, loss_fn)
    gf.gradient_flow(dropped.eval(), x, lambda out, h: out.sum())  # fine in eval mode


# ------------------------------------------------------- compare_gradients --per-step
@pytest.mark.parametrize("cell", list(CELLS))
def test_compare_gradients_per_step_rows(cell):
    from models import compare_gradients

    rows = compare_gradients.compare(cell, batch=2, timesteps=3, hidden_size=4, layers=2,
                                     bidirectional=True, per_step=True)
    steps = [r for r in rows if r.norms is not None]
    per_state = 2 * 2 * 3  # layers x directions x timesteps
    assert len(steps) == per_state * (2 if cell == "lstm" else 1)
    assert all(r.passed and r.max_abs < 1e-9 and r.shape == (2, 4) for r in steps)
    assert all(abs(a - b) < 1e-9 and a > 0 for a, b in (r.norms for r in steps))
    assert steps[0].name == "dL/dh_t l0 t=0" and steps[3].name == "dL/dh_t l0_reverse t=0"
    plain = compare_gradients.compare(cell, batch=2, timesteps=3, hidden_size=4, layers=2,
                                      bidirectional=True)
    assert [r.name for r in rows if r.norms is None] == [r.name for r in plain]


def test_compare_gradients_per_step_cli(capsys):
    from models import compare_gradients

    assert compare_gradients.main(["--cell", "gru", "--timesteps", "4", "--per-step"]) == 0
    out = capsys.readouterr().out
    assert "||autograd||" in out and "||bptt||" in out and "dL/dh_t l0 t=3" in out
    assert "per-step: 4 state gradients, largest difference" in out
    assert compare_gradients.main(["--cell", "gru", "--timesteps", "4"]) == 0
    assert "||autograd||" not in capsys.readouterr().out
    code = compare_gradients.main(["--per-step", "--lengths", "3", "2"])
    assert code == 2 and "per_step" in capsys.readouterr().err


@pytest.mark.parametrize("cell", list(CELLS))
def test_flow_and_jacobians_on_device(cell, device):
    module, x, loss_fn = make(cell, num_layers=2, bidirectional=True)
    cpu_flow = gf.gradient_flow(module, x, loss_fn)
    cpu_jac = gf.jacobian_norms(module, x)
    module.to(device)
    x = x.to(device)
    auto, hand, diff = gf.compare(module, x, lambda out, state: loss_fn(out.to("cpu"), (
        tuple(s.to("cpu") for s in state) if isinstance(state, tuple) else state.to("cpu"))))
    assert diff < 1e-9 and isinstance(auto.dh, np.ndarray)
    np.testing.assert_allclose(auto.dh, cpu_flow.dh, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gf.jacobian_norms(module, x).norms, cpu_jac.norms, rtol=1e-8)
