"""The history benchmark keeps working at a tiny scale (its timings belong to the benchmark)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.slow
def test_tiny_history_benchmark_run(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "history.py"), "--scale",
                           "0.01", "--cache", str(tmp_path)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert "read_history:" in proc.stdout and "calibrate:" in proc.stdout
    assert (tmp_path / "scale-0.01" / "calibrated.yaml").is_file()
