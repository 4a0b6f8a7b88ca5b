"""The benchmark's workload, written once per implementation.

One training step: a recurrent network (``num_layers`` tanh-RNN / LSTM / GRU layers,
batch-first input, zero initial state), a Linear head at every timestep, a mean
classification loss over all ``B*T`` positions, backward, and a plain SGD update
(lr 0.1), float32.  The input is either a float sequence ``(B, T, I)`` or, for the
word-language-model configs, token ids ``(B, T)`` through an Embedding.  The loss is
``cross_entropy`` or, as PyTorch's word_language_model example writes it,
``log_softmax`` followed by ``NLLLoss``.

Every implementation starts from the same parameters (PyTorch's layout and names) and
the same data, so their first losses agree (the harness prints them).  This module
imports no framework at import time: a worker imports only the one it runs.

Implementations (``IMPLS``): ``floor`` (hand-written NumPy, or CuPy on ``cuda``: the
floor for array code), ``graph`` (minigrad ``nn.RNN``... through the autograd graph),
``cell`` (an explicit ``nn.RNNCell``... loop), ``fused`` (``nn.RNN(fused=True)``),
``bptt`` (``models.bptt`` forward/backward with a hand-written head), ``torch``
(``torch.nn.RNN``...) and ``jax`` (``jax.jit`` + ``lax.scan``).
"""

from __future__ import annotations

import numpy as np

CONFIGS = {
    "tiny": dict(B=1, T=25, I=65, H=100, C=65),
    "small": dict(B=32, T=50, I=64, H=128, C=64),
    "medium": dict(B=64, T=100, I=128, H=256, C=128),
    "large": dict(B=128, T=100, I=256, H=1024, C=256),
    "long": dict(B=16, T=1000, I=32, H=64, C=32),
    # PyTorch's word_language_model example at the sizes of a small run: 2 layers,
    # embedding 64, hidden 64, bptt 35, batch 20, an 18,000-word vocabulary.
    "wordlm": dict(B=20, T=35, I=64, H=64, C=18000, layers=2, embed=True, loss="nll"),
    "wordlm-ce": dict(B=20, T=35, I=64, H=64, C=18000, layers=2, embed=True, loss="ce"),
}
IMPLS = ("floor", "graph", "cell", "fused", "bptt", "torch", "jax")
LR = 0.1
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def config(name: str) -> dict:
    """The config with its defaults filled in (1 layer, float input, cross-entropy)."""
    return {"layers": 1, "embed": False, "loss": "ce", **CONFIGS[name]}


def make_data(cfg: dict, seed: int = 0):
    """``(x, y)``: float32 ``(B, T, I)`` input (token ids ``(B, T)`` with ``embed``) and
    int64 ``(B, T)`` targets in ``[0, C)``."""
    rng = np.random.default_rng(seed)
    B, T = cfg["B"], cfg["T"]
    if cfg["embed"]:
        x = rng.integers(0, cfg["C"], size=(B, T))
    else:
        x = rng.standard_normal((B, T, cfg["I"])).astype(np.float32)
    return x, rng.integers(0, cfg["C"], size=(B, T))


def make_params(cfg: dict, cell: str, seed: int = 1) -> dict:
    """float32 parameters under the names of the minigrad/PyTorch model
    (``embed.weight``, ``rnn.weight_ih_l0``, ..., ``out.weight``, ``out.bias``)."""
    rng = np.random.default_rng(seed)
    H, G = cfg["H"], GATES[cell]

    def u(*shape, bound):
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    params = {}
    if cfg["embed"]:
        params["embed.weight"] = u(cfg["C"], cfg["I"], bound=0.1)
    k = 1 / np.sqrt(H)
    for layer in range(cfg["layers"]):
        size_in = cfg["I"] if layer == 0 else H
        params[f"rnn.weight_ih_l{layer}"] = u(G * H, size_in, bound=k)
        params[f"rnn.weight_hh_l{layer}"] = u(G * H, H, bound=k)
        params[f"rnn.bias_ih_l{layer}"] = u(G * H, bound=k)
        params[f"rnn.bias_hh_l{layer}"] = u(G * H, bound=k)
    params["out.weight"] = u(cfg["C"], H, bound=k)
    params["out.bias"] = u(cfg["C"], bound=k)
    return params


