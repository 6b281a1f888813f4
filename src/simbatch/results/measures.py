"""One implementation of each metric, over plain arrays.

A run is read two ways: from its tables (``simbatch.results.metrics``, a ``Result``'s
DataFrames) and straight from the recorder's columns (``simbatch.results.summary``,
without building the tables). Both turn what they read into the same arrays (instants
as integer nanoseconds since the epoch, ``NA`` where missing; codes in the scenario's
order) and measure them here, so they agree bit for bit by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simbatch.engine.recorder import NA
from simbatch.engine.servers import Limits
from simbatch.scenario.spec import Deadline
from simbatch.scenario.timegrammar import NS

__all__ = ["NA", "DeadlineFigures", "Steps", "areas", "available", "capacity_changes",
           "count_open", "deadline_figures", "failed_runs", "judge_deadlines",
           "next_time_of_day", "quantile", "seconds", "server_utilization", "span_seconds",
           "unique_instants", "wait_figures"]


# ---- step functions of time -------------------------------------------------------------------

class Steps:
    """A step function of time: ``values[i]`` holds on ``[times[i], times[i + 1])``."""

    def __init__(self, times: np.ndarray, values: np.ndarray) -> None:
        self.times = times
        self.values = values

    @classmethod
    def from_changes(cls, origin: int, times: np.ndarray, deltas: np.ndarray,
                     base: float = 0) -> Steps:
        """Sum of ``deltas`` applied at ``times``; every change at one instant counts at once."""
        order = np.argsort(times, kind="stable")
        times, deltas = times[order], deltas[order]
        level = base + np.cumsum(deltas)
        last = np.r_[times[1:] != times[:-1], True] if len(times) else np.zeros(0, bool)
        return cls(np.r_[origin, times[last]].astype(np.int64),
                   np.r_[base, level[last]].astype(np.float64))

    def at(self, grid: np.ndarray) -> np.ndarray:
        """Values at the grid instants (after the changes at each)."""
        return self.values[np.searchsorted(self.times, grid, side="right") - 1]


def count_open(origin: int, opens: np.ndarray, closes: np.ndarray) -> Steps:
    """How many intervals are open over time, from when each opens and closes.

    The order of the intervals does not matter: the counts are whole numbers, summed exactly.
    """
    return Steps.from_changes(origin, np.r_[opens, closes],
                              np.r_[np.ones(len(opens)), -np.ones(len(closes))])


def unique_instants(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of integer instants, by one sort (numpy's hashing is slower here)."""
    ordered = np.sort(values, kind="stable")  # runs of sorted instants: merged, not sorted
    out: np.ndarray = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(
        ordered) else ordered
    return out


def areas(step: Steps, bins: np.ndarray) -> np.ndarray:
    """The integral of a step function over each bin, in value-seconds."""
    grid = unique_instants(np.r_[step.times, bins])
    area = np.r_[0, np.cumsum(step.at(grid)[:-1] * np.diff(grid))]
    per_bin: np.ndarray = np.diff(area[np.searchsorted(grid, bins)]) / NS
    return per_bin


def available(busy: Steps, limit: Steps) -> Steps:
    """Threads a server had: what its periods allow, or more while running tasks overrun a
    lowered limit (they are not pre-empted, so those threads exist until they finish)."""
    grid = unique_instants(np.r_[busy.times, limit.times])
    return Steps(grid, np.maximum(limit.at(grid), busy.at(grid)))


# ---- capacity and utilization -----------------------------------------------------------------

def capacity_changes(limits: Limits) -> list[tuple[int, int, int, bool]]:
    """Each server's thread limit and Reserved dedication over time, as rows (server,
    instant in ns after the start, threads, dedicated): one wherever either changes."""
    switch_times = [t for t, _ in limits.reserved]
    rows: list[tuple[int, int, int, bool]] = []
    for s in range(len(limits.times)):
        last: tuple[int, bool] | None = None
        for t in sorted({*limits.times[s], *switch_times}):
            state = (limits.at(s, t), limits.dedicated_at(s, t))
            if state != last:
                rows.append((s, t, *state))
                last = state
    return rows


