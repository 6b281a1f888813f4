"""What a history cannot show, in words calibration repeats in its header (``History.gaps``).

Columns and tables the export lacks, runs without task rows, runs the history cap cut,
jobs whose log level hides their runs, runs not finished, days without any run, and a
period shorter than month-end needs. Every check is bounded by the rows read, never by
the span of the dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from simbatch.history.cells import Table
from simbatch.history.columns import history_cap

__all__ = ["gaps", "looks_local"]

_LOST = {
    "BatchJobHistory.Caption": "jobs are named by BatchJobId",
    "BatchHistory.Caption": "tasks are named by ClassNumber (or BatchId)",
    "BatchHistory.ServerId": "servers and their peak concurrency are unknown",
    "BatchHistory.retryCount": "retries are unknown; failure shares count final errors only",
    "BatchHistory.RuntimeTask": "runtime tasks cannot be told from static ones",
    "BatchHistory.ClassNumber": "tasks without a Caption cannot be grouped by class",
    "BatchJobHistory.Company": "companies are unknown",
    "BatchJobHistory.ExecutedBy": "who started each run is unknown",
}


def _few(names: Sequence[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _missing_days(moments: pd.Series) -> tuple[int, list[str]]:
    """How many days between the first and last moment have no run, and the first few."""
    day = 86_400 * 10**9
    days = np.unique(moments.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
                     .view("int64") // day)
    if len(days) < 2:
        return 0, []
    steps = np.diff(days)
    total = int((steps - 1).sum())
    shown: list[str] = []
    for i in np.flatnonzero(steps > 1)[:5]:
        for k in range(1, int(min(steps[i], 6))):
            shown.append(str(pd.Timestamp((int(days[i]) + k) * day))[:10])
    return total, shown[:5]


def gaps(tables: Mapping[str, Table], present: frozenset[str], jobs: pd.DataFrame,
         tasks: pd.DataFrame, level: str, constraints_source: str,
         fo_version: str | None) -> list[str]:
    """What this history cannot show."""
    job_kind = "BatchJobHistories" if "BatchJobHistory" not in tables else "BatchJobHistory"
    lost = {k: v for k, v in _LOST.items() if level == "task" or k.startswith("BatchJobH")}
    if job_kind == "BatchJobHistories":
        lost = {k: v for k, v in lost.items() if k != "BatchJobHistory.Caption"}
        present = present | {f"BatchJobHistory.{c.split('.')[1]}" for c in present
                             if c.startswith("BatchJobHistories.")}
    found = [f"no {name.split('.')[1]} column in {name.split('.')[0]}: {what}"
             for name, what in lost.items() if name not in present]
    if level == "job":
        found.append("no BatchHistory table: a job-level history; tasks, servers, retries,"
                     " dependencies and concurrency cannot be seen, and each job is one task")
    if "Batch" not in tables and "BatchJob" not in tables:
        found.append("no Batch or BatchJob table: batch groups are unknown")
    if "BatchJob" not in tables:
        found.append("no BatchJob table: scheduling priorities, log levels and schedules are"
                     " unknown")
    if constraints_source == "timing" and level == "task":
        found.append("no BatchConstraints table: dependencies are inferred from timing")
    counts = tasks.groupby("run_id", sort=False).size()
    empty = jobs[~jobs["run_id"].isin(counts.index)]
    if len(empty):
        names = sorted(set(empty["job"].astype(str)))
        found.append(f"{len(empty)} job runs of {len(names)} jobs have no task rows (history"
                     f" setting Never or Errors only?): {_few(names)}")
    levels = jobs.drop_duplicates("job_id")
    for level_name, what in (("errors only", "leave history only when they fail, so their"
                              " runs that ended are missing: their failure share and"
                              " schedule cannot come from history"),
                             ("never", "leave no history at all")):
        hidden = levels[levels["log_level"] == level_name]
        if len(hidden):
            found.append(f"{len(hidden)} jobs have the log level '{level_name}' and {what}:"
                         f" {_few(sorted(hidden['job'].astype(str)))}")
    rule, more_than, kept = history_cap(fo_version)
    capped = jobs[jobs["capped"]]
    if len(capped):
        names = sorted(set(capped["job"].astype(str)))
        since = f"{rule} on" if rule == "10.0.39" else rule
        found.append(f"{len(capped)} runs have exactly {kept:,} task rows, F&O's cap for jobs"
                     f" of more than {more_than:,} tasks ({since}); their task counts are"
                     f" lower bounds: {_few(names)}")
    open_runs = int((~jobs["status"].isin(["Ended", "Error", "Canceled"])).sum())
    if open_runs:
        found.append(f"{open_runs} job runs were not finished when exported")
    moments = pd.concat([jobs["scheduled"], jobs["start"]]).dropna()
    if len(moments):
        missing, first = _missing_days(moments)
        if missing:
            more = f" and {missing - len(first)} more" if missing > len(first) else ""
            found.append(f"{missing} days without any job run (UTC): {', '.join(first)}{more}")
        span = (moments.max() - moments.min()) / pd.Timedelta(days=1)
        if span < 62:
            found.append(f"the history covers {span:.0f} days (production keeps 30 to 60):"
                         " month-end, quarter-end and year-end work may be missing or seen"
                         " once")
    return found


def looks_local(jobs: pd.DataFrame, zone: str) -> str | None:
    """A warning when daily jobs keep one raw clock time across a daylight-saving change of
    ``zone``: a job due at one local time moves by an hour in UTC, so times that do not
    move were most likely converted to local time by the export (None otherwise)."""
    runs = jobs.loc[jobs["scheduled"].notna(), ["job", "scheduled"]]
    if runs.empty:
        return None
    utc = runs["scheduled"].dt.tz_convert("UTC")
    local = utc.dt.tz_convert(zone)
    frame = pd.DataFrame({
        "job": runs["job"].astype(str).to_numpy(),
        "offset": (local.dt.tz_localize(None) - utc.dt.tz_localize(None)).to_numpy(),
        "raw": (utc - utc.dt.floor("D")).to_numpy(),
        "clock": (local - local.dt.floor("D")).to_numpy()})
    per_job = frame.groupby("job", sort=True).nunique()
    crossing = per_job[per_job["offset"] > 1]
    keep = sorted(crossing.index[crossing["raw"] == 1])
    shift = crossing.index[(crossing["clock"] == 1) & (crossing["raw"] > 1)]
    if not keep or len(keep) <= len(shift):
        return None
    return (f"{len(keep)} daily jobs keep the same clock time across a daylight-saving change"
            f" of {zone} ({_few(keep)}): the export's times look local, not UTC; if it"
            f" converted them, read it with --times-in {zone} (times_in=)")
