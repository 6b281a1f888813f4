"""What a history's job and task definitions add: groups, priorities, log levels, task settings.

From BatchJob (group, scheduling priority, log level, schedule), BatchGroup (the group's
priority) and Batch (the task's group, ConstraintType, IgnoreOnFail, retriesOnFailure),
joined onto the job and task runs by BatchJobId and BatchId. A job's priority is its
own ``BatchJob.SchedulingPriority`` when ``SchedulingPriorityIsOverridden`` is set (or when
that column is absent), else its group's ``BatchGroup.SchedulingPriority``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from simbatch.errors import UsageError
from simbatch.history.cells import Table, TimeRule, flags, ids, labels, names, shown, times
from simbatch.history.columns import (
    CONSTRAINT_CODES,
    CONSTRAINT_WORDS,
    LOG_LEVEL_CODES,
    LOG_LEVEL_WORDS,
    PRIORITY_CODES,
    PRIORITY_WORDS,
)

__all__ = ["LEVELS", "PRIORITIES", "SOURCES", "apply_settings", "priority_mapping",
           "unique"]

PRIORITIES = ["low", "normal", "high", "critical", "reserved"]
SOURCES = ["BatchJob", "BatchGroup"]
LEVELS = ["always", "errors only", "never"]


def priority_mapping(priority_codes: Mapping[int, str] | None) -> dict[int, str]:
    """The number -> priority mapping: the documented one, with the user's overrides."""
    out = dict(PRIORITY_CODES)
    for key, value in (priority_codes or {}).items():
        label = PRIORITY_WORDS.get(str(value).strip().lower())
        if isinstance(key, bool) or not isinstance(key, int | np.integer) or label is None:
            raise UsageError(f"priority_codes: expected whole numbers mapped to one of"
                             f" {', '.join(PRIORITIES)}, got {shown(key)}: {shown(value)}")
        out[int(key)] = label
    return out


def unique(table: Table, values: np.ndarray, column: str, what: str) -> None:
    """Refuse a repeated key, naming both rows."""
    dup = pd.Series(values).duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        first = int(np.argmax(values == values[i]))
        source, row = table.where(first)
        also = f"row {row}" if source == table.where(i)[0] else f"{source} row {row}"
        raise table.error(i, column, f"duplicate {what} (also on {also})")


def _take(values: pd.Series | np.ndarray, keys: np.ndarray, wanted: np.ndarray,
          categories: list[str] | None = None) -> pd.Categorical:
    """``values`` (one per key) for each wanted key; NA where absent."""
    where = pd.Index(keys).get_indexer(wanted)
    cats = pd.Categorical(np.asarray(values, dtype=object), categories=categories)
    return cats.take(where, allow_fill=True)


def _group_priorities(bg: Table, codes: Mapping[int, str]) -> dict[str, str]:
    """Each group's priority (the default group is "")."""
    group = names(bg, "Group").astype(object).fillna("").to_numpy()
    unique(bg, group, "Group", "group")
    if not bg.has("SchedulingPriority"):
        return {}
    prio = labels(bg, "SchedulingPriority", PRIORITY_WORDS, codes, "priority", required=False)
    return {g: p for g, p in zip(group, prio.astype(object), strict=True) if pd.notna(p)}


def _batch_jobs(bj: Table, groups: dict[str, str] | None, codes: Mapping[int, str],
                rule: TimeRule, counts: dict[str, int]) -> pd.DataFrame:
    job_id = ids(bj, "RecId")
    unique(bj, job_id, "RecId", "RecId")
    group = names(bj, "BatchGroup")
    own = pd.Series([None] * len(bj), dtype=object)
    if bj.has("SchedulingPriority"):
        own = labels(bj, "SchedulingPriority", PRIORITY_WORDS, codes, "priority",
                     required=False).astype(object)
        if bj.has("SchedulingPriorityIsOverridden"):
            overridden = flags(bj, "SchedulingPriorityIsOverridden").fillna(False)
            own = own.where(overridden.to_numpy(dtype=bool), None)
    elif bj.has("Priority"):
        own = labels(bj, "Priority", PRIORITY_WORDS, {}, "priority",
                     required=False).astype(object)
    by_group = pd.Series(group.astype(object).fillna("")).map(groups or {})
    priority = own.where(own.notna(), by_group)
    source = [("BatchJob" if o else "BatchGroup" if g else None)
              for o, g in zip(own.notna(), by_group.notna(), strict=True)]
    caption = names(bj, "Caption").astype(object)
    caption = caption.where(caption.notna(), pd.Series([f"Job {i}" for i in job_id]))
    frame = pd.DataFrame({
        "job_id": job_id,
        "job": pd.Categorical(caption),
        "group": pd.Categorical(group),
        "priority": pd.Categorical(priority, categories=PRIORITIES),
        "priority_source": pd.Categorical(source, categories=SOURCES),
        "log_level": (labels(bj, "LogLevel", LOG_LEVEL_WORDS, LOG_LEVEL_CODES, "log level",
                             required=False).astype(pd.CategoricalDtype(LEVELS))
                      if bj.has("LogLevel") else pd.Categorical([None] * len(bj),
                                                                categories=LEVELS)),
    })
    if bj.has("OrigStartDateTime"):
        frame["start"] = times(bj, "OrigStartDateTime", rule, counts).to_numpy()
    if bj.has("recurrenceData"):
        recurrence = names(bj, "recurrenceData").astype(object)
        frame["recurrence"] = pd.Series(list(recurrence.where(recurrence.notna(), None)),
                                        dtype=object)
    return frame


