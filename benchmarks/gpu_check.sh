#!/usr/bin/env bash
# GPU check: the CUDA tests and the CUDA benchmark, results in one file.
#
#   bash benchmarks/gpu_check.sh [RESULTS_FILE]        # default gpu_check_results.md
#
# For a machine with an NVIDIA GPU, CuPy and PyTorch (CUDA builds) installed and no
# network; from the repository root.  Takes under 8 minutes (the time limits of its
# parts add up to 470 s): the tests whose id names cuda (every device-parametrized
# test, test_cuda.py, ...), then rnn_benchmark.py --device cuda on the medium and
# large configs for RNN, LSTM and GRU against PyTorch on CUDA (each framework in its
# own process), then, if present, benchmarks/gpu_check_distributed.sh.  Each part runs under its own time limit and a
# failing part does not stop the others; the exit status is 1 if any part failed.
#
# Environment: PYTHON (default python3; needs minigrad importable, e.g. the repo's
# .venv), TORCH_PYTHON (interpreter with torch, default PYTHON), and, to try the script
# itself on a machine without a GPU, GPU_CHECK_DEVICE=cpu GPU_CHECK_CONFIGS=tiny.
set -u
cd "$(dirname "$0")/.."
OUT=${1:-gpu_check_results.md}
PYTHON=${PYTHON:-python3}
TORCH_PYTHON=${TORCH_PYTHON:-$PYTHON}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
CONFIGS=${GPU_CHECK_CONFIGS:-medium large}
status=0
start=$(date +%s)

section() { printf '\n## %s\n\n' "$1" >> "$OUT"; }

# run LIMIT_S TITLE CMD...: the command's output into the results file, in a code block
run() {
    local limit=$1 title=$2
    shift 2
    section "$title"
    printf '```\n$ %s\n' "$*" >> "$OUT"
    local t0=$(date +%s)
    timeout "$limit" "$@" >> "$OUT" 2>&1
    local rc=$?
    printf '```\nexit status %s after %s s\n' "$rc" "$(( $(date +%s) - t0 ))" >> "$OUT"
    if [ "$rc" -ne 0 ]; then status=1; fi
    echo "[gpu_check] $title: exit $rc" >&2
}

{
    echo "# minigrad GPU check"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), device $DEVICE"
} > "$OUT"

run 20 "machine" bash -c "nvidia-smi 2>&1 | head -20; $PYTHON -c '
import numpy, sys
print(\"python\", sys.version.split()[0], \"numpy\", numpy.__version__)
try:
    import cupy
    print(\"cupy\", cupy.__version__, \"devices\", cupy.cuda.runtime.getDeviceCount())
except Exception as e:
    print(\"cupy not usable:\", e)
'; $TORCH_PYTHON -c '
import torch
print(\"torch\", torch.__version__, \"cuda\", torch.cuda.is_available(), torch.version.cuda)
' 2>&1 | tail -1"

# the tests that run on the GPU (their ids name cuda), then the pool's own tests
run 150 "CUDA tests" "$PYTHON" -m pytest -q -p no:cacheprovider -k cuda tests/
run 30 "memory pool tests" "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_memory.py

for cell in rnn lstm gru; do
    # shellcheck disable=SC2086  # CONFIGS is a list of names
    run 70 "benchmark: $cell, device $DEVICE" "$PYTHON" benchmarks/rnn_benchmark.py \
        --device "$DEVICE" --cell "$cell" --configs $CONFIGS \
        --impls floor graph fused bptt torch --rounds 3 --block-time 0.3 --gap 0.05 \
        --torch-python "$TORCH_PYTHON"
done

if [ -f benchmarks/gpu_check_distributed.sh ]; then
    section "distributed"
    echo "[gpu_check] distributed: benchmarks/gpu_check_distributed.sh" >&2
    timeout 60 bash benchmarks/gpu_check_distributed.sh >> "$OUT" 2>&1 || status=1
fi

printf '\ntotal %s s, status %s\n' "$(( $(date +%s) - start ))" "$status" >> "$OUT"
echo "[gpu_check] results in $OUT (status $status)" >&2
exit $status
