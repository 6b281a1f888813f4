"""A job's document: its group, schedule, priority and tasks (durations, failures, retries,
runtime tasks and dependencies), from its runs and task rows.

Task settings come from the export when it has them (Batch.ConstraintType, IgnoreOnFail,
retriesOnFailure; the reader's ``constraint_type``, ``ignore_on_fail``, ``retry_limit``);
only when it has not are they guessed from what the runs did, and the comment says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from ruamel.yaml.comments import CommentedMap

from simbatch.history.calibration.dependencies import add_dependencies
from simbatch.history.calibration.document import flow_list, flow_map, thousands
from simbatch.history.calibration.durations import fit_duration
from simbatch.history.calibration.schedules import infer_schedule
from simbatch.history.read import History

__all__ = ["FINAL", "MAX_RETRIES", "JobFit", "job_document"]

FINAL = ("Ended", "Error")
"""The final statuses of a run or task run."""
MAX_RETRIES = 5
"""F&O's most retries of a task (the scenario's range)."""


@dataclass
class JobFit:
    """What fitting one job found besides its document: for the groups and the header."""

    group: str | None = None
    group_priority: str | None = None
    """The priority its group gave it (BatchGroup), to write on the group."""
    dependencies: tuple[str, int, int] = ("timing", 0, 0)
    """Where its dependencies came from, and in how many of its runs it found some."""
    notes: list[str] = field(default_factory=list)


def _known(rows: pd.DataFrame, column: str) -> pd.Series:
    """A column of the reader's, or all-NA when the history predates it."""
    if column in rows.columns:
        return rows[column]
    return pd.Series(pd.NA, index=rows.index, dtype=object)


@dataclass
class _Rows:
    """One task's rows as plain arrays, cut once per job (no pandas call per task)."""

    final: np.ndarray
    error: np.ndarray
    retries: np.ndarray
    restarts: np.ndarray
    seconds: np.ndarray
    """end - start of the final rows with both, else NaN."""
    run_id: np.ndarray
    retry_limit: np.ndarray
    """retriesOnFailure (NaN when unknown)."""
    ignore: np.ndarray
    """IgnoreOnFail as 1.0 / 0.0 (NaN when unknown)."""
    any_type: np.ndarray
    """ConstraintType Any."""


def _split(static: pd.DataFrame) -> dict[str, _Rows]:
    """The job's static rows by task name, as ``_Rows``."""
    status = static["status"].astype(object).to_numpy()
    final = np.isin(status, FINAL)
    start, end = static["start"], static["end"]
    seconds = (end - start).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    seconds = np.where(final, seconds, np.nan)

    def numbers(column: str) -> np.ndarray:
        if column not in static.columns:
            return np.full(len(static), np.nan)
        values = pd.to_numeric(static[column].astype(object), errors="coerce")
        return np.asarray(values.to_numpy(dtype=float, na_value=np.nan))

    kinds = (static["constraint_type"].astype(object).to_numpy() if "constraint_type" in
             static.columns else np.full(len(static), None, dtype=object))
    arrays = (final, status == "Error", static["retries"].to_numpy(dtype=np.int64),
              (static["restarts"].to_numpy(dtype=np.int64) if "restarts" in static.columns
               else np.zeros(len(static), dtype=np.int64)),
              seconds, static["run_id"].to_numpy(), numbers("retry_limit"),
              numbers("ignore_on_fail"), kinds == "any")
    where = static.groupby(static["task"].astype(str).to_numpy(), sort=False).indices
    return {str(name): _Rows(*(values[idx] for values in arrays))
            for name, idx in where.items()}