def _sync_cupy():
    import cupy

    cupy.cuda.Device().synchronize()


# --- the floor: forward + BPTT written by hand for exactly this workload -------------


class _Buffers:
    """Named arrays kept across steps: allocated on first use, reused while the shape
    stays the same (what a hand-written training loop would do)."""

    def __init__(self, xp):
        self.xp, self.arrays = xp, {}

    def __call__(self, name: str, shape: tuple):
        a = self.arrays.get(name)
        if a is None or a.shape != shape:
            a = self.arrays[name] = self.xp.empty(shape, np.float32)
        return a


def _sigmoid_(xp, a):
    """In-place logistic sigmoid as ``0.5 * tanh(0.5 a) + 0.5`` (no overflow)."""
    a *= 0.5
    xp.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def _one_minus_square(xp, a, out):
    """``out = 1 - a^2``."""
    xp.multiply(a, a, out=out)
    xp.subtract(1, out, out=out)


class _FloorLayer:
    """One recurrent layer, time-major, into buffers kept across steps: one GEMM for
    all input projections, one recurrent GEMM per step, the local derivatives of all
    steps at once, the weight gradients as one GEMM over all timesteps."""

    def __init__(self, xp):
        self.xp, self.buf = xp, _Buffers(xp)

    def _grads(self, d_in, d_rec, xs, hs, w_ih, need_dx):
        """Weight gradients (and the input's, if ``need_dx``) from the pre-activation
        gradients ``d_in`` (input side) and ``d_rec`` (recurrent side), ``(T, B, G)``."""
        xp, buf = self.xp, self.buf
        T, B, G = d_in.shape
        I, H = xs.shape[2], hs.shape[2]
        di2, dr2 = d_in.reshape(T * B, G), d_rec.reshape(T * B, G)
        g_w_ih = xp.matmul(di2.T, xs.reshape(T * B, I), out=buf("g_w_ih", (G, I)))
        g_w_hh = xp.matmul(dr2.T, hs[:-1].reshape(T * B, H), out=buf("g_w_hh", (G, H)))
        g_b_ih = di2.sum(axis=0, out=buf("g_b_ih", (G,)))
        g_b_hh = g_b_ih if d_rec is d_in else dr2.sum(axis=0, out=buf("g_b_hh", (G,)))
        dx = None
        if need_dx:
            dx = buf("dx", (T, B, I))
            xp.matmul(di2, w_ih, out=dx.reshape(T * B, I))
        return dx, (g_w_ih, g_w_hh, g_b_ih, g_b_hh)


class _FloorRNN(_FloorLayer):
    def forward(self, xs, w_ih, w_hh, b_ih, b_hh):
        xp, buf = self.xp, self.buf
        T, B, I = xs.shape
        H = w_hh.shape[1]
        hs = buf("hs", (T + 1, B, H))  # hs[0] = h0 = 0, hs[t+1] = h_t
        hs[0] = 0
        pre = buf("pre", (T, B, H))
        xp.matmul(xs.reshape(T * B, I), w_ih.T, out=pre.reshape(T * B, H))
        pre += b_ih
        pre += b_hh
        w_hh_t = w_hh.T
        for t in range(T):
            h = hs[t + 1]
            xp.matmul(hs[t], w_hh_t, out=h)
            h += pre[t]
            xp.tanh(h, out=h)
        self.cache = xs, hs, w_ih, w_hh
        return hs[1:]

    def backward(self, dys, need_dx):
        xp, buf = self.xp, self.buf
        xs, hs, w_ih, w_hh = self.cache
        T, B, H = dys.shape
        dpre = buf("dpre", (T, B, H))
        _one_minus_square(xp, hs[1:], dpre)  # 1 - h_t^2 for every step
        dh, rec = buf("dh", (B, H)), buf("rec", (B, H))
        dh[...] = 0
        for t in range(T - 1, -1, -1):
            dh += dys[t]
            dpre[t] *= dh  # d pre_t = (1 - h_t^2) * dh_t
            xp.matmul(dpre[t], w_hh, out=rec)  # dh_{t-1} = d pre_t @ W_hh
            dh, rec = rec, dh
        return self._grads(dpre, dpre, xs, hs, w_ih, need_dx)


