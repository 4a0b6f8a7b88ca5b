"""Smoke runs of the benchmark scripts, each in a subprocess on its smallest settings.

They only check that the scripts run to the end and print their markdown tables (header,
separator and one row per measured item, every cell of a row a number where a figure is
expected) -- not the figures themselves.  Together about 20 s on one core.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import minigrad as mg

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


def table(stdout: str, first_header_cell: str,
          which: int = -1) -> tuple[list[str], list[list[str]]]:
    """The markdown table (the last one, or number ``which``) whose header starts with
    ``first_header_cell``:
    ``(header cells, body rows as cells)``; asserts the separator line and that every row
    has as many cells as the header."""
    lines = stdout.splitlines()
    starts = [i for i, line in enumerate(lines)
              if line.startswith(f"| {first_header_cell} |")]
    assert starts, f"no table with header '| {first_header_cell} |' in:\n{stdout}"
    i = starts[which]

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


MINIGRAD_IMPLS = ["floor", "graph", "cell", "fused", "bptt"]
FAST = ["--rounds", "1", "--warmup", "1", "--block-time", "0", "--gap", "0"]


def test_rnn_benchmark_tiny():
    """Every NumPy-side implementation runs in its own worker and gets one table row
    with a time, percentiles, a ratio to the floor, faults, peak RSS and the same first
    loss as the floor (the workloads compute the same thing)."""
    out = run_script("rnn_benchmark.py", "--configs", "tiny", "--impls", *MINIGRAD_IMPLS,
                     *FAST)
    header, rows = table(out, "impl", which=0)
    assert header == ["impl", "ms/step", "p25-p75", "/ torch", "/ floor",
                      "minor faults/step", "peak RSS above setup (MiB)", "steps", "first loss"]
    assert [r[0] for r in rows] == ["NumPy floor", "minigrad nn.RNN (graph)",
                                    "minigrad RNNCell loop", "minigrad nn.RNN(fused=True)",
                                    "models.bptt"]
    for row in rows:
        assert row[3] == "-"  # no PyTorch worker was asked for
        assert_numbers([row[1], row[4], row[5], row[6], row[7], row[8]], row[0])
        low, high = row[2].split("-")
        assert_numbers([low, high], row[0])
        assert float(low) <= float(row[1]) <= float(high)
    assert rows[0][4] == "1.00"
    assert len({r[8] for r in rows}) == 1, rows  # one first loss for all
    assert "WARNING" not in out
    summary_header, summary = table(out, "impl")  # the summary is the last such table
    assert summary_header == ["impl", "tiny"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_benchmark_cells(cell, tmp_path):
    """--cell swaps the layer everywhere; --json keeps the raw figures."""
    raw = tmp_path / "raw.json"
    out = run_script("rnn_benchmark.py", "--configs", "tiny", "--cell", cell, "--impls",
                     "floor", "fused", "--json", str(raw), *FAST)
    _, rows = table(out, "impl", which=0)
    assert rows[-1][0] == f"minigrad nn.{cell.upper()}(fused=True)"
    data = json.loads(raw.read_text())
    results = data["runs"][0]["results"]
    assert data["cell"] == cell and set(results) == {"floor", "fused"}
    assert results["floor"]["first_loss"] == pytest.approx(results["fused"]["first_loss"],
                                                           rel=1e-5)


def test_rnn_benchmark_missing_torch_is_reported():
    """An interpreter without torch: the torch column is left out, and said so."""
    out = run_script("rnn_benchmark.py", "--configs", "tiny", "--impls", "floor", "torch",
                     "--torch-python", sys.executable + "-does-not-exist", *FAST)
    assert "not run: torch" in out
    _, rows = table(out, "impl", which=0)
    assert [r[0] for r in rows] == ["NumPy floor"]


@pytest.mark.skipif(mg.cuda.is_available(), reason="checks the report without a GPU")
def test_rnn_benchmark_reports_implementations_that_cannot_build():
    """--device cuda without CuPy/GPU: every worker fails to build, each failure is
    named with its reason, and the run still ends normally."""
    out = run_script("rnn_benchmark.py", "--configs", "tiny", "--device", "cuda",
                     "--impls", "floor", "graph", *FAST)
    assert "floor: failed (" in out and "graph: failed (" in out


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

