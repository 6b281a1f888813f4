"""Loading scenarios in phases, as Ciw's importer does.

1. read: YAML 1.2 with line numbers, following ``extends:`` (``simbatch.scenario.shape``);
2. shape: known keys, types, ranges, defaults (pydantic models in ``simbatch.scenario.shape``);
3. meaning: cross-references, cycles, time grammar, calendars (here);
4. build: the frozen objects of ``simbatch.scenario.spec``.

Every problem becomes one ``ScenarioError`` naming the file, the path and the bad value.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
import sys
import warnings
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from simbatch.scenario import lint
from simbatch.scenario import ranges
from simbatch.scenario import shape as schema
from simbatch.scenario.calendar import DAY, Profile, Recurrence, Window
from simbatch.errors import ScenarioError, SimbatchWarning
from simbatch.scenario.spec import (
    DEFAULT_GROUP,
    RESERVED_SHARES,
    Arrivals,
    Deadline,
    Dependency,
    Group,
    Job,
    Maintenance,
    Outage,
    Period,
    Runtime,
    Scenario,
    Server,
    Task,
    Transient,
    dedicated,
)
from simbatch.scenario.shape import Document, Loc
from simbatch.scenario.timegrammar import (
    NS,
    Distribution,
    epoch_ns,
    parse_days,
    parse_duration_ns,
    parse_every,
    parse_rate,
    parse_time,
)

__all__ = ["load", "load_changed", "load_document"]

YEARS = (1970, 2200)  # the span the tables' nanosecond timestamps hold, with room
MAX_HORIZON = 100 * 365 * DAY * NS
EXPECTS = ("ended", "error", "ended or error")
T = TypeVar("T")


def load(source: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """Load and validate a scenario from a YAML file path or a mapping."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return _Builder(schema.from_mapping(source)).build()
    doc = schema.read_file(source, quick=True)
    if doc.located:
        return _Builder(doc).build()
    # read quickly, without lines: a message or a warning needs them, so read it again
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scenario = _Builder(doc).build()
    except ScenarioError:
        caught = [None]  # type: ignore[list-item]
    if caught:
        return _Builder(schema.read_file(source)).build()
    return scenario


