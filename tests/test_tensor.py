"""Tensors: factories, dtype inference and promotion, conversions, attributes."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg

# --- mg.tensor dtype inference ----------------------------------------------------------


@pytest.mark.parametrize("data, dtype", [
    (1.5, mg.float32),
    ([1.0, 2.0], mg.float32),
    ([[1, 2], [3, 4.5]], mg.float32),       # any float makes it float
    (3, mg.int64),
    ([1, 2, 3], mg.int64),
    (True, mg.bool),
    ([True, False], mg.bool),
    (np.array([1.0, 2.0]), mg.float64),     # arrays keep their dtype
    (np.array([1.0], dtype=np.float32), mg.float32),
    (np.array([1, 2], dtype=np.int32), mg.int32),
    (np.array([1, 2], dtype=np.int64), mg.int64),
    (np.float64(2.5), mg.float64),          # so do NumPy scalars
    (np.int32(7), mg.int32),
])
def test_tensor_infers_dtype_like_torch(data, dtype):
    t = mg.tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))


def test_tensor_with_explicit_dtype():
    assert mg.tensor([1, 2], dtype=mg.float32).dtype == mg.float32
    assert mg.tensor([1.5, 2.5], dtype=mg.float64).dtype == mg.float64
    assert mg.tensor(np.array([1.7]), dtype=mg.int64).tolist() == [1]
    assert mg.tensor([1.0], dtype=np.float64).dtype == mg.float64


def test_tensor_copies_its_data():
    array = np.array([1.0, 2.0])
    t = mg.tensor(array)
    array[0] = 100
    assert t.tolist() == [1.0, 2.0]
    u = mg.tensor(t)
    t.data[1] = 50
    assert u.tolist() == [1.0, 2.0]
    assert u.data is not t.data


def test_tensor_from_a_tensor_is_a_new_leaf():
    x = mg.randn(3, requires_grad=True)
    y = mg.tensor(x * 2)
    assert y.is_leaf and not y.requires_grad
    assert mg.tensor(x, requires_grad=True).is_leaf


def test_tensor_class_constructor():
    t = mg.Tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(t, mg.Tensor) and t.requires_grad and t.dtype == mg.float32
    assert mg.is_tensor(t) and not mg.is_tensor(t.data)


def test_tensor_rejects_non_numeric_data():
    with pytest.raises(TypeError, match="could not convert"):
        mg.tensor(["a", "b"])


def test_data_is_the_backing_array():
    t = mg.tensor([1.0, 2.0])
    assert isinstance(t.data, np.ndarray)
    t.data[0] = 5.0
    assert t.tolist() == [5.0, 2.0]
    w = mg.tensor(2.0, requires_grad=True)
    (w * 3).backward()
    assert isinstance(w.grad.data, np.ndarray) and w.grad.shape == ()


def test_from_numpy_shares_memory():
    array = np.zeros(3)
    t = mg.from_numpy(array)
    array[1] = 7
    assert t.tolist() == [0.0, 7.0, 0.0] and t.dtype == mg.float64


# --- default dtype -----------------------------------------------------------------------


def test_default_dtype_is_float32():
    assert mg.get_default_dtype() == mg.float32
    for t in (mg.zeros(2), mg.ones(2), mg.randn(2), mg.rand(2), mg.eye(2), mg.empty(2),
              mg.full((2,), 1.5), mg.arange(0.0, 1.0, 0.5)):
        assert t.dtype == mg.float32


def test_set_default_dtype():
    mg.set_default_dtype(mg.float64)
    assert mg.get_default_dtype() == mg.float64
    assert mg.tensor([1.0]).dtype == mg.float64
    assert mg.randn(2).dtype == mg.float64 and mg.zeros(2).dtype == mg.float64
    assert (mg.tensor([1, 2]) + 0.5).dtype == mg.float64
    assert (mg.tensor([1, 2]) / 2).dtype == mg.float64
    assert (mg.tensor([1.0], dtype=mg.float32) * 2.5).dtype == mg.float32
    mg.set_default_dtype(mg.float32)
    assert mg.tensor([1.0]).dtype == mg.float32


def test_set_default_dtype_rejects_non_floats():
    with pytest.raises(TypeError, match="expected a floating dtype"):
        mg.set_default_dtype(mg.int64)


# --- promotion --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [mg.float32, mg.float64])
@pytest.mark.parametrize("op", [
    lambda x: x * 2.5, lambda x: 2.5 * x, lambda x: x + 1, lambda x: 1 - x,
    lambda x: x - 1.0, lambda x: x / 3, lambda x: 3 / x, lambda x: x ** 2,
    lambda x: x ** 0.5, lambda x: 2 ** x, lambda x: 2.0 ** x, lambda x: -x,
    lambda x: x * np.float64(2.0), lambda x: x + True,
    lambda x: mg.where(x > 0, x, 0.0), lambda x: x.clamp(0, 1),
], ids=["mul", "rmul", "add-int", "rsub-int", "sub", "div", "rdiv", "pow-int",
        "pow-float", "rpow-int", "rpow-float", "neg", "numpy-scalar", "bool-scalar",
        "where-scalar", "clamp-ints"])
def test_python_scalars_never_change_a_float_dtype(op, dtype):
    x = mg.tensor([0.5, 1.5], dtype=dtype)
    assert op(x).dtype == dtype


def test_int_tensors_and_scalars():
    i = mg.tensor([1, 2, 3])
    assert (i + 1).dtype == mg.int64 and (i * 2).tolist() == [2, 4, 6]
    assert (i + 0.5).dtype == mg.float32 and (0.5 * i).dtype == mg.float32
    assert (i / 2).dtype == mg.float32 and (i / 2).tolist() == [0.5, 1.0, 1.5]
    assert (2 / i).dtype == mg.float32
    assert (i ** 2).dtype == mg.int64
    assert (2.0 ** i).dtype == mg.float32
    assert (2 ** i).dtype == mg.int64 and (2 ** i).tolist() == [2, 4, 8]
    b = mg.tensor([True, False])
    assert (b + 1).dtype == mg.int64 and (b * 1.5).dtype == mg.float32


def test_int_tensor_math_computes_in_the_default_float():
    i = mg.tensor([1, 4])
    assert i.sqrt().dtype == mg.float32 and i.sqrt().tolist() == [1.0, 2.0]
    assert i.mean().dtype == mg.float32 and i.mean().item() == 2.5
    assert i.exp().dtype == mg.float32 and i.tanh().dtype == mg.float32
    assert i.sum().dtype == mg.int64 and mg.tensor([True, True]).sum().item() == 2


@pytest.mark.parametrize("a, b, expected", [
    (mg.int64, mg.float32, mg.float32),    # a float beats an int (not NumPy's float64)
    (mg.float32, mg.float64, mg.float64),
    (mg.int32, mg.int64, mg.int64),
    (mg.bool, mg.float32, mg.float32),
    (mg.bool, mg.int64, mg.int64),
    (mg.int64, mg.float64, mg.float64),
])
def test_tensor_tensor_promotion(a, b, expected):
    x, y = mg.ones(2, dtype=a), mg.ones(2, dtype=b)
    assert (x + y).dtype == expected and (y * x).dtype == expected
    if expected.kind == "f":
        assert (x @ y).dtype == expected
        assert mg.cat([x, y]).dtype == expected and mg.stack([y, x]).dtype == expected


@pytest.mark.parametrize("make, expected", [
    # within a category, a 0-d tensor never widens a dimensioned one (PyTorch's rule)
    (lambda: mg.ones(2) + mg.tensor(np.float64(1)), mg.float32),
    (lambda: mg.tensor(np.float64(1)) * mg.ones(2), mg.float32),
    (lambda: mg.ones(2, dtype=mg.int32) + mg.tensor(1), mg.int32),
    (lambda: mg.tensor(1) - mg.ones(2, dtype=mg.int32), mg.int32),
    (lambda: mg.ones(2, dtype=mg.float16) * mg.tensor(2.0), mg.float16),
    (lambda: mg.where(mg.tensor([True, False]), mg.ones(2), mg.tensor(0.0, dtype=mg.float64)),
     mg.float32),
    # a 0-d tensor of a higher category decides: its own dtype
    (lambda: mg.ones(2, dtype=mg.int32) + mg.tensor(1.5), mg.float32),
    (lambda: mg.ones(2, dtype=mg.int32) + mg.tensor(1.5, dtype=mg.float64), mg.float64),
    (lambda: mg.tensor([True, False]) + mg.tensor(1, dtype=mg.int32), mg.int32),
    # two 0-d tensors, or two dimensioned ones: the usual promotion
    (lambda: mg.tensor(1.0) + mg.tensor(1.0, dtype=mg.float64), mg.float64),
    (lambda: mg.ones(2) + mg.ones(2, dtype=mg.float64), mg.float64),
])
def test_zero_dim_tensors_do_not_promote_dimensioned_ones(make, expected):
    assert make().dtype == expected


def test_result_type_rules():
    rt = mg.dtypes.result_type
    assert rt(mg.float32, mg.float64, False, True) == mg.float32
    assert rt(mg.float64, mg.float32, True, False) == mg.float32
    assert rt(mg.int64, mg.int32, True, False) == mg.int32
    assert rt(mg.int32, mg.float64, False, True) == mg.float64
    assert rt(mg.bool, mg.int64, False, True) == mg.int64
    assert rt(mg.float32, mg.float64) == mg.float64


def test_gradient_reaches_a_zero_dim_leaf_in_its_own_dtype():
    scale = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)
    x = mg.ones(3, requires_grad=True)
    out = x * scale
    assert out.dtype == mg.float32
    out.sum().backward()
    assert scale.grad.dtype == mg.float64 and scale.grad.item() == 3.0
    assert x.grad.dtype == mg.float32 and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_mixed_precision_gradients_come_back_in_each_leaf_dtype():
    a = mg.ones(2, dtype=mg.float32, requires_grad=True)
    b = mg.ones(2, dtype=mg.float64, requires_grad=True)
    out = a * b
    assert out.dtype == mg.float64
    out.sum().backward()
    assert a.grad.dtype == mg.float32 and b.grad.dtype == mg.float64


def test_comparisons_give_bool_tensors():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    assert (x > 2).tolist() == [False, False, True]
    assert (x == mg.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]
    assert (2 < x).tolist() == [False, False, True]
    for out in (x < 2, x <= 2, x >= 2, x != 2, x > x):
        assert out.dtype == mg.bool and not out.requires_grad
    mask = (x > 1) & (x < 3)
    assert mask.tolist() == [False, True, False]
    assert (~mask).tolist() == [True, False, True] and ((x < 2) | mask).sum().item() == 2


# --- conversions and attributes --------------------------------------------------------


def test_item_tolist_numpy():
    t = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(t.numpy(), np.ndarray)
    np.testing.assert_array_equal(t.numpy(), [[1, 2], [3, 4]])
    assert t.sum().item() == 10.0 and isinstance(t.sum().item(), float)
    assert mg.tensor([7]).item() == 7 and isinstance(mg.tensor([7]).item(), int)
    assert float(mg.tensor(2.5)) == 2.5 and int(mg.tensor(3)) == 3
    assert bool(mg.tensor([True])) and not bool(mg.tensor(0.0))


def test_shape_size_dim_numel_len():
    t = mg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == 24 and len(t) == 2
    assert mg.tensor(1.0).shape == () and mg.tensor(1.0).numel() == 1


def test_iterating_gives_rows():
    rows = list(mg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert [r.tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0]]


def test_repr():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(mg.tensor([1, 2])) == "tensor([1, 2])"
    assert "dtype=float64" in repr(mg.tensor([1.0], dtype=mg.float64))
    assert "requires_grad=True" in repr(mg.tensor([1.0], requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(mg.tensor([1.0], requires_grad=True) * 2)


def test_grad_fn_repr_names_the_backward_node():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.sum()
    assert repr(y.grad_fn) == "<SumBackward>"
    assert repr(y) == "tensor(3., grad_fn=<SumBackward>)"
    assert repr(x.max(0).values.grad_fn) == "<MaxMinDimBackward>"


def test_public_tensor_methods_have_docstrings_and_type_hints():
    import inspect
    import typing

    missing = []
    for name, member in vars(mg.Tensor).items():
        if name.startswith("_") and name != "__init__":
            continue
        fn = member.fget if isinstance(member, property) else member
        if not callable(fn) or name == "clip":  # clip is an alias of clamp
            continue
        if not inspect.getdoc(fn):
            missing.append(f"{name}: no docstring")
        params = [p for p in inspect.signature(fn).parameters if p != "self"]
        hints = typing.get_type_hints(fn)
        if any(p not in hints for p in params) or "return" not in hints:
            missing.append(f"{name}: incomplete type hints")
    assert not missing, missing


def test_to_float_double_long():
    x = mg.tensor([1.5, -2.5], requires_grad=True)
    assert x.to("cpu") is x and x.to(mg.float32) is x and x.float() is x and x.cpu() is x
    d = x.double()
    assert d.dtype == mg.float64 and d.requires_grad and d.device == "cpu"
    assert x.to(mg.float64).dtype == mg.float64 and x.to(np.float64).dtype == mg.float64
    assert x.to("cpu", mg.float64).dtype == mg.float64
    assert x.to(device="cpu", dtype=mg.float64).dtype == mg.float64
    assert d.float().dtype == mg.float32
    assert x.long().tolist() == [1, -2] and x.long().dtype == mg.int64
    assert mg.tensor([1, 2]).float().dtype == mg.float32
    assert x.type_as(mg.zeros(1, dtype=mg.float64)).dtype == mg.float64
    (d * d).sum().backward()  # the cast is differentiable; the grad comes back float32
    assert x.grad.dtype == mg.float32
    np.testing.assert_allclose(x.grad.numpy(), [3.0, -5.0])


def test_device_attribute():
    assert mg.zeros(2).device == "cpu"
    assert mg.tensor([1.0], device="cpu").device == "cpu"
    assert mg.zeros(2, device="cuda:0" if mg.cuda.is_available() else "cpu").shape == (2,)


def test_zero_is_in_place_and_returns_self():
    t = mg.tensor([1.0, 2.0])
    view = t.data
    assert t.zero_() is t
    assert t.tolist() == [0.0, 0.0] and view.tolist() == [0.0, 0.0]
    s = mg.tensor([1.0, 2.0]).sum()  # a 0-d result
    assert s.zero_().item() == 0.0


def test_requires_grad_returns_self():
    t = mg.zeros(2)
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False) is t and not t.requires_grad


def test_setitem_without_grad():
    t = mg.zeros(2, 3)
    t[0] = 1.0
    t[1, mg.tensor([0, 2])] = mg.tensor([5.0, 6.0])
    assert t.tolist() == [[1, 1, 1], [5, 0, 6]]
    p = mg.zeros(2, requires_grad=True)
    with mg.no_grad():
        p[0] = 3.0
    assert p.tolist() == [3.0, 0.0]


# --- factories --------------------------------------------------------------------------


def test_factories_take_varargs_or_a_tuple():
    for factory in (mg.zeros, mg.ones, mg.randn, mg.rand, mg.empty):
        assert factory(2, 3).shape == (2, 3) == factory((2, 3)).shape == factory([2, 3]).shape
    assert mg.zeros(()).shape == () and mg.zeros(0).shape == (0,)


def test_factory_values_and_dtypes():
    assert mg.zeros(2).tolist() == [0.0, 0.0] and mg.ones(2, dtype=mg.int64).tolist() == [1, 1]
    assert mg.full((2, 2), 7).dtype == mg.int64
    assert mg.full((2,), 1.5).tolist() == [1.5, 1.5] and mg.full((1,), True).dtype == mg.bool
    assert mg.full((2,), 7, dtype=mg.float64).dtype == mg.float64
    assert mg.arange(4).tolist() == [0, 1, 2, 3] and mg.arange(4).dtype == mg.int64
    assert mg.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert mg.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    np.testing.assert_array_equal(mg.eye(3).numpy(), np.eye(3))
    assert mg.eye(2, 3).shape == (2, 3)
    r = mg.randint(0, 5, (100,))
    assert r.dtype == mg.int64 and 0 <= r.min().item() and r.max().item() < 5


def test_like_factories():
    x = mg.randn(2, 3, dtype=mg.float64)
    for t in (mg.zeros_like(x), mg.ones_like(x), mg.full_like(x, 2.0)):
        assert t.shape == x.shape and t.dtype == mg.float64 and not t.requires_grad
    assert mg.zeros_like(x, dtype=mg.float32).dtype == mg.float32
    assert mg.ones_like(x, requires_grad=True).requires_grad


def test_factories_with_requires_grad():
    for t in (mg.zeros(2, requires_grad=True), mg.randn(2, requires_grad=True),
              mg.arange(0.0, 2.0, requires_grad=True), mg.eye(2, requires_grad=True)):
        assert t.requires_grad and t.is_leaf


def test_rand_and_randn_statistics():
    mg.manual_seed(0)
    n = mg.randn(20000)
    u = mg.rand(20000)
    assert abs(n.mean().item()) < 0.05 and abs(n.var().item() - 1) < 0.05
    assert 0 <= u.min().item() and u.max().item() < 1 and abs(u.mean().item() - 0.5) < 0.02


def test_manual_seed_accepts_negative_seeds():
    # PyTorch maps negative seeds into the unsigned 64-bit range instead of failing.
    mg.manual_seed(-1)
    first = mg.randn(3).numpy()
    mg.manual_seed(-1)
    assert np.array_equal(mg.randn(3).numpy(), first)
    mg.manual_seed(2**64 - 1)
    assert np.array_equal(mg.randn(3).numpy(), first)
