"""The curated public API, and the contract's table columns and types."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import simbatch
from tests.conftest import SCENARIOS

TASK_COLUMNS = ["job", "run", "task", "group", "server", "attempt", "status", "ready", "start",
                "end", "wait", "duration", "cause"]
JOB_COLUMNS = ["job", "run", "scheduled", "start", "end", "status", "wait", "duration", "tasks",
               "skipped"]


def test_exported_members() -> None:
    assert sorted(simbatch.__all__) == sorted([
        "Comparison", "Replications", "Result", "Scenario", "ScenarioError", "SimbatchError",
        "SimbatchWarning", "SimulationError", "UsageError", "__version__", "compare", "load",
        "replicate", "simulate", "sweep", "write_report",
        "Calibration", "History", "HistoryError", "calibrate", "read_history",
        "write_fo_history",
        "Plan", "Target", "plan",
        "BYTES_PER_ATTEMPT", "BudgetError", "Estimate", "MAX_ATTEMPTS", "StoreError",
        "estimate_work", "write_csv", "check_output",
        "Backtest", "backtest",
    ])
    for name in simbatch.__all__:
        member = getattr(simbatch, name)
        if name not in ("__version__", "MAX_ATTEMPTS", "BYTES_PER_ATTEMPT"):
            assert member.__doc__, f"{name} has no docstring"


def test_one_exception_root() -> None:
    for error in (simbatch.ScenarioError, simbatch.SimulationError, simbatch.UsageError,
                  simbatch.HistoryError, simbatch.BudgetError, simbatch.StoreError):
        assert issubclass(error, simbatch.SimbatchError)


def test_cli_only_uses_the_public_api() -> None:
    # the front (``import simbatch``), its own modules, and the presentation wing's public
    # helpers (units, plots, the rows the pages show); nothing else of the package
    present = Path(simbatch.__file__).parent / "present"
    allowed = {"simbatch", *(f"simbatch.present.{p.stem}" for p in present.glob("[!_]*.py"))}
    used: set[str] = set()
    for path in (Path(simbatch.__file__).parent / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                used |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: write the import absolute"
                module = node.module or ""
                if module in ("simbatch.present", "simbatch.cli"):  # from PKG import MODULE
                    used |= {f"{module}.{alias.name}" for alias in node.names}
                else:
                    used.add(module)
    inside = {name for name in used
              if name.split(".")[0] == "simbatch" and not name.startswith("simbatch.cli.")}
    assert inside <= allowed, inside - allowed


def test_tables_have_the_contract_columns_and_types() -> None:
    result = simbatch.simulate(SCENARIOS / "affinity.yaml", seed=2)
    tasks, jobs = result.tasks, result.jobs
    assert list(tasks.columns) == TASK_COLUMNS
    assert list(jobs.columns) == JOB_COLUMNS
    zone = "Europe/Amsterdam"
    for column in ("ready", "start", "end"):
        assert isinstance(tasks[column].dtype, pd.DatetimeTZDtype)
        assert str(tasks[column].dt.tz) == zone
    for column in ("scheduled", "start", "end"):
        assert str(jobs[column].dt.tz) == zone
    for frame in (tasks, jobs):
        assert pd.api.types.is_timedelta64_dtype(frame["wait"])
        assert pd.api.types.is_timedelta64_dtype(frame["duration"])
        assert pd.api.types.is_integer_dtype(frame["run"])
        assert pd.api.types.is_string_dtype(frame["job"])
    assert pd.api.types.is_integer_dtype(tasks["attempt"])
    assert pd.api.types.is_integer_dtype(jobs["tasks"])
    never = tasks[tasks.start.isna()]
    assert never.server.isna().all()
    assert (tasks.wait.dropna() == (tasks.start - tasks.ready).dropna()).all()
    finished = jobs[jobs.end.notna()]
    assert (finished.duration == finished.end - finished.start).all()
    assert (jobs.wait.dropna() == (jobs.start - jobs.scheduled).dropna()).all()
    # work open at the horizon keeps its current status
    assert set(tasks.status) <= {"Ended", "Error", "Didn't run", "Executing", "Ready", "Waiting"}
    assert "Executing" in set(tasks.status)


def test_summary_counts_attempts_and_waits_over_started_ones() -> None:
    result = simbatch.simulate(SCENARIOS / "affinity.yaml", seed=2)
    summary = result.summary().set_index("group")
    tasks = result.tasks
    for group, row in summary.iterrows():
        mine = tasks[tasks.group == group]
        assert row.tasks == mine.ready.notna().sum()
        assert row.started == mine.start.notna().sum()
        assert row.wait_max == mine.wait.max()
        assert abs(row.wait_mean - mine.wait.mean()) < pd.Timedelta("1us")
    util = result.utilization()
    assert list(util.columns) == ["server", "busy_thread_seconds", "available_thread_seconds",
                                  "utilization"]
    assert util.utilization.between(0, 1).all()
    assert (util.available_thread_seconds == 4 * 8 * 3600).all()


def test_load_gives_a_frozen_validated_scenario() -> None:
    scenario = simbatch.load(SCENARIOS / "walkthrough.yaml")
    assert isinstance(scenario, simbatch.Scenario)
    assert scenario.name == "Batch server walkthrough"
    assert [s.name for s in scenario.servers] == ["Batch1", "Batch2"]
    assert [t.name for t in scenario.jobs[0].tasks] == [f"TASK {i}" for i in range(1, 8)]
    assert simbatch.load(scenario) is scenario
    assert simbatch.simulate(scenario).tasks.equals(
        simbatch.simulate(SCENARIOS / "walkthrough.yaml").tasks)


def test_samples_beyond_any_horizon_run_without_overflow() -> None:
    # a heavy tail can sample centuries; such attempts simply run past the horizon
    # (a time written in the scenario is at most 100 years: see tests/test_hardening.py)
    doc = {"start": "2026-01-05 00:00", "horizon": "1d", "polling": 0,
           "scheduling": "priority", "servers": {"S": {"threads": 2}},
           "jobs": {"J": {"arrivals": {"interval": "1h"}, "tasks": {
               "Huge": {"duration": "36500d"},
               "Wild": {"duration": {"lognormal": {"mean": "1s", "sd": "5000w"}}}}}}}
    result = simbatch.simulate(doc, seed=4)
    assert (result.tasks.duration.dropna() >= pd.Timedelta(0)).all()
    assert "Executing" in set(result.tasks.status)


def test_horizon_processes_nothing_due_at_the_horizon() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "10m", "polling": 0,
           "servers": {"S": {"threads": 1}},
           "jobs": {"J": {"tasks": {"A": {"duration": "10m"}, "B": {"duration": "1m",
                                                                      "after": {"A": "ended"}}}},
                    "Late": {"start": "2026-01-05 00:10", "tasks": {"X": {"duration": "1m"}}}}}
    with pytest.warns(simbatch.SimbatchWarning, match=r"jobs\.Late\.start: the job starts at"
                                                      r" 2026-01-05 00:10, at or after the"
                                                      r" horizon"):
        result = simbatch.simulate(doc)
    # A would end exactly at the horizon: it is still Executing, B still Waiting, and the
    # job due at the horizon has no run at all
    assert result.tasks[["task", "status"]].values.tolist() == [["A", "Executing"],
                                                                ["B", "Waiting"]]
    assert result.jobs.status.tolist() == ["Executing"]
    assert result.tasks.end.isna().all()


def test_import_loads_no_heavy_module_until_it_is_used() -> None:
    import subprocess
    import sys

    code = ("import sys, simbatch; heavy = ('scipy', 'matplotlib', 'tqdm');"
            "print(sorted(m for m in heavy if m in sys.modules));"
            "simbatch.compare; print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[:2] == ["[]", "True"]


def test_public_names_stay_what_they_are_after_their_modules_load() -> None:
    import importlib
    import pkgutil
    import types

    for module in pkgutil.walk_packages(simbatch.__path__, "simbatch."):
        importlib.import_module(module.name)
    for name in simbatch.__all__:
        assert not isinstance(getattr(simbatch, name), types.ModuleType), name
