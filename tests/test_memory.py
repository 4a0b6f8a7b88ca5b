"""The host array pool (``minigrad.backend``): buffers are reused, views keep theirs
alive, nothing leaks once a model and its graph are gone, the pool can be emptied and
bounded, and a steady-state training step takes no new memory."""

from __future__ import annotations

import gc
import resource
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend, nn
from minigrad.nn import functional as F

BIG = (256, 256)  # 256 KiB of float32: pooled
SMALL = (8, 8)    # below the pool's min_bytes: plain NumPy


def address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.fixture(autouse=True)
def fresh_pool():
    """Each test starts from an empty pool with the default settings."""
    gc.collect()
    backend.empty_cache()
    yield
    backend.set_pool_enabled(True)
    backend.set_pool_limit(1 << 30)
    gc.collect()
    backend.empty_cache()


def test_a_freed_buffer_is_served_again():
    a = backend.empty(BIG, np.float32)
    assert a.shape == BIG and a.dtype == np.float32 and a.flags.c_contiguous
    where = address(a)
    before = backend.pool_stats()
    del a
    after_free = backend.pool_stats()
    assert after_free["free_buffers"] == before["free_buffers"] + 1
    b = backend.empty(BIG, np.float32)
    assert address(b) == where
    assert backend.pool_stats()["hits"] == before["hits"] + 1
    c = backend.empty((64, 1024), np.float32)  # same size class, other shape: reused too
    assert address(c) != where and c.shape == (64, 1024)


def test_small_arrays_bypass_the_pool():
    before = backend.pool_stats()
    a = backend.empty(SMALL, np.float32)
    assert a.shape == SMALL
    assert backend.pool_stats() == before


def test_a_view_keeps_its_buffer_in_use():
    a = backend.empty(BIG, np.float32)
    a[...] = 1.0
    view = a[10:].T
    where = address(a)
    del a
    b = backend.empty(BIG, np.float32)  # must not get the buffer the view still uses
    assert address(b) != where
    b[...] = 2.0
    assert (view == 1.0).all()
    in_use = backend.pool_stats()["in_use_bytes"]
    del view
    assert backend.pool_stats()["in_use_bytes"] < in_use


def test_size_classes_waste_at_most_a_quarter():
    for nbytes in (1 << 16, 100_000, 1_000_003, 123_456_789):
        size = backend.ArrayPool.size_class(nbytes)
        assert nbytes <= size <= 1.25 * nbytes + 4096 and size % 4096 == 0


def test_empty_cache_releases_free_buffers():
    arrays = [backend.empty(BIG, np.float32) for _ in range(3)]
    del arrays
    assert backend.pool_stats()["free_bytes"] >= 3 * 256 * 1024
    backend.empty_cache()
    stats = backend.pool_stats()
    assert stats["free_bytes"] == 0 and stats["free_buffers"] == 0


def test_the_limit_bounds_the_free_buffers():
    backend.set_pool_limit(300 * 1024)  # room for one 256 KiB buffer
    arrays = [backend.empty(BIG, np.float32) for _ in range(4)]
    del arrays
    assert backend.pool_stats()["free_buffers"] == 1
    with pytest.raises(ValueError, match="limit_bytes >= 0"):
        backend.set_pool_limit(-1)


def test_disabled_pool_gives_plain_numpy_arrays():
    backend.set_pool_enabled(False)
    before = backend.pool_stats()
    a = backend.empty(BIG, np.float32)
    assert a.flags.owndata
    del a
    assert backend.pool_stats()["free_buffers"] == before["free_buffers"] == 0


def make_step(B=64, T=20, I=32, H=256, C=64, fused=False):
    """A training step on an RNN + Linear with arrays large enough to be pooled."""
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    rnn, head = nn.RNN(I, H, fused=fused), nn.Linear(H, C)
    params = list(rnn.parameters()) + list(head.parameters())
    opt = mg.optim.SGD(params, lr=0.1)
    x = mg.tensor(rng.standard_normal((B, T, I)).astype(np.float32))
    y = mg.tensor(rng.integers(0, C, (B * T,)))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(head(rnn(x)[0]).reshape(-1, C), y)
        loss.backward()
        opt.step()
        return loss.item()

    return step, params


