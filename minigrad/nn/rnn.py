"""Recurrent layers: ``RNN``, ``LSTM``, ``GRU`` and their one-step cells.

PyTorch's classes, names, parameter layouts and call conventions, with one
deliberate difference: the layers default to ``batch_first=True``.

How the forward pass is built (``fused=False``, the default)
------------------------------------------------------------
BPTT is not written anywhere here: the forward pass is an ordinary loop over
timesteps of differentiable ops, and ``backward()`` walks the graph it recorded.
The loop is kept lean, because per-node overhead is what a Python framework pays
per timestep.  For every layer and direction:

1. the input projections of ALL timesteps are one ``Linear`` op over ``(T*B, I)``
   rows, with both biases folded in (GRU: only the r, z parts of ``b_hh``);
2. one ``unbind`` (a single multi-output node) hands out the per-step slices;
3. per step ONE node for the recurrent GEMM and the cell's pointwise part together
   (``ops.cells.RNNStep`` / ``LSTMStep`` / ``GRUStep``: ``pre = proj_t + h @ W_hh^T``
   -- GRU: ``h @ W_hh^T + (0, 0, b_hn)``, which meets the input projection inside the
   cell -- then the activations, forward and backward formulas side by side, as
   PyTorch's fused cell kernels).  ``W_hh^T`` is one transpose node per forward, so
   the engine collects the T weight-gradient terms as ``OuterGrad`` and evaluates them
   as ONE batched GEMM; the steps share a ``StepSlab`` (their states and ``d pre`` in
   one array each, as hand-written BPTT keeps them), so those terms are rows of two
   arrays already and the GEMM needs no concatenation.  (An LSTM step took 11 nodes
   before the cells were fused, then 2: a GEMM node and a pointwise node);
4. one ``stack`` collects the outputs (the reverse direction iterates reversed
   time and stacks in original order).

The step nodes are ordinary ops: BPTT across time still comes entirely
from walking the per-step graph, and their backward formulas run on Tensors under
``backward(create_graph=True)``, so double backward works through every layer.

``fused=True`` runs each layer direction as ONE autograd node whose forward and
backward are the hand-derived kernels of ``models.bptt`` (see ``fused_rnn``);
results and gradients are the same.

Packed input (``nn.utils.rnn.PackedSequence``), as PyTorch: the caller's initial
states are permuted into the packed (sorted) batch order; each layer direction runs
over the packed rows -- one input-projection GEMM over all ``N`` rows, then per step
the cell on the first ``batch_sizes[t]`` rows only: when the batch shrinks, the state
is split and the finished rows' part is their final state; the reverse direction
grows the batch as ``t`` decreases, each sequence starting from its initial state at
its own last step (``_graph_direction_packed``).  The output is a ``PackedSequence``
and the final states go back to the caller's order.  Padding never enters the graph.

The per-cell math (input projections and one step) is shared by the layers and
the cells, and all of the layer / direction / ``batch_first`` / initial-state
plumbing lives once, in :class:`RNNBase`.
"""

from __future__ import annotations

import math
import numbers
import threading
import warnings

from .. import backend, dtypes
from ..ops import cells as C
from ..ops import elementwise as E
from ..ops import linalg as L
from ..ops import sequence as Q
from ..ops import shape as S
from ..tensor import Tensor
from . import init
from .fused_rnn import fused_direction
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

# The raw ops of the hot loop (validated once per call, not once per step).
_add = E.Add.apply
_mul = E.Mul.apply
_rnn_step = C.RNNStep.apply
_lstm_step = C.LSTMStep.apply
_gru_step = C.GRUStep.apply
_split = S.Split.apply
_stack = S.Stack.apply

# Who watches the per-step states of the graph path (``minigrad.utils.steps.record_steps``,
# used by ``utils.viz`` and ``models.gradient_flow``).  Read once per layer direction, so
# the step loop pays one ``is None`` test per step when nobody watches.
_watch = threading.local()


def _transpose(w: Tensor) -> Tensor:
    return S.Transpose.apply(w, dim0=0, dim1=1)


