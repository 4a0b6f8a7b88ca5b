"""``Tensor.register_post_accumulate_grad_hook`` on real graphs, as DDP relies on it
(tests/test_hooks.py has the basic cases): on every leaf of a recurrent network, graph
and fused paths, the hook fires exactly once per backward, when the leaf's ``.grad``
already holds its final value; hooks change no gradient; ``retain_graph`` and
``create_graph`` backwards fire them too; ``autograd.grad`` and leaves outside
``backward(inputs=...)`` do not."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn

GRAPHS = ["rnn-graph", "lstm-graph", "gru-fused", "shared-weight"]


def build(kind: str):
    """A model's parameters and a function computing a scalar loss from them."""
    mg.manual_seed(0)
    x = mg.randn(3, 5, 4, dtype=mg.float64)
    if kind == "shared-weight":  # one weight used at every one of 6 steps
        w = mg.randn(4, 4, dtype=mg.float64, requires_grad=True)
        v = mg.randn(4, dtype=mg.float64, requires_grad=True)

        def loss():
            h = x[:, 0]
            for _ in range(6):
                h = (h @ w).tanh() + v
            return (h ** 2).sum()
        return [w, v], loss
    cell, path = kind.split("-")
    layer = getattr(nn, cell.upper())(4, 6, num_layers=2, fused=path == "fused").double()
    return list(layer.parameters()), lambda: (layer(x)[0] ** 2).mean()


def record(params):
    """Register a hook on every leaf that logs (leaf index, .grad at that moment)."""
    fired = []
    for i, p in enumerate(params):
        p.register_post_accumulate_grad_hook(
            lambda t, i=i: fired.append((i, t.grad.numpy().copy())))
    return fired


@pytest.mark.parametrize("kind", GRAPHS)
def test_fires_once_per_leaf_with_the_final_gradient(kind):
    params, loss = build(kind)
    loss().backward()
    expected = [p.grad.numpy().copy() for p in params]  # without hooks
    for p in params:
        p.grad = None
    fired = record(params)
    loss().backward()
    assert sorted(i for i, _ in fired) == list(range(len(params)))  # each once
    for i, grad_at_hook in fired:
        np.testing.assert_array_equal(grad_at_hook, params[i].grad.numpy())  # final
        np.testing.assert_array_equal(params[i].grad.numpy(), expected[i])   # unchanged


@pytest.mark.parametrize("kind", GRAPHS)
def test_retain_graph_fires_again_on_the_accumulated_gradient(kind):
    params, loss = build(kind)
    fired = record(params)
    out = loss()
    out.backward(retain_graph=True)
    first = [p.grad.numpy().copy() for p in params]
    out.backward()
    assert len(fired) == 2 * len(params)
    for i, grad_at_hook in fired[len(params):]:
        np.testing.assert_allclose(grad_at_hook, 2 * first[i], rtol=1e-12)


def test_create_graph_fires_once_with_a_differentiable_gradient():
    params, loss = build("shared-weight")
    w = params[0]
    fired = record(params)
    loss().backward(create_graph=True)
    assert sorted(i for i, _ in fired) == [0, 1]
    assert w.grad.requires_grad
    (g2,) = mg.autograd.grad(w.grad.sum(), w)  # second derivative through .grad
    assert g2.shape == w.shape and np.isfinite(g2.numpy()).all()


def test_autograd_grad_and_backward_inputs():
    params, loss = build("rnn-graph")
    fired = record(params)
    mg.autograd.grad(loss(), params)  # returns gradients, writes no .grad: no hook
    assert fired == []
    loss().backward(inputs=[params[0]])
    assert [i for i, _ in fired] == [0]
