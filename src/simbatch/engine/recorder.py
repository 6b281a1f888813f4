"""Columnar recording of a run: packed machine integers, tables built once at the end."""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["JOB_ROW", "NA", "NO_SERVER", "RELEASE_ROW", "TASK_ROW", "Recorder"]

NA = -(2**63)
"""A missing time in a recorded row (it becomes NaT in the tables)."""
NO_SERVER = -1
"""The server of a row that never started (it becomes NA in the tables)."""

TASK_ROW = np.dtype([("job", "=i4"), ("run", "=i4"), ("task", "=i4"), ("group", "=i2"),
                     ("server", "=i2"), ("attempt", "=i1"), ("status", "=i1"),
                     ("cause", "=i1"), ("ready", "=i8"), ("start", "=i8"), ("end", "=i8")])
JOB_ROW = np.dtype([("job", "=i4"), ("run", "=i4"), ("scheduled", "=i8"), ("start", "=i8"),
                    ("end", "=i8"), ("status", "=i1"), ("tasks", "=i4"), ("skipped", "=i4")])
RELEASE_ROW = np.dtype([("job", "=i4"), ("run", "=i4"), ("task", "=i4"), ("attempt", "=i1"),
                        ("time", "=i8")])
_TASK = struct.Struct("=iiihhbbbqqq").pack
_RELEASE = struct.Struct("=iiibq").pack
_JOB = struct.Struct("=iiqqqbii").pack
assert struct.calcsize("=iiihhbbbqqq") == TASK_ROW.itemsize
assert struct.calcsize("=iiqqqbii") == JOB_ROW.itemsize


class Recorder:
    """Appends task attempts (43 bytes) and job runs (41 bytes) as packed rows.

    Nothing per row survives as a Python object: each row is packed into a growing byte
    buffer that numpy reads, without copying, as a structured array at the end.
    """

    def __init__(self) -> None:
        self._tasks = bytearray()
        self._jobs = bytearray()
        self._releases = bytearray()

    def task(self, job: int, run: int, task: int, group: int, server: int, attempt: int,
             status: int, cause: int, ready: int, start: int, end: int) -> None:
        """One row of the tasks table (``NO_SERVER`` and ``NA`` for what is missing)."""
        self._tasks += _TASK(job, run, task, group, server, attempt, status, cause, ready,
                             start, end)

    def job(self, job: int, run: int, scheduled: int, start: int, end: int, status: int,
            tasks: int, skipped: int) -> None:
        """One row of the jobs table."""
        self._jobs += _JOB(job, run, scheduled, start, end, status, tasks, skipped)

    def release(self, job: int, run: int, task: int, attempt: int, time: int) -> None:
        """A ready task held back by max concurrency was let into the queue at ``time``."""
        self._releases += _RELEASE(job, run, task, attempt, time)

    def rows(self, kind: str) -> np.ndarray:
        """The recorded ``"tasks"``, ``"jobs"`` or ``"releases"`` as a structured array."""
        if kind == "tasks":
            return np.frombuffer(self._tasks, dtype=TASK_ROW)
        if kind == "releases":
            return np.frombuffer(self._releases, dtype=RELEASE_ROW)
        return np.frombuffer(self._jobs, dtype=JOB_ROW)

    def discard(self, kind: str) -> None:
        """Drop the rows of ``kind`` once their table is built (views must be gone)."""
        if kind == "tasks":
            self._tasks = bytearray()
        else:
            self._jobs = bytearray()
