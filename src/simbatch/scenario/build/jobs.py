"""Building jobs: their tasks, dependencies, runtime tasks, deadlines and schedules.

A job's tasks are built first, each with its group, its dependencies (on tasks of the
same job, with a known status) and its runtime children; then the task graph is checked
(no name a runtime child will take, no dependency cycle) without recursion, so that a
job of any number of chained tasks loads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from simbatch.errors import excerpt
from simbatch.scenario import ranges, schema
from simbatch.scenario.build import calendars, topology
from simbatch.scenario.build.context import Context, time_of_day
from simbatch.scenario.shape import Loc
from simbatch.scenario.spec import EXPECTS, Deadline, Dependency, Job, Runtime, Task, Transient
from simbatch.scenario.timegrammar import epoch_ns, parse_duration_ns

__all__ = ["check_children", "check_cycles", "job"]


def job(ctx: Context, name: str, raw: schema.JobIn, origin: dt.datetime,
        scenario_zone: ZoneInfo, horizon: int, group_servers: Mapping[str, tuple[str, ...]]
        ) -> Job:
    """A job: when it is due (start, recurrence or arrivals, active windows), its tasks."""
    loc: Loc = ("jobs", name)
    zone = (scenario_zone if raw.timezone is None
            else ctx.zone((*loc, "timezone"), raw.timezone))
    start = origin if raw.start is None else ctx.moment((*loc, "start"), raw.start, zone)
    if start < origin:
        raise ctx.fail((*loc, "start"), f"start {excerpt(raw.start)} is before the scenario start"
                                        f" {origin:%Y-%m-%d %H:%M}")
    if raw.arrivals is not None and raw.recurrence is not None:
        raise ctx.fail(loc, "a job has arrivals or a recurrence, not both")
    arrivals = None if raw.arrivals is None else calendars.arrivals(
        ctx, (*loc, "arrivals"), raw.arrivals)
    recurrence = None if raw.recurrence is None else calendars.recurrence(
        ctx, (*loc, "recurrence"), raw.recurrence, start, zone)
    active = calendars.active(ctx, loc, raw)
    if raw.group not in group_servers:
        raise ctx.fail((*loc, "group"), f"unknown group {excerpt(raw.group)}"
                                        f" (groups: {', '.join(group_servers)})")
    tasks = [_task(ctx, (*loc, "tasks", tname), tname, t, raw, group_servers)
             for tname, t in raw.tasks.items()]
    check_children(ctx, loc, tasks)
    check_cycles(ctx, loc, tasks)
    deadline = None if raw.deadline is None else _deadline(ctx, (*loc, "deadline"),
                                                           raw.deadline, origin, horizon)
    return Job(name, raw.group, start, tuple(tasks), arrivals, recurrence, active,
               raw.timezone, raw.priority, deadline)


def _deadline(ctx: Context, loc: Loc, written: str | int | float, origin: dt.datetime,
              horizon: int) -> Deadline:
    """A local time of day (``08:00``) or a time after the run is due (``2h``)."""
    if isinstance(written, str) and ":" in written:
        return Deadline(time_of_day=ctx.parse(loc, time_of_day, written))
    within = ctx.parse(loc, parse_duration_ns, written)
    if within == 0:
        raise ctx.fail(loc, f"a deadline must be later than the run is due, got {excerpt(written)}")
    if epoch_ns(origin) + horizon + within >= ranges.last_instant_ns():
        raise ctx.fail(loc, f"deadline {excerpt(written)} after the horizon falls after"
                            f" {ranges.LAST_INSTANT:%Y-%m-%d}, beyond the nanosecond clock"
                            " of the results")
    return Deadline(within=within)


def _task(ctx: Context, loc: Loc, name: str, t: schema.TaskIn, job: schema.JobIn,
          group_servers: Mapping[str, tuple[str, ...]]) -> Task:
    """A task: its group (its own, or its job's), dependencies, duration and failures."""
    if t.group is not None:
        group = topology.group_ref(ctx, (*loc, "group"), t.group, group_servers)
    else:
        group = topology.group_ref(ctx, (*loc[:2], "group"), job.group, group_servers)
    after = []
    for dep, expect in t.after.items():
        if dep not in job.tasks:
            raise ctx.fail((*loc, "after"), f"unknown task {excerpt(dep)}")
        norm = " ".join(expect.lower().split())
        if norm not in EXPECTS:
            raise ctx.fail((*loc, "after", dep), f"unknown status {excerpt(expect)}"
                           " (use ended, error or ended or error)")
        after.append(Dependency(dep, norm))
    runtime = None if t.runtime is None else _runtime(ctx, (*loc, "runtime"), t.runtime)
    return Task(name=name, duration=ctx.distribution((*loc, "duration"), t.duration),
                group=group, after=tuple(after), condition=t.condition, fail=t.fail,
                retries=t.retries, ignore_failure=t.ignore_failure,
                task_class=t.task_class, runtime=runtime,
                transient=_transient(t.transient), load=t.load)


def _transient(raw: schema.TransientIn | None) -> Transient | None:
    """Transient SQL errors inside an attempt, if the task has them."""
    return None if raw is None else Transient(raw.chance, raw.at)


def _runtime(ctx: Context, loc: Loc, raw: schema.RuntimeIn) -> Runtime:
    """The runtime tasks a task adds: a count (or a uniform range), duration, failures."""
    count = raw.tasks
    if isinstance(count, int) and count >= 0:
        low = high = count
    elif (isinstance(count, dict) and list(count) == ["uniform"]
          and isinstance(count["uniform"], list) and len(count["uniform"]) == 2
          and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                  for n in count["uniform"])
          and count["uniform"][0] <= count["uniform"][1]):
        low, high = count["uniform"]
    else:
        raise ctx.fail((*loc, "tasks"), "runtime tasks is a whole number >= 0 or"
                                        f" {{uniform: [low, high]}}, got {excerpt(count)}")
    if high > ranges.MAX_RUNTIME_TASKS:
        raise ctx.fail((*loc, "tasks"), f"at most {ranges.MAX_RUNTIME_TASKS:,} runtime"
                                        f" tasks, got {excerpt(count)}")
    return Runtime((low, high), ctx.distribution((*loc, "duration"), raw.duration),
                   raw.fail, _transient(raw.transient), raw.load)


