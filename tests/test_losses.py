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


def loss_kwargs(config: dict) -> dict:
    """The extra arguments a fixture's loss was called with (ignore_index, beta, ...)."""
    kwargs = dict(config.get("kwargs", {}))
    if "ignore_index" in config:
        kwargs["ignore_index"] = config["ignore_index"]
    return kwargs


def loss_fn(config: dict):
    fn = getattr(F, config["loss"])
    return lambda x, t, **kw: fn(x, t, **loss_kwargs(config), **kw)


# every (fixture, reduction) pair the fixture holds ('batchmean' only for kl_div)
CASES = [(name, r) for name in FILES for r in load(name)[0]["reductions"]]


def test_every_fixture_is_covered():
    expected = {"cross_entropy", "cross_entropy_nd", "cross_entropy_ignore2", "nll_loss",
                "nll_loss_ignore", "mse_loss", "binary_cross_entropy",
                "binary_cross_entropy_with_logits", "l1_loss", "smooth_l1_loss",
                "smooth_l1_loss_beta0", "huber_loss", "kl_div", "kl_div_log_target"}
    assert expected <= {name[:-len(".npz")] for name in FILES}
    assert ("kl_div.npz", "batchmean") in CASES


@pytest.mark.parametrize("name, reduction", CASES)
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
    "l1_loss": nn.L1Loss, "smooth_l1_loss": nn.SmoothL1Loss, "huber_loss": nn.HuberLoss,
    "kl_div": nn.KLDivLoss,
}


@pytest.mark.parametrize("name", FILES)
def test_loss_module_matches_pytorch(name):
    config, z = load(name)
    kwargs = loss_kwargs(config)
    for reduction in config["reductions"]:
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
    "l1_loss": (F.l1_loss, PROBS, SOFT),
    "smooth_l1_loss": (lambda x, t, **kw: F.smooth_l1_loss(x * 2, t, beta=0.5, **kw),
                       PROBS, SOFT),
    "huber_loss": (lambda x, t, **kw: F.huber_loss(x * 3, t, delta=0.8, **kw), PROBS, SOFT),
    "kl_div": (F.kl_div, np.log(PROBS), SOFT),
    "kl_div_log_target": (lambda x, t, **kw: F.kl_div(x, t, log_target=True, **kw),
                          np.log(PROBS), np.log(SOFT)),
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


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "bce_with_logits", "bce",
                                  "smooth_l1", "huber", "kl_div", "kl_div_log_target"])
def test_double_backward(name):
    target = mg.tensor([1, -100, 3])
    soft = mg.tensor(SOFT[:, :4])
    losses = {
        "cross_entropy": lambda x: F.cross_entropy(x, target),
        "nll_loss": lambda x: F.nll_loss(x ** 3, target, reduction="sum"),
        "bce_with_logits": lambda x: F.binary_cross_entropy_with_logits(x, soft),
        "bce": lambda x: F.binary_cross_entropy(x.sigmoid(), soft, reduction="sum"),
        "smooth_l1": lambda x: F.smooth_l1_loss(x ** 3, soft, beta=2.0),
        "huber": lambda x: F.huber_loss(x ** 3, soft, delta=3.0, reduction="sum"),
        "kl_div": lambda x: F.kl_div(F.log_softmax(x, 1), soft, reduction="batchmean"),
        "kl_div_log_target": lambda x: F.kl_div(soft.log(), x.tanh() - 1, log_target=True),
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


# --- cross_entropy: label smoothing and class-probability targets -------------------

EXTRAS = Path(__file__).parent / "fixtures" / "cross_entropy_extras"
EXTRA_FILES = sorted(p.name for p in EXTRAS.glob("*.npz"))


def load_extra(name: str) -> tuple[dict, dict]:
    with np.load(EXTRAS / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("config"))), arrays


def test_every_extra_fixture_is_covered():
    assert len(EXTRA_FILES) == 10


