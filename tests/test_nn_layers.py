"""Layers and functional ops: PyTorch fixtures, gradcheck, float32 vs NumPy, init,
dropout, embedding, one_hot, numerical stability and double backward."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.autograd import gradcheck

FIXTURES = Path(__file__).parent / "fixtures" / "nn"
RTOL, ATOL = 1e-10, 1e-12


def load(name: str) -> tuple[dict, dict]:
    with np.load(FIXTURES / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("config"))), arrays


def close(actual, expected, rtol=RTOL, atol=ATOL):
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else actual
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def build_module(config: dict) -> nn.Module:
    kind = config["module"]
    if kind == "Linear":
        return nn.Linear(config["in_features"], config["out_features"], bias=config["bias"])
    if kind == "Embedding":
        return nn.Embedding(config["num_embeddings"], config["embedding_dim"],
                            padding_idx=config["padding_idx"])
    return nn.LayerNorm(config["normalized_shape"], eps=config["eps"],
                        elementwise_affine=config["elementwise_affine"])


# --- PyTorch fixtures ----------------------------------------------------------------

MODULE_FILES = ["linear.npz", "linear_nobias.npz", "embedding_padding.npz", "layernorm.npz",
                "layernorm_2d.npz"]
FUNCTION_FILES = ["softmax.npz", "softmax_dim1.npz", "log_softmax.npz",
                  "log_softmax_dim1.npz"]


@pytest.mark.parametrize("name", MODULE_FILES)
def test_module_matches_pytorch(name, device):
    config, z = load(name)
    module = build_module(config).double().to(device)
    params = {k[len("param."):]: v for k, v in z.items() if k.startswith("param.")}
    module.load_state_dict(params)
    is_float = z["x"].dtype.kind == "f"
    x = mg.tensor(z["x"], device=device, requires_grad=is_float)
    out = module(x)
    assert out.device == device
    close(out, z["output"])
    out.backward(mg.tensor(z["grad_output"], device=device))
    if is_float:
        close(x.grad, z["grad.input"])
    for pname, param in module.named_parameters():
        close(param.grad, z[f"grad.param.{pname}"])


@pytest.mark.parametrize("name", FUNCTION_FILES)
def test_function_matches_pytorch(name, device):
    config, z = load(name)
    fn = getattr(F, config["function"])
    x = mg.tensor(z["x"], device=device, requires_grad=True)
    out = fn(x, dim=config["dim"])
    close(out, z["output"])
    out.backward(mg.tensor(z["grad_output"], device=device))
    close(x.grad, z["grad.input"])
    # the module and the Tensor method agree with the function
    module = nn.Softmax(config["dim"]) if config["function"] == "softmax" else nn.LogSoftmax(
        config["dim"])
    close(module(x), z["output"])
    close(getattr(x, config["function"])(config["dim"]), z["output"])


# --- gradcheck (float64) -------------------------------------------------------------


def rand(*shape, requires_grad=True, scale=1.0):
    rng = np.random.default_rng(sum(shape) + len(shape))
    return mg.tensor(scale * rng.standard_normal(shape), requires_grad=requires_grad)


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gradcheck_softmax_family(fn, dim):
    assert gradcheck(lambda x: fn(x, dim=dim), rand(2, 3, 4))


@pytest.mark.parametrize("shape", [(4,), (3, 4)])
def test_gradcheck_layer_norm(shape):
    x = rand(2, 3, 4, scale=2.0)
    w, b = rand(*shape), rand(*shape)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, shape, w, b), (x, w, b))
    assert gradcheck(lambda x: F.layer_norm(x, shape), (x,))


def test_gradcheck_linear():
    x, w, b = rand(2, 3, 5), rand(4, 5), rand(4)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(F.linear, (rand(3, 5), w))


def test_gradcheck_embedding():
    w = rand(6, 3)
    idx = mg.tensor([[0, 2, 5], [2, 2, 1]])
    assert gradcheck(lambda w: F.embedding(idx, w), (w,))
    # (with padding_idx the padding row's gradient is zeroed on purpose: not a true
    # derivative, so finite differences disagree there; tested below instead)


def test_gradcheck_dropout_is_linear_in_its_mask():
    x = rand(4, 5)
    mg.manual_seed(3)
    out = F.dropout(x, 0.4)
    grad = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(mg.tensor(grad))
    mask = out.numpy() / x.numpy()  # the kept elements are scaled by 1/(1-p)
    close(x.grad, grad * mask)
    assert set(np.round(np.unique(mask), 12)) <= {0.0, round(1 / 0.6, 12)}


# --- float32 forward vs NumPy --------------------------------------------------------


def np_log_softmax(x, dim):
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


def test_float32_forward_matches_numpy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5, 6)).astype(np.float32)
    t = mg.tensor(x)
    cases = [
        (F.softmax(t, dim=1), np.exp(np_log_softmax(x.astype(np.float64), 1))),
        (F.log_softmax(t, dim=-1), np_log_softmax(x.astype(np.float64), -1)),
        (F.tanh(t), np.tanh(x)),
        (F.sigmoid(t), 1 / (1 + np.exp(-x.astype(np.float64)))),
        (F.relu(t), np.maximum(x, 0)),
    ]
    w = rng.standard_normal((3, 6)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    cases.append((F.linear(t, mg.tensor(w), mg.tensor(b)), x @ w.T + b))
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    cases.append((F.layer_norm(t, 6), (x - mean) / np.sqrt(var + 1e-5)))
    emb = rng.standard_normal((7, 3)).astype(np.float32)
    idx = np.array([[1, 6], [0, 1]])
    cases.append((F.embedding(mg.tensor(idx), mg.tensor(emb)), emb[idx]))
    for out, expected in cases:
        assert out.dtype == np.float32
        close(out, expected, rtol=1e-5, atol=1e-6)


# --- numerical stability -------------------------------------------------------------


def test_large_logits_stay_finite_in_float32(device):
    x = mg.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], dtype=mg.float32, device=device,
                  requires_grad=True)
    logp = F.log_softmax(x, dim=1)
    assert np.isfinite(logp.numpy()).all()
    close(logp, [[0.0, -2e4, -1e4], [-2e4, -2e4, 0.0]], rtol=1e-6)
    (logp * mg.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 0.5]], device=device)).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    probs = F.softmax(x.detach(), dim=1)
    close(probs, [[1, 0, 0], [0, 0, 1]], atol=0)


# --- double backward (create_graph): the backward formulas are differentiable ---------


def first_derivative(fn, x):
    """A function of x giving d/dx fn(x) with a graph, for gradcheck of the 2nd order."""

    def grad_of(*inputs):
        # start from no .grad and leave none behind: gradcheck reads .grad itself
        for t in inputs:
            t.grad = None
        fn(*inputs).backward(create_graph=True)
        grad = x.grad
        for t in inputs:
            t.grad = None
        return grad

    return grad_of


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_double_backward_softmax_family(fn):
    x = rand(3, 4)
    v = mg.tensor(np.random.default_rng(2).standard_normal((3, 4)))
    assert gradcheck(first_derivative(lambda x: (fn(x, dim=1) ** 2 * v).sum(), x), (x,))


def test_double_backward_layer_norm():
    x, w, b = rand(2, 5), rand(5), rand(5)
    v = mg.tensor(np.random.default_rng(3).standard_normal((2, 5)))

    def loss(x, w, b):
        return (F.layer_norm(x, 5, w, b) ** 2 * v).sum()

    assert gradcheck(first_derivative(loss, x), (x, w, b))


def test_double_backward_embedding_with_padding():
    w = rand(4, 3)
    idx = mg.tensor([0, 1, 1, 3])

    def loss(w):
        return (F.embedding(idx, w, padding_idx=1) ** 2).sum()

    grad = first_derivative(loss, w)(w)
    close(grad, 2 * w.numpy() * np.array([[1], [0], [0], [1]]))  # padding row: 0
    assert gradcheck(first_derivative(loss, w), (w,))


# --- Linear --------------------------------------------------------------------------


def test_linear_init_bounds_and_counts():
    mg.manual_seed(0)
    layer = nn.Linear(128, 1)
    assert layer.weight.shape == (1, 128) and layer.bias.shape == (1,)
    assert layer.num_parameters() == 129
    wide = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w = wide.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(wide.bias.numpy()).max() <= bound
    # uniform on [-b, b]: it reaches close to the bounds and has variance b^2/3
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.var() - bound ** 2 / 3) < 0.02 * bound ** 2
    assert wide.weight.dtype == mg.float32 and wide.weight.requires_grad


def test_linear_without_bias_and_dtype_device_arguments():
    layer = nn.Linear(3, 2, bias=False, dtype=mg.float64)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.dtype == mg.float64
    assert layer(mg.ones(5, 3, dtype=mg.float64)).shape == (5, 2)


def test_linear_shape_errors():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"input of shape \(4, 5\) does not match "
                                         r"in_features=3"):
        layer(mg.ones(4, 5))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        F.linear(mg.ones(4, 3), layer.weight, mg.ones(3))
    with pytest.raises(ValueError, match="in_features must be a non-negative int"):
        nn.Linear(-1, 2)


def test_manual_seed_makes_init_reproducible():
    def make():
        mg.manual_seed(123)
        return nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 3))

    a, b = make(), make()
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)
    c = nn.Linear(4, 3)  # the stream moved on: a different draw
    assert not np.array_equal(c.weight.numpy(), a[1].weight.numpy())


# --- Embedding -----------------------------------------------------------------------


def test_embedding_init_padding_and_counts():
    mg.manual_seed(0)
    emb = nn.Embedding(5000, 100)
    assert emb.num_parameters() == 500_000
    w = emb.weight.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01  # N(0, 1)
    padded = nn.Embedding(6, 4, padding_idx=-1)
    assert padded.padding_idx == 5
    np.testing.assert_array_equal(padded.weight.numpy()[5], 0)
    assert repr(padded) == "Embedding(6, 4, padding_idx=5)"


def test_embedding_any_index_shape_and_padding_grad(device):
    emb = nn.Embedding(6, 3, padding_idx=0).to(device)
    idx = mg.tensor([[[0, 1], [1, 5]]], device=device)  # (1, 2, 2)
    out = emb(idx)
    assert out.shape == (1, 2, 2, 3)
    close(out, emb.weight.numpy()[idx.numpy()])
    out.sum().backward()
    grad = emb.weight.grad.numpy()
    np.testing.assert_array_equal(grad[0], 0)  # padding row: never updated
    np.testing.assert_array_equal(grad[1], 2)  # used twice: both gradients add
    np.testing.assert_array_equal(grad[[2, 3, 4]], 0)
    assert emb(mg.tensor(3, device=device)).shape == (3,)  # a 0-d index gives one row
    with pytest.raises(IndexError, match="index 6 is out of range"):
        emb(mg.tensor([6], device=device))


def test_embedding_errors():
    emb = nn.Embedding(6, 3)
    with pytest.raises(IndexError, match=r"index 6 is out of range for an embedding of 6 "
                                         r"rows \(expected indices in \[0, 5\]\)"):
        emb(mg.tensor([1, 6]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        emb(mg.tensor([-1]))
    with pytest.raises(TypeError, match="indices must be an integer tensor.*got float32"):
        emb(mg.tensor([1.0]))
    with pytest.raises(ValueError, match=r"padding_idx 6 is out of range for 6 embeddings"):
        nn.Embedding(6, 3, padding_idx=6)


@pytest.mark.parametrize("name", ["embedding_max_norm.npz",
                                  "embedding_max_norm_l1_padding.npz"])
def test_embedding_max_norm_matches_pytorch(name, device):
    """from_pretrained(..., freeze=False, max_norm=...): looked-up rows renormalised in
    place before the lookup, the other rows untouched; gradients as without max_norm."""
    config, z = load(name)
    kwargs = {k: config[k] for k in ("max_norm", "norm_type", "padding_idx") if k in config}
    emb = nn.Embedding.from_pretrained(mg.tensor(z["weight"], device=device), freeze=False,
                                       **kwargs)
    out = emb(mg.tensor(z["x"], device=device))
    close(out, z["output"])
    close(emb.weight, z["weight_after"])
    out.backward(mg.tensor(z["grad_output"], device=device))
    close(emb.weight.grad, z["grad.param.weight"])


def test_embedding_from_pretrained():
    vectors = mg.tensor(np.arange(12.0).reshape(4, 3))
    frozen = nn.Embedding.from_pretrained(vectors)
    assert frozen.weight.requires_grad is False and frozen.weight.data is vectors.data
    assert (frozen.num_embeddings, frozen.embedding_dim) == (4, 3)
    close(frozen(mg.tensor([3, 0])), [[9.0, 10.0, 11.0], [0.0, 1.0, 2.0]])
    padded = nn.Embedding.from_pretrained(vectors, freeze=False, padding_idx=1)
    close(padded.weight[1], [3.0, 4.0, 5.0])  # the padding row is kept as given ...
    padded(mg.tensor([1, 2])).sum().backward()
    close(padded.weight.grad, [[0, 0, 0], [0, 0, 0], [1, 1, 1], [0, 0, 0]])  # ... not trained
    assert repr(nn.Embedding(5, 2, max_norm=1.0)) == "Embedding(5, 2, max_norm=1.0)"
    with pytest.raises(ValueError, match="Embeddings parameter is expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(mg.ones(3))
    with pytest.raises(NotImplementedError, match="scale_grad_by_freq"):
        nn.Embedding(3, 2, scale_grad_by_freq=True)


# --- Dropout -------------------------------------------------------------------------


def test_dropout_train_eval_and_scaling(device):
    mg.manual_seed(0)
    drop = nn.Dropout(0.25)
    x = mg.ones(200, 100, device=device)
    out = drop(x).numpy()
    kept = out != 0
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    assert abs(kept.mean() - 0.75) < 0.01
    drop.eval()
    assert drop(x) is x  # eval: the identity
    assert F.dropout(x, 0.5, training=False) is x
    assert (F.dropout(x).numpy() == 0).any()  # training defaults to True


def test_dropout_edge_probabilities_and_errors():
    x = mg.randn(3, 4)
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    assert F.dropout(x, 0.0) is x
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got"):
            nn.Dropout(p)
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
            F.dropout(x, p)


def test_dropout_is_reproducible_with_manual_seed(device):
    x = mg.ones(10, 10, device=device)
    mg.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    mg.manual_seed(7)
    b = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)


# --- LayerNorm, activations, shape layers --------------------------------------------


def test_layer_norm_module_defaults_and_errors():
    ln = nn.LayerNorm(4)
    assert ln.normalized_shape == (4,)
    np.testing.assert_array_equal(ln.weight.numpy(), 1)
    np.testing.assert_array_equal(ln.bias.numpy(), 0)
    out = ln(mg.randn(3, 4)).numpy()
    np.testing.assert_allclose(out.mean(-1), 0, atol=1e-6)
    np.testing.assert_allclose(out.var(-1), 1, rtol=1e-3)
    plain = nn.LayerNorm((2, 3), elementwise_affine=False)
    assert plain.num_parameters() == 0 and plain(mg.randn(5, 2, 3)).shape == (5, 2, 3)
    with pytest.raises(ValueError, match=r"last dims are normalized_shape=\(4,\), got "
                                         r"shape \(3, 5\)"):
        ln(mg.randn(3, 5))


def test_activation_modules_and_shape_layers():
    x = mg.tensor([[-1.0, 0.0, 2.0]])
    close(nn.Tanh()(x), np.tanh(x.numpy()), rtol=1e-6)
    close(nn.Sigmoid()(x), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)
    close(nn.ReLU()(x), [[0.0, 0.0, 2.0]])
    assert nn.Identity(3, foo=1)(x) is x
    assert nn.Flatten()(mg.zeros(2, 3, 4)).shape == (2, 12)
    assert nn.Flatten(0, 1)(mg.zeros(2, 3, 4)).shape == (6, 4)
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


# --- one_hot -------------------------------------------------------------------------


def test_one_hot():
    out = F.one_hot(mg.tensor([[0, 2], [1, 0]]), num_classes=4)
    assert out.dtype == mg.int64 and out.shape == (2, 2, 4)
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[[[0, 2], [1, 0]]])
    assert F.one_hot(mg.tensor([3, 1])).shape == (2, 4)  # num_classes = max + 1
    with pytest.raises(IndexError, match=r"class index 4 is out of range for num_classes=4"):
        F.one_hot(mg.tensor([4]), 4)
    with pytest.raises(TypeError, match="expected an int64 tensor.*got float32"):
        F.one_hot(mg.tensor([1.0]))
