"""The key checks again on device='cuda' (CuPy), compared with the CPU results.

Every test here is skipped cleanly when ``mg.cuda.is_available()`` is False.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.skipif(not mg.cuda.is_available(),
                                reason="CUDA not available (needs CuPy and a GPU)")


def _mlp_loss(x, w1, b1, w2, b2, target):
    """A small MLP with most op kinds: addmm, matmul, broadcasting, tanh, relu,
    sigmoid, indexing with repeats, reductions, pow, scalar arithmetic."""
    h = mg.addmm(b1, x, w1).tanh()
    g = (h @ w2 + b2).relu() + (h[:, [0, 0, 2]].sum(1, keepdim=True) * 0.5).sigmoid()
    err = (g - target) ** 2
    return err.mean() + 0.1 * (w1 * w1).sum() + (2.0 - g.max(dim=1).values).exp().mean()


def _mlp_inputs(dtype):
    rng = np.random.default_rng(0)
    arrays = dict(x=rng.standard_normal((5, 4)), w1=rng.standard_normal((4, 3)),
                  b1=rng.standard_normal(3), w2=rng.standard_normal((3, 2)),
                  b2=rng.standard_normal(2), target=rng.standard_normal((5, 2)))
    return {k: v.astype(dtype) for k, v in arrays.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_forward_and_backward_match_cpu(dtype):
    arrays = _mlp_inputs(dtype)
    results = {}
    for device in ("cpu", "cuda"):
        ts = {k: mg.tensor(v, device=device, requires_grad=k != "target")
              for k, v in arrays.items()}
        loss = _mlp_loss(**ts)
        assert loss.device == device and loss.dtype == dtype
        loss.backward()
        results[device] = (loss.item(), {k: t.grad for k, t in ts.items() if k != "target"})
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], **tol)
    for name, grad in results["cuda"][1].items():
        assert grad.device == "cuda" and grad.dtype == dtype
        np.testing.assert_allclose(grad.numpy(), results["cpu"][1][name].numpy(), **tol,
                                   err_msg=name)


def test_gradcheck_on_cuda():
    arrays = _mlp_inputs(np.float64)
    ts = {k: mg.tensor(v, device="cuda", requires_grad=k in ("w1", "b2"))
          for k, v in arrays.items()}
    assert mg.autograd.gradcheck(lambda w1, b2: _mlp_loss(ts["x"], w1, ts["b1"], ts["w2"], b2,
                                                          ts["target"]), (ts["w1"], ts["b2"]))


def test_second_derivative_on_cuda():
    x = mg.tensor([0.5, -1.0, 2.0], dtype=mg.float64, device="cuda", requires_grad=True)
    (x.tanh() * x.exp()).sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    a = np.array([0.5, -1.0, 2.0])
    t, e = np.tanh(a), np.exp(a)
    # d2/dx2 tanh(x) e^x = e^x (tanh + 2 (1 - tanh^2) - 2 tanh (1 - tanh^2))
    expected = e * (t + 2 * (1 - t ** 2) - 2 * t * (1 - t ** 2))
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-10)


def test_data_is_a_cupy_array():
    import cupy

    t = mg.ones(2, 3, device="cuda")
    assert isinstance(t.data, cupy.ndarray) and t.device == "cuda"
    assert isinstance(t.numpy(), np.ndarray)
    assert "device='cuda'" in repr(t)


def test_to_and_cpu_round_trip_is_differentiable():
    x = mg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    gx = x.to("cuda")
    assert gx.device == "cuda" and gx.requires_grad and x.cuda().device == "cuda"
    assert gx.to("cuda") is gx
    back = (gx * gx).cpu()
    assert back.device == "cpu"
    back.sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())
    np.testing.assert_array_equal(mg.tensor([[1, 2]], device="cuda").cpu().numpy(), [[1, 2]])


def test_factories_and_seeding_on_cuda():
    for t in (mg.zeros(2, 3, device="cuda"), mg.ones(2, device="cuda"),
              mg.randn(2, 3, device="cuda"), mg.rand(4, device="cuda"),
              mg.eye(3, device="cuda"), mg.arange(5, device="cuda")):
        assert t.device == "cuda"
    mg.manual_seed(3)
    a = mg.randn(4, device="cuda").numpy()
    mg.manual_seed(3)
    np.testing.assert_array_equal(mg.randn(4, device="cuda").numpy(), a)


def test_repeated_index_gradients_accumulate_on_cuda():
    x = mg.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    (x[[0, 0, 2, 0]].sum() + x[mg.tensor([1, 1], device="cuda")].sum()
     + x[x > 2].sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 2.0, 2.0])


def test_scalar_operands_on_cuda():
    x = mg.tensor([0.5, 1.5], device="cuda")
    for out, expected in ((x * 2.5, [1.25, 3.75]), (1.5 - x, [1.0, 0.0]),
                          (2.0 / x, [4.0, 4 / 3]), (2 ** x, 2 ** np.array([0.5, 1.5])),
                          (x ** 2, [0.25, 2.25]), (mg.where(x > 1, x, 0.0), [0.0, 1.5])):
        assert out.device == "cuda" and out.dtype == mg.float32
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_shared_weight_gradient_on_cuda():
    rng = np.random.default_rng(1)
    w0, xs = rng.standard_normal((3, 3)), rng.standard_normal((4, 2, 3))
    grads = {}
    for device in ("cpu", "cuda"):
        w = mg.tensor(w0, device=device, requires_grad=True)
        h = mg.zeros(2, 3, dtype=mg.float64, device=device)
        for t in range(4):
            h = mg.addmm(mg.tensor(xs[t], device=device), h, w).tanh()
        h.sum().backward()
        grads[device] = w.grad.numpy()
    np.testing.assert_allclose(grads["cuda"], grads["cpu"], rtol=1e-12)


@pytest.mark.parametrize("name, op", [
    ("add", lambda a, b: a + b), ("mul", lambda a, b: a * b),
    ("matmul", lambda a, b: a @ b), ("cat", lambda a, b: mg.cat([a, b])),
])
def test_mixing_devices_names_both(name, op):
    cpu = mg.ones(2, 2, requires_grad=True)
    gpu = mg.ones(2, 2, device="cuda")
    with pytest.raises(RuntimeError, match=rf"{name}: expected all tensors on the same "
                                           r"device, got .*cpu.*cuda"):
        op(cpu, gpu)
    assert cpu.grad is None


def test_backward_gradient_on_the_wrong_device():
    y = mg.ones(2, device="cuda", requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="backward: gradient is on cpu, expected cuda"):
        y.backward(mg.ones(2))
