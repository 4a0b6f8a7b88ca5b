"""Losses: PyTorch fixtures for every reduction, gradcheck, double backward, module vs
functional, stability with huge logits, and the error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.autograd import gradcheck

FIXTURES = Path(__file__).parent / "fixtures" / "losses"
FILES = sorted(p.name for p in FIXTURES.glob("*.npz"))
REDUCTIONS = ["mean", "sum", "none"]


def load(name: str) -> tuple[dict, dict]:
    with np.load(FIXTURES / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("config"))), arrays


def close(actual, expected, rtol=1e-10, atol=1e-12):
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else actual
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def loss_fn(config: dict):
    fn = getattr(F, config["loss"])
    if "ignore_index" in config:
        return lambda x, t, **kw: fn(x, t, ignore_index=config["ignore_index"], **kw)
    return fn


def test_every_fixture_is_covered():
    assert len(FILES) == 8


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", FILES)
def test_loss_matches_pytorch(name, reduction, device):
    config, z = load(name)
    x = mg.tensor(z["input"], device=device, requires_grad=True)
    out = loss_fn(config)(x, mg.tensor(z["target"], device=device), reduction=reduction)
    assert out.device == device
    close(out, z[f"output.{reduction}"])
    assert out.shape == z[f"output.{reduction}"].shape
    grad = mg.tensor(z["grad_output.none"], device=device) if reduction == "none" else None
    out.backward(grad)
    close(x.grad, z[f"grad.input.{reduction}"])


MODULES = {
    "cross_entropy": nn.CrossEntropyLoss, "nll_loss": nn.NLLLoss, "mse_loss": nn.MSELoss,
    "binary_cross_entropy": nn.BCELoss,
    "binary_cross_entropy_with_logits": nn.BCEWithLogitsLoss,
}


@pytest.mark.parametrize("name", FILES)
def test_loss_module_matches_pytorch(name):
    config, z = load(name)
    kwargs = {"ignore_index": config["ignore_index"]} if "ignore_index" in config else {}
    for reduction in REDUCTIONS:
        module = MODULES[config["loss"]](reduction=reduction, **kwargs)
        out = module(mg.tensor(z["input"]), mg.tensor(z["target"]))
        close(out, z[f"output.{reduction}"])


# --- gradcheck (float64) -------------------------------------------------------------

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((5, 4)) * 2
LOGITS_ND = RNG.standard_normal((2, 4, 3)) * 2
TARGET = np.array([0, 3, -100, 1, 2])
TARGET_ND = np.array([[1, -100, 3], [0, 2, 2]])
PROBS = RNG.uniform(0.05, 0.95, (3, 4))
SOFT = RNG.uniform(0, 1, (3, 4))

GRADCHECK_CASES = {
    "cross_entropy": (F.cross_entropy, LOGITS, TARGET),
    "cross_entropy_nd": (F.cross_entropy, LOGITS_ND, TARGET_ND),
    "nll_loss": (F.nll_loss, LOGITS, TARGET),
    "nll_loss_nd": (F.nll_loss, LOGITS_ND, TARGET_ND),
    "mse_loss": (F.mse_loss, PROBS, SOFT),
    "binary_cross_entropy": (F.binary_cross_entropy, PROBS, SOFT),
    "binary_cross_entropy_with_logits": (F.binary_cross_entropy_with_logits, LOGITS[:3] * 3,
                                         SOFT),
}


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", sorted(GRADCHECK_CASES))
def test_gradcheck_losses(case, reduction):
    fn, x, target = GRADCHECK_CASES[case]
    x = mg.tensor(x, requires_grad=True)
    float_target = target.dtype.kind == "f"
    t = mg.tensor(target, requires_grad=float_target)  # float targets get grads too
    inputs = (x, t) if float_target else (x,)
    assert gradcheck(lambda x, t=t: fn(x, t, reduction=reduction), inputs)


def test_gradcheck_class_weights():
    weight = mg.tensor([0.5, 2.0, 1.0, 3.0])
    x = mg.tensor(LOGITS, requires_grad=True)
    for fn in (F.cross_entropy, F.nll_loss):
        assert gradcheck(lambda x, fn=fn: fn(x, mg.tensor(TARGET), weight=weight), (x,))


# --- double backward (create_graph) --------------------------------------------------


def hessian_vector_check(loss):
    """gradcheck of x -> d loss/dx (built with create_graph) against finite differences."""
    x = mg.tensor(LOGITS[:3] * 1.5, requires_grad=True)

    def grad_of(x):
        x.grad = None
        loss(x).backward(create_graph=True)
        grad, x.grad = x.grad, None
        return grad

    assert gradcheck(grad_of, (x,))


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "bce_with_logits", "bce"])
def test_double_backward(name):
    target = mg.tensor([1, -100, 3])
    soft = mg.tensor(SOFT[:, :4])
    losses = {
        "cross_entropy": lambda x: F.cross_entropy(x, target),
        "nll_loss": lambda x: F.nll_loss(x ** 3, target, reduction="sum"),
        "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, soft),
        "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), soft, reduction="sum"),
    }
    hessian_vector_check(losses[name])


# --- behaviour -----------------------------------------------------------------------


def test_cross_entropy_sequence_layouts_agree():
    """(B, T, C) logits: classes-on-dim-1 via transpose == flattened (B*T, C)."""
    logits = mg.tensor(RNG.standard_normal((2, 5, 4)))
    target = mg.tensor(RNG.integers(0, 4, (2, 5)))
    a = F.cross_entropy(logits.transpose(1, 2), target)
    b = F.cross_entropy(logits.reshape(10, 4), target.reshape(10))
    close(a, b.numpy())
    none = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    assert none.shape == (2, 5)


def test_cross_entropy_is_log_softmax_then_nll_and_unbatched():
    x = mg.tensor(LOGITS)
    t = mg.tensor(TARGET)
    close(F.cross_entropy(x, t), F.nll_loss(F.log_softmax(x, 1), t).numpy())
    single = F.cross_entropy(x[0], mg.tensor(2), reduction="none")
    assert single.shape == ()
    close(single, -F.log_softmax(x[0], 0).numpy()[2])


def test_class_weights_and_mean_denominator():
    x = mg.tensor(LOGITS)
    weight = np.array([0.5, 2.0, 1.0, 3.0])
    out = F.cross_entropy(x, mg.tensor(TARGET), weight=mg.tensor(weight))
    logp = F.log_softmax(x, 1).numpy()
    valid = TARGET != -100
    picked = -logp[np.arange(5)[valid], TARGET[valid]] * weight[TARGET[valid]]
    close(out, picked.sum() / weight[TARGET[valid]].sum())  # PyTorch's weighted mean
    module = nn.CrossEntropyLoss(weight=mg.tensor(weight))
    close(module(x, mg.tensor(TARGET)), out.numpy())
    assert list(module.state_dict()) == ["weight"]  # a buffer, as in PyTorch


def test_huge_logits_stay_finite_in_float32(device):
    x = mg.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=mg.float32, device=device,
                  requires_grad=True)
    loss = F.cross_entropy(x, mg.tensor([1, 1], device=device), reduction="sum")
    close(loss, 2e4, rtol=1e-6)  # the first row is 2e4 from its target; the second 0
    loss.backward()
    assert np.isfinite(x.grad.numpy()).all()
    close(x.grad, [[1, -1, 0], [0, 0, 0]], atol=1e-6)
    z = mg.tensor([1e4, -1e4, 30.0, -30.0], dtype=mg.float32, device=device,
                  requires_grad=True)
    bce = F.binary_cross_entropy_with_logits(
        z, mg.tensor([0.0, 1.0, 1.0, 0.0], device=device), reduction="none")
    close(bce, [1e4, 1e4, 9.357623e-14, 9.357623e-14], rtol=1e-5)
    bce.sum().backward()
    close(z.grad, [1, -1, -9.357623e-14, 9.357623e-14], rtol=1e-5, atol=1e-6)


def test_bce_clamps_log_at_minus_100():
    p = mg.tensor([0.0, 1.0, 0.0], dtype=mg.float64, requires_grad=True)
    out = F.binary_cross_entropy(p, mg.tensor([1.0, 0.0, 0.0], dtype=mg.float64),
                                 reduction="none")
    close(out, [100.0, 100.0, 0.0])
    out.sum().backward()
    assert np.isfinite(p.grad.numpy()).all()


def test_all_targets_ignored_gives_nan_mean_like_pytorch():
    with np.errstate(invalid="ignore"):
        out = F.cross_entropy(mg.tensor(LOGITS[:2]), mg.tensor([-100, -100]))
    assert np.isnan(out.item())
    assert F.cross_entropy(mg.tensor(LOGITS[:2]), mg.tensor([-100, -100]),
                           reduction="sum").item() == 0


# --- errors --------------------------------------------------------------------------


def test_target_dtype_errors():
    x = mg.tensor(LOGITS)
    with pytest.raises(TypeError, match="target must be int64 class indices, got float32"):
        F.cross_entropy(x, mg.tensor([0.0, 1.0, 2.0, 3.0, 0.0]))
    with pytest.raises(TypeError, match="nll_loss: target must be int64.*got int32"):
        nn.NLLLoss()(x, mg.tensor(TARGET, dtype=mg.int32))
    with pytest.raises(TypeError, match="target must be a floating tensor.*got int64"):
        F.binary_cross_entropy_with_logits(mg.tensor(PROBS), mg.tensor(np.ones((3, 4), int)))


def test_class_index_out_of_range(device):
    with pytest.raises(IndexError, match=r"target 4 is out of range: expected class "
                                         r"indices in \[0, 3\] \(or ignore_index=-100\)"):
        F.cross_entropy(mg.tensor(LOGITS, device=device),
                        mg.tensor([0, 4, 1, 1, 1], device=device))
    x = mg.tensor(LOGITS)
    with pytest.raises(IndexError, match=r"target -1 is out of range"):
        nn.CrossEntropyLoss()(x, mg.tensor([0, -1, 1, 1, 1]))
    with pytest.raises(IndexError, match=r"target -100 is out of range.*ignore_index=0"):
        F.nll_loss(x, mg.tensor(TARGET), ignore_index=0)


def test_shape_errors():
    x = mg.tensor(LOGITS)
    with pytest.raises(ValueError, match=r"target shape \(4,\) does not match input shape "
                                         r"\(5, 4\): expected target shape \(5,\)"):
        F.cross_entropy(x, mg.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"input shape \(3, 4\) and target shape \(4, 3\)"):
        F.mse_loss(mg.tensor(PROBS), mg.tensor(PROBS.T))
    with pytest.raises(ValueError, match=r"binary_cross_entropy: input shape \(3, 4\) and "
                                         r"target shape \(3,\)"):
        nn.BCELoss()(mg.tensor(PROBS), mg.tensor(SOFT[0, :3]))
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.cross_entropy(x, mg.tensor(TARGET), weight=mg.ones(3))


def test_reduction_and_range_errors():
    with pytest.raises(ValueError, match="reduction must be one of 'mean', 'sum', 'none', "
                                         "got 'avg'"):
        nn.MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="cross_entropy: reduction must be one of"):
        F.cross_entropy(mg.tensor(LOGITS), mg.tensor(TARGET), reduction="max")
    with pytest.raises(ValueError, match=r"input values must be probabilities in \[0, 1\]"):
        F.binary_cross_entropy(mg.tensor([1.5, 0.5]), mg.tensor([1.0, 0.0]))
