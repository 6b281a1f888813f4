"""Shared helpers: small scenarios written inline, and the bundled scenario folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import simbatch

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def scenario(**overrides: Any) -> dict[str, Any]:
    """A minimal valid scenario dict; keyword arguments replace top-level keys."""
    base: dict[str, Any] = {
        "name": "test",
        "start": "2026-01-05 22:00",
        "horizon": "1d",
        "polling": "1m",
        "servers": {"S1": {"threads": 1, "poll_offset": "0s"}},
        "jobs": {"J": {"tasks": {"T": {"duration": "5m"}}}},
    }
    base.update(overrides)
    return base


def log(result: simbatch.Result) -> list[tuple[Any, ...]]:
    """The tasks table as (task, attempt, status, server, start, end) with HH:MM:SS times."""
    def clock(value: Any) -> str | None:
        return None if pd.isna(value) else value.strftime("%H:%M:%S")

    return [
        (row.task, row.attempt, row.status, None if pd.isna(row.server) else row.server,
         clock(row.start), clock(row.end))
        for row in result.tasks.itertuples()
    ]


@pytest.fixture
def write_yaml(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write YAML text to a file in a temporary folder and return its path."""
    def write(text: str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path
    return write
