"""A run's tables as CSV files (``tasks.csv`` and ``jobs.csv``), written atomically.

A text cell that a spreadsheet would run as a formula is written with a leading
apostrophe (``simbatch.results.cells``), so ``=cmd|' /C calc'!A0`` shows as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from simbatch.files import replacing
from simbatch.results.cells import guard_frame

if TYPE_CHECKING:
    from simbatch.results.result import Result

__all__ = ["csv_times", "write_csv"]


def csv_times(column: pd.Series) -> pd.Series:
    """Tz-aware times as ISO 8601 UTC text, rounded to the millisecond; empty when NaT."""
    utc = column.dt.tz_convert("UTC").dt.round("ms")
    text: pd.Series = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, 23) + "+00:00"
    return text.where(column.notna(), "")


def write_csv(result: Result, out: str | Path) -> list[Path]:
    """Write ``tasks.csv`` and ``jobs.csv`` of ``result`` in the folder ``out``: times in
    ISO 8601 UTC to the millisecond, waits, durations and work in seconds; both files are replaced
    only once both are written. Returns the paths written."""
    folder = Path(out)
    paths = [folder / "tasks.csv", folder / "jobs.csv"]
    with replacing(*paths) as temps:
        for temp, table in zip(temps, (result.tasks, result.jobs), strict=True):
            frame = guard_frame(table)  # a copy; names guarded, times not text yet
            for column in ("wait", "duration", "work"):  # work: with a database only
                if column in frame:
                    frame[column] = frame[column].dt.total_seconds().round(3)
            for column in ("scheduled", "ready", "start", "end"):
                if column in frame:
                    frame[column] = csv_times(frame[column])
            frame.to_csv(temp, index=False)
    return paths