@pytest.mark.parametrize("module", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", EXTRA_FILES)
def test_cross_entropy_extras_match_pytorch(name, reduction, module, device):
    """Outputs and gradients (of the input, and of probability targets) as PyTorch's,
    through F.cross_entropy and nn.CrossEntropyLoss."""
    config, z = load_extra(name)
    x = mg.tensor(z["input"], device=device, requires_grad=True)
    soft = config["target"] == "probs"
    target = mg.tensor(z["target"], device=device, requires_grad=soft)
    weight = mg.tensor(z["weight"], device=device) if config["weight"] else None
    kwargs = dict(ignore_index=config["ignore_index"], reduction=reduction,
                  label_smoothing=config["label_smoothing"])
    if module:
        out = nn.CrossEntropyLoss(weight, **kwargs)(x, target)
    else:
        out = F.cross_entropy(x, target, weight, **kwargs)
    close(out, z[f"output.{reduction}"])
    assert out.shape == z[f"output.{reduction}"].shape
    grad = None
    if reduction == "none" and out.ndim > 0:
        grad = mg.tensor(z["grad_output.none"], device=device)
    out.backward(grad)
    close(x.grad, z[f"grad.input.{reduction}"])
    if soft:
        close(target.grad, z[f"grad.target.{reduction}"])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("kind", ["smooth", "smooth_weight", "soft", "soft_weight"])
def test_gradcheck_cross_entropy_extras(kind, reduction):
    weight = mg.tensor([0.5, 2.0, 1.0, 3.0]) if kind.endswith("weight") else None
    x = mg.tensor(LOGITS[:3], requires_grad=True)
    if kind.startswith("soft"):
        target = mg.tensor(SOFT / SOFT.sum(1, keepdims=True), requires_grad=True)
        inputs = (x, target)
    else:
        target, inputs = mg.tensor(TARGET[:3]), (x,)
    assert gradcheck(lambda x, t=target: F.cross_entropy(
        x, t, weight, reduction=reduction, label_smoothing=0.2), inputs)


def test_cross_entropy_extras_double_backward():
    hessian_vector_check(lambda x: F.cross_entropy(x, mg.tensor([1, -100, 3]),
                                                   label_smoothing=0.3))
    soft = mg.tensor(SOFT[:, :4] / SOFT[:, :4].sum(1, keepdims=True))
    hessian_vector_check(lambda x: F.cross_entropy(x, soft, label_smoothing=0.1))


def test_cross_entropy_extras_errors():
    x, soft = mg.randn(3, 4), mg.rand(3, 4)
    for bad in (-0.1, 1.5):
        with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
            F.cross_entropy(x, mg.tensor([0, 1, 2]), label_smoothing=bad)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        F.cross_entropy(x, soft, ignore_index=1)
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        F.cross_entropy(x, soft, weight=mg.ones(3))
    with pytest.raises(TypeError, match="int64 class indices"):  # probabilities, other shape
        F.cross_entropy(x, mg.rand(3, 5))


# --- CTC -----------------------------------------------------------------------------

CTC_FIXTURES = Path(__file__).parent / "fixtures" / "ctc"
CTC_FILES = sorted(p.name for p in CTC_FIXTURES.glob("*.npz"))


def load_ctc(name: str) -> tuple[dict, dict]:
    with np.load(CTC_FIXTURES / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("config"))), arrays


def test_every_ctc_fixture_is_covered():
    assert CTC_FILES == sorted(f"{n}.npz" for n in [
        "padded", "concatenated", "blank_last", "empty_target", "unbatched", "infeasible",
        "infeasible_zero_infinity"])


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", CTC_FILES)
def test_ctc_matches_pytorch(name, reduction, device):
    """Values and gradients w.r.t. log_probs (NaN where PyTorch's are: an infeasible
    target without zero_infinity), lengths given as tensors."""
    config, z = load_ctc(name)
    log_probs = mg.tensor(z["log_probs"], device=device, requires_grad=True)
    out = F.ctc_loss(log_probs, mg.tensor(z["targets"], device=device),
                     mg.tensor(z["input_lengths"], device=device),
                     mg.tensor(z["target_lengths"], device=device), blank=config["blank"],
                     reduction=reduction, zero_infinity=config["zero_infinity"])
    assert out.shape == z[f"output.{reduction}"].shape
    close(out, z[f"output.{reduction}"])
    grad = mg.tensor(z["grad_output.none"], device=device) if reduction == "none" else None
    out.backward(grad)
    np.testing.assert_allclose(log_probs.grad.numpy(), z[f"grad.log_probs.{reduction}"],
                               rtol=1e-10, atol=1e-12)  # (NaNs compare equal)


