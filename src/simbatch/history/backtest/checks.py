"""The back-test's checks of its input, and the notes on what it had to assume.

A history the replay cannot record (a retryCount beyond what an attempt counter holds) is
refused naming the file and row; what the history leaves out (groups, priorities, tasks
in a job-level history) and figures without a value are said in ``Backtest.notes``.
"""

from __future__ import annotations

import pandas as pd

from simbatch.history.calibration.gaps import MAX_RETRY_COUNT, check_retries
from simbatch.history.read import History
from simbatch.scenario.spec import Scenario

__all__ = ["MAX_RETRY_COUNT", "check_retries", "empty_figures", "input_notes"]

def input_notes(history: History, topo: Scenario) -> list[str]:
    """What the history leaves the replay to assume: its level, groups and priorities."""
    notes = []
    if history.level == "job":
        notes.append("a job-level history: each job run is replayed as one task lasting the"
                     " whole run, so the job waits (StartDateTime - OrigStartDateTime) are"
                     " compared; task delays stand for job waits")
    jobs = history.jobs
    given = {c.split(".")[0] for c in history.columns}
    if not given & {"Batch", "BatchJob"} and jobs["group"].isna().all():
        notes.append("WARNING: the history has no groups (no Batch or BatchJob table):"
                     " every job is replayed in the default group")
    if topo.scheduling == "priority" and not given & {"BatchJob", "BatchGroup"} and (
            "priority" not in jobs.columns or jobs["priority"].isna().all()):
        notes.append("WARNING: the history has no scheduling priorities (no BatchJob or"
                     " BatchGroup table): every job is replayed at its group's priority in"
                     f" {topo.source}, normal unless it says otherwise")
    return notes


def empty_figures(actual: pd.DataFrame, simulated: pd.DataFrame) -> list[str]:
    """Say when figures have no value (NaN in the tables), so none is printed silently."""
    notes = []
    for side, figures in (("actual", actual), ("simulated", simulated)):
        empty = figures[figures["value"].isna()]
        if len(empty):
            metrics = sorted(set(empty["metric"].astype(str)))
            notes.append(f"{len(empty)} {side} figures have no value (shown as NaN): no run"
                         f" or task in that slice had a measure ({', '.join(metrics[:6])}"
                         + (", ..." if len(metrics) > 6 else "") + "); a task's delay is"
                         " unknown when a task it waits for has no end")
    if "replication" not in simulated.columns:
        keys = ["scope", "group", "hour", "job", "metric"]
        both = actual.merge(simulated, on=keys, suffixes=("_actual", "_simulated"))
        zero = both[(both["value_actual"] == 0) & (both["value_simulated"] != 0)
                    & both["value_simulated"].notna()]
        if len(zero):
            notes.append(f"{len(zero)} errors are NaN: the actual figure is 0 and the simulated"
                         " one is not, so no relative error exists (abs_error has the gap)")
    return notes
