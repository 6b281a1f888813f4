"""Task dependencies: from the history's constraints when the export has them (per run from
BatchConstraintsHistory, else as set up from BatchConstraints), else inferred from timing
(an order that holds in every run).

Each source is said in the evidence comment, with the number of runs it covers; a cycle in
the constraints is refused before anything is written (``check_cycles``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from ruamel.yaml.comments import CommentedMap

from simbatch.errors import HistoryError
from simbatch.history.calibration.document import flow_map
from simbatch.history.constraints import find_cycle
from simbatch.history.read import History

__all__ = ["INFER_RUNS", "PAIR_BUDGET", "add_dependencies", "check_cycles", "constraints_file",
           "inferred_order"]

INFER_RUNS = 5
"""An order is inferred from timing only when it holds in every run, over at least this many."""
PAIR_BUDGET = 200_000_000
"""Timing inference compares every pair of a job's tasks in every run: at most this many
comparisons (runs x tasks x tasks) per job, else no order is inferred (and the comment says
why). 6 runs of 1,000 tasks are 6 million."""


def constraints_file(history: History) -> str:
    """The file the constraints came from, as well as the history can tell: the source whose
    name says so, else every source."""
    named = [s for s in history.sources if "constraint" in s.lower()]
    return named[0] if len(named) == 1 else (", ".join(history.sources) or "history")


def _source_table(history: History) -> str:
    source = getattr(history, "constraints_source", None)
    if source in ("BatchConstraintsHistory", "BatchConstraints"):
        return str(source)
    runs = history.constraints.get("run_id")
    if runs is not None and bool(runs.notna().any()):
        return "BatchConstraintsHistory"
    return "BatchConstraints"


def check_cycles(history: History) -> None:
    """A ``HistoryError`` naming the file and row when the constraints form a cycle: its
    tasks would wait for each other for ever, so neither calibration nor the back-test can
    use it. ``read_history`` refuses one already; this guards a ``History`` made otherwise."""
    found = find_cycle(history.constraints)
    if found is None:
        return
    position, cycle = found
    shown = " -> ".join(map(str, cycle[:8])) + (" -> ..." if len(cycle) > 8 else "")
    raise HistoryError(constraints_file(history), f"the {_source_table(history)} dependencies"
                       f" form a cycle (BatchId {shown}): its tasks would wait for each other"
                       " for ever", row=position + 2, column="DependsOnBatchId")


def inferred_order(static: pd.DataFrame, names: list[str]
                   ) -> tuple[dict[str, dict[str, int]], str | None]:
    """``{B: {A: runs}}`` where B started after A ended in every run (transitively reduced),
    and why nothing was inferred when the job is too large (``PAIR_BUDGET``), else None.

    Pairs that hold both ways (zero-length tasks at one instant) are ambiguous: left out.
    """
    spans = static.groupby(["run_id", "task"], observed=True).agg(start=("start", "min"),
                                                                     end=("end", "max"))
    if spans.empty or len(names) < 2:
        return {}, None
    runs = spans.index.get_level_values("run_id").nunique()
    n = len(names)
    if runs * n * n > PAIR_BUDGET:
        return {}, (f"{runs:,} runs x {n:,} tasks x {n:,} tasks is more than the"
                    f" {PAIR_BUDGET:,} comparisons timing inference may make for one job:"
                    " no order inferred")
    seconds = pd.DataFrame({k: _seconds(spans[k]) for k in ("start", "end")},
                           index=spans.index)
    s, e = (_wide(seconds[k], names) for k in ("start", "end"))
    s_ok, e_ok = ~np.isnan(s), ~np.isnan(e)
    count = e_ok.T.astype(np.float32) @ s_ok.astype(np.float32)  # [a, b]: runs with both
    broken = np.zeros((n, n), dtype=bool)
    for a in range(n):
        with np.errstate(invalid="ignore"):
            early = (s < e[:, a:a + 1]) & s_ok & e_ok[:, a:a + 1]
        broken[a] = early.any(axis=0)
    before = (count >= INFER_RUNS) & ~broken
    np.fill_diagonal(before, False)
    before &= ~before.T
    through = (before.astype(np.float32) @ before.astype(np.float32)) > 0
    direct = before & ~through
    out: dict[str, dict[str, int]] = {}
    for b in range(n):
        parents = np.flatnonzero(direct[:, b])
        if len(parents):
            out[names[b]] = {names[a]: int(count[a, b]) for a in parents.tolist()}
    return out, None


def _wide(values: pd.Series, names: list[str]) -> np.ndarray:
    """(run_id, task) values as a runs x tasks array, tasks in the order of ``names``."""
    wide = values.unstack()
    wide.columns = [str(c) for c in wide.columns]
    out: np.ndarray = wide.reindex(columns=names).to_numpy(dtype=float)
    return out


def _seconds(values: pd.Series) -> np.ndarray:
    """UTC times as float seconds since the epoch (NaN where missing)."""
    times = pd.to_datetime(values, utc=True)
    ns = times.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    out: np.ndarray = np.where(times.isna().to_numpy(), np.nan, ns / 1e9)
    return out


def _given(static: pd.DataFrame, cons: pd.DataFrame
           ) -> tuple[dict[tuple[str, str], dict[str, int]], int, int]:
    """The constraints of this job's runs by (task, prerequisite): expected status -> runs;
    and how many of the job's runs have constraints, of how many."""
    rows = static[["run_id", "task_id", "task"]].assign(task=static["task"].astype(str))
    runs_total = int(rows["run_id"].nunique())
    per_run = cons["run_id"] if "run_id" in cons.columns else pd.Series(pd.NA, index=cons.index)
    is_global = per_run.isna().to_numpy(dtype=bool)
    found = []
    if (~is_global).any():
        mine = cons[~is_global].assign(run_id=per_run[~is_global].astype("int64"))
        mine = mine.merge(rows, on=["run_id", "task_id"]).merge(
            rows.rename(columns={"task_id": "depends_on", "task": "on"}),
            on=["run_id", "depends_on"])
        found.append(mine[["run_id", "task", "on", "expect"]])
    if is_global.any():
        both = cons[is_global].drop(columns=["run_id"], errors="ignore").merge(
            rows, on="task_id").merge(rows.rename(columns={"task_id": "depends_on",
                                                           "task": "on"}),
                                      on=["run_id", "depends_on"])
        found.append(both[["run_id", "task", "on", "expect"]])
    if not found:
        return {}, 0, runs_total
    edges = pd.concat(found, ignore_index=True).drop_duplicates()
    out: dict[tuple[str, str], dict[str, int]] = {}
    counted = edges.groupby(["task", "on", "expect"], sort=False)["run_id"].nunique()
    for key, n in zip(counted.index.tolist(), counted.tolist(), strict=True):
        task, on, expect = (str(part) for part in key)
        out.setdefault((task, on), {})[expect] = int(n)
    return out, int(edges["run_id"].nunique()), runs_total


