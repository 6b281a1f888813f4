"""Trace-driven replay: the model runs given runs with given attempts; only queueing is simulated.

A ``Trace`` lists job runs: which scenario job each belongs to, when it is due (ns after
the scenario start), which of the job's tasks it had, and for each of them its attempts
as recorded (each attempt's duration in ns, and whether it ended in Error) and the tasks
of the run it waits for. A run may also carry runtime tasks: per parent task, the
attempts of each child it added, in the order they started. ``ReplayModel`` is the
ordinary ``Model`` with two overrides: runs are due when the trace says (no schedules,
no arrivals drawn), and each run's tasks, graph, durations, outcomes, retries and
runtime children come from the trace instead of the scenario and its sample streams.
Dispatch, polling, periods, groups, priorities, reserved capacity, max concurrency and
outages are the model's own, unchanged.

A task of the job that a run lacks is absent from that run (as a runtime slot a run
never created is): it is never ready, never recorded, and no task of the run waits
for it. Runtime children are ready when their parent's first attempt starts, as in
the model; the k-th child of parent ``X`` is the task ``X #k`` in the results.

Data flows one way: a back-test builds the trace from a history; the engine never reads
a history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from simbatch.engine.compile import CompiledPlan, compile
from simbatch.engine.jobs import JobPlan, Run
from simbatch.engine.model import Model
from simbatch.engine.status import ABSENT, EXPECT
from simbatch.errors import UsageError
from simbatch.scenario.spec import Scenario

__all__ = ["ReplayModel", "Trace", "TraceRun", "TraceTask"]

Attempt = tuple[int, bool]
"""One recorded attempt: its duration in ns, and whether it ended in Error."""


@dataclass(frozen=True)
class TraceTask:
    """One task of a replayed run: its attempts in order, and the run's tasks it waits for."""

    attempts: Sequence[Attempt]
    after: Sequence[tuple[int, str]] = ()
    """(task index, expected status: ended, error or ended or error); all must be met, or
    one of them when ``any``."""
    any: bool = False
    """Whether one met dependency is enough (F&O's ConstraintType Any), not all of them."""


@dataclass(frozen=True)
class TraceRun:
    """One job run to replay: its job (index in the scenario), due time, tasks and children."""

    job: int
    due: int
    tasks: Mapping[int, TraceTask]
    """Task index -> the task as this run had it; a task not given is absent from the run."""
    runtime: Mapping[int, Sequence[Sequence[Attempt]]] = field(default_factory=dict)
    """Parent task index -> the attempts of each runtime child it added, in start order."""


@dataclass(frozen=True)
class Trace:
    """The runs to replay, in any order (they are opened in due order, ties in list order)."""

    runs: Sequence[TraceRun]


class _RunPlan(JobPlan):
    """A job's plan seen by one replayed run: its own tasks, graph, attempts and children.

    It shares the job plan's per-task lists (names, groups, lanes, limits) and replaces
    what the trace fixes per run. Runtime child slots are allocated on the job's plan, so
    ``Plan #3`` has one task index in every run, as in the model.
    """

    def __init__(self, base: JobPlan, run: TraceRun) -> None:
        slots: dict[int, list[int]] = {}
        for parent, children in run.runtime.items():
            own = base.child_slots[parent]
            while len(own) < len(children):  # the parent adds runtime tasks: ReplayModel checks
                own.append(base.add_child(parent, len(own) + 1))
            slots[parent] = own[:len(children)]
        self.__dict__.update(base.__dict__)
        total = len(base.names)
        recorded: list[Sequence[Attempt]] = [() for _ in range(total)]
        self.parents = [[] for _ in range(total)]
        self.children_of = [[] for _ in range(total)]
        for task, given in run.tasks.items():
            recorded[task] = given.attempts
            self.parents[task] = [(p, EXPECT[e]) for p, e in given.after]
            for parent, _ in given.after:
                self.children_of[parent].append(task)
        for parent, children in run.runtime.items():
            for slot, attempts in zip(slots[parent], children, strict=True):
                recorded[slot] = attempts
        self.any = [False] * total
        for task, given in run.tasks.items():
            self.any[task] = given.any
        self.roots = sorted(t for t in run.tasks if not self.parents[t])
        self.retries = [max(len(a) - 1, 0) for a in recorded]
        self.may_fail = [True] * total
        self.present = set(run.tasks)
        self._recorded = recorded
        self._slots = slots

    def duration(self, task: int, run: int, attempt: int) -> int:
        """The recorded duration of the attempt."""
        return self._recorded[task][attempt - 1][0]

    def fails(self, task: int, run: int, attempt: int) -> bool:
        """Whether the recorded attempt ended in Error."""
        return self._recorded[task][attempt - 1][1]

    def children(self, task: int, run: int) -> list[int]:
        """The runtime children this run recorded for ``task`` (their task indices)."""
        return self._slots.get(task, [])

    def transient_tries(self, task: int, run: int, attempt: int, duration: int
                        ) -> tuple[int, bool]:
        """No transient errors are drawn in a replay: the recorded attempt is the whole of it."""
        return duration, False


