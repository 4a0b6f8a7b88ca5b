"""In-place ops and version counters, as PyTorch specifies them.

Each differentiable in-place op is checked against its out-of-place twin: the same
values and the same gradients for the written tensor's old value and for the operand,
in float64.  Then the version-counter rules: the classic failures must raise PyTorch's
error, the classic successes must give the right gradients.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

RNG = np.random.default_rng(0)


def _t(shape, requires_grad=True, low=None):
    data = RNG.standard_normal(shape) if low is None else RNG.uniform(low, 2.0, shape)
    return mg.tensor(data, dtype=mg.float64, requires_grad=requires_grad)


MASK = mg.tensor(np.array([[True, False, True], [False, False, True]]))
INDEX = mg.tensor([2, 0, 2])

# name -> (in-place call, out-of-place reference, operand shape or None)
INPLACE = {
    "add_": (lambda t, o: t.add_(o), lambda t, o: t + o, (2, 3)),
    "add_alpha": (lambda t, o: t.add_(o, alpha=-0.5), lambda t, o: t - 0.5 * o, (3,)),
    "sub_": (lambda t, o: t.sub_(o), lambda t, o: t - o, (2, 3)),
    "mul_": (lambda t, o: t.mul_(o), lambda t, o: t * o, (2, 3)),
    "div_": (lambda t, o: t.div_(o), lambda t, o: t / o, (1, 3)),
    "iadd": (lambda t, o: t.__iadd__(o), lambda t, o: t + o, (2, 3)),
    "isub": (lambda t, o: t.__isub__(o), lambda t, o: t - o, (2, 3)),
    "imul": (lambda t, o: t.__imul__(o), lambda t, o: t * o, (2, 3)),
    "itruediv": (lambda t, o: t.__itruediv__(o), lambda t, o: t / o, (2, 3)),
    "pow_": (lambda t, o: t.pow_(2), lambda t, o: t ** 2, None),
    "clamp_": (lambda t, o: t.clamp_(-0.5, 0.5), lambda t, o: t.clamp(-0.5, 0.5), None),
    "exp_": (lambda t, o: t.exp_(), lambda t, o: t.exp(), None),
    "tanh_": (lambda t, o: t.tanh_(), lambda t, o: t.tanh(), None),
    "sigmoid_": (lambda t, o: t.sigmoid_(), lambda t, o: t.sigmoid(), None),
    "relu_": (lambda t, o: t.relu_(), lambda t, o: t.relu(), None),
    "neg_": (lambda t, o: t.neg_(), lambda t, o: -t, None),
    "masked_fill_": (lambda t, o: t.masked_fill_(MASK, 0.25),
                     lambda t, o: mg.where(MASK, 0.25, t), None),
    "masked_fill_tensor": (lambda t, o: t.masked_fill_(MASK, o),
                           lambda t, o: mg.where(MASK, o, t), ()),
    "fill_": (lambda t, o: t.fill_(1.5), lambda t, o: t * 0 + 1.5, None),
    "fill_tensor": (lambda t, o: t.fill_(o), lambda t, o: t * 0 + o, ()),
    "zero_": (lambda t, o: t.zero_(), lambda t, o: t * 0, None),
    "copy_": (lambda t, o: t.copy_(o), lambda t, o: t * 0 + o, (3,)),
    "index_add_": (lambda t, o: t.index_add_(1, INDEX, o),
                   lambda t, o: t + mg.stack([o[:, 1], o[:, 0] * 0,
                                              o[:, 0] + o[:, 2]], 1), (2, 3)),
    "setitem": (lambda t, o: t.__setitem__((slice(None), 1), o) or t,
                lambda t, o: mg.stack([t[:, 0], o, t[:, 2]], 1), (2,)),
    "setitem_scalar": (lambda t, o: t.__setitem__(0, 3.0) or t,
                       lambda t, o: mg.stack([t[0] * 0 + 3.0, t[1]]), None),
    "setitem_mask": (lambda t, o: t.__setitem__(MASK, 0.0) or t,
                     lambda t, o: mg.where(MASK, 0.0, t), None),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_matches_out_of_place(name):
    """Values and gradients (for the old value and the operand) as the out-of-place op."""
    call, reference, operand_shape = INPLACE[name]
    x = _t((2, 3), low=0.5)
    operand = None if operand_shape is None else _t(operand_shape, low=0.5)
    upstream = mg.tensor(RNG.standard_normal((2, 3)))

    expected = reference(x * 1, operand)
    (expected * upstream).sum().backward()
    expected_grads = [x.grad.numpy().copy(),
                      None if operand is None else operand.grad.numpy().copy()]
    x.grad = None
    if operand is not None:
        operand.grad = None

    target = x * 1  # a non-leaf: in-place is allowed
    version = target._version
    out = call(target, operand)
    assert out is target and target._version == version + 1
    np.testing.assert_allclose(target.numpy(), expected.numpy(), rtol=1e-12, atol=1e-12)
    (target * upstream).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), expected_grads[0], rtol=1e-12, atol=1e-12)
    if operand is not None:
        np.testing.assert_allclose(operand.grad.numpy(), expected_grads[1], rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.parametrize("name", ["add_", "mul_", "exp_", "setitem", "copy_", "fill_"])
def test_inplace_without_graph_writes_the_same_values(name):
    call, reference, operand_shape = INPLACE[name]
    x = _t((2, 3), requires_grad=False, low=0.5)
    operand = None if operand_shape is None else _t(operand_shape, requires_grad=False)
    expected = reference(x * 1, operand).numpy()
    data = x.data
    call(x, operand)
    assert x.data is data  # written into the same array: views and holders see it
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-12)
    assert x.grad_fn is None and not x.requires_grad


# --- the version-counter rules -------------------------------------------------------

def _sigmoid_then_mul_():
    x = mg.randn(3, requires_grad=True)
    y = x.sigmoid()
    y.mul_(2)
    return y.sum()


def _exp_then_exp_():
    x = mg.randn(3, requires_grad=True)
    y = x.exp()
    y.exp_()
    return y.sum()


def _write_into_saved_input():
    w = mg.randn(3, 3, requires_grad=True)
    h = mg.randn(2, 3, requires_grad=True) * 1
    out = h @ w           # saves h (needed for dL/dw)
    h[0] = 0.0
    return out.sum()


def _write_through_a_view():
    x = mg.randn(2, 3, requires_grad=True)
    y = x.tanh()          # saves its output
    y[0].mul_(2)          # a write into y's storage through a view
    return y.sum()


def _transpose_view_after_save():
    x = mg.randn(2, 3, requires_grad=True)
    y = x.sigmoid()
    with mg.no_grad():
        y.t().zero_()     # even without recording, the storage was overwritten
    return y.sum()


FAILURES = [_sigmoid_then_mul_, _exp_then_exp_, _write_into_saved_input,
            _write_through_a_view, _transpose_view_after_save]


@pytest.mark.parametrize("build", FAILURES, ids=lambda f: f.__name__.strip("_"))
def test_backward_through_an_overwritten_saved_value_raises(build):
    loss = build()
    with pytest.raises(RuntimeError, match=r"one of the variables needed for gradient "
                       r"computation has been modified by an inplace operation: "
                       r"\[minigrad\.\w+Tensor \[[\d, ]+\]\], .* is at version \d+; "
                       r"expected version \d+ instead"):
        loss.backward()


def test_setitem_into_a_fresh_buffer_is_differentiable():
    """The seq2seq idiom: ``outputs[t] = y_t`` into ``zeros``, then a loss on outputs."""
    steps = _t((4, 2, 3))
    outputs = mg.zeros(4, 2, 3, dtype=mg.float64)
    for t in range(4):
        outputs[t] = steps[t] * (t + 1)
    weights = mg.tensor(RNG.standard_normal((4, 2, 3)))
    (outputs * weights).sum().backward()
    expected = weights.numpy() * np.arange(1, 5)[:, None, None]
    np.testing.assert_allclose(steps.grad.numpy(), expected, rtol=1e-12)
    assert outputs._version == 4


def test_reading_a_buffer_while_writing_it():
    """h[:, t] = f(h[:, t-1]): each read sees the value before the later writes."""
    x = _t((3,))
    h = mg.zeros(3, 4, dtype=mg.float64)
    h[:, 0] = x
    for t in range(1, 4):
        h[:, t] = h[:, t - 1] * 2.0
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 1 + 2 + 4 + 8.0))


def test_inplace_relu_after_linear():
    mg.manual_seed(0)
    lin = mg.nn.Linear(3, 2).double()
    x = _t((5, 3), requires_grad=False)
    reference = mg.nn.Linear(3, 2).double()
    reference.load_state_dict(lin.state_dict())
    reference(x).relu().sum().backward()
    h = lin(x)
    h.relu_()
    h.sum().backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), reference.weight.grad.numpy())


def test_earlier_users_keep_the_old_value():
    """y = x * 2 used x before x.mul_(3): y's gradient reaches x's old value unscaled."""
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    x = a * 1
    y = x * 2
    x.mul_(3)
    (y.sum() + x.sum()).backward()
    assert a.grad.tolist() == [5.0, 5.0]


def test_mul_inplace_keeps_a_copy_of_the_value_it_needs():
    a = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = mg.tensor([2.0, 3.0, 4.0], requires_grad=True)
    b = a * 1
    b.mul_(c)
    b.sum().backward()
    assert c.grad.tolist() == [1.0, 2.0, 3.0] and a.grad.tolist() == [2.0, 3.0, 4.0]


def test_write_into_a_view_is_recorded_on_its_base():
    a = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    base = a * 1
    view = base[0]
    view.mul_(10)
    assert base.tolist() == [[10.0, 20.0], [3.0, 4.0]]
    base.sum().backward()
    assert a.grad.tolist() == [[10.0, 10.0], [1.0, 1.0]]
    assert base._version == view._version == 1


def test_versions_are_shared_by_views():
    x = mg.zeros(2, 3)
    v = x[1]
    t = x.t()
    v.add_(1)
    assert x._version == v._version == t._version == 1
    x.zero_()
    assert t._version == 2


# --- errors -----------------------------------------------------------------------------

def test_inplace_on_a_leaf_that_requires_grad():
    p = mg.zeros(3, requires_grad=True)
    for write in (lambda: p.add_(1), lambda: p.mul_(2), lambda: p.zero_(),
                  lambda: p.__iadd__(1), lambda: p.__setitem__(0, 1.0)):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is "
                                               "being used in an in-place operation"):
            write()
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        p[1:].add_(1)
    assert p.tolist() == [0.0, 0.0, 0.0] and p._version == 0
    with mg.no_grad():  # where weight updates belong
        p.add_(1)
        p[0] = 5.0
    assert p.tolist() == [5.0, 1.0, 1.0]


@pytest.mark.parametrize("write, message", [
    (lambda x: x.add_(mg.ones(2, 2, 3)), r"output with shape \[2, 3\] doesn't match the "
                                         r"broadcast shape \[2, 2, 3\]"),
    (lambda x: x.long().add_(0.5), "result type float.* can't be cast to the desired "
                                   "output type int64"),
    (lambda x: x.masked_fill_(mg.ones(2, 3), 0.0), "only supports boolean masks"),
    (lambda x: x.masked_fill_(mg.ones(4, 3, dtype=mg.bool), 0.0), "must be broadcastable"),
    (lambda x: x.fill_(mg.ones(2)), "fill_: only supports 0-dimension value tensor"),
    (lambda x: x.index_add_(1, mg.tensor([0.0]), mg.ones(2, 1)), "index must be a 1-D "
                                                                  "integer"),
    (lambda x: x.index_add_(1, mg.tensor([0, 1]), mg.ones(2, 3)), r"source of shape \(2, 3\) "
                                                                   "does not match"),
    (lambda x: x.index_add_(1, mg.tensor([0, 7]), mg.ones(2, 2)), "index out of range"),
    (lambda x: x.expand(4, 2, 3).add_(1), "expand"),
    (lambda x: x.__setitem__(0, mg.ones(4)), r"cannot assign a value of shape \(4,\)"),
])
def test_bad_inplace_writes_raise_before_changing_anything(write, message):
    x = mg.tensor(RNG.standard_normal((2, 3)))
    before = x.numpy().copy()
    with pytest.raises((RuntimeError, IndexError), match=message):
        write(x)
    np.testing.assert_array_equal(x.numpy(), before)


def test_inplace_on_a_reshaped_view_in_the_graph_is_refused():
    a = mg.randn(2, 3, requires_grad=True)
    v = (a * 1).reshape(3, 2)
    with pytest.raises(RuntimeError, match="view made by reshape/transpose/split"):
        v.mul_(2)
