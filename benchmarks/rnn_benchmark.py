"""RNN training-step benchmark: minigrad (graph, cell loop, fused, hand-derived BPTT)
against a hand-written NumPy floor and, when installed, PyTorch.

Workload (one training step, float32): x ~ N(0, 1) of shape (B, T, I), int targets
(B, T) in [0, C); a one-layer tanh RNN(I, H) with h0 = 0, then Linear(H, C) at every
timestep; mean cross-entropy over all B*T positions; backward; SGD step (lr 0.1).

Implementations are run interleaved (A B C A B C ...) so that machine noise hits them
alike; each figure is the median over the timed rounds after warm-up, and ratios are
computed inside the same run.  Peak memory on the long config is measured in a fresh
process per implementation (peak RSS growth over the process after setup).

    python benchmarks/rnn_benchmark.py                       # all configs
    python benchmarks/rnn_benchmark.py --configs tiny small --rounds 30
    python benchmarks/rnn_benchmark.py --out benchmarks/results.md
    python benchmarks/rnn_benchmark.py --cell lstm           # LSTM / GRU workloads

PyTorch is optional (``pip install torch==2.13.0`` in a separate environment);
without it the PyTorch column is left out.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

import numpy as np

# PyTorch's OpenMP threads spin after every parallel region by default and take the
# cores from NumPy's BLAS threads in the same process (and from PyTorch's own next op):
# on the 2-core test machine PASSIVE made every implementation, PyTorch's too, faster.
# Set it before PyTorch is imported; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.nn import functional as F  # noqa: E402

CONFIGS = {
    "tiny": dict(B=1, T=25, I=65, C=65, H=100),
    "small": dict(B=32, T=50, I=64, C=64, H=128),
    "medium": dict(B=64, T=100, I=128, C=128, H=256),
    "large": dict(B=128, T=100, I=256, C=256, H=1024),
    "long": dict(B=16, T=1000, I=32, C=32, H=64),
}
LR = 0.1
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def make_data(cfg: dict, seed: int = 0, xp=np):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["B"], cfg["T"], cfg["I"])).astype(np.float32)
    y = rng.integers(0, cfg["C"], size=(cfg["B"], cfg["T"]))
    return xp.asarray(x), xp.asarray(y)


def make_params(cfg: dict, cell: str, seed: int = 1) -> dict:
    """PyTorch-layout float32 parameters shared by every implementation."""
    rng = np.random.default_rng(seed)
    H, I, C, G = cfg["H"], cfg["I"], cfg["C"], GATES[cell]
    k = 1 / np.sqrt(H)

    def u(*shape, bound=k):
        return rng.uniform(-bound, bound, size=shape).astype(np.float32)

    return {"weight_ih_l0": u(G * H, I), "weight_hh_l0": u(G * H, H),
            "bias_ih_l0": u(G * H), "bias_hh_l0": u(G * H),
            "out.weight": u(C, H, bound=1 / np.sqrt(H)), "out.bias": u(C, bound=1 / np.sqrt(H))}


# --- the NumPy floor: forward + BPTT written by hand for exactly this workload --------


class NumpyReference:
    """Hand-written tanh RNN + linear + cross-entropy + SGD: the floor for NumPy code.

    Pays what every implementation pays (the batch-first input is made time-major each
    step) and no more: one GEMM for all input projections, one recurrent GEMM per step
    into preallocated buffers, the local derivatives ``1 - h^2`` of all steps at once,
    and the weight gradients as one GEMM over all timesteps."""

    name = "numpy reference"

    def __init__(self, cfg, params, x, y):
        self.p = {k: v.copy() for k, v in params.items()}
        B, T, H = cfg["B"], cfg["T"], cfg["H"]
        self.x = x
        self.y_tm = np.ascontiguousarray(y.T).reshape(-1)  # targets in (T, B) order
        self.hs = np.empty((T + 1, B, H), np.float32)  # hs[0] = h0 = 0, hs[t+1] = h_t
        self.dh = np.empty((B, H), np.float32)
        self.rec = np.empty((B, H), np.float32)

    def step(self) -> float:
        p, hs = self.p, self.hs
        T1, B, H = hs.shape
        T = T1 - 1
        x = np.ascontiguousarray(self.x.transpose(1, 0, 2))  # (T, B, I)
        I = x.shape[2]
        w_ih, w_hh, w_out = p["weight_ih_l0"], p["weight_hh_l0"], p["out.weight"]
        x2 = x.reshape(T * B, I)
        pre = (x2 @ w_ih.T).reshape(T, B, H)
        pre += p["bias_ih_l0"] + p["bias_hh_l0"]
        hs[0] = 0
        w_hh_t = w_hh.T
        for t in range(T):
            h = hs[t + 1]
            np.matmul(hs[t], w_hh_t, out=h)
            h += pre[t]
            np.tanh(h, out=h)
        h2 = hs[1:].reshape(T * B, H)
        probs = h2 @ w_out.T
        probs += p["out.bias"]
        probs -= probs.max(axis=1, keepdims=True)
        np.exp(probs, out=probs)
        probs /= probs.sum(axis=1, keepdims=True)
        n = T * B
        rows = np.arange(n)
        loss = -np.log(probs[rows, self.y_tm]).mean()
        probs[rows, self.y_tm] -= 1  # dL/dlogits = (softmax - onehot) / N
        probs /= n
        g_w_out = probs.T @ h2
        g_b_out = probs.sum(axis=0)
        dhs = (probs @ w_out).reshape(T, B, H)
        dpre = hs[1:] * hs[1:]  # 1 - h^2 for every step at once
        np.subtract(1, dpre, out=dpre)
        dh, rec = self.dh, self.rec
        dh[...] = 0
        for t in range(T - 1, -1, -1):
            dh += dhs[t]
            dpre[t] *= dh  # dpre_t = (1 - h_t^2) * dh_t
            np.matmul(dpre[t], w_hh, out=rec)  # dh_{t-1} = dpre_t @ W_hh
            dh, rec = rec, dh
        d2 = dpre.reshape(T * B, H)
        g_w_hh = d2.T @ hs[:-1].reshape(T * B, H)
        g_w_ih = d2.T @ x2
        g_b = d2.sum(axis=0)
        for name, g in (("weight_ih_l0", g_w_ih), ("weight_hh_l0", g_w_hh),
                        ("bias_ih_l0", g_b), ("bias_hh_l0", g_b),
                        ("out.weight", g_w_out), ("out.bias", g_b_out)):
            p[name] -= LR * g
        return float(loss)


# --- minigrad implementations -------------------------------------------------------


class _MinigradModel(nn.Module):
    def __init__(self, cfg, cell, params, fused=False, device="cpu"):
        super().__init__()
        layer = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = layer(cfg["I"], cfg["H"], batch_first=True, fused=fused)
        self.out = nn.Linear(cfg["H"], cfg["C"])
        self.load_state_dict({("rnn." + k if not k.startswith("out.") else k): v
                              for k, v in params.items()})
        self.to(device)

    def forward(self, x):
        output, _ = self.rnn(x)
        return self.out(output)


class MinigradGraph:
    """``nn.RNN`` (BPTT from the autograd graph) + ``nn.Linear`` + ``F.cross_entropy``."""

    def __init__(self, cfg, params, x, y, cell="rnn", fused=False, device="cpu"):
        self.name = "minigrad fused" if fused else "minigrad nn." + cell.upper()
        self.model = _MinigradModel(cfg, cell, params, fused, device)
        self.opt = mg.optim.SGD(self.model.parameters(), lr=LR)
        self.x = mg.tensor(x, device=device)
        self.y = mg.tensor(y, device=device).reshape(-1)
        self.C = cfg["C"]

    def step(self) -> float:
        self.opt.zero_grad()
        logits = self.model(self.x)
        loss = F.cross_entropy(logits.reshape(-1, self.C), self.y)
        loss.backward()
        self.opt.step()
        return loss.item()


class MinigradCellLoop:
    """An explicit ``nn.RNNCell`` loop over timesteps (what a tutorial would write)."""

    name = "minigrad RNNCell loop"

    def __init__(self, cfg, params, x, y, device="cpu"):
        self.cell = nn.RNNCell(cfg["I"], cfg["H"])
        self.cell.load_state_dict({k[:-3]: v for k, v in params.items() if k.endswith("_l0")})
        self.out = nn.Linear(cfg["H"], cfg["C"])
        self.out.load_state_dict({"weight": params["out.weight"], "bias": params["out.bias"]})
        self.params = list(self.cell.parameters()) + list(self.out.parameters())
        self.opt = mg.optim.SGD(self.params, lr=LR)
        self.x = mg.tensor(x, device=device)
        self.y = mg.tensor(y, device=device)
        self.C = cfg["C"]

    def step(self) -> float:
        self.opt.zero_grad()
        h = None
        hs = []
        for x_t in self.x.unbind(1):
            h = self.cell(x_t, h)
            hs.append(h)
        logits = self.out(mg.stack(hs, dim=1))
        loss = F.cross_entropy(logits.reshape(-1, self.C), self.y.reshape(-1))
        loss.backward()
        self.opt.step()
        return loss.item()


class HandDerivedBPTT:
    """``models.bptt.rnn_forward/rnn_backward`` with a hand-written linear + CE head."""

    def __init__(self, cfg, params, x, y, cell="rnn", xp=np):
        from models import bptt

        self.name = "models.bptt"
        self.xp = xp
        self.forward = getattr(bptt, f"{cell}_forward")
        self.backward = getattr(bptt, f"{cell}_backward")
        self.p = {k: xp.asarray(v) for k, v in params.items()}
        self.x, self.y = xp.asarray(x), xp.asarray(y).reshape(-1)
        self.C = cfg["C"]

    def step(self) -> float:
        xp, p = self.xp, self.p
        rnn_params = {k: v for k, v in p.items() if not k.startswith("out.")}
        out, _, cache = self.forward(self.x, rnn_params)
        B, T, H = out.shape
        hs = out.reshape(B * T, H)
        logits = hs @ p["out.weight"].T + p["out.bias"]
        logits -= logits.max(axis=1, keepdims=True)
        probs = xp.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        rows = xp.arange(B * T)
        loss = -xp.log(probs[rows, self.y]).mean()
        probs[rows, self.y] -= 1  # dL/dlogits = (softmax - onehot) / N
        probs /= B * T
        grads = self.backward(cache, (probs @ p["out.weight"]).reshape(B, T, H))
        grads["out.weight"] = probs.T @ hs
        grads["out.bias"] = probs.sum(axis=0)
        for name, value in p.items():
            value -= LR * grads[name]
        return float(loss)


class Torch:
    """``torch.nn.RNN`` + ``torch.nn.Linear`` + cross-entropy + SGD."""

    def __init__(self, cfg, params, x, y, cell="rnn", device="cpu"):
        import torch

        self.torch = torch
        layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.name = f"torch.nn.{cell.upper()}"
        self.rnn = layer(cfg["I"], cfg["H"], batch_first=True).to(device)
        self.out = torch.nn.Linear(cfg["H"], cfg["C"]).to(device)
        with torch.no_grad():
            for k, v in params.items():
                module, key = (self.out, k[4:]) if k.startswith("out.") else (self.rnn, k)
                getattr(module, key).copy_(torch.from_numpy(v))
        self.opt = torch.optim.SGD(list(self.rnn.parameters()) + list(self.out.parameters()),
                                   lr=LR)
        self.x = torch.from_numpy(x).to(device)
        self.y = torch.from_numpy(y).reshape(-1).to(device)
        self.C = cfg["C"]
        self.device = device

    def step(self) -> float:
        self.opt.zero_grad()
        out, _ = self.rnn(self.x)
        loss = self.torch.nn.functional.cross_entropy(self.out(out).reshape(-1, self.C), self.y)
        loss.backward()
        self.opt.step()
        if self.device == "cuda":
            self.torch.cuda.synchronize()
        return loss.item()


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def build(impl: str, cfg: dict, cell: str, device: str):
    x, y = make_data(cfg)
    params = make_params(cfg, cell)
    if impl == "numpy":
        return NumpyReference(cfg, params, x, y)
    if impl == "graph":
        return MinigradGraph(cfg, params, x, y, cell, fused=False, device=device)
    if impl == "fused":
        return MinigradGraph(cfg, params, x, y, cell, fused=True, device=device)
    if impl == "cell":
        return MinigradCellLoop(cfg, params, x, y, device=device)
    if impl == "bptt":
        xp = mg.backend.xp_for(device)
        return HandDerivedBPTT(cfg, params, x, y, cell, xp=xp)
    if impl == "torch":
        return Torch(cfg, params, x, y, cell, device=device)
    raise ValueError(impl)


def _sync(device):
    if device == "cuda":
        mg.backend.xp_for("cuda").cuda.Device().synchronize()


def time_config(name, cfg, impls, cell, device, rounds, warmup, min_time):
    runners = [build(i, cfg, cell, device) for i in impls]
    for r in runners:
        for _ in range(warmup):
            r.step()
    times = {r.name: [] for r in runners}
    runners = list(runners)
    start = time.perf_counter()
    done = 0
    order = random.Random(0)
    while done < rounds or (time.perf_counter() - start < min_time and done < 10 * rounds):
        # Interleaved (A B C, C A B, ...), in a fresh random order each round: whatever
        # one implementation leaves behind (PyTorch's OpenMP threads spin for a while
        # after each step) then hits every other one alike, and the median drops it.
        order.shuffle(runners)
        for r in runners:
            _sync(device)
            t0 = time.perf_counter()
            r.step()
            _sync(device)
            times[r.name].append(time.perf_counter() - t0)
        done += 1
    return {k: statistics.median(v) for k, v in times.items()}, done


# --- memory: one fresh process per implementation ----------------------------------


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def memory_child(impl: str, config: str, cell: str, steps: int) -> None:
    cfg = CONFIGS[config]
    runner = build(impl, cfg, cell, "cpu")
    import gc

    gc.collect()
    base = _rss_kib("VmRSS:")
    try:  # reset the peak to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    for _ in range(steps):
        runner.step()
    peak = _rss_kib("VmHWM:")
    print(json.dumps({"name": runner.name, "peak_growth_mib": (peak - base) / 1024}))


def measure_memory(impls, config, cell, steps=3):
    results = {}
    for impl in impls:
        out = subprocess.run(
            [sys.executable, __file__, "--memory-child", impl, "--configs", config,
             "--cell", cell, "--steps", str(steps)],
            capture_output=True, text=True, check=True)
        row = json.loads(out.stdout.strip().splitlines()[-1])
        results[row["name"]] = row["peak_growth_mib"]
    return results


def per_op_overhead(n: int = 20000) -> dict:
    """Microseconds per forward + backward of ``a * b + c`` on (8, 8) float32."""
    results = {}
    a, b, c = (mg.randn(8, 8, requires_grad=True) for _ in range(3))
    grad = np.ones((8, 8), np.float32)

    def mg_step():
        (a * b + c).backward(grad)

    runs = [("minigrad", mg_step)]
    if torch_available():
        import torch

        ta, tb, tc = (torch.randn(8, 8, requires_grad=True) for _ in range(3))
        tgrad = torch.ones(8, 8)

        def torch_step():
            (ta * tb + tc).backward(tgrad)

        runs.append(("torch", torch_step))
    for name, fn in runs:
        for _ in range(1000):
            fn()
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n // 5):
                fn()
            samples.append((time.perf_counter() - t0) / (n // 5) * 1e6)
        results[name] = statistics.median(samples)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--cell", default="rnn", choices=list(GATES))
    parser.add_argument("--impls", nargs="+",
                        default=["numpy", "graph", "cell", "fused", "bptt", "torch"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds per config")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--min-time", type=float, default=2.0,
                        help="keep sampling (up to 10x rounds) until this many seconds")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--steps", type=int, default=3, help="steps in the memory child")
    parser.add_argument("--out", help="also write the markdown table to this file")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        memory_child(args.memory_child, args.configs[0], args.cell, args.steps)
        return
    impls = [i for i in args.impls if i != "torch" or torch_available()]
    if args.cell != "rnn":
        impls = [i for i in impls if i not in ("numpy", "cell")]
    floor = "numpy" if "numpy" in impls else None
    lines = [f"### {args.cell.upper()} training step, float32, device {args.device}", "",
             "median ms per step (forward + backward + SGD); ratios from the same run", ""]
    header = None
    for name in args.configs:
        cfg = CONFIGS[name]
        medians, rounds = time_config(name, cfg, impls, args.cell, args.device, args.rounds,
                                      args.warmup, args.min_time)
        names = list(medians)
        torch_name = next((n for n in names if n.startswith("torch")), None)
        floor_name = "numpy reference" if floor else None
        if header is None:
            cols = ["config", "B,T,I,H"] + [f"{n} (ms)" for n in names]
            if torch_name:
                cols += [f"{n} / torch" for n in names if n != torch_name]
            if floor_name:
                cols += [f"{n} / numpy" for n in names if n != floor_name]
            header = cols
            lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        row = [name, f"{cfg['B']},{cfg['T']},{cfg['I']},{cfg['H']}"]
        row += [f"{medians[n] * 1e3:.2f}" for n in names]
        if torch_name:
            row += [f"{medians[n] / medians[torch_name]:.2f}" for n in names if n != torch_name]
        if floor_name:
            row += [f"{medians[n] / medians[floor_name]:.2f}" for n in names if n != floor_name]
        lines.append("| " + " | ".join(row) + " |")
        print(lines[-1], f"({rounds} rounds)", flush=True)
    if not args.no_memory and "long" in args.configs and args.device == "cpu":
        mem = measure_memory(impls, "long", args.cell, args.steps)
        lines += ["", "peak RSS growth over the process after setup, long config (MiB):", "",
                  "| " + " | ".join(mem) + " |", "|" + "---|" * len(mem),
                  "| " + " | ".join(f"{v:.1f}" for v in mem.values()) + " |"]
        if "numpy reference" in mem:
            ref = mem["numpy reference"]
            lines += ["", "ratio to the numpy reference: " + ", ".join(
                f"{k} {v / ref:.2f}x" for k, v in mem.items() if k != "numpy reference")]
    overhead = per_op_overhead()
    lines += ["", "per-op overhead, forward + backward of `a * b + c` on (8, 8) float32: "
              + ", ".join(f"{k} {v:.1f} us" for k, v in overhead.items())]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
