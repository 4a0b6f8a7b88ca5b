"""The programs that tests/test_distributed.py runs on several ranks (never imported by
pytest's own process except for the names of the checks).

    python -m minigrad.distributed.run -n 2 tests/_distributed_worker.py battery DIR
    mpiexec -n 2 python -m mpi4py tests/_distributed_worker.py raise
    python tests/_distributed_worker.py single DIR

``battery`` runs every check of ``CHECKS`` on each rank, gathers the outcomes, and rank 0
prints one line ``RESULTS {json}``: for each check, per rank, ``"ok"`` or what failed.
The fault programs (``raise``, ``stop_early``) end the job on purpose.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import minigrad as mg  # noqa: E402
import minigrad.distributed as dist  # noqa: E402
from minigrad import nn, optim  # noqa: E402
from minigrad.nn.parallel import DistributedDataParallel as DDP  # noqa: E402
from minigrad.utils.data.distributed import DistributedSampler  # noqa: E402

DTYPES = ["bool", "int8", "uint8", "int32", "int64", "float16", "float32", "float64"]
CELLS, PATHS, OPTIMIZERS = ("RNN", "LSTM", "GRU"), ("graph", "fused"), ("SGD", "Adam")
TOL = 1e-10
DEVICE = "cpu"  # the GPU programs set "cuda"
TMP = "."  # a scratch directory shared by the ranks
BATCH, STEPS = 4, 3


class Failed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


def rank_world() -> tuple[int, int]:
    return dist.get_rank(), dist.get_world_size()


# --------------------------------------------------------------------------- collectives
def check_environment(tmp: str) -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        check(os.environ.get(var) == "1", f"{var}={os.environ.get(var)!r}, expected '1'")
    check(dist.get_world_size() == 2 and dist.get_backend() == "mpi", "not 2 mpi ranks")
    check("mpi4py" in sys.modules, "mpi4py was not imported by the mpi backend")


def make_all_reduce_check(dtype: str):
    def check_all_reduce(tmp: str) -> None:
        rank, world = rank_world()
        values = (np.arange(6).reshape(2, 3) + rank).astype(dtype)
        expected = sum((np.arange(6).reshape(2, 3) + r).astype(dtype) for r in range(world))
        if dtype == "bool":
            expected = np.logical_or.reduce([(np.arange(6).reshape(2, 3) + r).astype(bool)
                                             for r in range(world)])
        t = mg.tensor(values, device=DEVICE)
        dist.all_reduce(t)
        check(t.dtype == np.dtype(dtype), f"dtype changed to {t.dtype}")
        check(np.array_equal(t.numpy(), expected), f"got {t.numpy()}, expected {expected}")
        gathered = [mg.zeros(2, 3, dtype=np.dtype(dtype), device=DEVICE) for _ in range(world)]
        dist.all_gather(gathered, mg.tensor(values, device=DEVICE))
        for r, g in enumerate(gathered):
            want = (np.arange(6).reshape(2, 3) + r).astype(dtype)
            check(np.array_equal(g.numpy(), want), f"all_gather[{r}] = {g.numpy()}")
        b = mg.tensor(values, device=DEVICE)
        last = world - 1
        dist.broadcast(b, src=last)
        check(np.array_equal(b.numpy(), (np.arange(6).reshape(2, 3) + last).astype(dtype)),
              f"broadcast from {last} gave {b.numpy()}")
    return check_all_reduce


def check_reduce_ops(tmp: str) -> None:
    rank, world = rank_world()
    values = np.arange(1.0, world + 1)  # rank r contributes r + 1
    cases = {dist.ReduceOp.SUM: values.sum(), dist.ReduceOp.AVG: values.mean(),
             dist.ReduceOp.MAX: values.max(), dist.ReduceOp.MIN: 1.0,
             dist.ReduceOp.PRODUCT: values.prod()}
    for op, expected in cases.items():
        t = mg.tensor([rank + 1.0, rank + 1.0], device=DEVICE)
        dist.all_reduce(t, op=op)
        check(t.tolist() == [expected] * 2, f"{op}: {t.tolist()} != {expected}")
    flags = mg.tensor([rank == 0, True, False], device=DEVICE)
    dist.all_reduce(flags, op=dist.ReduceOp.MIN)
    check(flags.tolist() == [world == 1, True, False], f"bool MIN (and): {flags.tolist()}")


def check_async_and_layouts(tmp: str) -> None:
    rank, world = rank_world()
    t = mg.tensor([float(rank), 10.0], device=DEVICE)
    work = dist.all_reduce(t, async_op=True)
    check(isinstance(work, dist.Work), f"async_op=True returned {work!r}")
    check(work.wait() is True and work.is_completed(), "wait()/is_completed()")
    check(t.tolist() == [sum(range(world)), 10.0 * world],
          f"async all_reduce gave {t.tolist()}")
    check(dist.all_reduce(mg.ones(2, device=DEVICE)) is None, "a blocking collective returns None")
    base = mg.tensor(np.arange(6.0).reshape(2, 3) + 10 * rank, device=DEVICE)
    view = mg.Tensor._make(base.data.T)  # not C-contiguous
    dist.broadcast(view, src=0)
    check(np.array_equal(base.numpy(), np.arange(6.0).reshape(2, 3)),
          f"broadcast into a transposed view: {base.numpy()}")
    scalar = (mg.tensor([1.0, 2.0], device=DEVICE) * (rank + 1)).sum()  # a 0-d result
    dist.all_reduce(scalar)
    check(scalar.item() == 3.0 * sum(range(1, world + 1)), f"0-d all_reduce: {scalar.item()}")
    empty = mg.zeros(0, device=DEVICE)
    dist.all_reduce(empty)
    check(empty.shape == (0,), "empty tensor")
    dist.barrier()
    dist.barrier(async_op=True).wait()


def check_objects(tmp: str) -> None:
    rank, world = rank_world()
    last = world - 1
    objects = [{"rank": rank, "text": "é" * rank}, (1, 2)] if rank == last else [None, None]
    dist.broadcast_object_list(objects, src=last)
    check(objects == [{"rank": last, "text": "é" * last}, (1, 2)],
          f"broadcast_object_list: {objects}")
    gathered = [None] * world
    dist.all_gather_object(gathered, {"r": rank, "pad": "x" * (100 * rank)})
    check([g["r"] for g in gathered] == list(range(world)), f"all_gather_object {gathered}")


def expect_error(kind, words, call) -> None:
    try:
        call()
    except kind as e:
        for word in words:
            check(word in str(e), f"{word!r} not in the message: {e}")
        return
    raise Failed(f"no {kind.__name__} raised")


def check_mismatches(tmp: str) -> None:
    rank, world = rank_world()
    expect_error(RuntimeError, ["rank 0", "rank 1", "shape (3,)", "shape (4,)"],
                 lambda: dist.all_reduce(mg.zeros(3 + rank)))
    expect_error(RuntimeError, ["float32", "float64"],
                 lambda: dist.broadcast(mg.zeros(3, dtype=[mg.float32, mg.float64][rank]), 0))
    expect_error(RuntimeError, ["all_reduce(op=SUM)", "barrier"],
                 lambda: dist.all_reduce(mg.zeros(2)) if rank == 0 else dist.barrier())
    expect_error(RuntimeError, ["src=0", "src=1"],
                 lambda: dist.broadcast(mg.zeros(2), src=rank))
    # local argument errors raise on this rank before anything is sent
    expect_error(ValueError, ["src must be a rank in [0, 1]"],
                 lambda: dist.broadcast(mg.zeros(2), src=5))
    expect_error(TypeError, ["ReduceOp"], lambda: dist.all_reduce(mg.zeros(2), op="sum"))
    expect_error(TypeError, ["AVG", "int64"],
                 lambda: dist.all_reduce(mg.zeros(2, dtype=mg.int64), dist.ReduceOp.AVG))
    expect_error(ValueError, ["list of world_size = 2"],
                 lambda: dist.all_gather([mg.zeros(2)], mg.zeros(2)))
    expect_error(TypeError, ["Tensor"], lambda: dist.all_reduce(np.zeros(2)))
    dist.barrier()  # still usable after all of that


# --------------------------------------------------------------------------- DDP
class Recurrent(nn.Module):
    """A recurrent layer + a linear head on the last step; optionally an unused part."""

    def __init__(self, cell: str = "LSTM", fused: bool = False, hidden: int = 5,
                 unused: bool = False) -> None:
        super().__init__()
        self.rnn = getattr(nn, cell)(3, hidden, num_layers=2, fused=fused)
        self.head = nn.Linear(hidden, 2)
        if unused:
            self.spare = nn.Linear(4, 4)   # never used by forward
            self.branch = nn.Linear(2, 2)  # used only when forward(use_branch=True)

    def forward(self, x, use_branch: bool = False):
        out, _ = self.rnn(x)
        y = self.head(out[:, -1])
        return self.branch(y) if use_branch else y


def data(rows: slice = slice(None)):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((STEPS, BATCH, 6, 3))
    y = rng.standard_normal((STEPS, BATCH, 2))
    return mg.tensor(x[:, rows], device=DEVICE), mg.tensor(y[:, rows], device=DEVICE)


def make_optimizer(name: str, params):
    return optim.SGD(params, lr=0.1, momentum=0.9) if name == "SGD" else (
        optim.Adam(params, lr=0.01))


def train(model, opt, x, y, steps=STEPS) -> list[float]:
    losses = []
    for i in range(steps):
        opt.zero_grad()
        loss = ((model(x[i]) - y[i]) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss)
    return losses


def replicas_identical(model) -> bool:
    mine = [p.numpy().tobytes() for p in model.parameters()]
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    return all(other == everyone[0] for other in everyone)


def max_difference(a, b) -> float:
    return max(float(np.abs(p.numpy() - q.numpy()).max())
               for p, q in zip(a.parameters(), b.parameters()))


def make_equivalence_check(cell: str, path: str, opt_name: str):
    def check_equivalence(tmp: str) -> None:
        """2 ranks x batch B/2 with DDP == 1 process x batch B (losses and weights)."""
        rank, world = rank_world()
        fused = path == "fused"
        mg.manual_seed(0)
        reference = Recurrent(cell, fused).to(DEVICE)
        x, y = data()
        ref_losses = [loss.item() for loss in
                      train(reference, make_optimizer(opt_name, reference.parameters()), x, y)]
        mg.manual_seed(100 + rank)  # different on each rank: DDP copies rank 0's weights
        model = Recurrent(cell, fused).to(DEVICE)
        if rank == 0:
            mg.manual_seed(0)
            model = Recurrent(cell, fused).to(DEVICE)  # the reference's initial weights
        ddp = DDP(model, bucket_cap_mb=0.0005)  # ~500 bytes: several buckets
        check(len(ddp._buckets) > 1, f"only {len(ddp._buckets)} bucket")
        xs, ys = data(dist.batch_rows(BATCH))
        losses = train(ddp, make_optimizer(opt_name, ddp.parameters()), xs, ys)
        for i, loss in enumerate(losses):
            global_loss = loss.detach()
            dist.all_reduce(global_loss, op=dist.ReduceOp.AVG)
            check(abs(global_loss.item() - ref_losses[i]) < TOL,
                  f"step {i}: loss {global_loss.item()} vs one process {ref_losses[i]}")
        difference = max_difference(model, reference)
        check(difference < TOL, f"final weights differ from one process by {difference:.3g}")
        check(replicas_identical(model), "the replicas are not bit-identical")
    return check_equivalence


def check_seeds_equal_after_construction(tmp: str) -> None:
    rank, world = rank_world()
    mg.manual_seed(1000 + 17 * rank)
    model = Recurrent("GRU")
    before = replicas_identical(model)
    mine = model.rnn.weight_ih_l0.numpy().copy()
    DDP(model)
    check(not before, "the replicas started equal: the test would prove nothing")
    check(replicas_identical(model), "replicas differ after DDP construction")
    if rank == 0:
        check(np.array_equal(mine, model.rnn.weight_ih_l0.numpy()), "rank 0's weights changed")


def check_no_sync(tmp: str) -> None:
    """Two micro-batches under no_sync + one synced == one process on all three."""
    rank, world = rank_world()
    x, y = data()
    mg.manual_seed(3)
    reference = Recurrent("LSTM")
    for i in range(3):
        ((reference(x[i]) - y[i]) ** 2).mean().backward()
    mg.manual_seed(3)
    model = Recurrent("LSTM")
    ddp = DDP(model)
    xs, ys = data(dist.batch_rows(BATCH))
    with ddp.no_sync():
        for i in range(2):
            ((ddp(xs[i]) - ys[i]) ** 2).mean().backward()
    local = model.head.weight.grad.numpy().copy()
    others = [None] * world
    dist.all_gather_object(others, local)
    check(not np.allclose(others[0], others[1]), "under no_sync the gradients were averaged")
    ((ddp(xs[2]) - ys[2]) ** 2).mean().backward()
    for p, q in zip(model.parameters(), reference.parameters()):
        difference = float(np.abs(p.grad.numpy() - q.grad.numpy()).max())
        check(difference < TOL, f"accumulated gradients differ by {difference:.3g}")
    check(ddp.require_backward_grad_sync, "no_sync did not restore the flag")


def check_unused_parameters(tmp: str) -> None:
    """A sub-module no rank uses keeps grad None; one only rank 1 uses gets its average
    on both ranks; nothing hangs."""
    rank, world = rank_world()
    mg.manual_seed(5)
    model = Recurrent("RNN", unused=True)
    ddp = DDP(model, find_unused_parameters=True)
    xs, ys = data(dist.batch_rows(BATCH))
    out = ddp(xs[0], use_branch=rank == 1)
    ((out - ys[0]) ** 2).mean().backward()
    check(model.spare.weight.grad is None, "an unused parameter got a gradient")
    branch = model.branch.weight.grad
    check(branch is not None, f"rank {rank}: the branch used by rank 1 has no gradient")
    everyone = [None] * world
    dist.all_gather_object(everyone, branch.numpy())
    check(np.array_equal(everyone[0], everyone[1]), "branch gradients differ across ranks")
    opt = optim.Adam(ddp.parameters(), lr=0.01)
    opt.step()  # a second iteration must not hang either
    ((ddp(xs[1]) - ys[1]) ** 2).mean().backward()
    check(replicas_identical(model), "replicas diverged")


def check_model_mismatch(tmp: str) -> None:
    rank, world = rank_world()
    model = Recurrent("LSTM", hidden=5 + rank)
    expect_error(RuntimeError, ["same model", "rank 0", "rank 1", "rnn.weight_ih_l0"],
                 lambda: DDP(model))
    extra = Recurrent("LSTM", unused=rank == 1)
    expect_error(RuntimeError, ["spare"], lambda: DDP(extra))


def check_buffers_follow_rank0(tmp: str) -> None:
    rank, world = rank_world()
    model = Recurrent("RNN")
    model.register_buffer("running", mg.full((3,), float(rank)))
    ddp = DDP(model)
    model.running.data[...] = 10.0 + rank  # drifted apart since construction
    xs, ys = data(dist.batch_rows(BATCH))
    ddp(xs[0])
    check(model.running.tolist() == [10.0] * 3, f"buffer {model.running.tolist()}")


def check_argument_errors(tmp: str) -> None:
    model = Recurrent("RNN")
    expect_error(ValueError, ["device_ids"], lambda: DDP(model, device_ids=[0]))
    expect_error(ValueError, ["bucket_cap_mb"], lambda: DDP(model, bucket_cap_mb=0))
    expect_error(TypeError, ["nn.Module"], lambda: DDP(lambda x: x))
    frozen = Recurrent("RNN").requires_grad_(False)
    expect_error(RuntimeError, ["requires a gradient"], lambda: DDP(frozen))


def check_checkpoint_on_rank0(tmp: str) -> None:
    """Rank 0 saves; every rank waits at the barrier, then loads into a bare model."""
    rank, world = rank_world()
    mg.manual_seed(9 + rank)
    ddp = DDP(Recurrent("GRU"))
    path = os.path.join(tmp, "ddp_checkpoint.npz")
    state = ddp.state_dict()
    check(all(key.startswith("module.") for key in state), f"keys {list(state)[:3]}")
    if rank == 0:
        mg.save(state, path)
    dist.barrier()
    loaded = mg.load(path)
    nn.utils.consume_prefix_in_state_dict_if_present(loaded, "module.")
    bare = Recurrent("GRU")
    bare.load_state_dict(loaded)
    check(max_difference(bare, ddp.module) == 0.0, "the loaded weights differ")
    ddp.load_state_dict(ddp.state_dict())  # the wrapper loads its own keys


def check_sampler(tmp: str) -> None:
    rank, world = rank_world()
    for length, drop_last in ((10, False), (11, False), (11, True), (1, False)):
        sampler = DistributedSampler(range(length), drop_last=drop_last, seed=3)
        check(sampler.num_replicas == world and sampler.rank == rank, "defaults")
        for epoch in (0, 1):
            sampler.set_epoch(epoch)
            mine = list(sampler)
            shares = [None] * world
            dist.all_gather_object(shares, mine)
            lengths = {len(s) for s in shares}
            check(lengths == {len(sampler)}, f"share lengths {lengths} vs {len(sampler)}")
            union = sorted(i for s in shares for i in s)
            if drop_last:
                check(len(set(union)) == len(union) == world * (length // world),
                      f"drop_last shares overlap or lose too much: {shares}")
            else:
                check(set(union) == set(range(length)), f"not covering: {shares}")
                check(len(union) == len(sampler) * world, "padding")
        sampler.set_epoch(0)
        first = list(sampler)
        sampler.set_epoch(1)
        if length > 5:
            check(first != list(sampler), "set_epoch did not change the order")


def check_batch_rows(tmp: str) -> None:
    rank, world = rank_world()
    rows = dist.batch_rows(8)
    check((rows.start, rows.stop) == (4 * rank, 4 * rank + 4), f"rows {rows}")
    expect_error(ValueError, ["multiple"], lambda: dist.batch_rows(7))


CHECKS = {
    "environment": check_environment,
    **{f"collectives[{dtype}]": make_all_reduce_check(dtype) for dtype in DTYPES},
    "reduce_ops": check_reduce_ops,
    "async_and_layouts": check_async_and_layouts,
    "objects": check_objects,
    "mismatches": check_mismatches,
    **{f"ddp_equivalence[{cell}-{path}-{opt}]": make_equivalence_check(cell, path, opt)
       for cell in CELLS for path in PATHS for opt in OPTIMIZERS},
    "ddp_seeds_equal_after_construction": check_seeds_equal_after_construction,
    "ddp_no_sync": check_no_sync,
    "ddp_unused_parameters": check_unused_parameters,
    "ddp_model_mismatch": check_model_mismatch,
    "ddp_buffers_follow_rank0": check_buffers_follow_rank0,
    "ddp_argument_errors": check_argument_errors,
    "checkpoint_on_rank0": check_checkpoint_on_rank0,
    "sampler": check_sampler,
    "batch_rows": check_batch_rows,
}


def run_checks(checks: dict, backend: str = "mpi") -> None:
    """Run ``checks`` on every rank; rank 0 prints ``RESULTS {name: [per-rank outcome]}``."""
    mg.set_default_dtype(mg.float64)
    dist.init_process_group(backend, timeout=60)
    outcomes = {}
    for name, run_check in checks.items():
        try:
            run_check(TMP)
            outcomes[name] = "ok"
        except Exception:
            outcomes[name] = traceback.format_exc(limit=3)
            dist.barrier()  # keep the ranks in step for the next check
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, outcomes)
    if dist.get_rank() == 0:
        print("RESULTS " + json.dumps({name: [o[name] for o in everyone] for name in checks}))
    dist.destroy_process_group()


def battery(tmp: str) -> None:
    global TMP
    TMP = tmp
    run_checks(CHECKS)


# --------------------------------------------------------------------------- world size 1
def check_world_of_one(tmp: str) -> None:
    check((dist.get_rank(), dist.get_world_size(), dist.get_backend()) == (0, 1, "mpi"),
          f"rank {dist.get_rank()} of {dist.get_world_size()}, {dist.get_backend()}")
    t = mg.tensor([1.0, 2.0])
    dist.all_reduce(t, op=dist.ReduceOp.AVG)
    dist.broadcast(t, 0)
    gathered = [mg.zeros(2)]
    dist.all_gather(gathered, t)
    check(t.tolist() == gathered[0].tolist() == [1.0, 2.0], "collectives changed the data")
    check(list(DistributedSampler(range(5), shuffle=False)) == list(range(5)), "sampler")


def check_ddp_is_the_bare_model(tmp: str) -> None:
    x, y = data()
    runs = []
    for wrap in (False, True):
        mg.manual_seed(0)
        model = Recurrent("LSTM")
        trained = DDP(model) if wrap else model
        runs.append((model, [v.item() for v in train(trained, optim.Adam(
            trained.parameters()), x, y)]))
    check(runs[0][1] == runs[1][1], f"losses {runs[0][1]} vs {runs[1][1]}")
    check(max_difference(runs[0][0], runs[1][0]) == 0.0, "weights differ")


SINGLE_CHECKS = {"world_of_one": check_world_of_one,
                 "ddp_is_the_bare_model": check_ddp_is_the_bare_model,
                 "collectives[float32]": make_all_reduce_check("float32"),
                 "reduce_ops": check_reduce_ops, "objects": check_objects}


def single(tmp: str) -> None:
    """A plain ``python`` process: world size 1 behaves like no distribution at all."""
    run_checks(SINGLE_CHECKS)


# --------------------------------------------------------------------------- faults
def raise_on_rank1(tmp: str) -> None:
    """Rank 1 raises while rank 0 waits in a barrier: the job must end, non-zero."""
    dist.init_process_group("mpi", timeout=120)
    if dist.get_rank() == 1:
        raise ValueError("boom from rank 1")
    dist.barrier()


def stop_early(tmp: str) -> None:
    """Rank 1 returns without joining the collective rank 0 starts: the timeout must
    turn rank 0's wait into a RuntimeError naming all_reduce and rank 0."""
    dist.init_process_group("mpi", timeout=2)
    if dist.get_rank() == 0:
        dist.all_reduce(mg.ones(3))