@pytest.mark.parametrize("name", CTC_FILES)
def test_ctc_module_and_length_sequences(name):
    config, z = load_ctc(name)
    module = nn.CTCLoss(blank=config["blank"], reduction="none",
                        zero_infinity=config["zero_infinity"])
    lengths = [z["input_lengths"].tolist(), z["target_lengths"].tolist()]
    if z["input_lengths"].ndim == 0:  # unbatched: one-element sequences
        lengths = [[n] for n in lengths]
    out = module(mg.tensor(z["log_probs"]), mg.tensor(z["targets"]), *lengths)
    close(out, z["output.none"])


def _ctc_batch(rng, T=6, N=3, C=5, dtype=np.float64):
    logits = rng.standard_normal((T, N, C)).astype(dtype)
    targets = np.array([[1, 1, 3], [2, 0, 0], [4, 2, 0]])  # padded with blanks
    return logits, targets, [6, 5, 4], [3, 1, 2]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_ctc_through_log_softmax(reduction):
    """PyTorch's CTC gradient treats log_probs as log_softmax outputs; through
    log_softmax it is the exact gradient with respect to the logits."""
    logits, targets, in_lens, tg_lens = _ctc_batch(np.random.default_rng(3))
    x = mg.tensor(logits, requires_grad=True)
    assert gradcheck(lambda x: F.ctc_loss(F.log_softmax(x, 2), mg.tensor(targets), in_lens,
                                          tg_lens, reduction=reduction), (x,))


def test_ctc_brute_force_and_mean_convention():
    """-log of the summed probability of every alignment that collapses to the target,
    enumerated; 'mean' divides each loss by its target length before averaging."""
    import itertools

    rng = np.random.default_rng(5)
    T, C = 4, 3
    logp = F.log_softmax(mg.tensor(rng.standard_normal((T, 1, C))), 2)
    target = [1, 1]  # a repeat: only paths with a blank between the two 1s count
    probs = np.exp(logp.numpy()[:, 0])
    total = 0.0
    for path in itertools.product(range(C), repeat=T):
        collapsed = [c for i, c in enumerate(path) if c != 0 and (i == 0 or path[i - 1] != c)]
        if collapsed == target:
            total += np.prod(probs[np.arange(T), path])
    out = F.ctc_loss(logp, mg.tensor([target]), [T], [2], reduction="none")
    close(out, [-np.log(total)])
    logits, targets, in_lens, tg_lens = _ctc_batch(rng)
    lp = F.log_softmax(mg.tensor(logits), 2)
    none = F.ctc_loss(lp, mg.tensor(targets), in_lens, tg_lens, reduction="none").numpy()
    close(F.ctc_loss(lp, mg.tensor(targets), in_lens, tg_lens), (none / tg_lens).mean())


def test_ctc_float32_and_zero_infinity():
    logits, targets, in_lens, _ = _ctc_batch(np.random.default_rng(0), dtype=np.float32)
    lp = F.log_softmax(mg.tensor(logits, requires_grad=True), 2)
    tg_lens = [3, 1, 5]  # sample 2 asks for 5 labels in 4 frames: impossible
    with pytest.raises(RuntimeError, match="size at least 5 at dimension 1"):
        F.ctc_loss(lp, mg.tensor(targets), in_lens, tg_lens)
    targets = np.pad(targets, ((0, 0), (0, 2)), constant_values=1)
    out = F.ctc_loss(lp, mg.tensor(targets), in_lens, tg_lens, reduction="none")
    assert out.dtype == mg.float32 and np.isinf(out.numpy()[2])
    safe = F.ctc_loss(lp, mg.tensor(targets), in_lens, tg_lens, reduction="sum",
                      zero_infinity=True)
    close(safe, out.numpy()[:2].sum(), rtol=1e-6)
    safe.backward()


def test_ctc_double_backward_is_a_clear_error():
    logits, targets, in_lens, tg_lens = _ctc_batch(np.random.default_rng(1))
    x = mg.tensor(logits, requires_grad=True)
    loss = F.ctc_loss(x.log_softmax(2), mg.tensor(targets), in_lens, tg_lens)
    with pytest.raises(RuntimeError, match="double backward is not supported"):
        loss.backward(create_graph=True)


