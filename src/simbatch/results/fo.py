"""A run in F&O's own columns: the batch tables F&O would hold after it.

``to_fo_history(result)`` turns a run's tables (``Tables``; a ``Result`` is one) into the
tables a round trip needs, with deterministic ids (``record_id``): the two history tables
(BatchJobHistory, BatchHistory), the jobs and tasks as set up (BatchJob, Batch), the
dependencies of each run (BatchConstraintsHistory) and the groups (BatchGroup).
``simbatch.history.export`` writes them as the CSV files ``simbatch.read_history`` reads
back. docs/how-to/history-and-calibration.md documents the mapping (Result -> F&O) and the
ids; the column names are those of Microsoft's Common Data Model table definitions.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from simbatch.results.tables import Tables

__all__ = ["FO_TABLES", "PRIORITY_LABELS", "record_id", "to_fo_history"]

FO_TABLES = ("BatchJobHistory", "BatchHistory", "BatchJob", "Batch", "BatchConstraintsHistory",
             "BatchGroup")
"""The tables ``to_fo_history`` returns, in this order."""
PRIORITY_LABELS = {"low": "Low", "normal": "Normal", "high": "High", "critical": "Critical",
                   "reserved": "Reserved capacity"}
"""A scenario priority -> the label F&O shows for BatchJob/BatchGroup.SchedulingPriority."""
_EXPECTED = {"ended": "Ended", "error": "Error", "ended or error": "Ended or error"}
"""A scenario dependency status -> F&O's label of BatchConstraints*.ExpectedStatus."""
CONSTRAINT_TYPE = {"all": 0, "any": 1}
"""Batch.ConstraintType: All = 0, Any = 1."""


