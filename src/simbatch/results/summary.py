"""A run's metric rows (metric, key, value): from the recorder's columns, or from its tables.

Experiments and plans read a few figures from each run: waits per group, utilization per
server, job counts, the backlog at the horizon and the deadline rows. Building the full
``tasks`` and ``jobs`` tables (names as strings, tz-aware times) only to read those costs
more than it needs, so a replication reads the recorded rows (``metric_rows`` of a model).
A ``Result``'s tables give the same rows (``result_metric_rows``). Both read the run into
one ``RunColumns`` (plain arrays in the tables' row order) and measure it with the one
implementation of each metric (``simbatch.results.measures``): equal bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simbatch.engine import budget
from simbatch.engine.database import LOAD_UNIT
from simbatch.engine.model import Model
from simbatch.engine.status import STATUS
from simbatch.results.measures import (
    NA,
    Steps,
    capacity_changes,
    deadline_figures,
    failed_runs,
    judge_deadlines,
    seconds,
    server_utilization,
    span_seconds,
    wait_figures,
)
from simbatch.results.metrics import database_figures
from simbatch.results.tables import Tables, database_states, instants
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import epoch_ns

__all__ = ["RunColumns", "deadline_rows", "metric_rows", "replication_metrics",
           "result_metric_rows"]

Row = tuple[str, str, float]

_ENDED, _ERROR = STATUS.index("Ended"), STATUS.index("Error")
_OPEN = [STATUS.index("Ready"), STATUS.index("Waiting")]


@dataclass(frozen=True)
class RunColumns:
    """What the metric rows read of a run, as plain arrays.

    Instants are ns since the epoch (``NA`` where missing); groups, servers, jobs and
    statuses are codes: indices in the scenario's groups, servers and jobs (negative when
    none) and in ``STATUS``. Task arrays are in the tasks table's row order (job, run,
    task, attempt), job arrays in the jobs table's (job, run).
    """

    ready: np.ndarray
    start: np.ndarray
    end: np.ndarray
    group: np.ndarray
    server: np.ndarray
    status: np.ndarray
    job: np.ndarray
    job_status: np.ndarray
    scheduled: np.ndarray
    job_start: np.ndarray
    job_end: np.ndarray
    capacity: list[Steps]
    """Each server's thread limit over time (the capacity table's rows)."""
    database: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    """With a database: its states (ns after the start, load, tasks), one per change."""

    @classmethod
    def of_model(cls, model: Model) -> RunColumns:
        """The columns of a finished model, from its recorded rows."""
        origin = epoch_ns(model.scenario.start)
        tasks = model.recorder.rows("tasks")
        tasks = tasks[np.lexsort((tasks["attempt"], tasks["task"], tasks["run"], tasks["job"]))]
        jobs = model.recorder.rows("jobs")
        jobs = jobs[np.lexsort((jobs["run"], jobs["job"]))]
        changes = capacity_changes(model.limits)
        database = None
        if model.db is not None:
            state = database_states(model.db.rows("state"))
            database = (state["time"].astype(np.int64), state["load"] / LOAD_UNIT,
                        state["tasks"].astype(np.int64))
        return cls(
            ready=_epoch(tasks["ready"], origin), start=_epoch(tasks["start"], origin),
            end=_epoch(tasks["end"], origin), group=tasks["group"], server=tasks["server"],
            status=tasks["status"], job=jobs["job"], job_status=jobs["status"],
            scheduled=_epoch(jobs["scheduled"], origin), job_start=_epoch(jobs["start"], origin),
            job_end=_epoch(jobs["end"], origin),
            capacity=[Steps(np.array([t + origin for s, t, _, _ in changes if s == server],
                                     np.int64),
                            np.array([n for s, _, n, _ in changes if s == server], np.float64))
                      for server in range(len(model.scenario.servers))], database=database)

    @classmethod
    def of_tables(cls, result: Tables) -> RunColumns:
        """The columns of a run's tables."""
        scenario = result.scenario
        tasks, jobs, cap = result.tasks, result.jobs, result.capacity
        servers = [s.name for s in scenario.servers]
        return cls(
            ready=instants(tasks.ready), start=instants(tasks.start), end=instants(tasks.end),
            group=_codes(tasks.group, [g.name for g in scenario.groups]),
            server=_codes(tasks.server, servers), status=_codes(tasks.status, STATUS),
            job=_codes(jobs.job, [j.name for j in scenario.jobs]),
            job_status=_codes(jobs.status, STATUS), scheduled=instants(jobs.scheduled),
            job_start=instants(jobs.start), job_end=instants(jobs.end),
            capacity=[Steps(instants(mine.start), mine.threads.to_numpy(np.float64))
                      for mine in (cap[cap.server == name] for name in servers)],
            database=None if result.database is None else (
                instants(result.database.time) - epoch_ns(scenario.start),
                result.database.load.to_numpy(), result.database.tasks.to_numpy(np.int64)))


def _epoch(recorded: np.ndarray, origin: int) -> np.ndarray:
    """Recorded instants (ns after ``origin``, ``NA`` when missing) as ns since the epoch."""
    values = recorded.astype(np.int64)
    out: np.ndarray = np.where(values == NA, NA, values + origin)
    return out