def _linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias`` over all leading dims as ONE 2-D GEMM."""
    lead = x.shape[:-1]
    if len(lead) > 1:
        x = S.Reshape.apply(x, shape=(-1, x.shape[-1]))
    out = L.Linear.apply(x, weight) if bias is None else L.Linear.apply(x, weight, bias)
    if len(lead) > 1:
        out = S.Reshape.apply(out, shape=lead + (weight.shape[0],))
    return out


def _constant(like: Tensor, values) -> Tensor:
    """A constant (no grad) 1-D tensor on ``like``'s device and dtype."""
    xp = backend.get_array_module(like.data)
    return Tensor._make(xp.asarray(values, dtype=like.dtype))


# ------------------------------------------------------------------ per-cell math
# ``prep(x, weights, opts)`` turns the input ``(..., I)`` into the per-step input
# projections (a 1-tuple holding the ``(..., G*H)`` tensor) and the per-forward
# constants; ``step(projs_t, states, consts)`` advances the state tuple by one timestep.
# The layers call ``prep`` once per sequence and ``step`` once per timestep; the cells
# call both once.


class _RNNMath:
    name, gates, n_states = "rnn", 1, 1

    @staticmethod
    def prep(x, weights, nonlinearity):
        w_ih, w_hh, b_ih, b_hh = weights
        bias = None if b_ih is None else _add(b_ih, b_hh)
        return (_linear(x, w_ih, bias),), (_transpose(w_hh), nonlinearity)

    @staticmethod
    def step(projs, states, consts, **slab):
        w_t, nonlinearity = consts
        # 1 node: h' = act(proj_t + h @ W_hh^T)
        return (_rnn_step(projs[0], states[0], w_t, nonlinearity=nonlinearity, **slab),)


class _LSTMMath:
    name, gates, n_states = "lstm", 4, 2

    @staticmethod
    def prep(x, weights, nonlinearity=None):
        w_ih, w_hh, b_ih, b_hh = weights
        bias = None if b_ih is None else _add(b_ih, b_hh)
        return (_linear(x, w_ih, bias),), (_transpose(w_hh),)

    @staticmethod
    def step(projs, states, consts, **slab):
        h, c = states
        w_t, = consts
        # 1 node: gates = proj_t + h @ W_hh^T, then
        # c' = sig(f) * c + sig(i) * tanh(g);  h' = sig(o) * tanh(c')
        return _lstm_step(projs[0], h, c, w_t, **slab)


class _GRUMath:
    name, gates, n_states = "gru", 3, 1

    @staticmethod
    def prep(x, weights, nonlinearity=None):
        w_ih, w_hh, b_ih, b_hh = weights
        H = w_hh.shape[1]
        if b_ih is None:
            bias = b_h = None
        else:  # fold b_hr, b_hz into the input projection; b_hn stays inside r * (...)
            bias = _add(b_ih, _mul(b_hh, _constant(b_hh, [1.0] * (2 * H) + [0.0] * H)))
            b_h = _mul(b_hh, _constant(b_hh, [0.0] * (2 * H) + [1.0] * H))  # (0, 0, b_hn)
        return (_linear(x, w_ih, bias),), (_transpose(w_hh), b_h)

    @staticmethod
    def step(projs, states, consts, **slab):
        h = states[0]
        w_t, b_h = consts
        # 1 node: gh = h @ W_hh^T + (0, 0, b_hn), then r, z = sig(x_rz + gh_rz);
        # n = tanh(x_n + r * gh_n); h' = (1 - z) * n + z * h
        return (_gru_step(projs[0], h, w_t, **slab) if b_h is None else
                _gru_step(projs[0], h, w_t, b_h, **slab),)


def _graph_direction(cell, x, states, weights, *, reverse, nonlinearity, time_dim=0,
                     out_dim=0):
    """One layer direction as a loop of graph ops; returns ``(output, final_states)``.

    ``x`` has time on ``time_dim``; the output stacks the steps on ``out_dim``.
    """
    (proj,), consts = cell.prep(x, weights, nonlinearity)
    column = _split(proj, sizes=(1,) * x.shape[time_dim], dim=time_dim, squeeze=True)
    step = cell.step
    observer = getattr(_watch, "observer", None)
    outs = [None] * len(column)
    slab = C.StepSlab(len(column))  # the states and d pre of all steps, in one array each
    order = reversed(range(len(column))) if reverse else range(len(column))
    for k, t in enumerate(order):
        new = step((column[t],), states, consts, slab=slab, k=k)
        if observer is not None:
            observer.step(t, column[t], states, new, consts)
        states = new
        outs[t] = states[0]
    return _stack(*outs, dim=out_dim), states


