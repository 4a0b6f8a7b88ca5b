"""Start a training script on several ranks:

    python -m minigrad.distributed.run -n 2 train.py --epochs 3
    python -m minigrad.distributed.run -n 2 -m mypackage.train --epochs 3

It runs ``mpiexec -n N <this python> -m mpi4py train.py ...`` with

* the ``mpiexec`` next to this Python (the one the ``mpich`` wheel puts in the virtual
  environment), else the first on PATH; ``--mpiexec PATH`` or ``$MINIGRAD_MPIEXEC``
  choose another (a cluster's own MPI);
* ``-m mpi4py``, so an uncaught exception on any rank aborts the whole job (a plain
  ``mpiexec python train.py`` would leave the other ranks waiting);
* Open MPI's ``--oversubscribe`` (more ranks than cores) and, as root,
  ``--allow-run-as-root``, when that ``mpiexec`` is Open MPI's;
* one BLAS / OpenMP thread per rank (``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
  ``MKL_NUM_THREADS``) unless you set them: N ranks each starting a thread per core
  would fight over the cores.

The exit status is mpiexec's (non-zero when any rank failed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def find_mpiexec(explicit: str | None = None) -> str:
    """The mpiexec to use (see the module docstring); FileNotFoundError if none."""
    explicit = explicit or os.environ.get("MINIGRAD_MPIEXEC")
    if explicit:
        found = shutil.which(explicit)
        if found is None:
            raise FileNotFoundError(f"mpiexec {explicit!r} does not exist or is not "
                                    "executable")
        return found
    beside_python = Path(sys.executable).parent / "mpiexec"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError(
            "no mpiexec found next to this Python or on PATH: pip install 'minigrad[dist]' "
            "(mpi4py and the MPICH wheel, which provides mpiexec), or load your cluster's "
            "MPI and pass --mpiexec")
    return found


def is_open_mpi(mpiexec: str) -> bool:
    """True when ``mpiexec --version`` says Open MPI (it needs extra flags)."""
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    text = out.stdout + out.stderr
    return "Open MPI" in text or "OpenRTE" in text or "open-mpi" in text


def build_command(mpiexec: str, nprocs: int, target: list[str],
                  open_mpi: bool) -> list[str]:
    """The full mpiexec command line for ``target`` (``[script, args...]`` or
    ``['-m', module, args...]``)."""
    command = [mpiexec, "-n", str(nprocs)]
    if open_mpi:
        command.append("--oversubscribe")
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-run-as-root")
        for var in THREAD_VARS:  # Open MPI forwards only the variables named with -x
            command += ["-x", var]
    return command + [sys.executable, "-m", "mpi4py", *target]


def rank_environment(base: dict | None = None) -> dict:
    """``base`` (default: os.environ) with one BLAS/OpenMP thread unless set."""
    env = dict(os.environ if base is None else base)
    for var in THREAD_VARS:
        env.setdefault(var, "1")
    return env


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
    """``(launcher options, target)``: the target starts at the first word that is not
    a launcher option (the script, or ``-m module``), so its own options pass through."""
    takes_value = {"-n", "--nprocs", "--mpiexec"}
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return argv[:i], argv[i + 1:]
        if word in takes_value:
            i += 2
        elif word in ("--dry-run", "-h", "--help") or word.startswith(("--nprocs=",
                                                                         "--mpiexec=")) or (
                word.startswith("-n") and word[2:].isdigit()):
            i += 1
        else:
            return argv[:i], argv[i:]
    return argv, []


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m minigrad.distributed.run",
        usage="%(prog)s -n N [--mpiexec PATH] [--dry-run] (script.py | -m module) [args ...]",
        description="Run a training script on N ranks with mpiexec (see the module doc).")
    parser.add_argument("-n", "--nprocs", type=int, required=True,
                        help="number of ranks (processes) to start")
    parser.add_argument("--mpiexec", default=None,
                        help="the mpiexec to use (default: the one next to this Python, "
                             "else on PATH; or $MINIGRAD_MPIEXEC)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the command instead of running it")
    options, target = _split(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(options)
    if args.nprocs < 1:
        parser.error(f"-n must be at least 1, got {args.nprocs}")
    if not target or target == ["-m"]:
        parser.error("give the script to run (or -m module), then its arguments")
    args.target = target
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        mpiexec = find_mpiexec(args.mpiexec)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = build_command(mpiexec, args.nprocs, args.target, is_open_mpi(mpiexec))
    if args.dry_run:
        print(" ".join(command))
        return 0
    try:
        return subprocess.call(command, env=rank_environment())
    except KeyboardInterrupt:  # mpiexec got the Ctrl-C too and stops the ranks
        return 130


if __name__ == "__main__":
    sys.exit(main())
