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
