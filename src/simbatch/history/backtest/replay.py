"""Back-test: replay a batch history on a stated topology, and compare simulated with actual.

Two modes (the docs' back-test guide, docs/how-to/backtest.md, states every rule):

- **replay** (the default): each historical job run is due at its OrigStartDateTime,
  with the tasks it actually had; each task run's attempts last their recorded time and
  end with their recorded status; runtime tasks are added when their parent starts, as
  recorded. The topology (servers, threads, periods, scheduling, groups, reserved
  capacity, concurrency, outages) is the scenario file's. Only the queueing is
  simulated (``simbatch.engine.trace``).
- **calibrated**: ``calibrate(history)`` put onto the topology's servers and groups, run
  ``replications`` times; its distributions are compared with the actual ones, with
  intervals.

The task graph comes from BatchConstraints when the export has it, else from the
calibrated graph (``calibrate``'s inferred dependencies); ``Backtest.graph`` says which.
The comparison itself (ready times, figures, errors) is ``simbatch.history.backtest.compare``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from simbatch.engine import budget
from simbatch.engine.trace import ReplayModel, Trace, TraceRun, TraceTask
from simbatch.errors import BudgetError, HistoryError, UsageError
from simbatch.history.backtest import compare
from simbatch.history.backtest.checks import check_retries, empty_figures, input_notes
from simbatch.history.calibration.dependencies import check_cycles
from simbatch.history.calibration.gaps import check_budget, check_period
from simbatch.history.read import History
from simbatch.results.result import Result
from simbatch.scenario.load import load, load_document
from simbatch.scenario.spec import Scenario
from simbatch.simulation import whole_number

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Backtest", "backtest"]

Scope = Literal["group", "hour", "job"]
_KEYS: dict[str, list[str]] = {"group": ["group"], "hour": ["group", "hour"],
                               "job": ["job", "group"]}


@dataclass(frozen=True, eq=False)
class Backtest:
    """A back-tested history: the actual and simulated runs, tasks and figures."""

    mode: str
    """``replay`` or ``calibrated``."""
    graph: str
    """Where the task graph came from: ``BatchConstraints`` or ``calibrated``."""
    runs: pd.DataFrame
    """One row per job run due in the topology's period: run_id, job, group, hour, due,
    actual_start, actual_end, actual_wait_s, actual_end_s and (replay) the simulated_ ones."""
    tasks: pd.DataFrame
    """One row per task run that started: run_id, job, group, hour, task, runtime,
    actual_ready, actual_start, actual_end, actual_delay_s and (replay) the simulated_ ones."""
    actual: pd.DataFrame
    """The actual figures (``compare.FIGURE_COLUMNS``)."""
    simulated: pd.DataFrame
    """The simulated figures: the replay's, or every replication's (with its seed)."""
    scenario: Scenario
    """What was simulated: the replay's scenario, or the calibrated scenario."""
    result: Result | None = None
    """The replay as an ordinary Result (None in calibrated mode)."""
    daily: tuple[str, ...] = ()
    """The jobs with a deadline-like (daily) schedule: the ``job`` rows of ``errors``."""
    notes: tuple[str, ...] = ()
    """What the back-test left out or assumed, in words."""
    seed: int = 0

    def errors(self, by: Scope = "group", confidence: float = 0.95) -> pd.DataFrame:
        """Actual against simulated, one row per key and metric (tidy).

        ``by="group"``: all runs and each group; ``"hour"``: per group (and all) and hour
        of the day the run was due (the topology's zone); ``"job"``: each daily job.
        Metrics (seconds): wait_* (job wait, StartDateTime - OrigStartDateTime),
        delay_* (task start delay, start - ready), end_* (run end - due); each _mean,
        _p50, _p95, _max. ``error`` is (simulated - actual) / actual, ``abs_error`` is
        |simulated - actual|. In calibrated mode ``simulated`` is the replications' mean
        and simulated_low/simulated_high its interval, predicted_low/predicted_high where
        one period's figure should fall, and ``within`` whether the actual does.
        """
        if by not in _KEYS:
            raise UsageError(f"errors(by={by!r}): use 'group', 'hour' or 'job'")
        table = compare.error_table(self.actual, self.simulated, self.scenario, self.seed,
                                    confidence)
        table = table[table["scope"] == by]
        values = [c for c in ("actual", "simulated", "error", "abs_error", "simulated_low",
                              "simulated_high", "predicted_low", "predicted_high", "within",
                              "n_actual", "n_simulated", "replications") if c in table]
        return table[[*_KEYS[by], "metric", *values]].reset_index(drop=True)


    # The plot and the page are drawn by ``simbatch.present``, which reads a back-test through
    # its ``present.plots.Backtest`` protocol and never imports this module (no cycle).

    def plot(self, group: str = "all") -> Figure:
        """Actual against simulated job waits per hour of the day (``plots.backtest_waits``)."""
        from simbatch.present.plots import backtest_waits

        return backtest_waits(self, group)

    def write_plot(self, out: str | Path) -> Path:
        """Write ``plot()`` as a PNG file to ``out``; returns the path written."""
        from simbatch.present.report import write_backtest_plot

        return write_backtest_plot(self, out)

    def write_report(self, out: str | Path, history: str = "") -> Path:
        """Write the back-test's HTML report to ``out``; ``history`` names what was tested."""
        from simbatch.present.report import write_backtest_report

        return write_backtest_report(self, out, history)


