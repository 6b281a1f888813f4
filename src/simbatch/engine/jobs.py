"""Jobs in the engine: compiled task graphs, their sampled workload, and live runs."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from simbatch.engine.compile import JobSpec, RuntimeSpec
from simbatch.engine.randomness import Blocks, generator
from simbatch.engine.recorder import NA
from simbatch.engine.status import (
    ABSENT,
    DIDNT_RUN,
    ENDED,
    ERROR,
    READY,
    WAITING,
)
from simbatch.scenario.spec import Transient
from simbatch.scenario.timegrammar import NS, Distribution

__all__ = ["BACKOFFS", "JobPlan", "Run", "ns_sampler"]

BACKOFFS = tuple(s * NS for s in (5, 8, 16, 32, 64, 128, 256))
"""Waits between the tries of a transient SQL error (retryable-batch.md: 5 s, 8 s, 16 s, 32 s
and so on; the next, 512 s, would pass 5 minutes, so the eighth failed try is an Error)."""
_NONE: list[int] = []  # shared, never mutated: "no tasks"


CAP_SECONDS = 200 * 365 * 86_400.0
"""Samples are capped here: longer than any horizon, so capping changes no result, and
short enough that nanoseconds fit in 64 bits."""


def ns_sampler(dist: Distribution) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A block sampler of ``dist`` in whole nanoseconds."""
    def draw(rng: np.random.Generator, size: int) -> np.ndarray:
        seconds = np.minimum(dist.sample(rng, size), CAP_SECONDS)
        ns: np.ndarray = np.rint(seconds * NS).astype(np.int64)
        return ns
    return draw


def _constant_ns(dist: Distribution) -> int | None:
    """A constant duration in ns, or None when the duration is sampled."""
    if dist.kind != "constant":
        return None
    return round(min(dist.params[0], CAP_SECONDS) * NS)


