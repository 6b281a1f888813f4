"""Local worker processes that never outlive the command that started them.

The experiments run replications on a ``ProcessPoolExecutor``. Its workers
- ignore SIGINT, so that Ctrl-C in a terminal (sent to the whole process group) reaches
  only the parent, which stops cleanly and ends them;
- watch their parent: a daemon thread checks every ``WATCH_SECONDS`` whether the parent
  is still the one that started them and ends the worker when it is not, so that they
  go away even when the parent is ended by SIGKILL, which no handler can see.
When the parent stops early (an error, Ctrl-C, SIGTERM), ``close`` terminates the workers
at once instead of waiting for their current replication.

A pool may be started with ``shared`` data (the scenarios of an experiment): each worker
receives it once, when it starts, and tasks name what they need by key (``shared()``),
so a scenario travels to a worker once rather than with every replication.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["WATCH_SECONDS", "close", "pool", "shared"]

WATCH_SECONDS = 0.5
"""How often a worker checks that its parent is alive."""


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone: nobody will read this worker's results


_SHARED: dict[str, Any] = {}


def shared() -> Mapping[str, Any]:
    """In a worker: the data its pool was started with (empty in other processes)."""
    return _SHARED


def _start_worker(parent: int, data: Mapping[str, Any] | None = None) -> None:
    """Initializer of every worker process."""
    _SHARED.clear()
    _SHARED.update(data or {})
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()


def pool(max_workers: int | None = None, shared: Mapping[str, Any] | None = None
         ) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool whose workers stop when this process does; each worker starts with
    ``shared`` (read there with ``shared()``)."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=max_workers or os.cpu_count(), initializer=_start_worker,
        initargs=(os.getpid(), dict(shared or {})))


def close(executor: concurrent.futures.ProcessPoolExecutor, finished: bool) -> None:
    """Shut ``executor`` down: wait for it when all work is done, else end its workers now."""
    if finished:
        executor.shutdown(wait=True)
        return
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:  # the pool keeps no public handle on its workers
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