def apply_settings(tables: Mapping[str, Table], jobs: pd.DataFrame, tasks: pd.DataFrame,
                   codes: Mapping[int, str], rule: TimeRule, counts: dict[str, int],
                   notes: list[str], job_level: bool = False) -> pd.DataFrame | None:
    """Set the jobs' group, priority, priority_source and log_level and the tasks' group,
    constraint_type, ignore_on_fail and retry_limit; return the BatchJob rows (or None)."""
    none = [None] * len(jobs)
    jobs["group"] = pd.Categorical(none)
    jobs["priority"] = pd.Categorical(none, categories=PRIORITIES)
    jobs["priority_source"] = pd.Categorical(none, categories=SOURCES)
    jobs["log_level"] = pd.Categorical(none, categories=LEVELS)
    tasks["group"] = pd.Categorical([None] * len(tasks))
    groups = _group_priorities(tables["BatchGroup"], codes) if "BatchGroup" in tables else None
    batch_jobs = None
    if "BatchJob" in tables:
        batch_jobs = _batch_jobs(tables["BatchJob"], groups, codes, rule, counts)
        keys = batch_jobs["job_id"].to_numpy()
        for column in ("group", "priority", "priority_source", "log_level"):
            cats = batch_jobs[column].cat.categories.tolist()
            jobs[column] = _take(batch_jobs[column], keys, jobs["job_id"].to_numpy(), cats)
        tasks["group"] = _take(batch_jobs["group"], keys, tasks["job_id"].to_numpy())
        missing = int((~jobs["job_id"].isin(keys)).sum())
        if missing:
            notes.append(f"{missing:,} job runs have no BatchJob row (a deleted or one-off"
                         " job): their group, priority and log level are unknown")
    elif groups is not None:
        notes.append("a BatchGroup table without BatchJob: jobs cannot be linked to their"
                     " groups, so group priorities are not used")
    if "Batch" in tables and job_level:
        notes.append("a Batch table in a job-level history: task settings are not used")
    elif "Batch" in tables:
        b = tables["Batch"]
        keys = ids(b, "RecId")
        unique(b, keys, "RecId", "RecId")
        wanted = tasks["task_id"].to_numpy()
        own = pd.Series(_take(names(b, "GroupId"), keys, wanted)).astype(object)
        tasks["group"] = pd.Categorical(own.where(own.notna(), tasks["group"].astype(object)))
        if b.has("ConstraintType"):
            kind = labels(b, "ConstraintType", CONSTRAINT_WORDS, CONSTRAINT_CODES,
                          "constraint type", required=False)
            tasks["constraint_type"] = _take(kind, keys, wanted, ["all", "any"])
        if b.has("IgnoreOnFail"):
            where = pd.Index(keys).get_indexer(wanted)
            ignore = flags(b, "IgnoreOnFail").array.take(where, allow_fill=True)
            tasks["ignore_on_fail"] = pd.array(ignore, dtype="boolean")
        if b.has("retriesOnFailure"):
            limit = ids(b, "retriesOnFailure", required=False, most=100)
            where = pd.Index(keys).get_indexer(wanted)
            found = pd.array(np.where(limit >= 0, limit, 0), dtype="Int64")
            found[limit < 0] = pd.NA
            batch_limit = found.take(where, allow_fill=True)
            current = tasks["retry_limit"].array
            tasks["retry_limit"] = pd.array(np.where(pd.isna(current), batch_limit, current),
                                            dtype="Int64")
    return batch_jobs