def check_children(ctx: Context, loc: Loc, tasks: list[Task]) -> None:
    """Runtime children are named "PARENT #k"; no task may already carry such a name."""
    parents = {t.name for t in tasks if t.runtime is not None}
    for t in tasks:
        head, _, number = t.name.rpartition(" #")
        if head in parents and number.isdigit():
            raise ctx.fail((*loc, "tasks", t.name), f"task name {excerpt(t.name)} is taken by the"
                           f" runtime tasks of {excerpt(head)}")


_ON_PATH, _DONE = 1, 2


def check_cycles(ctx: Context, loc: Loc, tasks: list[Task]) -> None:
    """Refuse a dependency cycle among a job's tasks, printing it: ``A -> B -> A``.

    A depth-first walk along the dependencies, from each task in file order, with an
    explicit stack (one iterator over a task's dependencies per step of the path), so a
    chain of any length is walked without recursion. The first dependency found that
    leads back onto the current path closes the cycle reported, at the ``after`` of the
    task it leaves from.
    """
    deps = {t.name: [d.task for d in t.after] for t in tasks}
    state: dict[str, int] = {}
    for root in deps:
        if root in state:
            continue
        state[root] = _ON_PATH
        path = [root]
        stack = [iter(deps[root])]
        while stack:
            for dep in stack[-1]:
                seen = state.get(dep)
                if seen == _ON_PATH:
                    cycle = [*path[path.index(dep):], dep]
                    raise ctx.fail((*loc, "tasks", path[-1], "after"),
                                   f"dependency cycle: {' -> '.join(cycle)}")
                if seen is None:
                    state[dep] = _ON_PATH
                    path.append(dep)
                    stack.append(iter(deps[dep]))
                    break
            else:
                stack.pop()
                state[path.pop()] = _DONE