class JobPlan:
    """A job compiled for the engine: indexed task graph and per-attempt sample streams.

    Runtime children get task indices after the job's own tasks, allocated the first time
    any run needs them, so "Plan #3" has one index (and one sample stream) in every run.
    """

    def __init__(self, spec: JobSpec, seed: int) -> None:
        self.job = spec
        self.index = spec.index
        tasks = spec.tasks
        self.lane = [t.lane for t in tasks]  # ready queue of each task
        self.cls = [t.cls for t in tasks]  # throttle class of each task (-1: none)
        self.load = [t.load for t in tasks]  # database load of each task
        self.name = spec.name
        self.size = len(tasks)
        self.names = [t.name for t in tasks]
        self.distributions = [t.duration for t in tasks]
        self.runtime: list[RuntimeSpec | None] = [t.runtime for t in tasks]
        self.child_slots: list[list[int]] = [[] for _ in tasks]
        self.groups = [t.group for t in tasks]
        # max concurrency of each task's group: 0 none, -1 paused, N per run and group
        self.limit = [t.limit for t in tasks]
        self.limited = any(self.limit)  # runtime children inherit their parent's limit
        self.retries = [t.retries for t in tasks]
        self.counts_failure = [t.counts_failure for t in tasks]
        self.any = [t.any for t in tasks]
        self.parents = [list(t.parents) for t in tasks]
        self.children_of: list[list[int]] = [[] for _ in tasks]
        for i, parents in enumerate(self.parents):
            for parent, _ in parents:
                self.children_of[parent].append(i)
        self.roots = [i for i, p in enumerate(self.parents) if not p]
        self._seed = seed
        self._constant = [_constant_ns(t.duration) for t in tasks]
        self._counts: list[Blocks | None] = [None for _ in tasks]
        self._durations: list[list[Blocks | None]] = [[None] * (t.retries + 1) for t in tasks]
        self._fail = [t.fail for t in tasks]
        self.may_fail = [t.fail > 0 for t in tasks]
        self._failures: list[list[Blocks | None]] = [[None] * (t.retries + 1) for t in tasks]
        self.transient: list[Transient | None] = [t.transient for t in tasks]
        self._tries: list[list[Blocks | None]] = [[None] * (t.retries + 1) for t in tasks]

    def duration(self, task: int, run: int, attempt: int) -> int:
        """The sampled duration (ns) of an attempt: a function of seed, job, run, task, attempt."""
        constant = self._constant[task]
        if constant is not None:
            return constant
        blocks = self._durations[task][attempt - 1]
        if blocks is None:
            blocks = self._durations[task][attempt - 1] = Blocks(
                partial(generator, self._seed, "duration", self.name, self.names[task],
                        str(attempt)), ns_sampler(self.distributions[task]))
        return blocks.get(run - 1)  # type: ignore[return-value]

    def children(self, task: int, run: int) -> list[int]:
        """The runtime children that ``task`` adds in run ``run`` (their task indices)."""
        runtime = self.runtime[task]
        if runtime is None:
            return []
        low, high = runtime.tasks
        if low == high:
            count = low
        else:
            if self._counts[task] is None:
                self._counts[task] = Blocks(
                    partial(generator, self._seed, "runtime tasks", self.name,
                            self.names[task]), lambda r, n: r.integers(low, high + 1, n))
            count = int(self._counts[task].get(run - 1))  # type: ignore[union-attr]
        slots = self.child_slots[task]
        while len(slots) < count:
            slots.append(self.add_child(task, len(slots) + 1))
        return slots[:count]

    def add_child(self, parent: int, k: int) -> int:
        """Allocate the task index of ``parent``'s ``k``-th runtime child (``X #k``).

        Called once per child slot, the first time any run needs it, so the child has one
        index (and one sample stream) in every run.
        """
        runtime = self.runtime[parent]
        assert runtime is not None
        index = len(self.names)
        self.names.append(f"{self.names[parent]} #{k}")
        self.distributions.append(runtime.duration)
        self.runtime.append(None)
        self.child_slots.append([])
        self.groups.append(self.groups[parent])
        self.limit.append(self.limit[parent])
        self.lane.append(self.lane[parent])
        self.cls.append(self.cls[parent])
        self.load.append(runtime.load)
        self.retries.append(0)
        self.counts_failure.append(self.counts_failure[parent])
        self.any.append(False)
        self.parents.append([])
        self.children_of.append([])
        self._constant.append(_constant_ns(runtime.duration))
        self._durations.append([None])
        self._fail.append(runtime.fail)
        self.may_fail.append(runtime.fail > 0)
        self._failures.append([None])
        self.transient.append(runtime.transient)
        self._tries.append([None])
        self._counts.append(None)
        return index

    def transient_tries(self, task: int, run: int, attempt: int, duration: int
                        ) -> tuple[int, bool]:
        """An attempt with transient SQL errors: how long it holds its thread, and whether it
        gave up (every try failed).

        Each try runs the work again: a failed try lasts ``at`` of ``duration`` and is
        followed by the next back-off, all on the same thread; the last try that gets
        through runs the whole ``duration``. Whether try k fails is a function of (seed,
        job, run, task, attempt, k).
        """
        transient = self.transient[task]
        assert transient is not None
        blocks = self._tries[task][attempt - 1]
        if blocks is None:
            blocks = self._tries[task][attempt - 1] = Blocks(
                partial(generator, self._seed, "transient", self.name, self.names[task],
                        str(attempt)), lambda r, n: r.random(n))
        lost = round(duration * transient.at)
        elapsed = 0
        base = (run - 1) * (len(BACKOFFS) + 1)
        for k in range(len(BACKOFFS) + 1):
            if float(blocks.get(base + k)) >= transient.chance:
                return elapsed + duration, False
            elapsed += lost
            if k == len(BACKOFFS):
                return elapsed, True
            elapsed += BACKOFFS[k]
        raise AssertionError("unreachable")

    def fails(self, task: int, run: int, attempt: int) -> bool:
        """Whether an attempt ends in Error: a function of seed, job, run, task, attempt."""
        p = self._fail[task]
        if p == 0.0 or p == 1.0:
            return p == 1.0
        blocks = self._failures[task][attempt - 1]
        if blocks is None:
            blocks = self._failures[task][attempt - 1] = Blocks(
                partial(generator, self._seed, "failure", self.name, self.names[task],
                        str(attempt)), lambda r, n: r.random(n) < p)
        return bool(blocks.get(run - 1))