class _FloorLSTM(_FloorLayer):
    """Gates i, f, g, o as PyTorch."""

    def forward(self, xs, w_ih, w_hh, b_ih, b_hh):
        xp, buf = self.xp, self.buf
        T, B, I = xs.shape
        H = w_hh.shape[1]
        gates = buf("gates", (T, B, 4 * H))
        xp.matmul(xs.reshape(T * B, I), w_ih.T, out=gates.reshape(T * B, 4 * H))
        gates += b_ih
        gates += b_hh
        hs, cs = buf("hs", (T + 1, B, H)), buf("cs", (T + 1, B, H))
        hs[0] = 0
        cs[0] = 0
        tanh_c = buf("tanh_c", (T, B, H))
        rec, tmp = buf("rec4", (B, 4 * H)), buf("tmp", (B, H))
        w_hh_t = w_hh.T
        for t in range(T):
            g = gates[t]
            xp.matmul(hs[t], w_hh_t, out=rec)
            g += rec
            _sigmoid_(xp, g[:, :2 * H])
            xp.tanh(g[:, 2 * H:3 * H], out=g[:, 2 * H:3 * H])
            _sigmoid_(xp, g[:, 3 * H:])
            i, f, gg, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
            c = cs[t + 1]
            xp.multiply(f, cs[t], out=c)
            xp.multiply(i, gg, out=tmp)
            c += tmp
            xp.tanh(c, out=tanh_c[t])
            xp.multiply(o, tanh_c[t], out=hs[t + 1])
        self.cache = xs, hs, cs, gates, tanh_c, w_ih, w_hh
        return hs[1:]

    def backward(self, dys, need_dx):
        xp, buf = self.xp, self.buf
        xs, hs, cs, gates, tanh_c, w_ih, w_hh = self.cache
        T, B, G = gates.shape
        H = G // 4
        # local derivatives of every step at once: s(1 - s) for the sigmoid gates,
        # 1 - g^2 for the tanh gate, 1 - tanh(c)^2 for the cell output
        local = buf("local", (T, B, G))
        xp.multiply(gates, gates, out=local)
        xp.subtract(gates, local, out=local)
        _one_minus_square(xp, gates[..., 2 * H:3 * H], local[..., 2 * H:3 * H])
        dtanh_c = buf("dtanh_c", (T, B, H))
        _one_minus_square(xp, tanh_c, dtanh_c)
        dgates = buf("dgates", (T, B, G))
        dh, rec = buf("dh", (B, H)), buf("rec", (B, H))
        dc, tmp = buf("dc", (B, H)), buf("tmp", (B, H))
        dh[...] = 0
        dc[...] = 0
        for t in range(T - 1, -1, -1):
            dh += dys[t]
            g, d = gates[t], dgates[t]
            i, f, gg, o = g[:, :H], g[:, H:2 * H], g[:, 2 * H:3 * H], g[:, 3 * H:]
            xp.multiply(dh, tanh_c[t], out=d[:, 3 * H:])  # do
            xp.multiply(dh, o, out=tmp)
            tmp *= dtanh_c[t]
            dc += tmp  # dc_t = (dc_{t+1} f_{t+1}) + dh o (1 - tanh^2 c)
            xp.multiply(dc, gg, out=d[:, :H])  # di
            xp.multiply(dc, cs[t], out=d[:, H:2 * H])  # df
            xp.multiply(dc, i, out=d[:, 2 * H:3 * H])  # dg
            d *= local[t]
            dc *= f
            xp.matmul(d, w_hh, out=rec)
            dh, rec = rec, dh
        return self._grads(dgates, dgates, xs, hs, w_ih, need_dx)


