"""An independent reference for the metric rows: computed with pandas from a Result's tables.

The product computes every metric once (``simbatch.results.measures``), from the recorder's
columns or from the tables (``simbatch.results.summary``). This module computes the same rows
another way, from the public tables with plain pandas, so that the tests can hold the
product's rows against it bit for bit; it is test code, not a second implementation to keep
equal in the package.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simbatch import Result


def metrics(result: Result, warmup: int = 0) -> pd.DataFrame:
    """A run's key figures as tidy rows (metric, key, value).

    Waits count attempts that became ready after the warm-up; utilization and job counts
    cover the whole horizon. Replications compute the same rows, equal bit for bit,
    straight from the recorder without building the tables (``simbatch.results.summary``); this
    table path is their reference.
    """
    tasks = result.tasks
    start = pd.Timestamp(result.scenario.start)
    after = tasks[tasks.ready >= start + pd.Timedelta(warmup, unit="ns")]
    waits = after.wait.dt.total_seconds()
    rows: list[tuple[str, str, float]] = []
    for key, w in [("all", waits), *((g, waits[after.group == g])
                                     for g in sorted(after.group.dropna().unique()))]:
        done = w.dropna()
        rows += [("tasks_started", key, float(len(done))),
                 ("wait_mean_s", key, float(done.mean()) if len(done) else np.nan),
                 ("wait_p95_s", key, float(done.quantile(0.95)) if len(done) else np.nan)]
    util = result.utilization()
    for server, value in zip(util["server"], util["utilization"].to_numpy(), strict=True):
        rows.append(("utilization", str(server), float(value)))
    jobs = result.jobs
    for status in ("Ended", "Error"):
        rows.append((f"jobs_{status.lower()}", "all", float((jobs.status == status).sum())))
    rows.append(("job_duration_mean_s", "all",
                 float(jobs.duration.dropna().dt.total_seconds().mean())
                 if jobs.duration.notna().any() else np.nan))
    rows.append(("backlog_at_horizon", "all",
                 float(tasks.status.isin(["Ready", "Waiting"]).sum())))
    rows += deadline_rows(result)
    rows += database_rows(result)
    return pd.DataFrame(rows, columns=["metric", "key", "value"])


def database_rows(result: Result) -> list[tuple[str, str, float]]:
    """With a database: its figures over the horizon, from ``Result.database`` (numpy sums,
    in the table's order, so that they equal the product's bit for bit)."""
    table, db = result.database, result.scenario.database
    if table is None or db is None:
        return []
    horizon = result.scenario.horizon
    since = (table.time - pd.Timestamp(result.scenario.start)).to_numpy("timedelta64[ns]")
    width = np.diff(np.r_[since.view(np.int64), horizon]).astype(np.float64)
    load, tasks = table.load.to_numpy(), table.tasks.to_numpy(np.int64)
    speed = table.speed.to_numpy()
    busy = float((tasks * width).sum())
    lost = float((tasks * (1.0 - speed) * width).sum())
    area = float((load * width).sum())
    return [("db_saturated_share", "all", int(width[load > db.capacity].sum()) / horizon),
            ("db_lost_share", "all", lost / busy if busy > 0 else np.nan),
            ("db_peak_tasks", "all", float(tasks.max())),
            ("db_saturation_tasks", "all", db.capacity * busy / area if area > 0 else np.nan)]


def deadline_rows(result: Result) -> list[tuple[str, str, float]]:
    """Per job with a deadline (key = the job's name), its deadline metrics over the horizon.

    Computed here from the jobs table and the scenario's deadline rules, with plain pandas,
    as the docs state the rule (docs/reference/results.md, "Deadlines"):
    - a finished run whose job ended in Error is failed: judged, a miss, no lateness;
    - an open run whose deadline is at or after the horizon is undetermined (not judged);
    - any other run is judged by end - deadline (horizon - deadline while open): met when
      that is <= 0, missed otherwise.
    ``deadline_runs`` = met + missed + failed, ``deadline_misses`` = missed + failed,
    ``deadline_miss`` their share (NaN when none judged), lateness quantiles over met and
    missed runs (linear, rounded to the ns), the margin and the latest finish over the
    finished runs that did not fail.
    """
    scenario = result.scenario
    horizon = pd.Timestamp(scenario.end)
    rows: list[tuple[str, str, float]] = []
    for job in scenario.jobs:
        rule = job.deadline
        if rule is None:
            continue
        runs = result.jobs[result.jobs.job == job.name]
        due = runs.scheduled.dt.tz_convert("UTC")
        if rule.within is not None:
            deadline = due + pd.Timedelta(rule.within, unit="ns")
        else:
            second, zone = rule.time_of_day or 0, str(scenario.zone_of(job))
            deadline = pd.Series([_time_of_day_after(t, second, zone) for t in due],
                                 index=due.index, dtype=f"datetime64[ns, {zone}]"
                                 ).dt.tz_convert("UTC")
        finished = runs.end.notna()
        end = runs.end.dt.tz_convert("UTC")
        failed = finished & (runs.status == "Error")
        undetermined = ~finished & (deadline >= horizon)
        late = (end.where(finished, horizon) - deadline)
        timed = ~undetermined & ~failed
        judged_late = late[timed]
        met = int((judged_late <= pd.Timedelta(0)).sum())
        missed = int(timed.sum()) - met
        failures = int(failed.sum())
        judged = met + missed + failures
        completed = finished & ~failed
        margin = (deadline - end)[completed]
        took = (end - due)[completed]
        rows += [("deadline_runs", job.name, float(judged)),
                 ("deadline_misses", job.name, float(missed + failures)),
                 ("deadline_miss", job.name,
                  (missed + failures) / judged if judged else np.nan),
                 ("deadline_undetermined", job.name, float(undetermined.sum())),
                 ("lateness_p50_s", job.name, _quantile_seconds(judged_late, 0.50)),
                 ("lateness_p95_s", job.name, _quantile_seconds(judged_late, 0.95)),
                 ("margin_min_s", job.name,
                  margin.min().total_seconds() if len(margin) else np.nan),
                 ("latest_finish_s", job.name,
                  took.max().total_seconds() if len(took) else np.nan)]
    return rows


def _time_of_day_after(due: pd.Timestamp, second: int, zone: str) -> pd.Timestamp:
    """The first local wall-clock ``second`` of the day strictly after ``due``: in the
    spring-forward gap the instant the clocks jump, in autumn's repeated hour the first."""
    local = due.tz_convert(zone)
    for days in (0, 1):
        wall = (local.tz_localize(None).normalize() + pd.Timedelta(days=days)
                + pd.Timedelta(seconds=second))
        moment = wall.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")
        if moment > due:
            return moment.tz_convert("UTC")
    raise AssertionError("a time of day comes within two days")


def _quantile_seconds(late: pd.Series, q: float) -> float:
    """A quantile of spans in seconds: linear over the nanoseconds, rounded to the ns."""
    if not len(late):
        return np.nan
    ns = late.to_numpy("timedelta64[ns]").view(np.int64)
    return pd.Timedelta(round(float(pd.Series(ns).quantile(q))), unit="ns").total_seconds()
