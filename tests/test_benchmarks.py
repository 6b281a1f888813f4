"""The benchmark script keeps working (timings belong to the benchmark, not to tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_small_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--small",
                           "--json", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    for part in ("(a) M/M/4 kernel", "(b) Tenant month", "(c) Idle year", "(d) The same",
                 "(e) Start-up"):
        assert part in proc.stdout
    figures = json.loads(out.read_text())
    kernel = figures["kernel"]
    assert set(kernel["us_per_job"]) == {"simbatch", "SimPy (minimal)", "Ciw"}
    assert all(v > 0 for v in kernel["us_per_job"].values())
    assert figures["month"]["attempts"] > 1_000
    # lazy polling: the work of an idle calendar does not grow with the number of servers
    small, large = figures["idle"]
    assert (small["servers"], large["servers"]) == (10, 100)
    assert large["events"] <= 1.5 * small["events"]
    assert large["events"] < large["server_minutes"] / 1_000
    # the same workload on 100, 1,000 and 4,000 servers: the same attempts, and the events
    # (dispatch steps) follow the work, not the servers
    farm = figures["farm"]
    assert [row["servers"] for row in farm] == [100, 1000, 4000]
    assert len({row["attempts"] for row in farm}) == 1
    assert farm[-1]["events"] <= 1.2 * farm[0]["events"]
    assert set(figures["startup"]) == {"python -c 'import pandas'",
                                       "simbatch validate scenarios/walkthrough.yaml"}


def test_small_load_benchmark_run(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "load.py"), "--small",
                           "--json", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "work budget estimate" in proc.stdout and "peak memory above baseline" in proc.stdout
    figures = json.loads(out.read_text())
    assert (figures["servers"], figures["jobs"], figures["days"]) == (30, 500, 3)
    # the estimate of the work budget is close to the work done (an upper bound of its mean)
    assert 0.9 < figures["attempts"] / figures["estimated_attempts"] < 1.1
    assert figures["peak_bytes_above_baseline"] > 0
    assert "simulated h" in proc.stderr  # the progress bar, forced onto stderr