def _check(plan: CompiledPlan, k: int, run: TraceRun) -> None:
    if not 0 <= run.job < len(plan.jobs):
        raise UsageError(f"trace run {k}: no job {run.job} in the scenario")
    job = plan.jobs[run.job]
    size = len(job.tasks)
    where = f"trace run {k} of job {job.name!r}"
    if not run.tasks:
        raise UsageError(f"{where}: give at least one task")
    for task, given in run.tasks.items():
        if not 0 <= task < size or not given.attempts:
            raise UsageError(f"{where}: task {task}: give a task of the job's {size} and one"
                             " or more attempts")
        for parent, expect in given.after:
            if parent not in run.tasks or parent == task or expect not in EXPECT:
                raise UsageError(f"{where}: task {task} waits for {parent} ({expect!r}),"
                                 " which is not another task of this run with a known status")
    for parent, children in run.runtime.items():
        if parent not in run.tasks or job.tasks[parent].runtime is None:
            raise UsageError(f"{where}: runtime children of task {parent}, which is not in"
                             " the run or adds no runtime tasks in the scenario")
        if any(len(c) != 1 for c in children):
            raise UsageError(f"{where}: a runtime child has exactly one attempt")
    if run.due < 0:
        raise UsageError(f"{where}: due {run.due} ns before the scenario start")


class ReplayModel(Model):
    """A ``Model`` that replays a ``Trace`` under the scenario's topology."""

    def __init__(self, scenario: Scenario | CompiledPlan, trace: Trace, seed: int = 0) -> None:
        plan = scenario if isinstance(scenario, CompiledPlan) else compile(scenario)
        self.trace = trace
        for k, run in enumerate(trace.runs):
            _check(plan, k, run)
        self.numbers = [0 for _ in trace.runs]
        """The run number (1, 2, ... per job, as in the results) each trace run got."""
        super().__init__(plan, seed)

    def _schedule_workload(self, plan: CompiledPlan, seed: int) -> None:
        """Every trace run is due at its own time; no schedule or arrival stream is drawn."""
        runs = self.trace.runs
        self.schedules = []
        self.windows = [None for _ in plan.jobs]
        self.recurring = [False for _ in plan.jobs]
        self.batch = [1 for _ in plan.jobs]
        due = np.array([r.due for r in runs], dtype=np.int64)
        order = np.argsort(due, kind="stable")
        self.arrival_times = due[order]
        self.arrival_jobs = np.array([runs[i].job for i in order], dtype=np.int32)
        self._order = [int(i) for i in order]  # opened in this order, one per due time
        self._next = 0

    def _open(self, j: int, skipped: int) -> None:
        """The next trace run is due now: its tasks with nothing to wait for are ready at once."""
        k = self._order[self._next]
        self._next += 1
        now = self.now
        number = self.runs[j] = self.runs[j] + 1
        self.numbers[k] = number
        plan = _RunPlan(self.plans[j], self.trace.runs[k])
        run = Run(plan, number, now, skipped)
        for task in range(plan.size):
            if task not in plan.present:
                run.status[task] = ABSENT
                run.open -= 1
        self.live[run] = None
        for task in plan.roots:
            self._ready(run, task, now)
        self.dirty = True
