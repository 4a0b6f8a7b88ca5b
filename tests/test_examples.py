"""The example scripts (examples/*.py), run as a user runs them: in a subprocess.

* every example with ``--quick`` exits 0 and its last line ``final: loss A -> B, ...``
  shows the loss going down (A > B);
* bad input (missing or empty ``--text``, ``--device cuda`` without a GPU, a checkpoint
  of another model) gives one ``error: ...`` line on stderr, exit status 2, no traceback;
* char_rnn's ``--save`` / ``--resume`` round trip; ``--plot`` with and without matplotlib.

The subprocesses are independent, so they all start at once on a thread pool when the
module's first test asks for them; each test then waits for its own.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import minigrad as mg

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 180  # seconds per subprocess: generous, for a loaded machine
FINAL = re.compile(r"^final: loss (\S+) -> ([^\s,]+)", re.MULTILINE)
HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None
CUDA = mg.cuda.is_available()

TRAINING = ["char_rnn", "hello", "classify", "tag", "sine", "long_memory", "seq2seq",
            "ddp_char_rnn", "gradient_flow"]
ALL = [*TRAINING, "compare_gradients"]


def _env(extra_path: str | None = None) -> dict:
    env = dict(os.environ)
    paths = [p for p in (extra_path, str(ROOT), env.get("PYTHONPATH")) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    # the runs share the cores: one BLAS thread each (the examples default to it too)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def run(script: str, *args: str, extra_path: str | None = None,
        cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / f"{script}.py"), *map(str, args)],
                          cwd=cwd, env=_env(extra_path), capture_output=True, text=True,
                          timeout=TIMEOUT)


def describe(proc: subprocess.CompletedProcess) -> str:
    return (f"exit status {proc.returncode}\n--- stdout (end) ---\n{proc.stdout[-3000:]}"
            f"\n--- stderr (end) ---\n{proc.stderr[-3000:]}")


def final_losses(proc: subprocess.CompletedProcess) -> tuple[float, float]:
    found = FINAL.findall(proc.stdout)
    assert found, "no 'final: loss A -> B' line\n" + describe(proc)
    first, last = found[-1]
    return float(first), float(last)


def assert_clean_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Exit status 2, one 'error: ...' line on stderr naming ``words``, no traceback."""
    assert proc.returncode == 2, describe(proc)
    assert "Traceback" not in proc.stderr + proc.stdout, describe(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, describe(proc)
    for word in words:
        assert word in errors[0], describe(proc)


# --------------------------------------------------------------------------- the runs
def _round_trip(tmp: Path) -> dict:
    """char_rnn: --save, then --resume from it (same model), then from incompatible
    settings; run one after the other (each needs the checkpoint)."""
    ckpt = tmp / "ckpt" / "zen.npz"
    out = {"save": run("char_rnn", "--quick", "--save", ckpt)}
    out["resume"] = run("char_rnn", "--quick", "--resume", ckpt, "--save", tmp / "again.npz")
    out["hidden"] = run("char_rnn", "--quick", "--resume", ckpt, "--hidden", 20)
    out["cell"] = run("char_rnn", "--quick", "--resume", ckpt, "--cell", "gru")
    other = tmp / "other.txt"
    other.write_text("completely different text: QXJ 123\n", encoding="utf-8")
    out["vocab"] = run("char_rnn", "--quick", "--resume", ckpt, "--text", other)
    return out


def _jobs(tmp: Path) -> dict:
    """name -> (function, args): everything this module runs."""
    empty = tmp / "empty.txt"
    empty.write_text("", encoding="utf-8")
    not_a_ckpt = tmp / "notes.txt"
    not_a_ckpt.write_text("just some notes\n", encoding="utf-8")
    jobs = {f"quick/{name}": (run, (name, "--quick")) for name in ALL}
    jobs.update({
        "round_trip": (_round_trip, (tmp,)),
        "missing_text": (run, ("char_rnn", "--quick", "--text", tmp / "no_such_file.txt")),
        "empty_text": (run, ("char_rnn", "--quick", "--text", empty)),
        "resume_missing": (run, ("char_rnn", "--quick", "--resume", tmp / "nothing.npz")),
        "resume_not_ckpt": (run, ("char_rnn", "--quick", "--resume", not_a_ckpt)),
        "bad_prompt": (run, ("char_rnn", "--quick", "--prompt", "\u00e9\u00e9")),
        "bad_lengths": (run, ("long_memory", "--quick", "--lengths", "ten")),
        "bad_option": (run, ("tag", "--quick", "--epochs", "0")),
    })
    if not CUDA:
        jobs.update({f"cuda/{name}": (run, (name, "--quick", "--device", "cuda"))
                     for name in ALL})
    else:
        jobs.update({f"gpu/{name}": (run, (name, "--quick", "--device", "cuda"))
                     for name in ALL})
    # --plot without matplotlib: a stand-in package that fails to import
    fake = tmp / "no_matplotlib"
    (fake / "matplotlib").mkdir(parents=True)
    (fake / "matplotlib" / "__init__.py").write_text("raise ImportError('not here')\n")
    jobs["plot_missing"] = (lambda: run("seq2seq", "--quick", "--plot", "--plot-dir",
                                        tmp / "unused", extra_path=str(fake)), ())
    if HAS_MATPLOTLIB:
        for name in TRAINING:
            jobs[f"plot/{name}"] = (run, (name, "--quick", "--plot", "--plot-dir",
                                          tmp / f"plots_{name}"))
    return jobs


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Start every run at once; ``results[name]`` waits for that one."""
    tmp = tmp_path_factory.mktemp("examples")
    jobs = _jobs(tmp)
    workers = max(2, min(6, 2 * (os.cpu_count() or 1)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {name: pool.submit(fn, *args) for name, (fn, args) in jobs.items()}

        class Results(dict):
            def __missing__(self, name):
                value = self[name] = futures[name].result()
                return value

        res = Results()
        res.tmp = tmp
        yield res
        for f in futures.values():
            f.cancel()


# --------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", TRAINING)
def test_quick_run_learns(results, name):
    proc = results[f"quick/{name}"]
    assert proc.returncode == 0, describe(proc)
    assert "Traceback" not in proc.stderr, describe(proc)
    first, last = final_losses(proc)
    assert last < first, f"the loss did not go down: {first} -> {last}\n" + describe(proc)


def test_quick_compare_gradients(results):
    proc = results["quick/compare_gradients"]
    assert proc.returncode == 0, describe(proc)
    final = [line for line in proc.stdout.splitlines() if line.startswith("final:")]
    assert final and "rnn PASS" in final[-1] and "lstm PASS" in final[-1] \
        and "gru PASS" in final[-1], describe(proc)


def test_hello_learns_ello(results):
    proc = results["quick/hello"]
    assert "predicted 'ello'" in proc.stdout, describe(proc)
    diff = float(re.search(r"max loss difference (\S+),", proc.stdout).group(1))
    assert diff < 1e-9, describe(proc)  # manual BPTT == autograd, step after step


def test_gradient_flow_paths_agree(results):
    proc = results["quick/gradient_flow"]
    diff = float(re.search(r"max \|autograd - bptt\| (\S+),", proc.stdout).group(1))
    assert diff < 1e-9, describe(proc)  # per-step dL/dh_t: autograd == hand-derived BPTT
    assert "decades lost over T=30: init rnn" in proc.stdout, describe(proc)


def test_char_rnn_prints_samples(results):
    proc = results["quick/char_rnn"]
    assert "sample:" in proc.stdout and "generated (" in proc.stdout, describe(proc)


def test_missing_text_file(results):
    assert_clean_error(results["missing_text"], "--text", "no such file")


def test_empty_text_file(results):
    assert_clean_error(results["empty_text"], "--text", "no text")


def test_bad_prompt(results):
    assert_clean_error(results["bad_prompt"], "--prompt")


def test_bad_lengths(results):
    assert_clean_error(results["bad_lengths"], "--lengths")


def test_bad_option(results):
    assert_clean_error(results["bad_option"], "--epochs", "positive integer")


@pytest.mark.skipif(CUDA, reason="a GPU is present: --device cuda works here")
@pytest.mark.parametrize("name", ALL)
def test_cuda_without_gpu(results, name):
    assert_clean_error(results[f"cuda/{name}"], "--device cuda")


@pytest.mark.skipif(not CUDA, reason="CUDA not available (needs CuPy and a GPU)")
@pytest.mark.parametrize("name", ALL)
def test_quick_run_on_gpu(results, name):
    proc = results[f"gpu/{name}"]
    assert proc.returncode == 0, describe(proc)
    if name != "compare_gradients":
        first, last = final_losses(proc)
        assert last < first, describe(proc)


def test_save_and_resume(results):
    trip = results["round_trip"]
    saved, resumed = trip["save"], trip["resume"]
    assert saved.returncode == 0, describe(saved)
    assert (results.tmp / "ckpt" / "zen.npz").is_file()
    assert resumed.returncode == 0, describe(resumed)
    assert "resumed from" in resumed.stdout and "at step 40" in resumed.stdout, \
        describe(resumed)
    assert (results.tmp / "again.npz").is_file()
    ckpt = mg.load(results.tmp / "again.npz")
    assert ckpt["epoch"] == 80 and ckpt["config"]["cell"] == "lstm"
    # the resumed run starts where the first one ended, not from scratch
    first_saved, last_saved = final_losses(saved)
    first_resumed, _ = final_losses(resumed)
    assert first_resumed < first_saved - 0.3, describe(resumed)


@pytest.mark.parametrize("case, words", [("hidden", ["hidden=48", "hidden=20"]),
                                         ("cell", ["cell=lstm", "cell=gru"]),
                                         ("vocab", ["vocabulary"])])
def test_resume_incompatible_checkpoint(results, case, words):
    assert_clean_error(results["round_trip"][case], "--resume", *words)


def test_resume_missing_or_foreign_file(results):
    assert_clean_error(results["resume_missing"], "--resume", "no such file")
    assert_clean_error(results["resume_not_ckpt"], "--resume", "not a minigrad checkpoint")


def test_plot_without_matplotlib(results):
    proc = results["plot_missing"]
    assert proc.returncode == 0, describe(proc)
    assert "pip install -e '.[plot]'" in proc.stdout + proc.stderr, describe(proc)
    first, last = final_losses(proc)
    assert last < first
    assert not (results.tmp / "unused").exists()


@pytest.mark.parametrize("name, files", [
    ("char_rnn", ["char_rnn_loss.png", "char_rnn_probs.png", "char_rnn_hidden_pca.png"]),
    ("seq2seq", ["seq2seq_loss.png", "seq2seq_attention_reverse.png"]),
    ("sine", ["sine_loss.png", "sine_forecast.png"]),
    ("long_memory", ["long_memory.png"]),
    ("hello", ["hello_loss.png"]),
    ("classify", ["classify_loss.png"]),
    ("tag", ["tag_loss.png"]),
    ("ddp_char_rnn", ["ddp_char_rnn_loss.png"]),
])
def test_plots(results, name, files):
    pytest.importorskip("matplotlib")
    proc = results[f"plot/{name}"]
    assert proc.returncode == 0, describe(proc)
    for file in files:
        path = results.tmp / f"plots_{name}" / file
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", file
