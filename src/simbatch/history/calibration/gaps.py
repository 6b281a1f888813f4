"""What a history cannot show, and the checks calibration makes before it fits anything.

The header of a calibrated scenario lists these in words: a job-level history, jobs that
keep no history (a short history and times that look local are the reader's: ``History.gaps``
and ``History.looks_local``). The checks refuse, naming the history file and row, what no
scenario could hold (years out of range) or what would exhaust memory (``check_budget``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simbatch.engine import budget
from simbatch.errors import BudgetError, HistoryError
from simbatch.history.read import History

__all__ = [
    "MAX_RETRY_COUNT",
    "check_budget",
    "check_period",
    "check_retries",
    "history_notes",
    "table_file",
]

FIRST_YEAR, LAST_YEAR = 1970, 2200
"""The years a scenario's dates may hold (``simbatch.scenario.ranges``)."""
MAX_YEARS = 100
"""The longest horizon a scenario may have."""


def table_file(history: History, table: str) -> str:
    """The file a table came from, as well as the history can tell: the one source whose
    name says so, else every source."""
    key = table.lower()
    named = [s for s in history.sources if key in s.lower().replace("_", "")]
    return named[0] if len(named) == 1 else (", ".join(history.sources) or "history")


MAX_RETRY_COUNT = 126
"""The most retries of one task run the replay records (attempts are kept in a byte);
F&O allows 5 retries, and restarts of its server add a few more."""


def check_retries(history: History) -> None:
    """Refuse a retryCount no replay can record and no share can use (a slipped digit, an
    overflow), naming the file and row."""
    retries = history.tasks["retries"].to_numpy(dtype=np.int64)
    bad = retries > MAX_RETRY_COUNT
    if bad.any():
        i = int(np.argmax(bad))
        raise HistoryError(table_file(history, "BatchHistory"), f"retryCount {retries[i]:,}"
                           f" is more than the {MAX_RETRY_COUNT} retries of one task run a"
                           " replay records (F&O allows 5; restarts of a server add a few)",
                           row=i + 2, column="retryCount")


def check_budget(history: History, max_attempts: int | None, what: str) -> None:
    """A ``BudgetError`` when the history has more task rows than the work budget allows.

    Calibration and replay read every task row (each a recorded attempt or more), so the
    same limit as a simulation's applies, with the same message.
    """
    limit = budget.MAX_ATTEMPTS if max_attempts is None else max_attempts
    rows = len(history.tasks)
    if rows > limit:
        raise BudgetError(
            f"{', '.join(history.sources) or 'the history'}: {what} reads {rows:,} task rows,"
            f" more than the limit of {limit:,} (about {rows * budget.BYTES_PER_ATTEMPT / 1e9:,.1f}"
            f" GB at {budget.BYTES_PER_ATTEMPT} bytes a row); give a shorter period, or raise"
            " the limit with --max-attempts (max_attempts= in Python)")


def check_period(history: History) -> None:
    """Refuse a history without any due or start time, or whose times no scenario can hold
    (years 1970 to 2200, at most 100 years long), naming the file and row."""
    jobs = history.jobs
    source = table_file(history, "BatchJobHistor")
    due = jobs["scheduled"].where(jobs["scheduled"].notna(), jobs["start"])
    if due.isna().all():
        raise HistoryError(source, "no job run has a due time (OrigStartDateTime) or a start"
                           " time (StartDateTime): every one is empty or F&O's empty date"
                           " 1900-01-01, so no schedule can be fitted")
    _check_times(source, {"OrigStartDateTime": jobs["scheduled"],
                          "StartDateTime": jobs["start"], "EndDateTime": jobs["end"]})
    if history.level != "job":
        _check_times(table_file(history, "BatchHistory"),
                     {"StartDateTime": history.tasks["start"],
                      "EndDateTime": history.tasks["end"]})


def _check_times(source: str, columns: dict[str, pd.Series]) -> None:
    """Every time of one table within the years a scenario holds, and all of them within
    its longest horizon, else a ``HistoryError`` naming the row and column."""
    names = list(columns)
    moments = pd.concat(list(columns.values()), ignore_index=True)
    size = len(moments) // len(names)
    years = moments.dt.year

    def where(i: int) -> tuple[int, str]:
        return i % size + 2, names[i // size]

    for bad, edge in ((years < FIRST_YEAR, "before"), (years > LAST_YEAR, "after")):
        hit = bad.to_numpy(dtype=bool, na_value=False)
        if hit.any():
            i = int(np.argmax(hit))
            row, column = where(i)
            raise HistoryError(source, f"{moments.iloc[i]:%Y-%m-%d %H:%M:%S} is {edge} the"
                               f" years a scenario can hold ({FIRST_YEAR} to {LAST_YEAR})",
                               row=row, column=column)
    if moments.notna().any():
        first, last = moments.min(), moments.max()
        if last - first > pd.Timedelta(days=365 * MAX_YEARS - 2):
            row, column = where(int(np.argmax((moments == last).to_numpy(dtype=bool,
                                                                          na_value=False))))
            raise HistoryError(source, f"the history spans {first:%Y-%m-%d} to"
                               f" {last:%Y-%m-%d}, more than the {MAX_YEARS} years a"
                               " scenario's horizon may hold", row=row, column=column)


def history_notes(history: History) -> list[str]:
    """What this history cannot tell, in words for the header (a short history is the
    reader's gap: ``History.gaps``)."""
    notes: list[str] = []
    if history.level == "job":
        notes.append("a job-level history (the BatchJobHistories entity, or BatchJobHistory"
                     " alone): each job is calibrated as one task whose duration is the"
                     " whole run, with its schedule and failure share; it cannot tell tasks,"
                     " their dependencies, retries, runtime tasks, servers or threads")
    setup = history.batch_jobs
    if setup is not None and "log_level" in setup.columns:
        seen = set(history.jobs["job"].astype(str))
        never = sorted(str(j) for j, level in zip(setup["job"], setup["log_level"],
                                                   strict=True)
                       if str(level) == "never" and str(j) not in seen)
        if never:
            shown = ", ".join(never[:5]) + (f" and {len(never) - 5} more" if len(never) > 5
                                            else "")
            notes.append(f"{len(never)} jobs keep no history (log level Never) and are not in"
                         f" the scenario: {shown}")
    return notes
