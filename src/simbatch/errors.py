"""The exceptions simbatch raises.

Every error derives from one root, so callers can catch everything simbatch
means to report with a single ``except SimbatchError``::

    SimbatchError
    ├── ScenarioError      a scenario file or dict is invalid (file, path, line, value)
    ├── HistoryError       a batch history export is invalid (file, row, column, value)
    ├── SimulationError    a run met a state the scenario could not rule out
    │                      (for example a sampled time that is negative or NaN)
    ├── BudgetError        a scenario asks for more work than the limit (max_attempts)
    ├── StoreError         a result store is held by another experiment or cannot be used
    └── UsageError         a function was called with a bad argument (also a ValueError)

    SimbatchWarning        a valid scenario that very likely does not mean what it says
                           (a UserWarning: a job that never runs, a server that runs nothing)
"""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ["EXCERPT", "BudgetError", "HistoryError", "ScenarioError", "SimbatchError",
           "SimbatchWarning", "SimulationError", "StoreError", "UsageError", "excerpt"]

EXCERPT = 80
"""The most characters of a bad value that a message quotes (an ellipsis marks the cut)."""

_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3
_SHORT.maxdict = _SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = 6
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = EXCERPT + 8


def excerpt(value: Any, limit: int = EXCERPT, *, quoted: bool = True) -> str:
    """A bad value as a message quotes it: its ``repr``, cut to ``limit`` characters.

    Every message that echoes a value the user wrote goes through here, so a 10 kB
    string, a file's contents or a mapping nested thousands deep is shown as its first
    few characters and an ellipsis, never in full (and never by a recursive ``repr``).
    With ``quoted=False`` a text is cut the same way but shown as it is (a library's
    message that quotes its input).
    """
    if isinstance(value, str):
        text = repr(value[:limit + 1]) if quoted else value
    else:
        try:
            text = _SHORT.repr(value)
        except Exception:  # a user's object whose repr fails: its type is enough
            text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _named(source: str) -> str:
    """A file's name as a message prints it: whole, unless it is absurdly long."""
    return source if len(source) <= 4 * EXCERPT else excerpt(source, 4 * EXCERPT, quoted=False)


class SimbatchError(Exception):
    """Root of every error that simbatch reports on purpose."""


class ScenarioError(SimbatchError):
    """A scenario is invalid; the message names the file, the path, the problem and the value."""

    def __init__(
        self, source: str, path: str, problem: str, line: int | None = None
    ) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path}: " if path else ""
        at = f" (line {line})" if line is not None else ""
        super().__init__(f"{_named(source)}: {where}{problem}{at}")


class HistoryError(SimbatchError):
    """A batch history export is invalid; the message names the file, the row, the column
    and the bad value."""

    def __init__(self, source: str, problem: str, row: int | None = None,
                 column: str | None = None) -> None:
        self.source = source
        self.problem = problem
        self.row = row
        self.column = column
        where = "".join([f"row {row}, " if row is not None else "",
                         f"column {excerpt(column, quoted=False)}, " if column is not None
                         else ""])
        if len(problem) > 8 * EXCERPT:  # a backstop: an export's cells never in bulk
            problem = excerpt(problem, 8 * EXCERPT, quoted=False)
        super().__init__(f"{_named(source)}: {where[:-2] + ': ' if where else ''}{problem}")


class SimulationError(SimbatchError):
    """A run could not go on, for a reason the scenario's validation cannot see in advance."""


class BudgetError(SimbatchError):
    """A scenario's estimated work (task attempts) is above the limit; the message has it."""


class StoreError(SimbatchError):
    """A result store folder is held by another experiment, or cannot be read or written."""


class UsageError(SimbatchError, ValueError):
    """A public function was called with an argument it cannot use."""


class SimbatchWarning(UserWarning):
    """A scenario is valid but very likely not what its author meant."""
