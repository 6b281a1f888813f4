"""The one fan-out: work on this process, on local worker processes, or on a cluster.

``fan_out`` (and ``Workers``, which keeps one pool for many calls, as a plan does) runs a
function over items on ``"serial"`` (this process), a local process pool, or any
executor with ``submit`` such as a ``dask.distributed.Client``, and returns the results
in input order. Every item names its data (a scenario) by key, so each data travels to a
worker once: a local pool's workers receive it when they start, a dask Client scatters
it once, and any other executor (or a local pool started without it) gets one chunk of
a data's items per core. The replications of ``replicate``, ``compare``, ``sweep``,
``plan`` and the back-test all run here.

Local workers never outlive the command that started them. They
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
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from tqdm.auto import tqdm

from simbatch.errors import UsageError

__all__ = ["WATCH_SECONDS", "Workers", "check_executor", "chunks", "close", "each",
           "each_shared", "fan_out", "is_dask", "pool", "shared", "tasks"]

T = TypeVar("T")
R = TypeVar("R")
K = TypeVar("K", bound=Hashable)

WATCH_SECONDS = 0.5
"""How often a worker checks that its parent is alive."""


def _watch(parent: int) -> None:
    while True:
        time.sleep(WATCH_SECONDS)
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone: nobody will read this worker's results


_SHARED: dict[Hashable, Any] = {}


def shared() -> Mapping[Hashable, Any]:
    """In a worker: the data its pool was started with (empty in other processes)."""
    return _SHARED


def _start_worker(parent: int, data: Mapping[Any, Any] | None = None) -> None:
    """Initializer of every worker process."""
    _SHARED.clear()
    _SHARED.update(data or {})
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="parent-watch").start()


def pool(max_workers: int | None = None, shared: Mapping[Any, Any] | None = None
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


# ---- the fan-out ----------------------------------------------------------------------------

def is_dask(executor: Any) -> bool:
    """Whether ``executor`` is a ``dask.distributed.Client`` (it scatters and gathers)."""
    return hasattr(executor, "scatter") and hasattr(executor, "gather")


def check_executor(executor: Any) -> None:
    """Refuse an ``executor`` that is none of None, ``"serial"`` or one with ``submit``."""
    if executor is None or executor == "serial":
        return
    if isinstance(executor, str) or not callable(getattr(executor, "submit", None)):
        raise UsageError(f"executor is None (local processes), 'serial', or an executor with"
                         f" submit() such as a dask.distributed.Client; got {executor!r}")


def chunks(items: Sequence[T], parts: int) -> list[list[T]]:
    """``items`` cut into at most ``parts`` consecutive chunks of near-equal size."""
    size = max(1, math.ceil(len(items) / max(1, parts)))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def each(function: Callable[..., R], data: Any, items: Sequence[Any], *args: Any) -> list[R]:
    """``function(data, item, *args)`` for every item: one task's work (runs in a worker)."""
    return [function(data, item, *args) for item in items]


def each_shared(function: Callable[..., R], key: Hashable, items: Sequence[Any],
                *args: Any) -> list[R]:
    """``each`` on the data the worker's pool was started with under ``key``."""
    return each(function, _SHARED[key], items, *args)


Task = tuple[tuple[Any, ...], list[int]]
"""What to submit (a callable and its leading arguments) and the indices of the items it runs."""


def tasks(function: Callable[..., Any], data: Mapping[K, Any],
          items: Sequence[tuple[K, Any]], cores: int,
          shared: Collection[Hashable] = (),
          scatter: Callable[[Hashable, Any], Any] | None = None) -> list[Task]:
    """How ``items`` (the key of their data, the item) go out, each data travelling once.

    With ``scatter`` (a dask Client's, kept per key) every data is scattered once and each
    item is a task. Items whose data a local pool's workers hold (``shared`` keys) go one
    per task, by key. Any other item goes with its data's other items in one chunk per
    core, so its data travels once per chunk.
    """
    if scatter is not None:
        return [((partial(each, function), scatter(key, data[key]), [item]), [i])
                for i, (key, item) in enumerate(items)]
    out: list[Task] = [((partial(each_shared, function), key, [item]), [i])
                       for i, (key, item) in enumerate(items) if key in shared]
    rest = [i for i, (key, _) in enumerate(items) if key not in shared]
    for key in dict.fromkeys(items[i][0] for i in rest):
        mine = [i for i in rest if items[i][0] == key]
        for part in chunks(mine, cores):
            out.append(((partial(each, function), data[key], [items[i][1] for i in part]),
                        part))
    return out


