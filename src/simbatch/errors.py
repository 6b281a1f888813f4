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

__all__ = ["BudgetError", "HistoryError", "ScenarioError", "SimbatchError", "SimbatchWarning",
           "SimulationError", "StoreError", "UsageError"]


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
        super().__init__(f"{source}: {where}{problem}{at}")


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
                         f"column {column}, " if column is not None else ""])
        super().__init__(f"{source}: {where[:-2] + ': ' if where else ''}{problem}")


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
