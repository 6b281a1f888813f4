"""F&O batch history in: read BatchJobHistory / BatchHistory exports into a ``History``.

``read_history(*paths)`` reads CSV files and the xlsx workbooks that F&O's "Open in
Microsoft Excel" produces, recognises each table by its columns
(``simbatch.history.columns``), checks every row and returns a ``History``: tidy
DataFrames with tz-aware UTC times, plus what the export could not show
(``History.gaps``). ``simbatch.history.export`` goes the other way: a simulated run
written as the same two tables, in F&O's own columns.

docs/how-to/history-and-calibration.md documents every column and both mappings (F&O -> History,
Result -> F&O).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simbatch.errors import HistoryError
from simbatch.history.columns import (
    CAPPED_ROWS,
    DEPENDENCY_CODES,
    DEPENDENCY_WORDS,
    NULL_DATE,
    PRIORITY_WORDS,
    SIGNATURE,
    STATUS_CODES,
    STATUS_WORDS,
    TABLES,
)

__all__ = ["History", "read_history"]


# ---- one table, as read ---------------------------------------------------------------------

@dataclass
class _Table:
    """One table of one file (or sheet): its name, its frame and where its rows came from."""

    kind: str
    source: str
    frame: pd.DataFrame
    rows: np.ndarray
    """The row number of each row in its file, as a spreadsheet counts (header = row 1)."""
    sources: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    def where(self, i: int) -> tuple[str, int]:
        """The file and row of row ``i``."""
        src = str(self.sources[i]) if len(self.sources) else self.source
        return src, int(self.rows[i])


def _error(table: _Table, i: int, column: str, problem: str) -> HistoryError:
    source, row = table.where(i)
    return HistoryError(source, problem, row=row, column=column)


def _recognise(source: str, frame: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """Which F&O table a frame is, from its columns, and the frame in F&O's spelling."""
    by_lower = {str(c).strip().lower(): c for c in frame.columns}
    best, best_score = None, 0.0
    for kind, (required, _optional) in TABLES.items():
        present = sum(name.lower() in by_lower for name in required)
        score = present / len(required)
        if SIGNATURE[kind].lower() in by_lower:
            score += 1
        elif present < 2:
            continue
        if score > best_score:
            best, best_score = kind, score
    if best is None or best_score < 0.5:
        shown = ", ".join(map(str, frame.columns[:8])) + (", ..." if len(frame.columns) > 8
                                                          else "")
        raise HistoryError(source, "not a batch history table: its columns"
                           f" ({shown or 'none'}) match none of {', '.join(TABLES)}")
    required, optional = TABLES[best]
    renames = {by_lower[n.lower()]: n for n in (*required, *optional) if n.lower() in by_lower}
    frame = frame.rename(columns=renames)
    for name in required:
        if name not in frame.columns:
            raise HistoryError(source, f"the {best} table has no column {name!r} (required:"
                               f" {', '.join(required)})")
    return best, frame


def _read_file(path: Path) -> list[_Table]:
    """The tables in one CSV file or workbook."""
    source = str(path)
    try:
        if path.stat().st_size == 0:
            raise HistoryError(source, "the file is empty")
    except FileNotFoundError:
        raise HistoryError(source, "no such file") from None
    frames: list[tuple[str, pd.DataFrame]]
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            sheets = pd.read_excel(path, sheet_name=None, engine="openpyxl")
        except (ValueError, OSError, KeyError) as exc:
            raise HistoryError(source, f"cannot be read as a workbook: {exc}") from None
        frames = [(f"{source}[{name}]", sheet) for name, sheet in sheets.items()
                  if len(sheet.columns)]
        if not frames:
            raise HistoryError(source, "the file is empty")
    else:
        try:
            frame = _read_csv(path)
        except (ValueError, OSError) as exc:
            text = path.read_bytes()[:4096].decode("utf-8", "replace")
            if not text.strip():
                raise HistoryError(source, "the file is empty") from None
            reason = " ".join(str(exc).split())
            raise HistoryError(source, f"cannot be read as CSV: {reason}") from None
        frames = [(source, frame)]
    tables = []
    for name, frame in frames:
        kind, frame = _recognise(name, frame)
        rows = np.arange(2, len(frame) + 2, dtype=np.int64)
        tables.append(_Table(kind, name, frame.reset_index(drop=True), rows))
    return tables


