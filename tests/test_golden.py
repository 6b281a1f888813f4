"""Golden outputs for every bundled scenario: a change in results is a visible diff.

Regenerate after an intended change with ``SIMBATCH_UPDATE_GOLDEN=1 pytest tests/test_golden.py``
and review the diff of ``tests/golden/`` before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import simbatch
from tests.conftest import SCENARIOS

GOLDEN = Path(__file__).parent / "golden"
FULL_LOG_ROWS = 2_000  # scenarios up to this many task rows keep their whole task log
BUNDLED = sorted(SCENARIOS.glob("*.yaml"))


def rendered(result: simbatch.Result) -> dict[str, str]:
    """The golden texts of a run: summary, utilization and, for small runs, the task log."""
    def text(frame: pd.DataFrame) -> str:
        frame = frame.copy()
        for column in frame.columns:
            if pd.api.types.is_timedelta64_dtype(frame[column]):
                frame[column] = frame[column].dt.total_seconds()
        return frame.to_csv(index=False, float_format="%.6f", lineterminator="\n")

    out = {"summary": text(result.summary()), "utilization": text(result.utilization()),
           "jobs-status": text(result.jobs.groupby(["job", "status"]).size().reset_index())}
    if len(result.tasks) <= FULL_LOG_ROWS:
        out["tasks"] = text(result.tasks)
    return out


def test_every_bundled_scenario_is_covered() -> None:
    assert {p.stem for p in BUNDLED} >= {"walkthrough", "affinity"}


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_golden_output(path: Path) -> None:
    texts = rendered(simbatch.simulate(path, seed=0))
    for kind, text in texts.items():
        golden = GOLDEN / f"{path.stem}.{kind}.csv"
        if os.environ.get("SIMBATCH_UPDATE_GOLDEN"):
            golden.write_text(text, encoding="utf-8")
        assert golden.exists(), f"no golden {golden.name}: run with SIMBATCH_UPDATE_GOLDEN=1"
        assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs"
