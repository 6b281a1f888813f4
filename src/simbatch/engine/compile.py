"""Compile a frozen ``Scenario`` into the plan the engine runs: integer nanoseconds only.

This is the one place where local-time rules (periods, maintenance windows, recurrence
patterns, active windows, arrival-rate profiles) are turned into instants on the
engine's clock, nanoseconds after the scenario start. The engine's modules read the
``CompiledPlan`` and never call back into ``simbatch.scenario.calendar`` while they run:

- per server: its thread limit as change points over the horizon (periods, with 0 while
  it is down), its down spans (outages, maintenance), its fixed poll phase if it has one;
  and when the set of servers dedicated to Reserved capacity changes;
- the lanes (ready queues) by (group, task class, priority), and the lanes each server
  serves;
- per job: its task graph as tables (group, lane, class, parents with the status bits
  they accept, condition, retries, failure chance, concurrency limit), and when its runs
  are due: its start, its active windows as (open, close) spans, its recurrence slots
  (listed up to the horizon, or a grid for minutes and hours, walked lazily), the step of
  ``anchor: end`` (elapsed ns, or a calendar step with the zone's UTC offsets over the
  horizon as a table), and its arrival stream's integer data (the engine draws the
  arrivals from the job's stream).

What depends on the seed (poll phases drawn, durations, failures, arrivals) is not in the
plan: the engine draws it from the plan's data, so one plan serves every replication.
Sampled times keep their ``Distribution`` (a data type of the time grammar), whose
``sample`` the engine calls.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from bisect import bisect_right
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from simbatch.engine.status import EXPECT
from simbatch.scenario.calendar import Slots, Windows
from simbatch.scenario.spec import (
    PRIORITIES,
    RESERVED_SHARES,
    Job,
    Scenario,
    Server,
    Transient,
    dedicated,
)
from simbatch.scenario.timegrammar import NS, Distribution, epoch_ns

__all__ = ["ArrivalSpec", "CalendarStep", "CompiledPlan", "DatabaseSpec", "Down", "JobSpec",
           "LaneTables", "RecurrenceSpec", "RuntimeSpec", "ScheduleSpec", "ServerTables",
           "TaskSpec", "compile", "compile_servers"]

Down = tuple[int, int, str]
"""A server down over ``[start, end)`` (ns after the scenario start), and why: outage or
maintenance."""


@dataclass(frozen=True)
class ServerTables:
    """The servers over time: thread limits, down spans, Reserved switches, poll phases."""

    names: tuple[str, ...]
    times: tuple[tuple[int, ...], ...]
    """Per server: the instants at which its limit changes, the first being 0."""
    limits: tuple[tuple[int, ...], ...]
    """Per server: its limit from each of ``times`` on."""
    down: tuple[tuple[Down, ...], ...]
    """Per server: its down spans, merged and sorted."""
    reserved: tuple[tuple[int, frozenset[int]], ...]
    """When the set of servers dedicated to Reserved capacity changes: (instant, servers)."""
    poll_offsets: tuple[int | None, ...]
    """Per server: its poll phase in ns as given, or None to draw it from the seed."""
    poll_span: int
    """Drawn poll phases are whole seconds in ``[0, poll_span)``."""
    horizon: int


@dataclass(frozen=True)
class LaneTables:
    """The ready queues, one per (group, task class, priority), and who serves them."""

    priority_mode: bool
    throttle: bool
    classes: int
    """How many task classes there are (``TaskSpec.cls`` indexes them)."""
    klass: tuple[int, ...]
    """Per lane: its task class (-1: none)."""
    priority: tuple[int, ...]
    """Per lane: its priority class (an index in ``PRIORITIES``)."""
    shared: tuple[tuple[int, ...], ...]
    """Per server: the lanes it serves while it is not dedicated to Reserved capacity."""
    reserved_only: tuple[int, ...]
    """The lanes a server dedicated to Reserved capacity serves."""


@dataclass(frozen=True)
class RuntimeSpec:
    """The children a task adds when its first attempt starts (``addRuntimeTask``)."""

    tasks: tuple[int, int]
    """Their number is drawn uniformly from this range (inclusive)."""
    duration: Distribution
    fail: float
    transient: Transient | None
    load: float = 1.0


@dataclass(frozen=True)
class TaskSpec:
    """One task of a job's graph as the engine reads it."""

    name: str
    duration: Distribution
    group: int
    lane: int
    cls: int
    """Its throttle class (-1: none)."""
    limit: int
    """Max concurrency of its group per run: 0 none, -1 paused, N at most N at once."""
    parents: tuple[tuple[int, int], ...]
    """(parent task, bits of the final statuses that meet the dependency)."""
    any: bool
    """Whether one met dependency is enough (else all must be)."""
    retries: int
    fail: float
    counts_failure: bool
    transient: Transient | None
    runtime: RuntimeSpec | None
    load: float = 1.0
    """Its database load while it runs (read only with a ``DatabaseSpec``)."""


