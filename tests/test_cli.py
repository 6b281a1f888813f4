"""The ``simbatch`` command: run prints a readable summary and writes the two CSVs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simbatch.cli import main
from tests.conftest import SCENARIOS


def test_run_prints_summary_and_writes_csvs(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(SCENARIOS / "walkthrough.yaml"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Batch server walkthrough" in out
    assert "Waits per group" in out and "default" in out
    assert "Utilization per server" in out and "Batch1" in out
    tasks = pd.read_csv(tmp_path / "tasks.csv")
    jobs = pd.read_csv(tmp_path / "jobs.csv")
    assert list(tasks.columns) == ["job", "run", "task", "group", "server", "attempt", "status",
                                   "ready", "start", "end", "wait", "duration", "cause"]
    assert len(tasks) == 7 and jobs.status.tolist() == ["Ended"]
    assert tasks.loc[tasks.task == "TASK 4", "wait"].item() == 30.0  # seconds in the CSV


def test_seed_changes_the_run(tmp_path: Path) -> None:
    paths = []
    for seed in (1, 2):
        out = tmp_path / str(seed)
        assert main(["run", str(SCENARIOS / "affinity.yaml"), "--seed", str(seed),
                     "--out", str(out)]) == 0
        paths.append((out / "tasks.csv").read_text())
    assert paths[0] != paths[1]


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SCENARIOS / "affinity.yaml")]) == 0
    assert "valid (3 servers, 2 groups, 3 jobs)" in capsys.readouterr().out


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: 2026-01-05 22:00\nhorizon: 1d\nservers: {S: {threads: -2}}\n")
    proc = subprocess.run([sys.executable, "-m", "simbatch.cli", "validate", str(bad)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"ScenarioError: {bad}: servers.S.threads: must be greater"
                                   " than or equal to 0, got -2 (line 3)")
    assert "Traceback" not in proc.stderr


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", str(SCENARIOS / "walkthrough.yaml"), "--out", str(afile)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"UsageError: --out {afile}: is a file, not a folder"
    assert captured.out == ""  # refused before simulating


def test_numpy_integer_seeds_are_fine() -> None:
    import numpy as np

    import simbatch

    a = simbatch.simulate(SCENARIOS / "affinity.yaml", seed=np.int64(3))
    assert a.tasks.equals(simbatch.simulate(SCENARIOS / "affinity.yaml", seed=3).tasks)