# --------------------------------------------------------------------------- GPU checks
# Run by benchmarks/gpu_check_distributed.sh on a machine with one GPU (CuPy, NCCL).
GPU_CHECKS = {
    **{f"collectives[{dtype}]": make_all_reduce_check(dtype) for dtype in DTYPES},
    "reduce_ops": check_reduce_ops,
    "async_and_layouts": check_async_and_layouts,
    "objects": check_objects,
    **{f"ddp_equivalence[{cell}-{path}-{opt}]": make_equivalence_check(cell, path, opt)
       for cell, path, opt in (("LSTM", "graph", "Adam"), ("LSTM", "fused", "SGD"),
                               ("GRU", "fused", "Adam"), ("RNN", "graph", "SGD"))},
}


def check_nccl_rejects_cpu_tensors(tmp: str) -> None:
    expect_error(RuntimeError, ["nccl backend communicates cuda tensors"],
                 lambda: dist.all_reduce(mg.ones(2)))
    expect_error(RuntimeError, ["needs the module on cuda"],
                 lambda: DDP(Recurrent("RNN")))


def gpu_nccl_single(tmp: str) -> None:
    """World size 1 on the nccl backend: every collective on CUDA tensors, DDP."""
    global DEVICE
    DEVICE = "cuda"
    checks = {name: f for name, f in GPU_CHECKS.items() if not name.startswith("ddp")}
    checks["nccl_rejects_cpu_tensors"] = check_nccl_rejects_cpu_tensors
    checks["ddp_world_of_one[LSTM-fused-Adam]"] = make_equivalence_check("LSTM", "fused",
                                                                         "Adam")
    run_checks(checks, "nccl")


