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
from simbatch.results import metrics as table_metrics


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
    return pd.DataFrame(rows, columns=["metric", "key", "value"])


def deadline_rows(result: Result) -> list[tuple[str, str, float]]:
    """Per job with a deadline (key = the job's name), its deadline metrics over the horizon.

    ``deadline_runs`` (judged: met + missed), ``deadline_misses``, ``deadline_miss`` (the
    share of judged runs missed, NaN when none was judged), ``deadline_undetermined`` (open
    at the horizon before their deadline), ``lateness_p50_s`` and ``lateness_p95_s`` (end -
    deadline over judged runs), ``margin_min_s`` (the smallest deadline - end over finished
    runs; negative when late) and ``latest_finish_s`` (the longest time from a run's due
    time, its ``scheduled``, to its end).
    """
    summary = table_metrics.deadline_summary(result)
    rows: list[tuple[str, str, float]] = []
    for row in summary.to_dict("records"):
        key = str(row["job"])
        rows += [("deadline_runs", key, float(row["runs"])),
                 ("deadline_misses", key, float(row["missed"])),
                 ("deadline_miss", key, float(row["miss_share"])),
                 ("deadline_undetermined", key, float(row["undetermined"])),
                 ("lateness_p50_s", key, _span_seconds(row["lateness_p50"])),
                 ("lateness_p95_s", key, _span_seconds(row["lateness_p95"])),
                 ("margin_min_s", key, _span_seconds(row["margin_min"])),
                 ("latest_finish_s", key, _span_seconds(row["latest_finish"]))]
    return rows


def _span_seconds(value: object) -> float:
    return float(value.total_seconds()) if isinstance(value, pd.Timedelta) and pd.notna(
        value) else np.nan