def server_utilization(origin: int, end: int, starts: np.ndarray, ends: np.ndarray,
                       limit: Steps) -> tuple[float, float]:
    """One server's busy and available thread-seconds over ``[origin, end)``.

    ``starts`` and ``ends`` are its attempts' (ns since the epoch; an attempt still running
    ends at ``end``), in any order; ``limit`` is its thread limit over time.
    """
    busy = count_open(origin, starts, ends)
    bins = np.array([origin, end], np.int64)
    return float(areas(busy, bins)[0]), float(areas(available(busy, limit), bins)[0])


# ---- waits ------------------------------------------------------------------------------------

def span_seconds(ns: int | None) -> float:
    """A span in ns as float seconds, as ``pd.Timedelta.total_seconds`` gives it (so the
    tables and the metric rows agree to the bit); NaN when there is none."""
    return np.nan if ns is None else float(pd.Timedelta(ns, unit="ns").total_seconds())


def seconds(ns: np.ndarray) -> np.ndarray:
    """Spans in ns as float seconds, by ``total_seconds`` itself: pandas nudges a quotient
    that lands next to a whole second, so a plain division can differ in the last bit."""
    spans = pd.TimedeltaIndex(ns.astype(np.int64).view("timedelta64[ns]"))
    out: np.ndarray = spans.total_seconds().to_numpy(dtype=np.float64)
    return out


def wait_figures(groups: Sequence[str], ready: np.ndarray, start: np.ndarray,
                 group: np.ndarray, first: int) -> list[tuple[str, str, float]]:
    """tasks_started, wait_mean_s and wait_p95_s over all attempts and per group.

    The attempts are those ready at ``first`` or later; ``ready`` and ``start`` are their
    instants (NA where missing) and ``group`` their group's index in ``groups`` (negative
    when none), in the tasks table's row order: the sums behind the means add in that order.
    """
    after = (ready != NA) & (ready >= first)
    group = group[after]
    started = start[after] != NA
    waits = seconds(start[after][started] - ready[after][started])
    started_group = group[started]
    present = sorted((groups[g], g) for g in np.unique(group) if g >= 0)
    rows: list[tuple[str, str, float]] = []
    for key, done in [("all", waits), *((name, waits[started_group == g])
                                        for name, g in present)]:
        rows += [("tasks_started", key, float(len(done))),
                 ("wait_mean_s", key, float(done.mean()) if len(done) else np.nan),
                 ("wait_p95_s", key, float(np.quantile(done, 0.95)) if len(done) else np.nan)]
    return rows


# ---- deadlines --------------------------------------------------------------------------------

def next_time_of_day(due: np.ndarray, second: int, zone: str) -> np.ndarray:
    """The first local wall-clock ``second`` of the day strictly after each instant ``due``.

    A wall time in the spring-forward gap means the instant the clocks jump; one that
    happens twice in autumn means its first occurrence (as ``epoch_ns`` reads them).
    """
    if not len(due):
        return np.zeros(0, np.int64)
    local = pd.DatetimeIndex(due.view("datetime64[ns]")).tz_localize("UTC").tz_convert(zone)
    midnight = local.tz_localize(None).normalize()
    offset = pd.Timedelta(seconds=second)

    def wall(days: pd.DatetimeIndex) -> np.ndarray:
        moments = (days + offset).tz_localize(zone, ambiguous=np.ones(len(days), bool),
                                              nonexistent="shift_forward")
        ns: np.ndarray = moments.as_unit("ns").asi8
        return ns

    today = wall(midnight)
    tomorrow = wall(midnight + pd.Timedelta(days=1))
    out: np.ndarray = np.where(today > due, today, tomorrow)
    return out


