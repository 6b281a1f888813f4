"""Columnar recording of a run: one machine integer per cell, tables built once at the end."""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["JOB_COLUMNS", "NA", "TASK_COLUMNS", "Recorder"]

NA = -(2**63)
"""The missing time or server in a recorded cell (it becomes NaT or NA in the tables)."""

TASK_COLUMNS = ("job", "run", "task", "group", "server", "attempt", "status", "ready", "start",
                "end")
JOB_COLUMNS = ("job", "run", "scheduled", "start", "end", "status", "tasks", "skipped")
_TASK = struct.Struct(f"={len(TASK_COLUMNS)}q").pack
_JOB = struct.Struct(f"={len(JOB_COLUMNS)}q").pack


class Recorder:
    """Appends task attempts and job runs as packed rows of 64-bit integers.

    Nothing per row survives as a Python object: each row is packed into a growing byte
    buffer, which numpy reads as a 2-D int64 array at the end.
    """

    def __init__(self) -> None:
        self._tasks = bytearray()
        self._jobs = bytearray()

    def task(self, job: int, run: int, task: int, group: int, server: int, attempt: int,
             status: int, ready: int, start: int, end: int) -> None:
        """One row of the tasks table (``NA`` for a missing server or time)."""
        self._tasks += _TASK(job, run, task, group, server, attempt, status, ready, start, end)

    def job(self, job: int, run: int, scheduled: int, start: int, end: int, status: int,
            tasks: int, skipped: int) -> None:
        """One row of the jobs table."""
        self._jobs += _JOB(job, run, scheduled, start, end, status, tasks, skipped)

    def columns(self, kind: str) -> dict[str, np.ndarray]:
        """The recorded ``"tasks"`` or ``"jobs"`` as one int64 array per column."""
        flat, names = ((self._tasks, TASK_COLUMNS) if kind == "tasks"
                       else (self._jobs, JOB_COLUMNS))
        rows = np.frombuffer(flat, dtype=np.int64).reshape(-1, len(names))
        return {name: rows[:, i] for i, name in enumerate(names)}
