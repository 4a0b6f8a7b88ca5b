"""``minigrad.distributed``, ``nn.parallel.DistributedDataParallel`` and
``DistributedSampler``.

Two kinds of tests:

* in this process, without MPI (pytest never imports ``mpi4py.MPI``): errors before
  ``init_process_group`` and for bad arguments, the ``nccl`` backend without CuPy, a
  world of size 1 on the no-MPI backend, the sampler's partition, the launcher's
  command line, the state-dict prefix helper;
* on 2 ranks, started with the venv's ``mpiexec`` in subprocesses under timeouts:
  ``tests/_distributed_worker.py battery`` runs every collective/DDP/sampler check in
  ONE launch (each launch costs about a second) and reports each check, which becomes
  one test here; further launches show that a raising rank or a rank that stops early
  ends the job with a non-zero status, that a plain ``python`` is a world of size 1,
  and that ``examples/ddp_char_rnn.py`` on 2 ranks prints the loss of one process
  with the summed batch.  They skip where mpi4py or mpiexec is missing.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad import backend as array_backend
from minigrad import nn, optim
from minigrad.distributed import process_group as pg
from minigrad.distributed import run as launcher
from minigrad.nn.parallel import DistributedDataParallel as DDP
from minigrad.utils.data.distributed import DistributedSampler

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "_distributed_worker.py"
TIMEOUT = 240  # seconds per launch: generous, for a loaded 2-core machine

_spec = importlib.util.spec_from_file_location("_distributed_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # only for CHECKS' names and the test model


def _mpiexec() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return None
    try:
        return launcher.find_mpiexec()
    except FileNotFoundError:
        return None


MPIEXEC = _mpiexec()
needs_mpi = pytest.mark.skipif(MPIEXEC is None, reason="needs mpi4py and mpiexec "
                               "(pip install -e '.[dist]')")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    for var in launcher.THREAD_VARS:  # the launcher must set them itself
        env.pop(var, None)
    return env


def launch(*args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def describe(proc: subprocess.CompletedProcess) -> str:
    return (f"exit status {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
            f"\n--- stderr ---\n{proc.stderr[-4000:]}")


def results_of(proc: subprocess.CompletedProcess) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS ")]
    assert proc.returncode == 0 and len(lines) == 1, describe(proc)
    return json.loads(lines[0][len("RESULTS "):])


@pytest.fixture
def local_world(monkeypatch):
    """A world of size 1 on the no-MPI backend (as a plain python without mpi4py)."""
    monkeypatch.setattr(pg, "is_mpi_available", lambda: False)
    for var in pg._LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    dist.init_process_group("mpi")
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


# =========================================================================== in process
@pytest.mark.parametrize("call", [
    dist.get_rank, dist.get_world_size, dist.get_backend, dist.barrier,
    dist.destroy_process_group, lambda: dist.all_reduce(mg.ones(2)),
    lambda: dist.broadcast(mg.ones(2), 0), lambda: DDP(nn.Linear(2, 2))],
    ids=["get_rank", "get_world_size", "get_backend", "barrier", "destroy", "all_reduce",
         "broadcast", "DDP"])
def test_before_init_process_group_is_a_clear_error(call):
    assert not dist.is_initialized()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        call()


@pytest.mark.parametrize("kwargs, error, words", [
    ({"backend": "gloo"}, ValueError, "unknown backend 'gloo'"),
    ({"init_method": "tcp://10.0.0.1:23456"}, ValueError, "init_method"),
    ({"timeout": -1}, ValueError, "timeout must be a positive"),
    ({"world_size": 4}, ValueError, "world_size=4"),
    ({"rank": 1}, ValueError, "rank=1"),
])
def test_init_process_group_rejects_bad_arguments(monkeypatch, kwargs, error, words):
    monkeypatch.setattr(pg, "is_mpi_available", lambda: False)
    with pytest.raises(error, match=re.escape(words)):
        dist.init_process_group(**kwargs)
    assert not dist.is_initialized()


def test_nccl_without_cupy_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(array_backend, "_cupy", None)
    assert not dist.is_nccl_available()
    with pytest.raises(RuntimeError, match="needs CuPy"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()


def test_nccl_without_a_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(array_backend, "_cupy", object())  # CuPy there, but no device
    monkeypatch.setattr(array_backend, "cuda_is_available", lambda: False)
    with pytest.raises(RuntimeError, match="needs a GPU"):
        dist.init_process_group("nccl")


# --------------------------------------------------------------------------- nccl (fake)
class FakeDeviceArray(np.ndarray):
    """A host array posing as a CuPy array: ``.data.ptr`` is its address."""

    @property
    def data(self):
        return types.SimpleNamespace(ptr=self.ctypes.data)


class FakeCommunicator:
    """``cupy.cuda.nccl.NcclCommunicator`` for a world of one rank: it moves the bytes
    a one-rank NCCL would move and records every call."""

    calls: list = []

    def __init__(self, ndev, unique_id, rank):
        assert (ndev, rank) == (1, 0) and unique_id == ("fake-id",)

    def allReduce(self, send, recv, count, dtype, op, stream):  # noqa: N802 (CuPy's names)
        assert send == recv  # in place
        self.calls.append(("allReduce", count, dtype, op))

    def bcast(self, buffer, count, dtype, root, stream):
        self.calls.append(("bcast", count, dtype, root))

    def allGather(self, send, recv, count, dtype, stream):  # noqa: N802
        ctypes.memmove(recv, send, count * FAKE_NCCL_SIZES[dtype])
        self.calls.append(("allGather", count, dtype))

    def check_async_error(self):
        pass

    def abort(self):
        self.calls.append(("abort",))

    def destroy(self):
        self.calls.append(("destroy",))


FAKE_NCCL_TYPES = {"NCCL_INT8": 0, "NCCL_UINT8": 1, "NCCL_INT32": 2, "NCCL_INT64": 4,
                   "NCCL_FLOAT16": 6, "NCCL_FLOAT32": 7, "NCCL_FLOAT64": 8}
FAKE_NCCL_SIZES = {0: 1, 1: 1, 2: 4, 4: 8, 6: 2, 7: 4, 8: 8}


@pytest.fixture
def fake_nccl_world(monkeypatch):
    """init_process_group('nccl') on a fake CuPy (host arrays, a one-rank NCCL)."""
    def device(array):
        return np.ascontiguousarray(array).view(FakeDeviceArray)

    cupy = types.ModuleType("cupy")
    cupy.ndarray = FakeDeviceArray
    cupy.asarray = cupy.ascontiguousarray = device
    cupy.asnumpy = lambda a: np.asarray(a).view(np.ndarray).copy()
    cupy.empty = lambda shape, dtype: device(np.empty(shape, dtype))
    cupy.zeros = lambda shape, dtype: device(np.zeros(shape, dtype))
    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.available = True
    nccl.NCCL_SUM, nccl.NCCL_PROD, nccl.NCCL_MAX, nccl.NCCL_MIN = 0, 1, 2, 3
    for name, value in FAKE_NCCL_TYPES.items():
        setattr(nccl, name, value)
    nccl.get_unique_id = lambda: ("fake-id",)
    nccl.NcclCommunicator = FakeCommunicator
    cuda = types.ModuleType("cupy.cuda")
    cuda.nccl = nccl
    cuda.runtime = types.SimpleNamespace(getDeviceCount=lambda: 1, getDevice=lambda: 0)
    cuda.Device = lambda i: types.SimpleNamespace(use=lambda: None)
    cuda.get_current_stream = lambda: types.SimpleNamespace(ptr=0)
    cuda.Event = lambda disable_timing=True: types.SimpleNamespace(record=lambda s: None,
                                                                   done=True)
    cupy.cuda = cuda
    for name, module in (("cupy", cupy), ("cupy.cuda", cuda), ("cupy.cuda.nccl", nccl)):
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(array_backend, "_cupy", cupy)
    monkeypatch.setattr(array_backend, "cuda_is_available", lambda: True)
    monkeypatch.setattr(pg, "is_mpi_available", lambda: False)
    for var in pg._LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    FakeCommunicator.calls = []
    dist.init_process_group("nccl")
    yield device
    if dist.is_initialized():
        dist.destroy_process_group()


def test_nccl_backend_on_a_fake_cupy(fake_nccl_world):
    """What the nccl backend hands NCCL: counts, dtypes (bool as uint8), ops (bool sum
    as max), in place; strided tensors written back; all_gather's bytes. (A real NCCL
    runs only in benchmarks/gpu_check_distributed.sh, on a GPU machine.)"""
    device = fake_nccl_world
    calls = FakeCommunicator.calls
    assert dist.get_backend() == "nccl" and dist.get_world_size() == 1
    dist.all_reduce(mg.Tensor._make(device(np.ones((2, 3)))))
    dist.all_reduce(mg.Tensor._make(device(np.ones(4, bool))))
    dist.all_reduce(mg.Tensor._make(device(np.ones(5, np.float32))), op=dist.ReduceOp.MIN)
    assert calls == [("allReduce", 6, 8, 0), ("allReduce", 4, 1, 2), ("allReduce", 5, 7, 3)]
    base = mg.Tensor._make(device(np.arange(6.0).reshape(2, 3)))
    dist.broadcast(mg.Tensor._make(base.data.T), 0)  # a strided view: staged, copied back
    assert calls[-1] == ("bcast", 6, 8, 0) and base.numpy().tolist() == [[0, 1, 2], [3, 4, 5]]
    out = [mg.Tensor._make(device(np.zeros(3, np.int64)))]
    dist.all_gather(out, mg.Tensor._make(device(np.array([7, 8, 9]))))
    assert calls[-1] == ("allGather", 3, 4) and out[0].numpy().tolist() == [7, 8, 9]
    dist.barrier()
    assert calls[-1] == ("allReduce", 1, 2, 0)
    with pytest.raises(RuntimeError, match="nccl backend communicates cuda tensors, got a "
                                           "cpu tensor"):
        dist.all_reduce(mg.ones(2))
    dist.destroy_process_group()
    assert calls[-1] == ("destroy",)


def test_mpi4py_missing_under_a_launcher_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(pg, "is_mpi_available", lambda: False)
    monkeypatch.setenv("PMI_SIZE", "2")
    with pytest.raises(RuntimeError, match="one of 2 ranks.*mpi4py is not installed"):
        dist.init_process_group("mpi")


def test_import_minigrad_needs_no_mpi4py_or_cupy():
    code = ("import sys, minigrad, minigrad.distributed, minigrad.nn.parallel, "
            "minigrad.utils.data.distributed; "
            "print(sorted(m for m in ('mpi4py', 'cupy') if m in sys.modules))")
    proc = launch("-c", code, timeout=60)
    assert proc.returncode == 0, describe(proc)
    if array_backend._cupy is None:
        assert proc.stdout.strip() == "[]", describe(proc)
    else:  # minigrad.backend loads an installed CuPy; mpi4py never
        assert "mpi4py" not in proc.stdout, describe(proc)


def test_world_of_one_behaves_like_no_distribution(local_world):
    assert (dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "mpi")
    assert dist.is_initialized() and dist.is_available()
    with pytest.raises(RuntimeError, match="twice"):
        dist.init_process_group("mpi")
    t = mg.tensor([1.0, 2.0])
    for op in dist.ReduceOp:
        dist.all_reduce(t, op=op)
    work = dist.broadcast(t, 0, async_op=True)
    assert work.wait() and work.is_completed()
    gathered = [mg.zeros(2)]
    dist.all_gather(gathered, t)
    objects = [{"a": 1}]
    dist.broadcast_object_list(objects)
    everyone = [None]
    dist.all_gather_object(everyone, "x")
    dist.barrier()
    assert t.tolist() == gathered[0].tolist() == [1.0, 2.0]
    assert objects == [{"a": 1}] and everyone == ["x"]


def test_a_collective_that_never_completes_times_out_and_breaks_the_group(local_world):
    class Never:
        def test(self):
            return False

    group = pg._group()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"all_reduce\(op=SUM\) did not complete on rank "
                                           r"0 within 0.2 s"):
        dist.Work(group, Never(), "all_reduce(op=SUM)").wait(timeout=0.2)
    assert 0.2 <= time.monotonic() - start < 5
    with pytest.raises(RuntimeError, match="unusable after an earlier failure"):
        dist.barrier()


@pytest.mark.parametrize("collective", [
    lambda t: dist.all_reduce(t), lambda t: dist.broadcast(t, 0),
    lambda t: dist.all_gather([t], t.detach() * 1)], ids=["all_reduce", "broadcast",
                                                         "all_gather"])
def test_collectives_are_in_place_writes_for_autograd(local_world, collective):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    loss = (h * h).sum()  # saves h
    collective(h)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_ddp_in_a_world_of_one_trains_exactly_as_the_bare_model(local_world):
    mg.set_default_dtype(mg.float64)
    x, y = worker.data()
    runs = []
    for wrap in (False, True):
        mg.manual_seed(0)
        model = worker.Recurrent("LSTM", unused=True)
        trained = DDP(model, bucket_cap_mb=0.0005) if wrap else model
        losses = worker.train(trained, optim.Adam(trained.parameters()), x, y)
        runs.append((model, [v.item() for v in losses]))
    (bare, bare_losses), (wrapped, ddp_losses) = runs
    assert bare_losses == ddp_losses
    assert worker.max_difference(bare, wrapped) == 0.0
    assert wrapped.spare.weight.grad is None  # unused: still no gradient


def test_ddp_buckets_follow_reverse_parameter_order_under_the_cap(local_world):
    model = nn.Sequential(nn.Linear(10, 10), nn.Linear(10, 10), nn.Linear(10, 1))
    params = list(model.parameters())
    one_weight = 100 * 4 / 2**20  # MiB of a float32 10x10 weight
    ddp = DDP(model, bucket_cap_mb=one_weight)
    order = [p for bucket in ddp._buckets for p in bucket.params]
    assert [id(p) for p in order] == [id(p) for p in reversed(params)]
    assert all(sum(p.numel() * 4 for p in b.params) <= 100 * 4 or len(b.params) == 1
               for b in ddp._buckets)
    assert len(DDP(model)._buckets) == 1  # 25 MiB hold them all


def test_ddp_starts_a_bucket_while_backward_is_still_running(local_world, monkeypatch):
    """The head's bucket (the last parameters, the first finished) is all-reduced
    before the backward reaches the input; the rest at the end of the backward."""
    events = []
    backend = pg._group().backend
    start_all_reduce = backend.all_reduce
    monkeypatch.setattr(backend, "all_reduce",
                        lambda array, op: events.append("all_reduce")
                        or start_all_reduce(array, op))
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                          nn.Linear(32, 2))
    ddp = DDP(model, bucket_cap_mb=33 * 4 / 2**20)  # a tiny cap: about a parameter each
    x = mg.randn(3, 4, requires_grad=True)
    x.register_hook(lambda g: events.append("input gradient"))
    ddp(x).sum().backward()
    assert len(ddp._buckets) >= 3
    assert events[0] == "all_reduce" and "input gradient" in events
    assert events.count("all_reduce") == len(ddp._buckets)


def test_ddp_wrapper_surface(local_world):
    model = nn.Linear(3, 2)
    ddp = DDP(model)
    assert ddp.module is model
    assert list(ddp.state_dict()) == ["module.weight", "module.bias"]
    with ddp.no_sync():
        assert not ddp.require_backward_grad_sync
    assert ddp.require_backward_grad_sync
    with pytest.raises(ValueError, match="device_ids"):
        DDP(model, device_ids=[0])


def test_consume_prefix_in_state_dict_if_present():
    state = {"module.a": 1, "b": 2, "module.c.d": 3}
    nn.utils.consume_prefix_in_state_dict_if_present(state, "module.")
    assert state == {"a": 1, "b": 2, "c.d": 3}
    assert list(state) == ["b", "a", "c.d"]  # PyTorch's order: stripped keys move last
    with pytest.raises(TypeError, match="expected a dict"):
        nn.utils.consume_prefix_in_state_dict_if_present([], "module.")


def test_batch_rows_errors():
    assert dist.batch_rows(6, rank=2, world_size=3) == slice(4, 6)
    with pytest.raises(ValueError, match="multiple of the world size 3"):
        dist.batch_rows(7, rank=0, world_size=3)
    with pytest.raises(ValueError, match=r"rank must be in \[0, 2\]"):
        dist.batch_rows(6, rank=3, world_size=3)


# --------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("length", [0, 1, 5, 12, 13])
@pytest.mark.parametrize("replicas", [1, 2, 3, 5])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_partition(length, replicas, drop_last, shuffle):
    shares = [list(DistributedSampler(range(length), replicas, r, shuffle=shuffle, seed=4,
                                      drop_last=drop_last)) for r in range(replicas)]
    size = len(DistributedSampler(range(length), replicas, 0, drop_last=drop_last))
    expected = length // replicas if drop_last else -(-length // replicas)
    assert size == expected and all(len(s) == size for s in shares)
    everything = [i for s in shares for i in s]
    if drop_last:
        assert len(set(everything)) == len(everything)  # disjoint
    elif length:
        assert set(everything) == set(range(length))    # covering, padded by wrapping
    if not shuffle:  # PyTorch's order: rank r takes r, r + N, r + 2N, ... of the padded list
        padded = [i % max(length, 1) for i in range(replicas * size)]
        assert shares == [padded[r::replicas] for r in range(replicas)]


def test_sampler_epochs_and_seeds():
    def order(epoch, seed=0, rank=0):
        sampler = DistributedSampler(range(20), 2, rank, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)
    assert order(0) == order(0) and order(0) != order(1) and order(0) != order(0, seed=1)
    assert set(order(3, rank=0)).isdisjoint(order(3, rank=1))


def test_sampler_errors_and_defaults(local_world):
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    sampler = DistributedSampler(range(4))  # the process group's: rank 0 of 1
    assert (sampler.num_replicas, sampler.rank, len(sampler)) == (1, 0, 4)


def test_sampler_feeds_the_dataloader():
    from minigrad.utils.data import DataLoader, TensorDataset

    data = TensorDataset(mg.arange(10))
    sampler = DistributedSampler(data, num_replicas=2, rank=1, shuffle=False)
    batches = [b[0].tolist() for b in DataLoader(data, batch_size=2, sampler=sampler)]
    assert batches == [[1, 3], [5, 7], [9]]


# --------------------------------------------------------------------------- launcher
@pytest.fixture
def fake_mpiexec(tmp_path):
    def make(version_text: str) -> str:
        path = tmp_path / "mpiexec"
        path.write_text(f"#!/bin/sh\necho '{version_text}'\n")
        path.chmod(0o755)
        return str(path)
    return make


def test_launcher_command_for_mpich(fake_mpiexec):
    mpiexec = fake_mpiexec("HYDRA build details: Version 4.2")
    assert not launcher.is_open_mpi(mpiexec)
    command = launcher.build_command(mpiexec, 2, ["train.py", "--lr", "1"], False)
    assert command == [mpiexec, "-n", "2", sys.executable, "-m", "mpi4py", "train.py",
                       "--lr", "1"]


def test_launcher_adds_open_mpi_flags(fake_mpiexec, capsys):
    mpiexec = fake_mpiexec("mpiexec (Open MPI) 5.0.3")
    assert launcher.is_open_mpi(mpiexec)
    assert launcher.main(["-n", "3", "--mpiexec", mpiexec, "--dry-run", "-m", "pkg.train",
                          "--x"]) == 0
    printed = capsys.readouterr().out.split()
    assert "--oversubscribe" in printed and printed[-4:] == ["mpi4py", "-m", "pkg.train",
                                                             "--x"]
    assert ("--allow-run-as-root" in printed) == (os.geteuid() == 0)
    assert printed[printed.index("-x") + 1] == "OMP_NUM_THREADS"


def test_launcher_thread_variables_and_errors(capsys):
    env = launcher.rank_environment({"OMP_NUM_THREADS": "4"})
    assert env["OMP_NUM_THREADS"] == "4"  # the user's choice stays
    assert env["OPENBLAS_NUM_THREADS"] == env["MKL_NUM_THREADS"] == "1"
    assert launcher.main(["-n", "2", "--mpiexec", "/no/such/mpiexec", "x.py"]) == 2
    assert "error: mpiexec '/no/such/mpiexec' does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        launcher.main(["-n", "0", "x.py"])


# =========================================================================== 2 ranks
@pytest.fixture(scope="module")
def battery(tmp_path_factory) -> dict:
    if MPIEXEC is None:
        pytest.skip("needs mpi4py and mpiexec (pip install -e '.[dist]')")
    tmp = tmp_path_factory.mktemp("ranks")
    return results_of(launch("-m", "minigrad.distributed.run", "-n", "2", WORKER,
                             "battery", tmp))


@pytest.mark.parametrize("name", list(worker.CHECKS))
def test_on_two_ranks(battery, name):
    """One check of the 2-rank battery (see tests/_distributed_worker.py)."""
    outcomes = battery[name]
    assert outcomes == ["ok", "ok"], "\n".join(f"rank {r}: {o}"
                                               for r, o in enumerate(outcomes))


@needs_mpi
def test_plain_python_is_a_world_of_one(tmp_path):
    results = results_of(launch(WORKER, "single", tmp_path))
    assert results == {name: ["ok"] for name in worker.SINGLE_CHECKS}, results


@needs_mpi
@pytest.mark.parametrize("how", ["launcher", "plain mpiexec"])
def test_a_raising_rank_ends_the_job(how):
    """Through the launcher (-m mpi4py) or a plain ``mpiexec python``, where
    init_process_group's exception hook aborts the job."""
    args = (["-m", "minigrad.distributed.run", "-n", "2", WORKER, "raise"]
            if how == "launcher" else None)
    start = time.monotonic()
    if args is None:
        proc = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(WORKER), "raise"],
                              cwd=ROOT, env=_env(), capture_output=True, text=True,
                              timeout=TIMEOUT)
    else:
        proc = launch(*args)
    elapsed = time.monotonic() - start
    assert proc.returncode != 0, describe(proc)
    assert "boom from rank 1" in proc.stdout + proc.stderr, describe(proc)
    assert elapsed < 60, f"took {elapsed:.0f} s: rank 0's barrier (timeout 120 s) hung"


