"""Scenarios: the validated, frozen description of a topology and its workload.

Build one with ``simbatch.load`` (``simbatch.scenario.load`` reads, checks and builds in
phases); change one with ``Scenario.with_changes``.

This module imports no loader: the loader imports it. A scenario the loader builds carries
the loader's ``load_changed`` (its ``reload`` field), which ``with_changes`` calls.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from simbatch.errors import ScenarioError
from simbatch.scenario.calendar import DAY, Profile, Recurrence, Window
from simbatch.scenario.timegrammar import Distribution

__all__ = [
    "CLOUD_MAX_THREADS", "DEFAULT_GROUP", "EXPECTS", "PRIORITIES", "RESERVED_SHARES",
    "Arrivals", "Database", "Deadline", "Dependency", "Group", "Job", "Maintenance", "Outage",
    "Period", "Runtime", "Scenario", "Server", "Task", "Transient", "dedicated",
]

DEFAULT_GROUP = "default"
CLOUD_MAX_THREADS = 16
"""The cloud platform's maximum threads per batch server."""


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
    timezone: str | None = None
    """Zone of its periods; ``None`` means the scenario's."""

    def threads_at(self, second: int) -> int:
        """The thread limit at a local second of the day."""
        for period in self.periods:
            if period.covers(second):
                return period.threads
        return self.threads

    def change_points(self) -> list[int]:
        """The local seconds of the day at which the thread limit may change, sorted."""
        return sorted({p.start for p in self.periods} | {p.end % DAY for p in self.periods})


PRIORITIES = ("low", "normal", "high", "critical", "reserved")
"""Priority classes, lowest first; under priority scheduling a free thread serves them with
the published weights 5, 10, 15, 30 and 40."""
RESERVED_SHARES = {"none": 0.0, "low": 0.10, "medium": 0.15, "high": 0.25}


def dedicated(share: float, limits: list[int]) -> frozenset[int]:
    """The servers dedicated to Reserved capacity when the servers have ``limits`` threads.

    The level's share of the threads available at that moment is covered by whole servers,
    taken from the end of the file among those online (limit above 0), as many as it takes
    to cover the share; at least one online server always stays shared.
    """
    needed = share * sum(limits)
    online = [s for s, limit in enumerate(limits) if limit > 0]
    taken: list[int] = []
    covered = 0
    for server in reversed(online):
        if covered >= needed or len(taken) == len(online) - 1:
            break
        taken.append(server)
        covered += limits[server]
    return frozenset(taken)


@dataclass(frozen=True)
class Group:
    """A batch group: its servers (affinity), default priority, and per-job concurrency."""

    name: str
    servers: tuple[str, ...]
    priority: str = "normal"
    max_concurrency: int = 0
    """At most this many tasks of one job run at once: 0 = no limit, -1 = paused."""


EXPECTS = ("ended", "error", "ended or error")
"""The final statuses a dependency may wait for (``Dependency.expect``), as written."""


@dataclass(frozen=True)
class Dependency:
    """A task this one waits for, and the final status it waits for."""

    task: str
    expect: str
    """One of ``EXPECTS``."""

    def met_by(self, status: str) -> bool:
        """Whether a final status (Ended, Error, Didn't run) satisfies this dependency."""
        if self.expect == "ended or error":
            return status in ("Ended", "Error")
        return status.lower() == self.expect


@dataclass(frozen=True)
class Transient:
    """Transient SQL errors inside an attempt, retried by the framework (``BatchRetryable``).

    Each try of the attempt's work hits one with probability ``chance``, at fraction ``at``
    of its duration; the framework waits 5 s, 8 s, 16 s, … and runs the work again, on the
    same thread, until a try gets through or the next wait would reach 5 minutes.
    """

    chance: float
    at: float = 0.5


@dataclass(frozen=True)
class Runtime:
    """Child tasks a task adds to its job when its first attempt starts (``addRuntimeTask``).

    Their number is drawn uniformly from ``tasks`` (inclusive); they inherit the parent's
    group, get no retries and no dependencies.
    """

    tasks: tuple[int, int]
    duration: Distribution
    fail: float = 0.0
    transient: Transient | None = None
    load: float = 1.0
    """Database load of each child while it runs (see ``Database``)."""


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
    runtime: Runtime | None = None
    transient: Transient | None = None
    load: float = 1.0
    """Database load while it runs: 1 by default, 0 for work that never touches it."""