def add_dependencies(tasks: CommentedMap, static: pd.DataFrame, names: list[str],
                     history: History, job: str) -> tuple[str, int, int]:
    """Write each task's ``after:`` (and its evidence) into ``tasks``; returns the source
    used (a table, or ``timing``) and in how many of the job's runs it found some."""
    cons = history.constraints
    if len(cons):
        table = _source_table(history)
        given, with_any, total = _given(static, cons)
        notes: dict[str, list[str]] = {}
        for (b, a), statuses in given.items():
            if b not in tasks or a not in tasks or a == b:
                continue
            expect, runs = max(statuses.items(), key=lambda item: (item[1], item[0]))
            after = tasks[b].setdefault("after", flow_map({}))
            after[a] = expect
            notes.setdefault(b, []).extend(_note(a, runs, with_any, statuses))
        for b in names:
            if "after" in tasks[b]:
                evidence = notes.get(b, [])
                where = (f"from {table}" + (f", in {with_any} of {total} runs"
                                             if table == "BatchConstraintsHistory" else
                                             " (the job as set up, valid for every run)"))
                tasks[b].yaml_add_eol_comment(
                    where + ("; " + "; ".join(evidence) if evidence else ""), "after")
        return table, with_any, total
    found, why = inferred_order(static, names)
    for b, parents in found.items():
        tasks[b]["after"] = flow_map({a: "ended" for a in parents})
        runs = min(parents.values())
        tasks[b].yaml_add_eol_comment(f"inferred: in every run with both (at least {runs}),"
                                      f" {b} started after {' and '.join(parents)} ended",
                                      "after")
    if why is not None and names:
        tasks[names[0]].yaml_add_eol_comment(f"no dependencies: {why}", "duration")
    runs = int(static["run_id"].nunique())
    return "timing", (runs if found else 0), runs


def _note(on: str, runs: int, with_any: int, statuses: dict[str, int]) -> list[str]:
    """An evidence line when a dependency is not in every run, or its status varies."""
    if len(statuses) > 1:
        return [f"{on}: " + ", ".join(f"{k} in {v} runs" for k, v in statuses.items())]
    if runs < with_any:
        return [f"{on}: in {runs} of those runs only"]
    return []