class _FloorGRU(_FloorLayer):
    """Gates r, z, n as PyTorch: ``n = tanh(W_in x + b_in + r (W_hn h + b_hn))``."""

    def forward(self, xs, w_ih, w_hh, b_ih, b_hh):
        xp, buf = self.xp, self.buf
        T, B, I = xs.shape
        H = w_hh.shape[1]
        act = buf("act", (T, B, 3 * H))  # input projections, then r, z, n
        xp.matmul(xs.reshape(T * B, I), w_ih.T, out=act.reshape(T * B, 3 * H))
        act += b_ih
        gh = buf("gh", (T, B, 3 * H))
        hs = buf("hs", (T + 1, B, H))
        hs[0] = 0
        w_hh_t = w_hh.T
        for t in range(T):
            a, r_h = act[t], gh[t]
            xp.matmul(hs[t], w_hh_t, out=r_h)
            r_h += b_hh
            rz = a[:, :2 * H]
            rz += r_h[:, :2 * H]
            _sigmoid_(xp, rz)
            n, h = a[:, 2 * H:], hs[t + 1]
            xp.multiply(a[:, :H], r_h[:, 2 * H:], out=h)
            n += h
            xp.tanh(n, out=n)
            xp.subtract(hs[t], n, out=h)  # h' = n + z (h - n)
            h *= a[:, H:2 * H]
            h += n
        self.cache = xs, hs, act, gh, w_ih, w_hh
        return hs[1:]

    def backward(self, dys, need_dx):
        xp, buf = self.xp, self.buf
        xs, hs, act, gh, w_ih, w_hh = self.cache
        T, B, G = act.shape
        H = G // 3
        r, z, n = act[..., :H], act[..., H:2 * H], act[..., 2 * H:]
        local = buf("local", (T, B, G))  # r(1 - r), z(1 - z), 1 - n^2 for all steps
        xp.multiply(act, act, out=local)
        xp.subtract(act, local, out=local)
        _one_minus_square(xp, n, local[..., 2 * H:])
        dgi, dgh = buf("dgi", (T, B, G)), buf("dgh", (T, B, G))
        dh, rec, tmp = buf("dh", (B, H)), buf("rec", (B, H)), buf("tmp", (B, H))
        dh[...] = 0
        for t in range(T - 1, -1, -1):
            dh += dys[t]
            di, dg = dgi[t], dgh[t]
            xp.subtract(hs[t], n[t], out=di[:, H:2 * H])
            di[:, H:2 * H] *= dh  # dz = dh (h - n)
            xp.multiply(dh, z[t], out=tmp)  # the direct path to h_{t-1}
            xp.subtract(dh, tmp, out=di[:, 2 * H:])  # dn = dh (1 - z)
            di[:, H:] *= local[t][:, H:]
            xp.multiply(di[:, 2 * H:], gh[t][:, 2 * H:], out=di[:, :H])  # dr
            di[:, :H] *= local[t][:, :H]
            dg[:, :2 * H] = di[:, :2 * H]
            xp.multiply(di[:, 2 * H:], r[t], out=dg[:, 2 * H:])
            xp.matmul(dg, w_hh, out=rec)
            rec += tmp
            dh, rec = rec, dh
        return self._grads(dgi, dgh, xs, hs, w_ih, need_dx)


def _add_at(xp, target, index, values):
    add_at = getattr(xp.add, "at", None)
    if add_at is not None:
        add_at(target, index, values)
    else:  # CuPy < 13
        import cupyx

        cupyx.scatter_add(target, index, values)


def _head_grads(xp, logits, y, rows, buf):
    """Mean cross-entropy of ``logits`` ``(N, C)``, which become dL/dlogits."""
    n = logits.shape[0]
    scratch = buf("row", (n, 1))
    logits -= logits.max(axis=1, keepdims=True, out=scratch)
    xp.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True, out=scratch)
    loss = -xp.log(logits[rows, y]).mean()
    logits[rows, y] -= 1  # dL/dlogits = (softmax - onehot) / N
    logits *= 1 / n
    return loss


