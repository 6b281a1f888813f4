"""What a run produced: its tables (``simbatch.results.tables``) with their summaries."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from simbatch.results import fo, metrics
from simbatch.results.tables import Tables

__all__ = ["Result"]


@dataclass(frozen=True, eq=False)
class Result(Tables):
    """The batch history of one simulated run, with its summaries.

    ``tasks`` has one row per attempt (like BatchHistory) and ``jobs`` one row per run
    (like BatchJobHistory); docs/reference/results.md documents every column. ``capacity`` is each
    server's thread limit over time, from ``start`` on (0 while it is down), and whether it
    is dedicated to Reserved capacity then; ``outages`` lists when each server was down.
    The metrics themselves live in ``simbatch.results.metrics``; these methods call them.
    """

    def summary(self) -> pd.DataFrame:
        """Per group: attempts released to the queue, how many started, and their waits.

        ``tasks`` counts attempts (rows that became ready: Ended, Error, Executing and
        Ready); the wait columns are over the attempts that started.
        """
        return metrics.wait_summary(self)

    def utilization(self) -> pd.DataFrame:
        """Per server: busy ÷ available thread-seconds over the horizon, in [0, 1].

        Available is what the periods allow, plus the threads still running past a lowered
        limit (running tasks are never pre-empted, so while they run those threads exist).
        """
        return metrics.utilization(self)

    # ---- where waits come from -------------------------------------------------------------

    def wait_breakdown(self) -> pd.DataFrame:
        """Each started attempt's wait as held + poll + capacity + stranded, exactly."""
        return metrics.wait_breakdown(self)

    def backlog(self) -> pd.DataFrame:
        """Tasks waiting per group over time (time, group, waiting)."""
        return metrics.backlog(self)

    def stranded_capacity(self) -> pd.DataFrame:
        """Idle threads that may not run any waiting work, over time."""
        return metrics.stranded_capacity(self)

    def utilization_by_hour(self, by: str = "server") -> pd.DataFrame:
        """Busy ÷ available thread-seconds per server (or ``by="group"``) and local hour."""
        return metrics.utilization_by_hour(self, by)

    def dependency_waits(self) -> pd.DataFrame:
        """How long each task waited for its dependencies after its run began."""
        return metrics.dependency_waits(self)

    def to_fo_history(self, company: str = "DAT",
                      executed_by: str = "Admin") -> dict[str, pd.DataFrame]:
        """This run as F&O's BatchJobHistory and BatchHistory tables (``simbatch.results.fo``)."""
        return fo.to_fo_history(self, company, executed_by)

    def database_summary(self) -> pd.DataFrame:
        """The shared database over the run in one row: capacity, peak load and tasks, time
        saturated, thread-hours lost to contention (empty without ``database:``)."""
        return metrics.database_summary(self)

    def deadlines(self) -> pd.DataFrame:
        """Runs of jobs with a ``deadline``: met or missed, and by how much."""
        return metrics.deadlines(self)

    def deadline_summary(self) -> pd.DataFrame:
        """Per job with a deadline: runs judged, misses, miss share, lateness, margin."""
        return metrics.deadline_summary(self)