def _failures(rows: _Rows) -> tuple[float, int, str]:
    """The per-attempt error share and the most retries seen, from final rows and their
    retryCount; attempts ended by a restart of their server (``restarts``) are left out."""
    retries = rows.retries[rows.final]
    failed = retries + rows.error[rows.final].astype(np.int64)
    restarts = np.minimum(rows.restarts[rows.final], failed)
    attempts = int(int(rows.final.sum()) + retries.sum() - restarts.sum())
    errors = int((failed - restarts).sum())
    share = errors / attempts if attempts > 0 else 0.0
    most = int(retries.max()) if len(retries) else 0
    text = (f"{thousands(errors)} errors in {thousands(attempts)} attempts ({share:.2%}):"
            " each row's retryCount k counts k failed attempts before its final status")
    if restarts.sum():
        text += (f"; {thousands(int(restarts.sum()))} attempts ended by a restart of their"
                 " server (the topology's maintenance or outages) left out: the kept"
                 " downtime makes them")
    return share, most, text


def _retries(rows: _Rows, most: int) -> tuple[int, str]:
    """Retries from retriesOnFailure when the export has it, else the largest retryCount."""
    limit = rows.retry_limit[~np.isnan(rows.retry_limit)]
    if len(limit):
        values, counts = np.unique(limit, return_counts=True)
        value = int(values[np.argmax(counts)])
        kept = min(max(value, 0), MAX_RETRIES)
        text = f"retriesOnFailure {value}" + (f", kept to {MAX_RETRIES} (F&O's most)"
                                              if kept != value else "")
        return kept, text
    kept = min(most, MAX_RETRIES)
    return kept, (f"a guess: the largest retryCount seen ({most}); the export has no"
                  " retriesOnFailure")


def _task_doc(rows: _Rows, key: str, failures_known: bool) -> CommentedMap:
    doc = CommentedMap()
    single = ~np.isnan(rows.seconds) & (rows.retries == 0)
    value, why = fit_duration(rows.seconds[single], key)
    left = int((rows.retries > 0).sum())
    if left:
        why += f"; {thousands(left)} rows with retries left out (they span several attempts)"
    doc["duration"] = value
    doc.yaml_add_eol_comment(why, "duration")
    share, most, text = _failures(rows)
    retries, said = _retries(rows, most)
    if share > 0 and failures_known:
        doc["fail"] = round(share, 4)
        doc.yaml_add_eol_comment(text, "fail")
    if retries and (share > 0 or bool((~np.isnan(rows.retry_limit)).any())):
        doc["retries"] = retries
        doc.yaml_add_eol_comment(said, "retries")
    return doc


def _runtime(parent_runs: pd.Series, children: pd.DataFrame, key: str) -> CommentedMap:
    counts = children.groupby("run_id", observed=True).size().reindex(
        parent_runs.to_numpy(), fill_value=0).to_numpy()
    out = CommentedMap()
    if len(counts) == 0:
        counts = np.array([len(children)])
    low, high = int(counts.min()), int(counts.max())
    seen = (f"{thousands(len(counts))} parent runs, {thousands(int(counts.sum()))} runtime tasks:"
            f" {low}-{high} per run, mean {counts.mean():.1f}")
    if low == high:
        out["tasks"] = low
    else:
        # the unbiased estimate of a uniform's bounds widens the range seen by range/(n-1)
        widen = (high - low) / max(len(counts) - 1, 1)
        bounds = [max(0, round(low - widen)), round(high + widen)]
        out["tasks"] = flow_map({"uniform": flow_list(bounds)})
        seen += f"; uniform, the range seen widened by range/(n-1) = {widen:.2f} each side"
    out.yaml_add_eol_comment(seen, "tasks")
    ended = children[children["status"].isin(FINAL) & children["start"].notna()
                     & children["end"].notna()]
    value, why = fit_duration((ended["end"] - ended["start"]).dt.total_seconds().to_numpy(),
                              key + " runtime")
    out["duration"] = value
    out.yaml_add_eol_comment(why, "duration")
    errors = int((children["status"] == "Error").sum())
    if errors:
        out["fail"] = round(errors / max(len(ended), 1), 4)
        out.yaml_add_eol_comment(f"{errors} of {len(ended)} runtime tasks ended in Error"
                                 " (runtime tasks have no retries)", "fail")
    return out


