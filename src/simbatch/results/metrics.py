"""Where waits come from: wait decomposition, backlog, stranded capacity, deadlines.

All of these are computed from a run's tables (``Tables``; a ``Result`` is one) and its
scenario, exactly: times are integer nanoseconds, so the parts of a wait add up to the
wait itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simbatch.errors import UsageError
from simbatch.results.measures import (
    Steps,
    areas,
    available,
    count_open,
    deadline_figures,
    failed_runs,
    judge_deadlines,
    server_utilization,
    span_seconds,
)
from simbatch.results.tables import Tables, instants
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import NS, epoch_ns

__all__ = ["DatabaseFigures", "backlog", "backlog_by_hour", "database_figures",
           "database_summary", "deadline_summary", "deadlines", "dependency_waits",
           "stranded_capacity", "utilization", "utilization_by_hour", "wait_breakdown",
           "wait_summary"]


def _grid(end: int, *steps: Iterable[Steps]) -> np.ndarray:
    times = [s.times for group in steps for s in group]
    return np.unique(np.concatenate([*times, [end]]))


def _server_steps(result: Tables) -> tuple[list[Steps], int, int]:
    """Free threads of each server over time (0 when busy meets or exceeds the limit)."""
    busy, limits, origin, end = _busy_and_limits(result)
    steps = []
    for b, limit in zip(busy, limits, strict=True):
        grid = _grid(end, [b, limit])
        steps.append(Steps(grid, np.maximum(limit.at(grid) - b.at(grid), 0)))
    return steps, origin, end


def eligible_servers(scenario: Scenario) -> dict[tuple[str, str], tuple[int, ...]]:
    """For each (job, group) of the scenario, the servers its tasks may ever run on."""
    names = [s.name for s in scenario.servers]
    out: dict[tuple[str, str], tuple[int, ...]] = {}
    for job in scenario.jobs:
        for group in {job.group, *(t.group for t in job.tasks)}:
            if scenario.scheduling == "priority":
                allowed = tuple(range(len(names)))
            else:
                allowed = tuple(names.index(n) for n in scenario.group(group).servers)
            out[job.name, group] = allowed
    return out


def eligibility(result: Tables, grid: np.ndarray) -> dict[tuple[str, str], np.ndarray]:
    """For each (job, group): which servers may run its tasks at each grid instant.

    Under priority scheduling a server dedicated to Reserved capacity (``capacity.reserved``)
    runs only Reserved capacity work at that moment; Reserved work runs everywhere.
    """
    scenario = result.scenario
    n = len(scenario.servers)
    dedicated = np.zeros((n, len(grid)), bool)
    if scenario.scheduling == "priority":
        cap = result.capacity
        origin = epoch_ns(scenario.start)
        for s, server in enumerate(scenario.servers):
            mine = cap[cap.server == server.name]
            step = Steps(instants(mine.start, origin), mine.reserved.to_numpy(np.float64))
            dedicated[s] = step.at(grid) > 0
    reserved = {j.name for j in scenario.jobs if scenario.priority_of(j) == "reserved"}
    out: dict[tuple[str, str], np.ndarray] = {}
    for (job, group), allowed in eligible_servers(scenario).items():
        mask = np.zeros((n, len(grid)), bool)
        mask[list(allowed)] = True
        if scenario.scheduling == "priority" and job not in reserved:
            mask &= ~dedicated
        out[job, group] = mask
    return out


def wait_summary(result: Tables) -> pd.DataFrame:
    """Per group: attempts released to the queue, how many started, and their waits.

    ``tasks`` counts attempts (rows that became ready: Ended, Error, Executing and Ready);
    the wait columns (mean, p50, p95, max) are over the attempts that started.
    """
    rows = []
    tasks = result.tasks
    for group in [g.name for g in result.scenario.groups]:
        mine = tasks[tasks["group"] == group]
        if mine.empty:
            continue
        attempts = mine[mine["ready"].notna()]
        waits = attempts["wait"].dropna()
        values = waits.to_numpy(dtype="int64") if len(waits) else np.zeros(0, np.int64)
        stats = ([values.mean(), np.percentile(values, 50), np.percentile(values, 95),
                  values.max()] if len(values) else [np.nan] * 4)
        rows.append([group, len(attempts), len(waits),
                     *(pd.Timedelta(round(x), unit="ns") if np.isfinite(x) else pd.NaT
                       for x in stats)])
    return pd.DataFrame(rows, columns=["group", "tasks", "started", "wait_mean", "wait_p50",
                                       "wait_p95", "wait_max"]).astype(
        {"group": "string", "tasks": "int64", "started": "int64"})



def _time_in(grid: np.ndarray, kind: np.ndarray, area: np.ndarray, k: int,
             x: np.ndarray) -> np.ndarray:
    """Time spent in category ``k`` from the grid's start up to each instant ``x``."""
    i = np.searchsorted(grid, x, side="right") - 1
    spent: np.ndarray = area[i] + np.where(kind[i] == k, x - grid[i], 0)
    return spent


