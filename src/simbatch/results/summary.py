"""One replication's metrics straight from the recorder's columns, without the tables.

Experiments and plans read a few figures from each run: waits per group, utilization per
server, job counts, the backlog at the horizon and the deadline rows. Building the full
``tasks`` and ``jobs`` tables (names as strings, tz-aware times) only to read those costs
more than it needs; here they come from the recorded rows (structured numpy arrays, read by
field name) with the same operations, in the same order, as the table path
(``simbatch.experiments.runs.metrics`` of a ``Result``), so the values are equal bit for bit.
That path stays the reference; tests check the two agree on every bundled scenario.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simbatch.engine import budget
from simbatch.engine.jobs import STATUS
from simbatch.engine.model import Model
from simbatch.engine.recorder import NA
from simbatch.engine.servers import Limits
from simbatch.results import metrics as table_metrics
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import NS, epoch_ns

__all__ = ["metric_rows", "replication_metrics"]

Row = tuple[str, str, float]

_ENDED, _ERROR = STATUS.index("Ended"), STATUS.index("Error")
_OPEN = [STATUS.index("Ready"), STATUS.index("Waiting")]


def replication_metrics(scenario: Scenario, seed: int, warmup: int = 0,
                        max_attempts: int | None = None) -> pd.DataFrame:
    """Simulate a loaded scenario once and return its metric rows (metric, key, value).

    The rows equal ``experiments.metrics(simulate(scenario, seed), warmup)``; the work
    budget is checked as ``simulate`` checks it.
    """
    budget.check(scenario, max_attempts)
    model = Model(scenario, seed)
    model.run()
    return pd.DataFrame(metric_rows(model, warmup), columns=["metric", "key", "value"])


def metric_rows(model: Model, warmup: int = 0) -> list[Row]:
    """The metric rows of a finished model, in the order ``experiments.metrics`` gives them."""
    scenario = model.scenario
    origin = epoch_ns(scenario.start)
    tasks = model.recorder.rows("tasks")
    # the waits in the tasks table's row order: the sums behind the means add in that order
    order = np.lexsort((tasks["attempt"], tasks["task"], tasks["run"], tasks["job"]))
    rows = _wait_rows(scenario, tasks["ready"][order], tasks["start"][order],
                      tasks["group"][order], origin, warmup)
    del order
    rows += _utilization_rows(scenario, model.limits, tasks, origin)
    jobs = model.recorder.rows("jobs")
    jobs = jobs[np.lexsort((jobs["run"], jobs["job"]))]
    status = jobs["status"]
    rows += [("jobs_ended", "all", float((status == _ENDED).sum())),
             ("jobs_error", "all", float((status == _ERROR).sum()))]
    done = (jobs["start"] != NA) & (jobs["end"] != NA)
    rows.append(("job_duration_mean_s", "all",
                 float(_seconds(jobs["end"][done] - jobs["start"][done]).mean())
                 if done.any() else np.nan))
    rows.append(("backlog_at_horizon", "all", float(np.isin(tasks["status"], _OPEN).sum())))
    rows += deadline_rows(scenario, jobs, origin)
    return rows


def _seconds(ns: np.ndarray) -> np.ndarray:
    """Spans in ns as float seconds, by ``total_seconds`` itself: pandas nudges a quotient
    that lands next to a whole second, so a plain division can differ in the last bit."""
    spans = pd.TimedeltaIndex(ns.astype(np.int64).view("timedelta64[ns]"))
    out: np.ndarray = spans.total_seconds().to_numpy(dtype=np.float64)
    return out


def _wait_rows(scenario: Scenario, ready: np.ndarray, start: np.ndarray, group: np.ndarray,
               origin: int, warmup: int) -> list[Row]:
    """tasks_started, wait_mean_s and wait_p95_s for all and per group, after the warm-up
    (the attempts' ready and start times and group codes, in the tasks table's order)."""
    first = (pd.Timestamp(scenario.start) + pd.Timedelta(warmup, unit="ns")).value - origin
    after = (ready != NA) & (ready >= first)
    group = group[after]
    started = start[after] != NA
    waits = _seconds(start[after][started] - ready[after][started])
    started_group = group[started]
    names = [g.name for g in scenario.groups]
    present = sorted((names[g], g) for g in np.unique(group) if g >= 0)
    rows: list[Row] = []
    for key, done in [("all", waits), *((name, waits[started_group == g])
                                        for name, g in present)]:
        rows += [("tasks_started", key, float(len(done))),
                 ("wait_mean_s", key, float(done.mean()) if len(done) else np.nan),
                 ("wait_p95_s", key, float(np.quantile(done, 0.95)) if len(done) else np.nan)]
    return rows


def capacity_steps(limits: Limits) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per server: the instants (ns after the start) of the capacity table's rows, and the
    thread limit from each: a row wherever the limit or the Reserved dedication changes."""
    switch_times = [t for t, _ in limits.reserved]
    out = []
    for s in range(len(limits.times)):
        times, threads = [], []
        last: tuple[int, bool] | None = None
        for t in sorted({*limits.times[s], *switch_times}):
            state = (limits.at(s, t), limits.dedicated_at(s, t))
            if state != last:
                times.append(t)
                threads.append(state[0])
                last = state
        out.append((np.array(times, np.int64), np.array(threads, np.float64)))
    return out


