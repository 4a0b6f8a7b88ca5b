"""Learning-rate schedulers against PyTorch's recorded values, and their state dicts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler

FIXTURE = Path(__file__).parent / "fixtures" / "optim" / "schedulers.npz"


def _fixture():
    z = np.load(FIXTURE, allow_pickle=False)
    return z, json.loads(str(z["config"]))


def _opt(lr=0.1, n=1):
    return optim.SGD([mg.tensor([1.0], requires_grad=True) for _ in range(n)], lr=lr)


def _run(sched, opt, steps):
    lrs = [sched.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    return lrs


@pytest.mark.parametrize("name", ["StepLR", "ExponentialLR", "CosineAnnealingLR"])
def test_matches_pytorch(name):
    z, cfg = _fixture()
    opt = _opt(cfg["base_lr"])
    sched = getattr(lr_scheduler, name)(opt, **cfg["schedulers"][name])
    lrs = _run(sched, opt, cfg["steps"])
    expected = z[f"lr.{name}"]
    assert expected.shape == (26,) and len(lrs) == 26
    np.testing.assert_allclose(lrs, expected, rtol=1e-13, atol=0)
    assert sched.last_epoch == 25
    assert opt.param_groups[0]["lr"] == lrs[-1]


def test_cosine_agrees_with_closed_form():
    opt = _opt(0.1)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
    lrs = _run(sched, opt, 45)
    closed = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(46)]
    np.testing.assert_allclose(lrs, closed, rtol=0, atol=1e-12)
    assert lrs[20] == pytest.approx(0.1, abs=1e-12)
    assert lrs[10] == pytest.approx(0.001, abs=1e-12)


def test_closed_forms_for_step_and_exponential():
    opt = _opt(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    lrs = _run(sched, opt, 10)
    assert lrs == pytest.approx([0.1 * 0.5 ** (t // 3) for t in range(11)], rel=1e-14)
    opt = _opt(0.1)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.9)
    lrs = _run(sched, opt, 10)
    assert lrs == pytest.approx([0.1 * 0.9 ** t for t in range(11)], rel=1e-13)


def test_construction_sets_initial_lr_and_base_lrs():
    a, b = mg.tensor([1.0], requires_grad=True), mg.tensor([1.0], requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    sched = lr_scheduler.ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert sched.base_lrs == [0.1, 0.5]
    assert sched.last_epoch == 0 and sched.get_last_lr() == [0.1, 0.5]
    sched.step()
    assert sched.get_last_lr() == [0.05, 0.25]
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.25]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.5]


def test_state_dict_round_trip(tmp_path):
    opt = _opt(0.1, n=2)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=7, eta_min=0.01)
    for _ in range(5):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    assert "optimizer" not in sd
    assert sd["last_epoch"] == 5 and sd["T_max"] == 7 and sd["base_lrs"] == [0.1]
    mg.save({"opt": opt.state_dict(), "sched": sd}, tmp_path / "s.ckpt")
    expected = _run(sched, opt, 12)

    ckpt = mg.load(tmp_path / "s.ckpt")
    opt2 = _opt(0.1, n=2)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=1, eta_min=0.5)  # overwritten
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    assert sched2.T_max == 7 and sched2.eta_min == 0.01 and sched2.last_epoch == 5
    assert _run(sched2, opt2, 12) == expected


def test_resume_with_last_epoch():
    opt = _opt(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.1)
    for _ in range(3):
        sched.step()
    resumed = lr_scheduler.StepLR(opt, step_size=2, gamma=0.1, last_epoch=3)
    assert resumed.base_lrs == [0.1]
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(_opt(), step_size=2, last_epoch=3)


def test_step_with_epoch_uses_closed_form():
    opt = _opt(0.1)
    sched = lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(7)
    assert sched.get_last_lr() == [pytest.approx(0.025)]
    assert sched.last_epoch == 7


@pytest.mark.parametrize("make, exc, match", [
    (lambda: lr_scheduler.StepLR(_opt(), step_size=0), ValueError, "step_size must be"),
    (lambda: lr_scheduler.StepLR(_opt(), step_size=1.5), ValueError, "step_size must be"),
    (lambda: lr_scheduler.CosineAnnealingLR(_opt(), T_max=0), ValueError, "T_max must be"),
    (lambda: lr_scheduler.ExponentialLR("sgd", gamma=0.9), TypeError, "not an Optimizer"),
])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# --- the other schedulers against PyTorch (optim/schedulers2.npz) -------------------------

FIXTURE2 = Path(__file__).parent / "fixtures" / "optim" / "schedulers2.npz"
LAMBDAS = {"pow_0.9": lambda epoch: 0.9 ** epoch,  # the generator's, by name
           "const_0.95": lambda epoch: 0.95,
           "warmup_5": lambda epoch: min(1.0, (epoch + 1) / 5)}


def _fixture2():
    z = np.load(FIXTURE2, allow_pickle=False)
    return z, json.loads(str(z["config"]))


def _make(opt, cls_name: str, kwargs: dict):
    kwargs = dict(kwargs)
    if "lr_lambda" in kwargs:
        kwargs["lr_lambda"] = LAMBDAS[kwargs["lr_lambda"]]
    if cls_name == "SequentialLR":
        kwargs["schedulers"] = [_make(opt, c, kw) for c, kw in kwargs["schedulers"]]
    return getattr(lr_scheduler, cls_name)(opt, **kwargs)


SCHEDULERS2 = sorted(_fixture2()[1]["schedulers"])


def _build2(name):
    z, cfg = _fixture2()
    spec = cfg["schedulers"][name]
    p = mg.tensor([1.0, 1.0], requires_grad=True)
    opt = getattr(optim, spec["optimizer"])([p], lr=cfg["base_lr"], **spec["optimizer_kwargs"])
    return z, cfg, spec, opt, _make(opt, spec["class"], spec["kwargs"])


def _run2(spec, sched, opt, metrics, steps):
    lrs, momenta = [sched.get_last_lr()[0]], [_momentum(opt)]
    for t in range(steps):
        opt.step()
        if spec["class"] == "ReduceLROnPlateau":
            sched.step(metrics[t])
        else:
            sched.step()
        lrs.append(sched.get_last_lr()[0])
        momenta.append(_momentum(opt))
    return lrs, momenta


def _momentum(opt):
    group = opt.param_groups[0]
    return group["betas"][0] if "betas" in group else group.get("momentum")


def test_every_scheduler_fixture_is_covered():
    assert {spec["class"] for spec in _fixture2()[1]["schedulers"].values()} == {
        "LambdaLR", "MultiplicativeLR", "MultiStepLR", "LinearLR", "ConstantLR",
        "SequentialLR", "OneCycleLR", "ReduceLROnPlateau"}


@pytest.mark.parametrize("name", SCHEDULERS2)
def test_more_schedulers_match_pytorch(name):
    """The lr after construction and after each of 25 steps (and OneCycleLR's momentum:
    SGD's momentum or Adam's beta1)."""
    z, cfg, spec, opt, sched = _build2(name)
    lrs, momenta = _run2(spec, sched, opt, z["metrics"], cfg["steps"])
    np.testing.assert_allclose(lrs, z[f"lr.{name}"], rtol=1e-13, atol=1e-15)
    if f"momentum.{name}" in z:
        np.testing.assert_allclose(momenta, z[f"momentum.{name}"], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", SCHEDULERS2)
def test_more_schedulers_state_dict_round_trip(name, tmp_path):
    """Stop after 9 steps, save optimizer and scheduler through mg.save, rebuild both,
    load, and continue: the same rates as without the interruption."""
    z, cfg, spec, opt, sched = _build2(name)
    metrics = z["metrics"]
    _run2(spec, sched, opt, metrics, 9)
    state = sched.state_dict()
    assert "optimizer" not in state
    if spec["class"] in ("LambdaLR", "MultiplicativeLR"):
        assert state["lr_lambdas"] == [None]  # functions are not saved, as in PyTorch
    mg.save({"opt": opt.state_dict(), "sched": state}, tmp_path / "ckpt")
    expected, _ = _run2(spec, sched, opt, metrics[9:], cfg["steps"] - 9)

    ckpt = mg.load(tmp_path / "ckpt")
    _, _, _, opt2, sched2 = _build2(name)
    opt2.load_state_dict(ckpt["opt"])
    sched2.load_state_dict(ckpt["sched"])
    resumed, _ = _run2(spec, sched2, opt2, metrics[9:], cfg["steps"] - 9)
    np.testing.assert_allclose(resumed, expected, rtol=1e-13, atol=1e-15)


def test_lambda_state_keeps_callable_objects_state():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    sched = lr_scheduler.LambdaLR(_opt(), Decay(0.5))
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"rate": 0.5}]
    other = lr_scheduler.LambdaLR(_opt(), Decay(0.9))
    other.load_state_dict(state)
    assert other.lr_lambdas[0].rate == 0.5


def test_reduce_on_plateau_details():
    opt = optim.SGD([{"params": [mg.tensor([1.0], requires_grad=True)]},
                     {"params": [mg.tensor([1.0], requires_grad=True)], "lr": 0.01}], lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5, min_lr=[0.03, 0.0])
    sched.step(mg.tensor(1.0))  # a one-element Tensor is a metric too
    sched.step(2.0)
    assert sched.get_last_lr() == [0.05, 0.005]
    sched.step(2.0)
    assert sched.get_last_lr() == [0.03, 0.0025]  # clamped at its min_lr
    assert sched.num_bad_epochs == 0 and sched.best == 1.0


def test_one_cycle_bounds():
    opt = optim.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.1, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=10)
    for _ in range(10):
        opt.step()
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 11 times. The specified number of "
                                         "total steps is 10"):
        sched.step()


@pytest.mark.parametrize("make, exc, match", [
    (lambda: lr_scheduler.LambdaLR(_opt(n=1), [lambda e: 1.0, lambda e: 1.0]), ValueError,
     "Expected 1 lr_lambdas, but got 2"),
    (lambda: lr_scheduler.MultiplicativeLR(_opt(), 0.9), TypeError,
     "lr_lambda should be a function, but got float"),
    (lambda: lr_scheduler.ConstantLR(_opt(), factor=1.5), ValueError,
     "Constant multiplicative factor expected to be between 0 and 1"),
    (lambda: lr_scheduler.LinearLR(_opt(), start_factor=0), ValueError,
     "Starting multiplicative factor expected to be greater than 0"),
    (lambda: lr_scheduler.LinearLR(_opt(), end_factor=2), ValueError,
     "Ending multiplicative factor expected to be between 0 and 1"),
    (lambda: lr_scheduler.SequentialLR(_opt(), [], []), ValueError,
     "expects at least one scheduler"),
    (lambda: lr_scheduler.SequentialLR(
        _opt(), [lr_scheduler.ConstantLR(_opt()), lr_scheduler.ConstantLR(_opt())], [2]),
     ValueError, "expects all schedulers to belong to the same optimizer"),
    (lambda: (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ConstantLR(o)], [2]))(
        _opt()), ValueError, "number of schedulers provided to be one more"),
    (lambda: (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ReduceLROnPlateau(o)],
                                                  []))(_opt()),
     ValueError, "does not support `ReduceLROnPlateau`"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), max_lr=1.0), ValueError,
     r"You must define either total_steps OR \(epochs AND steps_per_epoch\)"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), max_lr=1.0, total_steps=0), ValueError,
     "Expected positive integer total_steps, but got 0"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), max_lr=1.0, total_steps=5, pct_start=1),
     ValueError, "Expected float between 0 and 1 pct_start, but got 1"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), max_lr=1.0, total_steps=5,
                                     anneal_strategy="exp"),
     ValueError, "anneal_strategy must be one of 'cos' or 'linear'"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), max_lr=[1.0, 2.0], total_steps=5), ValueError,
     "expected 1 values for max_lr, got 2"),
    (lambda: lr_scheduler.OneCycleLR(
        optim.Adagrad([mg.tensor([1.0], requires_grad=True)]), max_lr=1.0, total_steps=5),
     ValueError, "optimizer must support momentum or beta1"),
    (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), factor=1.0), ValueError,
     "Factor should be < 1.0."),
    (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), mode="avg"), ValueError,
     "mode avg is unknown!"),
    (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), threshold_mode="pct"), ValueError,
     "threshold mode pct is unknown!"),
    (lambda: lr_scheduler.ReduceLROnPlateau(_opt(), min_lr=[0.1, 0.2]), ValueError,
     "expected 1 min_lrs, got 2"),
])
def test_more_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()
