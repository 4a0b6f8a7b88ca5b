#!/usr/bin/env bash
# The GPU checks of minigrad.distributed (issue 13), for a machine with a GPU:
#
#   bash benchmarks/gpu_check_distributed.sh       (from anywhere; benchmarks/gpu_check.sh
#                                                   calls it as its distributed section)
#
# 1. nccl, world size 1: every collective and dtype on CUDA tensors, DDP on the GPU
#    equal to one process, CPU tensors refused;
# 2. mpi backend, 2 ranks sharing the GPU: the collectives on CUDA tensors (staged
#    through host memory) and DDP equivalence (2 ranks x B/2 == 1 process x B, float64);
# 3. nccl with 2 ranks: on one GPU, refused with a clear error on both ranks (NCCL cannot
#    share a GPU between ranks); with 2 or more GPUs, the whole check list of 2;
# 4. examples/ddp_char_rnn.py --device cuda: 2 ranks (mpi) print the final line of
#    1 process (nccl) with the whole batch.
#
# Needs CuPy and a GPU; NCCL for the nccl checks (pip install nvidia-nccl-cu12); mpi4py
# and mpiexec for the 2-rank checks (pip install -e '.[dist]'). $PYTHON chooses the
# interpreter (default: .venv/bin/python, else python3). Prints one PASS / FAIL line per
# check and exits 1 if any check failed. Takes about a minute (CuPy compiles its
# kernels on the first run).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
WORKER=tests/_distributed_worker.py
LIMIT=${GPU_CHECK_TIMEOUT:-300}  # seconds per launch: a hung collective cannot stall us
LOG=$(mktemp -d)
failed=0

fail() { echo "FAIL $*"; failed=1; }
launch() {  # launch NAME COMMAND...: run under the time limit, keep the output in $LOG/NAME
    local name=$1; shift
    timeout "$LIMIT" "$@" >"$LOG/$name" 2>&1
    local status=$?
    [ $status -eq 124 ] && echo "FAIL $name: still running after $LIMIT s (a hang)"
    return $status
}
report() {  # report NAME: PASS/FAIL lines from a RESULTS line in $LOG/NAME
    "$PY" "$WORKER" report "$1" <"$LOG/$1" || { failed=1; tail -n 30 "$LOG/$1"; }
}

echo "== minigrad.distributed on the GPU ($("$PY" --version 2>&1))"
if ! "$PY" -c "import minigrad as mg, sys; sys.exit(0 if mg.cuda.is_available() else 1)"; then
    fail "prerequisites: CuPy does not see a GPU (pip install -e '.[cuda]')"
    exit 1
fi
GPUS=$("$PY" -c "import cupy; print(cupy.cuda.runtime.getDeviceCount())")
NCCL=$("$PY" -c "import minigrad.distributed as d; print(int(d.is_nccl_available()))")
MPI=$("$PY" -c "import minigrad.distributed as d, minigrad.distributed.run as r
try:
    r.find_mpiexec(); print(int(d.is_mpi_available()))
except FileNotFoundError:
    print(0)")
echo "   $GPUS GPU(s); NCCL available: $NCCL; mpi4py + mpiexec: $MPI"

# 1. nccl, world size 1 -------------------------------------------------------------------
if [ "$NCCL" = 1 ]; then
    launch nccl_world1 "$PY" "$WORKER" gpu_nccl_single
    report nccl_world1
else
    fail "nccl_world1: CuPy has no NCCL (pip install nvidia-nccl-cu12)"
fi

# 2. mpi backend, 2 ranks, CUDA tensors ------------------------------------------------
if [ "$MPI" = 1 ]; then
    launch mpi_cuda_2ranks "$PY" -m minigrad.distributed.run -n 2 "$WORKER" gpu_mpi_two
    report mpi_cuda_2ranks
else
    fail "mpi_cuda_2ranks: mpi4py or mpiexec missing (pip install -e '.[dist]')"
fi

# 3. nccl, 2 ranks ------------------------------------------------------------------------
if [ "$NCCL" = 1 ] && [ "$MPI" = 1 ]; then
    if [ "$GPUS" -ge 2 ]; then
        launch nccl_2ranks "$PY" -m minigrad.distributed.run -n 2 "$WORKER" gpu_nccl_two
        report nccl_2ranks
    else
        launch nccl_shared_gpu "$PY" -m minigrad.distributed.run -n 2 "$WORKER" \
            gpu_nccl_shared_gpu
        refused=$(grep -c "REFUSED rank-error: .*would share the GPU" "$LOG/nccl_shared_gpu")
        if [ "$refused" = 2 ]; then
            echo "PASS nccl_shared_gpu: both ranks refused: $(grep -m1 REFUSED \
                "$LOG/nccl_shared_gpu" | cut -c1-160)..."
        else
            fail "nccl_shared_gpu: expected both ranks to refuse one shared GPU"
            tail -n 30 "$LOG/nccl_shared_gpu"
        fi
    fi
fi

# 4. the example on the GPU ---------------------------------------------------------------
if [ "$MPI" = 1 ]; then
    example=(examples/ddp_char_rnn.py --quick --float64 --device cuda)
    launch example_2ranks "$PY" -m minigrad.distributed.run -n 2 "${example[@]}" --backend mpi
    one_backend=mpi
    [ "$NCCL" = 1 ] && one_backend=nccl
    launch example_1rank "$PY" "${example[@]}" --backend "$one_backend"
    two=$(grep -o "^final: loss [^,]*" "$LOG/example_2ranks")
    one=$(grep -o "^final: loss [^,]*" "$LOG/example_1rank")
    grep -h "step time" "$LOG/example_2ranks" "$LOG/example_1rank" | sed 's/^/   /'
    if [ -n "$two" ] && [ "$two" = "$one" ]; then
        echo "PASS example_ddp_char_rnn_cuda: 2 ranks (mpi) and 1 rank ($one_backend): $two"
    else
        fail "example_ddp_char_rnn_cuda: 2 ranks '$two' vs 1 rank '$one'"
        tail -n 20 "$LOG/example_2ranks" "$LOG/example_1rank"
    fi
fi

rm -rf "$LOG"
[ $failed = 0 ] && echo "== distributed GPU checks: all passed" || echo "== distributed GPU checks: FAILED"
exit $failed
