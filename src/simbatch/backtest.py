"""Back-test: replay a batch history on a stated topology, and compare simulated waits with actual.

Each historical job run is due at its OrigStartDateTime; each task run's attempts last
their recorded time and end with their recorded status; the topology (servers, threads,
periods, scheduling, groups, reserved capacity, concurrency, outages) is the scenario
file's. Only the queueing is simulated (``simbatch.engine.trace``).

This first version replays static tasks (no runtime tasks) of jobs whose runs all have
the same tasks; other histories are refused with a message that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simbatch.engine.trace import ReplayModel, Trace, TraceRun
from simbatch.errors import HistoryError
from simbatch.history import History
from simbatch.loading import load, load_document
from simbatch.results import Result
from simbatch.scenario import Scenario

__all__ = ["Backtest", "backtest"]

NS = 1_000_000_000


@dataclass(frozen=True, eq=False)
class Backtest:
    """A replayed history: the actual and simulated run of every replayed job run."""

    result: Result
    runs: pd.DataFrame
    """One row per replayed run: job, group, due, actual_start, simulated_start, actual_wait_s,
    simulated_wait_s."""
    graph: str
    """Where the task graph came from: ``BatchConstraints`` or ``none``."""
    notes: tuple[str, ...] = ()
    """What the replay left out or assumed, in words."""

    def errors(self) -> pd.DataFrame:
        """Per group: wait_mean, wait_p50, wait_p95 of job waits (s), actual against simulated."""
        rows = []
        for group, mine in [("all", self.runs), *self.runs.groupby("group", sort=True)]:
            for metric, f in (("wait_mean", np.mean), ("wait_p50", np.median),
                              ("wait_p95", lambda v: np.percentile(v, 95))):
                actual = float(f(mine["actual_wait_s"].to_numpy()))
                simulated = float(f(mine["simulated_wait_s"].to_numpy()))
                error = (simulated - actual) / actual if actual else (
                    0.0 if simulated == actual else np.nan)
                rows.append((str(group), metric, actual, simulated, error,
                             abs(simulated - actual)))
        return pd.DataFrame(rows, columns=["group", "metric", "actual", "simulated", "error",
                                           "abs_error"])


def backtest(history: History, topology: str | Path | Mapping[str, Any] | Scenario, *,
             other_servers: bool = False) -> Backtest:
    """Replay ``history`` on ``topology`` (a scenario file, mapping or Scenario).

    A task row that ran on a server the topology lacks is refused, unless
    ``other_servers`` is true: then it is replayed on the topology's servers like any other
    (a what-if such as "one server fewer"), and ``Backtest.notes`` says how many rows.
    """
    notes: list[str] = []
    topo = load(topology)
    jobs, tasks = history.jobs, history.tasks
    if tasks["runtime"].any():
        raise HistoryError(" ".join(history.sources), "runtime tasks are not replayed yet")
    origin = pd.Timestamp(topo.start).tz_convert("UTC")
    end = origin + pd.Timedelta(topo.horizon, unit="ns")
    inside = jobs[(jobs["scheduled"] >= origin) & (jobs["scheduled"] < end)
                  & jobs["run_id"].isin(tasks["run_id"])]
    if inside.empty:
        first, last = history.period
        raise HistoryError(" ".join(history.sources), f"no job run is due in the topology's"
                           f" period {origin:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (UTC); the"
                           f" history covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}")
    servers = {s.name for s in topo.servers}
    unknown = tasks["server"].dropna().astype(str)
    unknown = unknown[~unknown.isin(servers)]
    if len(unknown) and other_servers:
        notes.append(f"{len(unknown)} task rows ran on servers not in the topology"
                     f" ({', '.join(sorted(set(unknown)))}); replayed on its servers")
    elif len(unknown):
        raise HistoryError(" ".join(history.sources), f"server {unknown.iloc[0]!r} of"
                           f" {len(unknown)} task rows is not in the topology {topo.source}"
                           f" (servers: {', '.join(sorted(servers))})")
    groups = {g.name for g in topo.groups}
    rows = tasks[tasks["run_id"].isin(inside["run_id"])]
    caption = dict(zip(rows["task_id"], rows["task"].astype(str), strict=True))
    local_start = f"{pd.Timestamp(topo.start):%Y-%m-%d %H:%M:%S}"  # the topology's zone
    job_docs: dict[str, Any] = {}
    names: dict[str, list[str]] = {}
    for jname, mine in rows.groupby(rows["job"].astype(str), observed=True, sort=False):
        group = mine["group"].dropna().astype(str)
        gname = group.mode().iloc[0] if len(group) else "default"
        if gname not in groups and topo.scheduling == "affinity":
            raise HistoryError(" ".join(history.sources), f"job {jname!r} is in group {gname!r},"
                               f" which the topology {topo.source} cannot run (groups:"
                               f" {', '.join(sorted(groups))})")
        task_names = list(dict.fromkeys(mine.sort_values("start")["task"].astype(str)))
        per_run = mine.groupby("run_id")["task"].apply(lambda s: sorted(s.astype(str)))
        if any(list(v) != sorted(task_names) for v in per_run):
            raise HistoryError(" ".join(history.sources), f"job {jname!r}: its runs have"
                               " different tasks, which this version does not replay")
        tdocs: dict[str, Any] = {t: {"duration": 0} for t in task_names}
        for task_id, depends, expect in history.constraints.itertuples(index=False):
            b, a = caption.get(task_id), caption.get(depends)
            if b in tdocs and a in tdocs:
                tdocs[b].setdefault("after", {})[a] = str(expect)
        job_docs[jname] = {"start": local_start, "tasks": tdocs,
                           **({"group": gname} if gname in groups else {})}
        names[jname] = task_names
    doc = {k: v for k, v in dict(topo.document).items() if k != "jobs"}
    doc["jobs"] = job_docs
    scenario = load_document(doc, f"back-test on {topo.source}", topo.folder, topo.name)
    index = {j.name: i for i, j in enumerate(scenario.jobs)}
    by_run = {k: v for k, v in rows.groupby("run_id")}
    trace_runs: list[TraceRun] = []
    meta: list[tuple[str, Any, Any]] = []
    ordered = inside.sort_values(["scheduled", "start"], kind="stable")
    for run_id, job, due, start in zip(ordered["run_id"], ordered["job"].astype(str),
                                       ordered["scheduled"], ordered["start"], strict=True):
        mine = by_run[run_id]
        attempts: dict[int, list[tuple[int, bool]]] = {}
        spans = (mine["end"] - mine["start"]).fillna(pd.Timedelta(0)).to_numpy(
            dtype="timedelta64[ns]").astype(np.int64)
        for span, k, task, status in zip(spans.tolist(), mine["retries"].tolist(),
                                         mine["task"].astype(str), mine["status"].astype(str),
                                         strict=True):
            each = span // (k + 1)
            attempts[names[job].index(task)] = (
                [(each, True)] * k + [(span - each * k, status == "Error")])
        offset = int((pd.Timestamp(due) - origin) // pd.Timedelta(1, unit="ns"))
        trace_runs.append(TraceRun(index[job], offset, attempts))
        meta.append((job, due, start))
    model = ReplayModel(scenario, Trace(trace_runs))
    model.run()
    result = Result.from_model(model)
    sim = result.jobs.sort_values(["scheduled", "job", "run"], kind="stable")
    frame = pd.DataFrame(meta, columns=["job", "due", "actual_start"])
    frame = frame.sort_values(["due", "job"], kind="stable").reset_index(drop=True)
    frame["simulated_start"] = sim["start"].dt.tz_convert("UTC").to_numpy()
    group_of = {j.name: j.group for j in scenario.jobs}
    frame["group"] = frame["job"].map(group_of)
    frame["actual_wait_s"] = (frame["actual_start"] - frame["due"]).dt.total_seconds()
    frame["simulated_wait_s"] = (pd.to_datetime(frame["simulated_start"], utc=True)
                                 - frame["due"]).dt.total_seconds()
    return Backtest(result, frame, "BatchConstraints" if len(history.constraints) else "none",
                    tuple(notes))
