"""A job's document: its group, schedule, priority and tasks (durations, failures, retries,
runtime tasks and dependencies), from its runs and task rows.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from ruamel.yaml.comments import CommentedMap

from simbatch.history.calibration.dependencies import add_dependencies
from simbatch.history.calibration.document import flow_list, flow_map, thousands
from simbatch.history.calibration.durations import fit_duration
from simbatch.history.calibration.schedules import infer_schedule
from simbatch.history.read import History

__all__ = ["FINAL", "job_document"]

FINAL = ("Ended", "Error")
"""The final statuses of a run or task run."""


def _failures(rows: pd.DataFrame) -> tuple[float, int, str]:
    """The per-attempt error share and retries, from final rows and their retryCount."""
    final = rows[rows["status"].isin(FINAL)]
    retries = final["retries"].to_numpy()
    attempts = int(len(final) + retries.sum())
    errors = int(retries.sum() + (final["status"] == "Error").sum())
    share = errors / attempts if attempts else 0.0
    most = int(retries.max()) if len(retries) else 0
    text = (f"{thousands(errors)} errors in {thousands(attempts)} attempts ({share:.2%}):"
            " each row's retryCount k counts k failed attempts before its final status")
    if most:
        text += f"; retryCount up to {most}"
    return share, min(most, 5), text


def _task_doc(rows: pd.DataFrame, key: str) -> CommentedMap:
    doc = CommentedMap()
    single = rows[rows["status"].isin(FINAL) & rows["start"].notna() & rows["end"].notna()
                  & (rows["retries"] == 0)]
    seconds = (single["end"] - single["start"]).dt.total_seconds().to_numpy()
    value, why = fit_duration(seconds, key)
    left = int((rows["retries"] > 0).sum())
    if left:
        why += f"; {thousands(left)} rows with retries left out (they span several attempts)"
    doc["duration"] = value
    doc.yaml_add_eol_comment(why, "duration")
    share, retries, text = _failures(rows)
    if share > 0:
        doc["fail"] = round(share, 4)
        doc.yaml_add_eol_comment(text, "fail")
        if retries:
            doc["retries"] = retries
    return doc


def _runtime(parent_runs: pd.Series, children: pd.DataFrame, key: str) -> CommentedMap:
    counts = children.groupby("run_id", observed=True).size().reindex(
        parent_runs.to_numpy(), fill_value=0).to_numpy()
    out = CommentedMap()
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


def job_document(name: str, runs: pd.DataFrame, rows: pd.DataFrame, history: History,
             zone: ZoneInfo, period: tuple[pd.Timestamp, pd.Timestamp],
             scheduling: str, known_groups: set[str] | None) -> tuple[CommentedMap, str | None]:
    doc = CommentedMap()
    group = _mode(pd.concat([runs["group"].astype(object), rows["group"].astype(object)]))
    if group is not None and (known_groups is None or group in known_groups):
        doc["group"] = group
    schedule, why = infer_schedule(runs["scheduled"], runs["start"], zone, period)
    for key, value in schedule.items():
        doc[key] = value
    main = next(k for k in ("recurrence", "arrivals", "start") if k in schedule)
    doc.yaml_add_eol_comment(why, main)
    priority = _mode(runs["priority"].astype(object))
    if priority is not None and scheduling == "priority":
        doc["priority"] = priority
    static = rows[~rows["runtime"]]
    children = rows[rows["runtime"]]
    run_start = runs.set_index("run_id")["start"]
    offset = (static["start"].reset_index(drop=True)
              - run_start.reindex(static["run_id"].to_numpy()).reset_index(drop=True))
    order = (pd.DataFrame({"task": static["task"].to_numpy(), "offset": offset})
             .groupby("task", observed=True)["offset"].median()
             .sort_values(na_position="last"))
    names = [str(t) for t in order.index]
    tasks = CommentedMap()
    by_task = {str(k): v for k, v in static.groupby("task", observed=True)}
    child_by = {str(k): v for k, v in children.groupby("task", observed=True)}
    for tname in names:
        mine = by_task[tname]
        tdoc = _task_doc(mine, f"{name}/{tname}")
        failed_runs = set(mine.loc[mine["status"] == "Error", "run_id"])
        if failed_runs and (runs.set_index("run_id").loc[sorted(failed_runs), "status"]
                            == "Ended").any():
            tdoc["ignore_failure"] = True
            tdoc.yaml_add_eol_comment("its job run still Ended after it failed",
                                      "ignore_failure")
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
    add_dependencies(tasks, static, names, history, name)
    doc["tasks"] = tasks
    return doc, group


def _mode(values: pd.Series) -> Any:
    values = values.dropna()
    return None if values.empty else values.mode().iloc[0]
