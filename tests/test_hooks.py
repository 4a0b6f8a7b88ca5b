"""Gradient hooks, ``retain_grad``, ``autograd.grad``, ``backward(inputs=)``,
``queue_callback`` and the grad-mode switches, as PyTorch specifies them."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import minigrad as mg


def _leaf(*values):
    return mg.tensor(list(values), dtype=mg.float64, requires_grad=True)


# --- Tensor.register_hook ---------------------------------------------------------------

@pytest.mark.parametrize("leaf", [True, False], ids=["leaf", "non-leaf"])
def test_hooks_run_in_order_and_replace_the_gradient(leaf):
    x = _leaf(1.0, 2.0)
    t = x if leaf else x * 1
    calls = []
    t.register_hook(lambda g: calls.append(("first", g.tolist())))       # observes
    t.register_hook(lambda g: g * 10)                                      # replaces
    t.register_hook(lambda g: calls.append(("third", g.tolist())))       # sees the new one
    (t * 3).sum().backward()
    assert calls == [("first", [3.0, 3.0]), ("third", [30.0, 30.0])]
    assert x.grad.tolist() == [30.0, 30.0]


def test_a_hook_sees_the_complete_sum_once():
    x = _leaf(1.0)
    h = x * 2
    seen = []
    h.register_hook(lambda g: seen.append(g.item()))
    (h * 3 + h * 4).sum().backward()
    assert seen == [7.0] and x.grad.item() == 14.0


def test_removed_hooks_do_not_run():
    x = _leaf(1.0)
    seen = []
    handle = x.register_hook(lambda g: seen.append(1))
    handle.remove()
    (x * 2).sum().backward()
    with x.register_hook(lambda g: seen.append(2)):
        (x * 2).sum().backward()
    (x * 2).sum().backward()
    assert seen == [2]


def test_hooks_with_retain_graph_fire_each_backward():
    x = _leaf(1.0, 2.0)
    h = x.tanh()
    seen = []
    h.register_hook(lambda g: seen.append(g.tolist()))
    loss = (h * 2).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert seen == [[2.0, 2.0], [2.0, 2.0]]


def test_hook_errors():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        mg.zeros(2).register_hook(lambda g: g)
    x = _leaf(1.0, 2.0)
    x.register_hook(lambda g: mg.ones(3))
    with pytest.raises(RuntimeError, match=r"returned a gradient of shape \(3,\), expected "
                                           r"\(2,\)"):
        x.sum().backward()
    with pytest.raises(TypeError, match="must be callable"):
        x.register_hook(3)


# --- retain_grad --------------------------------------------------------------------------

def test_retain_grad_gives_non_leaves_a_grad():
    x = _leaf(1.0, 2.0)
    h = x * 3
    k = h * 1
    h.retain_grad()
    assert h.retains_grad and not k.retains_grad and not x.retains_grad
    (h * h).sum().backward(retain_graph=True)
    assert h.grad.tolist() == [6.0, 12.0] and k.grad is None
    (h * h).sum().backward()  # accumulates, as .grad of leaves does
    assert h.grad.tolist() == [12.0, 24.0]
    assert h.retains_grad  # still, after the graph was freed


def test_retain_grad_runs_after_the_hooks():
    x = _leaf(1.0)
    h = x * 1
    h.retain_grad()
    h.register_hook(lambda g: g * 5)  # registered later, yet retain_grad sees its result
    h.sum().backward()
    assert h.grad.item() == 5.0


def test_retain_grad_per_timestep_of_an_rnn():
    """What a researcher needs: dL/dh_t at every step, equal to autograd.grad's."""
    mg.manual_seed(0)
    cell = mg.nn.RNNCell(3, 4).double()
    xs = mg.randn(5, 2, 3, dtype=mg.float64)
    h = mg.zeros(2, 4, dtype=mg.float64)
    states = []
    for t in range(5):
        h = cell(xs[t], h)
        h.retain_grad()
        states.append(h)
    loss = (states[-1] ** 2).sum()
    expected = mg.autograd.grad(loss, states, retain_graph=True)
    for state, grad in zip(states, expected):  # (it fills retained grads, as PyTorch's)
        np.testing.assert_allclose(state.grad.numpy(), grad.numpy())
        state.grad = None
    loss.backward()
    for state, grad in zip(states, expected):
        np.testing.assert_allclose(state.grad.numpy(), grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(states[-1].grad.numpy(), 2 * states[-1].numpy())
    assert cell.weight_hh.grad is not None


# --- register_post_accumulate_grad_hook ---------------------------------------------------

def test_post_accumulate_hook_fires_once_when_the_grad_is_final():
    w = _leaf(1.0, 2.0)
    seen = []
    w.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    loss = sum(((w * k).sum() for k in (1.0, 2.0, 3.0)), mg.tensor(0.0, dtype=mg.float64))
    loss.backward()
    assert seen == [[6.0, 6.0]]
    (w * 1).sum().backward()  # a second backward accumulates, then fires again
    assert seen == [[6.0, 6.0], [7.0, 7.0]]


def test_post_accumulate_hooks_fire_before_the_backward_ends():
    """The hook of a weight used only at the top of the graph fires before the nodes
    below it have run (what lets DDP overlap communication with backward)."""
    order = []
    top = _leaf(1.0)
    bottom = _leaf(1.0)
    top.register_post_accumulate_grad_hook(lambda t: order.append("top final"))
    h = bottom * 2
    for _ in range(3):
        h = h.tanh()
    h.register_hook(lambda g: order.append("reached bottom") or None)
    (h * top).sum().backward()
    assert order == ["top final", "reached bottom"]


def test_post_accumulate_hook_errors_and_create_graph():
    with pytest.raises(RuntimeError, match="only be registered on leaf tensors"):
        (_leaf(1.0) * 2).register_post_accumulate_grad_hook(lambda t: None)
    x = _leaf(2.0)
    grads = []
    x.register_post_accumulate_grad_hook(lambda t: grads.append(t.grad))
    (x ** 3).sum().backward(create_graph=True)
    assert grads[0].item() == 12.0 and grads[0].requires_grad  # a differentiable .grad


# --- autograd.grad and backward(inputs=) --------------------------------------------------

def test_autograd_grad_returns_without_touching_grad():
    x, y = _leaf(1.0, 2.0), _leaf(3.0, 4.0)
    h = x * y
    gx, gh = mg.autograd.grad((h * h).sum(), (x, h))
    np.testing.assert_allclose(gx.numpy(), 2 * h.numpy() * y.numpy())
    np.testing.assert_allclose(gh.numpy(), 2 * h.numpy())
    assert x.grad is None and y.grad is None


def test_autograd_grad_options():
    x = _leaf(1.0, 2.0)
    unused = _leaf(5.0)
    out = x * 3
    with pytest.raises(RuntimeError, match="was not used to compute the outputs"):
        mg.autograd.grad(out.sum(), [x, unused], retain_graph=True)
    gx, gu = mg.autograd.grad(out.sum(), [x, unused], allow_unused=True, retain_graph=True)
    assert gx.tolist() == [3.0, 3.0] and gu is None
    (g,) = mg.autograd.grad(out, x, grad_outputs=mg.tensor([1.0, -1.0], dtype=mg.float64))
    assert g.tolist() == [3.0, -3.0]
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        mg.autograd.grad(x * 2, x)
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.autograd.grad((x * 2).sum(), mg.zeros(2))


def test_autograd_grad_create_graph_gives_second_derivatives():
    x = _leaf(1.5)
    (g,) = mg.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (gg,) = mg.autograd.grad(g.sum(), x)
    assert g.item() == pytest.approx(3 * 1.5 ** 2) and gg.item() == pytest.approx(6 * 1.5)


def test_backward_inputs_restricts_accumulation():
    x, y = _leaf(1.0), _leaf(2.0)
    h = x * y
    h.retain_grad()
    (h * 2).backward(inputs=[x])
    assert x.grad.item() == 4.0 and y.grad is None
    k = x * y
    (k * 2).backward(inputs=k)  # a non-leaf input gets a .grad
    assert k.grad.item() == 2.0 and x.grad.item() == 4.0
    with pytest.raises(RuntimeError, match="inputs\\[0\\] must be a Tensor that requires grad"):
        (x * 2).backward(inputs=[mg.zeros(1)])


# --- queue_callback -----------------------------------------------------------------------

def test_queued_callbacks_run_after_every_leaf_is_final():
    w = _leaf(1.0)
    order = []

    def hook(t):
        order.append("hook")
        mg.autograd.queue_callback(lambda: order.append(("callback", w.grad.item())))

    w.register_post_accumulate_grad_hook(hook)
    (w * 2).sum().backward()
    assert order == ["hook", ("callback", 2.0)]
    with pytest.raises(RuntimeError, match="no backward is running"):
        mg.autograd.queue_callback(lambda: None)


# --- grad mode ------------------------------------------------------------------------------

def test_set_grad_enabled_as_function_context_and_decorator():
    assert mg.is_grad_enabled()
    with mg.set_grad_enabled(False):
        assert not mg.is_grad_enabled()
        with mg.set_grad_enabled(True):
            assert mg.is_grad_enabled()
        assert not mg.is_grad_enabled()
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(False)
    def predict(x):
        return x * 2

    assert mg.is_grad_enabled()  # decorating changes nothing outside
    assert not predict(_leaf(1.0)).requires_grad
    mg.set_grad_enabled(False)
    try:
        assert not (_leaf(1.0) * 2).requires_grad
    finally:
        mg.set_grad_enabled(True)


def test_inference_mode():
    with mg.inference_mode():
        assert not mg.is_grad_enabled() and mg.is_inference_mode_enabled()
        assert not (_leaf(1.0) * 2).requires_grad
    with mg.inference_mode(False):
        assert mg.is_grad_enabled()

    @mg.inference_mode()
    def run():
        return (_leaf(1.0) * 2).requires_grad

    assert run() is False and mg.is_grad_enabled()


def test_grad_mode_is_per_thread():
    seen = []
    with mg.set_grad_enabled(False):
        thread = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        thread.start()
        thread.join()
    assert seen == [True]


# --- device, typed constructors, cuda, .to ----------------------------------------------------

def test_device_objects():
    assert str(mg.device("cuda:0")) == "cuda:0" and mg.device("cuda", 0).index == 0
    assert repr(mg.device("cpu")) == "device(type='cpu')"
    assert mg.zeros(2).device == mg.device("cpu") and mg.device("cpu") == "cpu"
    assert mg.zeros(2, device=mg.device("cpu")).device == "cpu"
    assert mg.device("cuda:0") != mg.device("cuda:1") and mg.device("cuda") != "cpu"
    for bad in ("tpu", "cuda:x"):
        with pytest.raises(RuntimeError, match="device"):
            mg.device(bad)


def test_typed_constructors():
    assert mg.LongTensor([1.7, -2.5]).tolist() == [1, -2]
    assert mg.FloatTensor(2, 3).shape == (2, 3) and mg.FloatTensor(2, 3).dtype == mg.float32
    assert mg.BoolTensor([1, 0]).tolist() == [True, False]
    assert isinstance(mg.zeros(2).long(), mg.LongTensor)
    assert not isinstance(mg.zeros(2), mg.LongTensor)


def test_cuda_namespace_without_a_gpu():
    if mg.cuda.is_available():
        pytest.skip("a GPU is present")
    assert mg.cuda.device_count() == 0
    mg.cuda.manual_seed(1)
    mg.cuda.manual_seed_all(1)


def test_to_other_and_copy():
    x = mg.zeros(2)
    assert x.to(mg.ones(1, dtype=mg.float64)).dtype == mg.float64
    assert x.to("cpu", non_blocking=True) is x
    y = x.to(copy=True)
    assert y is not x and y.data is not x.data


def test_parameter_data_assignment_unwraps_tensors():
    emb = mg.nn.Embedding(5, 3)
    pretrained = mg.ones(5, 3)
    emb.weight.data = pretrained
    assert isinstance(emb.weight.data, np.ndarray) and emb.weight.data is pretrained.data
    assert list(emb.state_dict()) == ["weight"]
    with pytest.raises(TypeError, match="Variable data has to be a tensor, but got list"):
        emb.weight.data = [1, 2]
