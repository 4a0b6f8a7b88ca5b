"""Per-timestep gradient flow through a recurrent layer: vanishing and exploding gradients.

For an ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (any number of layers, one or two
directions), an input and a loss, this module measures how the gradient travels back
through time:

* ``||dL/dh_t||`` for every layer, direction and timestep (for LSTM also
  ``||dL/dc_t||``), computed two independent ways that must agree:

  - ``source='autograd'``: the module's ordinary forward records its graph; the per-step
    state Tensors are captured with :func:`minigrad.utils.steps.record_steps` and
    ``mg.autograd.grad(loss, states)`` differentiates the loss with respect to them;
  - ``source='bptt'``: the same parameters run through the hand-derived kernels of
    :mod:`models.bptt`, whose backward computes ``dh`` at every step anyway
    (``return_step_grads=True``); only the loss head (``loss_fn``) is differentiated by
    autograd, to get dL/d(output) and dL/d(final state).

* the Jacobian view (:func:`jacobian_norms`): the spectral norm ``||dh_t/dh_{t-1}||`` of
  every step's state Jacobian, built analytically per cell type (batched over the
  batch) and measured by power iteration, and the running product of those norms --
  the bound ``||dh_last/dh_t|| <= prod_{k>t} ||J_k||`` that the vanishing-gradient
  analysis is about: below 1 per step, it shrinks geometrically with the distance.

Typical use::

    from models import gradient_flow as gf

    lstm = nn.LSTM(2, 32).double()
    head = nn.Linear(32, 1).double()
    loss_fn = lambda out, state: F.mse_loss(head(out[:, -1]), y)
    auto = gf.gradient_flow(lstm, x, loss_fn)                 # autograd
    hand = gf.gradient_flow(lstm, x, loss_fn, source="bptt")  # hand-derived BPTT
    auto.dh_norm          # (num_layers, D, T): ||dL/dh_t|| per layer / direction / step
    auto.max_abs_diff(hand)                                   # ~1e-17 in float64
    jac = gf.jacobian_norms(lstm, x)
    jac.norms.mean(-1)    # (num_layers, D, T) mean over the batch of ||dh_t/dh_{t-1}||

Conventions: arrays are NumPy, indexed ``[layer, direction, t, ...]`` in original time
order for both directions; ``t = 0`` is the first input.  Norms are Frobenius norms over
the batch and hidden units of a step (``dh_norm``), or per batch element (Jacobians).
For the LSTM, the Jacobian is that of the full state ``(h, c)`` (``2H x 2H``): the
gradient reaches ``(h_{t-1}, c_{t-1})`` from ``(h_t, c_t)`` through it, and
``dc_t`` is the total derivative (through ``h_t = o_t tanh(c_t)`` and ``c_{t+1}``), as
``models.bptt`` computes it.  Dropout between layers is not supported (``eval()`` the
module first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad import backend, nn
from minigrad.utils.steps import record_steps

from . import bptt

__all__ = ["GradientFlow", "JacobianNorms", "compare", "gradient_flow", "jacobian_norms",
           "spectral_norm", "step_jacobians"]

_CELLS = {nn.RNN: "rnn", nn.LSTM: "lstm", nn.GRU: "gru"}
_SOURCES = ("autograd", "bptt")


@dataclass
class GradientFlow:
    """Per-step state gradients of one loss.

    ``dh`` ``(num_layers, D, T, B, H)``: dL/dh_t of every layer, direction and timestep;
    ``dc`` the same for the LSTM's cell state (``None`` for RNN / GRU); ``cell``
    ``'rnn' | 'lstm' | 'gru'``; ``source`` ``'autograd' | 'bptt'``; ``loss`` its value.
    """

    cell: str
    source: str
    dh: np.ndarray
    dc: np.ndarray | None
    loss: float

    @property
    def dh_norm(self) -> np.ndarray:
        """``(num_layers, D, T)``: ``||dL/dh_t||`` over batch and hidden units."""
        return np.sqrt((self.dh ** 2).sum(axis=(-2, -1)))

    @property
    def dc_norm(self) -> np.ndarray | None:
        """``(num_layers, D, T)``: ``||dL/dc_t||`` (LSTM), else ``None``."""
        return None if self.dc is None else np.sqrt((self.dc ** 2).sum(axis=(-2, -1)))

    def max_abs_diff(self, other: GradientFlow) -> float:
        """Largest absolute difference between the per-step gradients of two flows."""
        if self.dh.shape != other.dh.shape:
            raise ValueError(f"max_abs_diff: flows of shapes {self.dh.shape} and "
                             f"{other.dh.shape} cannot be compared")
        diff = float(np.abs(self.dh - other.dh).max())
        if self.dc is not None and other.dc is not None:
            diff = max(diff, float(np.abs(self.dc - other.dc).max()))
        return diff


@dataclass
class JacobianNorms:
    """Spectral norms of the one-step state Jacobians.

    ``norms`` ``(num_layers, D, T, B)``: ``||d s_t / d s_{t-1}||_2`` per batch element,
    ``s`` = ``h`` (RNN, GRU) or ``(h, c)`` (LSTM), "previous" in processing order (for the
    reverse direction ``s_{t+1}``).  ``log10_product`` ``(num_layers, D, T, B)``:
    ``log10 prod ||J_k||`` over the steps processed after ``t`` -- the bound on
    ``log10 ||d s_last / d s_t||`` (0 at the last step).  ``cell`` as in
    :class:`GradientFlow`.
    """

    cell: str
    norms: np.ndarray
    log10_product: np.ndarray


# ----------------------------------------------------------------------------- checks
def _cell_of(module) -> str:
    for cls, name in _CELLS.items():
        if isinstance(module, cls):
            return name
    raise TypeError(f"expected an nn.RNN, nn.LSTM or nn.GRU, got {type(module).__name__}")


def _check_module(module) -> str:
    cell = _cell_of(module)
    if module.dropout > 0 and module.training:
        raise ValueError(f"{type(module).__name__} has dropout={module.dropout}: the "
                         "hand-derived BPTT has no dropout, so the per-step gradients of "
                         "the two paths would differ; call module.eval() first")
    return cell


def _as_tensor(x, like) -> mg.Tensor:
    if isinstance(x, mg.Tensor):
        return x
    return mg.tensor(backend.to_numpy(x), dtype=like.dtype, device=like.device)


def _bptt_fns(cell: str):
    return {"rnn": (bptt.rnn_forward, bptt.rnn_backward),
            "lstm": (bptt.lstm_forward, bptt.lstm_backward),
            "gru": (bptt.gru_forward, bptt.gru_backward)}[cell]


def _bptt_forward(module, cell, x_data, hx):
    """``models.bptt`` forward with the module's parameters; ``(out, finals, cache)``."""
    params = {name: p.data for name, p in module.named_parameters()}
    forward, _ = _bptt_fns(cell)
    opts = {"num_layers": module.num_layers, "bidirectional": module.bidirectional,
            "batch_first": module.batch_first}
    if cell == "rnn":
        opts["nonlinearity"] = module.nonlinearity
    if cell == "lstm":
        hx = None if hx is None else tuple(None if s is None else s.data for s in hx)
        out, (h_n, c_n), cache = forward(x_data, params, hx, **opts)
        return out, (h_n, c_n), cache
    out, h_n, cache = forward(x_data, params, None if hx is None else hx.data, **opts)
    return out, (h_n,), cache


