"""A run's tables: batch history (tasks, jobs), capacity, releases and outages.

``Tables`` holds what a run produced as DataFrames, built a column at a time from the
recorder's rows; the metrics (``simbatch.results.metrics``) read it, and ``Result``
(``simbatch.results.result``) adds them as methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import pandas as pd

from simbatch.engine.database import LOAD_UNIT
from simbatch.engine.model import Model
from simbatch.engine.recorder import NA
from simbatch.engine.status import CAUSES, STATUS
from simbatch.results.measures import capacity_changes
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import epoch_ns

__all__ = ["DATABASE_COLUMNS", "JOB_COLUMNS", "TASK_COLUMNS", "Tables", "database_states",
           "instants"]


def instants(column: pd.Series, missing: int = NA) -> np.ndarray:
    """A table's tz-aware times as ns since the epoch (the metrics' arrays), ``missing``
    where NaT."""
    values = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
    out: np.ndarray = values.view(np.int64).copy()
    out[np.isnat(values)] = missing
    return out


def _names(names: Sequence[str], codes: np.ndarray, also: Sequence[str] = ()) -> pd.Series:
    """Names by code, as a categorical column; a negative code is missing (NaN).

    The categories are ``names`` and ``also``, sorted, so that sorting by the column sorts
    by name. A row costs its code (1 to 4 bytes) instead of the string.
    """
    categories = sorted({*names, *also})
    where = {name: i for i, name in enumerate(categories)}
    remap = np.array([*(where[n] for n in names), -1], dtype=np.int32)
    mapped = remap[np.where(codes < 0, len(names), codes)]
    return pd.Series(pd.Categorical.from_codes(mapped, categories=pd.Index(categories)))


def _moments(values: np.ndarray, origin: int, zone: str) -> pd.Series:
    """Recorded instants (ns after ``origin``, ``NA`` when missing) as tz-aware times.

    ``values`` must be the caller's own copy: it is shifted in place, so that a column
    costs one temporary (the UTC localisation's) rather than three.
    """
    np.add(values, origin, out=values, where=values != NA)
    times = pd.Series(values.view("datetime64[ns]"), copy=False)
    return times.dt.tz_localize("UTC").dt.tz_convert(zone)


def _spans(later: np.ndarray, earlier: np.ndarray) -> pd.Series:
    """``later - earlier`` as timedeltas, NaT where either is missing."""
    span = later - earlier
    span[(later == NA) | (earlier == NA)] = NA
    return pd.Series(span.view("timedelta64[ns]"), copy=False)


def _add_times(columns: dict[str, Any], raw: dict[str, np.ndarray], first: str, origin: int,
               zone: str) -> None:
    """Add ``first`` (ready or scheduled), start and end as times, and wait (start - first)
    and duration (end - start) as spans, from the gathered columns ``raw``.

    It empties ``raw``, so that each gathered column is freed once it is converted: the
    tables' peak memory is set here.
    """
    start, earlier = raw.pop("start"), raw.pop(first)
    columns["wait"] = _spans(start, earlier)  # spans first: _moments shifts in place
    columns[first] = _moments(earlier, origin, zone)
    del earlier
    end = raw.pop("end")
    columns["duration"] = _spans(end, start)
    columns["start"] = _moments(start, origin, zone)
    columns["end"] = _moments(end, origin, zone)


def _task_names(model: Model, job: np.ndarray, task: np.ndarray) -> pd.Series:
    """Task names by (job, task) code, runtime children included, through one flat lookup.

    The categories hold every runtime child a task may add (up to its most), not only
    those this run drew, so that every run of a scenario has the same categories.
    """
    first = np.cumsum([0, *(len(plan.names) for plan in model.plans)])
    children = [f"{t.name} #{k}" for plan in model.plans for t in plan.job.tasks
                if t.runtime is not None for k in range(1, t.runtime.tasks[1] + 1)]
    return _names([name for plan in model.plans for name in plan.names], first[job] + task,
                  children)


def _tasks_table(model: Model, jobs: list[str], servers: list[str], origin: int,
                 zone: str) -> pd.DataFrame:
    """The tasks table, built a column at a time so that few temporaries coexist."""
    rows = model.recorder.rows("tasks")
    order = np.lexsort((rows["attempt"], rows["task"], rows["run"], rows["job"]))
    job = rows["job"][order]
    columns: dict[str, Any] = {
        "job": _names(jobs, job),
        "run": rows["run"][order].astype(np.int64),
        "task": _task_names(model, job, rows["task"][order]),
    }
    del job
    columns["group"] = _names([g.name for g in model.scenario.groups], rows["group"][order])
    columns["server"] = _names(servers, rows["server"][order])
    columns["attempt"] = rows["attempt"][order].astype(np.int64)
    columns["status"] = _names(STATUS, rows["status"][order])
    columns["cause"] = _names(CAUSES[1:], rows["cause"][order].astype(np.int16) - 1)
    names = list(TASK_COLUMNS)
    if model.db is not None:  # the work each attempt sampled, before contention stretched it
        columns["work"] = _work(model, rows[order])
        names.insert(names.index("duration") + 1, "work")
    raw = {name: rows[name][order] for name in ("ready", "start", "end")}
    del order
    _add_times(columns, raw, "ready", origin, zone)
    return pd.DataFrame({name: columns[name] for name in names}, copy=False)


def _work(model: Model, rows: np.ndarray) -> pd.Series:
    """The sampled work of each recorded attempt (NaT for those that never started)."""
    assert model.db is not None
    work = model.db.rows("work")
    key = ["job", "run", "task", "attempt"]
    left = pd.DataFrame({k: rows[k].astype(np.int64) for k in key})
    right = pd.DataFrame({k: work[k].astype(np.int64) for k in key})
    right["work"] = work["work"]
    merged = left.merge(right, on=key, how="left")["work"].to_numpy(dtype=float)
    return pd.Series(pd.to_timedelta(merged, unit="ns"))


def database_states(state: np.ndarray) -> np.ndarray:
    """The database's recorded states, one per change: an instant's last state, and only
    where the load or the number of tasks differs from the state before."""
    last = np.r_[state["time"][1:] != state["time"][:-1], True]
    state = state[last]
    changed = np.r_[True, (state["load"][1:] != state["load"][:-1])
                    | (state["tasks"][1:] != state["tasks"][:-1])]
    kept: np.ndarray = state[changed]
    return kept


def _database_table(model: Model, origin: int, zone: str) -> pd.DataFrame | None:
    """The database's load, executing tasks and speed over time: one row per change."""
    if model.db is None:
        return None
    state = database_states(model.db.rows("state"))
    load = state["load"] / LOAD_UNIT
    return pd.DataFrame({
        "time": _moments(state["time"].astype(np.int64), origin, zone),
        "load": load,
        "tasks": state["tasks"].astype(np.int64),
        "speed": np.minimum(1.0, model.db.capacity / np.maximum(load, 1e-300)),
    })


def _jobs_table(model: Model, jobs: list[str], origin: int, zone: str) -> pd.DataFrame:
    rows = model.recorder.rows("jobs")
    order = np.lexsort((rows["run"], rows["job"]))
    columns: dict[str, Any] = {
        "job": _names(jobs, rows["job"][order]),
        "run": rows["run"][order].astype(np.int64),
        "status": _names(STATUS, rows["status"][order]),
        "tasks": rows["tasks"][order].astype(np.int64),
        "skipped": rows["skipped"][order].astype(np.int64),
    }
    raw = {name: rows[name][order] for name in ("scheduled", "start", "end")}
    del order
    _add_times(columns, raw, "scheduled", origin, zone)
    return pd.DataFrame({name: columns[name] for name in JOB_COLUMNS}, copy=False)


def _capacity_table(model: Model, servers: list[str], origin: int, zone: str) -> pd.DataFrame:
    """Each server's thread limit over time, and whether it is dedicated to Reserved
    capacity: one row wherever either changes."""
    rows = capacity_changes(model.limits)
    return pd.DataFrame({
        "server": _names(servers, np.array([r[0] for r in rows], dtype=np.int64)),
        "start": _moments(np.array([r[1] for r in rows], np.int64), origin, zone),
        "threads": np.array([r[2] for r in rows], dtype=np.int64),
        "reserved": np.array([r[3] for r in rows], dtype=bool),
    })


JOB_COLUMNS = ("job", "run", "scheduled", "start", "end", "status", "wait", "duration", "tasks",
               "skipped")
"""The jobs table's columns, in order (docs/reference/results.md documents each)."""
DATABASE_COLUMNS = ("time", "load", "tasks", "speed")
"""The ``database`` table's columns (with ``database:`` in the scenario only)."""
TASK_COLUMNS = ("job", "run", "task", "group", "server", "attempt", "status", "ready", "start",
                "end", "wait", "duration", "cause")
"""The tasks table's columns, in order (docs/reference/results.md documents each)."""


@dataclass(frozen=True, eq=False)
class Tables:
    """The batch history of one simulated run, as tables.

    ``tasks`` has one row per attempt (like BatchHistory) and ``jobs`` one row per run
    (like BatchJobHistory); docs/reference/results.md documents every column. ``capacity`` is each
    server's thread limit over time, from ``start`` on (0 while it is down), and whether it
    is dedicated to Reserved capacity then; ``outages`` lists when each server was down.
    """

    scenario: Scenario
    seed: int
    tasks: pd.DataFrame
    jobs: pd.DataFrame
    capacity: pd.DataFrame
    poll_offsets: pd.Series
    releases: pd.DataFrame
    """Ready tasks that max concurrency held back: when each was let into the queue."""
    outages: pd.DataFrame
    """When each server was down (server, start, end, kind: outage or maintenance)."""
    database: pd.DataFrame | None = None
    """With ``database:`` in the scenario: its load, executing tasks (of load above 0) and
    speed from each change on (time, load, tasks, speed); else None."""

    @classmethod
    def from_model(cls, model: Model) -> Self:
        """Build the tables of a finished model (each table's raw rows freed once it is built)."""
        scenario = model.scenario
        origin = epoch_ns(scenario.start)
        zone = scenario.timezone
        jobs = [j.name for j in scenario.jobs]
        servers = [s.name for s in scenario.servers]
        rel = model.recorder.rows("releases")
        releases = pd.DataFrame({
            "job": _names(jobs, rel["job"]),
            "run": rel["run"].astype(np.int64),
            "task": _task_names(model, rel["job"], rel["task"]),
            "attempt": rel["attempt"].astype(np.int64),
            "released": _moments(rel["time"].astype(np.int64), origin, zone),
        })
        tasks = _tasks_table(model, jobs, servers, origin, zone)
        model.recorder.discard("tasks")
        jobs_table = _jobs_table(model, jobs, origin, zone)
        model.recorder.discard("jobs")

        capacity = _capacity_table(model, servers, origin, zone)
        down = [(s, b, e, kind) for s, spans in enumerate(model.limits.down)
                for b, e, kind in spans]
        outages = pd.DataFrame({
            "server": _names(servers, np.array([d[0] for d in down], dtype=np.int64)),
            "start": _moments(np.array([d[1] for d in down], np.int64), origin, zone),
            "end": _moments(np.array([d[2] for d in down], np.int64), origin, zone),
            "kind": pd.Series([d[3] for d in down], dtype="string"),
        })
        offsets = pd.Series(pd.to_timedelta(model.offsets, unit="ns"),
                            index=pd.Index(servers, name="server"), name="poll_offset")
        return cls(scenario, model.seed, tasks, jobs_table, capacity, offsets, releases, outages,
                   _database_table(model, origin, zone))
