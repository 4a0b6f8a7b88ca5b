"""nn.init: in-place fills, distributions and their bounds, gains, reproducibility."""

from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import init


def test_fills_are_in_place_and_return_the_tensor():
    p = nn.Parameter(mg.zeros(3, 4))
    data = p.data
    for fn in (init.ones_, init.zeros_, lambda t: init.constant_(t, 2.5),
               init.uniform_, init.normal_, init.xavier_uniform_, init.orthogonal_):
        assert fn(p) is p
        assert p.data is data and p.dtype == mg.float32
        assert p.grad_fn is None and p.is_leaf
    init.constant_(p, 2.5)
    np.testing.assert_array_equal(p.numpy(), 2.5)


def test_uniform_and_normal_statistics():
    mg.manual_seed(0)
    t = init.uniform_(mg.empty(100_000, dtype=mg.float64), -2.0, 3.0).numpy()
    assert t.min() >= -2.0 and t.max() < 3.0
    assert abs(t.mean() - 0.5) < 0.03 and abs(t.var() - 25 / 12) < 0.05
    n = init.normal_(mg.empty(100_000, dtype=mg.float64), mean=1.0, std=0.5).numpy()
    assert abs(n.mean() - 1.0) < 0.01 and abs(n.std() - 0.5) < 0.01


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def test_xavier_and_kaiming_bounds():
    mg.manual_seed(1)
    w = init.xavier_uniform_(mg.empty(300, 200), gain=2.0).numpy()
    bound = 2.0 * math.sqrt(6 / 500)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    w = init.xavier_normal_(mg.empty(300, 200, dtype=mg.float64)).numpy()
    assert abs(w.std() - math.sqrt(2 / 500)) < 0.01 * math.sqrt(2 / 500) * 5
    w = init.kaiming_uniform_(mg.empty(50, 400), a=math.sqrt(5)).numpy()
    assert np.abs(w).max() <= 1 / math.sqrt(400)  # nn.Linear's U(-1/sqrt(in), 1/sqrt(in))
    w = init.kaiming_normal_(mg.empty(400, 300, dtype=mg.float64), mode="fan_out",
                             nonlinearity="relu").numpy()
    assert abs(w.std() - math.sqrt(2 / 400)) < 0.02 * math.sqrt(2 / 400)
    with pytest.raises(ValueError, match="at least 2 dims, got shape \\(5,\\)"):
        init.xavier_uniform_(mg.empty(5))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        init.kaiming_uniform_(mg.empty(2, 2), mode="fan")


@pytest.mark.parametrize("shape", [(6, 4), (4, 6), (5, 5), (3, 2, 2)])
def test_orthogonal(shape, device):
    t = mg.empty(*shape, dtype=mg.float64, device=device)
    w = init.orthogonal_(t, gain=2.0).numpy()
    flat = w.reshape(shape[0], -1) / 2.0
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)


def test_manual_seed_reproduces_every_random_init(device):
    def draw():
        mg.manual_seed(42)
        t = mg.empty(4, 5, device=device)
        return [fn(t).numpy().copy() for fn in (init.uniform_, init.normal_,
                                                init.xavier_uniform_, init.orthogonal_)]

    for a, b in zip(draw(), draw()):
        np.testing.assert_array_equal(a, b)