def judge_deadlines(rule: Deadline, zone: str, due: np.ndarray, end: np.ndarray,
                    horizon_end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A job's runs against its deadline: (deadline, finished, late, undetermined).

    ``due`` and ``end`` are the runs' due times and ends (ns since the epoch, ``end`` NA
    while open), ``zone`` the job's. ``late`` is end - deadline, or horizon - deadline for
    a run still open (a lower bound); a run open before its deadline at the horizon is
    ``undetermined``: it may still finish in time.
    """
    if rule.within is not None:
        deadline = due + rule.within
    else:
        deadline = next_time_of_day(due, rule.time_of_day or 0, zone)
    finished = end != NA
    late = np.where(finished, end - deadline, horizon_end - deadline)
    undetermined = ~finished & (deadline >= horizon_end)
    return deadline, finished, late, undetermined


def failed_runs(finished: np.ndarray, errored: np.ndarray) -> np.ndarray:
    """Which runs failed: they finished and their job ended in Error (``errored``).

    A job ends in Error when a task's last attempt ends in Error without
    ``ignore_failure``: a failure, a transient error that gave up, or a restart of its
    server with no retries left. Such a run did not do its work, whenever it ended, so it
    is never met. A run still open is not failed (yet): it is judged by its deadline.
    """
    out: np.ndarray = finished & errored
    return out


@dataclass(frozen=True)
class DeadlineFigures:
    """A job's deadline figures over its runs; spans in ns, None when there is none."""

    runs: int
    """Runs judged: met + missed + failed."""
    met: int
    missed: int
    """Runs late: ended after the deadline, or open past it at the horizon (not failed)."""
    failed: int
    """Runs whose job ended in Error: misses, whenever they ended."""
    undetermined: int
    lateness_p50: int | None
    """Over the met and missed runs: a failed run has no lateness."""
    lateness_p95: int | None
    margin_min: int | None
    """The smallest deadline - end over the finished runs that did not fail."""
    latest_finish: int | None
    """The longest due-to-end span over the finished runs that did not fail."""
    latest: int | None
    """Which run (its index among the job's runs) had that span."""

    @property
    def misses(self) -> int:
        """Runs that count as misses: missed + failed."""
        return self.missed + self.failed

    @property
    def miss_share(self) -> float:
        """(Missed + failed) ÷ judged, NaN when no run was judged."""
        return self.misses / self.runs if self.runs else np.nan


def quantile(ns: np.ndarray, q: float) -> int | None:
    """A quantile of nanosecond spans (linear interpolation), rounded to the nanosecond."""
    return round(float(np.quantile(ns, q))) if len(ns) else None


def deadline_figures(deadline: np.ndarray, due: np.ndarray, end: np.ndarray,
                     finished: np.ndarray, late: np.ndarray, undetermined: np.ndarray,
                     failed: np.ndarray) -> DeadlineFigures:
    """The figures of one job's judged runs (arrays as ``judge_deadlines`` gives them, and
    ``failed`` as ``failed_runs`` does).

    Lateness is over the met and missed runs; the margin and the latest finish over the
    finished runs that did not fail: a failed run counts only as a miss.
    """
    timed = ~undetermined & ~failed
    judged_late = late[timed]
    met = int((judged_late <= 0).sum())
    missed = len(judged_late) - met
    failures = int(failed.sum())
    completed = np.flatnonzero(finished & ~failed)
    margins = deadline[completed] - end[completed]
    spans = end[completed] - due[completed]
    latest = int(completed[spans.argmax()]) if len(spans) else None
    return DeadlineFigures(
        runs=met + missed + failures, met=met, missed=missed, failed=failures,
        undetermined=int(undetermined.sum()),
        lateness_p50=quantile(judged_late, 0.50), lateness_p95=quantile(judged_late, 0.95),
        margin_min=int(margins.min()) if len(margins) else None,
        latest_finish=int(spans.max()) if len(spans) else None, latest=latest)