def _scalar_loss(loss, where: str) -> mg.Tensor:
    if not isinstance(loss, mg.Tensor) or loss.data.size != 1:
        got = type(loss).__name__ if not isinstance(loss, mg.Tensor) else \
            f"a Tensor of shape {tuple(loss.shape)}"
        raise TypeError(f"{where}: loss_fn must return a one-element Tensor, got {got}")
    return loss


# ----------------------------------------------------------------------------- flow
def gradient_flow(module, x, loss_fn: Callable, hx=None, *,
                  source: str = "autograd") -> GradientFlow:
    """Per-step ``dL/dh_t`` (and ``dL/dc_t``) of ``L = loss_fn(*module(x, hx))``.

    Args:
        module: an ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` (a ``fused=True`` module is run
            unfused for the autograd path; same parameters, same values).
        x: its input ``(B, T, I)`` (``batch_first``), ``(T, B, I)`` or unbatched
            ``(T, I)``; a Tensor or an array.
        loss_fn: ``loss_fn(output, state) -> scalar Tensor``, called with what the module
            returns (``state`` = ``h_n``, or ``(h_n, c_n)`` for LSTM); it may use other
            modules (a head) and targets from its closure.
        hx: the initial state as the module takes it (``None``: zeros).
        source: ``'autograd'`` (graph of the module's forward) or ``'bptt'``
            (hand-derived, :mod:`models.bptt`).

    Returns:
        :class:`GradientFlow` with ``dh`` ``(num_layers, D, T, B, H)`` (``B = 1`` for
        unbatched input).  No ``.grad`` of any parameter is touched.
    """
    if source not in _SOURCES:
        raise ValueError(f"source: expected one of {_SOURCES}, got {source!r}")
    cell = _check_module(module)
    x = _as_tensor(x, module.weight_ih_l0)
    if source == "autograd":
        return _autograd_flow(module, cell, x, loss_fn, hx)
    return _bptt_flow(module, cell, x, loss_fn, hx)


