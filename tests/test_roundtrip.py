"""The round trip: simulate a scenario, export every table F&O would hold (``run --format
fo``), read and calibrate the export, simulate again. Groups, priorities, dependencies (an
Any condition included), task settings and, given the source as the topology, deadlines
come back; history alone cannot carry a deadline, and the header says so."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

import simbatch
from simbatch.cli.main import main
from simbatch.results.fo import FO_TABLES, record_id

SOURCE = {
    "name": "Round trip", "start": "2026-01-05 00:00", "horizon": "7d", "polling": "1m",
    "scheduling": "priority",
    "servers": {"AOS1": {"threads": 4, "poll_offset": 0}, "AOS2": {"threads": 4,
                                                                  "poll_offset": "30s"}},
    "groups": {"Integration": {"priority": "high"}, "Finance": {"priority": "low"}},
    "jobs": {
        "Nightly": {
            "group": "Finance", "priority": "critical", "start": "2026-01-05 22:00",
            "recurrence": {"every": "1d"}, "deadline": "06:00",
            "tasks": {
                "Extract": {"duration": "10m"},
                "Transform": {"duration": "5m", "after": {"Extract": "ended"}},
                "Check": {"duration": "2m", "after": {"Extract": "ended"}},
                "Load": {"duration": "3m", "after": {"Transform": "ended", "Check": "ended"},
                         "condition": "any", "retries": 2, "ignore_failure": True}}},
        "Ledger": {
            "group": "Finance", "start": "2026-01-05 12:00", "recurrence": {"every": "1d"},
            "tasks": {"Post": {"duration": "4m"}}},
        "Sync": {
            "group": "Integration", "start": "2026-01-05 08:00", "recurrence": {"every": "1h"},
            "deadline": "30m",
            "tasks": {"Pull": {"duration": "2m"},
                      "Push": {"duration": "1m", "after": {"Pull": "ended"}}}}}}


@cache
def _export(folder: str) -> list[Path]:
    result = simbatch.simulate(SOURCE, seed=4)
    return simbatch.write_fo_history(result, folder)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return _export(str(tmp_path_factory.mktemp("roundtrip")))


def test_every_table_a_round_trip_needs_is_exported(exported: list[Path]) -> None:
    assert [p.stem for p in exported] == list(FO_TABLES)
    tables = {p.stem: pd.read_csv(p, keep_default_na=False) for p in exported}
    job = tables["BatchJob"].set_index("Caption")
    assert job.loc["Nightly", ["BatchGroup", "SchedulingPriority",
                               "SchedulingPriorityIsOverridden", "LogLevel"]].tolist() == [
        "Finance", "Critical", 1, "Always"]
    assert job.loc["Sync", ["BatchGroup", "SchedulingPriority",
                            "SchedulingPriorityIsOverridden"]].tolist() == [
        "Integration", "High", 0]
    batch = tables["Batch"].set_index("Caption")
    assert batch.loc["Load", ["GroupId", "ConstraintType", "IgnoreOnFail",
                              "retriesOnFailure"]].tolist() == ["Finance", 1, 1, 2]
    assert batch.loc["Extract", ["ConstraintType", "IgnoreOnFail"]].tolist() == [0, 0]
    groups = tables["BatchGroup"].set_index("Description")
    assert groups.loc["Integration", "SchedulingPriority"] == "High"
    assert groups.loc["default", "Group"] == ""  # F&O's empty group
    # BatchConstraintsHistory points to BatchHistory.RecId, the task runs of one job run
    history = tables["BatchHistory"]
    cons = tables["BatchConstraintsHistory"]
    assert set(cons["BatchId"]) <= set(history["RecId"])
    assert set(cons["DependsOnBatchId"]) <= set(history["RecId"])
    runs = history.set_index("RecId")["BatchJobHistoryId"]
    assert (runs.loc[cons["BatchId"]].to_numpy() == runs.loc[cons["DependsOnBatchId"]]
            .to_numpy()).all()
    nightly_runs = (tables["BatchJobHistory"]["Caption"] == "Nightly").sum()
    sync_runs = (tables["BatchJobHistory"]["Caption"] == "Sync").sum()
    assert len(cons) == 4 * nightly_runs + sync_runs  # Ledger has no dependencies
    first = history.set_index(["BatchJobHistoryId", "Caption"])["RecId"]
    run = record_id("run", "Nightly", "1")
    load = cons[cons["BatchId"] == first.loc[(run, "Load")]]
    assert sorted(load["DependsOnBatchId"]) == sorted(
        [first.loc[(run, "Transform")], first.loc[(run, "Check")]])
    assert set(cons["ExpectedStatus"]) == {"Ended"}


def test_calibrating_the_export_keeps_groups_priorities_and_the_graph(
        exported: list[Path]) -> None:
    history = simbatch.read_history(*exported)
    assert history.constraints_source == "BatchConstraintsHistory"
    calibration = simbatch.calibrate(history)
    doc = calibration.document
    assert dict(doc["groups"]["Integration"]) == {"priority": "high"}
    assert dict(doc["groups"]["Finance"]) == {"priority": "low"}
    nightly, sync = doc["jobs"]["Nightly"], doc["jobs"]["Sync"]
    assert (nightly["group"], nightly["priority"]) == ("Finance", "critical")
    assert doc["jobs"]["Ledger"]["group"] == "Finance" and "priority" not in doc["jobs"]["Ledger"]
    assert sync["group"] == "Integration" and "priority" not in sync
    tasks = nightly["tasks"]
    assert dict(tasks["Transform"]["after"]) == {"Extract": "ended"}
    assert dict(tasks["Check"]["after"]) == {"Extract": "ended"}
    assert dict(tasks["Load"]["after"]) == {"Transform": "ended", "Check": "ended"}
    assert tasks["Load"]["condition"] == "any"
    assert tasks["Load"]["retries"] == 2 and tasks["Load"]["ignore_failure"] is True
    assert dict(sync["tasks"]["Push"]["after"]) == {"Pull": "ended"}
    assert "from BatchConstraintsHistory" in calibration.text
    # no history holds a deadline: said, not invented
    assert "deadline" not in nightly
    assert "deadlines: no history holds one" in calibration.text
    scenario = calibration.scenario()
    jobs = {j.name: j for j in scenario.jobs}
    assert (jobs["Nightly"].group, jobs["Nightly"].priority) == ("Finance", "critical")
    assert scenario.group("Integration").priority == "high"
    load = next(t for t in jobs["Nightly"].tasks if t.name == "Load")
    assert load.condition == "any" and load.retries == 2 and load.ignore_failure


def test_with_the_source_as_topology_deadlines_come_back_and_it_simulates(
        exported: list[Path], tmp_path: Path) -> None:
    history = simbatch.read_history(*exported)
    calibration = simbatch.calibrate(history, topology=SOURCE)
    scenario = calibration.write(tmp_path / "again.yaml")
    jobs = {j.name: j for j in scenario.jobs}
    assert jobs["Nightly"].deadline == simbatch.load(SOURCE).jobs[0].deadline
    assert jobs["Sync"].deadline == simbatch.load(SOURCE).jobs[2].deadline
    assert "# from the topology file: no history holds a deadline" in calibration.text
    again = simbatch.simulate(scenario, seed=4)
    assert set(again.jobs["job"].astype(str)) == {"Nightly", "Ledger", "Sync"}
    ledger = (again.jobs["job"] == "Ledger").sum()
    assert len(again.deadlines()) == len(again.jobs) - ledger
    # the same graph, groups and priorities as the source
    source = simbatch.load(SOURCE)
    for job in source.jobs:
        mine = jobs[job.name]
        assert (mine.group, mine.priority) == (job.group, job.priority)
        assert {t.name: (t.after, t.condition) for t in mine.tasks} == {
            t.name: (t.after, t.condition) for t in job.tasks}


def test_the_cli_round_trip(exported: list[Path], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tenant.yaml"
    assert main(["calibrate", *map(str, exported), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out), "--format", "fo", "--out", str(tmp_path / "again")]) == 0
    assert sorted(p.stem for p in (tmp_path / "again").iterdir()) == sorted(FO_TABLES)
