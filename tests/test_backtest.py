"""Back-test: replays of simbatch's own exported history, a hand-made history, the refusals,
the calibrated mode, runtime tasks, the plot and the report."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from simbatch import BudgetError, HistoryError, simulate
from simbatch.history.backtest.replay import Backtest, backtest
from simbatch.history.export import write_fo_history
from simbatch.history.read import History

TOPOLOGY = {
    "start": "2026-01-05 22:00", "horizon": "6d", "polling": "1m", "scheduling": "priority",
    "servers": {"AOS1": {"threads": 2, "poll_offset": 0}, "AOS2": {"threads": 2,
                                                                  "poll_offset": "30s"}},
}
FEWER = {**TOPOLOGY, "servers": {"AOS1": {"threads": 2, "poll_offset": 0}}}
WORKLOAD = {**TOPOLOGY, "jobs": {
    "Import": {"arrivals": {"interval": {"exponential": "5m"}},
               "tasks": {"Load": {"duration": {"lognormal": {"mean": "5m", "sd": "2m"}}}}},
    "Hourly": {"recurrence": {"every": "1h"},
               "tasks": {"A": {"duration": "7m"},
                         "B": {"duration": "3m", "after": {"A": "ended"}}}},
    "Close": {"start": "2026-01-05 23:00", "recurrence": {"every": "1d"},
              "tasks": {"Plan": {"duration": "1m", "runtime": {"tasks": {"uniform": [2, 4]},
                                                              "duration": "6m"}},
                        "Post": {"duration": "4m", "after": {"Plan": "ended"}}}}}}
POLL_S = 60
WAIT_TOLERANCE_S = 5.0
"""Per group, the replayed mean job wait is within this of the actual one (seconds)."""


@cache
def _history() -> History:
    tables = simulate(WORKLOAD, seed=1).to_fo_history()
    return History.from_tables(tables["BatchJobHistory"], tables["BatchHistory"])


@cache
def _same() -> Backtest:
    return backtest(_history(), TOPOLOGY)


def _by(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    return frame.set_index([*keys, "metric"])


def test_own_history_replays_each_task_within_a_poll_and_waits_within_the_tolerance() -> None:
    same = _same()
    assert same.graph == "calibrated"  # the export has no BatchConstraints
    tasks = same.tasks
    assert len(tasks) > 800 and tasks["simulated_start"].notna().all()
    gap = (tasks["simulated_start"] - tasks["actual_start"]).dt.total_seconds().abs()
    assert gap.max() <= POLL_S
    errors = _by(same.errors(), "group")
    for group in ("all", "default"):
        assert errors.loc[(group, "wait_mean"), "abs_error"] <= WAIT_TOLERANCE_S
        assert errors.loc[(group, "delay_mean"), "abs_error"] <= WAIT_TOLERANCE_S
        assert errors.loc[(group, "end_p95"), "abs_error"] <= POLL_S
    # the calibrated graph is the one simulated: B waited for A, Post for Plan
    hourly = tasks[(tasks["job"] == "Hourly") & (tasks["task"] == "B")]
    ends = tasks[(tasks["job"] == "Hourly") & (tasks["task"] == "A")].set_index("run_id")
    assert (hourly.set_index("run_id")["actual_ready"] == ends["actual_end"]).all()


def test_runtime_tasks_replay_as_recorded() -> None:
    tasks = _same().tasks
    children = tasks[tasks["runtime"]]
    close_runs = set(tasks.loc[tasks["job"] == "Close", "run_id"])
    assert len(close_runs) == 6 and len(children) >= 12
    assert set(children["task"].str.rpartition(" #")[0]) == {"Plan"}
    # a runtime task is ready when its parent starts, on both sides
    parent = tasks[(tasks["task"] == "Plan")].set_index("run_id")
    for side in ("actual", "simulated"):
        ready = children.set_index("run_id")[f"{side}_ready"]
        assert (ready == parent[f"{side}_start"].reindex(ready.index)).all()
    replayed = _same().result
    assert replayed is not None
    assert replayed.tasks["task"].str.startswith("Plan #").sum() == len(children)


def test_max_attempts_bounds_the_replay_and_the_calibrated_runs() -> None:
    history = _history()
    with pytest.raises(BudgetError, match=r"the back-test reads 2,048 task rows, more than the"
                                          r" limit of 100 .*--max-attempts"):
        backtest(history, TOPOLOGY, max_attempts=100)
    import dataclasses

    retried = dataclasses.replace(history, tasks=history.tasks.assign(
        retries=[100] + [0] * (len(history.tasks) - 1)))  # rows within, attempts above
    with pytest.raises(BudgetError, match=r"the replay records 2,148 task attempts, more than"
                                          r" the limit of 2,100 "):
        backtest(retried, TOPOLOGY, max_attempts=2100)
    assert backtest(history, TOPOLOGY, max_attempts=10**6).mode == "replay"
    with pytest.raises(BudgetError, match="more than the limit of 5"):
        backtest(history, TOPOLOGY, calibrated=True, replications=2, executor="serial",
                 max_attempts=5)


def test_one_server_fewer_errs_clearly_more() -> None:
    same = _by(_same().errors(), "group")
    fewer = backtest(_history(), FEWER, other_servers=True)
    assert any("task rows ran on servers not in the topology (AOS2)" in n for n in fewer.notes)
    worse = _by(fewer.errors(), "group")
    for metric in ("wait_mean", "delay_mean", "end_p95"):
        assert worse.loc[("all", metric), "abs_error"] > 10 * max(
            same.loc[("all", metric), "abs_error"], 1.0)


def test_errors_per_hour_and_per_daily_job() -> None:
    same = _same()
    assert same.daily == ("Close",)  # Hourly and Import are not due once a day
    hourly = same.errors("hour")
    assert set(hourly["hour"]) == set(range(24))
    assert list(hourly.columns[:3]) == ["group", "hour", "metric"]
    # the hours' counts add up to the whole
    waits = hourly[(hourly["group"] == "all") & (hourly["metric"] == "wait_mean")]
    assert waits["n_actual"].sum() == len(same.runs)
    daily = _by(same.errors("job"), "job", "group")
    assert daily.loc[("Close", "default", "end_max"), "n_actual"] == 6
    actual = same.runs[same.runs["job"] == "Close"]["actual_end_s"].max()
    assert daily.loc[("Close", "default", "end_max"), "actual"] == actual


# ---- a hand-made history ----------------------------------------------------------------------

def _small_tables() -> dict[str, pd.DataFrame]:
    """Two runs of job J: task T (retried once in run 1), then U after T; run 2 due 22:01."""
    jobs = pd.DataFrame({
        "RecId": [1, 2], "BatchJobId": [10, 10], "Caption": ["J", "J"], "Status": [4, 4],
        "OrigStartDateTime": ["2026-01-05 22:00:00", "2026-01-05 22:01:00"],
        "StartDateTime": ["2026-01-05 22:00:20", "2026-01-05 22:15:30"],
        "EndDateTime": ["2026-01-05 22:15:20", "2026-01-05 22:23:30"]})
    tasks = pd.DataFrame({
        "BatchJobHistoryId": [1, 1, 2, 2], "BatchJobId": [10] * 4, "BatchId": [100, 101] * 2,
        "Caption": ["T", "U"] * 2, "ServerId": ["AOS1"] * 4, "Status": [4] * 4,
        "retryCount": [1, 0, 0, 0],
        "StartDateTime": ["2026-01-05 22:00:20", "2026-01-05 22:10:20",
                          "2026-01-05 22:15:30", "2026-01-05 22:20:30"],
        "EndDateTime": ["2026-01-05 22:10:20", "2026-01-05 22:15:20",
                        "2026-01-05 22:20:30", "2026-01-05 22:23:30"]})
    return {"BatchJobHistory": jobs, "BatchHistory": tasks,
            "BatchJob": pd.DataFrame({"RecId": [10], "BatchGroup": ["Nightly"]}),
            "BatchConstraints": pd.DataFrame({"BatchId": [101], "DependsOnBatchId": [100],
                                              "ExpectedStatus": [4]})}


def _small() -> History:
    t = _small_tables()
    return History.from_tables(t["BatchJobHistory"], t["BatchHistory"],
                               batch_job=t["BatchJob"], constraints=t["BatchConstraints"])


SMALL = {"start": "2026-01-05 22:00", "horizon": "2h", "polling": "1m",
         "scheduling": "affinity", "servers": {"AOS1": {"threads": 1, "poll_offset": 0}},
         "groups": {"Nightly": {"servers": ["AOS1"]}}}


def test_a_hand_made_history_replays_to_exact_starts() -> None:
    test = backtest(_small(), SMALL)
    assert test.graph == "BatchConstraints"
    t = pd.Timestamp
    # one thread, polling on the minute; each task runs its recorded time, T of run 1 its
    # 10 min as two attempts of 5 (retryCount 1). 22:00: T1's first attempt starts (due
    # at the poll). 22:05: it fails and T1 is ready again, but T2 waits since 22:01, the
    # older: T2 runs 22:05-22:10. 22:10: T2 ends, U2 is ready; T1 (ready 22:05) is older:
    # T1 runs 22:10-22:15. 22:15: U1 is ready, U2 (ready 22:10) is older: U2 runs
    # 22:15-22:18, then U1 22:18-22:23.
    starts = test.tasks.set_index(["run_id", "task"])["simulated_start"]
    assert starts.loc[(1, "T")] == t("2026-01-05 22:00", tz="UTC")
    assert starts.loc[(2, "T")] == t("2026-01-05 22:05", tz="UTC")
    assert starts.loc[(2, "U")] == t("2026-01-05 22:15", tz="UTC")
    assert starts.loc[(1, "U")] == t("2026-01-05 22:18", tz="UTC")
    result = test.result
    assert result is not None
    attempts = result.tasks[(result.tasks["run"] == 1) & (result.tasks["task"] == "T")]
    assert list(attempts["status"]) == ["Error", "Ended"]
    assert list(attempts["start"].dt.strftime("%H:%M")) == ["22:00", "22:10"]
    assert list(attempts["duration"].dt.total_seconds()) == [300.0, 300.0]
    assert list(test.runs["simulated_wait_s"]) == [0.0, 240.0]
    assert list(test.runs["actual_wait_s"]) == [20.0, 870.0]
    assert list(test.runs["simulated_end"].dt.strftime("%H:%M")) == ["22:23", "22:18"]
    # delays: U of run 1 is ready when T ended: actually 22:10:20, started then; in the
    # replay 22:15, started 22:18
    delays = test.tasks.set_index(["run_id", "task"])
    assert delays.loc[(1, "U"), "actual_delay_s"] == 0.0
    assert delays.loc[(1, "U"), "simulated_delay_s"] == 180.0
    assert delays.loc[(2, "T"), "actual_delay_s"] == 0.0  # a root: ready at its run's start


def test_runs_of_one_job_replay_with_the_tasks_each_had() -> None:
    t = _small_tables()
    tasks = t["BatchHistory"].iloc[:3]  # run 2 had no U
    history = History.from_tables(t["BatchJobHistory"], tasks, batch_job=t["BatchJob"],
                                  constraints=t["BatchConstraints"])
    test = backtest(history, SMALL)
    # T1 fails 22:00-22:05; T2 (ready 22:01, older than T1's retry) 22:05-22:10, and run 2
    # is over: it has no U to wait for; T1 again 22:10-22:15, then U1 22:15-22:20
    starts = test.tasks.set_index(["run_id", "task"])["simulated_start"].dt.strftime("%H:%M")
    assert starts.to_dict() == {(1, "T"): "22:00", (1, "U"): "22:15", (2, "T"): "22:05"}
    assert list(test.runs["simulated_end"].dt.strftime("%H:%M")) == ["22:20", "22:10"]
    result = test.result
    assert result is not None
    assert sorted(result.tasks.loc[result.tasks["run"] == 2, "task"]) == ["T"]


# ---- refusals ---------------------------------------------------------------------------------

REFUSALS = [
    ({**SMALL, "groups": {"Other": {"servers": ["AOS1"]}}},
     "job 'J' is in group 'Nightly', which the topology"),
    ({**SMALL, "servers": {"AOS9": {"threads": 1}}, "groups": {"Nightly": {"servers": ["AOS9"]}}},
     "server 'AOS1' of 4 task rows is not in the topology"),
    ({**SMALL, "start": "2027-01-05 22:00"}, "no job run is due in the topology's period"),
]


@pytest.mark.parametrize(("topology", "message"), REFUSALS)
def test_refusals_through_the_api(topology: dict[str, object], message: str) -> None:
    with pytest.raises(HistoryError, match=message):
        backtest(_small(), topology)


def _write_small(folder: Path) -> list[str]:
    """The hand-made history as the CSV files of an F&O export."""
    written = []
    for name, frame in _small_tables().items():
        path = folder / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(str(path))
    return written


@pytest.mark.parametrize(("topology", "message"), REFUSALS)
def test_refusals_through_the_cli_exit_2_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], topology: dict[str, object],
        message: str) -> None:
    import json

    from simbatch.cli.main import main

    files = _write_small(tmp_path)
    path = tmp_path / "topology.yaml"
    path.write_text(json.dumps(topology))  # JSON is YAML
    assert main(["backtest", *files, "--topology", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# ---- calibrated mode -----------------------------------------------------------------------

def test_calibrated_mode_covers_the_actual_waits_on_the_true_topology_only() -> None:
    right = backtest(_history(), TOPOLOGY, calibrated=True, replications=8, seed=3,
                     executor="serial")
    wrong = backtest(_history(), FEWER, other_servers=True, calibrated=True, replications=8,
                     seed=3, executor="serial")
    assert right.mode == "calibrated" and right.result is None
    good = _by(right.errors(), "group")
    bad = _by(wrong.errors(), "group")
    for metric in ("wait_mean", "delay_mean", "end_mean"):
        row = good.loc[("all", metric)]
        assert row["replications"] == 8
        assert row["simulated_low"] <= row["simulated"] <= row["simulated_high"]
        assert row["predicted_low"] <= row["simulated_low"]
        assert row["simulated_high"] <= row["predicted_high"]
        assert row["within"]  # the actual figure is where the calibrated model puts it
    assert not bad.loc[("all", "wait_mean"), "within"]
    assert bad.loc[("all", "wait_mean"), "error"] > 2  # more than triple the actual wait
    assert good.loc[("all", "wait_mean"), "abs_error"] < 0.5 * good.loc[
        ("all", "wait_mean"), "actual"]


# ---- CLI, plot and report --------------------------------------------------------------------

def test_cli_prints_the_table_and_writes_the_plot_and_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from simbatch.cli.main import main

    written = write_fo_history(simulate(WORKLOAD, seed=1), tmp_path)
    topology = tmp_path / "topology.yaml"
    topology.write_text("start: 2026-01-05 22:00\nhorizon: 6d\nscheduling: priority\n"
                        "servers:\n  AOS1: {threads: 2, poll_offset: 0}\n"
                        "  AOS2: {threads: 2, poll_offset: 30s}\n")
    report = tmp_path / "backtest.html"
    assert main(["backtest", *map(str, written), "--topology", str(topology),
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "wait_mean" in out and "end_p95" in out
    assert "task graph: BatchConstraintsHistory" in out  # run --format fo exports the graph
    assert "WARNING: the history has no" not in out  # ... and the groups and priorities
    assert "daily jobs" in out and "Close" in out
    png = report.with_suffix(".png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>") and "Errors per group" in page
    assert "data:image/png;base64," in page and "Daily jobs" in page
    assert "task graph from BatchConstraintsHistory" in page
    plot = tmp_path / "waits.png"
    assert main(["backtest", *map(str, written), "--topology", str(topology), "--calibrated",
                 "-n", "2", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "simulated (95% CI)" in out and "predicted (95% PI)" in out
    assert plot.stat().st_size > 1000


def test_the_plot_draws_both_sides_per_hour() -> None:
    from simbatch.present.plots import backtest_waits

    fig = backtest_waits(_same())
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == [
        "actual mean", "simulated mean", "actual p95", "simulated p95"]
    hours = sorted(_same().runs["hour"].unique())
    assert list(lines[0].get_xdata()) == hours


# ---- a history from the independent reference model (tests/reference_model.py) -------------

REF_TOPOLOGY = {
    "start": "2026-01-05 22:00", "horizon": "8h", "polling": "1m", "scheduling": "affinity",
    "servers": {"B1": {"threads": 2, "poll_offset": 0}, "B2": {"threads": 1,
                                                               "poll_offset": "20s"},
                "B3": {"threads": 2, "poll_offset": "45s"}}}


def _reference_workload(condition: str = "all") -> dict[str, object]:
    """40 one-time jobs over six hours, each a small graph: A, then B and C after A (C on
    A's error branch too: a fifth of the A fail), D after B and C (``condition``), durations
    in whole seconds."""
    import random

    draw = random.Random(21)
    jobs: dict[str, object] = {}
    for j in range(40):
        due = pd.Timestamp("2026-01-05 22:00") + pd.Timedelta(seconds=draw.randrange(6 * 3600))
        fails = draw.random() < 0.2
        jobs[f"Job {j:02d}"] = {"start": f"{due:%Y-%m-%d %H:%M:%S}", "tasks": {
            "A": {"duration": draw.randrange(30, 900), "fail": int(fails)},
            "B": {"duration": draw.randrange(30, 600), "after": {"A": "ended"}},
            "C": {"duration": draw.randrange(30, 600), "after": {"A": "ended or error"}},
            "D": {"duration": draw.randrange(30, 300), "after": {"B": "ended", "C": "ended"},
                  "condition": condition}}}
    return {**REF_TOPOLOGY, "jobs": jobs}


def _reference_history(condition: str = "all") -> tuple[History, list[object]]:
    """The reference model's log as F&O's BatchJobHistory, BatchHistory, BatchConstraints."""
    from tests import reference_model as ref

    doc = _reference_workload(condition)
    rows = ref.simulate(doc)
    origin = pd.Timestamp("2026-01-05 22:00", tz="UTC")

    def when(value: int | None) -> object:
        return pd.NaT if value is None else origin + pd.Timedelta(seconds=value)

    jobs_doc = doc["jobs"]
    assert isinstance(jobs_doc, dict)
    job_rec = {name: 1000 + i for i, name in enumerate(jobs_doc)}
    task_rec = {(name, task): 5000 + 10 * i + k for i, (name, job) in enumerate(jobs_doc.items())
                for k, task in enumerate(job["tasks"])}
    job_rows = []
    for name, job in jobs_doc.items():
        own = [r for r in rows if r.job == name]
        assert all(r.status in ("Ended", "Error", "Didn't run") for r in own)  # all done
        starts = [r.start for r in own if r.start is not None]
        ends = [r.end for r in own if r.end is not None]
        job_rows.append({
            "RecId": job_rec[name], "BatchJobId": job_rec[name], "Caption": name,
            "Status": "Error" if any(r.status == "Error" for r in own) else "Ended",
            "OrigStartDateTime": pd.Timestamp(job["start"], tz="UTC"),
            "StartDateTime": when(min(starts)), "EndDateTime": when(max(ends))})
    task_rows = [{
        "BatchJobHistoryId": job_rec[r.job], "BatchJobId": job_rec[r.job],
        "BatchId": task_rec[r.job, r.task], "Caption": r.task, "ServerId": r.server,
        "Status": r.status, "StartDateTime": when(r.start), "EndDateTime": when(r.end),
        "retryCount": 0} for r in rows]
    constraints = [{"BatchId": task_rec[name, task], "DependsOnBatchId": task_rec[name, dep],
                    "ExpectedStatus": {"ended": "Ended", "error": "Error",
                                       "ended or error": "Ended or error"}[want]}
                   for name, job in jobs_doc.items() for task, spec in job["tasks"].items()
                   for dep, want in spec.get("after", {}).items()]
    batch = pd.DataFrame([{"RecId": task_rec[name, task], "BatchJobId": job_rec[name],
                           "GroupId": "", "Caption": task,
                           "ConstraintType": int(spec.get("condition") == "any")}
                          for name, job in jobs_doc.items()
                          for task, spec in job["tasks"].items()])
    history = History.from_tables(pd.DataFrame(job_rows), pd.DataFrame(task_rows), batch=batch,
                                  constraints=pd.DataFrame(constraints))
    return history, list(rows)


def _replay_gaps(condition: str) -> tuple[Backtest, list[object], pd.Series]:
    history, rows = _reference_history(condition)
    test = backtest(history, REF_TOPOLOGY)
    gap = (test.tasks["simulated_start"] - test.tasks["actual_start"]).dt.total_seconds().abs()
    return test, rows, gap


def test_a_reference_model_history_replays_each_task_within_a_poll() -> None:
    # a history no simbatch run wrote: the reference model's log of the same topology
    test, rows, gap = _replay_gaps("all")
    assert test.graph == "BatchConstraints"
    started = [r for r in rows if r.start is not None]  # type: ignore[attr-defined]
    assert len(test.tasks) == len(started) > 120
    assert test.tasks["simulated_start"].notna().all()
    assert {r.status for r in rows} == {"Ended", "Error", "Didn't run"}  # type: ignore[attr-defined]
    assert gap.max() <= POLL_S


def test_a_reference_model_history_with_any_conditions_replays_each_task_within_a_poll() -> None:
    test, _, gap = _replay_gaps("any")
    assert test.graph == "BatchConstraints"
    assert gap.max() <= POLL_S


# ---- what the input leaves out, per-run graphs, job-level histories ----------------------------

def test_missing_groups_and_priorities_are_warned_about() -> None:
    notes = _same().notes
    assert any(n.startswith("WARNING: the history has no groups") for n in notes)
    assert any(n.startswith("WARNING: the history has no scheduling priorities") for n in notes)


def test_figures_without_a_value_are_said_not_printed_silently() -> None:
    import dataclasses

    history, _ = _reference_history("all")
    jobs = history.jobs.copy()
    hour = jobs["scheduled"].dt.hour
    jobs.loc[hour == hour.iloc[0], "start"] = pd.NaT  # the export lost one hour's starts
    test = backtest(dataclasses.replace(history, jobs=jobs), REF_TOPOLOGY)
    empty = test.actual[test.actual["value"].isna()]
    assert set(empty["metric"]) == {"wait_mean", "wait_p50", "wait_p95", "wait_max"}
    assert any(n.startswith(f"{len(empty)} actual figures have no value (shown as NaN): no run"
                            " or task in that slice had a measure (wait_max, wait_mean,")
               for n in test.notes)


def test_per_run_constraints_wait_only_in_their_run() -> None:
    import dataclasses

    history, _ = _reference_history("all")
    cons = history.constraints
    first = int(history.jobs["run_id"].iloc[0])
    per_run = cons.assign(run_id=pd.array([first] * len(cons), dtype="Int64"))
    # every constraint now belongs to the first run only: the other runs have no graph
    test = backtest(dataclasses.replace(history, constraints=per_run,
                                        constraints_source="BatchConstraintsHistory"),
                    REF_TOPOLOGY)
    assert test.graph == "BatchConstraintsHistory"
    tasks = test.tasks
    other = tasks[tasks["run_id"] != first]
    starts = other.groupby("run_id")["actual_start"].min()
    roots = other["actual_ready"] == other["run_id"].map(
        test.runs.set_index("run_id")["actual_start"])
    assert roots.all() and len(starts) > 10
    mine = tasks[(tasks["run_id"] == first) & (tasks["task"] == "D")]
    assert (mine["actual_ready"] > test.runs.set_index("run_id").loc[first, "actual_start"]
            ).all()


def test_a_job_level_history_replays_job_waits() -> None:
    import dataclasses

    full = _history()
    jobs = full.jobs
    # what the reader synthesises from the BatchJobHistories entity: one task per job run
    tasks = pd.DataFrame({
        "run_id": jobs["run_id"], "job_id": jobs["job_id"], "job": jobs["job"],
        "task_id": jobs["job_id"], "task": jobs["job"].astype(str).astype("category"),
        "class_number": pd.array([pd.NA] * len(jobs), dtype="Int64"),
        "server": pd.Categorical([None] * len(jobs)), "status": jobs["status"],
        "start": jobs["start"], "end": jobs["end"], "retries": 0, "runtime": False,
        "company": jobs["company"], "group": pd.Categorical([None] * len(jobs))})
    level = dataclasses.replace(full, tasks=tasks, level="job",
                                constraints=full.constraints.iloc[0:0])
    test = backtest(level, TOPOLOGY)
    assert any(n.startswith("a job-level history: each job run is replayed as one task")
               for n in test.notes)
    waits = test.runs.dropna(subset=["actual_start"])
    assert (waits["actual_wait_s"] == (waits["actual_start"] - waits["due"]
                                       ).dt.total_seconds()).all()
    assert test.runs["simulated_start"].notna().sum() == len(waits)


def test_an_error_against_an_actual_zero_is_said_to_be_nan() -> None:
    due = pd.Timestamp("2026-01-05 22:00", tz="UTC")
    jobs = pd.DataFrame([{"RecId": 1, "BatchJobId": 9, "Caption": "J", "Status": "Ended",
                          "OrigStartDateTime": due, "StartDateTime": due,
                          "EndDateTime": due + pd.Timedelta("5m")}])
    tasks = pd.DataFrame([{"BatchJobHistoryId": 1, "BatchJobId": 9, "BatchId": 3,
                           "Caption": "T", "ServerId": "AOS1", "Status": "Ended",
                           "StartDateTime": due, "EndDateTime": due + pd.Timedelta("5m")}])
    topology = {"start": "2026-01-05 22:00", "horizon": "1h", "polling": "1m",
                "servers": {"AOS1": {"threads": 1, "poll_offset": "30s"}}}
    test = backtest(History.from_tables(jobs, tasks), topology)
    table = test.errors()
    errors = table[table["group"] == "all"].set_index("metric")
    assert errors.loc["wait_mean", "actual"] == 0 and errors.loc["wait_mean", "simulated"] == 30
    assert pd.isna(errors.loc["wait_mean", "error"])
    nan = sum(int(test.errors(by)["error"].isna().sum()) for by in ("group", "hour", "job"))
    assert f"{nan} errors are NaN: the actual figure is 0 and the simulated one is not" in (
        " ".join(test.notes))


# ---- mutation fuzzing of calibrate and backtest (issue 25) --------------------------------------

@cache
def _fuzz_base() -> History:
    from simbatch import read_history

    root = Path(__file__).resolve().parents[1] / "examples" / "fo-export"
    return read_history(root / "BatchJobHistory.csv", root / "BatchHistory.csv")


def _mutated(data: object) -> History:
    """The bundled export with a few typed mutations: times emptied or moved, statuses,
    retries, runtime flags, servers, rows dropped, constraints with cycles or strays."""
    import dataclasses

    import numpy as np
    from hypothesis import strategies as st

    draw = data.draw  # type: ignore[attr-defined]
    base = _fuzz_base()
    jobs, tasks = base.jobs.copy(), base.tasks.copy()
    cons = base.constraints.copy()
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["time", "status", "retries", "runtime", "server", "drop",
                                     "constraint", "any"]))
        frame = draw(st.sampled_from([jobs, tasks])) if kind == "time" else tasks
        rows = draw(st.lists(st.integers(0, len(frame) - 1), min_size=1, max_size=12))
        if kind == "time":
            column = draw(st.sampled_from(["start", "end"] + (["scheduled"] if frame is jobs
                                                              else [])))
            shift = draw(st.one_of(st.none(), st.integers(-40 * 86400, 40 * 86400)))
            values = frame[column].copy()
            values.iloc[rows] = (pd.NaT if shift is None
                                 else values.iloc[rows] + pd.Timedelta(seconds=shift))
            frame[column] = values
        elif kind == "status":
            status = tasks["status"].astype(object)
            status.iloc[rows] = draw(st.sampled_from(["Ended", "Error", "Didn't run",
                                                      "Executing", "Canceled", "Waiting"]))
            tasks["status"] = pd.Categorical(status)
        elif kind == "retries":
            retries = tasks["retries"].to_numpy().copy()
            retries[rows] = draw(st.integers(0, 200))
            tasks["retries"] = retries
        elif kind == "runtime":
            flags = tasks["runtime"].to_numpy().copy()
            flags[rows] = True
            tasks["runtime"] = flags
        elif kind == "server":
            servers = tasks["server"].astype(object)
            servers.iloc[rows] = draw(st.sampled_from([None, "AOS9"]))
            tasks["server"] = pd.Categorical(servers)
        elif kind == "drop":
            tasks = tasks.drop(index=tasks.index[sorted(set(rows))]).reset_index(drop=True)
        else:
            ids = tasks["task_id"].unique()
            pairs = draw(st.lists(st.tuples(st.sampled_from(list(ids)),
                                            st.sampled_from(list(ids))), max_size=4))
            cons = pd.concat([cons, pd.DataFrame({
                "task_id": [a for a, _ in pairs], "depends_on": [b for _, b in pairs],
                "expect": pd.array(["ended"] * len(pairs), dtype="string"),
                "run_id": pd.array([pd.NA] * len(pairs), dtype="Int64")})], ignore_index=True)
            if kind == "any":
                tasks["constraint_type"] = pd.Categorical(
                    np.where(np.arange(len(tasks)) % 2 == 0, "any", "all"))
    cons = cons.astype({"task_id": "int64", "depends_on": "int64"})
    return dataclasses.replace(base, jobs=jobs, tasks=tasks, constraints=cons)


def _survives(data: object) -> None:
    """Each mutated history calibrates (to a scenario that loads) and back-tests, or is
    refused with a SimbatchError: any other exception fails the test."""
    import contextlib

    from simbatch import SimbatchError, calibrate

    history = _mutated(data)
    topology = Path(__file__).resolve().parents[1] / "examples" / "small-tenant.yaml"
    with contextlib.suppress(SimbatchError):
        calibrate(history, topology=topology).scenario()
    with contextlib.suppress(SimbatchError):
        backtest(history, topology, other_servers=True)


def _fuzz(examples: int) -> object:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    return settings(max_examples=examples, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])(given(st.data())(_survives))


test_mutated_histories_calibrate_and_back_test_or_are_refused = _fuzz(5)
test_mutated_histories_calibrate_and_back_test_or_are_refused_many = pytest.mark.fuzz(_fuzz(150))