_UNLIMITED_COUNTS: dict[int, list[int]] = {}
_UNLIMITED_PARKED: dict[int, list[Any]] = {}


class Run:
    """One live occurrence of a job; dropped as soon as its last task is final."""

    __slots__ = ("attempt", "counts", "failed", "first_start", "number", "open", "parked",
                 "plan", "ready", "rows", "scheduled", "server", "skipped", "start", "status")

    def __init__(self, plan: JobPlan, number: int, scheduled: int, skipped: int = 0) -> None:
        self.plan = plan
        self.number = number
        self.scheduled = scheduled
        self.skipped = skipped
        n = plan.size
        self.status = [WAITING] * n
        self.attempt = [1] * n
        self.ready = [0] * n
        self.start = [0] * n
        self.server = [-1] * n
        self.open = n
        self.failed = False
        self.first_start = NA
        self.rows = 0
        # max concurrency, per group: [running, queued], and ready tasks held back (heaps);
        # read only for tasks of a limited group, so runs of other jobs share empty ones
        self.counts: dict[int, list[int]] = {} if plan.limited else _UNLIMITED_COUNTS
        self.parked: dict[int, list[tuple[int, int, int, int, Run]]] = (
            {} if plan.limited else _UNLIMITED_PARKED)

    def add(self, tasks: list[int]) -> None:
        """Bring runtime children into this run (their slots may be new to it)."""
        grow = max(tasks) + 1 - len(self.status)
        if grow > 0:
            self.status.extend([ABSENT] * grow)
            self.attempt.extend([1] * grow)
            self.ready.extend([0] * grow)
            self.start.extend([0] * grow)
            self.server.extend([-1] * grow)
        for task in tasks:
            self.status[task] = WAITING
        self.open += len(tasks)

    def settle(self, task: int, status: int) -> tuple[list[int], list[int]]:
        """Give ``task`` its final status; return the tasks now ready and those that won't run.

        A dependent whose condition can no longer be met is "Didn't run", which is final
        in turn, so the effect cascades through the graph.
        """
        plan = self.plan
        if not plan.children_of[task]:  # nothing depends on it: the common, fast case
            self.status[task] = status
            self.open -= 1
            if status == ERROR and plan.counts_failure[task]:
                self.failed = True
            return _NONE, _NONE
        ready: list[int] = []
        skipped: list[int] = []
        pending = [(task, status)]
        while pending:
            done, final = pending.pop()
            self.status[done] = final
            self.open -= 1
            if final == ERROR and plan.counts_failure[done]:
                self.failed = True
            for child in plan.children_of[done]:
                if self.status[child] != WAITING:
                    continue
                met = unmet = 0
                for parent, expect in plan.parents[child]:
                    s = self.status[parent]
                    if s >= ENDED:
                        if (1 << s) & expect:
                            met += 1
                        else:
                            unmet += 1
                need = len(plan.parents[child])
                if plan.any[child]:
                    go, never = met > 0, unmet == need
                else:
                    go, never = met == need, unmet > 0
                if go:
                    self.status[child] = READY
                    ready.append(child)
                elif never:
                    self.status[child] = DIDNT_RUN  # claimed now, settled below
                    skipped.append(child)
                    pending.append((child, DIDNT_RUN))
        return ready, skipped
