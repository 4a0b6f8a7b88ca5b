"""``python -m models.compare_gradients``: autograd BPTT vs ``models.bptt``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import minigrad as mg
from models import bptt
from models import compare_gradients as cg

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv", [
    [],
    ["--cell", "lstm"],
    ["--cell", "gru"],
    ["--bidirectional"],
    ["--cell", "lstm", "--bidirectional"],
    ["--layers", "2"],
    ["--cell", "gru", "--layers", "2", "--bidirectional"],
    ["--dtype", "float32"],
    ["--cell", "lstm", "--dtype", "float32", "--layers", "2"],
    ["--nonlinearity", "relu", "--no-bias"],
    ["--cell", "gru", "--no-bias", "--batch", "1", "--timesteps", "1"],
    ["--fused", "--cell", "lstm", "--layers", "2", "--bidirectional"],
], ids=lambda a: " ".join(a) or "defaults")
def test_main_passes(argv, capsys):
    assert cg.main(argv) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert "PASS: all" in out


def test_compare_rows_cover_every_gradient():
    rows = cg.compare("lstm", layers=2, bidirectional=True, fused=True)
    names = {(r.path, r.name) for r in rows}
    for path in ("graph", "fused"):
        for k in range(2):
            for sfx in ("", "_reverse"):
                for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    assert (path, f"dL/d{p}_l{k}{sfx}") in names
        for q in ("out", "h_n", "c_n", "dL/dinput", "dL/dh0", "dL/dc0"):
            assert (path, q) in names
    assert all(r.passed for r in rows)
    # float64: autograd and the hand-derived BPTT agree to rounding
    assert max(r.max_abs for r in rows) < 1e-12
    shapes = {r.name: r.shape for r in rows if r.path == "graph"}
    assert shapes["dL/dweight_ih_l1"] == (4 * 8, 2 * 8)
    assert shapes["dL/dinput"] == (4, 10, 5)
    assert shapes["dL/dh0"] == (4, 4, 8)


def test_float32_uses_relative_tolerance():
    rows = cg.compare("gru", dtype="float32")
    assert all(r.passed for r in rows)
    assert max(r.max_rel for r in rows) < 1e-4
    assert max(r.max_abs for r in rows) > 0  # float32 rounding really differs


def test_perturbed_gradient_fails(monkeypatch, capsys):
    """A wrong hand-derived gradient must be caught: exit 1 and a FAIL row."""
    real = bptt.rnn_backward

    def wrong(cache, grad_output, grad_h_n=None):
        grads = real(cache, grad_output, grad_h_n)
        grads["weight_hh_l0"] = grads["weight_hh_l0"] + 1e-6
        return grads

    monkeypatch.setattr(bptt, "rnn_backward", wrong)
    assert cg.main([]) == 1
    out = capsys.readouterr().out
    failed = [line for line in out.splitlines() if line.rstrip().endswith("FAIL")]
    assert len(failed) == 1 and "dL/dweight_hh_l0" in failed[0]
    assert "FAIL: 1 of" in out


def test_tolerance_options(capsys):
    # an impossible tolerance fails every row whose values differ at all (for the LSTM
    # they do in float32: the graph and the kernel sum in different orders)
    assert cg.main(["--cell", "lstm", "--dtype", "float32", "--atol", "0"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert cg.main(["--cell", "lstm", "--dtype", "float32", "--atol", "1e-3"]) == 0


@pytest.mark.parametrize("argv", [
    ["--cell", "transformer"],
    ["--batch", "0"],
    ["--hidden-size", "x"],
    ["--atol", "-1"],
    ["--cell", "lstm", "--nonlinearity", "relu"],
    ["--device", "tpu"],
])
def test_bad_arguments_exit_2(argv, capsys):
    assert cg.main(argv) == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.skipif(mg.cuda.is_available(), reason="CUDA is available here")
def test_cuda_unavailable_exit_2(capsys):
    assert cg.main(["--device", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "cuda" in err.lower() and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(not mg.cuda.is_available(), reason="CUDA not available")
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_cuda_passes(cell, capsys):
    assert cg.main(["--device", "cuda", "--cell", cell, "--fused", "--bidirectional"]) == 0


def test_compare_rejects_bad_config():
    with pytest.raises(ValueError, match="nonlinearity"):
        cg.compare("gru", nonlinearity="relu")
    with pytest.raises(ValueError, match="hidden_size"):
        cg.compare("rnn", hidden_size=0)


def test_cli_subprocess():
    proc = subprocess.run([sys.executable, "-m", "models.compare_gradients"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("dL/dweight_ih_l0", "dL/dweight_hh_l0", "dL/dbias_ih_l0", "dL/dbias_hh_l0",
                 "dL/dinput", "dL/dh0", "max abs diff", "PASS: all"):
        assert name in out