def _log_level(runs: pd.DataFrame) -> str | None:
    level = _mode(_known(runs, "log_level").astype(object))
    return None if level is None else str(level)


def _schedule(doc: CommentedMap, name: str, runs: pd.DataFrame, history: History,
              zone: ZoneInfo, period: tuple[pd.Timestamp, pd.Timestamp], level: str | None,
              fit: JobFit) -> None:
    """The job's schedule: inferred from its runs' due times, or from BatchJob when its log
    level keeps only some runs (Errors only), so the runs seen are not its schedule."""
    setup = history.batch_jobs
    if level in ("errors only", "never") and setup is not None and "start" in setup.columns:
        mine = setup[setup["job_id"].isin(runs["job_id"])] if "job_id" in setup.columns else (
            setup[setup["job"].astype(str) == name])
        start = mine["start"].dropna()
        if len(start):
            next_start = pd.Timestamp(start.iloc[0]).tz_convert(zone)
            doc["start"] = f"{next_start:%Y-%m-%d %H:%M:%S}".removesuffix(":00")
            doc.yaml_add_eol_comment(
                f"from BatchJob.OrigStartDateTime: its history is kept '{level}', so the"
                f" {len(runs)} runs seen are only its failures, not its schedule; add its"
                " recurrence by hand (BatchJob.recurrenceData is not readable)", "start")
            fit.notes.append(f"job {name!r}: history kept '{level}': its schedule is"
                             " BatchJob's next start, not inferred from its failed runs")
            return
    due = runs["scheduled"].where(runs["scheduled"].notna(), runs["start"])
    known = due.notna()
    if not known.all():
        fit.notes.append(f"job {name!r}: {int((~known).sum())} runs have no due time"
                         " (OrigStartDateTime empty or 1900-01-01): their actual start is"
                         " used" if runs["start"].notna().any() else
                         f"job {name!r}: runs without a due time left out of its schedule")
    schedule, why = infer_schedule(due[known], runs["start"][known], zone, period)
    if level in ("errors only", "never"):
        why += (f"; its history is kept '{level}', so these runs are only its failures:"
                " the real schedule is denser (no BatchJob start to take it from)")
    for key, value in schedule.items():
        doc[key] = value
    main = next(k for k in ("recurrence", "arrivals", "start") if k in schedule)
    doc.yaml_add_eol_comment(why, main)


def _priority(doc: CommentedMap, runs: pd.DataFrame, scheduling: str, fit: JobFit) -> None:
    priority = _mode(_known(runs, "priority").astype(object))
    if priority is None or scheduling != "priority":
        return
    source = _mode(_known(runs, "priority_source").astype(object))
    if source == "BatchGroup" and fit.group is not None:
        fit.group_priority = str(priority)  # written on the group, as F&O keeps it
        return
    doc["priority"] = str(priority)
    doc.yaml_add_eol_comment("BatchJob.SchedulingPriority (overridden on the job)"
                             if source == "BatchJob" else "from the export", "priority")


