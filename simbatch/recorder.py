"""Columnar recording of a run: one machine integer per cell, tables built once at the end."""

from __future__ import annotations

from array import array

__all__ = ["NA", "Recorder"]

NA = -(2**63)
"""The missing time or server in a recorded cell (it becomes NaT or NA in the tables)."""

TASK_COLUMNS = ("job", "run", "task", "group", "server", "attempt", "status", "ready", "start",
                "end")
JOB_COLUMNS = ("job", "run", "scheduled", "start", "end", "status", "tasks", "skipped")


class Recorder:
    """Appends task attempts and job runs as codes and nanoseconds; nothing per row survives."""

    def __init__(self) -> None:
        self.tasks = {name: array("q") for name in TASK_COLUMNS}
        self.jobs = {name: array("q") for name in JOB_COLUMNS}
        t = self.tasks
        self._task_appends = tuple(t[name].append for name in TASK_COLUMNS)
        j = self.jobs
        self._job_appends = tuple(j[name].append for name in JOB_COLUMNS)

    def task(self, job: int, run: int, task: int, group: int, server: int, attempt: int,
             status: int, ready: int, start: int, end: int) -> None:
        """One row of the tasks table (``NA`` for a missing server or time)."""
        a = self._task_appends
        a[0](job)
        a[1](run)
        a[2](task)
        a[3](group)
        a[4](server)
        a[5](attempt)
        a[6](status)
        a[7](ready)
        a[8](start)
        a[9](end)

    def job(self, job: int, run: int, scheduled: int, start: int, end: int, status: int,
            tasks: int, skipped: int) -> None:
        """One row of the jobs table."""
        a = self._job_appends
        a[0](job)
        a[1](run)
        a[2](scheduled)
        a[3](start)
        a[4](end)
        a[5](status)
        a[6](tasks)
        a[7](skipped)