def _autograd_flow(module, cell, x, loss_fn, hx) -> GradientFlow:
    fused = module.fused
    module.fused = False  # the per-step states exist only in the graph path
    try:
        with mg.enable_grad(), record_steps() as steps:
            output, state = module(x, hx)
    finally:
        module.fused = fused
    loss = _scalar_loss(loss_fn(output, state), "gradient_flow")
    L, D = module.num_layers, 2 if module.bidirectional else 1
    per_direction = [steps.select(module, k, d) for k in range(L) for d in range(D)]
    states = [s for direction in per_direction for step in direction for s in step.states]
    n_states = 2 if cell == "lstm" else 1
    if cell == "lstm":
        # autograd's gradient at c_t counts only c_t's consumers (the next step); the
        # total dL/dc_t adds the path through h_t = o_t tanh(c_t), made by the same node:
        # dL/dc_t = dL/dc_t|next + dL/dh_t * o_t * (1 - tanh(c_t)^2)
        H = module.hidden_size
        dh_dc = [np.stack([_sigmoid(_gates(step.states[0].grad_fn)[:, 3 * H:])  # o_t
                           * (1.0 - np.tanh(backend.to_numpy(step.states[1].data)) ** 2)
                           for step in direction]) for direction in per_direction]
    grads = mg.autograd.grad(loss, states, allow_unused=True, materialize_grads=True)
    dh, dc = [], []
    for i, direction in enumerate(per_direction):
        base = i * len(direction) * n_states
        g = [backend.to_numpy(grads[base + j].data) for j in range(len(direction) * n_states)]
        dh.append(np.stack(g[0::n_states]))
        if cell == "lstm":
            dc.append(np.stack(g[1::n_states]) + dh[-1] * dh_dc[i])
    shape = (L, D) + dh[0].shape
    return GradientFlow(cell, "autograd", np.stack(dh).reshape(shape),
                        np.stack(dc).reshape(shape) if dc else None, loss.item())


