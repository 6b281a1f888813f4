"""F&O batch tables out: a run written as the CSV files of the tables a round trip needs.

The tables are ``simbatch.results.fo.to_fo_history``'s (a run in F&O's own columns:
BatchJobHistory, BatchHistory, BatchJob, Batch, BatchConstraintsHistory, BatchGroup); what
is written here reads back with ``simbatch.read_history`` (``simbatch.history.read``).
"""

from __future__ import annotations

from pathlib import Path

from simbatch.files import replacing
from simbatch.results.cells import guard_frame
from simbatch.results.fo import to_fo_history
from simbatch.results.tables import Tables

__all__ = ["write_fo_history"]


def write_fo_history(result: Tables, out: str | Path) -> list[Path]:
    """Write ``to_fo_history(result)`` as one CSV file per table (``BatchJobHistory.csv``,
    ``BatchHistory.csv``, ``BatchJob.csv``, ``Batch.csv``, ``BatchConstraintsHistory.csv``,
    ``BatchGroup.csv``) in the folder ``out``; returns the paths written.

    Times are written as ``YYYY-MM-DD HH:MM:SS`` in UTC; an empty cell is a missing time.
    Text that a spreadsheet would run as a formula is written as text
    (``simbatch.results.cells``).
    """
    folder = Path(out)
    tables = to_fo_history(result)
    written = [folder / f"{name}.csv" for name in tables]
    with replacing(*written) as temps:  # every file replaced only once all are written
        for temp, table in zip(temps, tables.values(), strict=True):
            guard_frame(table).to_csv(temp, index=False, date_format="%Y-%m-%d %H:%M:%S")
    return written
