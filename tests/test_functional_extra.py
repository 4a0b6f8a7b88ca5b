"""``F.gelu``, ``F.softplus``, ``F.normalize``, ``F.cosine_similarity``, ``F.pad`` and
the ``nn.GELU`` / ``nn.Softplus`` layers against PyTorch (fixture
``fixtures/nn/functional.npz``: float64 values and gradients from PyTorch 2.13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from minigrad import nn

FIXTURE = Path(__file__).parent / "fixtures" / "nn" / "functional.npz"

CASES = {  # the same calls as the fixture script's FUNCTIONAL_CASES
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_module": lambda x: nn.GELU()(x),
    "softplus": lambda x: F.softplus(x),
    "softplus_beta_threshold": lambda x: F.softplus(x, beta=2.0, threshold=1.5),
    "softplus_module": lambda x: nn.Softplus(beta=0.5, threshold=3.0)(x),
    "normalize": lambda x: F.normalize(x),
    "normalize_p1_dim0": lambda x: F.normalize(x, p=1.0, dim=0),
    "cosine_similarity": lambda a, b: F.cosine_similarity(a, b),
    "cosine_similarity_dim_last": lambda a, b: F.cosine_similarity(a, b, dim=-1),
    "pad_constant": lambda x: F.pad(x, (1, 2, -1, 1), value=0.5),
    "pad_reflect": lambda x: F.pad(x, (2, 1), mode="reflect"),
    "pad_replicate": lambda x: F.pad(x, (1, 2, 2, 0), mode="replicate"),
    "pad_circular": lambda x: F.pad(x, (3, 1), mode="circular"),
}


@pytest.fixture(scope="module")
def fixture():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_the_fixture_covers_every_case(fixture):
    import json

    assert json.loads(str(fixture["config"]))["cases"] == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_pytorch(name, fixture, device):
    arrays = [fixture[f"{name}.input{k}"] for k in range(2) if f"{name}.input{k}" in fixture]
    inputs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = CASES[name](*inputs)
    np.testing.assert_allclose(out.numpy(), fixture[f"{name}.output"], rtol=1e-12, atol=1e-13)
    out.backward(mg.tensor(fixture[f"{name}.grad_output"], device=device))
    for k, x in enumerate(inputs):
        np.testing.assert_allclose(x.grad.numpy(), fixture[f"{name}.grad.input{k}"],
                                   rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "softplus"])
def test_float32_stays_float32_and_close_to_pytorch(name, fixture):
    x = mg.tensor(fixture[f"{name}.input0"].astype(np.float32), requires_grad=True)
    out = CASES[name](x)
    assert out.dtype == mg.float32
    np.testing.assert_allclose(out.numpy(), fixture[f"{name}.output"], rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert x.grad.dtype == mg.float32


def test_softplus_is_finite_for_large_inputs():
    x = mg.tensor([-1000.0, 0.0, 1000.0], dtype=mg.float64, requires_grad=True)
    out = F.softplus(x, threshold=1e9)  # the soft branch everywhere: no overflow
    np.testing.assert_allclose(out.numpy(), [0.0, np.log(2.0), 1000.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 1.0])


def test_layer_reprs():
    assert repr(nn.GELU()) == "GELU(approximate='none')"
    assert repr(nn.Softplus(2.0)) == "Softplus(beta=2.0, threshold=20.0)"