def _utc_ns(values: pd.Series) -> np.ndarray:
    out: np.ndarray = values.to_numpy(dtype="datetime64[ns]").astype(np.int64)
    return out


def _in_period(history: History, topo: Scenario, other_servers: bool,
               notes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The runs due in the topology's period and their task rows; refuse what cannot replay."""
    source = " ".join(history.sources) or "history"
    jobs, tasks = history.jobs, history.tasks
    origin = pd.Timestamp(topo.start).tz_convert("UTC")
    end = origin + pd.Timedelta(topo.horizon, unit="ns")
    inside = jobs[(jobs["scheduled"] >= origin) & (jobs["scheduled"] < end)
                  & jobs["run_id"].isin(tasks["run_id"])]
    if inside.empty:
        first, last = history.period
        raise HistoryError(source, f"no job run is due in the topology's period"
                           f" {origin:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} (UTC); the"
                           f" history covers {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}")
    left = len(jobs) - len(inside)
    if left:
        notes.append(f"{left} job runs are not due in the topology's period (or have no task"
                     " rows): left out")
    rows = tasks[tasks["run_id"].isin(inside["run_id"])]
    servers = {s.name for s in topo.servers}
    ran_on = rows["server"].dropna().astype(str)
    unknown = ran_on[~ran_on.isin(servers)]
    if len(unknown) and not other_servers:
        raise HistoryError(source, f"server {unknown.iloc[0]!r} of {len(unknown)} task rows is"
                           f" not in the topology {topo.source} (servers:"
                           f" {', '.join(sorted(servers))}); give --other-servers"
                           " (other_servers=True) to replay them on its servers")
    if len(unknown):
        notes.append(f"{len(unknown)} task rows ran on servers not in the topology"
                     f" ({', '.join(sorted(set(unknown)))}): replayed on its servers")
    unstarted = int(rows["start"].isna().sum())
    if unstarted:
        notes.append(f"{unstarted} task rows never started (Didn't run, or open at the"
                     " export): not replayed, and nothing waits for them")
    return inside, rows[rows["start"].notna()]


def _names(rows: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Each started task row with its name in its run, and the parent of a runtime task.

    A static task is named by its Caption; a second row of one Caption in one run is
    ``Caption (2)``. A runtime task's parent is the run's static task of its Caption,
    else the run's first static task (as calibration reads it); the k-th of a parent
    to start is ``Parent #k``. A job with no static row at all has its rows read as its
    own tasks, as calibration does.
    """
    rows = rows.sort_values(["run_id", "start", "task_id"], kind="stable")
    alone = ~rows["job"].isin(rows.loc[~rows["runtime"], "job"])
    if alone.any():  # as calibration reads them: no static task adds them, so they are its own
        rows = rows.assign(runtime=rows["runtime"] & ~alone)
        notes.append(f"{int(alone.sum())} task rows of jobs whose every row is a runtime task"
                     " (RuntimeTask 1) are replayed as the jobs' own tasks")
    static = rows[~rows["runtime"]].copy()
    caption = static["task"].astype(str)
    dup = static.groupby([static["run_id"], caption], sort=False).cumcount()
    static["name"] = caption.where(dup == 0, caption + " (" + (dup + 1).astype(str) + ")")
    static["parent"] = None
    child = rows[rows["runtime"]].copy()
    present = set(zip(static["run_id"], static["name"], strict=True))
    first = static.drop_duplicates("run_id").set_index("run_id")["name"]
    child["parent"] = [c if (r, c) in present else first.get(r) for r, c in
                       zip(child["run_id"], child["task"].astype(str), strict=True)]
    orphans = int(child["parent"].isna().sum())
    if orphans:
        notes.append(f"{orphans} runtime task rows are in runs without a static task to add"
                     " them: left out")
        child = child[child["parent"].notna()]
    k = child.groupby(["run_id", "parent"], sort=False).cumcount() + 1
    child["name"] = child["parent"].astype(str) + " #" + k.astype(str)
    return pd.concat([static, child]).sort_values(["run_id", "start", "task_id"],
                                                  kind="stable")


def _edges(history: History, named: pd.DataFrame, calibrated: Mapping[str, Any] | None
           ) -> pd.DataFrame:
    """What each task run waits for (``compare``'s edge table), from the graph."""
    static = named[named["parent"].isna()]
    ids = static[["run_id", "task_id", "name"]]
    if calibrated is None:
        cons = history.constraints
        runs = (cons["run_id"] if "run_id" in cons.columns
                else pd.Series(pd.NA, index=cons.index, dtype="Int64"))
        per_run = runs.notna().to_numpy(dtype=bool)
        parts = []
        if per_run.any():  # BatchConstraintsHistory: the dependencies of that run only
            mine = cons[per_run].assign(run_id=runs[per_run].astype("int64").to_numpy())
            parts.append(mine.merge(ids, on=["run_id", "task_id"]).merge(
                ids.rename(columns={"task_id": "depends_on", "name": "on"}),
                on=["run_id", "depends_on"]))
        if (~per_run).any():  # BatchConstraints: valid for every run
            every = cons[~per_run].drop(columns=["run_id"], errors="ignore")
            parts.append(every.merge(ids, on="task_id").merge(
                ids.rename(columns={"task_id": "depends_on", "name": "on"}),
                on=["run_id", "depends_on"]))
        found = (pd.concat(parts, ignore_index=True) if parts else
                 pd.DataFrame(columns=["run_id", "name", "on", "expect"]))
        wait = found[["run_id", "name", "on", "expect"]]
    else:
        # every replayed task ran, so it waited for its inferred prerequisite to finish,
        # whatever that one's outcome (calibration writes "ended")
        pairs = [(job, task, on, "ended or error") for job, doc in calibrated.items()
                 for task, tdoc in doc["tasks"].items() for on in (tdoc.get("after") or {})]
        graph = pd.DataFrame(pairs, columns=["job", "name", "on", "expect"])
        mine = static.assign(job=static["job"].astype(str))[["run_id", "job", "name"]]
        found = mine.merge(graph, on=["job", "name"]).merge(
            mine.rename(columns={"name": "on"}), on=["run_id", "job", "on"])
        wait = found[["run_id", "name", "on", "expect"]]
    child = named[named["parent"].notna()]
    kids = pd.DataFrame({"run_id": child["run_id"], "name": child["name"],
                         "on": child["parent"], "expect": "started"})
    out = pd.concat([wait, kids], ignore_index=True)
    out["what"] = np.where(out["expect"] == "started", "start", "end")
    either = _any_tasks(static)
    out["any"] = [(r, n) in either for r, n in zip(out["run_id"], out["name"], strict=True)]
    return out.rename(columns={"run_id": "key", "name": "task"})


def _any_tasks(static: pd.DataFrame) -> set[tuple[int, str]]:
    """The (run_id, name) of the task runs whose dependencies combine by Any
    (Batch.ConstraintType Any = 1, the reader's ``constraint_type``)."""
    if "constraint_type" not in static.columns:
        return set()
    either = static[static["constraint_type"].astype(object) == "any"]
    return set(zip(either["run_id"].tolist(), either["name"].tolist(), strict=True))


def _attempts(span: int | None, retries: int, error: bool, horizon: int,
              runtime: bool) -> list[tuple[int, bool]]:
    """A task row's attempts: ``retries`` failed ones then its status, its span split evenly."""
    if span is None:  # still executing at the export: it outlasts the replay
        return [(horizon, False)]
    k = 0 if runtime else retries
    each = span // (k + 1)
    return [(each, True)] * k + [(span - each * k, error)]


def _mode(values: pd.Series) -> str:
    """The most frequent value as text, "" when there is none."""
    values = values.dropna()
    return "" if values.empty else str(values.mode().iloc[0])


def _scenario(topo: Scenario, named: pd.DataFrame, runs: pd.DataFrame, notes: list[str]
              ) -> tuple[Scenario, dict[str, list[str]], dict[str, str]]:
    """The replay's scenario: the topology with one job per history job (tasks: the union)."""
    groups = {g.name: g for g in topo.groups}
    affinity = topo.scheduling == "affinity"
    local_start = f"{pd.Timestamp(topo.start):%Y-%m-%d %H:%M:%S}"
    docs: dict[str, Any] = {}
    names: dict[str, list[str]] = {}
    group_of: dict[str, str] = {}
    unknown: set[str] = set()
    first_due = runs.groupby(runs["job"].astype(str))["scheduled"].min().sort_values(
        kind="stable")
    by_job = {str(k): v for k, v in named.groupby(named["job"].astype(str), sort=False)}
    priority = runs.groupby(runs["job"].astype(str))["priority"].agg(_mode)
    for job in first_due.index:
        mine = by_job[job]
        static = mine[mine["parent"].isna()]
        task_group = static.groupby("name", sort=False)["group"].agg(_mode)
        recorded = mine["group"].dropna().astype(str)
        job_group = recorded.mode().iloc[0] if len(recorded) else "default"
        for gname in {job_group, *(g for g in task_group if g)}:
            if affinity and (gname not in groups or not groups[gname].servers):
                raise HistoryError(" ".join(runs.attrs.get("sources", ())) or "history",
                                   f"job {job!r} is in group {gname!r}, which the topology"
                                   f" {topo.source} cannot run (groups with servers:"
                                   f" {', '.join(sorted(g for g in groups if groups[g].servers))})")
            if gname not in groups:
                unknown.add(gname)
        job_group = job_group if job_group in groups else "default"
        tasks: dict[str, Any] = {}
        for name in dict.fromkeys(static["name"]):
            tdoc: dict[str, Any] = {"duration": 0}
            own = task_group.get(name)
            if own in groups and own != job_group:
                tdoc["group"] = own
            tasks[name] = tdoc
        for parent in dict.fromkeys(mine.loc[mine["parent"].notna(), "parent"]):
            tasks[parent]["runtime"] = {"tasks": 1, "duration": 0}
        doc: dict[str, Any] = {"start": local_start, "group": job_group, "tasks": tasks}
        if topo.scheduling == "priority" and priority.get(job):
            doc["priority"] = str(priority[job])
        docs[job] = doc
        names[job] = list(tasks)
        group_of[job] = job_group
    if unknown:
        notes.append(f"groups not in the topology ({', '.join(sorted(unknown))}): replayed in"
                     " its default group (priority scheduling runs any group anywhere)")
    doc = {k: v for k, v in dict(topo.document).items() if k != "jobs"}
    doc["jobs"] = docs
    scenario = load_document(doc, f"back-test on {topo.source}", topo.folder, topo.name)
    return scenario, names, group_of


def _check_replay_budget(history: History, named: pd.DataFrame, max_attempts: int | None
                        ) -> None:
    """A ``BudgetError`` when the replay would record more attempts than the limit."""
    limit = budget.MAX_ATTEMPTS if max_attempts is None else max_attempts
    attempts = len(named) + int(named["retries"].sum())
    if attempts > limit:
        raise BudgetError(
            f"{', '.join(history.sources) or 'the history'}: the replay records"
            f" {attempts:,} task attempts, more than the limit of {limit:,} (about"
            f" {attempts * budget.BYTES_PER_ATTEMPT / 1e9:,.1f} GB at"
            f" {budget.BYTES_PER_ATTEMPT} bytes an attempt); back-test a shorter period, or"
            " raise the limit with --max-attempts (max_attempts= in Python)")


def _trace(scenario: Scenario, names: dict[str, list[str]], runs: pd.DataFrame,
           named: pd.DataFrame, edges: pd.DataFrame) -> tuple[Trace, list[int]]:
    """The trace of the runs (in due order) and the run_id of each trace run."""
    index = {j.name: i for i, j in enumerate(scenario.jobs)}
    origin = int(pd.Timestamp(scenario.start).tz_convert("UTC").value)
    spans = np.where(named["end"].notna(), _utc_ns(named["end"].fillna(named["start"]))
                     - _utc_ns(named["start"]), -1).tolist()
    # plain lists, one pass each: per-run frames would cost a pandas call per run
    row_names, parents = named["name"].tolist(), named["parent"].tolist()
    retries, errors = named["retries"].tolist(), (named["status"] == "Error").tolist()
    rows_of: dict[int, list[int]] = {}
    for i, run_id in enumerate(named["run_id"].tolist()):
        rows_of.setdefault(run_id, []).append(i)
    waits: dict[tuple[int, str], list[tuple[str, str]]] = {}
    ends = edges[edges["what"] == "end"]
    either = set(zip(ends.loc[ends["any"].astype(bool), "key"].tolist(),
                     ends.loc[ends["any"].astype(bool), "task"].tolist(), strict=True)) if (
        "any" in ends.columns) else set()
    for key, task, on, expect in zip(ends["key"].tolist(), ends["task"].tolist(),
                                     ends["on"].tolist(), ends["expect"].astype(str).tolist(),
                                     strict=True):
        waits.setdefault((key, task), []).append((on, expect))
    out: list[TraceRun] = []
    ids: list[int] = []
    horizon = scenario.horizon
    for run_id, job, due in zip(runs["run_id"].tolist(), runs["job"].astype(str).tolist(),
                                _utc_ns(runs["scheduled"]).tolist(), strict=True):
        position = {n: i for i, n in enumerate(names[job])}
        tasks: dict[int, TraceTask] = {}
        runtime: dict[int, list[list[tuple[int, bool]]]] = {}
        for i in rows_of[run_id]:
            name, parent, span = row_names[i], parents[i], spans[i]
            attempts = _attempts(None if span < 0 else span, retries[i], errors[i], horizon,
                                 parent is not None)
            if parent is None:
                after = tuple((position[on], e) for on, e in waits.get((run_id, name), ()))
                tasks[position[name]] = TraceTask(attempts, after, (run_id, name) in either)
            else:
                runtime.setdefault(position[parent], []).append(attempts)
        out.append(TraceRun(index[job], due - origin, tasks, runtime))
        ids.append(int(run_id))
    return Trace(out), ids


def _calibrated(history: History, runs: pd.DataFrame, topo: Scenario,
                max_attempts: int | None) -> Mapping[str, Any]:
    """calibrate() on the runs in the period, with the topology given: its document."""
    from simbatch.history.calibration.fit import calibrate

    mine = dataclasses.replace(
        history, jobs=history.jobs[history.jobs["run_id"].isin(runs["run_id"])],
        tasks=history.tasks[history.tasks["run_id"].isin(runs["run_id"])])
    return calibrate(mine, topology=topo, max_attempts=max_attempts).document


def backtest(history: History, topology: str | Path | Mapping[str, Any] | Scenario, *,
             other_servers: bool = False, calibrated: bool = False, replications: int = 10,
             seed: int = 0, executor: Any = None, max_attempts: int | None = None
             ) -> Backtest:
    """Back-test ``history`` on ``topology`` (a scenario file, mapping or Scenario).

    By default the history is replayed (trace-driven). ``calibrated=True`` runs
    ``replications`` replications (seeded from ``seed``, on ``executor`` as
    ``simbatch.replicate`` does) of the calibrated scenario on the topology instead. A task
    row on a server the topology lacks is refused unless ``other_servers`` is true: then
    it is replayed on the topology's servers (a what-if such as "one server fewer") and
    ``Backtest.notes`` says how many rows. Refused with a ``HistoryError``: a job whose
    group the topology cannot run, such a server, and a history that does not overlap
    the topology's period. ``max_attempts`` bounds the task attempts of the replay (every
    recorded attempt) or of each calibrated replication, as ``simbatch.simulate`` does: a
    ``BudgetError`` before anything runs when the work is above it.
    """
    if not isinstance(history, History):
        raise UsageError(f"backtest takes a History (from simbatch.read_history), got"
                         f" {type(history).__name__}")
    if calibrated:
        replications = whole_number(replications, "replications", 1)
    seed = whole_number(seed, "seed", 0)
    if max_attempts is not None:
        max_attempts = whole_number(max_attempts, "max_attempts", 1)
    notes: list[str] = []
    topo = load(topology)
    zone = topo.timezone
    check_budget(history, max_attempts, "the back-test")  # before any row is processed
    check_period(history)  # on the whole history, so a refusal names the file's row
    check_cycles(history)
    check_retries(history)
    notes.extend(input_notes(history, topo))
    runs, rows = _in_period(history, topo, other_servers, notes)
    named = _names(rows, notes)
    if named.empty:
        raise HistoryError(" ".join(history.sources) or "history", "no task row of the runs"
                           " due in the topology's period started: nothing to replay")
    runs = runs[runs["run_id"].isin(named["run_id"])].sort_values(
        ["scheduled", "start", "run_id"], kind="stable").reset_index(drop=True)
    runs.attrs["sources"] = history.sources
    scenario, names, group_of = _scenario(topo, named, runs, notes)
    graph = (history.constraints_source if history.constraints_source != "timing"
             else "BatchConstraints") if len(history.constraints) else "calibrated"
    if not calibrated:
        _check_replay_budget(history, named, max_attempts)
    document = (_calibrated(history, runs, topo, max_attempts)
                if calibrated or graph == "calibrated" else None)
    edges = _edges(history, named, document["jobs"] if document is not None
                   and graph == "calibrated" else None)
    task_group = {(j.name, t.name): t.group for j in scenario.jobs for t in j.tasks}
    actual_runs = pd.DataFrame({
        "key": runs["run_id"].to_numpy(), "job": runs["job"].astype(str).to_numpy(),
        "group": runs["job"].astype(str).map(group_of).to_numpy(),
        "hour": runs["scheduled"].dt.tz_convert(zone).dt.hour.to_numpy(),
        "due": runs["scheduled"], "start": runs["start"], "end": runs["end"]})
    static_name = named["parent"].fillna(named["name"])
    actual_tasks = pd.DataFrame({
        "key": named["run_id"].to_numpy(), "job": named["job"].astype(str).to_numpy(),
        "group": [task_group[(j, t)] for j, t in zip(named["job"].astype(str), static_name,
                                                     strict=True)],
        "hour": actual_runs.set_index("key")["hour"].reindex(named["run_id"]).to_numpy(),
        "task": named["name"].to_numpy(), "runtime": named["parent"].notna().to_numpy(),
        "start": named["start"].to_numpy(), "end": named["end"].to_numpy()})
    compare.measure(actual_runs, actual_tasks, edges)
    daily = compare.daily_jobs(actual_runs, zone)
    actual = compare.figures(actual_runs, actual_tasks, daily)
    notes.insert(0, f"task graph from {graph}" + ("" if graph != "calibrated" else
                 " (calibrate's dependencies inferred from timing: the export has no"
                 " BatchConstraintsHistory or BatchConstraints)"))
    if calibrated:
        assert document is not None
        model = _calibrated_scenario(document, topo)
        budget.check(model, max_attempts)
        simulated = compare.replicate_figures(model, replications, seed, zone, daily, executor,
                                              max_attempts)
        notes.extend(empty_figures(actual, simulated))
        return Backtest("calibrated", graph, _public(actual_runs, None),
                        _public_tasks(actual_tasks, None), actual, simulated, model, None,
                        tuple(daily), tuple(notes), seed)
    trace, ids = _trace(scenario, names, runs, named, edges)
    replay = ReplayModel(scenario, trace)
    replay.run()
    result = Result.from_model(replay)
    sim_runs, sim_tasks = compare.fold(result, zone)
    key_of = {f"{scenario.jobs[r.job].name}/{replay.numbers[k]}": ids[k]
              for k, r in enumerate(trace.runs)}
    sim_runs["key"] = sim_runs["key"].map(key_of)
    sim_tasks["key"] = sim_tasks["key"].map(key_of)
    sim_runs = actual_runs[["key", "group", "hour"]].merge(
        sim_runs.drop(columns=["group", "hour"]), on="key", how="left")
    sim_tasks = sim_tasks.drop(columns="hour").merge(actual_runs[["key", "hour"]], on="key")
    compare.measure(sim_runs, sim_tasks, edges)
    simulated = compare.figures(sim_runs, sim_tasks, daily)
    notes.extend(empty_figures(actual, simulated))
    return Backtest("replay", graph, _public(actual_runs, sim_runs),
                    _public_tasks(actual_tasks, sim_tasks), actual, simulated, scenario,
                    result, tuple(daily), tuple(notes), seed)


def _calibrated_scenario(document: Mapping[str, Any], topo: Scenario) -> Scenario:
    """The calibrated jobs (and groups the topology lacks) on the topology's document."""
    doc = {k: v for k, v in dict(topo.document).items() if k != "jobs"}
    groups = dict(doc.get("groups") or {})
    for name, gdoc in (document.get("groups") or {}).items():
        groups.setdefault(name, gdoc)
    if groups:
        doc["groups"] = groups
    doc["jobs"] = document["jobs"]
    return load_document(doc, f"calibrated on {topo.source}", topo.folder,
                         f"{topo.name} (calibrated)")


def _public(runs: pd.DataFrame, sim: pd.DataFrame | None) -> pd.DataFrame:
    """The run table users read: actual_ and simulated_ columns side by side."""
    out = pd.DataFrame({"run_id": runs["key"], "job": runs["job"], "group": runs["group"],
                        "hour": runs["hour"], "due": runs["due"]})
    sides = [("actual", runs)] + ([("simulated", sim.set_index("key").reindex(runs["key"])
                                    .reset_index())] if sim is not None else [])
    for side, frame in sides:
        for column in ("start", "end", "wait_s", "end_s"):
            out[f"{side}_{column}"] = frame[column].to_numpy()
    return out


def _public_tasks(tasks: pd.DataFrame, sim: pd.DataFrame | None) -> pd.DataFrame:
    """The task table users read: actual_ and simulated_ columns side by side."""
    out = tasks[["key", "job", "group", "hour", "task", "runtime"]].rename(
        columns={"key": "run_id"}).reset_index(drop=True)
    sides = [("actual", tasks.reset_index(drop=True))]
    if sim is not None:
        matched = tasks[["key", "task"]].merge(sim, on=["key", "task"], how="left")
        sides.append(("simulated", matched))
    for side, frame in sides:
        for column in ("ready", "start", "end", "delay_s"):
            out[f"{side}_{column}"] = frame[column].to_numpy()
    return out