def gpu_mpi_two(tmp: str) -> None:
    """2 ranks on one GPU with the mpi backend (CUDA tensors staged through the host)."""
    global DEVICE
    DEVICE = "cuda"
    run_checks(GPU_CHECKS, "mpi")


def gpu_nccl_two(tmp: str) -> None:
    """2 ranks on 2 GPUs with the nccl backend (machines with several GPUs)."""
    global DEVICE
    DEVICE = "cuda"
    run_checks(GPU_CHECKS, "nccl")


def report(label: str) -> None:
    """Read a program's output on stdin; print ``PASS``/``FAIL label/check`` lines;
    exit 1 if any check failed or no RESULTS line came."""
    lines = [line for line in sys.stdin if line.startswith("RESULTS ")]
    if len(lines) != 1:
        print(f"FAIL {label}: no RESULTS line (the program failed; see its output above)")
        sys.exit(1)
    failed = False
    for name, outcomes in json.loads(lines[0][len("RESULTS "):]).items():
        if not isinstance(outcomes, list):
            outcomes = ["ok" if outcomes is True else f"got {outcomes!r}"]
        bad = [f"rank {r}: {o.strip().splitlines()[-1]}" for r, o in enumerate(outcomes)
               if o != "ok"]
        failed |= bool(bad)
        print(f"{'FAIL' if bad else 'PASS'} {label}/{name}" + (f": {'; '.join(bad)}"
                                                               if bad else ""))
    sys.exit(1 if failed else 0)


