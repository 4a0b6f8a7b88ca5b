"""Waiting for a non-blocking collective with a deadline.

Both backends start their collectives non-blocking (``MPI_Iallreduce``, an NCCL kernel
followed by a CUDA event) and hand back a request with a ``test()`` method.  Waiting
means polling ``test()``: that is what lets a collective that some rank never joins
become a ``RuntimeError`` after the process group's timeout instead of a silent hang.
Polling also drives MPI's progress engine, which only advances inside MPI calls.
"""

from __future__ import annotations

import time

_SPIN_S = 1e-3     # poll flat out this long first: most collectives finish within it
_MAX_SLEEP_S = 1e-3  # then sleep between polls, never longer than this (latency cap)


class CollectiveTimeout(RuntimeError):
    """A collective that did not complete within the process group's timeout."""


def wait(request, what: str, rank: int, timeout: float | None) -> None:
    """Poll ``request.test()`` until it is true; after ``timeout`` seconds raise
    :class:`CollectiveTimeout` naming the collective (``what``) and this ``rank``."""
    if request.test():
        return
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    sleep = 2e-5
    while not request.test():
        now = time.monotonic()
        if deadline is not None and now > deadline:
            raise CollectiveTimeout(
                f"minigrad.distributed: {what} did not complete on rank {rank} within "
                f"{timeout:g} s (the timeout= of init_process_group): another rank never "
                "joined it -- it may have stopped early, raised, or called a different "
                "collective (every rank must call the same collectives in the same order)")
        if now - start > _SPIN_S:  # a long wait: stop burning the core another rank needs
            time.sleep(sleep)
            sleep = min(2 * sleep, _MAX_SLEEP_S)