def _graph_direction_packed(cell, data, states, weights, *, batch_sizes, reverse,
                            nonlinearity, **_):
    """One layer direction over a packed batch (``data`` ``(N, I)``, the batch sorted
    by decreasing length, ``batch_sizes[t]`` rows active at step ``t``), as PyTorch runs
    it: step ``t`` computes only those leading rows, so padding never enters the graph.

    Forward: when ``batch_sizes`` drops, the state is split and the finished rows' part
    is set aside -- it is their final state.  Reverse: the sequences join as ``t``
    decreases, each starting from its initial state at its own last step.  Returns
    ``(packed output (N, H), final states (B, H) in sorted order)``.
    """
    (proj,), consts = cell.prep(data, weights, nonlinearity)
    sizes = [int(n) for n in batch_sizes]
    T = len(sizes)
    column = _split(proj, sizes=tuple(sizes), dim=0, squeeze=False) if T > 1 else (proj,)
    step = cell.step
    outs = [None] * T
    if not reverse:
        finished = [[] for _ in states]  # final states of the rows that stopped, in order
        rows = sizes[0]
        for t in range(T):
            if sizes[t] < rows:
                parts = [_split(s, sizes=(sizes[t], rows - sizes[t]), dim=0, squeeze=False)
                         for s in states]
                states = tuple(active for active, _ in parts)
                for done, (_, stopped) in zip(finished, parts):
                    done.append(stopped)
                rows = sizes[t]
            states = step((column[t],), states, consts)
            outs[t] = states[0]
        # rows stop in decreasing row order: the last ones to stop come first
        finals = tuple(S.Cat.apply(s, *reversed(done), dim=0) if done else s
                       for s, done in zip(states, finished))
    else:
        # the blocks of rows that join at t = T-1, then wherever batch_sizes grows
        blocks = [sizes[-1]] + [sizes[t] - sizes[t + 1] for t in range(T - 2, -1, -1)
                                if sizes[t] > sizes[t + 1]]
        pieces = [_split(s, sizes=tuple(blocks), dim=0, squeeze=False) if len(blocks) > 1
                  else (s,) for s in states]
        states, joined, rows = tuple(p[0] for p in pieces), 0, sizes[-1]
        for t in range(T - 1, -1, -1):
            if sizes[t] > rows:
                joined += 1
                states = tuple(S.Cat.apply(s, p[joined], dim=0)
                               for s, p in zip(states, pieces))
                rows = sizes[t]
            states = step((column[t],), states, consts)
            outs[t] = states[0]
        finals = states
    return (S.Cat.apply(*outs, dim=0) if T > 1 else outs[0]), finals


# ------------------------------------------------------------------ validation
_BATCH_FIRST_HINT = ("; if your input is (timesteps, batch, input_size), pass "
                     "batch_first=False (recurrent layers here default to "
                     "batch_first=True, unlike PyTorch)")


def _check_size(owner: str, name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value}")
    return int(value)


_NONLINEARITIES = ("tanh", "relu")


def _check_nonlinearity(owner: str, nonlinearity) -> str:
    if nonlinearity not in _NONLINEARITIES:
        raise ValueError(f"{owner}: unknown nonlinearity {nonlinearity!r}, expected one "
                         f"of {_NONLINEARITIES}")
    return nonlinearity


def _check_tensor_arg(owner: str, name: str, t, like: Tensor) -> None:
    """``t`` must be a Tensor of ``like``'s dtype and device."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{owner}: expected {name} to be a Tensor, got {type(t).__name__}")
    if t.device != like.device:
        raise ValueError(f"{owner}: {name} is on device '{t.device}' but the input is on "
                         f"'{like.device}'; put them on the same device")
    if t.dtype != like.dtype:
        raise TypeError(f"{owner}: {name} has dtype {t.dtype} but the input has dtype "
                        f"{like.dtype}; they must match")


def _check_input_tensor(owner: str, x, weight: Tensor) -> None:
    """Type, dtype and device of the input against the module's parameters."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{owner}: expected the input to be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{owner}: expected a floating-point input, got dtype {x.dtype} "
                        "(convert it with .float() or .double())")
    if x.device != weight.device:
        raise ValueError(
            f"{owner}: the input is on device '{x.device}' but the parameters are on "
            f"'{weight.device}'; move the input (x.to('{weight.device}')) or the module "
            f"(module.to('{x.device}'))")
    if x.dtype != weight.dtype:
        raise TypeError(
            f"{owner}: the input has dtype {x.dtype} but the parameters have dtype "
            f"{weight.dtype}; convert one of them (x.to(...), module.float() / .double())")