def _read_csv(path: Path) -> pd.DataFrame:
    """A CSV file through pyarrow: parsed in threads, text columns dictionary-encoded."""
    import pyarrow.csv as pacsv  # type: ignore[import-untyped]

    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        strings_can_be_null=True, auto_dict_encode=True, auto_dict_max_cardinality=1 << 20))
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _combine(tables: list[_Table]) -> _Table:
    """One table from several files of the same kind, each row remembering its file."""
    if len(tables) == 1:
        t = tables[0]
        return _Table(t.kind, t.source, t.frame, t.rows,
                      np.full(len(t.frame), t.source, dtype=object))
    columns = [c for c in tables[0].frame.columns if all(c in t.frame.columns for t in tables)]
    frame = pd.concat([t.frame[columns] for t in tables], ignore_index=True)
    return _Table(tables[0].kind, " + ".join(t.source for t in tables), frame,
                  np.concatenate([t.rows for t in tables]),
                  np.concatenate([np.full(len(t.frame), t.source, dtype=object)
                                  for t in tables]))


# ---- typed columns ----------------------------------------------------------------------------

def _blank(values: pd.Series) -> np.ndarray:
    """Which raw cells are empty."""
    text = values.astype("string")
    return np.asarray((text.isna() | (text.str.strip() == "")).to_numpy(dtype=bool))


def _ids(table: _Table, column: str, required: bool = True) -> np.ndarray:
    """A column of whole-number ids as int64 (-1 where empty and allowed)."""
    raw = table.frame[column]
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna().to_numpy(dtype=bool)
    blank = _blank(raw) if bad.any() else bad
    values = numbers.to_numpy(dtype="float64", na_value=np.nan)
    whole = ~bad & ((values != np.floor(values)) | (values < 0))
    problem = (bad & ~blank) | whole | (blank & required)
    if problem.any():
        i = int(np.argmax(problem))
        what = "no id" if blank[i] else f"not a whole-number id: {raw.iloc[i]!r}"
        raise _error(table, i, column, what)
    out = np.where(bad, -1, np.nan_to_num(values, nan=-1)).astype(np.int64)
    return np.asarray(out)


def _labels(table: _Table, column: str, words: Mapping[str, str], codes: Mapping[int, str],
            what: str) -> pd.Series:
    """Status-like labels from labels or enum numbers, refusing an unknown value."""
    raw = table.frame[column]
    cats = raw.astype("category")
    mapping: dict[Any, str] = {}
    for value in cats.cat.categories:
        text = str(value).strip()
        key = " ".join(text.lower().replace("'", "").replace("\u2019", "").split())
        label = words.get(key) or words.get(key.replace(" ", ""))
        if label is None and re.fullmatch(r"\d+(\.0)?", text):
            label = codes.get(int(float(text)))
        if label is None:
            continue
        mapping[value] = label
    known = np.array([c in mapping for c in cats.cat.categories] + [False], dtype=bool)
    unknown = ~known[cats.cat.codes.to_numpy()]
    if unknown.any():
        i = int(np.argmax(unknown))
        value = raw.iloc[i]
        shown = "an empty cell" if pd.isna(value) or not str(value).strip() else repr(value)
        listed = ("labels or numbers: " + ", ".join(f"{k} {v}" for k, v in codes.items())
                  if codes else "labels: " + ", ".join(dict.fromkeys(words.values())))
        raise _error(table, i, column, f"unknown {what} {shown} ({listed})")
    lookup = np.array([mapping[c] for c in cats.cat.categories], dtype=object)
    labels = lookup[cats.cat.codes.to_numpy()] if len(lookup) else np.zeros(0, dtype=object)
    return pd.Series(pd.Categorical(labels), name=column)