def job_document(name: str, runs: pd.DataFrame, rows: pd.DataFrame, history: History,
                 zone: ZoneInfo, period: tuple[pd.Timestamp, pd.Timestamp],
                 scheduling: str, known_groups: set[str] | None) -> tuple[CommentedMap, JobFit]:
    """The document of one job from its runs and task rows, and what was found beside it."""
    doc = CommentedMap()
    fit = JobFit()
    group = _mode(pd.concat([runs["group"].astype(object), rows["group"].astype(object)]))
    if group is not None and (known_groups is None or group in known_groups):
        doc["group"] = group
        fit.group = str(group)
    level = _log_level(runs)
    _schedule(doc, name, runs, history, zone, period, level, fit)
    _priority(doc, runs, scheduling, fit)
    capped = runs.loc[_known(runs, "capped").fillna(False).astype(bool), "run_id"]
    if len(capped) and len(capped) < len(runs):
        rows = rows[~rows["run_id"].isin(capped)]
        fit.notes.append(f"job {name!r}: {len(capped)} runs hit F&O's history cap (errors kept"
                         " first): their task rows are left out of durations, failure shares"
                         " and runtime counts")
    elif len(capped):
        fit.notes.append(f"job {name!r}: every run hit F&O's history cap: its failure shares"
                         " are biased up (errors are kept first) and its runtime counts are"
                         " lower bounds")
    static = rows[~rows["runtime"]]
    children = rows[rows["runtime"]]
    if static.empty:  # no task adds them: its rows are read as the job's own tasks
        static, children = rows, rows.iloc[0:0]
        fit.notes.append(f"job {name!r}: every task row is a runtime task (RuntimeTask 1),"
                         " with no static task to add them: read as static tasks")
    run_start = runs.set_index("run_id")["start"]
    offset = (static["start"].reset_index(drop=True)
              - run_start.reindex(static["run_id"].to_numpy()).reset_index(drop=True))
    order = (pd.DataFrame({"task": static["task"].to_numpy(), "offset": offset})
             .groupby("task", observed=True)["offset"].median()
             .sort_values(na_position="last"))
    names = [str(t) for t in order.index]
    tasks = CommentedMap()
    by_task = {str(k): v for k, v in static.groupby("task", observed=True)}
    cut = _split(static)
    child_by = {str(k): v for k, v in children.groupby("task", observed=True)}
    status_of = dict(zip(runs["run_id"].tolist(), runs["status"].astype(object).tolist(),
                         strict=True))
    failures_known = level not in ("errors only", "never")
    if not failures_known:
        fit.notes.append(f"job {name!r}: history kept '{level}': its failure share cannot be"
                         " told (only failed runs are kept), so no fail: is written")
    for tname in names:
        tdoc = _task_doc(cut[tname], f"{name}/{tname}", failures_known)
        _task_settings(tdoc, cut[tname], status_of)
        tasks[tname] = tdoc
    # runtime rows: children of the static task with their Caption, else of the first task
    for caption, kids in child_by.items():
        parent = caption if caption in tasks else (names[0] if names else None)
        if parent is None:
            continue
        parent_runs = by_task[parent]["run_id"][by_task[parent]["start"].notna()]
        tasks[parent]["runtime"] = _runtime(parent_runs, kids, f"{name}/{parent}")
        if parent != caption:
            tasks[parent].yaml_add_eol_comment(f"runtime tasks {caption!r} assumed to be added"
                                               f" by {parent!r}", "runtime")
    fit.dependencies = add_dependencies(tasks, static, names, history, name)
    for tname in names:
        _condition(tasks[tname], cut[tname])
    doc["tasks"] = tasks
    return doc, fit


def _task_settings(tdoc: CommentedMap, rows: _Rows, status_of: dict[Any, Any]) -> None:
    """ignore_failure from Batch.IgnoreOnFail, else inferred from its job still ending."""
    given = rows.ignore[~np.isnan(rows.ignore)]
    if len(given):
        if given.mean() >= 0.5:
            tdoc["ignore_failure"] = True
            tdoc.yaml_add_eol_comment("Batch.IgnoreOnFail", "ignore_failure")
        return
    failed_runs = set(rows.run_id[rows.error].tolist())
    if any(status_of.get(run) == "Ended" for run in failed_runs):
        tdoc["ignore_failure"] = True
        tdoc.yaml_add_eol_comment("inferred: its job run still Ended after it failed",
                                  "ignore_failure")


def _condition(tdoc: CommentedMap, rows: _Rows) -> None:
    """``condition: any`` from Batch.ConstraintType (Any = 1) when the task waits for two or
    more tasks (with one, all and any are the same)."""
    after = tdoc.get("after") or {}
    if len(rows.any_type) and rows.any_type.mean() > 0.5 and len(after) > 1:
        position = list(tdoc).index("after") + 1
        tdoc.insert(position, "condition", "any", comment="Batch.ConstraintType Any")


def _mode(values: pd.Series) -> Any:
    values = values.dropna()
    return None if values.empty else values.mode().iloc[0]