class Floor:
    """The hand-written NumPy (CuPy on ``cuda``) training step: the floor for array
    code.  It pays what every implementation pays (the batch-first input is made
    time-major each step) and no more, and keeps its buffers across steps."""

    def __init__(self, cfg, cell, params, x, y, device="cpu"):
        if device == "cuda":
            import cupy as xp

            self.sync = _sync_cupy
        else:
            xp = np
            self.sync = None
        self.xp, self.cfg, self.buf = xp, cfg, _Buffers(xp)
        kind = {"rnn": _FloorRNN, "lstm": _FloorLSTM, "gru": _FloorGRU}[cell]
        self.layers = [kind(xp) for _ in range(cfg["layers"])]
        self.p = {k: xp.asarray(v) for k, v in params.items()}
        self.x = xp.asarray(x)
        self.x_tm = xp.ascontiguousarray(self.x.T) if cfg["embed"] else None
        self.y_tm = xp.ascontiguousarray(xp.asarray(y).T).reshape(-1)  # (T, B) order
        self.rows = xp.arange(self.y_tm.size)

    def step(self) -> float:
        xp, p, cfg, buf = self.xp, self.p, self.cfg, self.buf
        B, T = self.x.shape[:2]
        if cfg["embed"]:  # (T, B, E)
            xs = xp.take(p["embed.weight"], self.x_tm, axis=0,
                         out=buf("xs", (T, B, cfg["I"])))
        else:
            xs = buf("xs", (T, B, cfg["I"]))
            xs[...] = self.x.transpose(1, 0, 2)
        for k, layer in enumerate(self.layers):
            xs = layer.forward(xs, p[f"rnn.weight_ih_l{k}"], p[f"rnn.weight_hh_l{k}"],
                               p[f"rnn.bias_ih_l{k}"], p[f"rnn.bias_hh_l{k}"])
        H, C = cfg["H"], cfg["C"]
        h2 = xs.reshape(T * B, H)
        w_out = p["out.weight"]
        logits = xp.matmul(h2, w_out.T, out=buf("logits", (T * B, C)))
        logits += p["out.bias"]
        loss = _head_grads(xp, logits, self.y_tm, self.rows, buf)
        grads = {"out.weight": xp.matmul(logits.T, h2, out=buf("g_w_out", (C, H))),
                 "out.bias": logits.sum(axis=0, out=buf("g_b_out", (C,)))}
        dys = buf("dys", (T, B, H))
        xp.matmul(logits, w_out, out=dys.reshape(T * B, H))
        for k in range(cfg["layers"] - 1, -1, -1):
            dys, g = self.layers[k].backward(dys, need_dx=k > 0 or cfg["embed"])
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), g):
                grads[f"rnn.{name}_l{k}"] = value
        if cfg["embed"]:
            g_emb = buf("g_emb", p["embed.weight"].shape)
            g_emb[...] = 0
            _add_at(xp, g_emb, self.x_tm.reshape(-1), dys.reshape(T * B, -1))
            grads["embed.weight"] = g_emb
        scaled = set()
        for name, g in grads.items():  # SGD; a shared bias gradient is scaled once
            if id(g) not in scaled:
                g *= LR
                scaled.add(id(g))
            p[name] -= g
        return float(loss)


# --- minigrad ------------------------------------------------------------------------


def _minigrad_model(cfg, cell, params, fused, device):
    import minigrad as mg
    from minigrad import nn

    layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            if cfg["embed"]:
                self.embed = nn.Embedding(cfg["C"], cfg["I"])
            self.rnn = layer(cfg["I"], cfg["H"], num_layers=cfg["layers"], batch_first=True,
                             fused=fused)
            self.out = nn.Linear(cfg["H"], cfg["C"])

        def forward(self, x):
            if cfg["embed"]:
                x = self.embed(x)
            output, _ = self.rnn(x)
            return self.out(output)

    model = Model()
    model.load_state_dict({k: mg.tensor(v) for k, v in params.items()})
    return model.to(device)