def wait_breakdown(result: Tables) -> pd.DataFrame:
    """Each started attempt's wait split into parts that add up to it exactly.

    - ``held``: held back by its group's max concurrency;
    - ``poll``: a thread it could use was free, but no poll had come yet;
    - ``capacity``: every thread that may run it was busy, and so were all others;
    - ``stranded``: every thread that may run it was busy while threads it may not use
      (affinity, reserved capacity) were idle.
    """
    tasks = result.tasks[result.tasks.start.notna()].reset_index(drop=True)
    steps, origin, end = _server_steps(result)
    cap = result.capacity  # reserved-capacity switches change who may use free threads
    grid = _grid(end, steps, [Steps(instants(cap.start, origin), np.zeros(len(cap)))])
    free = np.vstack([s.at(grid) for s in steps]) if steps else np.zeros((0, len(grid)))
    total = free.sum(axis=0)
    width = np.diff(np.r_[grid, end]).astype(np.int64)
    ready, start = instants(tasks.ready, 0), instants(tasks.start, 0)
    released = ready.copy()
    rel = result.releases
    if len(rel):
        key = ["job", "run", "task", "attempt"]
        joined = tasks[key].merge(rel, on=key, how="left")["released"]
        has = joined.notna().to_numpy()
        released[has] = instants(joined[has], 0)
    parts = {name: np.zeros(len(tasks), np.int64) for name in ("poll", "capacity", "stranded")}
    for (job, group), mask in eligibility(result, grid).items():
        rows = ((tasks.job == job) & (tasks.group == group)).to_numpy()
        if not rows.any():
            continue
        mine = (free * mask).sum(axis=0)
        kind = np.where(mine > 0, 0, np.where(total - mine > 0, 2, 1))  # poll, capacity, stranded
        for k, name in enumerate(("poll", "capacity", "stranded")):
            area = np.r_[0, np.cumsum(np.where(kind == k, width, 0))]
            parts[name][rows] = (_time_in(grid, kind, area, k, start[rows])
                                 - _time_in(grid, kind, area, k, released[rows]))
    out = tasks[["job", "run", "task", "attempt", "group", "server", "wait"]].copy()
    out["held"] = pd.to_timedelta(released - ready, unit="ns")
    for name in ("poll", "capacity", "stranded"):
        out[name] = pd.to_timedelta(parts[name], unit="ns")
    if "work" in tasks.columns:  # with a database: the time its run lost to contention
        out["duration"] = tasks["duration"]
        out["contention"] = tasks["duration"] - tasks["work"]
    return out


@dataclass(frozen=True)
class DatabaseFigures:
    """The database over a run: how long it was saturated and what contention cost."""

    saturated: int
    """ns during which the load was above the capacity."""
    busy: float
    """Thread-ns that tasks of load above 0 spent executing."""
    lost: float
    """Of ``busy``, the thread-ns lost to contention (a task at speed s loses 1 - s)."""
    peak_load: float
    peak_tasks: int
    saturation_tasks: float
    """The tasks that fill the capacity at their average load (NaN if none ran)."""

    @property
    def lost_share(self) -> float:
        """The share of the tasks' running time that contention took (NaN if none ran)."""
        return self.lost / self.busy if self.busy > 0 else float("nan")


