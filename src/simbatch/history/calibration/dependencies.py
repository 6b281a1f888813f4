"""Task dependencies: from BatchConstraints when the export has them, else inferred from
timing (an order that holds in every run).
"""

from __future__ import annotations

import pandas as pd
from ruamel.yaml.comments import CommentedMap

from simbatch.history.calibration.document import flow_map
from simbatch.history.read import History

__all__ = ["INFER_RUNS", "add_dependencies", "inferred_order"]

INFER_RUNS = 5
"""An order is inferred from timing only when it holds in every run, over at least this many."""


def inferred_order(static: pd.DataFrame, names: list[str]) -> dict[str, dict[str, int]]:
    """``{B: {A: runs}}`` where B started after A ended in every run (transitively reduced)."""
    spans = static.groupby(["run_id", "task"], observed=True).agg(start=("start", "min"),
                                                                     end=("end", "max"))
    start = spans["start"].unstack()
    end = spans["end"].unstack()
    start.columns = [str(c) for c in start.columns]
    end.columns = [str(c) for c in end.columns]
    before: dict[str, set[str]] = {n: set() for n in names}
    evidence: dict[tuple[str, str], int] = {}
    for a in names:
        if a not in end.columns:
            continue
        for b in names:
            if a == b or b not in start.columns:
                continue
            both = start[b].notna() & end[a].notna()
            n = int(both.sum())
            if n >= INFER_RUNS and bool((start[b][both] >= end[a][both]).all()):
                before[b].add(a)
                evidence[(a, b)] = n
    out: dict[str, dict[str, int]] = {}
    for b, parents in before.items():
        direct = [a for a in names if a in parents
                  and not any(a in before[c] for c in parents if c != a)]
        if direct:
            out[b] = {a: evidence[(a, b)] for a in direct}
    return out


def add_dependencies(tasks: CommentedMap, static: pd.DataFrame, names: list[str],
                  history: History, job: str) -> None:
    cons = history.constraints
    if len(cons):
        caption = dict(zip(static["task_id"], static["task"].astype(str), strict=True))
        for task_id, depends, expect in cons.itertuples(index=False):
            b, a = caption.get(task_id), caption.get(depends)
            if b is None or a is None or b not in tasks or a not in tasks:
                continue
            after = tasks[b].setdefault("after", flow_map({}))
            after[a] = str(expect)
        for b in names:
            if "after" in tasks[b]:
                tasks[b].yaml_add_eol_comment("from BatchConstraints", "after")
        return
    for b, parents in inferred_order(static, names).items():
        tasks[b]["after"] = flow_map({a: "ended" for a in parents})
        runs = min(parents.values())
        tasks[b].yaml_add_eol_comment(f"inferred: in every run with both (at least {runs}),"
                                      f" {b} started after {' and '.join(parents)} ended",
                                      "after")