def _minigrad_loss(cfg):
    from minigrad import nn
    from minigrad.nn import functional as F

    if cfg["loss"] == "nll":  # as PyTorch's word_language_model example
        criterion = nn.NLLLoss()
        return lambda logits, y: criterion(F.log_softmax(logits, dim=1), y)
    return F.cross_entropy


class MinigradGraph:
    """``nn.RNN``/``nn.LSTM``/``nn.GRU`` (BPTT through the autograd graph, or
    ``fused=True``: one node per layer) + ``nn.Linear`` + the loss + ``optim.SGD``."""

    def __init__(self, cfg, cell, params, x, y, device="cpu", fused=False):
        import minigrad as mg

        self.model = _minigrad_model(cfg, cell, params, fused, device)
        self.opt = mg.optim.SGD(self.model.parameters(), lr=LR)
        self.loss = _minigrad_loss(cfg)
        self.x = mg.tensor(x, device=device)
        self.y = mg.tensor(y, device=device).reshape(-1)
        self.C = cfg["C"]
        self.sync = None  # loss.item() waits for the device

    def step(self) -> float:
        self.opt.zero_grad()
        logits = self.model(self.x)
        loss = self.loss(logits.reshape(-1, self.C), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()


class MinigradCellLoop:
    """An explicit ``nn.RNNCell``/``LSTMCell``/``GRUCell`` loop over the timesteps, one
    layer after the other (what a tutorial would write)."""

    def __init__(self, cfg, cell, params, x, y, device="cpu"):
        import minigrad as mg
        from minigrad import nn

        kind = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}[cell]
        self.mg, self.is_lstm = mg, cell == "lstm"
        self.cells = nn.ModuleList(
            [kind(cfg["I"] if k == 0 else cfg["H"], cfg["H"]) for k in range(cfg["layers"])])
        for k, c in enumerate(self.cells):
            c.load_state_dict({name: mg.tensor(params[f"rnn.{name}_l{k}"]) for name in
                               ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
        self.embed = nn.Embedding(cfg["C"], cfg["I"]) if cfg["embed"] else None
        if self.embed is not None:
            self.embed.weight.data[...] = params["embed.weight"]
        self.out = nn.Linear(cfg["H"], cfg["C"])
        self.out.load_state_dict({"weight": mg.tensor(params["out.weight"]),
                                  "bias": mg.tensor(params["out.bias"])})
        modules = [self.cells, self.out] + ([self.embed] if self.embed is not None else [])
        for m in modules:
            m.to(device)
        self.opt = mg.optim.SGD([q for m in modules for q in m.parameters()], lr=LR)
        self.loss = _minigrad_loss(cfg)
        self.x = mg.tensor(x, device=device)
        self.y = mg.tensor(y, device=device).reshape(-1)
        self.C = cfg["C"]
        self.sync = None

    def step(self) -> float:
        self.opt.zero_grad()
        x = self.embed(self.x) if self.embed is not None else self.x
        steps = x.unbind(1)
        for cell in self.cells:
            state, outs = None, []
            for x_t in steps:
                state = cell(x_t, state)
                outs.append(state[0] if self.is_lstm else state)
            steps = outs
        logits = self.out(self.mg.stack(steps, dim=1))
        loss = self.loss(logits.reshape(-1, self.C), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()


class HandDerivedBPTT:
    """``models.bptt.<cell>_forward/_backward`` with a hand-written embedding, linear
    head and cross-entropy (whose buffers are kept across steps, as the floor's)."""

    def __init__(self, cfg, cell, params, x, y, device="cpu"):
        from models import bptt

        if device == "cuda":
            import cupy as xp

            self.sync = _sync_cupy
        else:
            xp = np
            self.sync = None
        self.xp, self.cfg, self.buf = xp, cfg, _Buffers(xp)
        self.forward = getattr(bptt, f"{cell}_forward")
        self.backward = getattr(bptt, f"{cell}_backward")
        self.p = {k: xp.asarray(v) for k, v in params.items()}
        self.x, self.y = xp.asarray(x), xp.asarray(y).reshape(-1)
        self.rows = xp.arange(self.y.size)

    def step(self) -> float:
        xp, p, cfg, buf = self.xp, self.p, self.cfg, self.buf
        rnn_params = {k[4:]: v for k, v in p.items() if k.startswith("rnn.")}
        B, T = self.x.shape[:2]
        x = self.x
        if cfg["embed"]:
            x = xp.take(p["embed.weight"], self.x, axis=0, out=buf("xs", (B, T, cfg["I"])))
        out, _, cache = self.forward(x, rnn_params, num_layers=cfg["layers"])
        H, C = cfg["H"], cfg["C"]
        hs = out.reshape(B * T, H)
        w_out = p["out.weight"]
        logits = xp.matmul(hs, w_out.T, out=buf("logits", (B * T, C)))
        logits += p["out.bias"]
        loss = _head_grads(xp, logits, self.y, self.rows, buf)
        dys = buf("dys", (B, T, H))
        xp.matmul(logits, w_out, out=dys.reshape(B * T, H))
        grads = self.backward(cache, dys)
        dx = grads["input"]
        grads = {"rnn." + k: v for k, v in grads.items() if k not in ("input", "h0", "c0")}
        grads["out.weight"] = xp.matmul(logits.T, hs, out=buf("g_w_out", (C, H)))
        grads["out.bias"] = logits.sum(axis=0, out=buf("g_b_out", (C,)))
        if cfg["embed"]:
            g_emb = buf("g_emb", p["embed.weight"].shape)
            g_emb[...] = 0
            _add_at(xp, g_emb, self.x.reshape(-1), dx.reshape(B * T, -1))
            grads["embed.weight"] = g_emb
        for name, g in grads.items():
            g *= LR
            p[name] -= g
        return float(loss)


# --- PyTorch ---------------------------------------------------------------------------


class Torch:
    """``torch.nn.RNN``/``LSTM``/``GRU`` + ``nn.Linear`` + the loss + ``optim.SGD``, with
    PyTorch's defaults (threads, allocator) untouched."""

    def __init__(self, cfg, cell, params, x, y, device="cpu"):
        import torch

        self.torch = torch
        layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        model = torch.nn.Module()
        if cfg["embed"]:
            model.embed = torch.nn.Embedding(cfg["C"], cfg["I"])
        model.rnn = layer(cfg["I"], cfg["H"], num_layers=cfg["layers"], batch_first=True)
        model.out = torch.nn.Linear(cfg["H"], cfg["C"])
        model.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
        self.model = model.to(device)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=LR)
        if cfg["loss"] == "nll":
            criterion = torch.nn.NLLLoss()
            self.loss = lambda logits, y: criterion(
                torch.nn.functional.log_softmax(logits, dim=1), y)
        else:
            self.loss = torch.nn.functional.cross_entropy
        self.x = torch.from_numpy(x).to(device)
        self.y = torch.from_numpy(y).reshape(-1).to(device)
        self.cfg = cfg
        self.sync = torch.cuda.synchronize if device == "cuda" else None

    def step(self) -> float:
        m = self.model
        self.opt.zero_grad()
        x = m.embed(self.x) if self.cfg["embed"] else self.x
        out, _ = m.rnn(x)
        loss = self.loss(m.out(out).reshape(-1, self.cfg["C"]), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()


# --- JAX -------------------------------------------------------------------------------


class Jax:
    """``jax.jit`` of the whole step (``value_and_grad`` + SGD), each layer a
    ``lax.scan`` over time; JAX's defaults."""

    def __init__(self, cfg, cell, params, x, y, device="cpu"):
        import jax
        import jax.numpy as jnp

        self.jax = jax
        dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
        self.p = {k: jax.device_put(jnp.asarray(v), dev) for k, v in params.items()}
        self.x = jax.device_put(jnp.asarray(x), dev)
        self.y = jax.device_put(jnp.asarray(y).reshape(-1), dev)
        H = cfg["H"]

        def rnn_cell(w_hh, b_hh):
            def f(h, a):
                h = jnp.tanh(a + h @ w_hh.T + b_hh)
                return h, h
            return f

        def lstm_cell(w_hh, b_hh):
            def f(carry, a):
                h, c = carry
                g = a + h @ w_hh.T + b_hh
                i, f_, gg, o = (jax.nn.sigmoid(g[:, :H]), jax.nn.sigmoid(g[:, H:2 * H]),
                                jnp.tanh(g[:, 2 * H:3 * H]), jax.nn.sigmoid(g[:, 3 * H:]))
                c = f_ * c + i * gg
                h = o * jnp.tanh(c)
                return (h, c), h
            return f

        def gru_cell(w_hh, b_hh):
            def f(h, a):
                gh = h @ w_hh.T + b_hh
                r = jax.nn.sigmoid(a[:, :H] + gh[:, :H])
                z = jax.nn.sigmoid(a[:, H:2 * H] + gh[:, H:2 * H])
                n = jnp.tanh(a[:, 2 * H:] + r * gh[:, 2 * H:])
                h = (1 - z) * n + z * h
                return h, h
            return f

        make_cell = {"rnn": rnn_cell, "lstm": lstm_cell, "gru": gru_cell}[cell]

        def loss_fn(p, x, y):
            xs = p["embed.weight"][x.T] if cfg["embed"] else jnp.swapaxes(x, 0, 1)
            B = xs.shape[1]
            for k in range(cfg["layers"]):
                a = xs @ p[f"rnn.weight_ih_l{k}"].T + p[f"rnn.bias_ih_l{k}"]
                h0 = jnp.zeros((B, H), jnp.float32)
                init = (h0, h0) if cell == "lstm" else h0
                _, xs = jax.lax.scan(make_cell(p[f"rnn.weight_hh_l{k}"],
                                               p[f"rnn.bias_hh_l{k}"]), init, a)
            logits = jnp.swapaxes(xs, 0, 1).reshape(-1, H) @ p["out.weight"].T + p["out.bias"]
            logp = jax.nn.log_softmax(logits, axis=1)
            return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

        def update(p, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
            return jax.tree_util.tree_map(lambda a, g: a - LR * g, p, grads), loss

        self.update = jax.jit(update, donate_argnums=0)
        self.sync = None  # float(loss) waits

    def step(self) -> float:
        self.p, loss = self.update(self.p, self.x, self.y)
        return float(loss)


def build(impl: str, cfg: dict, cell: str, device: str = "cpu"):
    """A ready-to-step implementation ``impl`` (one of ``IMPLS``) of the workload."""
    x, y = make_data(cfg)
    params = make_params(cfg, cell)
    if impl == "floor":
        return Floor(cfg, cell, params, x, y, device)
    if impl in ("graph", "fused"):
        return MinigradGraph(cfg, cell, params, x, y, device, fused=impl == "fused")
    if impl == "cell":
        return MinigradCellLoop(cfg, cell, params, x, y, device)
    if impl == "bptt":
        return HandDerivedBPTT(cfg, cell, params, x, y, device)
    if impl == "torch":
        return Torch(cfg, cell, params, x, y, device)
    if impl == "jax":
        return Jax(cfg, cell, params, x, y, device)
    raise ValueError(f"unknown implementation {impl!r}: expected one of {IMPLS}")


LABELS = {
    "floor": "NumPy floor", "graph": "minigrad nn.{CELL} (graph)",
    "cell": "minigrad {CELL}Cell loop", "fused": "minigrad nn.{CELL}(fused=True)",
    "bptt": "models.bptt", "torch": "torch.nn.{CELL}", "jax": "JAX jit + lax.scan",
}


def label(impl: str, cell: str) -> str:
    name = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    return LABELS[impl].replace("{CELL}", name)
