"""What a run produced: batch history tables and the summaries planners read first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simbatch.engine.jobs import STATUS
from simbatch.engine.model import Model
from simbatch.recorder import NA
from simbatch.scenario import Scenario
from simbatch.timegrammar import NS, epoch_ns

__all__ = ["Result"]


def _names(names: Sequence[str], codes: np.ndarray) -> pd.Series:
    lookup = np.array([*names, None], dtype=object)
    return pd.Series(lookup[np.where(codes == NA, len(names), codes)], dtype="string")


def _moments(values: np.ndarray, origin: int, zone: str) -> pd.Series:
    absolute = np.where(values == NA, NA, values + origin).view("datetime64[ns]")
    return pd.Series(absolute).dt.tz_localize("UTC").dt.tz_convert(zone)


def _spans(later: np.ndarray, earlier: np.ndarray) -> pd.Series:
    missing = (later == NA) | (earlier == NA)
    return pd.Series(np.where(missing, NA, later - earlier).view("timedelta64[ns]"))


@dataclass(frozen=True, eq=False)
class Result:
    """The batch history of one simulated run, with its summaries.

    ``tasks`` has one row per attempt (like BatchHistory) and ``jobs`` one row per run
    (like BatchJobHistory); the README documents every column. ``capacity`` is each
    server's thread limit over time, from ``start`` on.
    """

    scenario: Scenario
    seed: int
    tasks: pd.DataFrame
    jobs: pd.DataFrame
    capacity: pd.DataFrame
    poll_offsets: pd.Series

    @classmethod
    def from_model(cls, model: Model) -> Result:
        """Build the tables of a finished model."""
        scenario = model.scenario
        rec = model.recorder
        origin = epoch_ns(scenario.start)
        zone = scenario.timezone
        jobs = [j.name for j in scenario.jobs]
        tasks_by_job = [plan.names for plan in model.plans]  # runtime children included
        groups = [g.name for g in scenario.groups]
        servers = [s.name for s in scenario.servers]

        t = rec.columns("tasks")
        order = np.lexsort((t["attempt"], t["task"], t["run"], t["job"]))
        t = {name: col[order] for name, col in t.items()}
        task_names = np.array([tasks_by_job[j][k] for j, k in zip(t["job"], t["task"],
                                                                  strict=True)], dtype=object)
        tasks = pd.DataFrame({
            "job": _names(jobs, t["job"]),
            "run": t["run"],
            "task": pd.Series(task_names, dtype="string"),
            "group": _names(groups, t["group"]),
            "server": _names(servers, t["server"]),
            "attempt": t["attempt"],
            "status": _names(STATUS, t["status"]),
            "ready": _moments(t["ready"], origin, zone),
            "start": _moments(t["start"], origin, zone),
            "end": _moments(t["end"], origin, zone),
            "wait": _spans(t["start"], t["ready"]),
            "duration": _spans(t["end"], t["start"]),
        })

        j = rec.columns("jobs")
        order = np.lexsort((j["run"], j["job"]))
        j = {name: col[order] for name, col in j.items()}
        jobs_table = pd.DataFrame({
            "job": _names(jobs, j["job"]),
            "run": j["run"],
            "scheduled": _moments(j["scheduled"], origin, zone),
            "start": _moments(j["start"], origin, zone),
            "end": _moments(j["end"], origin, zone),
            "status": _names(STATUS, j["status"]),
            "wait": _spans(j["start"], j["scheduled"]),
            "duration": _spans(j["end"], j["start"]),
            "tasks": j["tasks"],
            "skipped": j["skipped"],
        })

        limits = model.limits
        capacity = pd.DataFrame({
            "server": pd.Series([servers[s] for s in model.servers
                                 for _ in limits.times[s]], dtype="string"),
            "start": _moments(np.array([x for s in model.servers for x in limits.times[s]],
                                       dtype=np.int64), origin, zone),
            "threads": np.array([x for s in model.servers for x in limits.limits[s]],
                                dtype=np.int64),
        })
        offsets = pd.Series(pd.to_timedelta(model.offsets, unit="ns"),
                            index=pd.Index(servers, name="server"), name="poll_offset")
        return cls(scenario, model.seed, tasks, jobs_table, capacity, offsets)

    def summary(self) -> pd.DataFrame:
        """Per group: attempts released to the queue, how many started, and their waits.

        ``tasks`` counts attempts (rows that became ready: Ended, Error, Executing and
        Ready); the wait columns are over the attempts that started.
        """
        rows = []
        tasks = self.tasks
        for group in [g.name for g in self.scenario.groups]:
            mine = tasks[tasks["group"] == group]
            if mine.empty:
                continue
            attempts = mine[mine["ready"].notna()]
            waits = attempts["wait"].dropna()
            values = waits.to_numpy(dtype="int64") if len(waits) else np.zeros(0, np.int64)
            stats = ([values.mean(), np.percentile(values, 50), np.percentile(values, 95),
                      values.max()] if len(values) else [np.nan] * 4)
            rows.append([group, len(attempts), len(waits),
                         *(pd.Timedelta(round(x), unit="ns") if np.isfinite(x) else pd.NaT
                           for x in stats)])
        return pd.DataFrame(rows, columns=["group", "tasks", "started", "wait_mean", "wait_p50",
                                           "wait_p95", "wait_max"]).astype(
            {"group": "string", "tasks": "int64", "started": "int64"})

    def utilization(self) -> pd.DataFrame:
        """Per server: busy thread-seconds ÷ the thread-seconds its periods allow."""
        horizon = self.scenario.horizon
        tasks = self.tasks[self.tasks["server"].notna()]
        origin = epoch_ns(self.scenario.start)
        start = tasks["start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("int64")
        end_col = tasks["end"].dt.tz_convert("UTC").dt.tz_localize(None)
        end = np.where(end_col.isna(), origin + horizon, end_col.to_numpy("int64", na_value=0))
        busy_by_server = pd.Series(end - start, index=tasks["server"].to_numpy()).groupby(
            level=0).sum()
        rows = []
        capacity = self.capacity
        for server in self.scenario.servers:
            mine = capacity[capacity["server"] == server.name]
            starts = mine["start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("int64")
            bounds = np.append(starts - origin, horizon)
            available = float(np.sum(mine["threads"].to_numpy() * np.diff(bounds))) / NS
            busy = float(busy_by_server.get(server.name, 0)) / NS
            rows.append([server.name, busy, available,
                         busy / available if available > 0 else np.nan])
        return pd.DataFrame(rows, columns=["server", "busy_thread_seconds",
                                           "available_thread_seconds", "utilization"]).astype(
            {"server": "string"})