@pytest.mark.parametrize("change, exc, match", [
    (dict(input_lengths=[6, 5]), RuntimeError, "input_lengths must be of size batch_size"),
    (dict(target_lengths=[3, 1, 2, 1]), RuntimeError,
     "target_lengths must be of size batch_size"),
    (dict(input_lengths=[7, 5, 4]), RuntimeError,
     "Expected input_lengths to have value at most 6, but got value 7"),
    (dict(target_lengths=[3, -1, 2]), RuntimeError,
     "Expected target_lengths to have value at least 0, but got value -1"),
    (dict(targets=np.array([1, 1, 3, 2])), RuntimeError,
     "Expected tensor to have size 6 at dimension 0, but got size 4"),
    (dict(targets=np.array([[1, 1, 7], [2, 0, 0], [4, 2, 0]])), IndexError,
     r"target 7 is out of range: expected class ids in \[0, 4\]"),
    (dict(targets=np.ones((3, 3))), TypeError, "targets must be an integer tensor"),
    (dict(input_lengths=[6.0, 5.0, 4.0]), TypeError, "input_lengths must be an int"),
    (dict(blank=5), RuntimeError, "blank must be in label range"),
    (dict(reduction="batchmean"), ValueError, "reduction must be one of"),
    (dict(log_probs=np.zeros((6, 3))), RuntimeError, "input_lengths must be of size"),
    (dict(log_probs=np.zeros((6,))), ValueError, r"must be \(T, N, C\) or unbatched"),
])
def test_ctc_errors(change, exc, match):
    logits, targets, in_lens, tg_lens = _ctc_batch(np.random.default_rng(2))
    args = dict(log_probs=logits, targets=targets, input_lengths=in_lens,
                target_lengths=tg_lens, blank=0, reduction="mean")
    args.update(change)
    args["log_probs"] = mg.tensor(args["log_probs"], requires_grad=True)
    args["targets"] = mg.tensor(args["targets"])
    with pytest.raises(exc, match=match):
        F.ctc_loss(**args)


def test_new_loss_argument_errors():
    x = mg.tensor(PROBS)
    with pytest.raises(RuntimeError, match="does not support negative values for beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(RuntimeError, match="does not support non-positive values for delta"):
        nn.HuberLoss(delta=0.0)(x, x)
    with pytest.raises(ValueError, match="'batchmean'"):
        F.kl_div(x, x, reduction="avg")
    with pytest.raises(ValueError, match="KLDivLoss: reduction must be one of 'mean', "
                                         "'batchmean'"):
        nn.KLDivLoss(reduction="avg")
    with pytest.raises(ValueError, match=r"l1_loss: input shape \(3, 4\) and target shape"):
        nn.L1Loss()(x, x[0])
    assert nn.L1Loss(reduce=False).reduction == "none"  # the deprecated flags still map
    assert nn.SmoothL1Loss(size_average=False).reduction == "sum"
    assert repr(nn.KLDivLoss(reduction="batchmean")) == "KLDivLoss(reduction='batchmean')"
    close(F.smooth_l1_loss(x, mg.tensor(SOFT), beta=0.0), F.l1_loss(x, mg.tensor(SOFT)).numpy())


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (64, 2048)])  # the last: row blocks
def test_cross_entropy_backward_twice_with_retain_graph(shape):
    """The first backward turns the saved probabilities into the gradient in place; a
    second one (retain_graph) recomputes them and gives the same gradient."""
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal(shape).astype(np.float32), requires_grad=True)
    target = mg.tensor(rng.integers(0, shape[1], (shape[0],) + shape[2:]))
    loss = F.cross_entropy(x, target)
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    x.grad = None
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), first)


# --- log_softmax, then nll_loss: the sparse gradient between them ----------------------
# ``nll_loss`` of a ``log_softmax`` output sends back a ``OneHotGrad`` (values at the
# targets only) that ``LogSoftmax.backward`` uses in one pass; wherever anything else
# sees that gradient the engine makes it dense.  Each program below must give exactly
# what the same program gives with the pair kept apart (``+ 0.0`` between them).

