"""Task dependencies from a history: BatchConstraintsHistory per run, else BatchConstraints.

BatchConstraintsHistory and BatchConstraints have the same fields (BatchId,
DependsOnBatchId, ExpectedStatus), but BatchConstraintsHistory's ids point to
**BatchHistory.RecId** (one task run), BatchConstraints' to Batch.RecId (the task). A
constraints file is told apart by which of the two its ids find (its name decides a tie),
and BatchConstraintsHistory rows are translated into task ids of their own run. The
fallbacks: BatchConstraints (valid for every run), then timing inference in calibration.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd

from simbatch.history.cells import Table, ids, labels, shown
from simbatch.history.columns import DEPENDENCY_CODES, DEPENDENCY_WORDS
from simbatch.history.tables import RawTable

__all__ = ["classify", "dependencies", "empty", "find_cycle"]


def empty() -> pd.DataFrame:
    """A constraints table without rows."""
    return pd.DataFrame({"task_id": pd.Series(dtype="int64"),
                         "depends_on": pd.Series(dtype="int64"),
                         "expect": pd.Series(dtype="string"),
                         "run_id": pd.Series(dtype="Int64")})


def _ids_of(raw: RawTable) -> set[int]:
    out: set[int] = set()
    for column in ("BatchId", "DependsOnBatchId"):
        for value in raw.frame[column].dropna().astype(str).str.strip().unique():
            if value.isdigit():
                out.add(int(value))
    return out


def classify(raws: Sequence[RawTable], history_ids: set[int], task_ids: set[int],
             notes: list[str]) -> tuple[list[RawTable], list[RawTable]]:
    """The constraints files that are BatchConstraintsHistory, and those that are
    BatchConstraints."""
    history: list[RawTable] = []
    plain: list[RawTable] = []
    for raw in raws:
        found = _ids_of(raw)
        in_history, in_tasks = len(found & history_ids), len(found & task_ids)
        named = "history" in raw.name.lower()
        is_history = in_history > in_tasks or (in_history == in_tasks and named)
        (history if is_history else plain).append(raw)
        how = (f"{in_history:,} of its {len(found):,} ids are BatchHistory RecIds and"
               f" {in_tasks:,} are task ids" if in_history != in_tasks else
               f"its ids do not tell, so its name {raw.name!r} decides")
        notes.append(f"{raw.source}: read as"
                     f" {'BatchConstraintsHistory' if is_history else 'BatchConstraints'}"
                     f" ({how})")
    return history, plain


def _rows(t: Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (ids(t, "BatchId"), ids(t, "DependsOnBatchId"),
            labels(t, "ExpectedStatus", DEPENDENCY_WORDS, DEPENDENCY_CODES,
                   "expected status").astype(str).to_numpy())


def find_cycle(frame: pd.DataFrame) -> tuple[int, list[int]] | None:
    """A cycle among dependencies (task_id, depends_on, and run_id where they are per
    run), or None: the position of a row on it, and its task ids in the order they wait.

    Per-run rows (a run_id) are checked run by run, with the rows valid for every run (no
    run_id) in each; without recursion (graphlib), for graphs of any depth.
    """
    from graphlib import CycleError, TopologicalSorter

    if frame.empty:
        return None
    task = frame["task_id"].to_numpy()
    on = frame["depends_on"].to_numpy()
    runs = (frame["run_id"] if "run_id" in frame.columns
            else pd.Series(pd.NA, index=frame.index, dtype="Int64"))
    is_global = runs.isna().to_numpy(dtype=bool)
    shared = np.flatnonzero(is_global)
    groups = [shared]
    if (~is_global).any():
        own = np.flatnonzero(~is_global)
        codes, _ = pd.factorize(runs.to_numpy()[own])
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        groups = [np.concatenate([part, shared]) for part in np.split(own[order], bounds)]
    for rows in groups:
        graph: dict[int, set[int]] = {}
        first: dict[tuple[int, int], int] = {}
        for i in rows.tolist():
            graph.setdefault(int(task[i]), set()).add(int(on[i]))
            first.setdefault((int(task[i]), int(on[i])), i)
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as exc:
            cycle = [int(n) for n in exc.args[1]]  # each a prerequisite of the next
            row = min(first[(after, before)] for before, after in pairwise(cycle))
            return row, cycle[::-1]
    return None


def _acyclic(t: Table, rows: np.ndarray, frame: pd.DataFrame) -> None:
    """Refuse a cycle among the dependencies, naming a row of the file on it."""
    found = find_cycle(frame)
    if found is None:
        return
    position, cycle = found
    i = int(rows[position])
    path = " -> ".join(map(str, cycle))
    raise t.error(i, "DependsOnBatchId", f"a cycle of dependencies (task ids {path}, each"
                  f" waiting for the next): {shown(t.frame['DependsOnBatchId'].iloc[i])}")


def dependencies(history: Table | None, plain: Table | None, tasks: pd.DataFrame,
                 notes: list[str]) -> tuple[pd.DataFrame, str]:
    """The constraints (task_id, depends_on, expect, run_id) and where they came from."""
    runs = int(tasks["run_id"].nunique())
    if history is not None:
        by_history = tasks.dropna(subset=["history_id"])
        if by_history.empty:
            notes.append(f"{history.source}: BatchConstraintsHistory points to"
                         " BatchHistory.RecId, but the BatchHistory export has no RecId"
                         " column: it cannot be used (export BatchHistory's RecId)")
        else:
            task, before, expect = _rows(history)
            index = pd.Index(by_history["history_id"].astype("int64"))
            if not index.is_unique:
                dup = index[index.duplicated()][0]
                notes.append(f"BatchHistory.RecId {dup} appears twice; the first is used")
                by_history = by_history.drop_duplicates("history_id")
                index = pd.Index(by_history["history_id"].astype("int64"))
            at, at_before = index.get_indexer(pd.Index(task)), index.get_indexer(pd.Index(before))
            run = by_history["run_id"].to_numpy()
            task_id = by_history["task_id"].to_numpy()
            found = (at >= 0) & (at_before >= 0)
            same = found & (run[at] == run[at_before])
            frame = pd.DataFrame({
                "task_id": task_id[at[same]], "depends_on": task_id[at_before[same]],
                "expect": pd.array(expect[same], dtype="string"),
                "run_id": pd.array(run[at[same]], dtype="Int64")})
            lost = int((~found).sum())
            across = int((found & ~same).sum())
            covered = int(frame["run_id"].nunique())
            notes.append(f"dependencies from BatchConstraintsHistory, per run: {len(frame):,}"
                         f" of {len(task):,} rows, for {covered:,} of {runs:,} job runs")
            if lost:
                notes.append(f"{lost:,} BatchConstraintsHistory rows point to BatchHistory"
                             " rows not in the export (dropped by the history cap or a"
                             " cleanup?): not used")
            if across:
                notes.append(f"{across:,} BatchConstraintsHistory rows join task runs of two"
                             " different job runs: not used")
            if len(frame) or not len(task):
                _acyclic(history, np.flatnonzero(same), frame)
                if plain is not None:
                    notes.append(f"{plain.source}: BatchConstraints not used, as"
                                 " BatchConstraintsHistory gives each run's own dependencies")
                return frame, "BatchConstraintsHistory"
            notes.append("BatchConstraintsHistory matched no task run; falling back")
    if plain is not None:
        task, before, expect = _rows(plain)
        frame = pd.DataFrame({"task_id": task, "depends_on": before,
                              "expect": pd.array(expect, dtype="string"),
                              "run_id": pd.array([pd.NA] * len(task), dtype="Int64")})
        _acyclic(plain, np.arange(len(frame)), frame)
        notes.append(f"dependencies from BatchConstraints (today's task definitions), for"
                     f" every one of the {runs:,} job runs")
        return frame, "BatchConstraints"
    notes.append(f"no BatchConstraintsHistory or BatchConstraints: dependencies of the"
                 f" {runs:,} job runs are to be inferred from timing")
    return empty(), "timing"