def load_changed(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """``scenario`` with ``changes`` deep-merged into its document, validated anew."""
    if not isinstance(changes, Mapping):
        raise ScenarioError(scenario.source, "", f"changes must be a mapping, got {changes!r}")
    try:
        merged = schema.merge(scenario.document, changes)
    except schema.MergeError as exc:
        raise ScenarioError(f"{scenario.source} (with changes)", schema.format_path(exc.loc),
                            str(exc)) from None
    return load_document(merged, f"{scenario.source} (with changes)", scenario.folder,
                         scenario.name)


def load_document(data: Mapping[str, Any], source: str, folder: Path | None = None,
                  default_name: str | None = None) -> Scenario:
    """A scenario from plain data that stands for ``source`` (for messages)."""
    return _Builder(schema.from_mapping(data, source, folder), default_name).build()


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside simbatch."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("simbatch"):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


@functools.cache
def _zone_names() -> frozenset[str]:
    """The IANA zone names, from the tzdata package: the same list on every host."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def _bounded_rate(value: Any) -> float:
    """``parse_rate`` within ``ranges.MAX_RATE``."""
    rate = parse_rate(value)
    ranges.check_rate(rate, value)
    return rate


def time_of_day(text: str) -> int:
    """Seconds of the day from ``HH:MM`` or ``HH:MM:SS`` (``24:00`` is the day's end)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(re.fullmatch(r"[0-9]{1,2}", p) for p in parts):
        raise ValueError(f"bad time of day {text!r}: write HH:MM, such as \"08:00\"")
    h, m, s = (int(p) for p in (*parts, "0")[:3])
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise ValueError(f"bad time of day {text!r}: hours 0-24, minutes and seconds 0-59")
    return h * 3600 + m * 60 + s


class _Builder:
    """Checks meaning and cross-references, and builds the frozen ``Scenario``."""

    def __init__(self, doc: Document, default_name: str | None = None) -> None:
        self.doc = doc
        self.default_name = default_name

    def fail(self, loc: Loc, problem: str) -> ScenarioError:
        return self.doc.error(loc, problem)

    def parse(self, loc: Loc, parser: Callable[[Any], T], value: Any) -> T:
        """``parser(value)``, its ValueError turned into a ScenarioError at ``loc``."""
        try:
            return parser(value)
        except ValueError as exc:
            raise self.fail(loc, str(exc)) from None

    def distribution(self, loc: Loc, value: Any) -> Distribution:
        try:
            dist = parse_time(value, self.doc.folder_of(loc))
            ranges.check_distribution(dist)
            return dist
        except ValueError as exc:
            problem = str(exc)
            if isinstance(value, dict) and len(value) == 1 and problem.startswith("bad time"):
                problem = f"{next(iter(value))}: {problem}"  # name the distribution
            raise self.fail(loc, problem) from None

    def zone(self, loc: Loc, name: str) -> ZoneInfo:
        if name not in _zone_names():  # also refuses names like "localtime" that vary by host
            raise self.fail(loc, f"unknown time zone {name!r} (use an IANA name such as"
                                 " Europe/Amsterdam)")
        return ZoneInfo(name)

    def moment(self, loc: Loc, value: Any, zone: ZoneInfo, *, day_end: bool = False
               ) -> dt.datetime:
        if value is None or isinstance(value, bool | int | float | list | dict):
            raise self.fail(loc, f"bad date and time {value!r}: write it as 2026-01-05 22:00")
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime(value.year, value.month, value.day)
            if day_end:  # a date alone means the whole of that day
                moment += dt.timedelta(days=1, microseconds=-1)
        else:
            try:
                moment = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise self.fail(loc, f"bad date and time {value!r}: write it as"
                                     " 2026-01-05 22:00") from None
            if day_end and len(str(value).strip()) == 10:
                moment += dt.timedelta(days=1, microseconds=-1)
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise self.fail(loc, f"date {value!r} is outside the years {YEARS[0]} to {YEARS[1]}")
        if moment.tzinfo is None:
            return moment.replace(tzinfo=zone)
        return moment.astimezone(zone)

    def daily_span(self, loc: Loc, start: str, end: str, what: str) -> tuple[int, int]:
        """A ``from``/``to`` pair of local times as seconds of the day (to may be 24:00)."""
        begin = self.parse((*loc, "from"), time_of_day, start)
        finish = self.parse((*loc, "to"), time_of_day, end)
        if begin == DAY:
            raise self.fail((*loc, "from"), f"a {what} cannot start at 24:00")
        if begin == finish % DAY:
            hint = ("; for a whole day set the server's threads instead" if what == "period"
                    else "")
            raise self.fail(loc, f"{what} from {start!r} to {end!r} is empty or a whole day"
                                 + hint)
        return begin, finish

    def window(self, loc: Loc, raw: schema.WindowIn) -> Window:
        begin, end = self.daily_span(loc, raw.start, raw.end, "window")
        days = tuple(range(7)) if raw.days is None else self.parse(
            (*loc, "days"), parse_days, raw.days)
        return Window(begin, end, days)

    # ---- the scenario -----------------------------------------------------------------------

    def build(self) -> Scenario:
        raw = schema.check_shape(self.doc)
        self.scheduling = raw.scheduling
        self.check_platform(raw)
        zone = self.zone(("timezone",), raw.timezone)
        start = self.moment(("start",), raw.start, zone)
        horizon = self.horizon(raw, start, zone)
        if not 0 < horizon <= MAX_HORIZON:
            raise self.fail(("horizon",), "the horizon must be longer than 0 and at most 100"
                                          f" years, got {raw.horizon or raw.end!r}")
        if epoch_ns(start) + horizon >= ranges.last_instant_ns():
            raise self.fail(("horizon",), f"the run would end after {ranges.LAST_INSTANT:%Y-%m-%d},"
                                          " beyond the nanosecond clock of the results; got"
                                          f" {raw.horizon or raw.end!r} from {start:%Y-%m-%d}")
        polling = self.parse(("polling",), parse_duration_ns, raw.polling)
        servers = tuple(self.server(name, s, polling) for name, s in raw.servers.items())
        groups = self.groups(raw, servers)
        if raw.scheduling == "affinity" and raw.reserved_capacity != "none":
            raise self.fail(("reserved_capacity",), "reserved capacity belongs to priority"
                                                    " scheduling (scheduling: priority)")
        group_servers = {g.name: g.servers for g in groups}
        jobs = tuple(self.job(name, j, start, zone, horizon, group_servers)
                     for name, j in raw.jobs.items())
        names = [s.name for s in servers]
        outages = tuple(self.outage(("outages", i), o, zone, names)
                        for i, o in enumerate(raw.outages))
        maintenance = tuple(self.maintenance(("maintenance", i), m, names)
                            for i, m in enumerate(raw.maintenance))
        self.warn_idle(servers, groups, jobs, start, horizon)
        name = raw.name or self.default_name or (
            Path(self.doc.source).stem if self.doc.from_file else "scenario")
        scenario = Scenario(
            name=name, start=start, timezone=raw.timezone, horizon=horizon, polling=polling,
            scheduling=raw.scheduling, servers=servers, groups=groups, jobs=jobs,
            reserved_capacity=raw.reserved_capacity, throttle=raw.throttle,
            platform=raw.platform, outages=outages, maintenance=maintenance,
            source=self.doc.source, document=self.doc.data, folder=self.doc.folder,
        )
        lint.warn_likely_mistakes(scenario, self.warn)
        return scenario

    def check_platform(self, raw: schema.ScenarioIn) -> None:
        """The rules of the chosen platform and scheduling model that the shape cannot say.

        Cloud batch servers have at most 16 threads. Group-to-server bindings are affinity
        scheduling (before 10.0.38), which a file must choose explicitly now that priority
        scheduling is the default; under priority scheduling a task's group is its job's,
        and only then is batch concurrency control (max concurrency) available.
        """
        if raw.platform == "cloud":
            for name, server in raw.servers.items():
                for loc, threads in [(("servers", name, "threads"), server.threads),
                                     *((("servers", name, "periods", i, "threads"), p.threads)
                                       for i, p in enumerate(server.periods))]:
                    if threads > schema.CLOUD_THREADS:
                        raise self.fail(loc, f"{threads} threads exceed the cloud maximum of"
                                        f" {schema.CLOUD_THREADS} per batch server; for an"
                                        " on-premises or AX-era server say platform:"
                                        " on-premises")
        for gname, group in raw.groups.items():
            if raw.scheduling == "priority" and group.servers is not None:
                said = "scheduling" in self.doc.data
                raise self.fail(("groups", gname, "servers"), "binding a group to servers is"
                                " group affinity (before F&O 10.0.38): "
                                + ("add scheduling: affinity to keep it, or remove the binding"
                                   " for priority scheduling (the default since 10.0.38)"
                                   if not said else "priority scheduling has no bindings;"
                                   " remove them, or use scheduling: affinity"))
            if raw.scheduling == "affinity" and group.max_concurrency != 0:
                raise self.fail(("groups", gname, "max_concurrency"), "max concurrency (batch"
                                " concurrency control) needs priority-based scheduling"
                                " (scheduling: priority, F&O 10.0.38 and later)")
        if raw.scheduling == "priority":
            for jname, job in raw.jobs.items():
                for tname, task in job.tasks.items():
                    if task.group is not None:
                        raise self.fail(("jobs", jname, "tasks", tname, "group"), "under"
                                        " priority scheduling a task's group is its job's"
                                        " (read-only in F&O); set the job's group, or use"
                                        " scheduling: affinity")

    def horizon(self, raw: schema.ScenarioIn, start: dt.datetime, zone: ZoneInfo) -> int:
        """The elapsed horizon in nanoseconds: ``horizon:``, or up to ``end:`` (local time)."""
        if raw.horizon is None and raw.end is None:
            raise self.fail((), "missing required key 'horizon' (elapsed time, such as 1d);"
                                " or give end: (a local date and time, such as 2026-01-19"
                                " 08:00)")
        if raw.horizon is not None and raw.end is not None:
            raise self.fail(("end",), "give horizon: (elapsed time) or end: (a local date and"
                                      " time), not both")
        if raw.horizon is not None:
            return self.parse(("horizon",), parse_duration_ns, raw.horizon)
        end = self.moment(("end",), raw.end, zone)
        elapsed = epoch_ns(end) - epoch_ns(start)  # true elapsed time, across DST changes
        if elapsed <= 0:
            raise self.fail(("end",), f"end {str(raw.end)!r} is not after the start"
                                      f" {start:%Y-%m-%d %H:%M}")
        return elapsed

    def warn_idle(self, servers: tuple[Server, ...], groups: tuple[Group, ...],
                  jobs: tuple[Job, ...], start: dt.datetime, horizon: int) -> None:
        """Warn about parts that can never do anything within this scenario."""
        if self.scheduling == "affinity":
            data = self.doc.data
            for g in groups:
                if "priority" in ((data.get("groups") or {}).get(g.name) or {}):
                    self.warn(("groups", g.name, "priority"), "priorities apply under"
                              " scheduling: priority; affinity scheduling ignores them")
            for job in jobs:
                if job.priority is not None:
                    self.warn(("jobs", job.name, "priority"), "priorities apply under"
                              " scheduling: priority; affinity scheduling ignores them")
        level = self.doc.data.get("reserved_capacity", "none")
        if self.scheduling == "priority" and level != "none":
            largest = [max(s.threads_at(x) for x in [0, *s.change_points()]) for s in servers]
            if not dedicated(RESERVED_SHARES[level], largest):
                self.warn(("reserved_capacity",), f"reserved capacity {level!r} dedicates no"
                          " server: at least one online server always stays shared, so with"
                          " one server Reserved capacity work has only its weight")
        serving = {name for g in groups for name in g.servers}
        for server in servers:
            if self.scheduling == "affinity" and server.name not in serving:
                self.warn(("servers", server.name), "this server runs no group (it is bound to"
                          " none, and groups.default.servers does not list it), so it stays idle")
        end = start.astimezone(dt.UTC) + dt.timedelta(microseconds=horizon // 1000)
        for job in jobs:
            if job.start >= end:
                when = f"{job.start:%Y-%m-%d %H:%M}"
                self.warn(("jobs", job.name, "start"), f"the job starts at {when}, at or after"
                          " the horizon, so it never runs")

    def warn(self, loc: Loc, problem: str) -> None:
        source, line = self.doc.origin(loc)
        at = f" (line {line})" if line is not None else ""
        warnings.warn(f"{source}: {schema.format_path(loc)}: {problem}{at}", SimbatchWarning,
                      stacklevel=_caller_level())

    def server(self, name: str, raw: schema.ServerIn, polling: int) -> Server:
        loc: Loc = ("servers", name)
        if raw.timezone is not None:
            self.zone((*loc, "timezone"), raw.timezone)
        offset = None
        if raw.poll_offset is not None:
            offset = self.parse((*loc, "poll_offset"), parse_duration_ns, raw.poll_offset)
            if polling == 0:
                raise self.fail((*loc, "poll_offset"), "poll_offset has no meaning with polling: 0")
            if offset >= polling:
                raise self.fail((*loc, "poll_offset"), f"poll_offset must be shorter than polling"
                                f" ({polling / NS:g}s), got {raw.poll_offset!r}")
        periods = []
        for i, p in enumerate(raw.periods):
            begin, end = self.daily_span((*loc, "periods", i), p.start, p.end, "period")
            periods.append(Period(begin, end, p.threads))
        self.check_overlaps(loc, raw, periods)
        server = Server(name, raw.threads, tuple(periods), offset, raw.timezone)
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
            self.server_list(loc, listed, sorted(names))
            if gname != DEFAULT_GROUP:
                bound.update(listed)
                if not listed and raw.scheduling == "affinity":
                    raise self.fail(loc, f"group {gname!r} has no servers, so no server can run"
                                         " it: list them with servers: [...]")
            groups.append(Group(gname, tuple(listed), g.priority, g.max_concurrency))
        default = raw.groups.get(DEFAULT_GROUP)
        default_servers = (tuple(default.servers) if default is not None and default.servers
                           is not None else tuple(s.name for s in servers if s.name not in bound))
        if default is None:
            groups.append(Group(DEFAULT_GROUP, default_servers))
        else:
            groups = [Group(g.name, default_servers, g.priority, g.max_concurrency)
                      if g.name == DEFAULT_GROUP else g for g in groups]
        return tuple(groups)

    def server_list(self, loc: Loc, listed: list[str], servers: list[str]) -> None:
        """Every name in ``loc``'s ``servers`` list is a server, and none is listed twice."""
        for i, name in enumerate(listed):
            if name not in servers:
                raise self.fail((*loc, "servers", i), f"unknown server {name!r}"
                                f" (servers: {', '.join(servers)})")
            if name in listed[:i]:
                raise self.fail((*loc, "servers", i), f"server {name!r} is listed twice")

    def group_ref(self, loc: Loc, name: str, group_servers: Mapping[str, tuple[str, ...]]) -> str:
        if name not in group_servers:
            raise self.fail(loc, f"unknown group {name!r} (groups: {', '.join(group_servers)})")
        if not group_servers[name] and self.scheduling == "affinity":
            raise self.fail(loc, f"group {name!r} has no servers, so no server can run its tasks"
                                 " (every server is bound to a named group; list servers under"
                                 f" groups.{name}.servers)")
        return name

    # ---- jobs -------------------------------------------------------------------------------

    def job(self, name: str, raw: schema.JobIn, origin: dt.datetime, scenario_zone: ZoneInfo,
            horizon: int, group_servers: Mapping[str, tuple[str, ...]]) -> Job:
        loc: Loc = ("jobs", name)
        zone = (scenario_zone if raw.timezone is None
                else self.zone((*loc, "timezone"), raw.timezone))
        start = origin if raw.start is None else self.moment((*loc, "start"), raw.start, zone)
        if start < origin:
            raise self.fail((*loc, "start"), f"start {raw.start!r} is before the scenario start"
                                             f" {origin:%Y-%m-%d %H:%M}")
        if raw.arrivals is not None and raw.recurrence is not None:
            raise self.fail(loc, "a job has arrivals or a recurrence, not both")
        arrivals = None if raw.arrivals is None else self.arrivals((*loc, "arrivals"),
                                                                   raw.arrivals)
        recurrence = None if raw.recurrence is None else self.recurrence(
            (*loc, "recurrence"), raw.recurrence, start, zone)
        if raw.active == []:
            raise self.fail((*loc, "active"), "an empty list of windows; leave active out for"
                                              " a job that may start at any time")
        actives = (raw.active if isinstance(raw.active, list)
                   else [] if raw.active is None else [raw.active])
        active = tuple(self.window((*loc, "active", *((i,) if isinstance(raw.active, list)
                                                      else ())), w)
                       for i, w in enumerate(actives))
        if raw.group not in group_servers:
            raise self.fail((*loc, "group"), f"unknown group {raw.group!r}"
                                             f" (groups: {', '.join(group_servers)})")
        tasks = [self.task((*loc, "tasks", tname), tname, t, raw, group_servers)
                 for tname, t in raw.tasks.items()]
        self.check_children(loc, tasks)
        self.check_cycles(loc, tasks)
        deadline = None
        if raw.deadline is not None:
            dloc = (*loc, "deadline")
            if isinstance(raw.deadline, str) and ":" in raw.deadline:
                deadline = Deadline(time_of_day=self.parse(dloc, time_of_day, raw.deadline))
            else:
                within = self.parse(dloc, parse_duration_ns, raw.deadline)
                if within == 0:
                    raise self.fail(dloc, f"a deadline must be later than the run is due, got"
                                          f" {raw.deadline!r}")
                if epoch_ns(origin) + horizon + within >= ranges.last_instant_ns():
                    raise self.fail(dloc, f"deadline {raw.deadline!r} after the horizon falls"
                                          f" after {ranges.LAST_INSTANT:%Y-%m-%d}, beyond the"
                                          " nanosecond clock of the results")
                deadline = Deadline(within=within)
        return Job(name, raw.group, start, tuple(tasks), arrivals, recurrence, active,
                   raw.timezone, raw.priority, deadline)

    def task(self, loc: Loc, name: str, t: schema.TaskIn, job: schema.JobIn,
             group_servers: Mapping[str, tuple[str, ...]]) -> Task:
        if t.group is not None:
            group = self.group_ref((*loc, "group"), t.group, group_servers)
        else:
            group = self.group_ref((*loc[:2], "group"), job.group, group_servers)
        after = []
        for dep, expect in t.after.items():
            if dep not in job.tasks:
                raise self.fail((*loc, "after"), f"unknown task {dep!r}")
            norm = " ".join(expect.lower().split())
            if norm not in EXPECTS:
                raise self.fail((*loc, "after", dep), f"unknown status {expect!r}"
                                " (use ended, error or ended or error)")
            after.append(Dependency(dep, norm))
        runtime = None if t.runtime is None else self.runtime((*loc, "runtime"), t.runtime)
        return Task(name=name, duration=self.distribution((*loc, "duration"), t.duration),
                    group=group, after=tuple(after), condition=t.condition, fail=t.fail,
                    retries=t.retries, ignore_failure=t.ignore_failure,
                    task_class=t.task_class, runtime=runtime,
                    transient=self.transient(t.transient))

    @staticmethod
    def transient(raw: schema.TransientIn | None) -> Transient | None:
        return None if raw is None else Transient(raw.chance, raw.at)

    def runtime(self, loc: Loc, raw: schema.RuntimeIn) -> Runtime:
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
            raise self.fail((*loc, "tasks"), "runtime tasks is a whole number >= 0 or"
                                             f" {{uniform: [low, high]}}, got {count!r}")
        if high > ranges.MAX_RUNTIME_TASKS:
            raise self.fail((*loc, "tasks"), f"at most {ranges.MAX_RUNTIME_TASKS:,} runtime"
                                             f" tasks, got {count!r}")
        return Runtime((low, high), self.distribution((*loc, "duration"), raw.duration),
                       raw.fail, self.transient(raw.transient))

    # ---- outages and maintenance --------------------------------------------------------------

    def outage(self, loc: Loc, raw: schema.OutageIn, zone: ZoneInfo, servers: list[str]
               ) -> Outage:
        if raw.server not in servers:
            raise self.fail((*loc, "server"), f"unknown server {raw.server!r}"
                                              f" (servers: {', '.join(servers)})")
        length = self.parse((*loc, "for"), parse_duration_ns, raw.duration)
        if length == 0:
            raise self.fail((*loc, "for"), f"an outage must last longer than 0, got"
                                           f" {raw.duration!r}")
        return Outage(raw.server, self.moment((*loc, "at"), raw.at, zone), length)

    def maintenance(self, loc: Loc, raw: schema.MaintenanceIn, servers: list[str]
                    ) -> Maintenance:
        self.zone((*loc, "timezone"), raw.timezone)
        window = self.window(loc, raw)
        down = self.parse((*loc, "down"), parse_duration_ns, raw.down)
        if down == 0:
            raise self.fail((*loc, "down"), f"down must be longer than 0, got {raw.down!r}")
        listed = servers if raw.servers is None else raw.servers
        if not listed:
            raise self.fail((*loc, "servers"), "must not be empty; leave it out for every"
                                               " server")
        self.server_list(loc, listed, servers)
        length = ((window.end - window.start) % DAY or DAY) * NS
        needed = down * (len(listed) if raw.stagger == "one-at-a-time" else 1)
        if needed > length:
            raise self.fail((*loc, "down"), f"{len(listed)} server(s) down {raw.down} each"
                            f" {raw.stagger} take longer than the window {raw.start}-{raw.end}")
        return Maintenance(window, raw.timezone, down, tuple(listed), raw.stagger)

    def arrivals(self, loc: Loc, raw: schema.ArrivalsIn) -> Arrivals:
        if (raw.interval is None) == (raw.rate is None):
            raise self.fail(loc, "arrivals take an interval or a rate (with optional windows),"
                                 " one of the two")
        if raw.interval is not None:
            if raw.windows:
                raise self.fail((*loc, "windows"), "windows go with rate:, not with interval:")
            interval = self.distribution((*loc, "interval"), raw.interval)
            if interval.mean <= 0:
                raise self.fail((*loc, "interval"), "an arrival interval must average more than"
                                                    f" 0, got {interval.describe()}")
            return Arrivals(interval=interval, batch=raw.batch)
        rate = self.parse((*loc, "rate"), _bounded_rate, raw.rate)
        windows = tuple(
            (self.window((*loc, "windows", i), w),
             self.parse((*loc, "windows", i, "rate"), _bounded_rate, w.rate))
            for i, w in enumerate(raw.windows))
        if rate == 0 and not any(r > 0 for _, r in windows):
            self.warn((*loc, "rate"), "every rate is 0, so this job never arrives")
        return Arrivals(profile=Profile(rate, windows), batch=raw.batch)

    def recurrence(self, loc: Loc, raw: schema.RecurrenceIn, start: dt.datetime,
                   zone: ZoneInfo) -> Recurrence:
        if (raw.every is None) == (raw.cron is None):
            raise self.fail(loc, "a recurrence has every: (such as 1d) or cron:, one of the two")
        unit, every = None, 1
        if raw.every is not None:
            every, unit = self.parse((*loc, "every"), parse_every, raw.every)
            self.parse((*loc, "every"), lambda _: ranges.check_every(every, unit), raw.every)
        else:
            if len(str(raw.cron).split()) != 5:
                raise self.fail((*loc, "cron"), f"bad cron expression {raw.cron!r}: use five"
                                " fields (minute hour day month weekday)")
            try:
                next(iter(CronSim(str(raw.cron), start)))
            except (CronSimError, ValueError, StopIteration) as exc:
                raise self.fail((*loc, "cron"), f"bad cron expression {raw.cron!r}: {exc}"
                                ) from None
            if raw.anchor == "end":
                raise self.fail((*loc, "anchor"), "anchor: end needs every:, not cron:")
        if raw.anchor == "end" and (raw.on is not None or raw.day is not None):
            raise self.fail((*loc, "anchor"), "anchor: end repeats one interval after each"
                                              " run; it cannot keep on: or day:")
        if raw.on is not None and unit != "w":
            raise self.fail((*loc, "on"), "on: names weekdays, for a weekly recurrence (every: 1w)")
        weekdays = () if raw.on is None else self.parse((*loc, "on"), parse_days, raw.on)
        day = raw.day
        if day is not None:
            if unit not in ("mo", "y"):
                raise self.fail((*loc, "day"), "day: is for monthly or yearly recurrences")
            if day == "last":
                day = -1
            elif not isinstance(day, int) or not 1 <= day <= 31:
                raise self.fail((*loc, "day"), f"day is 1 to 31 or last, got {raw.day!r}")
        if raw.month is not None and unit != "y":
            raise self.fail((*loc, "month"), "month: is for yearly recurrences (every: 1y)")
        until = None
        if raw.until is not None:
            until = self.moment((*loc, "until"), raw.until, zone, day_end=True)
            if until < start:
                raise self.fail((*loc, "until"), f"until {str(raw.until)!r} is before the job's"
                                                 " start")
        return Recurrence(unit=unit, every=every, cron=raw.cron, weekdays=weekdays,
                          day=day if isinstance(day, int) else None, month=raw.month,
                          count=raw.count, until=until, anchor=raw.anchor)

    def check_children(self, loc: Loc, tasks: list[Task]) -> None:
        """Runtime children are named "PARENT #k"; no task may already carry such a name."""
        parents = {t.name for t in tasks if t.runtime is not None}
        for t in tasks:
            head, _, number = t.name.rpartition(" #")
            if head in parents and number.isdigit():
                raise self.fail((*loc, "tasks", t.name), f"task name {t.name!r} is taken by the"
                                f" runtime tasks of {head!r}")

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