def _codes(column: pd.Series, names: Sequence[str]) -> np.ndarray:
    """A table's categorical names as indices in ``names`` (-1 where missing)."""
    categories = pd.Categorical(column).categories
    where = {name: i for i, name in enumerate(names)}
    remap = np.array([*(where[str(c)] for c in categories), -1], dtype=np.int64)
    codes = pd.Categorical(column).codes
    out: np.ndarray = remap[np.where(codes < 0, len(categories), codes)]
    return out


# ---- the rows ---------------------------------------------------------------------------------

def replication_metrics(scenario: Scenario, seed: int, warmup: int = 0,
                        max_attempts: int | None = None) -> pd.DataFrame:
    """Simulate a loaded scenario once and return its metric rows (metric, key, value).

    The rows equal those of ``simulate(scenario, seed)``'s tables (``result_metric_rows``);
    the work budget is checked as ``simulate`` checks it.
    """
    budget.check(scenario, max_attempts)
    model = Model(scenario, seed)
    model.run()
    return pd.DataFrame(metric_rows(model, warmup), columns=["metric", "key", "value"])


def metric_rows(model: Model, warmup: int = 0) -> list[Row]:
    """The metric rows of a finished model, from its recorded rows."""
    return rows_of(model.scenario, RunColumns.of_model(model), warmup)


def result_metric_rows(result: Tables, warmup: int = 0) -> list[Row]:
    """The metric rows of a run's tables (a ``Result``): the rows ``metric_rows`` gives."""
    return rows_of(result.scenario, RunColumns.of_tables(result), warmup)


def rows_of(scenario: Scenario, run: RunColumns, warmup: int = 0) -> list[Row]:
    """A run's key figures as rows (metric, key, value).

    Waits count attempts that became ready after the warm-up (ns after the start);
    utilization and job counts cover the whole horizon.
    """
    first = (pd.Timestamp(scenario.start) + pd.Timedelta(warmup, unit="ns")).value
    rows = wait_figures([g.name for g in scenario.groups], run.ready, run.start, run.group,
                        first)
    origin = epoch_ns(scenario.start)
    end = origin + scenario.horizon
    started = run.start != NA
    server, starts = run.server[started], run.start[started]
    ends = np.where(run.end[started] == NA, end, run.end[started])
    for s, limit in enumerate(run.capacity):
        mine = server == s
        used, had = server_utilization(origin, end, starts[mine], ends[mine], limit)
        rows.append(("utilization", scenario.servers[s].name,
                     used / had if had > 0 else np.nan))
    rows += [("jobs_ended", "all", float((run.job_status == _ENDED).sum())),
             ("jobs_error", "all", float((run.job_status == _ERROR).sum()))]
    done = (run.job_start != NA) & (run.job_end != NA)
    rows.append(("job_duration_mean_s", "all",
                 float(seconds(run.job_end[done] - run.job_start[done]).mean())
                 if done.any() else np.nan))
    rows.append(("backlog_at_horizon", "all", float(np.isin(run.status, _OPEN).sum())))
    rows += deadline_rows(scenario, run)
    if run.database is not None and scenario.database is not None:
        f = database_figures(*run.database, scenario.database.capacity, scenario.horizon)
        rows += [("db_saturated_share", "all", f.saturated / scenario.horizon),
                 ("db_lost_share", "all", f.lost_share),
                 ("db_peak_tasks", "all", float(f.peak_tasks)),
                 ("db_saturation_tasks", "all", f.saturation_tasks)]
    return rows


def deadline_rows(scenario: Scenario, run: RunColumns) -> list[Row]:
    """Per job with a deadline (key = the job's name), its deadline metrics over the horizon.

    ``deadline_runs`` (judged: met + missed + failed), ``deadline_misses`` (missed +
    failed: a run whose job ended in Error is a miss), ``deadline_miss`` (the share of
    judged runs that are misses, NaN when none was judged), ``deadline_undetermined`` (open
    at the horizon before their deadline), ``lateness_p50_s`` and ``lateness_p95_s`` (end -
    deadline over the met and missed runs), ``margin_min_s`` (the smallest deadline - end
    over the finished runs that did not fail; negative when late) and ``latest_finish_s``
    (the longest time from a run's due time, its ``scheduled``, to its end, over the same).
    """
    horizon_end = epoch_ns(scenario.end)
    rows: list[Row] = []
    for j, job in enumerate(scenario.jobs):
        if job.deadline is None:
            continue
        mine = run.job == j
        scheduled, end = run.scheduled[mine], run.job_end[mine]
        due = np.where(scheduled == NA, 0, scheduled)
        deadline, finished, late, undetermined = judge_deadlines(
            job.deadline, str(scenario.zone_of(job)), due, end, horizon_end)
        failed = failed_runs(finished, run.job_status[mine] == _ERROR)
        f = deadline_figures(deadline, due, end, finished, late, undetermined, failed)
        rows += [("deadline_runs", job.name, float(f.runs)),
                 ("deadline_misses", job.name, float(f.misses)),
                 ("deadline_miss", job.name, f.miss_share),
                 ("deadline_undetermined", job.name, float(f.undetermined)),
                 ("lateness_p50_s", job.name, span_seconds(f.lateness_p50)),
                 ("lateness_p95_s", job.name, span_seconds(f.lateness_p95)),
                 ("margin_min_s", job.name, span_seconds(f.margin_min)),
                 ("latest_finish_s", job.name, span_seconds(f.latest_finish))]
    return rows
