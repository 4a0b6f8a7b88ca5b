"""Smoke runs of the benchmark scripts, each in a subprocess on its smallest settings.

They only check that the scripts run to the end and print their markdown tables (header,
separator and one row per measured item, every cell of a row a number where a figure is
expected) -- not the figures themselves.  Together well under 15 s on one core.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "benchmarks"
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def run_script(script: str, *args: str, timeout: float = 120) -> str:
    """Run ``benchmarks/<script> args`` from the repo root; returns its stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(BENCH / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{script} exited {proc.returncode}\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout


def table(stdout: str, first_header_cell: str) -> tuple[list[str], list[list[str]]]:
    """The (last) markdown table whose header starts with ``first_header_cell``:
    ``(header cells, body rows as cells)``; asserts the separator line and that every row
    has as many cells as the header."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines)
              if line.startswith(f"| {first_header_cell} |")]
    assert starts, f"no table with header '| {first_header_cell} |' in:\n{stdout}"
    i = starts[-1]

    def cells(line: str) -> list[str]:
        assert line.startswith("|") and line.endswith("|"), line
        return [c.strip() for c in line.strip("|").split("|")]

    header = cells(lines[i])
    assert re.fullmatch(r"\|(---\|)+", lines[i + 1]), lines[i + 1]
    assert lines[i + 1].count("---") == len(header)
    rows = []
    for line in lines[i + 2:]:
        if not line.startswith("|"):
            break
        row = cells(line)
        assert len(row) == len(header), (header, row)
        rows.append(row)
    assert rows, f"table '{first_header_cell}' has no rows:\n{stdout}"
    return header, rows


def assert_numbers(values, what: str) -> None:
    for v in values:
        assert NUMBER.match(v), f"{what}: {v!r} is not a number"


def test_rnn_benchmark_tiny():
    impls = ["numpy", "graph", "cell", "fused", "bptt"]
    out = run_script("rnn_benchmark.py", "--configs", "tiny", "--rounds", "1", "--warmup",
                     "0", "--min-time", "0", "--no-memory", "--impls", *impls)
    header, rows = table(out, "config")
    assert header[:2] == ["config", "B,T,I,H"]
    timed = [h for h in header if h.endswith("(ms)")]
    assert len(timed) == len(impls), header  # one timing column per implementation
    assert any("numpy reference" in h for h in timed) and any("bptt" in h for h in timed)
    assert [r[0] for r in rows] == ["tiny"]
    assert rows[0][1] == "1,25,65,100"
    assert_numbers(rows[0][2:], "rnn_benchmark row")
    assert "per-op overhead" in out


def test_rnn_benchmark_memory_child():
    out = run_script("rnn_benchmark.py", "--memory-child", "numpy", "--configs", "tiny",
                     "--steps", "1")
    lines = [line for line in out.splitlines() if line.strip()]
    row = json.loads(lines[-1])
    assert row["name"] == "numpy reference"
    assert isinstance(row["peak_growth_mib"], int | float)


def test_layer_step():
    out = run_script("layer_step.py", "--rounds", "1", "--cells", "rnn")
    header, rows = table(out, "layer")
    assert {"minigrad graph", "minigrad fused", "models.bptt"} <= set(header[1:]), header
    assert [r[0] for r in rows] == ["RNN"]
    assert_numbers(rows[0][1:], "layer_step row")


def test_overhead():
    out = run_script("overhead.py")
    header, rows = table(out, "measure")
    assert header[:2] == ["measure", "minigrad"]
    measures = [r[0] for r in rows]
    for expected in ("a + b forward (us)", "a * b + c forward+backward (us)",
                     "1000-step chain forward (ms)", "1000-step chain forward+backward (ms)"):
        assert expected in measures, measures
    for row in rows:
        assert_numbers(row[1:], f"overhead row {row[0]!r}")

