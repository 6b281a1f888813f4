"""Scenarios: the validated, frozen description of a topology and its workload.

Build one with ``simbatch.load`` (``simbatch.loading`` reads, checks and builds in
phases); change one with ``Scenario.with_changes``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from simbatch.calendar import DAY, Profile, Recurrence, Window
from simbatch.timegrammar import Distribution

__all__ = [
    "DEFAULT_GROUP", "PRIORITIES", "RESERVED_SHARES", "Arrivals", "Deadline", "Dependency",
    "Group", "Job",
    "Period", "Runtime", "Scenario", "Server", "Task",
]

DEFAULT_GROUP = "default"


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


@dataclass(frozen=True)
class Group:
    """A batch group: its servers (affinity), default priority, and per-job concurrency."""

    name: str
    servers: tuple[str, ...]
    priority: str = "normal"
    max_concurrency: int = 0
    """At most this many tasks of one job run at once: 0 = no limit, -1 = paused."""


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
class Runtime:
    """Child tasks a task adds to its job when its first attempt starts (``addRuntimeTask``).

    Their number is drawn uniformly from ``tasks`` (inclusive); they inherit the parent's
    group, get no retries and no dependencies.
    """

    tasks: tuple[int, int]
    duration: Distribution
    fail: float = 0.0


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
    """Hold back a task class that started more than 60 times in the last minute."""
    source: str = "<scenario>"
    document: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    folder: Path | None = field(default=None, repr=False, compare=False)
    """The scenario file's folder: relative file names in it are relative to this."""

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

    def reserved_servers(self) -> tuple[str, ...]:
        """The servers dedicated to Reserved capacity work (priority scheduling).

        The level's share of all batch threads (each server counted at its largest limit
        of the day) is taken in whole servers from the end of the file, as many as it
        takes to cover that share.
        """
        share = RESERVED_SHARES[self.reserved_capacity]
        if self.scheduling != "priority" or share == 0:
            return ()
        sizes = [max(s.threads_at(x) for x in [0, *s.change_points()]) for s in self.servers]
        needed = share * sum(sizes)
        taken: list[str] = []
        covered = 0
        for server, size in zip(reversed(self.servers), reversed(sizes), strict=True):
            if covered >= needed:
                break
            taken.append(server.name)
            covered += size
        return tuple(reversed(taken))

    def priority_of(self, job: Job) -> str:
        """A job's priority: its own, else its group's."""
        return job.priority or self.group(job.group).priority

    def zone_of(self, item: Job | Server) -> ZoneInfo:
        """The time zone that a job's or server's local times are in."""
        return ZoneInfo(item.timezone or self.timezone)

    def with_changes(self, changes: Mapping[str, Any]) -> Scenario:
        """A new, validated scenario: ``changes`` deep-merged in (maps merge, null removes)."""
        from simbatch.loading import load_changed

        return load_changed(self, changes)