def database_figures(times: np.ndarray, load: np.ndarray, tasks: np.ndarray,
                     capacity: float, end: int) -> DatabaseFigures:
    """The figures of the database's states (from each of ``times`` on, up to ``end``)."""
    width = np.diff(np.r_[times, end]).astype(np.float64)
    speed = np.minimum(1.0, capacity / np.maximum(load, 1e-300))
    busy = float((tasks * width).sum())
    area = float((load * width).sum())
    return DatabaseFigures(
        saturated=int(width[load > capacity].sum()), busy=busy,
        lost=float((tasks * (1.0 - speed) * width).sum()),
        peak_load=float(load.max()) if len(load) else 0.0,
        peak_tasks=int(tasks.max()) if len(tasks) else 0,
        saturation_tasks=capacity * busy / area if area > 0 else float("nan"))


def database_summary(result: Tables) -> pd.DataFrame:
    """The database over the run, in one row (empty without ``database:``).

    capacity, peak load and tasks, time saturated (load above capacity) and its share of
    the horizon, thread-hours lost to contention and their share of the time tasks ran on
    the database, and the tasks that fill the capacity at their average load.
    """
    columns = ["capacity", "peak_load", "peak_tasks", "saturated", "saturated_share",
               "lost_hours", "lost_share", "saturation_tasks"]
    table, db = result.database, result.scenario.database
    if table is None or db is None:
        return pd.DataFrame(columns=columns)
    origin = epoch_ns(result.scenario.start)
    f = database_figures(instants(table.time) - origin, table.load.to_numpy(),
                         table.tasks.to_numpy(), db.capacity, result.scenario.horizon)
    return pd.DataFrame([[db.capacity, f.peak_load, f.peak_tasks,
                          pd.Timedelta(f.saturated, unit="ns"),
                          f.saturated / result.scenario.horizon, f.lost / NS / 3600,
                          f.lost_share, f.saturation_tasks]], columns=columns)


def backlog(result: Tables) -> pd.DataFrame:
    """Tasks waiting (ready, not started) per group over time, as step changes."""
    tasks = result.tasks[result.tasks.ready.notna()]
    origin = epoch_ns(result.scenario.start)
    end = origin + result.scenario.horizon
    frames = []
    for group in [g.name for g in result.scenario.groups]:
        mine = tasks[tasks.group == group]
        if mine.empty:
            continue
        steps = count_open(origin, instants(mine.ready, 0), instants(mine.start, end))
        # one row per change: the last value at each instant, and only where it changes
        last = np.r_[steps.times[1:] != steps.times[:-1], True]
        times, values = steps.times[last], steps.values[last]
        changed = np.r_[True, values[1:] != values[:-1]]
        steps = Steps(times[changed], values[changed])
        keep = steps.times < end
        frames.append(pd.DataFrame({"time": steps.times[keep], "group": group,
                                    "waiting": steps.values[keep].astype(np.int64)}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"time": np.zeros(0, np.int64), "group": [], "waiting": np.zeros(0, np.int64)})
    out["time"] = pd.to_datetime(out["time"], unit="ns", utc=True).dt.tz_convert(
        result.scenario.timezone)
    return out


def stranded_capacity(result: Tables) -> pd.DataFrame:
    """Idle threads that may not run any of the work waiting at that moment, over time."""
    steps, origin, end = _server_steps(result)
    tasks = result.tasks[result.tasks.ready.notna()]
    waiting_steps = []
    for job, group in eligible_servers(result.scenario):
        mine = tasks[(tasks.job == job) & (tasks.group == group)]
        if mine.empty:
            continue
        waiting_steps.append(((job, group), count_open(origin, instants(mine.ready, 0),
                                                   instants(mine.start, end))))
    cap = result.capacity
    grid = _grid(end, steps, [w for _, w in waiting_steps],
                 [Steps(instants(cap.start, origin), np.zeros(len(cap)))])
    grid = grid[grid < end]
    masks = eligibility(result, grid)
    useful = np.zeros((len(steps), len(grid)), bool)
    any_waiting = np.zeros(len(grid), bool)
    for key, waiting in waiting_steps:
        now = waiting.at(grid) > 0
        any_waiting |= now
        useful |= masks[key] & now
    stranded = np.zeros(len(grid))
    for s, free in enumerate(steps):
        stranded += np.where(~useful[s] & any_waiting, free.at(grid), 0)
    return pd.DataFrame({
        "time": pd.to_datetime(grid, unit="ns", utc=True).tz_convert(result.scenario.timezone),
        "stranded_threads": stranded.astype(np.int64)})