def _alias(owner: str, name: str, value, alias: str, alias_value):
    """The state passed as ``name`` or as its alias ``alias`` (not both)."""
    if alias_value is None:
        return value
    if value is not None:
        raise TypeError(f"{owner}: got both {name} and {alias} (the same argument); "
                        "pass one")
    return alias_value


def _check_state_pair(owner: str, hx, names: str) -> tuple:
    """``hx`` as a 2-tuple of states (``None``: both zeros); raises ``TypeError`` naming
    what came instead (another type, or a tuple / list of the wrong length)."""
    if hx is None:
        return (None, None)
    if isinstance(hx, (tuple, list)):
        if len(hx) == 2:
            return tuple(hx)
        got = f"a {type(hx).__name__} of length {len(hx)}"
    else:
        got = type(hx).__name__
    raise TypeError(f"{owner}: expected hx to be a tuple {names} of Tensors or None, "
                    f"got {got}")


def _zeros(like: Tensor, shape: tuple) -> Tensor:
    xp = backend.get_array_module(like.data)
    return Tensor._make(xp.zeros(shape, dtype=like.dtype))


# ------------------------------------------------------------------ layers
class RNNBase(Module):
    """Shared machinery of :class:`RNN`, :class:`LSTM` and :class:`GRU`: parameters,
    validation, layers, directions, ``batch_first``, states and inter-layer dropout.

    Subclasses only choose the cell math (``_cell``) and how states are passed in and
    returned.
    """

    _cell = _RNNMath

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, fused: bool = False,
                 nonlinearity: str = "tanh") -> None:
        super().__init__()
        owner = type(self).__name__
        input_size = _check_size(owner, "input_size", input_size)
        hidden_size = _check_size(owner, "hidden_size", hidden_size)
        num_layers = _check_size(owner, "num_layers", num_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not (
                0 <= dropout <= 1):
            raise ValueError(f"{owner}: dropout must be a number in [0, 1] (the probability "
                             f"of zeroing an element), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{owner}: dropout={dropout} has no effect with num_layers=1: dropout is "
                "applied between recurrent layers, after all but the last", stacklevel=2)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.fused = bool(fused)
        self.nonlinearity = nonlinearity
        D = 2 if bidirectional else 1
        G = self._cell.gates
        # names of (w_ih, w_hh, b_ih, b_hh) per layer and direction, in PyTorch's order
        self._flat_weights_names: list[tuple] = []
        dtype = dtypes.get_default_dtype()
        for k in range(num_layers):
            in_k = input_size if k == 0 else D * hidden_size
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                shapes = [("weight_ih", (G * hidden_size, in_k)),
                          ("weight_hh", (G * hidden_size, hidden_size))]
                if bias:
                    shapes += [("bias_ih", (G * hidden_size,)), ("bias_hh", (G * hidden_size,))]
                for base, shape in shapes:
                    setattr(self, base + sfx, Parameter(_empty(shape, dtype)))
                names = tuple(base + sfx for base, _ in shapes)
                self._flat_weights_names.append(names + (None, None)[:4 - len(names)])
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for name in self._weight_names():
            init.uniform_(getattr(self, name), -bound, bound)

    def _weight_names(self) -> list[str]:
        return [n for names in self._flat_weights_names for n in names if n is not None]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """The parameters per layer and direction, as PyTorch's ``all_weights``."""
        return [[getattr(self, n) for n in names if n is not None]
                for names in self._flat_weights_names]

    def flatten_parameters(self) -> None:
        """No-op (PyTorch compatibility: cuDNN weight packing)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.mode == "RNN" and self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            s += ", bias=False"
        if not self.batch_first:  # the default here is True
            s += ", batch_first=False"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.fused:
            s += ", fused=True"
        return s

    # -- checks ----------------------------------------------------------------
    def _check_forward_args(self, x, states: tuple) -> tuple:
        """Validate input and states (nothing changes on error); returns
        ``(unbatched, batch)``."""
        owner = type(self).__name__
        _check_input_tensor(owner, x, self.weight_ih_l0)
        layout = ("(batch, timesteps, input_size)" if self.batch_first
                  else "(timesteps, batch, input_size)")
        if x.ndim not in (2, 3):
            raise ValueError(
                f"{owner}: expected a 3-D input {layout} or an unbatched 2-D input "
                f"(timesteps, input_size), got a {x.ndim}-D input of shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            kind = "unbatched 2-D " if x.ndim == 2 else ""
            raise ValueError(
                f"{owner}: expected input_size={self.input_size} (the last dim of the "
                f"{kind}input), got {x.shape[-1]} (input shape {tuple(x.shape)}; expected "
                f"{'(timesteps, input_size)' if x.ndim == 2 else layout})")
        unbatched = x.ndim == 2
        T = x.shape[1 if (self.batch_first and not unbatched) else 0]
        B = 1 if unbatched else x.shape[0 if self.batch_first else 1]
        if T == 0:
            raise ValueError(f"{owner}: expected at least one timestep, got input of shape "
                             f"{tuple(x.shape)}")
        D = 2 if self.bidirectional else 1
        if unbatched:
            expected = (self.num_layers * D, self.hidden_size)
            desc = "(num_layers*num_directions, hidden_size) for unbatched 2-D input"
        else:
            expected = (self.num_layers * D, B, self.hidden_size)
            desc = "(num_layers*num_directions, batch, hidden_size)"
        names = ("h0", "c0")[:len(states)]
        given = [(n, s) for n, s in zip(names, states) if s is not None]
        for name, s in given:
            _check_tensor_arg(owner, name, s, x)
        if len(given) == 2 and given[0][1].shape != given[1][1].shape:
            raise ValueError(
                f"{owner}: h0 and c0 must have the same shape {expected} {desc}, got h0 "
                f"{tuple(given[0][1].shape)} and c0 {tuple(given[1][1].shape)}")
        for name, s in given:
            if tuple(s.shape) != expected:
                # a wrong batch size is what a PyTorch-style (T, B, I) input gives here
                hint = _BATCH_FIRST_HINT if (self.batch_first and not unbatched
                                             and s.ndim == 3 and s.shape[1] != B) else ""
                raise ValueError(f"{owner}: expected {name} of shape {expected} {desc}, "
                                 f"got {tuple(s.shape)} (the input {tuple(x.shape)} is read "
                                 f"as {layout}){hint}")
        return unbatched, B

    def _check_packed_args(self, packed: PackedSequence, states: tuple) -> int:
        """Validate a packed input and its states (nothing changes on error); returns
        the batch size."""
        owner = type(self).__name__
        data = packed.data
        _check_input_tensor(owner, data, self.weight_ih_l0)
        if data.ndim != 2 or data.shape[1] != self.input_size:
            raise ValueError(
                f"{owner}: PackedSequence feature size mismatch: expected data of shape "
                f"(sum(lengths), input_size={self.input_size}), got {tuple(data.shape)}")
        B = int(packed.batch_sizes.data[0])
        D = 2 if self.bidirectional else 1
        expected = (self.num_layers * D, B, self.hidden_size)
        names = ("h0", "c0")[:len(states)]
        for name, s in zip(names, states):
            if s is None:
                continue
            _check_tensor_arg(owner, name, s, data)
            if tuple(s.shape) != expected:
                raise ValueError(
                    f"{owner}: expected {name} of shape {expected} (num_layers*"
                    f"num_directions, batch, hidden_size) for a PackedSequence of {B} "
                    f"sequences (batch_sizes[0]), got {tuple(s.shape)}")
        return B

    # -- forward ---------------------------------------------------------------
    def _run(self, x: Tensor | PackedSequence, states: tuple) -> tuple:
        """The layers over a validated input; ``states`` are the full ``(L*D, B, H)``
        initial states (``None``: zeros).  Returns ``(output, final_states)``."""
        if isinstance(x, PackedSequence):
            return self._run_packed(x, states)
        unbatched, B = self._check_forward_args(x, states)
        if unbatched:  # (T, I) -> (T, 1, I), states (L*D, H) -> (L*D, 1, H)
            x = S.Reshape.apply(x, shape=(x.shape[0], 1, x.shape[1]))
            states = tuple(None if s is None else S.Reshape.apply(
                s, shape=(s.shape[0], 1, s.shape[1])) for s in states)
        batch_first = self.batch_first and not unbatched
        if batch_first:  # time-major inside: (B, T, I) -> (T, B, I), a view
            x = S.Transpose.apply(x, dim0=0, dim1=1)
        run = fused_direction if self.fused else _graph_direction
        # the top layer stacks its steps straight into the (B, T, .) result
        output, finals = self._run_layers(x, states, B, run, feature_dim=2,
                                          top_out_dim=1 if batch_first else 0,
                                          observer=getattr(_watch, "observer", None))
        if unbatched:
            output = S.Reshape.apply(output, shape=(output.shape[0], output.shape[2]))
            finals = [S.Reshape.apply(f, shape=(f.shape[0], f.shape[2])) for f in finals]
        return output, finals

    def _run_layers(self, layer_in: Tensor, states: tuple, B: int, run, *, feature_dim: int,
                    top_out_dim: int = 0, observer=None, **run_kwargs) -> tuple:
        """Every layer and direction, by ``run`` (a ``*_direction`` function), from the
        time-major input ``layer_in``; inter-layer dropout in training.  The directions'
        outputs are joined on ``feature_dim``; the top layer's steps are stacked on
        ``top_out_dim``.  Returns ``(output, final states (L*D, B, H) per state)``."""
        H, D, cell = self.hidden_size, 2 if self.bidirectional else 1, self._cell
        per_layer = [None if s is None else _split(s, sizes=(1,) * s.shape[0], dim=0,
                                                   squeeze=True) for s in states]
        finals: list[list[Tensor]] = [[] for _ in states]
        for k in range(self.num_layers):
            if k > 0 and self.dropout > 0 and self.training:
                from . import functional as F

                layer_in = F.dropout(layer_in, p=self.dropout, training=True)
            out_dim = top_out_dim if k == self.num_layers - 1 else 0
            outs = []
            for d in range(D):
                idx = k * D + d
                weights = tuple(None if n is None else getattr(self, n)
                                for n in self._flat_weights_names[idx])
                init_states = tuple(_zeros(layer_in, (B, H)) if s is None else s[idx]
                                    for s in per_layer)
                if observer is not None:
                    observer.enter(self, k, d)
                out, fin = run(cell, layer_in, init_states, weights, reverse=d == 1,
                               out_dim=out_dim, nonlinearity=self.nonlinearity, **run_kwargs)
                outs.append(out)
                for f_list, f in zip(finals, fin):
                    f_list.append(f)
            layer_in = outs[0] if D == 1 else S.Cat.apply(*outs, dim=feature_dim)
        return layer_in, [_stack(*f, dim=0) for f in finals]

    def _run_packed(self, packed: PackedSequence, states: tuple) -> tuple:
        """The layers over a :class:`PackedSequence`, as PyTorch: the caller's states
        are permuted into the packed (sorted) batch order, every layer direction runs
        over the packed rows (graph: slicing the state per step; fused: the kernels'
        ``batch_sizes`` mode), and the final states -- each taken at its sequence's
        end -- go back to the caller's order.  Returns ``(PackedSequence, finals)``."""
        B = self._check_packed_args(packed, states)
        states = [_permute_batch(s, packed.sorted_indices) for s in states]
        run = fused_direction if self.fused else _graph_direction_packed
        layer_in, finals = self._run_layers(packed.data, states, B, run, feature_dim=1,
                                            batch_sizes=packed.batch_sizes.data)
        finals = [_permute_batch(f, packed.unsorted_indices) for f in finals]
        output = PackedSequence(layer_in, packed.batch_sizes, packed.sorted_indices,
                                packed.unsorted_indices)
        return output, finals


def _permute_batch(s: Tensor | None, index: Tensor | None) -> Tensor | None:
    """``s[:, index]``: states ``(L*D, B, H)`` into (or out of) the sorted order."""
    if s is None or index is None:
        return s
    return Q.GatherRows.apply(s, index=(slice(None), index.data))


def _empty(shape: tuple, dtype) -> Tensor:
    return Tensor._make(backend.xp_for("cpu").empty(shape, dtype=dtype))


class RNN(RNNBase):
    r"""Multi-layer Elman RNN: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``
    with ``act`` = tanh or relu.

    Args:
        input_size, hidden_size: features of ``x`` and of ``h``.
        num_layers: stacked layers (layer ``k > 0`` reads layer ``k-1``'s output).
        nonlinearity: ``'tanh'`` or ``'relu'``.
        bias: with ``False``, no ``bias_ih_l*`` / ``bias_hh_l*`` parameters.
        batch_first: input/output ``(batch, timesteps, features)`` (the default here)
            rather than ``(timesteps, batch, features)``.  States are always
            ``(num_layers*D, batch, hidden_size)``.
        dropout: dropout probability on the outputs of every layer but the last,
            in training mode only.
        bidirectional: add a reverse-time direction per layer (``D = 2``); outputs
            concatenate forward then reverse features.
        fused: run each layer direction as one autograd node (hand-derived BPTT of
            ``models.bptt``); same results, far fewer graph nodes.  No
            ``create_graph=True`` through it.

    Call ``rnn(x, h0=None)`` with ``x`` ``(B, T, input_size)`` (``(T, B, input_size)``
    when ``batch_first=False``, or unbatched ``(T, input_size)``); returns
    ``(output, h_n)``, ``output`` ``(B, T, D*hidden_size)`` and ``h_n``
    ``(num_layers*D, B, hidden_size)``.  ``x`` may also be a ``PackedSequence``
    (``nn.utils.rnn.pack_padded_sequence``): ``output`` is then a ``PackedSequence``
    and ``h_n`` holds each sequence's state at its own end, in the caller's order.
    Parameters ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (+ ``_reverse``), all U(-1/sqrt(H), 1/sqrt(H)).

    Truncated BPTT, the PyTorch way -- carry the state across chunks but cut the graph
    with ``detach()``, so each backward only goes through its own chunk::

        rnn = nn.RNN(8, 32)
        h = None
        for chunk, target in chunks:          # chunk: (B, k, 8)
            out, h = rnn(chunk, h)
            loss = loss_fn(out, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            h = h.detach()                    # keep the value, drop the history
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = True,
                 dropout: float = 0.0, bidirectional: bool = False,
                 fused: bool = False) -> None:
        _check_nonlinearity("RNN", nonlinearity)
        super().__init__("RNN", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, fused, nonlinearity)

    def forward(self, input: Tensor, h0: Tensor | None = None, *,  # noqa: A002
                hx: Tensor | None = None):
        """``(output, h_n)``; ``hx=`` is accepted as PyTorch's name for ``h0``."""
        h0 = _alias(type(self).__name__, "h0", h0, "hx", hx)
        output, (h_n,) = self._run(input, (h0,))
        return output, h_n


class LSTM(RNNBase):
    r"""Multi-layer LSTM (gate order i, f, g, o, as PyTorch)::

        i, f, g, o = sig, sig, tanh, sig(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f * c_{t-1} + i * g;   h_t = o * tanh(c_t)

    Arguments as :class:`RNN` (no ``nonlinearity``); ``weight_ih_l{k}`` is
    ``(4*hidden_size, in)``.  Call ``lstm(x, hx=None)`` with ``hx = (h0, c0)``;
    returns ``(output, (h_n, c_n))``.  Truncated BPTT: carry
    ``hx = (h.detach(), c.detach())`` between chunks (see :class:`RNN`).
    """

    _cell = _LSTMMath

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, fused: bool = False) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, fused)

    def forward(self, input: Tensor, hx=None):  # noqa: A002
        hx = _check_state_pair(type(self).__name__, hx, "(h0, c0)")
        output, (h_n, c_n) = self._run(input, hx)
        return output, (h_n, c_n)


