"""A run in F&O's own columns: the BatchJobHistory and BatchHistory tables F&O would show.

``to_fo_history(result)`` turns a run's tables (``Tables``; a ``Result`` is one) into the
two tables, with deterministic ids (``record_id``); ``simbatch.history.export`` writes
them as the CSV files ``simbatch.read_history`` reads back. docs/how-to/history-and-calibration.md
documents the
mapping (Result -> F&O) and the ids.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from simbatch.results.tables import Tables

__all__ = ["record_id", "to_fo_history"]


def record_id(*names: str) -> int:
    """A deterministic id from stable names: 53 bits of their BLAKE2b digest (see
    docs/how-to/history-and-calibration.md)."""
    digest = hashlib.blake2b("\x1f".join(names).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 11


def _utc_seconds(values: pd.Series) -> pd.Series:
    floored: pd.Series = values.dt.tz_convert("UTC").dt.floor("s")
    return floored


def to_fo_history(result: Tables, company: str = "DAT",
                  executed_by: str = "Admin") -> dict[str, pd.DataFrame]:
    """A simulated run as F&O's BatchJobHistory and BatchHistory tables.

    One BatchHistory row per task run: its attempts are folded into one row whose
    ``retryCount`` is the number of retries, as F&O shows a retried task. Times are UTC,
    floored to whole seconds, as F&O stores them; runtime children have ``RuntimeTask``
    1 and their parent's Caption. docs/how-to/history-and-calibration.md documents the ids.
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
    run_of = dict(zip(zip(jobs["job"], jobs["run"], strict=True), run_ids, strict=True))
    task_table = pd.DataFrame({
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
        "RuntimeTask": is_child.astype(np.int64),
        "Company": company,
    })
    return {"BatchJobHistory": job_table, "BatchHistory": task_table}