def _busy_and_limits(result: Tables, tasks: pd.DataFrame | None = None
                     ) -> tuple[list[Steps], list[Steps], int, int]:
    """Per server: busy threads and thread limit over time (of ``tasks`` if given)."""
    scenario = result.scenario
    origin = epoch_ns(scenario.start)
    end = origin + scenario.horizon
    started = result.tasks[result.tasks.start.notna()] if tasks is None else tasks
    starts, ends = instants(started.start, 0), instants(started.end, end)
    busy, limits = [], []
    for server in scenario.servers:
        mine = (started.server == server.name).to_numpy()
        busy.append(count_open(origin, starts[mine], ends[mine]))
        limits.append(_limit(result, server.name, origin))
    return busy, limits, origin, end


def _limit(result: Tables, server: str, origin: int) -> Steps:
    """A server's thread limit over time, from the capacity table."""
    cap = result.capacity[result.capacity.server == server]
    return Steps(instants(cap.start, origin), cap.threads.to_numpy(np.float64))


def _hour_bins(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """The horizon cut at every local full hour (ns since the epoch), and each bin's hour."""
    zone = scenario.zone
    origin = epoch_ns(scenario.start)
    end = origin + scenario.horizon
    moment = scenario.start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    edges = []
    while epoch_ns(moment) < end:
        edges.append(max(epoch_ns(moment), origin))
        moment = (moment.astimezone(dt.UTC) + dt.timedelta(hours=1)).astimezone(zone)
    bins = np.array([*edges, end], np.int64)
    hours = pd.to_datetime(bins[:-1], unit="ns", utc=True).tz_convert(zone).hour.to_numpy()
    return bins, hours


def utilization(result: Tables) -> pd.DataFrame:
    """Per server: busy ÷ available thread-seconds over the horizon, in [0, 1]."""
    scenario = result.scenario
    origin = epoch_ns(scenario.start)
    end = origin + scenario.horizon
    started = result.tasks[result.tasks.start.notna()]
    starts, ends = instants(started.start, 0), instants(started.end, end)
    rows = []
    for server in scenario.servers:
        mine = (started.server == server.name).to_numpy()
        used, had = server_utilization(origin, end, starts[mine], ends[mine],
                                       _limit(result, server.name, origin))
        rows.append([server.name, used, had, used / had if had > 0 else np.nan])
    return pd.DataFrame(rows, columns=["server", "busy_thread_seconds",
                                       "available_thread_seconds", "utilization"]).astype(
        {"server": "string"})


def utilization_by_hour(result: Tables, by: str = "server") -> pd.DataFrame:
    """Busy ÷ available thread-seconds per server (or group) and local hour of the day.

    A group's available thread-seconds are those of the servers that may run it.
    """
    if by not in ("server", "group"):
        raise UsageError(f"by is 'server' or 'group', got {by!r}")
    scenario = result.scenario
    busy, limits, _, _ = _busy_and_limits(result)
    bins, hours = _hour_bins(scenario)
    capacity = [areas(available(b, lim), bins) for b, lim in zip(busy, limits, strict=True)]
    if by == "server":
        keys = [s.name for s in scenario.servers]
        used = [areas(b, bins) for b in busy]
        had = capacity
    else:
        started = result.tasks[result.tasks.start.notna()]
        sets = eligible_servers(scenario)
        keys, used, had = [], [], []
        for group in scenario.groups:
            mine = started[started.group == group.name]
            allowed = sorted({s for (_, g), servers in sets.items() if g == group.name
                              for s in servers})
            if mine.empty or not allowed:
                continue
            group_busy, _, _, _ = _busy_and_limits(result, mine)
            keys.append(group.name)
            used.append(np.sum([areas(group_busy[s], bins) for s in allowed], axis=0))
            had.append(np.sum([capacity[s] for s in allowed], axis=0))
    frames = [pd.DataFrame({by: key, "hour": hours, "busy_thread_seconds": u,
                            "available_thread_seconds": a})
              for key, u, a in zip(keys, used, had, strict=True)]
    if not frames:
        return pd.DataFrame(columns=[by, "hour", "busy_thread_seconds",
                                     "available_thread_seconds", "utilization"])
    out: pd.DataFrame = pd.concat(frames).groupby([by, "hour"], as_index=False, sort=False).sum()
    out["utilization"] = out.busy_thread_seconds / out.available_thread_seconds.where(
        out.available_thread_seconds > 0)
    return out


def dependency_waits(result: Tables) -> pd.DataFrame:
    """Per task row: how long it waited for its dependencies after its run began."""
    tasks = result.tasks
    first = tasks.groupby(["job", "run"]).ready.transform("min")
    out = tasks[["job", "run", "task", "attempt", "ready"]].copy()
    out["dependency_wait"] = tasks.ready - first
    return out


def deadlines(result: Tables) -> pd.DataFrame:
    """Every run of a job with a deadline: when it was due, its deadline, and its state.

    ``state`` is ``met``, ``missed``, ``failed`` or ``undetermined``:
    - a run whose job ended in Error (a task's last attempt ended in Error without
      ``ignore_failure``, restarts with no retries left included) is ``failed``, whenever
      it ended: it is a miss (``met`` False) and has no ``lateness`` (NaT);
    - a run still open at the horizon is missed if its deadline is before the horizon (its
      ``lateness`` is then a lower bound, horizon - deadline), and undetermined otherwise:
      it may still finish in time, so it is never counted as met (``met`` is NA);
    - any other run is met when it ended by its deadline, and missed when it ended later.
    """
    scenario = result.scenario
    jobs = result.jobs
    horizon_end = epoch_ns(scenario.end)
    frames = []
    for job in scenario.jobs:
        if job.deadline is None:
            continue
        mine = jobs[jobs.job == job.name]
        deadline, finished, late, undetermined = judge_deadlines(
            job.deadline, str(scenario.zone_of(job)), instants(mine.scheduled, 0),
            instants(mine.end), horizon_end)
        failed = failed_runs(finished, (mine.status == "Error").to_numpy(bool))
        state = np.where(undetermined, "undetermined", np.where(
            failed, "failed", np.where(late <= 0, "met", "missed")))
        frames.append(pd.DataFrame({
            "job": job.name, "run": mine.run.to_numpy(), "scheduled": mine.scheduled.to_numpy(),
            "deadline": deadline, "end": mine.end.to_numpy(), "finished": finished,
            "state": state, "met": pd.Series(state == "met", dtype="boolean").where(
                ~undetermined, pd.NA).to_numpy(),
            "lateness": np.where(undetermined | failed, np.iinfo(np.int64).min, late)}))
    columns = ["job", "run", "scheduled", "deadline", "end", "finished", "state", "met",
               "lateness"]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c: [] for c in columns})
    zone = scenario.timezone
    out = out.astype({"job": "string", "state": "string", "finished": "bool",
                      "run": "int64"})
    out["met"] = out["met"].astype("boolean")
    out["lateness"] = pd.to_timedelta(out["lateness"].astype("int64").to_numpy().view(
        "timedelta64[ns]"))
    out["deadline"] = pd.to_datetime(out["deadline"].astype("int64"), unit="ns",
                                     utc=True).dt.tz_convert(zone)
    for column in ("scheduled", "end"):
        out[column] = pd.to_datetime(out[column], utc=True).dt.tz_convert(zone)
    return out[columns]


