"""Jobs in the engine: compiled task graphs, their sampled workload, and live runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from simbatch.randomness import Blocks, generator
from simbatch.recorder import NA
from simbatch.scenario import Job
from simbatch.timegrammar import NS, Distribution

__all__ = ["DIDNT_RUN", "ENDED", "ERROR", "EXECUTING", "READY", "STATUS", "WAITING", "JobPlan",
           "Run", "ns_sampler"]

WAITING, READY, EXECUTING, ENDED, ERROR, DIDNT_RUN = range(6)
STATUS = ("Waiting", "Ready", "Executing", "Ended", "Error", "Didn't run")
_EXPECT = {"ended": 1 << ENDED, "error": 1 << ERROR, "ended or error": (1 << ENDED) | (1 << ERROR)}


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


class JobPlan:
    """A job compiled for the engine: indexed task graph and per-attempt sample streams."""

    def __init__(self, job: Job, index: int, group_index: dict[str, int], seed: int) -> None:
        self.job = job
        self.index = index
        self.name = job.name
        tasks = job.tasks
        position = {t.name: i for i, t in enumerate(tasks)}
        self.size = len(tasks)
        self.groups = [group_index[t.group] for t in tasks]
        self.retries = [t.retries for t in tasks]
        self.counts_failure = [not t.ignore_failure for t in tasks]
        self.any = [t.condition == "any" for t in tasks]
        self.parents = [[(position[d.task], _EXPECT[d.expect]) for d in t.after] for t in tasks]
        self.children: list[list[int]] = [[] for _ in tasks]
        for i, parents in enumerate(self.parents):
            for parent, _ in parents:
                self.children[parent].append(i)
        self.roots = [i for i, p in enumerate(self.parents) if not p]
        self._seed = seed
        self._constant = [
            round(min(t.duration.params[0], CAP_SECONDS) * NS) if t.duration.kind == "constant"
            else None
            for t in tasks
        ]
        self._durations: list[list[Blocks | None]] = [[None] * (t.retries + 1) for t in tasks]
        self._fail = [t.fail for t in tasks]
        self._failures: list[list[Blocks | None]] = [[None] * (t.retries + 1) for t in tasks]

    def duration(self, task: int, run: int, attempt: int) -> int:
        """The sampled duration (ns) of an attempt: a function of seed, job, run, task, attempt."""
        constant = self._constant[task]
        if constant is not None:
            return constant
        blocks = self._durations[task][attempt - 1]
        if blocks is None:
            t = self.job.tasks[task]
            rng = generator(self._seed, "duration", self.name, t.name, str(attempt))
            blocks = self._durations[task][attempt - 1] = Blocks(rng, ns_sampler(t.duration))
        return int(blocks.get(run - 1))

    def fails(self, task: int, run: int, attempt: int) -> bool:
        """Whether an attempt ends in Error: a function of seed, job, run, task, attempt."""
        p = self._fail[task]
        if p == 0.0 or p == 1.0:
            return p == 1.0
        blocks = self._failures[task][attempt - 1]
        if blocks is None:
            rng = generator(self._seed, "failure", self.name, self.job.tasks[task].name,
                            str(attempt))
            blocks = self._failures[task][attempt - 1] = Blocks(
                rng, lambda r, n: r.random(n) < p)
        return bool(blocks.get(run - 1))


class Run:
    """One live occurrence of a job; dropped as soon as its last task is final."""

    __slots__ = ("attempt", "failed", "first_start", "number", "open", "plan", "ready", "rows",
                 "scheduled", "server", "start", "status")

    def __init__(self, plan: JobPlan, number: int, scheduled: int) -> None:
        self.plan = plan
        self.number = number
        self.scheduled = scheduled
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

    def settle(self, task: int, status: int) -> tuple[list[int], list[int]]:
        """Give ``task`` its final status; return the tasks now ready and those that won't run.

        A dependent whose condition can no longer be met is "Didn't run", which is final
        in turn, so the effect cascades through the graph.
        """
        plan = self.plan
        ready: list[int] = []
        skipped: list[int] = []
        pending = [(task, status)]
        while pending:
            done, final = pending.pop()
            self.status[done] = final
            self.open -= 1
            if final == ERROR and plan.counts_failure[done]:
                self.failed = True
            for child in plan.children[done]:
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
