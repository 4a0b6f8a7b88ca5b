"""The DataLoader's machinery: collation (``collate``), fetching samples (``fetch``)
and the worker processes (``worker``)."""

from __future__ import annotations

import atexit

# how often (seconds) a waiting worker checks that its parent lives, and a waiting
# main process checks that its workers do
MP_STATUS_CHECK_INTERVAL = 1.0

# True once the interpreter is exiting: iterators then leave their workers to
# multiprocessing's own exit handler (which terminates daemonic children) instead of
# talking to queues that may already be torn down
python_exit_status = False


def _set_python_exit_flag() -> None:
    global python_exit_status
    python_exit_status = True


atexit.register(_set_python_exit_flag)
