"""The autograd engine: how gradients flow, accumulate and are freed; grad modes;
custom Functions; the batched weight-gradient (OuterGrad) path."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F

# --- accumulation and graph lifetime --------------------------------------------------


def test_gradients_accumulate_across_backward_calls_until_reset(device):
    x = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])


def test_retain_graph_allows_a_second_backward():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * 2 * np.array([1.0, 2.0]))


def test_backward_through_a_freed_graph_raises_a_clear_error():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * 2).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*"
                                           "retain_graph=True"):
        y.backward()


def test_reusing_a_freed_intermediate_raises():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    z = x.tanh()
    z.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        (z * 2).sum().backward()


def _arrays_held_by(node) -> list[str]:
    """Names of the node attributes through which an array is still reachable."""
    def holds_array(value) -> bool:
        if isinstance(value, (np.ndarray, np.generic, mg.Tensor)):
            return True
        if isinstance(value, (tuple, list)):
            return any(holds_array(v) for v in value)
        if isinstance(value, dict):
            return any(holds_array(v) for v in value.values())
        return hasattr(value, "__array__") or hasattr(value, "lhs")  # CuPy, OuterGrad

    return [name for name, value in vars(node).items() if holds_array(value)]


def _graph_nodes(out: mg.Tensor) -> list:
    nodes, stack = [], [out.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None and all(node is not n for n in nodes):
            nodes.append(node)
            stack.extend(t.grad_fn for t in node.inputs)
    return nodes


class KeepsAScale(mg.autograd.Function):
    """A custom Function that keeps a Tensor as a plain ctx attribute."""

    @staticmethod
    def forward(ctx, x):
        ctx.scale = x * 0 + 3
        return x * ctx.scale

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale


@pytest.mark.parametrize("make", [
    lambda x: x.exp(),
    lambda x: x * x,
    lambda x: x.relu(),
    lambda x: x.clamp(-0.5, 0.5),
    lambda x: x.max(),
    lambda x: x.max(1).values,
    lambda x: x.var(1),
    lambda x: mg.where(x > 0, x, x * 2),
    lambda x: F.dropout(x, 0.5),
    lambda x: F.layer_norm(x, (5,)),
    lambda x: F.cross_entropy(x, mg.tensor([0, 4, 2, 1]), reduction="none"),
    lambda x: F.linear(x, mg.randn(3, 5, requires_grad=True)),
    lambda x: F.embedding(mg.tensor([[0, 2], [1, 1]]), x),
    lambda x: x[x > 0],
    lambda x: KeepsAScale.apply(x),
], ids=["exp", "mul", "relu", "clamp", "max", "max-dim", "var", "where", "dropout",
        "layer_norm", "cross_entropy", "linear", "embedding", "mask-index", "custom"])
def test_saved_buffers_are_freed_after_backward(make):
    x = mg.randn(4, 5, requires_grad=True)
    y = make(x)
    nodes = _graph_nodes(y)
    assert all(_arrays_held_by(node) for node in nodes)  # the probe sees what is held
    y.sum().backward()
    for node in nodes:  # every buffer, saved or a plain ctx attribute, is dropped
        assert node.saved is None and node.inputs is None
        assert _arrays_held_by(node) == [], f"{node!r} still holds arrays"
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()


def test_saved_buffers_are_kept_with_retain_graph():
    x = mg.randn(4, requires_grad=True)
    y = x.exp()
    y.sum().backward(retain_graph=True)
    assert y.grad_fn.saved is not None and y.grad_fn.inputs is not None


def test_intermediates_of_a_deep_graph_are_released_by_backward():
    x = mg.randn(8, requires_grad=True)
    h = x
    probes = []
    for i in range(200):
        h = (h * 0.9).tanh()
        if i % 50 == 10:
            probes.append(weakref.ref(h))
    loss = h.sum()
    del h
    gc.collect()
    assert all(p() is not None for p in probes)  # alive: the graph references them
    loss.backward()
    assert all(p() is None for p in probes)  # freed by refcounting, no gc needed
    assert x.grad is not None


def test_retain_graph_keeps_intermediates_alive():
    x = mg.randn(8, requires_grad=True)
    h = (x * 2).tanh()
    probe = weakref.ref(h)
    loss = (h * 3).sum()
    del h
    loss.backward(retain_graph=True)
    assert probe() is not None


def test_a_chain_of_100k_ops_backpropagates_without_recursion():
    x = mg.tensor([0.5], dtype=mg.float64, requires_grad=True)
    y = x
    start = time.perf_counter()
    for _ in range(50_000):
        y = y * 1.00001
        y = y + 0.001
    y.sum().backward()
    elapsed = time.perf_counter() - start
    np.testing.assert_allclose(x.grad.numpy(), [1.00001 ** 50_000], rtol=1e-9)
    assert elapsed < 10, f"100k-op chain took {elapsed:.1f}s"


def test_an_unused_deep_graph_can_be_dropped():
    x = mg.randn(2, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    del y  # deallocating 100k nested nodes must not overflow the C stack
    gc.collect()


# --- leaves, .grad, requires_grad -------------------------------------------------------


def test_grad_is_a_plain_tensor_like_the_leaf():
    x = mg.randn(2, 3, requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, mg.Tensor)
    assert x.grad.shape == x.shape and x.grad.dtype == x.dtype and x.grad.device == "cpu"
    assert not x.grad.requires_grad and x.grad.grad_fn is None


def test_grad_requires_grad_only_with_create_graph():
    x = mg.randn(3, requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    y = mg.randn(3, requires_grad=True)
    (y * 2).sum().backward(create_graph=True)  # a constant gradient: nothing to record
    assert not y.grad.requires_grad


def test_create_graph_retains_the_graph_by_default():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(create_graph=True)  # retain_graph=None means create_graph
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * x.numpy())


def test_create_graph_records_even_under_no_grad():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = (x * x * x).sum()  # x reaches the loss three times: the grad is a sum
    with mg.no_grad():
        y.backward(create_graph=True)
        assert not mg.is_grad_enabled()
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_non_leaves_get_no_grad():
    x = mg.randn(3, requires_grad=True)
    y = x * 2
    z = y.tanh()
    z.sum().backward()
    assert x.is_leaf and not y.is_leaf and not z.is_leaf
    assert y.grad is None and z.grad is None and x.grad is not None


def test_leaves_without_requires_grad_get_no_grad():
    x = mg.randn(3, requires_grad=True)
    c = mg.randn(3)
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_allclose(x.grad.numpy(), c.numpy())


def test_requires_grad_propagates_from_any_input():
    x = mg.randn(3, requires_grad=True)
    c = mg.randn(3)
    assert (x * c).requires_grad and (c * x).requires_grad and (x + 1).requires_grad
    assert not (c * c).requires_grad and (c * c).grad_fn is None
    assert (x @ c).requires_grad and mg.cat([c, x]).requires_grad
    assert mg.where(c > 0, c, x).requires_grad


def test_comparisons_give_bool_without_grad():
    x = mg.randn(3, requires_grad=True)
    for out in (x > 0, x < x, x >= 0.5, x <= 1, x == x, x != 0):
        assert out.dtype == mg.bool and not out.requires_grad and out.grad_fn is None


def test_detach_shares_data_and_cuts_the_graph():
    x = mg.randn(3, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert d.data is y.data
    assert not (d * x.detach()).requires_grad
    (d * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d.numpy())  # d is a constant


def test_detached_input_is_a_constant_in_second_derivatives():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    (x * x.detach()).sum().backward(create_graph=True)
    assert not x.grad.requires_grad  # d/dx (x * c) = c, a constant
    x.grad = None
    (x * x).sum().backward(create_graph=True)
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_integer_and_bool_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="only floating point tensors can require grad"):
        mg.tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(RuntimeError, match="only floating point tensors"):
        mg.arange(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="dtype bool"):
        mg.tensor([True]).requires_grad_()


def test_casting_to_an_integer_dtype_leaves_the_graph():
    x = mg.randn(3, requires_grad=True)
    assert not x.long().requires_grad and x.long().dtype == mg.int64
    assert x.double().requires_grad


def test_requires_grad_on_a_non_leaf_cannot_be_turned_off():
    y = mg.randn(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="only leaf tensors.*detach"):
        y.requires_grad_(False)


# --- grad modes ----------------------------------------------------------------------


def test_no_grad_context_records_nothing():
    x = mg.randn(3, requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = x * 2
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_no_grad_decorator():
    @mg.no_grad()
    def double(t):
        """doc"""
        assert not mg.is_grad_enabled()
        return t * 2

    x = mg.randn(3, requires_grad=True)
    assert not double(x).requires_grad
    assert double.__name__ == "double" and double.__doc__ == "doc"
    assert (x * 2).requires_grad


def test_enable_grad_inside_no_grad():
    x = mg.randn(3, requires_grad=True)
    with mg.no_grad():
        with mg.enable_grad():
            y = x * 2
        z = x * 2
    assert y.requires_grad and not z.requires_grad

    @mg.enable_grad()
    def f(t):
        return t * 2

    with mg.no_grad():
        assert f(x).requires_grad


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(KeyError), mg.no_grad():
        raise KeyError("inside no_grad")
    assert mg.is_grad_enabled()


def test_set_grad_enabled():
    x = mg.randn(3, requires_grad=True)
    mg.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    mg.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_no_grad_is_thread_local():
    inside, release = threading.Event(), threading.Event()
    seen = {}

    def worker():
        with mg.no_grad():
            inside.set()
            release.wait(5)
            seen["worker"] = mg.is_grad_enabled()

    thread = threading.Thread(target=worker)
    thread.start()
    assert inside.wait(5)
    try:  # the worker is inside no_grad right now; this thread is not
        assert mg.is_grad_enabled()
        assert (mg.randn(2, requires_grad=True) * 2).requires_grad
    finally:
        release.set()
        thread.join()
    assert seen["worker"] is False


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with mg.no_grad():
        t = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


# --- diamonds and shared gradient buffers ------------------------------------------------


def test_a_value_used_twice_gets_both_contributions():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    (a + a).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [2.0, 2.0])

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    z = x * 2
    w = z + z
    (w * z).sum().backward()  # w*z = 2 z^2 = 8 x^2
    np.testing.assert_allclose(x.grad.numpy(), 16 * x.numpy())


def test_diamond_through_several_ops():
    x = mg.tensor([0.3, -0.7], dtype=mg.float64, requires_grad=True)
    h = x.tanh()
    y = (h * h.exp() + h.sigmoid() * h).sum()
    y.backward()
    t = np.tanh(x.numpy())
    dy_dh = np.exp(t) * (1 + t) + (1 / (1 + np.exp(-t))) * (1 + t * (1 - 1 / (1 + np.exp(-t))))
    np.testing.assert_allclose(x.grad.numpy(), dy_dh * (1 - t ** 2), rtol=1e-12)


@pytest.mark.parametrize("create_graph", [False, True])
def test_leaves_never_share_a_gradient_buffer(create_graph, device):
    a = mg.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = mg.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a + b).sum().backward(create_graph=create_graph)
    assert a.grad.data is not b.grad.data
    a.grad.data += 10  # in-place changes to one leaf's grad ...
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])  # ... never reach another
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    (a + b).sum().backward()  # accumulating in place keeps them apart too
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0])


def test_grad_does_not_alias_the_given_gradient():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    g = np.array([1.0, 1.0], dtype=np.float32)
    x.backward(g)  # a leaf as the root
    g += 5
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    y = mg.tensor([1.0, 2.0], requires_grad=True)
    gt = mg.tensor([1.0, 1.0])
    (y + 0).backward(gt)
    gt.data += 5
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])


def test_grad_from_a_broadcast_backward_is_writable():
    x = mg.randn(2, 3, requires_grad=True)
    x.sum().backward()  # Sum's backward is a read-only broadcast view
    x.grad.data += 1
    x.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 3.0))


# --- backward(gradient=...) ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["tensor", "ndarray", "list"])
def test_backward_with_an_explicit_gradient(kind):
    x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    y = x * x
    g = np.array([[1.0, 0.0, 2.0], [0.5, 1.0, 0.0]])
    gradient = {"tensor": mg.tensor(g), "ndarray": g, "list": g.tolist()}[kind]
    y.backward(gradient)
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() * g)
    assert x.grad.dtype == mg.float32  # a float64 gradient is cast to the output dtype


def test_backward_of_a_one_element_tensor_needs_no_gradient():
    x = mg.tensor([2.0], requires_grad=True)
    (x * 3).backward()  # shape (1,), not 0-d
    assert x.grad.tolist() == [3.0]


# --- custom Functions ------------------------------------------------------------------


class ScaledCube(mg.autograd.Function):
    """y = k * x**3, with a non-Tensor argument k."""

    @staticmethod
    def forward(ctx, x, k):
        assert isinstance(x, mg.Tensor) and isinstance(k, float)
        assert not mg.is_grad_enabled()  # forward records no graph
        ctx.save_for_backward(x)
        ctx.k = k
        out = x * x * x * k
        assert not out.requires_grad
        return out

    @staticmethod
    def backward(ctx, grad):
        assert isinstance(grad, mg.Tensor)
        (x,) = ctx.saved_tensors
        return grad * 3 * ctx.k * x * x, None  # None for the non-Tensor k


class SplitExp(mg.autograd.Function):
    """Two outputs: (x * 2, exp(x))."""

    @staticmethod
    def forward(ctx, x):
        ex = x.exp()
        ctx.save_for_backward(ex)
        return x * 2, ex

    @staticmethod
    def backward(ctx, grad_double, grad_exp):
        (ex,) = ctx.saved_tensors
        return grad_double * 2 + grad_exp * ex


class MulAdd(mg.autograd.Function):
    """a * b + c for three tensors, one of which may not require grad."""

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        return a * b + c

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, True, False)
        return grad * b, grad * a, None


def test_custom_function_forward_and_backward():
    x = mg.tensor([1.0, -2.0, 0.5], dtype=mg.float64, requires_grad=True)
    y = ScaledCube.apply(x, 2.0)
    assert isinstance(y, mg.Tensor) and y.requires_grad and isinstance(y.grad_fn, ScaledCube)
    np.testing.assert_allclose(y.numpy(), 2 * x.numpy() ** 3)
    assert mg.autograd.gradcheck(lambda t: ScaledCube.apply(t, 2.0), (x,))


def test_custom_function_without_grad_inputs_records_nothing():
    y = ScaledCube.apply(mg.randn(3), 2.0)
    assert not y.requires_grad and y.grad_fn is None


def test_custom_function_several_tensor_inputs():
    a = mg.randn(3, dtype=mg.float64, requires_grad=True)
    b = mg.randn(3, dtype=mg.float64, requires_grad=True)
    c = mg.randn(3, dtype=mg.float64)
    assert mg.autograd.gradcheck(MulAdd.apply, (a, b, c))
    assert c.grad is None


def test_custom_function_with_several_outputs():
    x = mg.randn(4, dtype=mg.float64, requires_grad=True)
    doubled, ex = SplitExp.apply(x)
    assert doubled.grad_fn is ex.grad_fn
    assert mg.autograd.gradcheck(SplitExp.apply, (x,))


def test_custom_function_output_without_gradient_gets_zeros(device):
    x = mg.randn(4, device=device, requires_grad=True)
    doubled, _ = SplitExp.apply(x)
    doubled.sum().backward()  # backward still receives a (zero) gradient for exp
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 2.0))


def test_custom_function_with_create_graph():
    x = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    ScaledCube.apply(x, 2.0).sum().backward(create_graph=True)
    g = x.grad  # 6 x^2
    np.testing.assert_allclose(g.numpy(), 6 * x.numpy() ** 2)
    assert g.requires_grad
    x.grad = None
    g.sum().backward()  # 12 x
    np.testing.assert_allclose(x.grad.numpy(), 12 * x.numpy())


def test_custom_function_saved_tensors_are_freed_after_backward():
    x = mg.randn(3, requires_grad=True)
    y = ScaledCube.apply(x, 1.0)
    node = y.grad_fn
    y.sum().backward()
    with pytest.raises(RuntimeError, match="freed.*retain_graph=True"):
        node.saved_tensors  # noqa: B018


def test_custom_function_backward_must_return_one_gradient_per_argument():
    class Bad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, grad):
            return grad  # forgot the None for k

    x = mg.randn(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="returned 1 gradients, expected 2"):
        Bad.apply(x, 2.0).sum().backward()


def test_custom_function_gradient_with_broadcast_dims_is_summed_to_the_input():
    class Broadcasting(mg.autograd.Function):  # returns (2, 3) for a (3,) or (1, 3) input
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return mg.ones(2, 3)

    for shape in [(3,), (1, 3)]:
        x = mg.zeros(*shape, requires_grad=True)
        Broadcasting.apply(x).sum().backward()
        assert x.grad.shape == shape and x.grad.numpy().ravel().tolist() == [2.0] * 3


def test_custom_function_gradient_of_an_incompatible_shape_raises():
    class Bad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            return mg.ones(2)

    for create_graph in (False, True):
        x = mg.zeros(3, requires_grad=True)
        with pytest.raises(RuntimeError, match=r"Function BadBackward returned an invalid "
                                               r"gradient at index 0 - got \[2\] but "
                                               r"expected shape compatible with \[3\]"):
            Bad.apply(x).sum().backward(create_graph=create_graph)


def test_custom_function_must_return_tensors():
    class Bad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.numpy()

    with pytest.raises(TypeError, match="must return Tensor"):
        Bad.apply(mg.randn(2, requires_grad=True))


# --- gradcheck ---------------------------------------------------------------------------


def test_gradcheck_leaves_every_grad_as_it_was():
    w = mg.randn(3, dtype=mg.float64, requires_grad=True)  # used by fn, not checked
    x = mg.randn(3, dtype=mg.float64, requires_grad=True)
    x.grad = before = mg.full((3,), 7.0, dtype=mg.float64)
    assert mg.autograd.gradcheck(lambda t: (t * w).tanh(), [x])
    assert x.grad is before and x.grad.tolist() == [7.0] * 3
    assert w.grad is None


@pytest.mark.parametrize("layout", ["fortran", "strided"])
def test_gradcheck_perturbs_non_contiguous_inputs(layout, rng):
    data = rng.standard_normal((3, 4))
    x = mg.tensor(data, requires_grad=True)
    if layout == "fortran":
        x.data = np.asfortranarray(x.data)
    else:  # the first columns of a wider array
        wide = np.zeros((3, 6))
        wide[:, :4] = data
        x.data = wide[:, :4]
    assert not x.data.flags.c_contiguous
    assert mg.autograd.gradcheck(lambda t: (t * t * t).sum(1), [x])
    np.testing.assert_array_equal(x.numpy(), data)  # every perturbation undone


# --- the deferred weight gradient (OuterGrad) -------------------------------------------


def test_weight_shared_across_timesteps_matches_manual_bptt(device):
    """An RNN-like loop: W_hh enters through addmm, plain matmul and a tied output
    projection (W_hh.T); U through a batched 3-D @ 2-D matmul and per-step 2-D matmuls.
    The engine batches their OuterGrad terms; the result must equal hand-written BPTT."""
    rng = np.random.default_rng(0)
    batch, steps, n_in, n_hid = 3, 6, 4, 5
    xs = rng.standard_normal((batch, steps, n_in))
    w0 = rng.standard_normal((n_hid, n_hid)) * 0.5
    u0 = rng.standard_normal((n_in, n_hid)) * 0.5
    b0 = rng.standard_normal(n_hid) * 0.1
    c = rng.standard_normal((batch, n_hid))

    W = mg.tensor(w0, device=device, requires_grad=True)
    U = mg.tensor(u0, device=device, requires_grad=True)
    b = mg.tensor(b0, device=device, requires_grad=True)
    x = mg.tensor(xs, device=device)
    projected = x @ U  # (B, T, H): one batched product
    h = mg.zeros(batch, n_hid, dtype=mg.float64, device=device)
    for t in range(steps):
        if t % 3 == 0:
            pre = mg.addmm(b, h, W) + projected[:, t]
        elif t % 3 == 1:
            pre = h @ W + x[:, t] @ U + b
        else:
            pre = mg.addmm(x[:, t] @ U + b, h, W)
        h = pre.tanh()
    out = h @ W.T  # tied weights
    (out * mg.tensor(c, device=device)).sum().backward()

    # hand-written BPTT
    hs = [np.zeros((batch, n_hid))]
    for t in range(steps):
        hs.append(np.tanh(hs[-1] @ w0 + xs[:, t] @ u0 + b0))
    d_w = c.T @ hs[-1]  # from out = h_T @ W.T
    d_u, d_b = np.zeros_like(u0), np.zeros_like(b0)
    d_h = c @ w0
    for t in reversed(range(steps)):
        d_pre = d_h * (1 - hs[t + 1] ** 2)
        d_w += hs[t].T @ d_pre
        d_u += xs[:, t].T @ d_pre
        d_b += d_pre.sum(0)
        d_h = d_pre @ w0.T
    np.testing.assert_allclose(W.grad.numpy(), d_w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(U.grad.numpy(), d_u, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), d_b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("blocks, shared", [
    ([0, 1, 2, 3], True), ([3, 2, 1, 0], True), ([1, 2], True),  # any order, any run
    ([0, 2, 3], False), ([0, 1, 1, 2], False), ([0, 1, None, 2], False),  # gap, twice, untagged
])
def test_outer_grad_blocks_of_shared_arrays_need_no_concatenation(monkeypatch, blocks, shared):
    """Terms that are consecutive rows ``k`` of two shared arrays (the recurrent step
    nodes' ``StepSlab``) are multiplied as views of them; any other set is concatenated.
    The sum is the same either way."""
    from minigrad.autograd import engine
    from minigrad.autograd.function import OuterGrad

    rng = np.random.default_rng(3)
    lhs_rows, rhs_rows = rng.standard_normal((4, 2, 3)), rng.standard_normal((4, 2, 5))
    other = (rng.standard_normal((2, 3)), rng.standard_normal((2, 5)))
    terms = [OuterGrad(*other) if k is None else
             OuterGrad(lhs_rows[k], rhs_rows[k], block=(lhs_rows, rhs_rows, k)) for k in blocks]
    joined = []
    monkeypatch.setattr(engine, "concatenate", lambda arrays, axis: joined.append(1) or
                        np.concatenate(arrays, axis=axis))
    slot = None
    for term in terms:
        slot = engine._accumulate(slot, term)
    product, owned = engine._resolve(slot)
    expected = sum(t.lhs.T @ t.rhs for t in terms)
    np.testing.assert_allclose(product, expected, rtol=1e-12)
    assert owned and (joined == []) == shared


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_recurrent_graph_path_forms_w_hh_grad_without_concatenating(monkeypatch, cls):
    """The graph path's steps share a StepSlab per layer direction: no OuterGrad
    concatenation in the whole backward (bidirectional, 2 layers)."""
    from minigrad import nn
    from minigrad.autograd import engine

    joined = []
    real = engine.concatenate
    monkeypatch.setattr(engine, "concatenate", lambda arrays, axis: joined.append(1) or
                        real(arrays, axis=axis))
    layer = getattr(nn, cls)(3, 4, num_layers=2, bidirectional=True).double()
    out, _ = layer(mg.randn(2, 5, 3, dtype=mg.float64))
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    assert joined == []
    first = [p.grad.numpy().copy() for p in layer.parameters()]
    loss.backward()  # the slabs' gradient rows are written again: the same gradients
    for p, g in zip(layer.parameters(), first):
        np.testing.assert_allclose(p.grad.numpy(), 2 * g, rtol=1e-12)


def test_weight_gradient_accumulates_onto_an_existing_grad():
    rng = np.random.default_rng(1)
    w = mg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    a = mg.tensor(rng.standard_normal((4, 3)))
    for _ in range(2):
        (a @ w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * a.numpy().T @ np.ones((4, 2)))


def test_weight_gradient_with_create_graph():
    rng = np.random.default_rng(2)
    w = mg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    a = mg.tensor(rng.standard_normal((4, 3)))
    h = mg.addmm(mg.zeros(2, dtype=mg.float64), a, w).tanh()
    ((h @ w.T) ** 2).sum().backward(create_graph=True)
    assert w.grad.requires_grad

    def first_grad_norm(weight):
        weight.grad = None  # gradcheck's own backward leaves a grad here
        hh = mg.addmm(mg.zeros(2, dtype=mg.float64), a, weight).tanh()
        ((hh @ weight.T) ** 2).sum().backward(create_graph=True)
        g = weight.grad
        weight.grad = None
        return (g * g).sum()

    assert mg.autograd.gradcheck(first_grad_norm, (w,))


# --- random streams ------------------------------------------------------------------


def test_manual_seed_makes_randn_and_rand_reproducible():
    mg.manual_seed(42)
    a, b = mg.randn(3, 4), mg.rand(5)
    mg.manual_seed(42)
    a2, b2 = mg.randn(3, 4), mg.rand(5)
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    mg.manual_seed(43)
    assert not np.array_equal(mg.randn(3, 4).numpy(), a.numpy())
    assert ((b.numpy() >= 0) & (b.numpy() < 1)).all()


def test_manual_seed_rejects_non_integers():
    with pytest.raises(TypeError, match="expected an int seed"):
        mg.manual_seed(1.5)
