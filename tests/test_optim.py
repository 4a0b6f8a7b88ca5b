"""Optimizers: PyTorch reference trajectories, state dicts, resuming, argument checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim

FIXTURES = Path(__file__).parent / "fixtures" / "optim"
OPTIM_FILES = sorted(p.name for p in FIXTURES.glob("*.npz")
                     if not p.name.startswith("schedulers"))


def _loss(W, b, X, Y):
    return ((X @ W.T + b - Y) ** 2).mean()


def _build(cfg: dict, W, b):
    cls = getattr(optim, cfg["class"])
    if "param_groups" in cfg:
        named = {"W": W, "b": b}
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [named[n] for n in g["params"]]} for g in cfg["param_groups"]]
        return cls(groups, **cfg["kwargs"])
    return cls([W, b], **cfg["kwargs"])


# --- PyTorch reference trajectories ---------------------------------------------------


def test_all_fixture_files_are_covered():
    assert len(OPTIM_FILES) == 12


@pytest.mark.parametrize("name", OPTIM_FILES)
def test_matches_pytorch_trajectory(name):
    z = np.load(FIXTURES / name, allow_pickle=False)
    cfg = json.loads(str(z["config"]))
    W = mg.tensor(z["W0"], requires_grad=True)
    b = mg.tensor(z["b0"], requires_grad=True)
    X, Y = mg.tensor(z["X"]), mg.tensor(z["Y"])
    assert W.dtype == mg.float64
    opt = _build(cfg, W, b)
    losses = []
    for t in range(cfg["steps"]):
        opt.zero_grad()
        loss = _loss(W, b, X, Y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        np.testing.assert_allclose(W.data, z["W_traj"][t], rtol=1e-10, atol=1e-13,
                                   err_msg=f"W after step {t + 1}")
        np.testing.assert_allclose(b.data, z["b_traj"][t], rtol=1e-10, atol=1e-13,
                                   err_msg=f"b after step {t + 1}")
    np.testing.assert_allclose(losses, z["loss_traj"], rtol=1e-10, atol=0)
    assert W.dtype == mg.float64 and b.dtype == mg.float64
    assert W.grad_fn is None and W.is_leaf


# --- reference implementations for branches the fixtures do not cover ----------------
# (PyTorch's single-tensor formulas written out in plain NumPy, same operation order)


def _ref_adam(params, grads_fn, steps, lr, betas, eps, wd, amsgrad, decoupled):
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    vmax = [np.zeros_like(p) for p in params]
    for step in range(1, steps + 1):
        grads = grads_fn(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            if wd:
                if decoupled:
                    p *= 1 - lr * wd
                else:
                    g = g + wd * p
            m[i] = m[i] + (1 - betas[0]) * (g - m[i])
            v[i] = v[i] * betas[1] + (1 - betas[1]) * g * g
            second = v[i]
            if amsgrad:
                vmax[i] = np.maximum(vmax[i], v[i])
                second = vmax[i]
            denom = np.sqrt(second) / math.sqrt(1 - betas[1] ** step) + eps
            p += (-(lr / (1 - betas[0] ** step)) * m[i]) / denom
    return params


def _ref_rmsprop(params, grads_fn, steps, lr, alpha, eps, wd, momentum, centered):
    params = [p.copy() for p in params]
    sq = [np.zeros_like(p) for p in params]
    ga = [np.zeros_like(p) for p in params]
    buf = [np.zeros_like(p) for p in params]
    for _ in range(steps):
        grads = grads_fn(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            if wd:
                g = g + wd * p
            sq[i] = sq[i] * alpha + (1 - alpha) * g * g
            if centered:
                ga[i] = ga[i] + (1 - alpha) * (g - ga[i])
                avg = np.sqrt(sq[i] - ga[i] * ga[i]) + eps
            else:
                avg = np.sqrt(sq[i]) + eps
            if momentum > 0:
                buf[i] = buf[i] * momentum + g / avg
                p += -lr * buf[i]
            else:
                p += (-lr * g) / avg
    return params


def _ref_sgd(params, grads_fn, steps, lr, momentum, dampening, wd, nesterov):
    params = [p.copy() for p in params]
    buf = [None] * len(params)
    for _ in range(steps):
        grads = grads_fn(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            if wd:
                g = g + wd * p
            if momentum:
                buf[i] = g.copy() if buf[i] is None else buf[i] * momentum + (1 - dampening) * g
                g = g + momentum * buf[i] if nesterov else buf[i]
            p += -lr * g
    return params


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.normal(size=(8, 4)), rng.normal(size=(8, 3))
    W0, b0 = rng.normal(size=(3, 4)), rng.normal(size=(3,))

    def grads_fn(params):
        W, b = params
        r = 2 * (X @ W.T + b - Y) / Y.size
        return [r.T @ X, r.sum(0)]

    return X, Y, W0, b0, grads_fn


@pytest.mark.parametrize("cls, kwargs, ref", [
    (optim.Adam, dict(lr=0.02, amsgrad=True),
     lambda f, p: _ref_adam(p, f, 12, 0.02, (0.9, 0.999), 1e-8, 0, True, False)),
    (optim.AdamW, dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True),
     lambda f, p: _ref_adam(p, f, 12, 0.02, (0.8, 0.9), 1e-8, 0.1, True, True)),
    (optim.Adam, dict(lr=0.02, betas=(0.3, 0.9)),  # lerp weight >= 0.5 branch
     lambda f, p: _ref_adam(p, f, 12, 0.02, (0.3, 0.9), 1e-8, 0, False, False)),
    (optim.RMSprop, dict(lr=0.01, centered=True),
     lambda f, p: _ref_rmsprop(p, f, 12, 0.01, 0.99, 1e-8, 0, 0, True)),
    (optim.RMSprop, dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1),
     lambda f, p: _ref_rmsprop(p, f, 12, 0.01, 0.9, 1e-8, 0.1, 0.5, True)),
    (optim.RMSprop, dict(lr=0.01, weight_decay=0.1),
     lambda f, p: _ref_rmsprop(p, f, 12, 0.01, 0.99, 1e-8, 0.1, 0, False)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3),
     lambda f, p: _ref_sgd(p, f, 12, 0.1, 0.9, 0.3, 0, False)),
    (optim.SGD, dict(lr=0.1, momentum=0.5, nesterov=True),
     lambda f, p: _ref_sgd(p, f, 12, 0.1, 0.5, 0, 0, True)),
    (optim.SGD, dict(lr=0.1, weight_decay=0.2),
     lambda f, p: _ref_sgd(p, f, 12, 0.1, 0, 0, 0.2, False)),
])
def test_matches_reference_formulas(cls, kwargs, ref):
    X, Y, W0, b0, grads_fn = _problem()
    W = mg.tensor(W0, requires_grad=True)
    b = mg.tensor(b0, requires_grad=True)
    opt = cls([W, b], **kwargs)
    for _ in range(12):
        opt.zero_grad()
        _loss(W, b, mg.tensor(X), mg.tensor(Y)).backward()
        opt.step()
    W_ref, b_ref = ref(grads_fn, [W0, b0])
    np.testing.assert_allclose(W.data, W_ref, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(b.data, b_ref, rtol=1e-10, atol=1e-13)


# --- dtype, grads, state -------------------------------------------------------------


ALL_CONFIGS = [
    (optim.SGD, dict(lr=0.1)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    (optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    (optim.Adam, dict(lr=0.01, amsgrad=True)),
    (optim.AdamW, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.RMSprop, dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
    (optim.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.01)),
]
CONFIG_IDS = [f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
              for c, kw in ALL_CONFIGS]


def _train(opt, W, b, X, Y, steps):
    for _ in range(steps):
        opt.zero_grad()
        _loss(W, b, X, Y).backward()
        opt.step()


@pytest.mark.parametrize("cls, kwargs", ALL_CONFIGS, ids=CONFIG_IDS)
def test_float32_stays_float32(cls, kwargs):
    X, Y, W0, b0, _ = _problem(1)
    W = mg.tensor(W0.astype(np.float32), requires_grad=True)
    b = mg.tensor(b0.astype(np.float32), requires_grad=True)
    W_data = W.data
    opt = cls([W, b], **kwargs)
    _train(opt, W, b, mg.tensor(X.astype(np.float32)), mg.tensor(Y.astype(np.float32)), 3)
    assert W.dtype == np.float32 and b.dtype == np.float32
    assert W.data is W_data  # updated in place
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, np.ndarray):
                assert value.dtype == np.float32
    # same trajectory as float64 to float32 precision
    W64 = mg.tensor(W0, requires_grad=True)
    b64 = mg.tensor(b0, requires_grad=True)
    _train(cls([W64, b64], **kwargs), W64, b64, mg.tensor(X), mg.tensor(Y), 3)
    np.testing.assert_allclose(W.data, W64.data, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls, kwargs", ALL_CONFIGS, ids=CONFIG_IDS)
def test_step_skips_params_without_grad(cls, kwargs):
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    frozen = mg.tensor([3.0, 4.0], requires_grad=True)
    opt = cls([a, frozen], **kwargs)
    (a * a).sum().backward()
    opt.step()
    assert frozen.grad is None
    assert frozen.tolist() == [3.0, 4.0]
    # no state, or (Adagrad, which creates it at construction as PyTorch) none used
    assert frozen not in opt.state or opt.state[frozen]["step"] == 0
    assert a.tolist() != [1.0, 2.0]


def test_zero_grad():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    (a * a).sum().backward()
    opt.zero_grad()
    assert a.grad is None
    (a * a).sum().backward()
    grad = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is grad and a.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()  # params without grad are fine
    opt.zero_grad()


def test_step_with_closure_returns_loss():
    a = mg.tensor([1.0, -2.0], requires_grad=True)
    opt = optim.SGD([a], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 5.0
    assert a.tolist() == [0.5, -1.0]
    assert opt.step() is None


def test_param_groups_fall_back_to_defaults():
    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.1}],
                    lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0.1
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is b
    assert set(opt.param_groups[0]) == {"params", "lr", "momentum", "dampening",
                                        "weight_decay", "nesterov"}
    (a + b).sum().backward()
    opt.step()
    assert a.item() == pytest.approx(0.9) and b.item() == pytest.approx(0.5)


def test_add_param_group():
    a = mg.tensor([1.0], requires_grad=True)
    c = mg.tensor([2.0], requires_grad=True)
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [c], "betas": (0.5, 0.6)})
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["betas"] == (0.5, 0.6)
    (a + c).sum().backward()
    opt.step()
    assert c.item() == pytest.approx(1.9)  # Adam's first step is lr * sign(g)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_accepts_a_generator_and_a_tuple():
    a = mg.tensor([1.0], requires_grad=True)
    b = mg.tensor([1.0], requires_grad=True)
    assert len(optim.SGD(p for p in [a, b]).param_groups[0]["params"]) == 2
    assert len(optim.RMSprop((a, b)).param_groups[0]["params"]) == 2


# --- state dicts ----------------------------------------------------------------------


def test_state_dict_layout_like_pytorch():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([[1.0]], requires_grad=True)
    c = mg.tensor([3.0], requires_grad=True)
    opt = optim.Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1)
    (a.sum() + c.sum()).backward()  # b gets no grad: no state
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert set(sd["state"]) == {0, 2}
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][0]["step"] == 1
    assert isinstance(sd["state"][0]["exp_avg"], np.ndarray)
    # a snapshot: later steps do not change it
    before = sd["state"][0]["exp_avg"].copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"], before)
    assert opt.state_dict()["state"][0]["step"] == 2


@pytest.mark.parametrize("cls, kwargs", ALL_CONFIGS, ids=CONFIG_IDS)
def test_resume_equals_uninterrupted(cls, kwargs, tmp_path):
    """Train 10 steps, checkpoint (mg.save), restore into fresh objects: the following
    steps are bit-for-bit those of the uninterrupted run."""
    X, Y, W0, b0, _ = _problem(2)
    X, Y = mg.tensor(X), mg.tensor(Y)
    W = mg.tensor(W0, requires_grad=True)
    b = mg.tensor(b0, requires_grad=True)
    opt = cls([{"params": [W]}, {"params": [b], "lr": 0.02}], **kwargs)
    sched = optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.5)
    for _ in range(10):
        _train(opt, W, b, X, Y, 1)
        sched.step()
    path = tmp_path / "ckpt.mg"
    mg.save({"params": {"W": W, "b": b.data}, "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict()}, path)
    for _ in range(3):  # the uninterrupted run
        _train(opt, W, b, X, Y, 1)
        sched.step()

    ckpt = mg.load(path)
    W2 = mg.tensor(ckpt["params"]["W"], requires_grad=True)
    b2 = mg.tensor(ckpt["params"]["b"], requires_grad=True)
    opt2 = cls([{"params": [W2]}, {"params": [b2], "lr": 0.02}], **kwargs)
    sched2 = optim.lr_scheduler.StepLR(opt2, step_size=4, gamma=0.5)
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    for _ in range(3):
        _train(opt2, W2, b2, X, Y, 1)
        sched2.step()
    np.testing.assert_array_equal(W2.data, W.data)
    np.testing.assert_array_equal(b2.data, b.data)
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_load_state_dict_copies_and_casts_to_param_dtype():
    a64 = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    opt = optim.Adam([a64], lr=0.1)
    (a64 * a64).sum().backward()
    opt.step()
    sd = opt.state_dict()
    a32 = mg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    opt32 = optim.Adam([a32], lr=0.5)
    opt32.load_state_dict(sd)
    state = opt32.state[a32]
    assert state["exp_avg"].dtype == np.float32 and state["step"] == 1
    assert opt32.param_groups[0]["lr"] == 0.1
    assert opt32.param_groups[0]["params"][0] is a32
    sd["state"][0]["exp_avg"][:] = 99  # the loaded state is a copy
    assert state["exp_avg"].max() < 99
    # PyTorch keeps `step` in a tensor: a 0-d array is accepted too
    sd["state"][0]["step"] = np.array(3.0)
    opt32.load_state_dict(sd)
    assert opt32.state[a32]["step"] == 3 and isinstance(opt32.state[a32]["step"], int)


def test_load_state_dict_errors_change_nothing():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = mg.tensor([3.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1, momentum=0.9)
    (a.sum() + b.sum()).backward()
    opt.step()
    sd = opt.state_dict()
    buf = opt.state[a]["momentum_buffer"].copy()

    def unchanged():
        assert opt.param_groups[0]["lr"] == 0.1
        np.testing.assert_array_equal(opt.state[a]["momentum_buffer"], buf)

    two_groups = {"state": {}, "param_groups": [dict(sd["param_groups"][0], params=[0]),
                                                dict(sd["param_groups"][0], params=[1])]}
    with pytest.raises(ValueError, match="2 parameter group.*optimizer has 1"):
        opt.load_state_dict(two_groups)
    wrong_size = {"state": {}, "param_groups": [dict(sd["param_groups"][0], params=[0])]}
    with pytest.raises(ValueError, match="group 0 has 1 parameter.*group 0 has 2"):
        opt.load_state_dict(wrong_size)
    bad_shape = {"state": {0: {"momentum_buffer": np.zeros(3)}},
                 "param_groups": [dict(sd["param_groups"][0], lr=5.0)]}
    with pytest.raises(ValueError, match=r"has shape \(3,\).*parameter has shape \(2,\)"):
        opt.load_state_dict(bad_shape)
    unknown = {"state": {7: {}}, "param_groups": [dict(sd["param_groups"][0], lr=5.0)]}
    with pytest.raises(ValueError, match="parameter 7"):
        opt.load_state_dict(unknown)
    bad_lr = {"state": {}, "param_groups": [dict(sd["param_groups"][0], lr=-1.0)]}
    with pytest.raises(ValueError, match="learning rate: -1.0"):
        opt.load_state_dict(bad_lr)
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        opt.load_state_dict({"param_groups": []})
    unchanged()


# --- argument checks --------------------------------------------------------------------


def _p():
    return mg.tensor([1.0], requires_grad=True)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: optim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
    (lambda: optim.Adam(iter([])), ValueError, "optimizer got an empty parameter list"),
    (lambda: optim.SGD([_p()], lr=-0.1), ValueError, r"Invalid learning rate: -0\.1"),
    (lambda: optim.Adam([_p()], lr=-1e-3), ValueError, r"Invalid learning rate: -0\.001"),
    (lambda: optim.RMSprop([_p()], lr=float("nan")), ValueError, "Invalid learning rate: nan"),
    (lambda: optim.SGD([_p()], lr="0.1"), TypeError, "learning rate: expected a number"),
    (lambda: optim.SGD([_p()], momentum=-0.5), ValueError, r"Invalid momentum value: -0\.5"),
    (lambda: optim.SGD([_p()], weight_decay=-1), ValueError, "Invalid weight_decay value: -1"),
    (lambda: optim.SGD([_p()], dampening=-1), ValueError, "Invalid dampening value: -1"),
    (lambda: optim.SGD([_p()], nesterov=True), ValueError, "Nesterov momentum requires"),
    (lambda: optim.SGD([_p()], momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "Nesterov momentum requires"),
    (lambda: optim.Adam([_p()], betas=(1.0, 0.999)), ValueError,
     r"Invalid beta parameter at index 0: 1\.0"),
    (lambda: optim.AdamW([_p()], betas=(0.9, -0.1)), ValueError,
     r"Invalid beta parameter at index 1: -0\.1"),
    (lambda: optim.Adam([_p()], betas=0.9), ValueError, "expected a pair"),
    (lambda: optim.Adam([_p()], eps=-1e-8), ValueError, "Invalid epsilon value: -1e-08"),
    (lambda: optim.AdamW([_p()], weight_decay=-0.01), ValueError,
     r"Invalid weight_decay value: -0\.01"),
    (lambda: optim.RMSprop([_p()], alpha=-0.9), ValueError, r"Invalid alpha value: -0\.9"),
    (lambda: optim.RMSprop([_p()], eps=-1.0), ValueError, r"Invalid epsilon value: -1\.0"),
    (lambda: optim.RMSprop([_p()], momentum=-0.9), ValueError, "Invalid momentum value"),
    (lambda: optim.SGD([{"params": [_p()], "lr": -2.0}], lr=0.1), ValueError,
     r"Invalid learning rate: -2\.0"),
    (lambda: optim.SGD(_p()), TypeError, "iterable of Tensors or dicts, but got a Tensor"),
    (lambda: optim.SGD({_p()}), TypeError, "ordered iterable"),
    (lambda: optim.SGD([np.zeros(3)]), TypeError, "can only optimize Tensors"),
    (lambda: optim.SGD([{"lr": 0.1}]), ValueError, "'params'"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_param_given_twice_raises():
    a = _p()
    with pytest.raises(ValueError, match="same parameter more than once"):
        optim.SGD([a, a], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.Adam([{"params": [a]}, {"params": [a], "lr": 0.1}])


def test_non_leaf_raises():
    a = _p()
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([a * 2], lr=0.1)


def test_repr():
    text = repr(optim.Adam([_p()], lr=0.1))
    assert text.startswith("Adam (") and "lr: 0.1" in text


# --- GPU ------------------------------------------------------------------------------------

cuda = pytest.mark.skipif(not mg.cuda.is_available(), reason="CuPy/GPU not available")


@cuda
@pytest.mark.parametrize("cls, kwargs", ALL_CONFIGS, ids=CONFIG_IDS)
def test_cuda_matches_cpu(cls, kwargs):
    X, Y, W0, b0, _ = _problem(3)
    results = []
    for device in ("cpu", "cuda"):
        W = mg.tensor(W0, requires_grad=True, device=device)
        b = mg.tensor(b0, requires_grad=True, device=device)
        opt = cls([W, b], **kwargs)
        _train(opt, W, b, mg.tensor(X, device=device), mg.tensor(Y, device=device), 5)
        assert W.device == device
        results.append(W.numpy())
        if device == "cuda":
            sd = opt.state_dict()
            W_cpu = mg.tensor(W0, requires_grad=True)
            b_cpu = mg.tensor(b0, requires_grad=True)
            opt_cpu = cls([W_cpu, b_cpu], **kwargs)
            opt_cpu.load_state_dict(sd)  # state moves to the parameters' device
            for state in opt_cpu.state.values():
                for value in state.values():
                    assert not hasattr(value, "device") or isinstance(value, np.ndarray)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-10, atol=1e-12)


def test_with_nn_module_checkpoint(tmp_path):
    """model.parameters() (nn.Parameter) with a full model + optimizer checkpoint."""
    try:
        from minigrad import nn
        nn.Linear  # noqa: B018
    except (ImportError, AttributeError):
        pytest.skip("minigrad.nn.Linear not available")
    mg.manual_seed(0)
    X, Y = mg.randn(16, 4), mg.randn(16, 2)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((model(X) - Y) ** 2).mean().backward()
            opt.step()

    model = nn.Linear(4, 2)
    opt = optim.AdamW(model.parameters(), lr=0.05)
    train(model, opt, 5)
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ck")
    train(model, opt, 3)

    ckpt = mg.load(tmp_path / "ck")
    model2 = nn.Linear(4, 2)
    model2.load_state_dict(ckpt["model"])
    opt2 = optim.AdamW(model2.parameters(), lr=0.05)
    opt2.load_state_dict(ckpt["optimizer"])
    train(model2, opt2, 3)
    for (name, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=name)


# --- Adagrad ---------------------------------------------------------------------------


def _ref_adagrad(params, grads_fn, steps, lr, lr_decay, wd, init, eps, maximize):
    params = [p.copy() for p in params]
    sums = [np.full_like(p, init) for p in params]
    for step in range(1, steps + 1):
        grads = grads_fn(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            g = -g if maximize else g
            if wd:
                g = g + wd * p
            clr = lr / (1 + (step - 1) * lr_decay)
            sums[i] += g * g
            p += -clr * g / (np.sqrt(sums[i]) + eps)
    return params


def test_adagrad_maximize_matches_reference():
    X, Y, W0, b0, grads_fn = _problem(1)
    W, b = mg.tensor(W0, requires_grad=True), mg.tensor(b0, requires_grad=True)
    opt = optim.Adagrad([W, b], lr=0.05, maximize=True, initial_accumulator_value=0.1)
    _train(opt, W, b, mg.tensor(X), mg.tensor(Y), 8)
    W_ref, b_ref = _ref_adagrad([W0, b0], grads_fn, 8, 0.05, 0, 0, 0.1, 1e-10, True)
    np.testing.assert_allclose(W.data, W_ref, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(b.data, b_ref, rtol=1e-10, atol=1e-13)


def test_adagrad_state_from_construction_like_pytorch():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.Adagrad([a], initial_accumulator_value=0.5)
    sd = opt.state_dict()
    assert set(sd["state"][0]) == {"step", "sum"} and sd["state"][0]["step"] == 0
    np.testing.assert_array_equal(sd["state"][0]["sum"], [0.5, 0.5])
    assert sd["param_groups"][0]["lr"] == 1e-2 and sd["param_groups"][0]["eps"] == 1e-10
    late = mg.tensor([1.0], requires_grad=True)  # a group added later gets state lazily
    opt.add_param_group({"params": [late]})
    (a.sum() + late.sum()).backward()
    opt.step()
    assert opt.state[late]["step"] == 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-1.0), "Invalid learning rate: -1.0"),
    (dict(lr_decay=-0.1), "Invalid lr_decay value: -0.1"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
    (dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    (dict(eps=-1e-10), "Invalid epsilon value: -1e-10"),
])
def test_adagrad_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optim.Adagrad([_p()], **kwargs)
