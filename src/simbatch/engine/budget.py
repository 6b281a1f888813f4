"""The work budget: what a scenario asks of the engine, estimated before it runs.

A run keeps one recorded row per task attempt, so its time and memory grow with the
attempts it simulates (about ``BYTES_PER_ATTEMPT`` of resident memory each, tables and
CSV writing included, as ``benchmarks/run.py`` measures). An arrival rate or a horizon
that asks for far more than the machine holds must be refused before the run starts,
with the estimate in the message, rather than discovered when memory runs out.

The estimate is of expected counts, from the scenario alone:
- job runs: one for a one-time job; the horizon (from the job's start) over the mean
  interval, or the rate integrated over the horizon's windows, times ``batch``, for
  arrivals; the recurrence slots in the horizon (at most ``count``, up to ``until``);
- attempts per run: for each task ``1 + fail + fail² + …`` over its retries, plus the
  mean number of runtime tasks it adds. Branches that do not run are counted as run, so
  the estimate is an upper bound of the expected work.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass

from cronsim import CronSim

from simbatch.errors import BudgetError, excerpt
from simbatch.scenario.spec import Job, Scenario
from simbatch.scenario.timegrammar import NS, epoch_ns

__all__ = ["BYTES_PER_ATTEMPT", "MAX_ATTEMPTS", "Estimate", "check", "estimate"]

MAX_ATTEMPTS = 5_000_000
"""The default limit on expected task attempts: about 2 GB and a few minutes of one core."""
BYTES_PER_ATTEMPT = 440
"""Resident memory per recorded attempt (tables and CSV writing included), as measured."""

_CRON_WALK = 10_000
_STEP_NS = {"m": 60 * NS, "h": 3600 * NS, "d": 86_400 * NS, "w": 7 * 86_400 * NS,
            "mo": 30.436875 * 86_400 * NS, "y": 365.2425 * 86_400 * NS}


@dataclass(frozen=True)
class Estimate:
    """Expected job runs and task attempts of one run of a scenario, by job."""

    runs: float
    attempts: float
    by_job: tuple[tuple[str, float, float], ...]
    """(job, expected runs, expected attempts) in file order."""

    @property
    def bytes(self) -> float:
        """The resident memory the attempts are expected to take (``BYTES_PER_ATTEMPT``
        each): what ``benchmarks/load.py`` measures a run against."""
        return self.attempts * BYTES_PER_ATTEMPT

    def largest(self) -> str:
        """The job that asks for most attempts, for messages."""
        name, _, attempts = max(self.by_job, key=lambda row: row[2])
        return f"{excerpt(name)} ({attempts:,.0f} attempts)"


def _runs(job: Job, scenario: Scenario, cap: float) -> float:
    """Expected runs of ``job`` within the horizon (counting no further than ``cap``)."""
    offset = epoch_ns(job.start) - epoch_ns(scenario.start)
    remaining = scenario.horizon - offset
    if remaining <= 0:
        return 0.0
    if job.arrivals is not None:
        batch = job.arrivals.batch
        if job.arrivals.interval is not None:
            mean = job.arrivals.interval.mean
            return batch * remaining / (mean * NS) if mean > 0 else math.inf
        assert job.arrivals.profile is not None
        profile = job.arrivals.profile
        top = max([profile.rate, *(rate for _, rate in profile.windows)])
        if top * remaining / NS * batch <= cap:  # cheaper than walking every window
            times, rates = profile.segments(scenario.start, scenario.horizon,
                                            scenario.zone_of(job))
            bounds = [*times.tolist(), scenario.horizon]
            mass = 0.0
            for (begin, end), rate in zip(itertools.pairwise(bounds), rates.tolist(),
                                          strict=True):
                mass += rate * max(0, end - max(begin, offset)) / NS
            return batch * mass
        return top * remaining / NS * batch
    recurrence = job.recurrence
    if recurrence is None:
        return 1.0
    if recurrence.until is not None:
        remaining = min(remaining, epoch_ns(recurrence.until) - epoch_ns(job.start) + 1)
    limit = min(cap + 1, recurrence.count if recurrence.count is not None else math.inf)
    if recurrence.cron is not None:
        end = job.start + dt.timedelta(microseconds=remaining // 1000)
        slots = 0
        for moment in CronSim(recurrence.cron, job.start - dt.timedelta(seconds=1)):
            if moment >= end or slots >= limit:
                return float(slots)
            slots += 1
            if slots == _CRON_WALK:  # extrapolate from the first slots' pace
                spent = (moment - job.start).total_seconds() * NS
                return float(min(limit, slots * remaining / max(spent, 1.0)))
        return float(slots)
    step = recurrence.every * _STEP_NS[recurrence.unit or "d"]
    per_step = len(recurrence.weekdays) if recurrence.weekdays else 1
    return float(min(limit, (remaining // step + 1) * per_step))


def _attempts_per_run(job: Job) -> float:
    """Expected attempts of one run: retries weighted by their chance, runtime tasks too."""
    total = 0.0
    for task in job.tasks:
        total += sum(task.fail ** k for k in range(task.retries + 1))
        if task.runtime is not None:
            low, high = task.runtime.tasks
            total += (low + high) / 2
    return total


def estimate(scenario: Scenario, cap: float = math.inf) -> Estimate:
    """The expected job runs and attempts of one run of ``scenario``.

    ``cap`` lets the walk over recurrence slots stop early once a job alone is past it.
    """
    rows = []
    for job in scenario.jobs:
        runs = _runs(job, scenario, cap)
        rows.append((job.name, runs, runs * _attempts_per_run(job)))
    return Estimate(sum(r[1] for r in rows), sum(r[2] for r in rows), tuple(rows))


def check(scenario: Scenario, max_attempts: int | None = None) -> Estimate:
    """The estimate, or a ``BudgetError`` when it expects more attempts than the limit."""
    limit = MAX_ATTEMPTS if max_attempts is None else max_attempts
    found = estimate(scenario, cap=limit)
    if found.attempts > limit:
        gigabytes = found.attempts * BYTES_PER_ATTEMPT / 1e9
        raise BudgetError(
            f"{scenario.source}: the scenario asks for about {found.attempts:,.0f} task"
            f" attempts ({found.runs:,.0f} job runs; most from {found.largest()}), more than"
            f" the limit of {limit:,} (about {gigabytes:,.1f} GB at {BYTES_PER_ATTEMPT} bytes"
            " an attempt); shorten the horizon or lower the rates, or raise the limit with"
            " --max-attempts (max_attempts= in Python)")
    return found
