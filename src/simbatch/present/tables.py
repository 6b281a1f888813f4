"""Result tables as people read them: counts with separators, shares in percent, spans in
h:mm:ss. Shared by the command line and the pages; it loads neither matplotlib nor the
templates, so ``simbatch run`` stays light."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simbatch.files import replacing
from simbatch.present import units
from simbatch.results.cells import guard_frame

__all__ = ["deadline_table", "write_table"]


def deadline_table(summary: pd.DataFrame) -> pd.DataFrame:
    """``Result.deadline_summary()`` for reading: counts, the miss share in percent (failed
    runs are misses), spans in h:mm:ss, and the latest finish with its clock time."""
    return pd.DataFrame({
        "job": summary.job, "judged": summary.runs.map(units.count),
        "missed": summary.missed.map(units.count),
        "failed": summary["failed"].map(units.count),  # the job ended in Error: a miss
        "miss share": summary.miss_share.map(units.percent),
        "undetermined": summary.undetermined.map(units.count),
        "lateness p50": summary.lateness_p50_s.map(units.clock),
        "lateness p95": summary.lateness_p95_s.map(units.clock),
        "smallest margin": summary.margin_min_s.map(units.clock),
        "latest finish": [f"{units.clock(gap)} after due ({end:%a %H:%M})" if pd.notna(end)
                          else "-" for gap, end in zip(summary.latest_finish_s,
                                                       summary.latest_end, strict=True)]})


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` (without its index) as the CSV file ``out`` for a person to open:
    atomically, with every text cell that would start a formula guarded
    (``simbatch.results.cells``), as ``write_csv`` writes a run's tables. Returns the path."""
    path = Path(out)
    with replacing(path) as (temp,):
        guard_frame(frame).to_csv(temp, index=False)
    return path
