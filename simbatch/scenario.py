"""Scenarios: the validated, frozen description of a topology and its workload.

Loading runs in phases, as Ciw's importer does: read (YAML 1.2 with line numbers),
check the shape and fill defaults (``simbatch.schema``), then check meaning and build the
frozen objects below. Every problem is one ``ScenarioError`` naming file, path and value.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from simbatch import schema
from simbatch.errors import ScenarioError
from simbatch.schema import Document, Loc
from simbatch.timegrammar import NS, Distribution, parse_duration_ns, parse_time

__all__ = [
    "DEFAULT_GROUP", "Arrivals", "Dependency", "Group", "Job", "Period", "Scenario", "Server",
    "Task", "load",
]

DEFAULT_GROUP = "default"
YEARS = (1970, 2200)  # the span the tables' nanosecond timestamps can hold, with room
MAX_HORIZON = 100 * 365 * 86_400 * NS
DAY = 86_400
EXPECTS = ("ended", "error", "ended or error")


@dataclass(frozen=True)
class Period:
    """A daily window of local time, ``[start, end)`` in seconds of the day, with its threads.

    ``end <= start`` means the period crosses midnight.
    """

    start: int
    end: int
    threads: int

    def covers(self, second: int) -> bool:
        """Whether the local second of the day falls in this period."""
        if self.start < self.end:
            return self.start <= second < self.end
        return second >= self.start or second < self.end


@dataclass(frozen=True)
class Server:
    """A batch server (AOS instance): threads outside any period, its periods, its poll phase."""

    name: str
    threads: int
    periods: tuple[Period, ...] = ()
    poll_offset: int | None = None
    """Phase of its polls in nanoseconds; ``None`` draws it from the seed."""

    def threads_at(self, second: int) -> int:
        """The thread limit at a local second of the day."""
        for period in self.periods:
            if period.covers(second):
                return period.threads
        return self.threads

    def change_points(self) -> list[int]:
        """The local seconds of the day at which the thread limit may change, sorted."""
        return sorted({p.start for p in self.periods} | {p.end % DAY for p in self.periods})


@dataclass(frozen=True)
class Group:
    """A batch group and, under affinity scheduling, the servers that run it."""

    name: str
    servers: tuple[str, ...]


@dataclass(frozen=True)
class Dependency:
    """A task this one waits for, and the final status it waits for."""

    task: str
    expect: str  # "ended" | "error" | "ended or error"

    def met_by(self, status: str) -> bool:
        """Whether a final status (Ended, Error, Didn't run) satisfies this dependency."""
        if self.expect == "ended or error":
            return status in ("Ended", "Error")
        return status.lower() == self.expect


@dataclass(frozen=True)
class Task:
    """A batch task: its sampled duration, dependencies, group and failure behaviour."""

    name: str
    duration: Distribution
    group: str
    after: tuple[Dependency, ...] = ()
    condition: str = "all"
    fail: float = 0.0
    retries: int = 0
    ignore_failure: bool = False
    task_class: str | None = None


@dataclass(frozen=True)
class Arrivals:
    """Ad-hoc work: a new run of the job after each sampled interval."""

    interval: Distribution


@dataclass(frozen=True)
class Job:
    """A batch job: its task graph, default group and when its runs are due."""

    name: str
    group: str
    start: dt.datetime
    tasks: tuple[Task, ...]
    arrivals: Arrivals | None = None


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; build one with ``simbatch.load``."""

    name: str
    start: dt.datetime
    timezone: str
    horizon: int
    """Simulated time in nanoseconds."""
    polling: int
    """Poll interval in nanoseconds; 0 dispatches at once."""
    scheduling: str
    servers: tuple[Server, ...]
    groups: tuple[Group, ...]
    jobs: tuple[Job, ...]
    source: str = "<scenario>"
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        """The scenario's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def end(self) -> dt.datetime:
        """The horizon as a local time."""
        return self.start + dt.timedelta(microseconds=self.horizon // 1000)

    def group(self, name: str) -> Group:
        """The group called ``name``."""
        return next(g for g in self.groups if g.name == name)


def load(source: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """Load and validate a scenario from a YAML file path or a mapping."""
    if isinstance(source, Scenario):
        return source
    doc = schema.from_mapping(source) if isinstance(source, Mapping) else schema.read_file(source)
    return _Builder(doc).build()


# ---- the build phase ------------------------------------------------------------------------

def _time_of_day(text: str) -> int:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(p.isdigit() and len(p) <= 2 for p in parts):
        raise ValueError(f"bad time of day {text!r}: write HH:MM, such as \"08:00\"")
    h, m, s = (int(p) for p in (*parts, "0")[:3])
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise ValueError(f"bad time of day {text!r}: hours 0-24, minutes and seconds 0-59")
    return h * 3600 + m * 60 + s


class _Builder:
    """Checks meaning and cross-references, and builds the frozen ``Scenario``."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def fail(self, loc: Loc, problem: str) -> ScenarioError:
        return self.doc.error(loc, problem)

    def duration_ns(self, loc: Loc, value: Any) -> int:
        try:
            return parse_duration_ns(value)
        except ValueError as exc:
            raise self.fail(loc, str(exc)) from None

    def distribution(self, loc: Loc, value: Any) -> Distribution:
        try:
            return parse_time(value, self.doc.base_dir)
        except ValueError as exc:
            raise self.fail(loc, str(exc)) from None

    def moment(self, loc: Loc, value: Any, zone: ZoneInfo) -> dt.datetime:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime(value.year, value.month, value.day)
        else:
            try:
                moment = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise self.fail(loc, f"bad date and time {value!r}: write it as"
                                     " 2026-01-05 22:00") from None
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise self.fail(loc, f"date {value!r} is outside the years {YEARS[0]} to {YEARS[1]}")
        if moment.tzinfo is None:
            return moment.replace(tzinfo=zone)
        return moment.astimezone(zone)

    def build(self) -> Scenario:
        raw = schema.check_shape(self.doc)
        try:
            zone = ZoneInfo(raw.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(("timezone",), f"unknown time zone {raw.timezone!r}"
                                           " (use an IANA name such as Europe/Amsterdam)") from None
        start = self.moment(("start",), raw.start, zone)
        horizon = self.duration_ns(("horizon",), raw.horizon)
        if not 0 < horizon <= MAX_HORIZON:
            raise self.fail(("horizon",), "the horizon must be longer than 0 and at most 100"
                                          f" years, got {raw.horizon!r}")
        polling = self.duration_ns(("polling",), raw.polling)
        servers = tuple(self.server(name, s, polling) for name, s in raw.servers.items())
        groups = self.groups(raw, servers)
        group_servers = {g.name: g.servers for g in groups}
        jobs = tuple(self.job(name, j, start, zone, group_servers) for name, j in raw.jobs.items())
        return Scenario(
            name=raw.name or (Path(self.doc.source).stem if self.doc.lines else "scenario"),
            start=start, timezone=raw.timezone, horizon=horizon, polling=polling,
            scheduling=raw.scheduling, servers=servers, groups=groups, jobs=jobs,
            source=self.doc.source, document=self.doc.data,
        )

    def server(self, name: str, raw: schema.ServerIn, polling: int) -> Server:
        loc: Loc = ("servers", name)
        offset = None
        if raw.poll_offset is not None:
            offset = self.duration_ns((*loc, "poll_offset"), raw.poll_offset)
            if polling == 0:
                raise self.fail((*loc, "poll_offset"), "poll_offset has no meaning with polling: 0")
            if offset >= polling:
                raise self.fail((*loc, "poll_offset"), f"poll_offset must be shorter than polling"
                                f" ({polling / NS:g}s), got {raw.poll_offset!r}")
        periods = []
        for i, p in enumerate(raw.periods):
            ploc = (*loc, "periods", i)
            try:
                begin = _time_of_day(p.start)
            except ValueError as exc:
                raise self.fail((*ploc, "from"), str(exc)) from None
            try:
                end = _time_of_day(p.end)
            except ValueError as exc:
                raise self.fail((*ploc, "to"), str(exc)) from None
            if begin == DAY:
                raise self.fail((*ploc, "from"), "a period cannot start at 24:00")
            if begin == end % DAY:
                raise self.fail(ploc, f"period from {p.start!r} to {p.end!r} is empty or a whole"
                                      " day; for a whole day set the server's threads instead")
            periods.append(Period(begin, end, p.threads))
        self.check_overlaps(loc, raw, periods)
        server = Server(name, raw.threads, tuple(periods), offset)
        if all(server.threads_at(s) == 0 for s in [0, *server.change_points()]):
            raise self.fail(loc, "this server has no threads at any time of day")
        return server

    def check_overlaps(self, loc: Loc, raw: schema.ServerIn, periods: list[Period]) -> None:
        spans = []
        for i, p in enumerate(periods):
            if p.start < p.end:
                spans.append((p.start, p.end, i))
            else:
                spans.extend([(p.start, DAY, i), (0, p.end, i)])
        spans.sort()
        for (_, end1, i), (begin2, _, j) in itertools.pairwise(spans):
            if begin2 < end1 and i != j:
                a, b = raw.periods[min(i, j)], raw.periods[max(i, j)]
                raise self.fail((*loc, "periods", max(i, j)),
                                f"period {b.start}-{b.end} overlaps period {a.start}-{a.end}")

    def groups(self, raw: schema.ScenarioIn, servers: tuple[Server, ...]) -> tuple[Group, ...]:
        names = {s.name for s in servers}
        bound: set[str] = set()
        groups: list[Group] = []
        for gname, g in raw.groups.items():
            loc: Loc = ("groups", gname)
            listed = g.servers or []
            for i, sname in enumerate(listed):
                if sname not in names:
                    raise self.fail((*loc, "servers", i), f"unknown server {sname!r}"
                                    f" (servers: {', '.join(sorted(names))})")
                if sname in listed[:i]:
                    raise self.fail((*loc, "servers", i), f"server {sname!r} is listed twice")
            if gname != DEFAULT_GROUP:
                bound.update(listed)
                if not listed and raw.scheduling == "affinity":
                    raise self.fail(loc, f"group {gname!r} has no servers, so no server can run"
                                         " it: list them with servers: [...]")
            groups.append(Group(gname, tuple(listed)))
        default = raw.groups.get(DEFAULT_GROUP)
        default_servers = (tuple(default.servers) if default is not None and default.servers
                           is not None else tuple(s.name for s in servers if s.name not in bound))
        if default is None:
            groups.append(Group(DEFAULT_GROUP, default_servers))
        else:
            groups = [Group(g.name, default_servers) if g.name == DEFAULT_GROUP else g
                      for g in groups]
        return tuple(groups)

    def group_ref(self, loc: Loc, name: str, group_servers: Mapping[str, tuple[str, ...]]) -> str:
        if name not in group_servers:
            raise self.fail(loc, f"unknown group {name!r} (groups: {', '.join(group_servers)})")
        if not group_servers[name]:
            raise self.fail(loc, f"group {name!r} has no servers, so no server can run its tasks"
                                 " (every server is bound to a named group; list servers under"
                                 f" groups.{name}.servers)")
        return name

    def job(self, name: str, raw: schema.JobIn, origin: dt.datetime, zone: ZoneInfo,
            group_servers: Mapping[str, tuple[str, ...]]) -> Job:
        loc: Loc = ("jobs", name)
        start = origin if raw.start is None else self.moment((*loc, "start"), raw.start, zone)
        if start < origin:
            raise self.fail((*loc, "start"), f"start {raw.start!r} is before the scenario start"
                                             f" {origin:%Y-%m-%d %H:%M}")
        arrivals = None
        if raw.arrivals is not None:
            interval = self.distribution((*loc, "arrivals", "interval"), raw.arrivals.interval)
            if interval.mean <= 0:
                raise self.fail((*loc, "arrivals", "interval"), "an arrival interval must average"
                                f" more than 0, got {interval.describe()}")
            arrivals = Arrivals(interval)
        job_group = raw.group
        if job_group not in group_servers:
            raise self.fail((*loc, "group"), f"unknown group {job_group!r}"
                                             f" (groups: {', '.join(group_servers)})")
        tasks = []
        for tname, t in raw.tasks.items():
            tloc = (*loc, "tasks", tname)
            if t.group is not None:
                group = self.group_ref((*tloc, "group"), t.group, group_servers)
            else:
                group = self.group_ref((*loc, "group"), job_group, group_servers)
            after = []
            for dep, expect in t.after.items():
                if dep not in raw.tasks:
                    raise self.fail((*tloc, "after"), f"unknown task {dep!r}")
                norm = " ".join(expect.lower().split())
                if norm not in EXPECTS:
                    raise self.fail((*tloc, "after", dep), f"unknown status {expect!r}"
                                    " (use ended, error or ended or error)")
                after.append(Dependency(dep, norm))
            tasks.append(Task(
                name=tname, duration=self.distribution((*tloc, "duration"), t.duration),
                group=group, after=tuple(after), condition=t.condition, fail=t.fail,
                retries=t.retries, ignore_failure=t.ignore_failure, task_class=t.task_class,
            ))
        self.check_cycles(loc, tasks)
        return Job(name, job_group, start, tuple(tasks), arrivals)

    def check_cycles(self, loc: Loc, tasks: list[Task]) -> None:
        deps = {t.name: [d.task for d in t.after] for t in tasks}
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        path: list[str] = []

        def visit(name: str) -> None:
            state[name] = 1
            path.append(name)
            for dep in deps[name]:
                if state.get(dep) == 1:
                    cycle = [*path[path.index(dep):], dep]
                    raise self.fail((*loc, "tasks", name, "after"),
                                    f"dependency cycle: {' -> '.join(cycle)}")
                if dep not in state:
                    visit(dep)
            path.pop()
            state[name] = 2

        for t in tasks:
            if t.name not in state:
                visit(t.name)