def _utilization_rows(scenario: Scenario, limits: Limits, tasks: np.ndarray,
                      origin: int) -> list[Row]:
    """Busy ÷ available thread-seconds per server, as ``metrics.utilization`` computes it."""
    end = origin + scenario.horizon
    started = tasks["start"] != NA
    # by server (the busy count does not depend on the order of the rows)
    by_server = np.argsort(tasks["server"][started], kind="stable")
    server = tasks["server"][started][by_server]
    starts = tasks["start"][started][by_server].astype(np.int64) + origin
    ends = tasks["end"][started][by_server].astype(np.int64)
    ends = np.where(ends == NA, end, ends + origin)
    cuts = np.searchsorted(server, np.arange(len(scenario.servers) + 1))
    bins = np.array([origin, end], np.int64)
    rows: list[Row] = []
    for s, (times, threads) in enumerate(capacity_steps(limits)):
        mine = slice(cuts[s], cuts[s + 1])
        busy = table_metrics._count(origin, starts[mine], ends[mine])
        limit = table_metrics.Steps(times + origin, threads)
        used = float(_areas(busy, bins)[0])
        had = float(_areas(_available(busy, limit), bins)[0])
        rows.append(("utilization", scenario.servers[s].name, used / had if had > 0 else np.nan))
    return rows


def _unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` of integer instants, by one sort (numpy's hashing is slower here)."""
    ordered = np.sort(values, kind="stable")  # runs of sorted instants: merged, not sorted
    out: np.ndarray = ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(
        ordered) else ordered
    return out


def _areas(step: table_metrics.Steps, bins: np.ndarray) -> np.ndarray:
    """``metrics._areas`` with ``_unique``: the same grid, so the same sums."""
    grid = _unique(np.r_[step.times, bins])
    area = np.r_[0, np.cumsum(step.at(grid)[:-1] * np.diff(grid))]
    per_bin: np.ndarray = np.diff(area[np.searchsorted(grid, bins)]) / NS
    return per_bin


def _available(busy: table_metrics.Steps, limit: table_metrics.Steps) -> table_metrics.Steps:
    """``metrics._available`` with ``_unique``."""
    grid = _unique(np.r_[busy.times, limit.times])
    return table_metrics.Steps(grid, np.maximum(limit.at(grid), busy.at(grid)))


def deadline_rows(scenario: Scenario, jobs: np.ndarray, origin: int) -> list[Row]:
    """The deadline rows of ``experiments.deadline_rows`` from the recorded job runs
    (sorted by job and run), judged as ``metrics.deadlines`` judges them."""
    horizon_end = epoch_ns(scenario.end)
    rows: list[Row] = []
    for j, job in enumerate(scenario.jobs):
        if job.deadline is None:
            continue
        mine = jobs[jobs["job"] == j]
        scheduled = mine["scheduled"].astype(np.int64)
        due = np.where(scheduled == NA, 0, scheduled + origin)
        if job.deadline.within is not None:
            deadline = due + job.deadline.within
        else:
            deadline = table_metrics._next_time_of_day(due, job.deadline.time_of_day or 0,
                                                       str(scenario.zone_of(job)))
        finished = mine["end"] != NA
        end = np.where(finished, mine["end"].astype(np.int64) + origin, -1)
        late = np.where(finished, end - deadline, horizon_end - deadline)
        undetermined = ~finished & (deadline >= horizon_end)
        judged_late = late[~undetermined]
        met = int((judged_late <= 0).sum())
        missed = len(judged_late) - met
        judged = met + missed
        margins = deadline[finished] - end[finished]
        spans = end[finished] - due[finished]
        rows += [("deadline_runs", job.name, float(judged)),
                 ("deadline_misses", job.name, float(missed)),
                 ("deadline_miss", job.name, missed / judged if judged else np.nan),
                 ("deadline_undetermined", job.name, float(undetermined.sum())),
                 ("lateness_p50_s", job.name, _quantile_seconds(judged_late, 0.50)),
                 ("lateness_p95_s", job.name, _quantile_seconds(judged_late, 0.95)),
                 ("margin_min_s", job.name, _span_seconds(margins.min()) if len(margins)
                  else np.nan),
                 ("latest_finish_s", job.name, _span_seconds(spans.max()) if len(spans)
                  else np.nan)]
    return rows


def _span_seconds(ns: int | np.integer) -> float:
    """A span in ns as seconds, as ``pd.Timedelta.total_seconds`` gives it."""
    return float(pd.Timedelta(int(ns), unit="ns").total_seconds())


def _quantile_seconds(ns: np.ndarray, q: float) -> float:
    """A quantile of spans (linear interpolation, rounded to the ns) in seconds."""
    if not len(ns):
        return np.nan
    return _span_seconds(round(float(np.quantile(ns, q))))
