"""nn.MultiheadAttention and F.scaled_dot_product_attention: PyTorch fixtures (weights
copied in; outputs, attention weights, gradients of inputs and parameters), float64
gradcheck, masking conventions and PyTorch's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn
from minigrad.autograd import gradcheck

FIXTURES = Path(__file__).parent / "fixtures" / "attention"
MHA_FILES = sorted(p.name for p in FIXTURES.glob("*.npz") if not p.name.startswith("sdpa"))
SDPA_FILES = sorted(p.name for p in FIXTURES.glob("sdpa*.npz"))


def load(name: str) -> tuple[dict, dict]:
    with np.load(FIXTURES / name, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return json.loads(str(arrays.pop("config"))), arrays


def close(actual, expected, rtol=1e-10, atol=1e-12):
    actual = actual.numpy() if isinstance(actual, mg.Tensor) else actual
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def test_every_fixture_is_covered():
    assert len(MHA_FILES) == 6 and len(SDPA_FILES) == 3


@pytest.mark.parametrize("name", MHA_FILES)
def test_multihead_attention_matches_pytorch(name, device):
    config, z = load(name)
    module = nn.MultiheadAttention(**config["module"], dtype=mg.float64).to(device)
    params = {k[len("param."):]: v for k, v in z.items() if k.startswith("param.")}
    assert list(module.state_dict()) == list(params)  # PyTorch's names, in its order
    module.load_state_dict(params)
    inputs = {k: mg.tensor(z[k], device=device, requires_grad=True)
              for k in ("query", "key", "value")}
    masks = {k: mg.tensor(z[k], device=device) for k in ("attn_mask", "key_padding_mask")
             if k in z}
    out, weights = module(inputs["query"], inputs["key"], inputs["value"], **masks,
                          **config["call"])
    assert out.device == device
    close(out, z["output"])
    if config["has_weights"]:
        close(weights, z["weights"])
    else:
        assert weights is None
    out.backward(mg.tensor(z["grad_output"], device=device))
    for k, t in inputs.items():
        close(t.grad, z[f"grad.{k}"])
    for pname, p in module.named_parameters():
        close(p.grad, z[f"grad.param.{pname}"])


@pytest.mark.parametrize("name", SDPA_FILES)
def test_scaled_dot_product_attention_matches_pytorch(name, device):
    config, z = load(name)
    q, k, v = (mg.tensor(z[n], device=device, requires_grad=True)
               for n in ("query", "key", "value"))
    mask = mg.tensor(z["attn_mask"], device=device) if "attn_mask" in z else None
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, **config["kwargs"])
    close(out, z["output"])  # (the fully masked row of sdpa_bool_mask gives zeros)
    out.backward(mg.tensor(z["grad_output"], device=device))
    for n, t in (("query", q), ("key", k), ("value", v)):
        close(t.grad, z[f"grad.{n}"])


# --- gradcheck (float64) ---------------------------------------------------------------

RNG = np.random.default_rng(7)


def rand(*shape):
    return mg.tensor(RNG.standard_normal(shape), requires_grad=True)


SDPA_MASKS = {
    "none": lambda: {},
    "causal": lambda: {"is_causal": True},
    "bool": lambda: {"attn_mask": mg.tensor((RNG.random((3, 5)) > 0.3) | (np.eye(3, 5) > 0))},
}


@pytest.mark.parametrize("kind", sorted(SDPA_MASKS))
def test_gradcheck_sdpa(kind):
    kwargs = SDPA_MASKS[kind]()
    keys = 3 if kind == "causal" else 5
    q, k, v = rand(2, 3, 4), rand(2, keys, 4), rand(2, keys, 3)
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs),
                     (q, k, v))


def test_grouped_query_attention_repeats_key_value_heads():
    q, k, v = rand(2, 4, 3, 5), rand(2, 2, 6, 5), rand(2, 2, 6, 7)
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    ref = F.scaled_dot_product_attention(q, k.repeat_interleave(2, dim=1),
                                         v.repeat_interleave(2, dim=1))
    close(out, ref.numpy())
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                     (rand(1, 4, 2, 3), rand(1, 2, 3, 3), rand(1, 2, 3, 2)))
    with pytest.raises(RuntimeError, match="must divide the number of heads in query"):
        F.scaled_dot_product_attention(q, rand(2, 3, 6, 5), rand(2, 3, 6, 7), enable_gqa=True)


def test_gradcheck_sdpa_float_mask_and_scale():
    """A float mask is added to the scores, so it gets a gradient too."""
    q, k, v, mask = rand(2, 3, 4), rand(2, 5, 4), rand(2, 5, 3), rand(3, 5)
    assert gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m, scale=0.7),
                     (q, k, v, mask))


@pytest.mark.parametrize("kwargs", [dict(), dict(kdim=3, vdim=5, bias=False),
                                    dict(add_bias_kv=True, add_zero_attn=True)])
def test_gradcheck_multihead_attention(kwargs):
    mg.manual_seed(0)
    module = nn.MultiheadAttention(4, 2, dtype=mg.float64, **kwargs)
    kdim, vdim = kwargs.get("kdim", 4), kwargs.get("vdim", 4)
    q, k, v = rand(3, 2, 4), rand(5, 2, kdim), rand(5, 2, vdim)
    padding = mg.tensor([[False] * 4 + [True], [False] * 5])
    params = tuple(module.parameters())

    def fn(q, k, v, *_):
        return module(q, k, v, key_padding_mask=padding)[0]

    assert gradcheck(fn, (q, k, v) + params)


# --- behaviour -------------------------------------------------------------------------


def test_layout_init_and_shapes():
    mg.manual_seed(1)
    mha = nn.MultiheadAttention(8, 2)
    assert [n for n, _ in mha.named_parameters()] == [
        "in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert mha.in_proj_weight.shape == (24, 8) and mha.head_dim == 4
    assert np.all(mha.in_proj_bias.numpy() == 0) and np.all(mha.out_proj.bias.numpy() == 0)
    bound = np.sqrt(6 / (24 + 8))  # xavier-uniform over the packed (3E, E) matrix
    assert np.abs(mha.in_proj_weight.numpy()).max() <= bound
    separate = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    assert [n for n, _ in separate.named_parameters()] == [
        "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k",
        "bias_v", "out_proj.weight", "out_proj.bias"]
    assert separate.in_proj_weight is None and separate.k_proj_weight.shape == (8, 3)
    x = mg.randn(4, 2, 8)
    out, w = mha(x, x, x, average_attn_weights=False)
    assert out.shape == (4, 2, 8) and w.shape == (2, 2, 4, 4)
    np.testing.assert_allclose(w.numpy().sum(-1), 1, rtol=1e-6)
    out1, w1 = mha(x[:, 0], x[:, 0], x[:, 0])  # unbatched = a batch of one
    close(out1, out.numpy()[:, 0], rtol=1e-5, atol=1e-6)
    assert w1.shape == (4, 4)
    bf = nn.MultiheadAttention(8, 2, batch_first=True)
    bf.load_state_dict(mha.state_dict())
    out_bf, _ = bf(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1))
    close(out_bf, out.numpy().transpose(1, 0, 2), rtol=1e-5, atol=1e-6)


def test_bool_and_float_masks_agree_and_block():
    mg.manual_seed(2)
    mha = nn.MultiheadAttention(6, 3, dtype=mg.float64)
    q, kv = mg.randn(2, 1, 6, dtype=mg.float64), mg.randn(4, 1, 6, dtype=mg.float64)
    blocked = np.array([[False, True, False, True], [True, False, False, False]])
    as_float = np.where(blocked, -np.inf, 0.0)
    out_b, w_b = mha(q, kv, kv, attn_mask=mg.tensor(blocked))
    out_f, w_f = mha(q, kv, kv, attn_mask=mg.tensor(as_float))
    close(out_b, out_f.numpy())
    assert np.all(w_b.numpy()[0][blocked] == 0)  # True = not allowed (MHA's convention)
    _, w_k = mha(q, kv, kv, key_padding_mask=mg.tensor([[False, False, True, True]]))
    assert np.all(w_k.numpy()[0, :, 2:] == 0)
    # SDPA's bool convention is the opposite: True = may attend
    q, kv = q[:, 0], kv[:, 0]  # (L, E), (S, E)
    out_s = F.scaled_dot_product_attention(q, kv, kv, attn_mask=mg.tensor(~blocked))
    ref = F.scaled_dot_product_attention(q, kv, kv, attn_mask=mg.tensor(as_float))
    close(out_s, ref.numpy())


def test_dropout_only_in_training():
    mg.manual_seed(3)
    mha = nn.MultiheadAttention(4, 1, dropout=0.5)
    x = mg.randn(5, 2, 4)
    mha.eval()
    a, _ = mha(x, x, x)
    b, _ = mha(x, x, x)
    close(a, b.numpy())
    mha.train()
    _, w = mha(x, x, x)
    assert np.any(w.numpy() == 0)  # dropped attention weights
    assert not np.allclose(mha(x, x, x)[0].numpy(), a.numpy())


@pytest.mark.parametrize("make, exc, match", [
    (lambda: nn.MultiheadAttention(10, 3), AssertionError,
     "embed_dim must be divisible by num_heads"),
    (lambda: nn.MultiheadAttention(0, 2), ValueError,
     "embed_dim and num_heads must be greater than 0"),
])
def test_constructor_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


X = mg.randn(3, 2, 4)
MHA = nn.MultiheadAttention(4, 2)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: MHA(X, X[0], X[0]), AssertionError, "expected `key` and `value` to be 3-D"),
    (lambda: MHA(X[0, 0], X[0, 0], X[0, 0]), AssertionError,
     "query should be unbatched 2D or batched 3D tensor but received 1-D"),
    (lambda: MHA(X, X, X, attn_mask=mg.zeros(3, 4)), RuntimeError,
     r"The shape of the 2D attn_mask is \(3, 4\), but should be \(3, 3\)\."),
    (lambda: MHA(X, X, X, attn_mask=mg.zeros(2, 3, 3)), RuntimeError,
     r"The shape of the 3D attn_mask is \(2, 3, 3\), but should be \(4, 3, 3\)\."),
    (lambda: MHA(X, X, X, key_padding_mask=mg.zeros(2, 4)), AssertionError,
     r"expecting key_padding_mask shape of \(2, 3\), but got \(2, 4\)"),
    (lambda: MHA(X, X, X, key_padding_mask=mg.zeros(2)), AssertionError,
     "expected `key_padding_mask` to be `None` or 2-D"),
    (lambda: MHA(X, X, X, attn_mask=mg.zeros(3, 3, dtype=mg.int64)), RuntimeError,
     "mask dtype to be bool or float"),
    (lambda: MHA(mg.randn(3, 2, 5), X, X), AssertionError,
     "was expecting embedding dimension of 4, but got 5"),
    (lambda: MHA(X, X, X[:2]), AssertionError, "key shape .* does not match value shape"),
    (lambda: MHA(X, X, X, is_causal=True), RuntimeError,
     "Need attn_mask if specifying the is_causal hint"),
    (lambda: F.scaled_dot_product_attention(X, X, X, attn_mask=mg.ones(2, 2),
                                            is_causal=True),
     RuntimeError, "Explicit attn_mask should not be set when is_causal=True"),
    (lambda: F.scaled_dot_product_attention(X, X[..., :3], X), RuntimeError,
     "query and key must have the same embedding size, got 4 and 3"),
    (lambda: F.scaled_dot_product_attention(X, X, X[:, :1]), RuntimeError,
     "key and value must have the same sequence length, got 2 and 1"),
    (lambda: F.scaled_dot_product_attention(X[0, 0], X, X), RuntimeError,
     "Expected query, key, and value to all be at least 2 dimensional"),
    (lambda: F.scaled_dot_product_attention(X, X, X, attn_mask=mg.ones(4, 2, 2)),
     RuntimeError, r"attn_mask of shape \(4, 2, 2\) cannot be broadcast"),
])
def test_call_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