class Workers:
    """Where work runs: ``"serial"`` (this process), local processes, or an executor.

    ``executor`` is None (a local pool of ``pool``'s workers, one per core, owned here and
    ended by ``close``), ``"serial"``, or any executor with ``submit``, a
    ``dask.distributed.Client`` included. ``shared`` is data that a local pool's workers
    receive once, when they start; tasks then name it by key. One ``Workers`` may serve
    many calls of ``run`` (a plan runs every step on one pool).
    """

    def __init__(self, executor: Any = None, shared: Mapping[Any, Any] | None = None
                 ) -> None:
        check_executor(executor)
        self.own = executor is None
        self.cores = os.cpu_count() or 1
        self.shared = dict(shared or {}) if self.own else {}
        self.executor: Any = pool(self.cores, self.shared) if self.own else executor
        self.dask = is_dask(self.executor)
        self.scattered: dict[Hashable, Any] = {}

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(finished=kind is None)

    def run(self, function: Callable[..., R], data: Mapping[K, Any],
            items: Sequence[tuple[K, Any]], args: Sequence[Any] = (), *,
            done: Callable[[int, R], None] | None = None, label: str | None = None
            ) -> list[R]:
        """``function(data[key], item, *args)`` for every (key, item), in input order.

        ``done(i, result)`` is called as each item's result comes in (in any order), and
        ``label`` names a progress bar. Every result depends only on its arguments, so the
        results are the same whichever executor runs them; on an error or an interrupt the
        work not yet done is cancelled.
        """
        results: dict[int, R] = {}

        def take(i: int, result: R) -> None:
            results[i] = result
            if done is not None:
                done(i, result)

        if not items:
            return []
        with tqdm(total=len(items), desc=label, disable=None if label else True) as bar:
            if self.executor == "serial":
                for i, (key, item) in enumerate(items):
                    take(i, function(data[key], item, *args))
                    bar.update()
            else:
                self._submit(function, data, items, args, take, bar)
        return [results[i] for i in range(len(items))]

    def _submit(self, function: Callable[..., R], data: Mapping[K, Any],
                items: Sequence[tuple[K, Any]], args: Sequence[Any],
                take: Callable[[int, R], None], bar: Any) -> None:
        """Submit the tasks and take each result as it comes in; cancel the rest on error."""
        extra = {"pure": False} if self.dask else {}
        futures: dict[Any, list[int]] = {}
        finished = False
        try:
            scatter = self._scatter if self.dask else None
            for task, indices in tasks(function, data, items, self.cores, self.shared, scatter):
                futures[self.executor.submit(*task, *args, **extra)] = indices
            arrived: Iterable[Any]
            if self.dask:
                from distributed import as_completed

                arrived = as_completed(list(futures))
            else:
                arrived = concurrent.futures.as_completed(futures)
            for future in arrived:
                for i, result in zip(futures[future], future.result(), strict=True):
                    take(i, result)
                bar.update(len(futures[future]))
            finished = True
        finally:
            if not finished:
                for future in futures:
                    future.cancel()

    def _scatter(self, key: Hashable, value: Any) -> Any:
        """``value`` sent to the dask cluster once for this ``Workers``' life, by ``key``."""
        if key not in self.scattered:
            self.scattered[key] = self.executor.scatter(value)
        return self.scattered[key]

    def close(self, finished: bool) -> None:
        """End the local pool if it is this one's own: at once unless the work ``finished``."""
        if self.own:
            close(self.executor, finished)


def fan_out(function: Callable[..., R], data: Mapping[K, Any],
            items: Sequence[tuple[K, Any]], args: Sequence[Any] = (),
            executor: Any = None, *, shared: bool = False,
            done: Callable[[int, R], None] | None = None, label: str | None = None
            ) -> list[R]:
    """``function(data[key], item, *args)`` for every (key, item) on ``executor``, in order.

    One ``Workers`` for one call: ``shared`` starts a local pool with all of ``data``, so
    that each data travels to a worker once. See ``Workers.run`` for ``done`` and ``label``.
    """
    if not items:
        check_executor(executor)
        return []
    with Workers(executor, data if shared else None) as workers:
        return workers.run(function, data, items, args, done=done, label=label)