def _nll_programs():
    def plain(x, y, logp_of):
        return [F.nll_loss(logp_of(x), y)]

    def weighted_ignore(x, y, logp_of):
        w = mg.tensor(np.linspace(0.5, 2.0, x.shape[1]))
        return [F.nll_loss(logp_of(x), y, weight=w, ignore_index=int(y.numpy()[0]))]

    def sum_and_none(x, y, logp_of):
        per = F.nll_loss(logp_of(x), y, reduction="none")
        return [F.nll_loss(logp_of(x), y, reduction="sum") + (per * per).sum()]

    def second_consumer(x, y, logp_of):
        logp = logp_of(x)
        return [F.nll_loss(logp, y) + (logp.exp() * logp).sum() * 0.1]

    def retained(x, y, logp_of):
        logp = logp_of(x)
        logp.retain_grad()
        return [F.nll_loss(logp, y)], logp

    def hooked(x, y, logp_of):
        logp = logp_of(x)
        logp.register_hook(lambda g: g * 3)
        return [F.nll_loss(logp, y)]

    return {"plain": plain, "weighted_ignore": weighted_ignore,
            "sum_and_none": sum_and_none, "second_consumer": second_consumer,
            "retained": retained, "hooked": hooked}


NLL_PROGRAMS = _nll_programs()


def _fused(x):
    return F.log_softmax(x, dim=1)


def _apart(x):
    return F.log_softmax(x, dim=1) + 0.0


@pytest.mark.parametrize("shape", [(5, 7), (40, 5000)])  # one row block; several
@pytest.mark.parametrize("program", sorted(NLL_PROGRAMS))
def test_log_softmax_nll_pair_matches_the_dense_path(program, shape):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal(shape) * 3
    y = mg.tensor(rng.integers(0, shape[1], shape[0]))
    results = []
    for logp_of in (_fused, _apart):
        x = mg.tensor(logits, requires_grad=True)
        out = NLL_PROGRAMS[program](x, y, logp_of)
        losses, retained = (out, None) if isinstance(out, list) else out
        losses[0].backward()
        results.append((losses[0].item(), x.grad.numpy(),
                        None if retained is None else retained.grad.numpy()))
    (loss, grad, kept), (loss_ref, grad_ref, kept_ref) = results
    assert loss == pytest.approx(loss_ref, rel=1e-12)
    close(grad, grad_ref, rtol=1e-9, atol=1e-13)
    if kept_ref is not None:
        close(kept, kept_ref, rtol=1e-12, atol=1e-15)


def test_log_softmax_nll_pair_takes_the_sparse_path():
    x = mg.randn(4, 6, requires_grad=True)
    y = mg.tensor([0, 5, 2, 2])
    assert F.nll_loss(F.log_softmax(x, dim=1), y).grad_fn.one_hot_grad
    assert not F.nll_loss(F.log_softmax(x, dim=1) + 0.0, y).grad_fn.one_hot_grad
    assert not F.nll_loss(F.log_softmax(x, dim=0), y).grad_fn.one_hot_grad
    with mg.no_grad():  # nothing to keep for a backward that cannot come
        assert F.log_softmax(x, dim=1).grad_fn is None
    logp = F.log_softmax(x, dim=1)
    F.nll_loss(logp, y).backward()
    again = F.nll_loss(logp, y)  # the log_softmax node is freed: a plain nll node
    assert not again.grad_fn.one_hot_grad
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        again.backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_nll_pair_retain_graph_grad_and_double_backward(dtype):
    rng = np.random.default_rng(4)
    x = mg.tensor(rng.standard_normal((30, 9000)).astype(dtype), requires_grad=True)
    y = mg.tensor(rng.integers(0, 9000, 30))
    loss = F.nll_loss(F.log_softmax(x, dim=1), y)
    loss.backward(retain_graph=True)  # the first backward uses the kept exps up
    first = x.grad.numpy().copy()
    loss.backward()  # the second recomputes them
    tol = 1e-6 if dtype == np.float32 else 1e-13
    close(x.grad.numpy(), 2 * first, rtol=tol, atol=tol * 1e-3)
    logp = F.log_softmax(x, dim=1)
    g_logp, g_x = mg.autograd.grad(F.nll_loss(logp, y), [logp, x])
    expected_logp = np.zeros((30, 9000), dtype)
    expected_logp[np.arange(30), y.numpy()] = -1 / 30
    close(g_logp.numpy(), expected_logp, rtol=tol, atol=0)
    close(g_x.numpy(), first, rtol=tol, atol=tol * 1e-3)
    hessian_vector_check(lambda x: F.nll_loss(F.log_softmax(x, dim=1), mg.tensor([1, 0, 3])))