def _gates(node) -> np.ndarray:
    """The gate pre-activations ``proj_t + h_{t-1} @ W_hh^T`` of an LSTM step's node
    (``ops.cells.LSTMStep``, inputs ``(proj_t, h_{t-1}, c_{t-1}, W_hh^T)``)."""
    proj, h, _, w_t = (backend.to_numpy(t.data) for t in node.inputs)
    return proj + h @ w_t


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def _bptt_flow(module, cell, x, loss_fn, hx) -> GradientFlow:
    out, finals, cache = _bptt_forward(module, cell, x.data, hx)
    # autograd only for the loss head: dL/d(output) and dL/d(final states)
    out_leaf = mg.Tensor._make(out).requires_grad_()
    final_leaves = [mg.Tensor._make(f).requires_grad_() for f in finals]
    state = tuple(final_leaves) if cell == "lstm" else final_leaves[0]
    with mg.enable_grad():
        loss = _scalar_loss(loss_fn(out_leaf, state), "gradient_flow")
    g_out, *g_finals = mg.autograd.grad(loss, [out_leaf, *final_leaves], allow_unused=True,
                                        materialize_grads=True)
    _, backward = _bptt_fns(cell)
    g_state = (g_finals[0].data, g_finals[1].data) if cell == "lstm" else g_finals[0].data
    grads = backward(cache, g_out.data, g_state, return_step_grads=True)
    L, D = module.num_layers, 2 if module.bidirectional else 1

    def per_step(a):  # (L*D, T, B, H) (unbatched (L*D, T, H)) -> (L, D, T, B, H)
        a = backend.to_numpy(a)
        if a.ndim == 3:
            a = a[:, :, None, :]
        return a.reshape((L, D) + a.shape[1:])

    dc = per_step(grads["dc_steps"]) if cell == "lstm" else None
    return GradientFlow(cell, "bptt", per_step(grads["dh_steps"]), dc, loss.item())


def compare(module, x, loss_fn: Callable, hx=None) -> tuple[GradientFlow, GradientFlow, float]:
    """Both flows and their largest difference: ``(autograd, bptt, max_abs_diff)``."""
    auto = gradient_flow(module, x, loss_fn, hx, source="autograd")
    hand = gradient_flow(module, x, loss_fn, hx, source="bptt")
    return auto, hand, auto.max_abs_diff(hand)


# ----------------------------------------------------------------------------- Jacobians
def step_jacobians(module, x, hx=None) -> np.ndarray:
    """The one-step state Jacobians ``(num_layers, D, T, B, n, n)``, ``n = H`` (RNN, GRU)
    or ``2H`` (LSTM, state ``[h, c]``), analytic per cell type (batched over ``B``).

    ``J[k, d, t, b, i, j] = d s_t[b, i] / d s_prev[b, j]`` with ``s_prev`` the state
    the step read (``s_{t-1}``; ``s_{t+1}`` in the reverse direction).  Memory grows as
    ``T * B * n^2``; :func:`jacobian_norms` builds one step at a time instead.
    """
    cell = _check_module(module)
    x = _as_tensor(x, module.weight_ih_l0)
    _, _, cache = _bptt_forward(module, cell, x.data, hx)
    return np.stack([np.stack([np.stack(list(_jacobians(cell, c)))[::-1 if d else 1]
                               for d, c in enumerate(layer)])
                     for layer in cache.layers])


def _jacobians(cell: str, c):
    """One ``(B, n, n)`` Jacobian per step of a kernel cache, in processing order."""
    w_hh = backend.to_numpy(c.w_hh)
    H = w_hh.shape[1]
    T = c.hs.shape[0] - 1
    hs = backend.to_numpy(c.hs)
    if cell == "rnn":
        for s in range(T):
            h = hs[s + 1]
            act = 1.0 - h * h if c.nonlinearity == "tanh" else (h > 0).astype(h.dtype)
            yield act[:, :, None] * w_hh  # diag(act'(pre_t)) W_hh
        return
    gates = backend.to_numpy(c.gates)
    if cell == "gru":
        w_r, w_z, w_n = w_hh[:H], w_hh[H:2 * H], w_hh[2 * H:]
        hn_all = backend.to_numpy(c.hn)
        eye = np.eye(H, dtype=hs.dtype)
        for s in range(T):
            r, z, n = gates[s, :, :H], gates[s, :, H:2 * H], gates[s, :, 2 * H:]
            h_prev, hn = hs[s], hn_all[s]
            # h' = (1-z) n + z h:   dh'/dh = diag(z) + diag(h - n) dz/dh + diag(1-z) dn/dh
            dz = (z * (1 - z))[:, :, None] * w_z
            dr = (r * (1 - r))[:, :, None] * w_r
            # n = tanh(x_n + r * hn):  dn/dh = diag(1-n^2) (diag(hn) dr/dh + diag(r) W_hn)
            dn = (1 - n * n)[:, :, None] * (hn[:, :, None] * dr + r[:, :, None] * w_n)
            yield (z[:, :, None] * eye + (h_prev - n)[:, :, None] * dz
                   + (1 - z)[:, :, None] * dn)
        return
    cs, tanh_cs = backend.to_numpy(c.cs), backend.to_numpy(c.tanh_cs)
    w_i, w_f, w_g, w_o = (w_hh[k * H:(k + 1) * H] for k in range(4))
    eye = np.eye(H, dtype=hs.dtype)
    for s in range(T):
        i, f, g, o = (gates[s, :, k * H:(k + 1) * H] for k in range(4))
        c_prev, tc = cs[s], tanh_cs[s]
        # c' = f c + i g:  dc'/dh through the gates, dc'/dc = diag(f)
        dc_dh = ((c_prev * f * (1 - f))[:, :, None] * w_f
                 + (g * i * (1 - i))[:, :, None] * w_i
                 + (i * (1 - g * g))[:, :, None] * w_g)
        dc_dc = f[:, :, None] * eye
        # h' = o tanh(c'):  dh'/dh = diag(tanh(c') o(1-o)) W_ho + diag(o (1 - tanh^2)) dc'/dh
        k = (o * (1 - tc * tc))[:, :, None]
        dh_dh = (tc * o * (1 - o))[:, :, None] * w_o + k * dc_dh
        dh_dc = k * dc_dc
        yield np.concatenate([np.concatenate([dh_dh, dh_dc], axis=2),
                              np.concatenate([dc_dh, dc_dc], axis=2)], axis=1)


