"""Trace-driven replay: the model runs given runs with given attempts; only queueing is simulated.

A ``Trace`` lists job runs: which scenario job each belongs to, when it is due (ns after
the scenario start) and, for each of the job's tasks, its attempts as recorded: each
attempt's duration (ns) and whether it ended in Error. ``ReplayModel`` is the ordinary
``Model`` with two overrides: runs are due when the trace says (no schedules, no
arrivals drawn), and each run's durations, outcomes and retries come from the trace
instead of the sample streams. Dispatch, polling, periods, groups, priorities, reserved
capacity, max concurrency and outages are the model's own, unchanged.

Data flows one way: a back-test builds the trace from a history; the engine never reads
a history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from simbatch.engine.jobs import JobPlan, Run
from simbatch.engine.model import Model
from simbatch.errors import UsageError
from simbatch.scenario import Scenario

__all__ = ["ReplayModel", "Trace", "TraceRun"]

Attempt = tuple[int, bool]
"""One recorded attempt: its duration in ns, and whether it ended in Error."""


@dataclass(frozen=True)
class TraceRun:
    """One job run to replay: its job (index in the scenario), due time and attempts per task."""

    job: int
    due: int
    attempts: Mapping[int, Sequence[Attempt]]
    """Task index -> its attempts in order; every task of the job must be given."""


@dataclass(frozen=True)
class Trace:
    """The runs to replay, in any order (they are opened in due order, ties in list order)."""

    runs: Sequence[TraceRun]


class _RunPlan(JobPlan):
    """A job's plan seen by one replayed run: its recorded durations, outcomes and retries.

    It shares every list of the job's plan (graph, lanes, groups, names) and replaces only
    what the trace fixes per run.
    """

    def __init__(self, base: JobPlan, run: TraceRun) -> None:
        self.__dict__.update(base.__dict__)
        attempts = [run.attempts[t] for t in range(base.size)]
        self.retries = [len(a) - 1 for a in attempts]
        self.may_fail = [True] * base.size
        self._recorded = attempts

    def duration(self, task: int, run: int, attempt: int) -> int:
        """The recorded duration of the attempt."""
        return self._recorded[task][attempt - 1][0]

    def fails(self, task: int, run: int, attempt: int) -> bool:
        """Whether the recorded attempt ended in Error."""
        return self._recorded[task][attempt - 1][1]

    def children(self, task: int, run: int) -> list[int]:
        """No runtime children are drawn in a replay: recorded tasks are all given."""
        return []


class ReplayModel(Model):
    """A ``Model`` that replays a ``Trace`` under the scenario's topology."""

    def __init__(self, scenario: Scenario, trace: Trace, seed: int = 0) -> None:
        self.trace = trace
        for k, run in enumerate(trace.runs):
            if not 0 <= run.job < len(scenario.jobs):
                raise UsageError(f"trace run {k}: no job {run.job} in the scenario")
            size = len(scenario.jobs[run.job].tasks)
            missing = [t for t in range(size) if not run.attempts.get(t)]
            if missing or set(run.attempts) - set(range(size)):
                raise UsageError(f"trace run {k} of job {scenario.jobs[run.job].name!r}:"
                                 f" give one or more attempts for each of its {size} tasks")
            if run.due < 0:
                raise UsageError(f"trace run {k}: due {run.due} ns before the scenario start")
        super().__init__(scenario, seed)

    def _schedule_workload(self, scenario: Scenario, seed: int) -> None:
        """Every trace run is due at its own time; no schedule or arrival stream is drawn."""
        runs = self.trace.runs
        self.schedules = []
        self.windows = [None for _ in scenario.jobs]
        self.recurring = [False for _ in scenario.jobs]
        self.batch = [1 for _ in scenario.jobs]
        due = np.array([r.due for r in runs], dtype=np.int64)
        order = np.argsort(due, kind="stable")
        self.arrival_times = due[order]
        self.arrival_jobs = np.array([runs[i].job for i in order], dtype=np.int32)
        self._queue = [runs[i] for i in order]  # opened in this order, one per due time
        self._next = 0

    def _open(self, j: int, skipped: int) -> None:
        """The next trace run is due now: its roots are ready at once."""
        trace_run = self._queue[self._next]
        self._next += 1
        now = self.now
        number = self.runs[j] = self.runs[j] + 1
        run = Run(_RunPlan(self.plans[j], trace_run), number, now, skipped)
        self.live[run] = None
        for task in run.plan.roots:
            self._ready(run, task, now)
        self.dirty = True