def test_pooled_results_are_the_numpy_results():
    """The same step with and without the pool: bit-identical losses and gradients."""
    results = []
    for enabled in (True, False):
        backend.set_pool_enabled(enabled)
        step, params = make_step(T=5)
        losses = [step() for _ in range(3)]
        results.append((losses, [p.grad.numpy().copy() for p in params]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


def test_steady_state_step_takes_no_new_buffers():
    """After warm-up the pool serves every large array from its free buffers: its
    misses (new mappings) stop growing, and the step faults in (almost) no new pages."""
    step, _ = make_step()
    for _ in range(3):
        step()
    misses = backend.pool_stats()["misses"]
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    steps = 5
    for _ in range(steps):
        step()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    stats = backend.pool_stats()
    assert stats["misses"] == misses, stats
    assert stats["hits"] > 0
    assert faults / steps <= 50, f"{faults / steps:.0f} minor page faults per step"


def test_nothing_leaks_once_model_and_graph_are_gone():
    gc.collect()
    baseline = backend.pool_stats()["in_use_bytes"]
    step, params = make_step()
    for _ in range(2):
        step()
    assert backend.pool_stats()["in_use_bytes"] >= baseline
    del step, params
    gc.collect()
    stats = backend.pool_stats()
    assert stats["in_use_bytes"] == baseline, stats
    assert 0 < stats["free_bytes"] <= 1 << 30
    backend.empty_cache()
    assert backend.pool_stats()["free_bytes"] == 0


def test_a_graph_kept_alive_keeps_its_buffers():
    """Saved activations of a graph not yet backpropagated are in use, not free."""
    step, _ = make_step()
    step()
    x = mg.randn(512, 256, requires_grad=True)
    out = (x.tanh() * 2).sum()
    in_use = backend.pool_stats()["in_use_bytes"]
    assert in_use >= 512 * 256 * 4  # tanh's output, saved for backward
    out.backward()
    expected = 1 - np.tanh(x.numpy()) ** 2
    np.testing.assert_allclose(x.grad.numpy(), 2 * expected, rtol=1e-5)


@pytest.mark.skipif(not mg.cuda.is_available(), reason="needs CuPy and a GPU")
def test_cuda_uses_cupys_pool():
    xp = backend.xp_for("cuda")
    a = backend.empty(BIG, np.float32, xp)
    assert type(a).__module__.startswith("cupy")
    assert backend.pool_stats()["cuda_used_bytes"] >= a.nbytes
    del a
    backend.empty_cache()


def test_tune_malloc_is_an_explicit_opt_in():
    """The process-wide malloc setting runs only when called (here in a child process,
    so that this one keeps glibc's defaults); bad values are refused before anything
    changes."""
    code = "import minigrad as mg; print(mg.backend.tune_malloc())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("True", "False")  # False: not glibc
    with pytest.raises(ValueError, match="trim_threshold must be in"):
        backend.tune_malloc(trim_threshold=-1)


def test_threads_share_the_pool():
    """Arrays made and dropped in several threads at once: the books balance."""
    import threading

    gc.collect()
    baseline = backend.pool_stats()["in_use_bytes"]

    clobbered = []

    def churn(mark):
        for _ in range(300):
            a = backend.empty(BIG, np.float32)
            a.fill(mark)  # no other live array may share this buffer
            b = a[1:]
            if not (b == mark).all():
                clobbered.append(mark)
            del a, b

    threads = [threading.Thread(target=churn, args=(mark,)) for mark in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not clobbered
    stats = backend.pool_stats()
    assert stats["in_use_bytes"] == baseline
    size = backend.ArrayPool.size_class(BIG[0] * BIG[1] * 4)
    assert stats["free_bytes"] == stats["free_buffers"] * size
