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


# --- issue 11: the newer tensor methods and functions -------------------------------------
# Each row: a call on X (3, 4) float32 requiring grad, the exception PyTorch raises and a
# pattern of the message, which names what was expected and what came.

F_ = mg.nn.functional
IDX = mg.tensor([[0, 1], [2, 3], [1, 1]])

BAD_CALLS = [
    # gather / scatter / index_select
    ("gather-float-index", lambda x: x.gather(1, IDX.float()), RuntimeError,
     r"gather\(\): expected dtype int32/int64 for index, got float32"),
    ("gather-index-ndim", lambda x: x.gather(1, mg.tensor([0, 1])), RuntimeError,
     r"gather\(\): index tensor must have the same number of dimensions as input tensor: "
     r"got 1 and 2"),
    ("gather-out-of-range", lambda x: x.gather(1, mg.tensor([[0, 9]])), RuntimeError,
     r"gather\(\): index 9 is out of bounds for dimension 1 with size 4"),
    ("gather-negative", lambda x: mg.gather(x, 1, mg.tensor([[-1]])), RuntimeError,
     r"index -1 is out of bounds for dimension 1 with size 4 \(expected indices in \[0, 3\]"),
    ("gather-index-too-large", lambda x: x.gather(1, mg.zeros(4, 2, dtype=mg.int64)),
     RuntimeError, r"size does not match at dimension 0: expected index \[4, 2\] to be no "
                   r"larger than self \[3, 4\] apart from dimension 1"),
    ("gather-dim", lambda x: x.gather(2, IDX), IndexError, r"gather: dim 2 is out of range"),
    ("gather-not-a-tensor", lambda x: x.gather(1, [[0]]), TypeError,
     r"gather\(\): index must be a Tensor of int64, got list"),
    ("scatter-out-of-range", lambda x: x.scatter(1, mg.tensor([[0, 9]]), 1.0), RuntimeError,
     r"scatter\(\): index 9 is out of bounds for dimension 1 with size 4"),
    ("scatter-src-smaller", lambda x: x.scatter(1, IDX, mg.ones(3, 1)), RuntimeError,
     r"scatter\(\): expected index \[3, 2\] to be no larger than src \[3, 1\]"),
    ("scatter-src-dtype", lambda x: x.scatter(1, IDX, mg.ones(3, 2, dtype=mg.float64)),
     RuntimeError, r"expected self.dtype to be equal to src.dtype, got float32 and float64"),
    ("scatter-no-src", lambda x: x.scatter(1, IDX), TypeError, r"expected a src tensor or a"),
    ("scatter_add-out-of-range", lambda x: x.scatter_add(0, mg.tensor([[3]]), mg.ones(1, 1)),
     RuntimeError, r"scatter_add\(\): index 3 is out of bounds for dimension 0 with size 3"),
    ("index_select-matrix", lambda x: x.index_select(1, IDX), IndexError,
     r"index_select\(\): index is supposed to be a vector, got 2 dims"),
    ("index_select-float", lambda x: x.index_select(1, mg.tensor([0.0])), RuntimeError,
     r"index_select\(\): expected dtype int32/int64 for index, got float32"),
    ("index_select-out-of-range", lambda x: mg.index_select(x, 1, mg.tensor([4])),
     RuntimeError, r"index 4 is out of bounds for dimension 1 with size 4"),
    # masks
    ("masked_fill-float-mask", lambda x: x.masked_fill(mg.ones(3, 4), 1.0), RuntimeError,
     r"masked_fill\(\): expected a bool tensor for mask, got float32"),
    ("masked_fill-1d-value", lambda x: x.masked_fill(x > 0, mg.ones(2)), RuntimeError,
     r"only supports a 0-dimensional value tensor, but got tensor with 1 dimension\(s\)"),
    ("masked_fill-shape", lambda x: x.masked_fill(mg.ones(3, dtype=mg.bool), 1.0), ValueError,
     r"masked_fill\(\): mask of shape \(3,\) cannot be broadcast with input of shape \(3, 4\)"),
    ("masked_select-float-mask", lambda x: x.masked_select(mg.ones(4)), RuntimeError,
     r"masked_select\(\): expected a bool tensor for mask, got float32"),
    # sorting and sampling
    ("topk-k-too-large", lambda x: x.topk(5), RuntimeError,
     r"topk\(\): selected index k out of range: expected k in \[0, 4\] \(the size of dim -1\), "
     r"got 5"),
    ("topk-negative-k", lambda x: mg.topk(x, -1, dim=0), RuntimeError,
     r"selected index k out of range: expected k in \[0, 3\]"),
    ("sort-dim", lambda x: x.sort(2), IndexError, r"sort: dim 2 is out of range"),
    ("multinomial-negative", lambda x: mg.tensor([0.5, -0.1]).multinomial(1), RuntimeError,
     r"probability tensor contains either `inf`, `nan` or element < 0"),
    ("multinomial-nan", lambda x: mg.tensor([1.0, float("nan")]).multinomial(1), RuntimeError,
     r"probability tensor contains either `inf`, `nan` or element < 0"),
    ("multinomial-all-zero-row", lambda x: mg.tensor([[1.0, 1.0], [0.0, 0.0]]).multinomial(1),
     RuntimeError, r"invalid multinomial distribution \(sum of probabilities <= 0\) in row 1"),
    ("multinomial-too-many", lambda x: mg.tensor([0.5, 0.5]).multinomial(3), RuntimeError,
     r"cannot sample n_sample > prob_dist.size\(-1\) samples without replacement: 3 > 2"),
    ("multinomial-zero-samples", lambda x: mg.ones(3).multinomial(0), RuntimeError,
     r"cannot sample n_sample <= 0 samples, got 0"),
    ("multinomial-3d", lambda x: mg.ones(2, 2, 2).multinomial(1), RuntimeError,
     r"prob_dist must be 1 or 2 dim, got 3 dims"),
    ("multinomial-int", lambda x: mg.tensor([1, 2]).multinomial(1), RuntimeError,
     r"only floating-point dtypes are supported for input, got int64"),
    ("multinomial-generator", lambda x: mg.ones(3).multinomial(1, generator=1), TypeError,
     r"generator must be a minigrad.Generator, got int"),
    # shapes and dims
    ("narrow-too-long", lambda x: x.narrow(1, 3, 2), RuntimeError,
     r"narrow\(\): start \(3\) \+ length \(2\) exceeds dimension size \(4\)"),
    ("narrow-start", lambda x: x.narrow(1, 5, 0), IndexError,
     r"start out of range \(expected to be in range of \[-4, 4\], but got 5\)"),
    ("narrow-length", lambda x: x.narrow(1, 0, -1), RuntimeError,
     r"narrow\(\): length must be non-negative, got -1"),
    ("repeat-too-few", lambda x: x.repeat(2), RuntimeError,
     r"number of dimensions of repeat dims \(1\) can not be smaller than number of "
     r"dimensions of tensor \(2\)"),
    ("repeat-negative", lambda x: x.repeat(2, -1), RuntimeError,
     r"repeats must be non-negative, got \[2, -1\]"),
    ("tril-1d", lambda x: mg.ones(3).tril(), RuntimeError,
     r"tril\(\): input tensor must have at least 2 dimensions, got 1"),
    ("diag-3d", lambda x: mg.ones(2, 2, 2).diag(), RuntimeError,
     r"diag\(\): supports 1D or 2D tensors, got 3D"),
    ("roll-misaligned", lambda x: x.roll((1, 2), (0,)), RuntimeError,
     r"shifts and dimensions must align. shifts: 2, dims: 1"),
    ("flip-repeated-dim", lambda x: x.flip(0, 0), RuntimeError,
     r"flip\(\): dim 0 appears multiple times in the list of dims"),
    ("flip-dim", lambda x: x.flip(2), IndexError, r"flip: dim 2 is out of range"),
    ("repeat_interleave-negative", lambda x: x.repeat_interleave(mg.tensor([1, -1, 1]), dim=0),
     RuntimeError, r"repeats can not be negative"),
    ("repeat_interleave-length", lambda x: x.repeat_interleave(mg.tensor([1, 1]), dim=0),
     RuntimeError, r"repeats must have the same size as input along dim, but got "
                   r"repeats.size\(0\) = 2 and input.size\(dim\) = 3"),
    ("repeat_interleave-float", lambda x: x.repeat_interleave(mg.tensor([1.0, 1, 1]), dim=0),
     TypeError, r"repeats must be an int or an integer tensor, got dtype float32"),
    ("cumsum-dim", lambda x: x.cumsum(2), IndexError, r"cumsum: dim 2 is out of range"),
    ("norm-int", lambda x: mg.tensor([1, 2]).norm(), RuntimeError,
     r"norm\(\): expected a floating point tensor as input, got int64"),
    ("norm-nuc", lambda x: x.norm("nuc"), ValueError,
     r"norm\(\): p must be a number, inf, -inf or 'fro', got 'nuc'"),
    # arithmetic
    ("div-rounding-mode", lambda x: x.div(x, rounding_mode="round"), ValueError,
     r"div\(\): expected rounding_mode to be one of None, 'trunc', or 'floor', got 'round'"),
    ("div-integer-by-zero", lambda x: mg.tensor([1]).div(mg.tensor([0]),
                                                        rounding_mode="floor"),
     ZeroDivisionError, r"div: integer division by zero \(rounding_mode='floor'\)"),
    ("add-float-alpha-int", lambda x: mg.tensor([7]).add(mg.tensor([1]), alpha=0.5),
     RuntimeError, r"add\(\): for integral input tensors, argument alpha must not be a "
                   r"floating point number, got alpha=0.5"),
    ("maximum-scalar", lambda x: x.maximum(1.0), TypeError,
     r"maximum\(\): argument 'other' must be a Tensor, got float"),
    ("maximum-shapes", lambda x: mg.maximum(x, mg.ones(3)), ValueError,
     r"maximum\(\): shapes \(3, 4\) and \(3,\) cannot be broadcast together"),
    ("allclose-dtype", lambda x: mg.allclose(x, x.double()), RuntimeError,
     r"expected both tensors to have the same dtype, got float32 and float64"),
    ("allclose-shape", lambda x: x.allclose(mg.ones(2)), ValueError,
     r"isclose\(\): shapes \(3, 4\) and \(2,\) cannot be broadcast together"),
    # products
    ("bmm-2d", lambda x: mg.bmm(x, x), RuntimeError,
     r"bmm\(\): batch1 must be a 3D tensor, got shape \(3, 4\)"),
    ("bmm-batch", lambda x: mg.ones(2, 3, 4).bmm(mg.ones(3, 4, 5)), RuntimeError,
     r"expected size for first two dimensions of batch2 tensor to be: \[2, 4\] but got: "
     r"\[3, 4\]"),
    ("baddbmm-input", lambda x: mg.baddbmm(mg.ones(3), mg.ones(2, 3, 4), mg.ones(2, 4, 5)),
     RuntimeError, r"baddbmm\(\): input of shape \(3,\) cannot be broadcast to the product's "
                   r"shape \(2, 3, 5\)"),
    ("outer-2d", lambda x: mg.outer(x, mg.ones(3)), RuntimeError,
     r"outer\(\): expected 1-D argument self, but got 2-D"),
    ("einsum-size", lambda x: mg.einsum("ij,jk", x, x), RuntimeError,
     r"einsum\(\): subscript j has size 3 for operand 1 which does not broadcast with "
     r"previously seen size 4"),
    ("einsum-operands", lambda x: mg.einsum("ij,jk->ik", x), RuntimeError,
     r"einsum\(\): fewer operands were provided than specified in the equation"),
    ("einsum-ndim", lambda x: mg.einsum("ijk->i", x), RuntimeError,
     r"the number of subscripts in the equation \(3\) does not match the number of "
     r"dimensions \(2\) for operand 0 and no ellipsis was given"),
    ("einsum-output-unknown", lambda x: mg.einsum("ij->k", x), RuntimeError,
     r"output subscript k does not appear in the equation for any input operand"),
    ("einsum-output-repeated", lambda x: mg.einsum("ij->ii", x), RuntimeError,
     r"output subscript i appears more than once in the output"),
    ("einsum-bad-character", lambda x: mg.einsum("i1->i", x), ValueError,
     r"invalid subscript string 'i1'"),
    ("einsum-repeat-sizes", lambda x: mg.einsum("ii->i", x), RuntimeError,
     r"subscript i is repeated for operand 0 but the sizes don't match, 3 != 4"),
    # nn.functional
    ("pad-odd", lambda x: F_.pad(x, (1, 2, 3)), ValueError,
     r"pad: padding length must be divisible by 2, got 3"),
    ("pad-too-long", lambda x: F_.pad(x, (1,) * 6), ValueError,
     r"padding length 6 and input of dimension 2"),
    ("pad-mode", lambda x: F_.pad(x, (1, 1), mode="foo"), NotImplementedError,
     r"pad: unrecognised padding mode 'foo'"),
    ("pad-reflect-too-wide", lambda x: F_.pad(x, (4, 0), mode="reflect"), RuntimeError,
     r"padding size should be less than the corresponding input dimension, but got "
     r"padding \(4, 0\) at dimension 1 of input \[3, 4\]"),
    ("pad-reflect-1d", lambda x: F_.pad(mg.ones(3), (1, 1), mode="reflect"),
     NotImplementedError, r"padding size 2 is not supported for 1D input tensor"),
    ("pad-reflect-value", lambda x: F_.pad(x, (1, 1), mode="reflect", value=1.0),
     RuntimeError, r'padding mode "reflect" doesn\'t take in value argument'),
    ("pad-crop-too-much", lambda x: F_.pad(x, (-3, -3)), RuntimeError,
     r"negative padding \(-3, -3\) removes more than the dim's 4 elements"),
    ("gelu-approximate", lambda x: F_.gelu(x, approximate="fast"), RuntimeError,
     r"approximate argument must be either none or tanh, got 'fast'"),
    ("GELU-approximate", lambda x: mg.nn.GELU("erf"), RuntimeError,
     r"GELU: approximate argument must be either none or tanh"),
    ("cosine_similarity-shapes", lambda x: F_.cosine_similarity(x, mg.ones(3, 2)), ValueError,
     r"cosine_similarity: shapes \(3, 4\) and \(3, 2\) cannot be broadcast together"),
    ("type-name", lambda x: x.type("minigrad.FooTensor"), ValueError,
     r"invalid type: 'minigrad.FooTensor'"),
]


@pytest.mark.parametrize("name, call, error, pattern", BAD_CALLS,
                         ids=[row[0] for row in BAD_CALLS])
def test_bad_input_to_tensor_methods(name, call, error, pattern):
    x = mg.tensor(np.arange(12.0).reshape(3, 4), dtype=mg.float32, requires_grad=True)
    with pytest.raises(error, match=pattern):
        call(x)
    # nothing changed: the input and its (absent) gradient are as before
    assert x.tolist() == np.arange(12.0).reshape(3, 4).tolist() and x.grad is None