def record_id(*names: str) -> int:
    """A deterministic id from stable names: 53 bits of their BLAKE2b digest (see
    docs/how-to/history-and-calibration.md)."""
    digest = hashlib.blake2b("\x1f".join(names).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 11


def _utc_seconds(values: pd.Series) -> pd.Series:
    floored: pd.Series = values.dt.tz_convert("UTC").dt.floor("s")
    return floored


def _group(name: str) -> str:
    """A group as F&O writes it: simbatch's ``default`` is F&O's empty group."""
    return "" if name == "default" else name


def to_fo_history(result: Tables, company: str = "DAT",
                  executed_by: str = "Admin") -> dict[str, pd.DataFrame]:
    """A simulated run as F&O's batch tables (``FO_TABLES``, in that order).

    One BatchHistory row per task run: its attempts are folded into one row whose
    ``retryCount`` is the number of retries, as F&O shows a retried task. Times are UTC,
    floored to whole seconds, as F&O stores them; runtime children have ``RuntimeTask``
    1 and their parent's Caption. BatchConstraintsHistory points to BatchHistory.RecId (each
    run's task rows), as F&O's does. docs/how-to/history-and-calibration.md documents the
    ids.
    """
    scenario = result.scenario
    jobs, tasks = result.jobs, result.tasks
    job_ids = {j.name: record_id("job", j.name) for j in scenario.jobs}
    run_ids = [record_id("run", str(j), str(r)) for j, r in zip(jobs["job"], jobs["run"],
                                                                  strict=True)]
    job_table = pd.DataFrame({
        "RecId": np.array(run_ids, dtype=np.int64),
        "BatchJobId": jobs["job"].map(job_ids).astype("int64").to_numpy(),
        "Caption": jobs["job"].to_numpy(),
        "Status": jobs["status"].to_numpy(),
        "OrigStartDateTime": _utc_seconds(jobs["scheduled"]),
        "StartDateTime": _utc_seconds(jobs["start"]),
        "EndDateTime": _utc_seconds(jobs["end"]),
        "Company": company,
        "ExecutedBy": executed_by,
    })
    keys = ["job", "run", "task"]
    grouped = tasks.groupby(keys, sort=False, observed=True)
    folded = grouped.agg(start=("start", "first"), end=("end", "last"),
                         status=("status", "last"), server=("server", "last"),
                         attempts=("attempt", "max")).reset_index()
    parents = {(j.name, t.name): t for j in scenario.jobs for t in j.tasks}
    classes = {(j.name, t.name): t.task_class or f"{j.name}/{t.name}"
               for j in scenario.jobs for t in j.tasks}
    names = folded[["job", "task"]].drop_duplicates()
    caption, runtime, class_number = {}, {}, {}
    for job, task in names.itertuples(index=False):
        head, _, number = str(task).rpartition(" #")
        child = (head and number.isdigit() and (job, head) in parents
                 and parents[(job, head)].runtime is not None)
        own = head if child else str(task)
        caption[(job, task)] = own
        runtime[(job, task)] = bool(child)
        class_number[(job, task)] = record_id("class", classes[(job, own)]) >> 22
    pairs = list(zip(folded["job"], folded["task"], strict=True))
    is_child = np.array([runtime[p] for p in pairs], dtype=bool)
    static_ids = {(j, t): record_id("task", str(j), str(t))
                  for j, t in zip(names["job"], names["task"], strict=True)}
    batch_ids = np.array([
        record_id("task", str(j), str(t), str(r)) if child else static_ids[(j, t)]
        for (j, t), r, child in zip(pairs, folded["run"], is_child, strict=True)],
        dtype=np.int64)
    history_ids = np.array([record_id("history", str(j), str(r), str(t)) for (j, t), r in
                            zip(pairs, folded["run"], strict=True)], dtype=np.int64)
    run_of = dict(zip(zip(jobs["job"], jobs["run"], strict=True), run_ids, strict=True))
    limit = [0 if child else parents[p].retries for p, child in zip(pairs, is_child,
                                                                    strict=True)]
    task_table = pd.DataFrame({
        "RecId": history_ids,
        "BatchJobHistoryId": np.array([run_of[(j, r)] for j, r in zip(
            folded["job"], folded["run"], strict=True)], dtype=np.int64),
        "BatchJobId": folded["job"].map(job_ids).astype("int64").to_numpy(),
        "BatchId": batch_ids,
        "Caption": [caption[p] for p in pairs],
        "ClassNumber": np.array([class_number[p] for p in pairs], dtype=np.int64),
        "ServerId": folded["server"].to_numpy(),
        "Status": folded["status"].to_numpy(),
        "StartDateTime": _utc_seconds(folded["start"]),
        "EndDateTime": _utc_seconds(folded["end"]),
        "retryCount": (folded["attempts"] - 1).astype("int64").to_numpy(),
        "retriesOnFailure": np.array(limit, dtype=np.int64),
        "RuntimeTask": is_child.astype(np.int64),
        "Company": company,
    })
    history_of = dict(zip(zip(folded["job"].astype(str), folded["run"].tolist(),
                              folded["task"].astype(str), strict=True),
                          history_ids.tolist(), strict=True))
    return {"BatchJobHistory": job_table, "BatchHistory": task_table,
            **_setup_tables(result, job_ids, company),
            "BatchConstraintsHistory": _constraints(result, history_of),
            "BatchGroup": _group_table(result)}


def _priority(result: Tables, job_priority: str | None, group: str) -> str:
    groups = {g.name: g for g in result.scenario.groups}
    own = job_priority or (groups[group].priority if group in groups else "normal")
    return PRIORITY_LABELS[own]


def _setup_tables(result: Tables, job_ids: dict[str, int], company: str
                  ) -> dict[str, pd.DataFrame]:
    """BatchJob (one row per job) and Batch (one row per static task), as set up.

    BatchJob.OrigStartDateTime is the job's first due time; its recurrence is not written
    (F&O keeps it in ``recurrenceData``, a binary field no export can read back).
    """
    scenario = result.scenario
    job_rows = [{
        "RecId": job_ids[j.name], "Caption": j.name, "BatchGroup": _group(j.group),
        "SchedulingPriority": _priority(result, j.priority, j.group),
        "SchedulingPriorityIsOverridden": int(j.priority is not None),
        "LogLevel": "Always",  # a simulation records every run
        "OrigStartDateTime": pd.Timestamp(j.start).tz_convert("UTC").floor("s"),
        "Company": company} for j in scenario.jobs]
    classes = {(j.name, t.name): t.task_class or f"{j.name}/{t.name}"
               for j in scenario.jobs for t in j.tasks}
    task_rows = [{
        "RecId": record_id("task", j.name, t.name), "BatchJobId": job_ids[j.name],
        "GroupId": _group(t.group), "Caption": t.name,
        "ClassNumber": record_id("class", classes[(j.name, t.name)]) >> 22,
        "ConstraintType": CONSTRAINT_TYPE[t.condition], "IgnoreOnFail": int(t.ignore_failure),
        "retriesOnFailure": t.retries, "Company": company}
        for j in scenario.jobs for t in j.tasks]
    job_columns = ["RecId", "Caption", "BatchGroup", "SchedulingPriority",
                   "SchedulingPriorityIsOverridden", "LogLevel", "OrigStartDateTime", "Company"]
    task_columns = ["RecId", "BatchJobId", "GroupId", "Caption", "ClassNumber",
                    "ConstraintType", "IgnoreOnFail", "retriesOnFailure", "Company"]
    batch_job = pd.DataFrame(job_rows, columns=job_columns)
    batch_job["OrigStartDateTime"] = pd.to_datetime(batch_job["OrigStartDateTime"], utc=True)
    return {"BatchJob": batch_job.astype({"RecId": "int64"}),
            "Batch": pd.DataFrame(task_rows, columns=task_columns).astype(
                {"RecId": "int64", "BatchJobId": "int64"})}


def _constraints(result: Tables, history_of: dict[tuple[str, int, str], int]) -> pd.DataFrame:
    """BatchConstraintsHistory: each run's dependencies between its BatchHistory rows."""
    graph = [(j.name, t.name, d.task, d.expect) for j in result.scenario.jobs
             for t in j.tasks for d in t.after]
    runs: dict[str, list[int]] = {}
    for job, run in zip(result.jobs["job"].astype(str), result.jobs["run"].tolist(),
                        strict=True):
        runs.setdefault(job, []).append(int(run))
    rows = []
    for job, task, on, expect in graph:
        for run in runs.get(job, []):
            mine, theirs = history_of.get((job, run, task)), history_of.get((job, run, on))
            if mine is None or theirs is None:
                continue  # a task the run never recorded has no history row to point to
            rows.append((record_id("constraint", job, str(run), task, on), mine, theirs,
                         _EXPECTED[expect]))
    return pd.DataFrame(rows, columns=["RecId", "BatchId", "DependsOnBatchId",
                                       "ExpectedStatus"]).astype(
        {"RecId": "int64", "BatchId": "int64", "DependsOnBatchId": "int64"})


def _group_table(result: Tables) -> pd.DataFrame:
    """BatchGroup: every group of the scenario (``default`` as F&O's empty group)."""
    rows = [{"Group": _group(g.name), "Description": g.name,
             "SchedulingPriority": PRIORITY_LABELS[g.priority]}
            for g in result.scenario.groups]
    return pd.DataFrame(rows, columns=["Group", "Description", "SchedulingPriority"])