def gpu_nccl_shared_gpu(tmp: str) -> None:
    """2 ranks, 1 GPU, nccl: refused with a clear error on both ranks (no hang)."""
    try:
        dist.init_process_group("nccl", timeout=60)
    except RuntimeError as e:
        print(f"REFUSED rank-error: {e}", flush=True)
        return
    print("NOT REFUSED", flush=True)
    dist.destroy_process_group()


def stop_early_in_training(tmp: str) -> None:
    """Rank 1 trains one step fewer than rank 0 (uneven data): rank 0's last backward
    must fail after the timeout, naming DDP's gradient all-reduce and rank 0."""
    mg.set_default_dtype(mg.float64)
    dist.init_process_group("mpi", timeout=2)
    rank = dist.get_rank()
    ddp = DDP(Recurrent("GRU"))
    x, y = data(dist.batch_rows(BATCH))
    train(ddp, optim.SGD(ddp.parameters(), lr=0.1), x, y, steps=STEPS - rank)


PROGRAMS = {"battery": battery, "single": single, "raise": raise_on_rank1,
            "stop_early": stop_early, "stop_early_in_training": stop_early_in_training,
            "gpu_nccl_single": gpu_nccl_single, "gpu_mpi_two": gpu_mpi_two,
            "gpu_nccl_shared_gpu": gpu_nccl_shared_gpu, "gpu_nccl_two": gpu_nccl_two,
            "report": report}

if __name__ == "__main__":
    PROGRAMS[sys.argv[1]](sys.argv[2] if len(sys.argv) > 2 else ".")
