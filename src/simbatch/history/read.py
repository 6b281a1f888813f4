"""F&O batch history in: read the exports a tenant can obtain into a ``History``.

``read_history(*paths)`` reads CSV (UTF-8, UTF-16 or cp1252), OData JSON and xlsx files
(``simbatch.history.tables``), recognises each table by its fields whatever the file is
called, types every cell (``simbatch.history.cells``), joins groups, priorities and task
settings (``simbatch.history.settings``) and dependencies (``simbatch.history.constraints``),
and returns tidy DataFrames with tz-aware UTC times, plus what the export could not show
(``History.gaps``) and what the reader decided (``History.notes``).
``simbatch.history.export`` goes the other way.

docs/how-to/history-and-calibration.md documents every column and both mappings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simbatch.errors import HistoryError
from simbatch.history import constraints as deps
from simbatch.history.cells import Table, TimeRule, flags, ids, labels, names, times
from simbatch.history.columns import STATUS_CODES, STATUS_WORDS, history_cap
from simbatch.history.gaps import gaps, looks_local
from simbatch.history.settings import apply_settings, priority_mapping, unique
from simbatch.history.tables import MAX_ROWS, RawTable, as_text, read_tables, recognise

__all__ = ["History", "read_history"]


@dataclass(frozen=True, eq=False)
class History:
    """A batch history: one row per job run (``jobs``) and per task run (``tasks``).

    Build one with ``simbatch.read_history(*paths)`` or ``History.from_tables(...)``.
    ``constraints`` holds the dependencies (task_id, depends_on, expect, run_id), from
    ``constraints_source``. ``gaps`` says, in words, what the export could not show;
    ``notes`` what the reader decided. docs/how-to/history-and-calibration.md documents
    every column.
    """

    jobs: pd.DataFrame
    tasks: pd.DataFrame
    constraints: pd.DataFrame
    gaps: tuple[str, ...]
    sources: tuple[str, ...] = ()
    columns: frozenset[str] = frozenset()
    """The columns the export had, as ``Table.Column`` (say ``BatchHistory.ServerId``)."""
    level: str = "task"
    """``"job"`` when the history has no BatchHistory (the BatchJobHistories entity, or
    BatchJobHistory alone): ``tasks`` then holds one synthesised task per job run."""
    constraints_source: str = "timing"
    """Where ``constraints`` came from: ``"BatchConstraintsHistory"``, ``"BatchConstraints"``
    or ``"timing"`` (none given: calibration infers the graph from timing)."""
    batch_jobs: pd.DataFrame | None = None
    """One row per BatchJob row when BatchJob was given (job_id, job, group, priority,
    priority_source, log_level, and start and recurrence when present)."""
    notes: tuple[str, ...] = ()
    """What the reader decided, in words (skipped sheets, time zone, constraints source, ...)."""

    @property
    def period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """The first and last moment the history covers (UTC)."""
        times = pd.concat([self.jobs["scheduled"], self.jobs["start"], self.jobs["end"]])
        return times.min(), times.max()

    def looks_local(self, zone: str) -> str | None:
        """A warning when naive times read as UTC look converted to local time in ``zone``
        (the scenario's): daily jobs that keep one raw clock time across its daylight-saving
        change. None when ``times_in`` was given or nothing suggests it."""
        if not any("without an offset read as UTC" in n for n in self.notes):
            return None  # times_in was given, or every time had its offset
        return looks_local(self.jobs, zone)

    @classmethod
    def from_tables(cls, job_history: pd.DataFrame, task_history: pd.DataFrame | None = None,
                    batch: pd.DataFrame | None = None, batch_job: pd.DataFrame | None = None,
                    constraints: pd.DataFrame | None = None,
                    source: str = "<tables>", batch_group: pd.DataFrame | None = None,
                    constraints_history: pd.DataFrame | None = None, *,
                    times_in: str | None = None, fo_version: str | None = None,
                    priority_codes: Mapping[int, str] | None = None) -> History:
        """A History from DataFrames in F&O's columns (BatchJobHistory, BatchHistory, ...)."""
        given = {"BatchJobHistory": job_history, "BatchHistory": task_history, "Batch": batch,
                 "BatchJob": batch_job, "BatchConstraints": constraints,
                 "BatchGroup": batch_group, "BatchConstraintsHistory": constraints_history}
        raws: dict[str, list[RawTable]] = {}
        for kind, frame in given.items():
            if frame is None:
                continue
            name = f"{source}[{kind}]"
            text = as_text(frame.reset_index(drop=True))
            found = recognise(name, list(text.columns))
            expected = "BatchConstraints" if kind == "BatchConstraintsHistory" else kind
            if found is None or (found[0] != expected and not (
                    kind == "BatchJobHistory" and found[0] == "BatchJobHistories")):
                what = "no batch table" if found is None else f"those of {found[0]}"
                raise HistoryError(name, f"expected the {kind} table, but its columns are"
                                   f" {what}")
            text = text.loc[:, list(found[1])].rename(columns=found[1])
            raws.setdefault(found[0], []).append(RawTable(
                found[0], name, text, np.arange(2, len(text) + 2, dtype=np.int64), kind))
        return _build(raws, (source,), [], TimeRule.of(times_in, None), fo_version,
                      priority_codes)


def read_history(*paths: str | Path, times_in: str | None = None,
                 date_format: str | None = None, fo_version: str | None = None,
                 priority_codes: Mapping[int, str] | None = None) -> History:
    """Read F&O batch history exports (CSV, OData JSON, xlsx) into a ``History``.

    BatchJobHistory (or the BatchJobHistories data entity) is required; BatchHistory,
    BatchConstraintsHistory, Batch, BatchJob, BatchGroup and BatchConstraints are optional
    (without BatchHistory the history is job-level). Tables are recognised by their fields,
    whatever the file is called, and several files of one table are joined.

    ``times_in``: the IANA zone the export's naive times are in (default UTC).
    ``date_format``: a strptime format for dates that are not ISO. ``fo_version``: the
    F&O version whose history cap applies (default: the current rule, 10.0.39 on).
    ``priority_codes``: numbers -> priorities, overriding the documented mapping.
    """
    if not paths:
        raise HistoryError("read_history", "give at least one history file")
    rule = TimeRule.of(times_in, date_format)
    history_cap(fo_version)
    priority_mapping(priority_codes)
    notes: list[str] = []
    raws: dict[str, list[RawTable]] = {}
    for path in paths:
        for raw in read_tables(Path(path), notes):
            raws.setdefault(raw.kind, []).append(raw)
    return _build(raws, tuple(str(p) for p in paths), notes, rule, fo_version, priority_codes)


def _combine(raws: Sequence[RawTable], notes: list[str]) -> Table:
    """One table from several files of the same kind, whole: a column one file lacks is
    empty in its rows (and noted), never dropped from the others."""
    rows = sum(len(r.frame) for r in raws)
    if rows > MAX_ROWS:
        raise HistoryError(" + ".join(r.source for r in raws), f"{rows:,} {raws[0].kind} rows"
                           f" together, more than the {MAX_ROWS:,} a history table may have")
    sources = np.concatenate([np.full(len(r.frame), r.source, dtype=object) for r in raws])
    if len(raws) == 1:
        r = raws[0]
        return Table(r.kind, r.source, r.frame, r.rows, sources, (r.name,))
    every = list(dict.fromkeys(c for r in raws for c in r.frame.columns))
    for r in raws:
        lacking = [c for c in every if c not in r.frame.columns]
        if lacking:
            notes.append(f"{r.source} has no {', '.join(lacking)} column, unlike the other"
                         f" {r.kind} files: empty in its {len(r.frame):,} rows")
    frame = pd.concat([r.frame for r in raws], ignore_index=True)
    return Table(raws[0].kind, " + ".join(r.source for r in raws), frame.loc[:, every],
                 np.concatenate([r.rows for r in raws]), sources, tuple(r.name for r in raws))


def _build(raws: dict[str, list[RawTable]], sources: tuple[str, ...], notes: list[str],
           rule: TimeRule, fo_version: str | None,
           priority_codes: Mapping[int, str] | None) -> History:
    """Check and type the tables, and join groups, priorities and dependencies in."""
    codes = priority_mapping(priority_codes)
    counts: dict[str, int] = {}
    job_kind = "BatchJobHistory" if "BatchJobHistory" in raws else "BatchJobHistories"
    if job_kind not in raws:
        found = [f"{r.source} ({r.kind})" for rs in raws.values() for r in rs]
        found += [n for n in notes if n.endswith("; skipped")]
        raise HistoryError(" ".join(sources), f"no BatchJobHistory table among the files"
                           f" (found: {'; '.join(found) or 'none'}); export BatchJobHistory"
                           " (and BatchHistory), or the BatchJobHistories entity")
    if job_kind == "BatchJobHistory" and "BatchJobHistories" in raws:
        notes.append("both BatchJobHistory and the BatchJobHistories entity given: the"
                     " entity is not used")
    tables = {k: _combine(rs, notes) for k, rs in raws.items() if k != "BatchConstraints"}
    present = frozenset(f"{t.kind}.{c}" for t in tables.values() for c in t.frame.columns)
    jt = tables[job_kind]
    if not len(jt):
        raise HistoryError(jt.source, f"the {job_kind} table has no rows: no job run to read")
    jobs = _jobs(jt, rule, counts, notes)
    if "BatchHistory" in tables:
        level = "task"
        tasks = _tasks(tables["BatchHistory"], jobs, rule, counts)
    else:
        level = "job"
        tasks = _job_tasks(jobs)
        notes.append(f"no BatchHistory: a job-level history; each of the {len(jobs):,} job"
                     " runs is read as one task of the job's name")
    batch_jobs = apply_settings(tables, jobs, tasks, codes, rule, counts, notes,
                                job_level=level == "job")
    history_ids = set(tasks["history_id"].dropna().astype("int64"))
    task_ids = set(tasks["task_id"])
    if "Batch" in tables:
        task_ids |= set(ids(tables["Batch"], "RecId"))
    cons_hist, cons_plain = deps.classify(raws.get("BatchConstraints", []), history_ids,
                                          task_ids, notes)
    cons, cons_source = deps.dependencies(
        _combine(cons_hist, notes) if cons_hist else None,
        _combine(cons_plain, notes) if cons_plain else None, tasks, notes)
    if cons_hist:
        present |= {f"BatchConstraintsHistory.{c}" for r in cons_hist for c in r.frame.columns}
    if cons_plain:
        present |= {f"BatchConstraints.{c}" for r in cons_plain for c in r.frame.columns}
    _check_period(jt, jobs, ["scheduled", "start", "end"])
    if level == "task":
        _check_period(tables["BatchHistory"], tasks, ["start", "end"], jobs)
    _cap(jobs, tasks, level, fo_version, notes)
    _time_notes(rule, counts, notes)
    found = gaps(tables, present, jobs, tasks, level, cons_source, fo_version)
    return History(jobs, tasks, cons, tuple(found), sources, present, level=level,
                   constraints_source=cons_source, batch_jobs=batch_jobs, notes=tuple(notes))


def _time_notes(rule: TimeRule, counts: dict[str, int], notes: list[str]) -> None:
    naive = counts.get("naive", 0)
    if not naive:
        return
    if rule.times_in == "UTC":
        notes.append(f"{naive:,} times without an offset read as UTC (F&O stores UTC; give"
                     " --times-in ZONE if the export converted them to local time)")
        return
    notes.append(f"{naive:,} times without an offset read as local time in {rule.times_in}"
                 " and converted to UTC")
    odd = counts.get("odd", 0)
    if odd:
        notes.append(f"{odd:,} of them fall where {rule.times_in}'s clocks change: a"
                     " repeated time is read as its first occurrence, a skipped one one hour"
                     " later")


def _cap(jobs: pd.DataFrame, tasks: pd.DataFrame, level: str, fo_version: str | None,
         notes: list[str]) -> None:
    rule, more_than, kept = history_cap(fo_version)
    counts = tasks.groupby("run_id", sort=False).size()
    jobs["capped"] = (jobs["run_id"].map(counts).eq(kept).to_numpy(dtype=bool)
                      if level == "task" else np.zeros(len(jobs), dtype=bool))
    notes.append(f"history cap ({rule}{' on' if rule == '10.0.39' else ''}): jobs of more"
                 f" than {more_than:,} tasks keep {kept:,} task rows;"
                 f" {int(jobs['capped'].sum()):,} runs have exactly {kept:,} (jobs.capped)")


_COLUMNS = {"scheduled": "OrigStartDateTime", "start": "StartDateTime", "end": "EndDateTime"}
GAP_DAYS = 366
"""Times separated from the others by more than this many days are refused as far outside
the history's period (a 1970 or 2262 among 2026 runs), however long the period itself."""


def _check_period(table: Table, frame: pd.DataFrame, columns: list[str],
                  jobs: pd.DataFrame | None = None) -> None:
    """Refuse the first time that lies more than ``GAP_DAYS`` away from all the others, on
    the side of the gap with fewer times (the job runs' times when ``jobs`` is given)."""
    day = 86_400 * 10**9
    stamps = [frame[c].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().view("int64")
              for c in columns]
    reference = stamps if jobs is None else [
        jobs[c].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().view("int64")
        for c in ("scheduled", "start", "end")]
    nat = np.iinfo(np.int64).min
    days = np.unique(np.concatenate([s[s != nat] for s in [*stamps, *reference]]) // day)
    if len(days) < 2:
        return
    steps = np.diff(days)
    if not (steps > GAP_DAYS).any():
        return
    ref = np.concatenate([s[s != nat] for s in reference]) // day
    counts = np.searchsorted(np.sort(ref), days, side="right")
    for k in np.flatnonzero(steps > GAP_DAYS):
        below, above = counts[k], len(ref) - counts[k]
        lo, hi = (days[0], days[k]) if below <= above else (days[k + 1], days[-1])
        for column, values in zip(columns, stamps, strict=True):
            out = (values != nat) & (values // day >= lo) & (values // day <= hi)
            if out.any():
                i = int(np.argmax(out))
                moment = pd.Timestamp(int(values[i])).tz_localize("UTC")
                raise table.error(i, _COLUMNS[column], f"{moment:%Y-%m-%d %H:%M:%S} (UTC) is"
                                  f" more than {GAP_DAYS} days from the history's other"
                                  " times: far outside its period")


def _check_order(table: Table, start: pd.Series, end: pd.Series) -> None:
    bad = (end < start).to_numpy(dtype=bool, na_value=False)
    if bad.any():
        i = int(np.argmax(bad))
        raise table.error(i, "EndDateTime", f"ends at {end.iloc[i]:%Y-%m-%d %H:%M:%S}, before"
                          f" its start {start.iloc[i]:%Y-%m-%d %H:%M:%S} (UTC)")


def _status(t: Table) -> pd.Series:
    return labels(t, "Status", STATUS_WORDS, STATUS_CODES, "status")


def _jobs(t: Table, rule: TimeRule, counts: dict[str, int], notes: list[str]) -> pd.DataFrame:
    start, end = times(t, "StartDateTime", rule, counts), times(t, "EndDateTime", rule, counts)
    scheduled = times(t, "OrigStartDateTime", rule, counts)
    _check_order(t, start, end)
    job_id = ids(t, "BatchJobId")
    if t.kind == "BatchJobHistories":
        run_id = np.arange(1, len(t) + 1, dtype=np.int64)
        notes.append(f"the BatchJobHistories entity has no RecId: its {len(t):,} job runs are"
                     " numbered 1, 2, ... in file order")
        caption = names(t, "JobDescription")
    else:
        run_id = ids(t, "RecId")
        unique(t, run_id, "RecId", "RecId")
        caption = names(t, "Caption")
    if caption.isna().any():
        fallback = pd.Series([f"Job {i}" for i in job_id])
        caption = pd.Series(pd.Categorical(caption.astype(object).where(caption.notna(),
                                                                        fallback)))
    return pd.DataFrame({
        "run_id": run_id, "job_id": job_id, "job": caption, "status": _status(t),
        "scheduled": scheduled, "start": start, "end": end,
        "company": names(t, "Company"), "executed_by": names(t, "ExecutedBy"),
    }).astype({"job": "category", "status": "category", "company": "category",
               "executed_by": "category"})


def _tasks(t: Table, jobs: pd.DataFrame, rule: TimeRule, counts: dict[str, int]
           ) -> pd.DataFrame:
    n = len(t)
    start, end = times(t, "StartDateTime", rule, counts), times(t, "EndDateTime", rule, counts)
    _check_order(t, start, end)
    task_id = ids(t, "BatchId")
    classes = (ids(t, "ClassNumber", required=False) if t.has("ClassNumber")
               else np.full(n, -1, dtype=np.int64))
    caption = names(t, "Caption")
    if caption.isna().any():
        fallback = pd.Series([f"Class {c}" if c >= 0 else f"Task {i}"
                              for c, i in zip(classes, task_id, strict=True)])
        caption = pd.Series(pd.Categorical(caption.astype(object).where(caption.notna(),
                                                                        fallback)))
    retries = (np.maximum(ids(t, "retryCount", required=False, most=100), 0)
               if t.has("retryCount") else np.zeros(n, dtype=np.int64))
    runtime = (flags(t, "RuntimeTask").fillna(False).to_numpy(dtype=bool)
               if t.has("RuntimeTask") else np.zeros(n, dtype=bool))
    run_id = ids(t, "BatchJobHistoryId")
    where = pd.Index(jobs["run_id"]).get_indexer(run_id)
    if (where < 0).any():
        i = int(np.argmax(where < 0))
        raise t.error(i, "BatchJobHistoryId", f"no job run with RecId {run_id[i]} in the"
                      " BatchJobHistory table")
    pairs = pd.DataFrame({"run": run_id, "task": task_id})
    dup = pairs.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        first = int(np.argmax((run_id == run_id[i]) & (task_id == task_id[i])))
        source, row = t.where(first)
        also = f"row {row}" if source == t.where(i)[0] else f"{source} row {row}"
        raise t.error(i, "BatchId", "duplicate task run: this BatchId is already in this"
                      f" BatchJobHistoryId (also on {also})")
    recid = ids(t, "RecId", required=False) if t.has("RecId") else np.full(n, -1, np.int64)
    history_id = pd.Series(recid, dtype="Int64").mask(recid < 0).array
    limit = (ids(t, "retriesOnFailure", required=False, most=100)
             if t.has("retriesOnFailure") else np.full(n, -1, dtype=np.int64))
    retry_limit = pd.Series(limit, dtype="Int64").mask(limit < 0).array
    return pd.DataFrame({
        "run_id": run_id, "job_id": ids(t, "BatchJobId"), "job": jobs["job"].array.take(where),
        "task_id": task_id, "task": caption,
        "class_number": pd.Series(classes, dtype="Int64").mask(classes < 0).to_numpy(),
        "server": names(t, "ServerId"), "status": _status(t), "start": start, "end": end,
        "retries": retries, "runtime": runtime, "company": names(t, "Company"),
        "history_id": history_id,
        "constraint_type": pd.Categorical([None] * n, categories=["all", "any"]),
        "ignore_on_fail": pd.array([pd.NA] * n, dtype="boolean"),
        "retry_limit": retry_limit,
    }).astype({"class_number": "Int64", "task": "category", "server": "category",
               "status": "category", "company": "category"})


def _job_tasks(jobs: pd.DataFrame) -> pd.DataFrame:
    """One task per job run, for a job-level history: the run's name, times and status."""
    n = len(jobs)
    return pd.DataFrame({
        "run_id": jobs["run_id"].to_numpy(), "job_id": jobs["job_id"].to_numpy(),
        "job": jobs["job"].array, "task_id": jobs["job_id"].to_numpy(),
        "task": pd.Categorical(jobs["job"].astype(str)),
        "class_number": pd.array([pd.NA] * n, dtype="Int64"),
        "server": pd.Categorical([None] * n), "status": jobs["status"].array,
        "start": jobs["start"].to_numpy(), "end": jobs["end"].to_numpy(),
        "retries": np.zeros(n, dtype=np.int64), "runtime": np.zeros(n, dtype=bool),
        "company": jobs["company"].array,
        "history_id": pd.array([pd.NA] * n, dtype="Int64"),
        "constraint_type": pd.Categorical([None] * n, categories=["all", "any"]),
        "ignore_on_fail": pd.array([pd.NA] * n, dtype="boolean"),
        "retry_limit": pd.array([pd.NA] * n, dtype="Int64"),
    }).astype({"start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]"})

