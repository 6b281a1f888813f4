"""Output files, written atomically: a reader (or an interrupted run) sees the old file or
the new one, never half of one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from simbatch.results.result import Result

__all__ = ["csv_times", "replacing", "write_bytes", "write_csv", "write_text"]


@contextlib.contextmanager
def replacing(*paths: Path) -> Iterator[list[Path]]:
    """Temporary paths beside ``paths``; on success each replaces its target, else none does.

    The temporary files are in the targets' folders (so ``os.replace`` is atomic) and are
    removed if the block raises, Ctrl-C included.
    """
    temps: list[Path] = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                            dir=path.parent)
            os.close(handle)
            temps.append(Path(name))
        yield temps
        for temp, path in zip(temps, paths, strict=True):
            os.replace(temp, path)
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def write_bytes(path: Path, data: bytes) -> None:
    """``path.write_bytes(data)``, atomically."""
    with replacing(path) as (temp,):
        temp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """``path.write_text(text, encoding="utf-8")``, atomically."""
    with replacing(path) as (temp,):
        temp.write_text(text, encoding="utf-8")


def csv_times(column: pd.Series) -> pd.Series:
    """Tz-aware times as ISO 8601 UTC text, rounded to the millisecond; empty when NaT."""
    utc = column.dt.tz_convert("UTC").dt.round("ms")
    text: pd.Series = utc.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str.slice(0, 23) + "+00:00"
    return text.where(column.notna(), "")


def write_csv(result: Result, folder: str | Path) -> tuple[Path, Path]:
    """``tasks.csv`` and ``jobs.csv`` of ``result`` in ``folder``: times in ISO 8601 UTC to
    the millisecond, waits and durations in seconds; both files are replaced only once both
    are written."""
    out = Path(folder)
    paths = (out / "tasks.csv", out / "jobs.csv")
    with replacing(*paths) as temps:
        for temp, table in zip(temps, (result.tasks, result.jobs), strict=True):
            frame = table.copy()
            for column in ("wait", "duration"):
                frame[column] = frame[column].dt.total_seconds().round(3)
            for column in ("scheduled", "ready", "start", "end"):
                if column in frame:
                    frame[column] = csv_times(frame[column])
            frame.to_csv(temp, index=False)
    return paths