@dataclass(frozen=True)
class Database:
    """The database every batch server shares (docs/explanation/database.md).

    While the executing tasks' total load is at most ``capacity`` they run at full speed;
    above it each runs at speed ``capacity / load`` (egalitarian processor sharing).
    With ``throttle_at`` (a fraction of ``capacity``), no server starts a task while the
    load is at or above it.
    """

    capacity: float
    throttle_at: float | None = None


@dataclass(frozen=True)
class Arrivals:
    """Ad-hoc work: runs after sampled intervals, or at a rate that varies by local time.

    Each arrival creates ``batch`` runs at once (a file import creating several jobs).
    """

    interval: Distribution | None = None
    profile: Profile | None = None
    batch: int = 1


@dataclass(frozen=True)
class Deadline:
    """When a run must be done: a local time of day after it is due, or a time after it."""

    time_of_day: int | None = None
    """Seconds of the day, in the job's zone: the first such moment after the run is due."""
    within: int | None = None
    """Nanoseconds after the run is due."""


@dataclass(frozen=True)
class Job:
    """A batch job: its task graph, default group and when its runs are due."""

    name: str
    group: str
    start: dt.datetime
    tasks: tuple[Task, ...]
    arrivals: Arrivals | None = None
    recurrence: Recurrence | None = None
    active: tuple[Window, ...] = ()
    """Daily windows in which a run may start; empty means any time."""
    timezone: str | None = None
    """Zone of its start, recurrence and active windows; ``None`` means the scenario's."""
    priority: str | None = None
    """Overrides its group's priority under priority scheduling."""
    deadline: Deadline | None = None


@dataclass(frozen=True)
class Outage:
    """A batch server down from ``start`` for ``duration`` ns (a restart, a what-if)."""

    server: str
    start: dt.datetime
    duration: int


@dataclass(frozen=True)
class Maintenance:
    """Planned maintenance: recurring windows in which each listed server is down once.

    Servers go down for ``down`` ns each, in the order listed (by default every server, in
    file order): one after another from the window's opening (``one-at-a-time``) or all at
    its opening (``all-at-once``).
    """

    window: Window
    timezone: str
    down: int
    servers: tuple[str, ...]
    stagger: str = "one-at-a-time"


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
    reserved_capacity: str = "none"
    throttle: bool = True
    """Hold back a task class that started more than 60 times in a minute on one server."""
    platform: str = "cloud"
    outages: tuple[Outage, ...] = ()
    maintenance: tuple[Maintenance, ...] = ()
    database: Database | None = None
    """The shared database; None: durations do not depend on what else runs."""
    source: str = "<scenario>"
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    folder: Path | None = field(default=None, repr=False, compare=False)
    """The scenario file's folder: relative file names in it are relative to this."""
    reload: Callable[[Scenario, Mapping[str, Any]], Scenario] | None = field(
        default=None, repr=False, compare=False)
    """How ``with_changes`` validates a changed document: the loader's ``load_changed``,
    set by the loader that built this scenario (so that this module needs no loader)."""

    @property
    def zone(self) -> ZoneInfo:
        """The scenario's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def end(self) -> dt.datetime:
        """The horizon as a local time (the horizon is elapsed time)."""
        elapsed = dt.timedelta(microseconds=self.horizon // 1000)
        return (self.start.astimezone(dt.UTC) + elapsed).astimezone(self.zone)

    def group(self, name: str) -> Group:
        """The group called ``name``."""
        return next(g for g in self.groups if g.name == name)

    def priority_of(self, job: Job) -> str:
        """A job's priority: its own, else its group's."""
        return job.priority or self.group(job.group).priority

    def zone_of(self, item: Job | Server) -> ZoneInfo:
        """The time zone that a job's or server's local times are in."""
        return ZoneInfo(item.timezone or self.timezone)

    def with_changes(self, changes: Mapping[str, Any]) -> Scenario:
        """A new, validated scenario: ``changes`` deep-merged in (maps merge, null removes)."""
        if self.reload is None:
            raise ScenarioError(self.source, "", "this scenario was not built by"
                                " simbatch.load, so it cannot be changed and validated anew")
        return self.reload(self, changes)