DEADLINE_SUMMARY_COLUMNS = ["job", "runs", "met", "missed", "failed", "undetermined",
                            "miss_share", "lateness_p50_s", "lateness_p95_s", "margin_min_s",
                            "latest_finish_s", "latest_end"]


def deadline_summary(result: Tables, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per job with a deadline: did its runs finish in time, and by how much.

    - ``runs``: runs judged, met + missed + failed (undetermined runs are not judged);
    - ``met``, ``missed``, ``failed``, ``undetermined``: runs in each state (see
      ``deadlines``);
    - ``miss_share``: (missed + failed) ÷ judged, in [0, 1]; NaN when no run was judged;
    - ``lateness_p50_s``, ``lateness_p95_s``: end - deadline over the met and missed runs
      (negative when early; a missed run still open counts with its lower bound, horizon -
      deadline); failed runs have no lateness;
    - ``margin_min_s``: the smallest deadline - end over the finished runs that did not
      fail (negative when late);
    - ``latest_finish_s``: the longest time from due (``scheduled``) to end over the
      finished runs that did not fail, and ``latest_end`` that run's end as a clock time.

    A machine table: the spans are float seconds (NaN where there is none), named as the
    experiments' metric rows name them; ``simbatch.present.units.clock`` prints them as
    h:mm:ss.
    """
    table = deadlines(result) if table is None else table
    rows = []
    for job in result.scenario.jobs:
        if job.deadline is None:
            continue
        mine = table[table.job == job.name]
        figures = deadline_figures(
            instants(mine.deadline), instants(mine.scheduled, 0), instants(mine.end),
            mine.finished.to_numpy(bool),
            mine.lateness.to_numpy("timedelta64[ns]").view(np.int64),
            (mine.state == "undetermined").to_numpy(bool),
            (mine.state == "failed").to_numpy(bool))
        latest = figures.latest
        rows.append([
            job.name, figures.runs, figures.met, figures.missed, figures.failed,
            figures.undetermined, figures.miss_share, span_seconds(figures.lateness_p50),
            span_seconds(figures.lateness_p95), span_seconds(figures.margin_min),
            span_seconds(figures.latest_finish),
            mine.end.iloc[latest] if latest is not None else pd.NaT,
        ])
    out = pd.DataFrame(rows, columns=DEADLINE_SUMMARY_COLUMNS)
    out["latest_end"] = pd.to_datetime(out["latest_end"], utc=True).dt.tz_convert(
        result.scenario.timezone)
    return out.astype({"job": "string", "runs": "int64", "met": "int64", "missed": "int64",
                       "failed": "int64", "undetermined": "int64", "miss_share": "float64",
                       "lateness_p50_s": "float64", "lateness_p95_s": "float64",
                       "margin_min_s": "float64", "latest_finish_s": "float64"})


def backlog_by_hour(result: Tables) -> pd.DataFrame:
    """Tasks waiting per group by local hour of the day: time-weighted mean, and the peak.

    The mean of an hour of the day is over every such hour of the horizon (say, every
    23:00 to 00:00), weighted by the time simulated in it.
    """
    table = backlog(result)
    scenario = result.scenario
    origin = epoch_ns(scenario.start)
    end = origin + scenario.horizon
    bins, hours = _hour_bins(scenario)
    seconds = np.diff(bins) / NS
    frames = []
    for group, rows in table.groupby("group", sort=False):
        steps = Steps(np.r_[origin, instants(rows.time, origin)].astype(np.int64),
                      np.r_[0, rows.waiting.to_numpy(np.float64)])
        area = areas(steps, bins)
        grid = np.unique(np.r_[steps.times, bins])
        grid = grid[grid < end]
        peak = pd.Series(steps.at(grid)).groupby(
            np.searchsorted(bins, grid, side="right") - 1).max()
        frame = pd.DataFrame({"hour": hours, "area": area, "seconds": seconds,
                              "peak": peak.reindex(range(len(hours)), fill_value=0).to_numpy()})
        per = frame.groupby("hour").agg(area=("area", "sum"), seconds=("seconds", "sum"),
                                        peak=("peak", "max")).reset_index()
        frames.append(pd.DataFrame({"group": str(group), "hour": per.hour,
                                    "waiting_mean": per.area / per.seconds,
                                    "waiting_max": per.peak.astype(np.int64)}))
    if not frames:
        return pd.DataFrame({"group": pd.Series([], dtype="string"),
                             "hour": np.zeros(0, np.int64), "waiting_mean": np.zeros(0),
                             "waiting_max": np.zeros(0, np.int64)})
    out = pd.concat(frames, ignore_index=True)
    return out.astype({"group": "string"})