@dataclass(frozen=True)
class DatabaseSpec:
    """The shared database: capacity in load units, and the start throttle (a load, or
    None when off)."""

    capacity: float
    throttle_load: float | None


@dataclass(frozen=True)
class ArrivalSpec:
    """An arrival stream: sampled gaps after ``first``, or a piecewise-constant rate."""

    first: int
    interval: Distribution | None
    profile_times: tuple[int, ...] | None
    """Where the rate changes (ns; the first is 0), when the stream follows a profile."""
    profile_rates: tuple[float, ...] | None
    """The rate per second from each of ``profile_times`` on."""
    batch: int


@dataclass(frozen=True)
class CalendarStep:
    """A step of the local calendar (days, weeks, months, years) for ``anchor: end``.

    The zone is given as its UTC offsets over the horizon (and two days either side):
    offset ``offsets[i]`` holds from ``transitions[i]`` on, both in ns (transitions since
    the Unix epoch; the first is a sentinel before any instant).
    """

    base: int
    """The scenario start as ns since the Unix epoch."""
    seconds: int
    months: int
    years: int
    transitions: tuple[int, ...]
    offsets: tuple[int, ...]


_PROBE = 6 * 3600
"""Seconds between two probes of a zone's offset: no zone changes it twice in six hours."""


def _offset_ns(zone: ZoneInfo, second: int) -> int:
    """The zone's UTC offset (ns) at a whole second since the epoch."""
    offset = dt.datetime.fromtimestamp(second, zone).utcoffset()
    assert offset is not None
    return offset // dt.timedelta(microseconds=1) * 1000


@functools.lru_cache(maxsize=64)
def _zone_table(zone: ZoneInfo, first: int, last: int) -> tuple[tuple[int, ...],
                                                                  tuple[int, ...]]:
    """The zone's offsets between two whole seconds since the epoch, as transitions (ns)."""
    transitions, offsets = [-(2**62)], [_offset_ns(zone, first)]
    a = first
    while a < last:
        b = min(a + _PROBE, last)
        if _offset_ns(zone, b) != offsets[-1]:
            low, high = a + 1, b  # the first second with the new offset
            while low < high:
                mid = (low + high) // 2
                if _offset_ns(zone, mid) != offsets[-1]:
                    high = mid
                else:
                    low = mid + 1
            transitions.append(low * NS)
            offsets.append(_offset_ns(zone, low))
        a = b
    return tuple(transitions), tuple(offsets)


@dataclass(frozen=True)
class RecurrenceSpec:
    """The slots of a recurrence up to its range and the horizon, and how the next is found."""

    slots: tuple[int, ...] | None
    """Every slot before the horizon and within the range, in order (rules and cron)."""
    grid: tuple[int, int] | None
    """(first, step) for minutes and hours: the slots are first + k * step."""
    until: int
    """The last instant a slot may fall at (the range's end, else the horizon)."""
    count: int | None
    anchor_end: bool
    """The next run is due a step after the last one ended (else at the next slot)."""
    elapsed: int | None
    """With ``anchor_end``: the step in ns, for minutes and hours."""
    calendar: CalendarStep | None
    """With ``anchor_end``: the step on the local calendar, for days and longer."""


@dataclass(frozen=True)
class ScheduleSpec:
    """When a job's runs are due, and when they may start."""

    start: int
    """Its one-time start (ns after the scenario start)."""
    opens: tuple[int, ...] | None
    """Its active windows' openings, merged and sorted; None: it may start any time."""
    closes: tuple[int, ...] | None
    arrivals: ArrivalSpec | None
    recurrence: RecurrenceSpec | None

    @property
    def batch(self) -> int:
        """Runs created by one arrival."""
        return self.arrivals.batch if self.arrivals is not None else 1


