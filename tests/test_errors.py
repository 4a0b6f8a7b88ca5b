"""Bad input fails loudly, with a message that says what went wrong and where --
and a failed call changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend

# --- shapes ------------------------------------------------------------------------------


def test_matmul_shape_mismatch():
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not "
                                         r"aligned.*got 3 and 4"):
        mg.randn(2, 3) @ mg.randn(4, 5)
    with pytest.raises(ValueError, match=r"matmul: shapes \(3,\) and \(4,\)"):
        mg.matmul(mg.randn(3), mg.randn(4))
    with pytest.raises(ValueError, match=r"matmul: batch dims of shapes \(2, 3, 4\) and "
                                         r"\(3, 4, 5\) cannot be broadcast"):
        mg.randn(2, 3, 4) @ mg.randn(3, 4, 5)
    with pytest.raises(ValueError, match="matmul: both arguments need at least 1 dim"):
        mg.randn(2, 3) @ mg.tensor(2.0)


def test_addmm_shape_mismatch():
    with pytest.raises(ValueError, match=r"addmm: expected 2-D mat1 \(n, k\) and mat2 "
                                         r"\(k, m\), got \(2, 3\) and \(4, 3\)"):
        mg.addmm(mg.zeros(3), mg.ones(2, 3), mg.ones(4, 3))
    with pytest.raises(ValueError, match=r"addmm: input of shape \(7,\) cannot be "
                                         r"broadcast to the product's shape \(2, 4\)"):
        mg.addmm(mg.zeros(7), mg.ones(2, 3), mg.ones(3, 4))


@pytest.mark.parametrize("name, op", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b),
])
def test_broadcasting_mismatch_names_the_op_and_both_shapes(name, op):
    with pytest.raises(ValueError, match=rf"{name}: shapes \(2, 3\) and \(4,\) cannot be "
                                         "broadcast together"):
        op(mg.ones(2, 3), mg.ones(4))


def test_broadcasting_mismatch_in_reverse_operands_and_comparisons():
    with pytest.raises(ValueError, match=r"sub: shapes \(4,\) and \(2, 3\)"):
        np.ones(4) - mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"gt: shapes \(2, 3\) and \(4,\) cannot be "
                                         "broadcast"):
        _ = mg.ones(2, 3) > mg.ones(4)


def test_where_mismatch():
    with pytest.raises(ValueError, match=r"where: .*shapes \(2, 3\), \(2, 3\) and \(4,\) "
                                         "cannot be broadcast"):
        mg.where(mg.ones(2, 3) > 0, mg.ones(2, 3), mg.ones(4))
    with pytest.raises(TypeError, match="where: condition must be a bool tensor"):
        mg.where(mg.ones(2), mg.ones(2), mg.ones(2))


@pytest.mark.parametrize("shape", [(4,), (-1, 4), (7, -1)])
def test_reshape_mismatch(shape):
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) "
                                         r"\(6 elements\) into shape"):
        mg.ones(2, 3).reshape(shape)
    with pytest.raises(ValueError, match="reshape: cannot reshape"):
        mg.ones(2, 3).view(*shape)


def test_other_shape_op_errors():
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match=r"expand: the size of dim 0 \(2\) must match 4"):
        x.expand(4, 3)
    with pytest.raises(ValueError, match=r"permute: expected a permutation of 2 dims, "
                                         r"got \(0, 3\)"):
        x.permute(0, 3)
    with pytest.raises(ValueError, match="permute: expected a permutation"):
        x.permute(0, 0)
    with pytest.raises(IndexError, match=r"transpose: dim 2 is out of range for a tensor "
                                         r"of 2 dimension\(s\) \(expected a dim in \[-2, 1\]"):
        x.transpose(0, 2)
    with pytest.raises(IndexError, match="unsqueeze: dim 3 out of range"):
        x.unsqueeze(3)
    with pytest.raises(IndexError, match="squeeze: dim 2 is out of range"):
        x.squeeze(2)
    with pytest.raises(IndexError, match="flatten: dim 5 is out of range"):
        x.flatten(0, 5)
    with pytest.raises(ValueError, match=r"split: sections \[1, 3\] sum to 4, expected the "
                                         r"size of dim 1 \(3\)"):
        x.split([1, 3], dim=1)
    with pytest.raises(ValueError, match="split: split_size must be positive"):
        x.split(0)
    with pytest.raises(ValueError, match="chunk: chunks must be positive"):
        x.chunk(0)


@pytest.mark.parametrize("op", ["sum", "mean", "var", "max", "min"])
def test_reduction_dim_out_of_range(op):
    with pytest.raises(IndexError, match=rf"{op}: dim 2 is out of range"):
        getattr(mg.ones(2, 3), op)(dim=2)
    with pytest.raises(IndexError, match=rf"{op}: dim -3 is out of range"):
        getattr(mg.ones(2, 3), op)(-3)


def test_max_of_an_empty_tensor():
    with pytest.raises(RuntimeError, match=r"max: expected a non-empty tensor"):
        mg.zeros(0).max()


def test_cat_and_stack_mismatch():
    with pytest.raises(ValueError, match=r"cat: tensor 1 has shape \(2, 4\), expected "
                                         r"\(2, 3\) except in dim 0"):
        mg.cat([mg.ones(2, 3), mg.ones(2, 4)])
    with pytest.raises(ValueError, match=r"cat: tensor 2 has shape \(3,\)"):
        mg.cat([mg.ones(2, 3), mg.ones(1, 3), mg.ones(3)])
    with pytest.raises(ValueError, match=r"stack: tensor 1 has shape \(2, 4\), expected "
                                         r"\(2, 3\) \(all tensors must have the same shape\)"):
        mg.stack([mg.ones(2, 3), mg.ones(2, 4)])
    with pytest.raises(ValueError, match="cat: expected a non-empty sequence"):
        mg.cat([])
    with pytest.raises(ValueError, match="cat: zero-dimensional tensors cannot be "
                                         "concatenated"):
        mg.cat([mg.tensor(1.0), mg.tensor(2.0)])
    with pytest.raises(IndexError, match="stack: dim 3 out of range"):
        mg.stack([mg.ones(2), mg.ones(2)], dim=3)
    with pytest.raises(TypeError, match="stack: expected Tensors, got ndarray"):
        mg.stack([mg.ones(2), np.ones(2)])


# --- indexing -----------------------------------------------------------------------------


@pytest.mark.parametrize("index", [5, -4, (0, 3), [0, 7], (slice(None), [3])])
def test_index_out_of_range(index):
    with pytest.raises(IndexError, match=r"index: .*out of bounds.*\(indexing a tensor of "
                                         r"shape \(3,( 3)?\)\)"):
        (mg.ones(3) if not isinstance(index, tuple) else mg.ones(3, 3))[index]


def test_index_with_a_tensor_index_out_of_range():
    with pytest.raises(IndexError, match=r"index 3 is out of bounds.*shape \(3,\)"):
        mg.ones(3)[mg.tensor([0, 3])]


def test_index_with_bad_index_tensors():
    with pytest.raises(IndexError, match="tensors used as indices must be int64 or bool, "
                                         "got float32"):
        mg.ones(3)[mg.tensor([0.0, 1.0])]
    with pytest.raises(IndexError, match="boolean index did not match"):
        mg.ones(3)[mg.tensor([True, False])]


def test_setitem_on_a_leaf_that_requires_grad():
    x = mg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem: a leaf Variable that requires grad is "
                                           "being used in an in-place operation.*no_grad"):
        x[0] = 1.0
    assert x.tolist() == [0.0, 0.0, 0.0] and x._version == 0
    with mg.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0, 0.0] and x._version == 1


# --- autograd misuse -------------------------------------------------------------------


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match=r"requires_grad_: only floating point tensors can "
                                           r"require gradients, got dtype int64"):
        mg.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="only floating point tensors"):
        mg.zeros(2, dtype=mg.int64, requires_grad=True)


def test_non_scalar_backward_needs_a_gradient():
    y = mg.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for a scalar "
                                           r"output, got a tensor of shape \(2, 3\)"):
        y.backward()


@pytest.mark.parametrize("gradient", [np.ones(3), np.ones((3, 2)), mg.ones(6)])
def test_backward_with_a_gradient_of_the_wrong_shape(gradient):
    y = mg.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"backward: gradient has shape .* expected the "
                                           r"output's shape \(2, 3\)"):
        y.backward(gradient)


def test_backward_on_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.ones(3).sum().backward()
    x = mg.ones(3, requires_grad=True)
    with mg.no_grad():
        y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="does not require grad.*no_grad"):
        y.backward()


def test_item_of_a_multi_element_tensor():
    with pytest.raises(ValueError, match=r"item: only one-element tensors.*shape \(2, 3\)"):
        mg.ones(2, 3).item()


def test_misc_argument_errors():
    with pytest.raises(ValueError, match="clamp: at least one of min and max"):
        mg.ones(2).clamp()
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(mg.tensor(1.0))
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(mg.tensor(1.0))
    with pytest.raises(TypeError, match="~ expects a bool tensor"):
        ~mg.ones(2)
    with pytest.raises(TypeError):
        mg.ones(2) + "a"


def test_gradcheck_reports_the_worst_element():
    class WrongGrad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    x = mg.randn(2, 2, dtype=mg.float64, requires_grad=True)
    with pytest.raises(AssertionError, match=r"gradcheck failed for input 0 \(shape \(2, 2\)\)"
                                             r" at element .*analytic .* numeric"):
        mg.autograd.gradcheck(WrongGrad.apply, (x,))
    assert not mg.autograd.gradcheck(WrongGrad.apply, (x,), raise_exception=False)
    with pytest.raises(TypeError, match="gradcheck: inputs should be float64"):
        mg.autograd.gradcheck(lambda t: t * 2, (mg.randn(2, requires_grad=True),))
    with pytest.raises(ValueError, match="gradcheck: no input requires grad"):
        mg.autograd.gradcheck(lambda t: t * 2, (mg.randn(2, dtype=mg.float64),))


# --- devices ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda: mg.zeros(2, device="tpu"),
    lambda: mg.tensor([1.0], device="tpu"),
    lambda: mg.ones(2).to("tpu"),
    lambda: mg.randn(2, device="gpu"),
])
def test_unknown_device(make):
    with pytest.raises(ValueError, match=r"unknown device '(tpu|gpu)': expected 'cpu' or "
                                         r"'cuda'"):
        make()


@pytest.mark.skipif(mg.cuda.is_available(), reason="checks the message shown without a GPU")
@pytest.mark.parametrize("make", [
    lambda: mg.zeros(2, device="cuda"),
    lambda: mg.tensor([1.0], device="cuda:0"),
    lambda: mg.ones(2).cuda(),
    lambda: mg.ones(2).to("cuda"),
])
def test_cuda_unavailable(make):
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available: .*"
                                           r"pip install -e '\.\[cuda\]'"):
        make()
    assert not mg.cuda.is_available()


class _FakeGpuArray(np.ndarray):
    """A NumPy array that minigrad is told lives on 'cuda' (no GPU needed)."""


@pytest.fixture
def fake_cuda(monkeypatch):
    real = backend.device_of
    monkeypatch.setattr(backend, "device_of",
                        lambda a: "cuda" if isinstance(a, _FakeGpuArray) else real(a))

    def make(*shape):
        t = mg.ones(*shape)
        t.data = t.data.view(_FakeGpuArray)
        assert t.device == "cuda"
        return t

    return make


@pytest.mark.parametrize("name, op", [
    ("add", lambda a, b: a + b), ("mul", lambda a, b: a * b), ("sub", lambda a, b: a - b),
    ("div", lambda a, b: a / b), ("matmul", lambda a, b: a @ b),
    ("cat", lambda a, b: mg.cat([a, b])), ("stack", lambda a, b: mg.stack([a, b])),
    ("where", lambda a, b: mg.where(a > 0, a, b)), ("lt", lambda a, b: a < b),
])
def test_mixing_devices_names_both(fake_cuda, name, op):
    a = mg.ones(2, 2, requires_grad=True)
    gpu = fake_cuda(2, 2)
    with pytest.raises(RuntimeError, match=rf"{name}: expected all tensors on the same "
                                           r"device, got \[?'?cpu'?,? (and )?'?cuda"):
        op(a, gpu)
    assert a.grad is None


@pytest.mark.parametrize("name, op", [
    ("add", lambda gpu, scalar: gpu + scalar), ("add", lambda gpu, scalar: scalar + gpu),
    ("mul", lambda gpu, scalar: gpu * scalar), ("sub", lambda gpu, scalar: scalar - gpu),
    ("div", lambda gpu, scalar: gpu / scalar), ("pow", lambda gpu, scalar: gpu ** scalar),
    ("where", lambda gpu, scalar: mg.where(gpu > 0, gpu, scalar)),
    ("gt", lambda gpu, scalar: gpu > scalar),
])
@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
def test_a_zero_dim_cpu_tensor_with_a_cuda_tensor_raises(fake_cuda, name, op, dtype):
    # PyTorch moves CPU scalars silently; here every operand must be on one device
    scalar = mg.tensor(2.0, dtype=dtype, requires_grad=True)
    with pytest.raises(RuntimeError, match=rf"{name}: expected all tensors on the same "
                                           r"device, got (cuda and cpu|cpu and cuda) "
                                           r"\(move one with \.to"):
        op(fake_cuda(2, 2), scalar)


def test_a_zero_dim_cuda_tensor_with_a_cpu_tensor_raises(fake_cuda):
    with pytest.raises(RuntimeError, match="mul: expected all tensors on the same device, "
                                           "got cpu and cuda"):
        mg.ones(3) * fake_cuda()


def test_where_checks_the_device_of_the_condition(fake_cuda):
    a, b = fake_cuda(2), fake_cuda(2)
    with pytest.raises(RuntimeError, match="where: expected all tensors on the same "
                                           "device, got cpu and cuda"):
        mg.where(mg.tensor([True, False]), a, b)


def test_custom_function_gradient_of_the_wrong_shape():
    class Bad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, scale, x):
            return x * scale

        @staticmethod
        def backward(ctx, grad):
            return None, grad.sum()

    x = mg.ones(3, requires_grad=True)
    loss = Bad.apply(2.0, x).sum()
    with pytest.raises(RuntimeError, match=r"^Function BadBackward returned an invalid "
                                           r"gradient at index 1 - got \[\] but expected "
                                           r"shape compatible with \[3\]$"):
        loss.backward()
    assert x.grad is None


def test_custom_function_gradient_that_is_not_a_tensor():
    class Bad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return 2.0

    with pytest.raises(TypeError, match="Function BadBackward returned a float at index 0, "
                                        "expected a Tensor or None"):
        Bad.apply(mg.ones(3, requires_grad=True)).sum().backward()


# --- a failed call changes nothing -----------------------------------------------------


def test_failed_backward_leaves_grads_unchanged():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    y = x * x
    with pytest.raises(RuntimeError, match="gradient has shape"):
        y.backward(np.ones(3))
    with pytest.raises(RuntimeError, match="only for a scalar output"):
        y.backward()
    assert x.grad.tolist() == [3.0, 3.0]
    y.backward(np.ones(2))  # the graph is intact: the failed calls freed nothing
    assert x.grad.tolist() == [5.0, 7.0]


def test_failed_backward_through_a_freed_graph_leaves_grads_unchanged():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    assert x.grad.tolist() == [2.0, 4.0]


def test_an_error_inside_backward_leaves_grads_unchanged():
    class Exploding(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, grad):
            raise FloatingPointError("boom")

    x = mg.tensor([1.0, 2.0], requires_grad=True)
    x.grad = mg.tensor([10.0, 10.0])
    loss = (x * 2).sum() + Exploding.apply(x.tanh()).sum()
    with pytest.raises(FloatingPointError, match="boom"):
        loss.backward()
    assert x.grad.tolist() == [10.0, 10.0]  # leaves are written only once all ran


def test_failed_ops_record_nothing():
    x = mg.ones(2, 3, requires_grad=True)
    for bad in (lambda: x @ mg.ones(2, 3), lambda: x + mg.ones(4), lambda: x.reshape(5),
                lambda: mg.cat([x, mg.ones(3)]), lambda: x[7]):
        with pytest.raises((ValueError, IndexError)):
            bad()
    assert x.grad is None and x.shape == (2, 3)
    (x * 2).sum().backward()
    assert x.grad.tolist() == [[2.0] * 3] * 2