@needs_mpi
@pytest.mark.parametrize("program, waiting_in", [
    ("stop_early", "all_reduce"),
    ("stop_early_in_training", "DistributedDataParallel: all-reduce of gradient bucket")])
def test_a_rank_that_stops_early_times_out_with_a_clear_error(program, waiting_in):
    """Rank 1 leaves (after no collective / one DDP step early); rank 0's collective
    fails after init_process_group's timeout (2 s) and the job exits non-zero."""
    proc = launch("-m", "minigrad.distributed.run", "-n", "2", WORKER, program)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, describe(proc)
    # CollectiveTimeout is a RuntimeError
    assert "CollectiveTimeout" in out and "did not complete on rank 0 within 2 s" in out, (
        describe(proc))
    assert waiting_in in out, describe(proc)


# --------------------------------------------------------------------------- the example
@needs_mpi
def test_ddp_char_rnn_example_matches_one_process(tmp_path):
    """2 ranks x batch B/2 print the final loss of 1 process x batch B."""
    example = ROOT / "examples" / "ddp_char_rnn.py"
    two = launch("-m", "minigrad.distributed.run", "-n", "2", example, "--quick",
                 "--float64", "--batch", "8", "--save", tmp_path / "ddp.npz")
    one = launch(example, "--quick", "--float64", "--batch", "8")
    final = re.compile(r"^final: loss (\S+) -> ([^\s,]+)", re.MULTILINE)
    found_two, found_one = final.findall(two.stdout), final.findall(one.stdout)
    assert two.returncode == 0 and len(found_two) == 1, describe(two)  # rank 0 only
    assert one.returncode == 0 and len(found_one) == 1, describe(one)
    assert found_two == found_one
    assert float(found_two[0][1]) < float(found_two[0][0])
    assert (tmp_path / "ddp.npz").is_file()
    assert "module." not in " ".join(mg.load(tmp_path / "ddp.npz")["model"])
