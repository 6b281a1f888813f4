"""The back-test's comparison: ready times, figures per group, hour and daily job, and errors.

Everything here works on plain tables, the same way for the actual side (a history) and
the simulated side (a replay or a replication), so both are measured by one rule:

- a **run table** has one row per job run: key, job, group, hour (of its due time, local
  to the topology's zone), due, start, end;
- a **task table** has one row per task run (its attempts folded): key (its run's), job,
  group, hour, task, start, end;
- an **edge table** has one row per thing a task waits for: key, task, on (a task of
  the same run) and what of it: ``end`` (a prerequisite: the task is ready when the last
  of them ended) or ``start`` (a runtime task: ready when the task that added it started).

Heavy modules (scipy, the experiments) load on first use. Data flows one way:
``simbatch.history.backtest.replay`` builds the tables and calls these functions;
nothing here reads a history or runs the engine, except ``replicate_figures``, which
simulates the calibrated scenario and measures each replication.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from simbatch.results.result import Result
from simbatch.scenario.spec import Scenario
from simbatch.simulation import simulate

__all__ = [
    "FIGURE_COLUMNS",
    "METRICS",
    "daily_jobs",
    "error_table",
    "figures",
    "fold",
    "measure",
    "ready_times",
    "replicate_figures",
    "scenario_edges",
]

METRICS = ("wait_mean", "wait_p50", "wait_p95", "wait_max", "delay_mean", "delay_p50",
           "delay_p95", "end_mean", "end_p50", "end_p95", "end_max")
"""wait: job wait (start - due); delay: task start delay (start - ready); end: run end - due.
All in seconds."""
FIGURE_COLUMNS = ["scope", "group", "hour", "job", "metric", "value", "n"]
KEYS = ["scope", "group", "hour", "job"]
DAILY_RUNS = 2
"""A job is daily (deadline-like) with at least this many runs; see ``daily_jobs``."""
_STATS: dict[str, Callable[[np.ndarray], Any]] = {
    "mean": np.mean, "p50": np.median, "p95": lambda v: np.percentile(v, 95), "max": np.max}


def ready_times(tasks: pd.DataFrame, edges: pd.DataFrame, run_start: pd.Series) -> pd.Series:
    """Each task's ready moment, inferred from the run's start and its edges.

    A task with no edge is a root: ready at its run's start (``run_start``, indexed by
    key). Otherwise it is ready at the latest of the moments it waits for: the end of
    each prerequisite, or the start of the task that added it (a runtime task); a task
    whose edges say ``any`` (F&O's ConstraintType Any) at the earliest of them. When a
    moment it waits for is missing (that task has no end), its ready moment is unknown
    (NaT; for ``any``, only when all are missing). Returned aligned with ``tasks``.
    """
    moments = pd.concat([
        tasks[["key", "task", "end"]].rename(columns={"task": "on", "end": "at"})
        .assign(what="end"),
        tasks[["key", "task", "start"]].rename(columns={"task": "on", "start": "at"})
        .assign(what="start")], ignore_index=True)
    joined = edges.merge(moments, on=["key", "on", "what"], how="left")
    joined["unknown"] = joined["at"].isna()
    if "any" not in joined.columns:
        joined["any"] = False
    latest = joined.groupby(["key", "task"], sort=False).agg(
        at=("at", "max"), first=("at", "min"), unknown=("unknown", "any"),
        known=("unknown", lambda u: not u.all()), any=("any", "max"))
    either = latest["any"].astype(bool)
    latest.loc[either, "at"] = latest.loc[either, "first"]  # any: the first one is enough
    latest.loc[~either & latest["unknown"], "at"] = pd.NaT
    latest.loc[either & ~latest["known"].astype(bool), "at"] = pd.NaT
    index = pd.MultiIndex.from_frame(tasks[["key", "task"]])
    found = latest["at"].reindex(index)
    has_edges = pd.Series(index.isin(latest.index), index=index)
    roots = run_start.reindex(tasks["key"].to_numpy()).to_numpy()
    ready = np.where(has_edges.to_numpy(), found.to_numpy(), roots)
    return pd.Series(pd.to_datetime(ready, utc=True), index=tasks.index, name="ready")


def daily_jobs(runs: pd.DataFrame, zone: str) -> list[str]:
    """The jobs with a deadline-like schedule among ``runs`` (the actual runs).

    A job is daily when it has at least ``DAILY_RUNS`` runs, every run is due at the
    same local clock time (to the minute, in ``zone``) and no two runs are due on the
    same local date: a recurring job that runs at one time each day (days may be
    skipped, as a mon-fri job skips the weekend).
    """
    due = runs["due"].dt.tz_convert(zone)
    frame = pd.DataFrame({"job": runs["job"].astype(str), "clock": due.dt.strftime("%H:%M"),
                          "date": due.dt.date})
    out = []
    for job, mine in frame.groupby("job", sort=True):
        if (len(mine) >= DAILY_RUNS and mine["clock"].nunique() == 1
                and mine["date"].is_unique):
            out.append(str(job))
    return out


def _values(frame: pd.DataFrame, column: str, prefix: str, key: tuple[Any, ...]
            ) -> list[tuple[Any, ...]]:
    values = frame[column].dropna().to_numpy(dtype=float)
    rows = []
    for name, f in _STATS.items():
        value = float(f(values)) if len(values) else np.nan
        rows.append((*key, f"{prefix}_{name}", value, len(values)))
    return rows


def figures(runs: pd.DataFrame, tasks: pd.DataFrame, daily: Sequence[str]) -> pd.DataFrame:
    """Every figure of one side as tidy rows (``FIGURE_COLUMNS``).

    ``runs`` needs wait_s and end_s (end - due) and ``tasks`` delay_s, in seconds. Scopes:
    ``group`` (all runs, and per group), ``hour`` (per group, including all, and hour of
    the due time) and ``job`` (each daily job). Unused key columns are "" (hour -1).
    """
    rows: list[tuple[Any, ...]] = []

    def add(scope: str, group: str, hour: int, job: str, r: pd.DataFrame,
            t: pd.DataFrame) -> None:
        key = (scope, group, hour, job)
        rows.extend(_values(r, "wait_s", "wait", key) + _values(t, "delay_s", "delay", key)
                    + _values(r, "end_s", "end", key))

    groups = sorted(set(runs["group"].astype(str)) | set(tasks["group"].astype(str)))
    for group in ["all", *groups]:
        r = runs if group == "all" else runs[runs["group"].astype(str) == group]
        t = tasks if group == "all" else tasks[tasks["group"].astype(str) == group]
        add("group", group, -1, "", r, t)
        for hour in sorted(set(r["hour"].tolist())):
            add("hour", group, int(hour), "", r[r["hour"] == hour], t[t["hour"] == hour])
    for job in daily:
        r = runs[runs["job"].astype(str) == job]
        t = tasks[tasks["job"].astype(str) == job]
        group = str(r["group"].iloc[0]) if len(r) else ""
        add("job", group, -1, job, r, t)
    return pd.DataFrame(rows, columns=FIGURE_COLUMNS)


def measure(runs: pd.DataFrame, tasks: pd.DataFrame, edges: pd.DataFrame) -> None:
    """Add wait_s, end_s to ``runs`` and ready, delay_s to ``tasks``, in place."""
    runs["wait_s"] = (runs["start"] - runs["due"]).dt.total_seconds()
    runs["end_s"] = (runs["end"] - runs["due"]).dt.total_seconds()
    tasks["ready"] = ready_times(tasks, edges, runs.set_index("key")["start"])
    tasks["delay_s"] = (tasks["start"] - tasks["ready"]).dt.total_seconds()


def fold(result: Result, zone: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated run as run and task tables: attempts folded, runs keyed ``job/run``.

    A task run's start is its first attempt's, its end its last attempt's (NaT while it
    is open at the horizon); task runs that never started are left out.
    """
    scenario = result.scenario
    jobs = result.jobs
    key = jobs["job"].astype(str) + "/" + jobs["run"].astype(str)
    group_of = {j.name: j.group for j in scenario.jobs}
    runs = pd.DataFrame({"key": key.to_numpy(), "job": jobs["job"].astype(str).to_numpy(),
                         "group": jobs["job"].astype(str).map(group_of).to_numpy(),
                         "hour": jobs["scheduled"].dt.tz_convert(zone).dt.hour.to_numpy(),
                         "due": jobs["scheduled"].dt.tz_convert("UTC"),
                         "start": jobs["start"].dt.tz_convert("UTC"),
                         "end": jobs["end"].dt.tz_convert("UTC")})
    attempts = result.tasks.sort_values(["job", "run", "task", "attempt"], kind="stable")
    keys = ["job", "run", "task"]
    first = attempts.drop_duplicates(keys, keep="first").set_index(keys)
    last = attempts.drop_duplicates(keys, keep="last").set_index(keys)
    folded = first[["group", "start"]].join(last[["end"]]).reset_index()
    folded = folded[folded["start"].notna()]
    run_key = folded["job"].astype(str) + "/" + folded["run"].astype(str)
    hour = runs.set_index("key")["hour"]
    tasks = pd.DataFrame({"key": run_key.to_numpy(), "job": folded["job"].astype(str).to_numpy(),
                          "group": folded["group"].astype(str).to_numpy(),
                          "hour": hour.reindex(run_key.to_numpy()).to_numpy(),
                          "task": folded["task"].astype(str).to_numpy(),
                          "start": folded["start"].dt.tz_convert("UTC").to_numpy(),
                          "end": folded["end"].dt.tz_convert("UTC").to_numpy()})
    tasks["start"] = pd.to_datetime(tasks["start"], utc=True)
    tasks["end"] = pd.to_datetime(tasks["end"], utc=True)
    return runs, tasks


def scenario_edges(tasks: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """The edge table of simulated task runs: the scenario's graph; ``X #k`` waits for X's start."""
    graph = {(j.name, t.name): [d.task for d in t.after] for j in scenario.jobs for t in j.tasks}
    rows = []
    for k, job, task in zip(tasks["key"], tasks["job"], tasks["task"], strict=True):
        head, _, number = task.rpartition(" #")
        if (job, task) not in graph and head and number.isdigit():
            rows.append((k, task, head, "start"))
            continue
        rows += [(k, task, parent, "end") for parent in graph.get((job, task), [])]
    edges = pd.DataFrame(rows, columns=["key", "task", "on", "what"])
    present = set(zip(tasks["key"], tasks["task"], strict=True))
    keep = [(k, o) in present for k, o in zip(edges["key"], edges["on"], strict=True)]
    return edges[np.asarray(keep, dtype=bool)]


def _one_replication(scenario: Scenario, seed: int, zone: str, daily: Sequence[str],
                     max_attempts: int | None = None) -> pd.DataFrame:
    """Simulate one replication of the calibrated scenario and return its figures."""
    runs, tasks = fold(simulate(scenario, seed=seed, max_attempts=max_attempts), zone)
    measure(runs, tasks, scenario_edges(tasks, scenario))
    return figures(runs, tasks, daily)


def replicate_figures(scenario: Scenario, n: int, seed: int, zone: str, daily: Sequence[str],
                      executor: Any = None, max_attempts: int | None = None) -> pd.DataFrame:
    """The figures of ``n`` replications (seeds as ``simbatch.replicate`` draws them).

    ``executor`` is None (local worker processes), ``"serial"`` or an executor with
    ``submit``; the replications run on the experiments' fan-out, and one replication
    runs here. Returns ``FIGURE_COLUMNS`` plus replication and seed.
    """
    from simbatch.experiments.executors import fan_out
    from simbatch.experiments.runs import replication_seed

    seeds = [replication_seed(seed, r) for r in range(1, n + 1)]
    frames = fan_out(_one_replication, {"scenario": scenario},
                     [("scenario", s) for s in seeds], (zone, daily, max_attempts),
                     "serial" if n == 1 else executor, shared=True)
    return pd.concat([f.assign(replication=r, seed=s) for r, (f, s) in
                      enumerate(zip(frames, seeds, strict=True), start=1)], ignore_index=True)


def _relative(actual: pd.Series, simulated: pd.Series) -> np.ndarray:
    a, s = actual.to_numpy(dtype=float), simulated.to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        error = (s - a) / a
    error = np.where(a == 0, np.where(s == 0, 0.0, np.nan), error)
    return np.asarray(error)


def error_table(actual: pd.DataFrame, simulated: pd.DataFrame, scenario: Scenario | None = None,
                seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """Actual against simulated figures, one row per (scope, group, hour, job, metric).

    ``simulated`` is one side's figures (a replay) or the figures of replications (with a
    ``replication`` column): then ``simulated`` is their mean, ``simulated_low`` and
    ``simulated_high`` its t confidence interval (``simbatch.replicate``'s intervals),
    and ``predicted_low`` and ``predicted_high`` the t prediction interval of one more
    period's figure, mean ± t·sd·√(1 + 1/n): where the actual figure should fall if the
    calibrated model were right. ``within`` says whether it does.
    """
    from scipy import stats

    from simbatch.experiments.runs import Replications

    left = actual.rename(columns={"value": "actual", "n": "n_actual"})
    if "replication" not in simulated.columns:
        right = simulated.rename(columns={"value": "simulated", "n": "n_simulated"})
        out = left.merge(right, on=[*KEYS, "metric"], how="left")
    else:
        # one key per (scope, group, hour, job), by number: names may hold any character
        labels = simulated[KEYS].astype(str)
        distinct = labels.drop_duplicates().reset_index(drop=True)
        number = {key: str(i) for i, key in enumerate(distinct.itertuples(index=False))}
        rows = pd.DataFrame({"replication": simulated["replication"], "seed": simulated["seed"],
                             "metric": simulated["metric"],
                             "key": [number[key] for key in labels.itertuples(index=False)],
                             "value": simulated["value"].to_numpy()})
        assert scenario is not None
        summary = Replications(scenario, seed, rows).summary(confidence)
        keys = distinct.iloc[summary["key"].astype(int).to_numpy()].reset_index(drop=True)
        summary = pd.DataFrame({
            "scope": keys["scope"], "group": keys["group"], "hour": keys["hour"].astype(int),
            "job": keys["job"],
            "metric": summary["metric"], "simulated": summary["mean"],
            "simulated_low": summary["ci_low"], "simulated_high": summary["ci_high"],
            "sd": summary["sd"], "replications": summary["n"]})
        count = simulated.groupby([*KEYS, "metric"])["n"].mean().rename("n_simulated")
        summary = summary.merge(count.reset_index(), on=[*KEYS, "metric"], how="left")
        n = summary["replications"].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(n > 1, stats.t.ppf((1 + confidence) / 2, np.maximum(n - 1, 1)), np.nan)
        half = t * summary["sd"].to_numpy(dtype=float) * np.sqrt(1 + 1 / np.maximum(n, 1))
        summary["predicted_low"] = np.maximum(summary["simulated"] - half, 0.0)
        summary["predicted_high"] = summary["simulated"] + half
        out = left.merge(summary.drop(columns="sd"), on=[*KEYS, "metric"], how="left")
        out["within"] = ((out["actual"] >= out["predicted_low"])
                         & (out["actual"] <= out["predicted_high"]))
    out["error"] = _relative(out["actual"], out["simulated"])
    out["abs_error"] = (out["simulated"] - out["actual"]).abs()
    return out