def spectral_norm(J: np.ndarray, iters: int = 1000, tol: float = 1e-12,
                  seed: int = 0) -> np.ndarray:
    """Largest singular value of each matrix of ``J`` ``(B, m, n)`` by power iteration on
    ``J^T J`` (batched), stopping when every estimate changed by less than ``tol``
    (relative) or after ``iters`` rounds.  Returns ``(B,)``."""
    v = np.random.default_rng(seed).standard_normal(J.shape[::2]).astype(J.dtype)  # (B, n)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    sigma = np.zeros(J.shape[0], dtype=J.dtype)
    for _ in range(iters):
        u = np.einsum("bij,bj->bi", J, v)  # J v
        w = np.einsum("bij,bi->bj", J, u)  # J^T J v
        new_sigma = np.linalg.norm(u, axis=1)
        norm_w = np.linalg.norm(w, axis=1, keepdims=True)
        if not (norm_w > 0).all():  # a zero Jacobian (relu with all units off)
            norm_w = np.where(norm_w > 0, norm_w, 1.0)
        v = w / norm_w
        done = np.abs(new_sigma - sigma) <= tol * np.maximum(new_sigma, 1e-300)
        sigma = new_sigma
        if done.all():
            break
    return sigma


def jacobian_norms(module, x, hx=None, *, iters: int = 1000,
                   tol: float = 1e-12) -> JacobianNorms:
    """Spectral norms of every step's state Jacobian and their running product.

    Args as :func:`gradient_flow` (no loss: the Jacobians depend only on the forward);
    ``iters`` / ``tol`` bound the power iteration (see :func:`spectral_norm`).

    Returns:
        :class:`JacobianNorms` (``norms`` and ``log10_product``, ``(num_layers, D, T, B)``).
    """
    cell = _check_module(module)
    x = _as_tensor(x, module.weight_ih_l0)
    _, _, cache = _bptt_forward(module, cell, x.data, hx)
    norms = np.stack([
        np.stack([np.stack([spectral_norm(J, iters, tol) for J in _jacobians(cell, c)])
                  for c in layer])
        for layer in cache.layers])  # (L, D, T, B), processing order
    logs = np.log10(np.maximum(norms, 1e-300))
    # steps processed after s: reversed cumulative sum, shifted by one
    after = np.flip(np.cumsum(np.flip(logs, axis=2), axis=2), axis=2) - logs
    if norms.shape[1] == 2:  # the reverse direction ran backwards: to original time
        norms[:, 1] = norms[:, 1, ::-1].copy()
        after[:, 1] = after[:, 1, ::-1].copy()
    return JacobianNorms(cell, norms, after)
