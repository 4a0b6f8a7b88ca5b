"""Recurrent-network training step, timed the way a user compares frameworks.

Every implementation runs in its own fresh worker process, with its library's defaults
(no thread counts, wait policies or allocator settings are changed: the harness passes
its own environment through untouched).  All workers of a config are alive together and
take turns in interleaved rounds (a fresh random order each round), one block of steps
each, with an idle gap before every block, so that machine noise hits them alike and
no worker runs while another one's threads are still busy.  Reported per implementation:
the median and the 25th-75th percentiles of ms per step over all timed steps, ratios to
``torch.nn.<cell>`` and to the NumPy floor computed from the same run, minor page faults
per timed step (``getrusage`` inside the worker: pages the step takes fresh from the
OS) and the peak RSS above the worker's RSS after setup.

    python benchmarks/rnn_benchmark.py                    # RNN, every config but wordlm-ce
    python benchmarks/rnn_benchmark.py --configs small long --cell lstm
    python benchmarks/rnn_benchmark.py --torch-python /path/to/venv/bin/python
    python benchmarks/rnn_benchmark.py --configs wordlm wordlm-ce    # 18k-word vocabulary
    python benchmarks/rnn_benchmark.py --device cuda --configs medium large

The workload and the implementations are in ``benchmarks/workloads.py``.  PyTorch and
JAX are optional: their workers run under ``--torch-python`` / ``--jax-python`` (by
default this interpreter, when it can import them); without one, the column is left out.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import random
import resource
import select
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [HERE, REPO]

import workloads as W  # noqa: E402  (imports only NumPy)

DEFAULT_IMPLS = ("floor", "graph", "cell", "fused", "bptt", "torch", "jax")
REPLY_TIMEOUT_S = 900.0


# --- the worker: one implementation in a process of its own ---------------------------


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    """Make VmHWM the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def worker(impl: str, config: str, cell: str, device: str) -> None:
    """Build ``impl`` and answer the coordinator's JSON commands on stdin, one per line:
    ``{"op": "run", "steps": n}`` -> per-step seconds, minor faults and the first loss;
    ``{"op": "stats"}`` -> peak RSS above setup; ``{"op": "quit"}``."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the replies

    def send(obj):
        reply.write(json.dumps(obj) + "\n")

    try:
        runner = W.build(impl, W.config(config), cell, device)
    except Exception:
        send({"error": traceback.format_exc()})
        return
    sync = runner.sync
    gc.collect()
    base_kib = _status_kib("VmRSS:")
    peak_reset = _reset_peak_rss()
    send({"ready": True, "label": W.label(impl, cell), "pid": os.getpid()})
    first_loss = None
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "run":
            times = []
            before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            for _ in range(cmd["steps"]):
                t0 = time.perf_counter()
                loss = runner.step()
                if sync is not None:
                    sync()
                times.append(time.perf_counter() - t0)
                if first_loss is None:
                    first_loss = loss
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
            send({"times": times, "minflt": faults, "first_loss": first_loss})
        elif cmd["op"] == "stats":
            peak = _status_kib("VmHWM:")
            send({"peak_above_setup_mib": (peak - base_kib) / 1024, "peak_reset": peak_reset})
        else:
            break


# --- the coordinator ---------------------------------------------------------------


class Worker:
    """A worker process and its command pipe."""

    def __init__(self, python: str, impl: str, config: str, cell: str, device: str):
        self.impl = impl
        self.proc = subprocess.Popen(
            [python, os.path.abspath(__file__), "--worker", impl, "--configs", config,
             "--cell", cell, "--device", device],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.label = impl

    def ask(self, obj=None, timeout: float = REPLY_TIMEOUT_S) -> dict:
        if obj is not None:
            self.proc.stdin.write(json.dumps(obj) + "\n")
            self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise RuntimeError(f"worker {self.impl} gave no reply (exit code "
                               f"{self.proc.poll()}); see its stderr above")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _can_import(python: str, module: str) -> bool:
    if python == sys.executable:  # (two venvs may share one binary: compare names)
        return importlib.util.find_spec(module) is not None
    try:
        return subprocess.run([python, "-c", f"import {module}"], capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def percentile(values: list, q: float) -> float:
    """Linear-interpolated ``q``-quantile (0..1) of ``values``."""
    s = sorted(values)
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def run_config(name: str, impls: dict, args) -> dict:
    """Time every implementation of ``impls`` (impl -> python) on config ``name``."""
    workers = {impl: Worker(python, impl, name, args.cell, args.device)
               for impl, python in impls.items()}
    results, errors = {}, {}
    try:
        for impl, w in list(workers.items()):
            msg = w.ask()
            if "error" in msg:
                errors[impl] = msg["error"].strip().splitlines()[-1]
                print(f"[{name}] {impl} failed to build:\n{msg['error']}", file=sys.stderr)
                w.close()
                del workers[impl]
            else:
                w.label = msg["label"]
        order = list(workers)
        shuffle = random.Random(args.seed).shuffle
        # warm-up, interleaved like the timed rounds; it also sizes each one's block
        blocks = {}
        def run(impl, steps):
            """One block on worker ``impl``; None (and the worker dropped) if it died."""
            time.sleep(args.gap)  # idle: nobody's threads are still running
            try:
                return workers[impl].ask({"op": "run", "steps": steps})
            except RuntimeError as e:
                errors[impl] = str(e)
                order.remove(impl)
                del workers[impl]
                return None

        for _ in range(max(args.warmup, 1)):
            shuffle(order)
            for impl in list(order):
                msg = run(impl, 1)
                if msg is not None:
                    t = msg["times"][0]
                    blocks[impl] = t if impl not in blocks else min(blocks[impl], t)
        blocks = {impl: max(1, min(args.max_block, int(args.block_time / t)))
                  for impl, t in blocks.items()}
        times = {impl: [] for impl in workers}
        faults = dict.fromkeys(workers, 0)
        first_loss = {}
        for _ in range(args.rounds):
            shuffle(order)
            for impl in list(order):
                msg = run(impl, blocks[impl])
                if msg is None:
                    continue
                times[impl] += msg["times"]
                faults[impl] += msg["minflt"]
                first_loss[impl] = msg["first_loss"]
        for impl, w in workers.items():
            mem = w.ask({"op": "stats"})
            t = times[impl]
            results[impl] = {
                "label": w.label, "steps": len(t),
                "median_ms": statistics.median(t) * 1e3,
                "p25_ms": percentile(t, 0.25) * 1e3, "p75_ms": percentile(t, 0.75) * 1e3,
                "minflt_per_step": faults[impl] / len(t),
                "peak_above_setup_mib": mem["peak_above_setup_mib"],
                "first_loss": first_loss[impl],
            }
    finally:
        for w in workers.values():
            w.close()
    return {"config": name, "shape": W.config(name), "results": results, "errors": errors}


def _fmt_ms(ms: float) -> str:
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def config_table(run: dict) -> list[str]:
    """The markdown table of one config's results."""
    res = run["results"]
    torch_ms = res["torch"]["median_ms"] if "torch" in res else None
    floor_ms = res["floor"]["median_ms"] if "floor" in res else None
    c = run["shape"]
    shape = f"B={c['B']}, T={c['T']}, I={c['I']}, H={c['H']}, C={c['C']}"
    if c["layers"] > 1:
        shape += f", {c['layers']} layers"
    if c["embed"]:
        shape += ", Embedding input"
    loss = "log_softmax + NLLLoss" if c["loss"] == "nll" else "cross_entropy"
    lines = [f"#### {run['config']} ({shape}; {loss})", "",
             "| impl | ms/step | p25-p75 | / torch | / floor | minor faults/step "
             "| peak RSS above setup (MiB) | steps | first loss |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in res.values():
        ms = r["median_ms"]
        vs_torch = f"{ms / torch_ms:.2f}" if torch_ms else "-"
        vs_floor = f"{ms / floor_ms:.2f}" if floor_ms else "-"
        lines.append(
            f"| {r['label']} | {_fmt_ms(ms)} | {_fmt_ms(r['p25_ms'])}-{_fmt_ms(r['p75_ms'])} "
            f"| {vs_torch} | {vs_floor} | {r['minflt_per_step']:.0f} "
            f"| {r['peak_above_setup_mib']:.1f} | {r['steps']} | {r['first_loss']:.5f} |")
    losses = [r["first_loss"] for r in res.values()]
    if losses and max(losses) - min(losses) > 1e-3 * abs(statistics.median(losses)):
        lines += ["", "WARNING: the first losses disagree (not the same computation?)"]
    for impl, why in run["errors"].items():
        lines += ["", f"{impl}: failed ({why})"]
    return lines + [""]


def summary_table(runs: list[dict]) -> list[str]:
    """Implementations x configs: median ms/step (ratio to torch where it ran)."""
    impls = []
    for run in runs:
        impls += [i for i in run["results"] if i not in impls]
    lines = ["| impl | " + " | ".join(run["config"] for run in runs) + " |",
             "|---|" + "---|" * len(runs)]
    for impl in impls:
        cells, label = [], impl
        for run in runs:
            r = run["results"].get(impl)
            if r is None:
                cells.append("-")
                continue
            label = r["label"]
            t = run["results"].get("torch")
            ratio = f" ({r['median_ms'] / t['median_ms']:.2f})" if t else ""
            cells.append(_fmt_ms(r["median_ms"]) + ratio)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=[c for c in W.CONFIGS
                                                         if not c.startswith("wordlm-")],
                        choices=list(W.CONFIGS))
    parser.add_argument("--cell", default="rnn", choices=list(W.GATES))
    parser.add_argument("--impls", nargs="+", default=list(DEFAULT_IMPLS), choices=W.IMPLS)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per config")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per worker")
    parser.add_argument("--block-time", type=float, default=0.25,
                        help="seconds of steps per worker per round (at least one step)")
    parser.add_argument("--max-block", type=int, default=200, help="most steps per block")
    parser.add_argument("--gap", type=float, default=0.1,
                        help="idle seconds before every block")
    parser.add_argument("--seed", type=int, default=0, help="of the round orders")
    parser.add_argument("--torch-python", default=sys.executable,
                        help="interpreter for the PyTorch worker (default: this one)")
    parser.add_argument("--jax-python", default=sys.executable,
                        help="interpreter for the JAX worker (default: this one)")
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--worker", choices=W.IMPLS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.worker, args.configs[0], args.cell, args.device)
        return
    pythons = {"torch": args.torch_python, "jax": args.jax_python}
    impls, skipped = {}, []
    for impl in args.impls:
        python = pythons.get(impl, sys.executable)
        if impl in pythons and not _can_import(python, impl):
            skipped.append(f"{impl} (not importable by {python})")
            continue
        impls[impl] = python
    lines = [f"### {args.cell.upper()} training step, float32, device {args.device}", "",
             f"{args.rounds} interleaved rounds of about {args.block_time} s per worker, "
             f"{args.gap} s idle before each block, {args.warmup} warm-up steps; "
             "ms per step (forward + backward + SGD), ratios from the same run", ""]
    if skipped:
        lines += ["not run: " + ", ".join(skipped), ""]
    runs = []
    for name in args.configs:
        print(f"[{name}] {', '.join(impls)} ...", file=sys.stderr, flush=True)
        runs.append(run_config(name, impls, args))
        table = config_table(runs[-1])
        print("\n".join(table), file=sys.stderr, flush=True)
        lines += table
    lines += ["#### summary: median ms/step (ratio to torch)", ""] + summary_table(runs)
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cell": args.cell, "device": args.device, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