def _times(table: _Table, column: str) -> pd.Series:
    """A time column as tz-aware UTC: naive times mean UTC, explicit offsets are honoured."""
    raw = table.frame[column]
    if isinstance(raw.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(raw):
        parsed = pd.to_datetime(raw, utc=True)
    else:
        text = raw.astype("string").str.strip()
        parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
        retry = parsed.isna() & text.notna() & (text != "")
        if retry.any():  # other layouts (such as a locale's), element by element
            again = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
            parsed = parsed.astype("datetime64[ns, UTC]")
            parsed[retry] = again
            still = (parsed.isna() & retry).to_numpy(dtype=bool)
            if still.any():
                i = int(np.argmax(still))
                raise _error(table, i, column, f"not a date and time: {raw.iloc[i]!r}")
    parsed = parsed.astype("datetime64[ns, UTC]")
    return parsed.where(parsed != NULL_DATE)


def _text(table: _Table, column: str) -> pd.Series:
    """An optional text column as a categorical (NA where missing or empty)."""
    if column not in table.frame.columns:
        return pd.Series(pd.Categorical([None] * len(table.frame)), name=column)
    cats = table.frame[column].astype("category")
    names = [str(c).strip() for c in cats.cat.categories]
    lookup = np.array([n if n else None for n in names] + [None], dtype=object)
    return pd.Series(pd.Categorical(lookup[cats.cat.codes.to_numpy()]), name=column)


def _flags(table: _Table, column: str) -> np.ndarray:
    """A yes/no column (RuntimeTask) as bools."""
    raw = table.frame[column]
    words = {"1": True, "0": False, "yes": True, "no": False, "true": True, "false": False,
             "1.0": True, "0.0": False}
    text = raw.astype("string").str.strip().str.lower().fillna("0").replace("", "0")
    mapped = text.map(words)
    bad = mapped.isna().to_numpy(dtype=bool)
    if bad.any():
        i = int(np.argmax(bad))
        raise _error(table, i, column, f"expected Yes/No or 1/0, got {raw.iloc[i]!r}")
    return np.asarray(mapped.to_numpy(dtype=bool))


def _check_order(table: _Table, start: pd.Series, end: pd.Series) -> None:
    bad = (end < start).to_numpy(dtype=bool, na_value=False)
    if bad.any():
        i = int(np.argmax(bad))
        raise _error(table, i, "EndDateTime", f"ends at {end.iloc[i]:%Y-%m-%d %H:%M:%S}, before"
                     f" its start {start.iloc[i]:%Y-%m-%d %H:%M:%S} (UTC)")


def _check_unique(table: _Table, keys: list[np.ndarray], column: str, what: str) -> None:
    frame = pd.DataFrame({str(k): v for k, v in enumerate(keys)})
    dup = frame.duplicated(keep="first").to_numpy()
    if dup.any():
        i = int(np.argmax(dup))
        first = int(np.argmax((frame == frame.iloc[i]).all(axis=1).to_numpy()))
        source, row = table.where(first)
        also = f"row {row}" if source == table.where(i)[0] else f"{source} row {row}"
        raise _error(table, i, column, f"duplicate {what} (also on {also})")


# ---- History --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class History:
    """A batch history: one row per job run (``jobs``) and per task run (``tasks``).

    Build one with ``simbatch.read_history(*paths)`` or ``History.from_tables(...)``.
    ``constraints`` holds the dependencies (task_id, depends_on, expect) when a
    BatchConstraints table was given, else it is empty. ``gaps`` says, in words, what the
    export could not show. docs/how-to/history-and-calibration.md documents every column.
    """

    jobs: pd.DataFrame
    tasks: pd.DataFrame
    constraints: pd.DataFrame
    gaps: tuple[str, ...]
    sources: tuple[str, ...] = ()
    columns: frozenset[str] = frozenset()
    """The optional columns the export had, as ``Table.Column`` (say ``BatchHistory.ServerId``)."""
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

    @classmethod
    def from_tables(cls, job_history: pd.DataFrame, task_history: pd.DataFrame,
                    batch: pd.DataFrame | None = None, batch_job: pd.DataFrame | None = None,
                    constraints: pd.DataFrame | None = None,
                    source: str = "<tables>") -> History:
        """A History from DataFrames in F&O's columns (BatchJobHistory, BatchHistory, ...)."""
        given = {"BatchJobHistory": job_history, "BatchHistory": task_history, "Batch": batch,
                 "BatchJob": batch_job, "BatchConstraints": constraints}
        tables: dict[str, _Table] = {}
        for kind, frame in given.items():
            if frame is None:
                continue
            name = f"{source}[{kind}]"
            found, frame = _recognise(name, frame.reset_index(drop=True))
            if found != kind:
                raise HistoryError(name, f"expected the {kind} table, but its columns are"
                                   f" those of {found}")
            tables[kind] = _Table(kind, name, frame, np.arange(2, len(frame) + 2),
                                  np.full(len(frame), name, dtype=object))
        return _build(tables, (source,))


def read_history(*paths: str | Path, times_in: str | None = None,
                 date_format: str | None = None, fo_version: str | None = None,
                 priority_codes: Mapping[int, str] | None = None) -> History:
    """Read F&O batch history exports (CSV files, xlsx workbooks) into a ``History``.

    BatchJobHistory and BatchHistory are required; Batch, BatchJob and BatchConstraints
    are optional. Tables are recognised by their columns, whatever the file is called,
    and several files of one table (monthly exports, say) are joined.
    """
    if not paths:
        raise HistoryError("read_history", "give at least one history file")
    by_kind: dict[str, list[_Table]] = {}
    for path in paths:
        for table in _read_file(Path(path)):
            by_kind.setdefault(table.kind, []).append(table)
    tables = {kind: _combine(found) for kind, found in by_kind.items()}
    return _build(tables, tuple(str(p) for p in paths))


def _build(tables: dict[str, _Table], sources: tuple[str, ...]) -> History:
    """Check and type the tables, and join groups, priorities and dependencies in."""
    for kind in ("BatchJobHistory", "BatchHistory"):
        if kind not in tables:
            found = ", ".join(f"{t.source} ({t.kind})" for t in tables.values()) or "none"
            raise HistoryError(" ".join(sources), f"no {kind} table among the files (found:"
                               f" {found}); export both BatchJobHistory and BatchHistory")
    jt, tt = tables["BatchJobHistory"], tables["BatchHistory"]
    present = frozenset(f"{t.kind}.{c}" for t in tables.values() for c in t.frame.columns)
    jobs = _jobs(jt)
    _check_unique(jt, [jobs["run_id"].to_numpy()], "RecId", "RecId")
    tasks = _tasks(tt, jobs)
    _check_unique(tt, [tasks["run_id"].to_numpy(), tasks["task_id"].to_numpy()], "BatchId",
                  "task run: this BatchId is already in this BatchJobHistoryId")
    _groups(tables, jobs, tasks)
    cons = _constraints(tables.get("BatchConstraints"))
    gaps = _gaps(tables, present, jobs, tasks)
    counts = tasks.groupby("run_id", sort=False).size()
    jobs["priority_source"] = pd.Categorical(
        jobs["priority"].notna().map({True: "BatchJob", False: None}),
        categories=["BatchJob", "BatchGroup"])
    jobs["log_level"] = pd.Categorical([None] * len(jobs),
                                       categories=["always", "errors only", "never"])
    jobs["capped"] = jobs["run_id"].map(counts).eq(CAPPED_ROWS).to_numpy(dtype=bool)
    tasks["history_id"] = pd.array([pd.NA] * len(tasks), dtype="Int64")
    tasks["constraint_type"] = pd.Categorical([None] * len(tasks), categories=["all", "any"])
    tasks["ignore_on_fail"] = pd.array([pd.NA] * len(tasks), dtype="boolean")
    tasks["retry_limit"] = pd.array([pd.NA] * len(tasks), dtype="Int64")
    cons["run_id"] = pd.array([pd.NA] * len(cons), dtype="Int64")
    source = "BatchConstraints" if "BatchConstraints" in tables else "timing"
    return History(jobs, tasks, cons, tuple(gaps), sources, present,
                   constraints_source=source)


def _jobs(t: _Table) -> pd.DataFrame:
    frame = t.frame
    start, end = _times(t, "StartDateTime"), _times(t, "EndDateTime")
    scheduled = _times(t, "OrigStartDateTime")
    _check_order(t, start, end)
    job_id = _ids(t, "BatchJobId")
    caption = _text(t, "Caption")
    if "Caption" not in frame.columns or caption.isna().any():
        names = pd.Series([f"Job {i}" for i in job_id])
        caption = pd.Series(pd.Categorical(caption.astype(object).where(caption.notna(), names)))
    return pd.DataFrame({
        "run_id": _ids(t, "RecId"),
        "job_id": job_id,
        "job": caption,
        "status": _labels(t, "Status", STATUS_WORDS, STATUS_CODES, "status"),
        "scheduled": scheduled,
        "start": start,
        "end": end,
        "company": _text(t, "Company"),
        "executed_by": _text(t, "ExecutedBy"),
    }).astype({"scheduled": "datetime64[ns, UTC]", "start": "datetime64[ns, UTC]",
               "end": "datetime64[ns, UTC]", "job": "category", "status": "category",
               "company": "category", "executed_by": "category"})


def _tasks(t: _Table, jobs: pd.DataFrame) -> pd.DataFrame:
    frame = t.frame
    start, end = _times(t, "StartDateTime"), _times(t, "EndDateTime")
    _check_order(t, start, end)
    task_id = _ids(t, "BatchId")
    classes = (_ids(t, "ClassNumber", required=False) if "ClassNumber" in frame.columns
               else np.full(len(frame), -1, dtype=np.int64))
    caption = _text(t, "Caption")
    if caption.isna().any():
        fallback = pd.Series([f"Class {c}" if c >= 0 else f"Task {i}"
                              for c, i in zip(classes, task_id, strict=True)])
        caption = pd.Series(pd.Categorical(caption.astype(object).where(caption.notna(),
                                                                        fallback)))
    if "retryCount" in frame.columns:
        retries = _ids(t, "retryCount", required=False)
        retries[retries < 0] = 0
    else:
        retries = np.zeros(len(frame), dtype=np.int64)
    runtime = (_flags(t, "RuntimeTask") if "RuntimeTask" in frame.columns
               else np.zeros(len(frame), dtype=bool))
    run_id = _ids(t, "BatchJobHistoryId")
    where = pd.Index(jobs["run_id"]).get_indexer(run_id) if jobs["run_id"].is_unique else (
        pd.Index(jobs["run_id"].drop_duplicates()).get_indexer(run_id))
    if (where < 0).any():
        i = int(np.argmax(where < 0))
        raise _error(t, i, "BatchJobHistoryId", f"no job run with RecId {run_id[i]} in the"
                     " BatchJobHistory table")
    return pd.DataFrame({
        "run_id": run_id,
        "job_id": _ids(t, "BatchJobId"),
        "job": jobs["job"].array.take(where),
        "task_id": task_id,
        "task": caption,
        "class_number": pd.Series(classes, dtype="Int64").mask(classes < 0).to_numpy(),
        "server": _text(t, "ServerId"),
        "status": _labels(t, "Status", STATUS_WORDS, STATUS_CODES, "status"),
        "start": start,
        "end": end,
        "retries": retries,
        "runtime": runtime,
        "company": _text(t, "Company"),
    }).astype({"start": "datetime64[ns, UTC]", "end": "datetime64[ns, UTC]",
               "class_number": "Int64", "task": "category", "server": "category",
               "status": "category", "company": "category"})


def _lookup(values: pd.Series, ids: np.ndarray, keys: np.ndarray) -> pd.Categorical:
    """``values`` (indexed like ``ids``) looked up for each of ``keys``; NA where absent."""
    where = pd.Index(ids).get_indexer(keys)
    cats = pd.Categorical(values)
    return cats.take(where, allow_fill=True)


def _groups(tables: dict[str, _Table], jobs: pd.DataFrame, tasks: pd.DataFrame) -> None:
    """Join each task's group (Batch.GroupId, else BatchJob.BatchGroup) and job priority."""
    none = pd.Categorical([None] * len(jobs))
    jobs["group"], jobs["priority"] = none, none.copy()
    tasks["group"] = pd.Categorical([None] * len(tasks))
    if "BatchJob" in tables:
        bj = tables["BatchJob"]
        ids = _ids(bj, "RecId")
        _check_unique(bj, [ids], "RecId", "RecId")
        batch_group = _text(bj, "BatchGroup")
        jobs["group"] = _lookup(batch_group, ids, jobs["job_id"].to_numpy())
        tasks["group"] = _lookup(batch_group, ids, tasks["job_id"].to_numpy())
        if "Priority" in bj.frame.columns:
            priority = _labels(bj, "Priority", PRIORITY_WORDS, {}, "priority")
            jobs["priority"] = _lookup(priority, ids, jobs["job_id"].to_numpy())
    if "Batch" in tables:
        b = tables["Batch"]
        ids = _ids(b, "RecId")
        _check_unique(b, [ids], "RecId", "RecId")
        own = pd.Series(_lookup(_text(b, "GroupId"), ids, tasks["task_id"].to_numpy()))
        tasks["group"] = pd.Categorical(own.astype(object).where(
            own.notna(), tasks["group"].astype(object)))


def _constraints(t: _Table | None) -> pd.DataFrame:
    if t is None:
        return pd.DataFrame({"task_id": pd.Series(dtype="int64"),
                             "depends_on": pd.Series(dtype="int64"),
                             "expect": pd.Series(dtype="string")})
    return pd.DataFrame({
        "task_id": _ids(t, "BatchId"),
        "depends_on": _ids(t, "DependsOnBatchId"),
        "expect": _labels(t, "ExpectedStatus", DEPENDENCY_WORDS, DEPENDENCY_CODES,
                          "expected status").astype("string").to_numpy(),
    }).astype({"expect": "string"})


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


def _gaps(tables: dict[str, _Table], present: frozenset[str], jobs: pd.DataFrame,
          tasks: pd.DataFrame) -> list[str]:
    """What this history cannot show, in words calibration repeats in its header."""
    gaps = [f"no {name.split('.')[1]} column in {name.split('.')[0]}: {lost}"
            for name, lost in _LOST.items() if name not in present]
    if "Batch" not in tables and "BatchJob" not in tables:
        gaps.append("no Batch or BatchJob table: batch groups are unknown")
    if "BatchConstraints" not in tables:
        gaps.append("no BatchConstraints table: dependencies are inferred from timing")
    counts = tasks.groupby("run_id", sort=False).size()
    empty = jobs[~jobs["run_id"].isin(counts.index)]
    if len(empty):
        names = sorted(set(empty["job"].astype(str)))
        gaps.append(f"{len(empty)} job runs of {len(names)} jobs have no task rows (history"
                    f" setting Never or Errors only?): {_few(names)}")
    capped = counts[counts == CAPPED_ROWS]
    if len(capped):
        names = sorted(set(jobs.set_index("run_id").loc[capped.index, "job"].astype(str)))
        gaps.append(f"{len(capped)} runs have exactly {CAPPED_ROWS} task rows, F&O's cap for"
                    f" jobs of more than 4,000 tasks; their task counts are lower bounds:"
                    f" {_few(names)}")
    open_runs = int((~jobs["status"].isin(["Ended", "Error", "Canceled"])).sum())
    if open_runs:
        gaps.append(f"{open_runs} job runs were not finished when exported")
    moments = pd.concat([jobs["scheduled"], jobs["start"]]).dropna()
    if len(moments):
        days = pd.date_range(moments.min().normalize(), moments.max().normalize(), freq="D")
        seen = set(moments.dt.normalize().unique())
        missing = [d for d in days if d not in seen]
        if missing:
            gaps.append(f"{len(missing)} days without any job run (UTC):"
                        f" {_few([f'{d:%Y-%m-%d}' for d in missing])}")
    return gaps


def _few(names: Sequence[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
