"""Result tables as people read them: counts with separators, shares in percent, spans in
h:mm:ss. Shared by the command line and the pages; it loads neither matplotlib nor the
templates, so ``simbatch run`` stays light."""

from __future__ import annotations

import pandas as pd

from simbatch.present import units

__all__ = ["deadline_table"]


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