@dataclass(frozen=True)
class JobSpec:
    """One job compiled: its name, index, task graph and schedule."""

    name: str
    index: int
    tasks: tuple[TaskSpec, ...]
    schedule: ScheduleSpec


@dataclass(frozen=True)
class CompiledPlan:
    """Everything a run of a scenario needs, in integer nanoseconds after its start."""

    horizon: int
    polling: int
    servers: ServerTables
    lanes: LaneTables
    group_names: tuple[str, ...]
    jobs: tuple[JobSpec, ...]
    scenario: Scenario = field(compare=False, repr=False)
    """Where the plan came from, for the results tables to name things; the engine never
    reads it."""
    database: DatabaseSpec | None = None
    """The shared database; None: durations do not depend on what else runs."""


# ---- servers ---------------------------------------------------------------------------------

def _timeline(server: Server, start: dt.datetime, horizon: int,
              zone: ZoneInfo) -> tuple[list[int], list[int]]:
    """The server's thread limit as change points (ns after ``start``) over the horizon.

    Period bounds are local times of day in ``zone``; each day's bounds are placed with
    zoneinfo, so a period across a daylight-saving change has its true length.
    """
    def local_second(epoch_s: float) -> int:
        local = dt.datetime.fromtimestamp(epoch_s, zone)
        return local.hour * 3600 + local.minute * 60 + local.second

    origin = start.timestamp()
    times, limits = [0], [server.threads_at(local_second(origin))]
    points = server.change_points()
    if not points:
        return times, limits
    first = start.astimezone(zone).date() - dt.timedelta(days=1)
    days = math.ceil(horizon / NS / 86_400) + 3
    instants = set()
    for d in range(days):
        day = first + dt.timedelta(days=d)
        for second in points:
            wall = dt.datetime(day.year, day.month, day.day, second // 3600,
                               second // 60 % 60, second % 60, tzinfo=zone)
            offset = epoch_ns(wall) - epoch_ns(start)
            if 0 < offset < horizon:
                instants.add(offset)
    for offset in sorted(instants):
        limit = server.threads_at(local_second(origin + offset / NS))
        if limit != limits[-1]:
            times.append(offset)
            limits.append(limit)
    return times, limits


def _downtime(scenario: Scenario) -> list[list[Down]]:
    """Each server's down intervals over the horizon: explicit outages and maintenance.

    A maintenance window takes its servers down for ``down`` each, in file order, one after
    another from the window's opening (or all at the opening). Overlapping intervals of one
    server merge; the cause of the earlier one is kept.
    """
    names = [s.name for s in scenario.servers]
    origin = epoch_ns(scenario.start)
    horizon = scenario.horizon
    raw: list[list[Down]] = [[] for _ in names]
    for outage in scenario.outages:
        begin = epoch_ns(outage.start) - origin
        raw[names.index(outage.server)].append((begin, begin + outage.duration, "outage"))
    for item in scenario.maintenance:
        order = [names.index(n) for n in item.servers]
        for opens, _ in item.window.spans(scenario.start, horizon, ZoneInfo(item.timezone)):
            for k, server in enumerate(order):
                begin = opens + (k * item.down if item.stagger == "one-at-a-time" else 0)
                raw[server].append((begin, begin + item.down, "maintenance"))
    out: list[list[Down]] = []
    for spans in raw:
        merged: list[Down] = []
        for begin, end, cause in sorted(spans):
            begin, end = max(begin, 0), min(end, horizon)
            if begin >= end:
                continue
            if merged and begin <= merged[-1][1]:
                last = merged[-1]
                merged[-1] = (last[0], max(last[1], end), last[2])
            else:
                merged.append((begin, end, cause))
        out.append(merged)
    return out


def _without(times: tuple[int, ...], limits: tuple[int, ...], down: list[Down]
             ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A limit timeline with the limit at 0 while the server is down (the same tuples when
    it is never down, so that servers alike share them)."""
    if not down:
        return times, limits
    points = sorted({*times, *(b for b, _, _ in down), *(e for _, e, _ in down)})
    out_t: list[int] = []
    out_l: list[int] = []
    for t in points:
        down_now = any(b <= t < e for b, e, _ in down)
        limit = 0 if down_now else limits[bisect_right(times, t) - 1]
        if not out_l or limit != out_l[-1]:
            out_t.append(t)
            out_l.append(limit)
    return tuple(out_t), tuple(out_l)


def compile_servers(scenario: Scenario) -> ServerTables:
    """The servers' limits over time, down spans, Reserved switches and fixed poll phases."""
    cache: dict[tuple[object, ...], tuple[tuple[int, ...], tuple[int, ...]]] = {}
    all_times: list[tuple[int, ...]] = []
    all_limits: list[tuple[int, ...]] = []
    down = _downtime(scenario)
    for server, spans in zip(scenario.servers, down, strict=True):
        zone = scenario.zone_of(server)
        key = (server.threads, server.periods, zone.key)
        if key not in cache:
            points, levels = _timeline(server, scenario.start, scenario.horizon, zone)
            cache[key] = (tuple(points), tuple(levels))
        times, limits = _without(*cache[key], spans)  # shared by servers alike
        all_times.append(times)
        all_limits.append(limits)
    # Reserved capacity: the dedicated set is recomputed whenever any limit changes
    share = RESERVED_SHARES[scenario.reserved_capacity]
    reserved: list[tuple[int, frozenset[int]]] = []
    if scenario.scheduling == "priority" and share > 0:
        for t in sorted({t for times in all_times for t in times}):
            now = [limits[bisect_right(times, t) - 1]
                   for times, limits in zip(all_times, all_limits, strict=True)]
            chosen = dedicated(share, now)
            if not reserved or chosen != reserved[-1][1]:
                reserved.append((t, chosen))
    return ServerTables(
        names=tuple(s.name for s in scenario.servers),
        times=tuple(all_times),
        limits=tuple(all_limits),
        down=tuple(tuple(spans) for spans in down),
        reserved=tuple(reserved),
        poll_offsets=tuple(s.poll_offset for s in scenario.servers),
        poll_span=math.ceil(scenario.polling / NS),
        horizon=scenario.horizon,
    )


# ---- lanes and task graphs -------------------------------------------------------------------

def _graphs(scenario: Scenario) -> tuple[LaneTables, list[tuple[TaskSpec, ...]]]:
    """The lanes, who serves them, and every job's task graph as ``TaskSpec`` rows."""
    priority_mode = scenario.scheduling == "priority"
    group_index = {g.name: i for i, g in enumerate(scenario.groups)}
    group_limits = [g.max_concurrency for g in scenario.groups]
    classes: dict[str, int] = {}
    keys: dict[tuple[int, int, int], int] = {}
    graphs: list[tuple[TaskSpec, ...]] = []
    for job in scenario.jobs:
        priority = PRIORITIES.index(scenario.priority_of(job))
        position = {t.name: i for i, t in enumerate(job.tasks)}
        rows = []
        for task in job.tasks:
            cls = (-1 if task.task_class is None
                   else classes.setdefault(task.task_class, len(classes)))
            group = group_index[task.group]
            lane = keys.setdefault((group, cls, priority), len(keys))
            runtime = task.runtime
            rows.append(TaskSpec(
                name=task.name, duration=task.duration, group=group, lane=lane, cls=cls,
                limit=group_limits[group],
                parents=tuple((position[d.task], EXPECT[d.expect]) for d in task.after),
                any=task.condition == "any", retries=task.retries, fail=task.fail,
                counts_failure=not task.ignore_failure, transient=task.transient,
                runtime=None if runtime is None else RuntimeSpec(
                    runtime.tasks, runtime.duration, runtime.fail, runtime.transient,
                    runtime.load), load=task.load))
        graphs.append(tuple(rows))
    shared: list[tuple[int, ...]] = []
    alike: dict[frozenset[int], tuple[int, ...]] = {}  # servers alike share one tuple
    every = tuple(range(len(keys)))
    for server in scenario.servers:
        if priority_mode:
            shared.append(every)
        else:
            served = frozenset(g for g, group in enumerate(scenario.groups)
                               if server.name in group.servers)
            if served not in alike:
                alike[served] = tuple(lane for lane, (g, _, _) in enumerate(keys)
                                      if g in served)
            shared.append(alike[served])
    reserved = PRIORITIES.index("reserved")
    lanes = LaneTables(
        priority_mode=priority_mode, throttle=scenario.throttle, classes=len(classes),
        klass=tuple(cls for (_, cls, _) in keys), priority=tuple(pri for (_, _, pri) in keys),
        shared=tuple(shared),
        reserved_only=tuple(lane for lane, (_, _, pri) in enumerate(keys) if pri == reserved))
    return lanes, graphs


# ---- schedules -------------------------------------------------------------------------------

def _recurrence(job: Job, scenario: Scenario) -> RecurrenceSpec | None:
    """A job's recurrence slots up to its range and the horizon, and its ``anchor: end`` step."""
    r = job.recurrence
    if r is None:
        return None
    horizon = scenario.horizon
    base = epoch_ns(scenario.start)
    until = epoch_ns(r.until) - base if r.until is not None else horizon
    slots: tuple[int, ...] | None = None
    grid: tuple[int, int] | None = None
    if r.cron is None and r.unit in ("m", "h"):
        grid = (epoch_ns(job.start) - base, r.every * (60 if r.unit == "m" else 3600) * NS)
    else:
        walk = Slots(r, job.start, scenario.start, horizon)
        listed = []
        while (slot := walk.at_or_after(-(2**62))[0]) is not None:
            listed.append(slot)
        slots = tuple(listed)
    elapsed: int | None = None
    calendar: CalendarStep | None = None
    if r.anchor == "end":
        unit = r.unit or "d"
        if unit in ("m", "h"):
            elapsed = int(r.step().total_seconds()) * NS  # type: ignore[union-attr]
        else:
            tz = job.start.tzinfo
            zone = tz if isinstance(tz, ZoneInfo) else scenario.zone_of(job)
            first = base // NS - 2 * 86_400
            transitions, offsets = _zone_table(zone, first, first + horizon // NS + 4 * 86_400)
            seconds = {"d": 86_400, "w": 7 * 86_400}.get(unit, 0) * r.every
            calendar = CalendarStep(base=base, seconds=seconds,
                                    months=r.every if unit == "mo" else 0,
                                    years=r.every if unit == "y" else 0,
                                    transitions=transitions, offsets=offsets)
    return RecurrenceSpec(slots=slots, grid=grid, until=until, count=r.count,
                          anchor_end=r.anchor == "end", elapsed=elapsed, calendar=calendar)


def _schedule(job: Job, scenario: Scenario) -> ScheduleSpec:
    """When a job's runs are due: its start, windows, recurrence slots or arrival stream."""
    horizon = scenario.horizon
    zone = scenario.zone_of(job)
    start = epoch_ns(job.start) - epoch_ns(scenario.start)
    opens = closes = None
    if job.active:
        windows = Windows(job.active, scenario.start, horizon, zone)
        opens, closes = tuple(windows.opens), tuple(windows.closes)
    arrivals = None
    recurrence = None
    if job.arrivals is not None:
        profile = job.arrivals.profile
        times = rates = None
        if profile is not None:
            segment_times, segment_rates = profile.segments(scenario.start, horizon, zone)
            times = tuple(int(t) for t in segment_times.tolist())
            rates = tuple(float(r) for r in segment_rates.tolist())
        arrivals = ArrivalSpec(first=start, interval=job.arrivals.interval,
                               profile_times=times, profile_rates=rates,
                               batch=job.arrivals.batch)
    else:
        recurrence = _recurrence(job, scenario)
    return ScheduleSpec(start=start, opens=opens, closes=closes, arrivals=arrivals,
                        recurrence=recurrence)


def compile(scenario: Scenario) -> CompiledPlan:
    """The plan a run of ``scenario`` reads: limits, lanes, task graphs and schedules."""
    lanes, graphs = _graphs(scenario)
    jobs = tuple(JobSpec(name=job.name, index=j, tasks=graphs[j],
                         schedule=_schedule(job, scenario))
                 for j, job in enumerate(scenario.jobs))
    db = scenario.database
    database = None if db is None else DatabaseSpec(
        db.capacity, None if db.throttle_at is None else db.throttle_at * db.capacity)
    return CompiledPlan(horizon=scenario.horizon, polling=scenario.polling,
                        servers=compile_servers(scenario), lanes=lanes,
                        group_names=tuple(g.name for g in scenario.groups), jobs=jobs,
                        scenario=scenario, database=database)