class GRU(RNNBase):
    r"""Multi-layer GRU (gate order r, z, n, as PyTorch)::

        r = sig(W_ir x + b_ir + W_hr h + b_hr);   z = sig(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn));   h' = (1 - z) * n + z * h

    Arguments and call as :class:`RNN` (no ``nonlinearity``); ``weight_ih_l{k}`` is
    ``(3*hidden_size, in)``.  Truncated BPTT: ``h = h.detach()`` between chunks.
    """

    _cell = _GRUMath

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = True, dropout: float = 0.0,
                 bidirectional: bool = False, fused: bool = False) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, fused)

    def forward(self, input: Tensor, h0: Tensor | None = None, *,  # noqa: A002
                hx: Tensor | None = None):
        """``(output, h_n)``; ``hx=`` is accepted as PyTorch's name for ``h0``."""
        h0 = _alias(type(self).__name__, "h0", h0, "hx", hx)
        output, (h_n,) = self._run(input, (h0,))
        return output, h_n


# ------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """Shared machinery of the one-step cells (parameters, checks, unbatched input)."""

    _cell = _RNNMath

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        super().__init__()
        owner = type(self).__name__
        self.input_size = _check_size(owner, "input_size", input_size)
        self.hidden_size = _check_size(owner, "hidden_size", hidden_size)
        self.bias = bool(bias)
        self.nonlinearity = nonlinearity
        G, H = self._cell.gates, hidden_size
        dtype = dtypes.get_default_dtype()
        self.weight_ih = Parameter(_empty((G * H, input_size), dtype))
        self.weight_hh = Parameter(_empty((G * H, H), dtype))
        if bias:
            self.bias_ih = Parameter(_empty((G * H,), dtype))
            self.bias_hh = Parameter(_empty((G * H,), dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self._weights():
            if p is not None:
                init.uniform_(p, -bound, bound)

    def _weights(self) -> tuple:
        return (self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s

    def _step(self, x, states: tuple) -> tuple:
        owner = type(self).__name__
        _check_input_tensor(owner, x, self.weight_ih)
        if x.ndim not in (1, 2):
            raise ValueError(f"{owner}: expected a 2-D input (batch, input_size) or an "
                             f"unbatched 1-D input (input_size,), got a {x.ndim}-D input "
                             f"of shape {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{owner}: expected input_size={self.input_size} (the last dim "
                             f"of the input), got {x.shape[-1]} (input shape "
                             f"{tuple(x.shape)})")
        unbatched = x.ndim == 1
        H = self.hidden_size
        expected = (H,) if unbatched else (x.shape[0], H)
        desc = "(hidden_size,) for unbatched 1-D input" if unbatched else \
            "(batch, hidden_size)"
        names = ("h", "c")[:len(states)]
        for name, s in zip(names, states):
            if s is None:
                continue
            _check_tensor_arg(owner, name, s, x)
            if tuple(s.shape) != expected:
                raise ValueError(f"{owner}: expected {name} of shape {expected} {desc}, "
                                 f"got {tuple(s.shape)}")
        if unbatched:
            x = S.Reshape.apply(x, shape=(1, x.shape[0]))
            states = tuple(None if s is None else S.Reshape.apply(s, shape=(1, H))
                           for s in states)
        states = tuple(_zeros(x, (x.shape[0], H)) if s is None else s for s in states)
        projs, consts = self._cell.prep(x, self._weights(), self.nonlinearity)
        states = self._cell.step(projs, states, consts)
        if unbatched:
            states = tuple(S.Reshape.apply(s, shape=(H,)) for s in states)
        return states


class RNNCell(RNNCellBase):
    """One Elman RNN step: ``h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)``.

    ``cell(x, h=None)`` with ``x`` ``(batch, input_size)`` or unbatched
    ``(input_size,)``; ``h`` ``(batch, hidden_size)`` (``None``: zeros).  Returns ``h'``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh") -> None:
        _check_nonlinearity("RNNCell", nonlinearity)
        super().__init__(input_size, hidden_size, bias, nonlinearity)

    def forward(self, input: Tensor, h: Tensor | None = None, *,  # noqa: A002
                hx: Tensor | None = None) -> Tensor:
        """``h'``; ``hx=`` is accepted as PyTorch's name for ``h``."""
        h = _alias(type(self).__name__, "h", h, "hx", hx)
        return self._step(input, (h,))[0]


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o).  ``cell(x, hx=None)`` with ``hx = (h, c)``;
    returns ``(h', c')``."""

    _cell = _LSTMMath

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)

    def forward(self, input: Tensor, hx=None):  # noqa: A002
        hx = _check_state_pair(type(self).__name__, hx, "(h, c)")
        h, c = self._step(input, hx)
        return h, c


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n).  ``cell(x, h=None)``; returns ``h'``."""

    _cell = _GRUMath

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)

    def forward(self, input: Tensor, h: Tensor | None = None, *,  # noqa: A002
                hx: Tensor | None = None) -> Tensor:
        """``h'``; ``hx=`` is accepted as PyTorch's name for ``h``."""
        h = _alias(type(self).__name__, "h", h, "hx", hx)
        return self._step(input, (h,))[0]
