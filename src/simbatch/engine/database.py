"""The database every batch server shares: load-dependent speed and the start throttle.

Each executing task with a load above 0 puts that load on the database. While the total
load ``L`` is at most the capacity ``C`` every task runs at full speed; above it every
such task progresses at speed ``C / L`` (egalitarian processor sharing), so an attempt's
recorded duration is its sampled work stretched by the contention it met. Tasks of load
0 never touch the database and are never slowed.

One event costs O(log n), whatever the number of tasks executing. A virtual *work clock*
``V`` advances at the current speed (``dV/dt = min(1, C / L)``); an attempt that starts
when the clock reads ``V0`` with work ``w`` is done when it reads ``V0 + w``, whatever
the speed does meanwhile. The attempts wait in one heap ordered by that finish, and one
timer stands for the earliest: a change of speed (a start, an end) only moves that timer.
A timer that a speed-up made too late is superseded by an earlier one; one that a
slow-down made too early fires, finds nothing due, and re-arms itself.

The throttle (``throttle_at``) is read by the model's pick: while the load is at or
above it, no server starts a task (``gate``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import numpy as np

from simbatch.engine.compile import DatabaseSpec

__all__ = ["LOAD_UNIT", "STATE_ROW", "WORK_ROW", "Database", "Done", "gate"]

LOAD_UNIT = 1_000_000
"""Loads are counted in millionths, so that sums of loads are exact."""
WORK_ROW = np.dtype([("job", "=i4"), ("run", "=i4"), ("task", "=i4"), ("attempt", "=i1"),
                     ("work", "=i8")])
STATE_ROW = np.dtype([("time", "=i8"), ("load", "=i8"), ("tasks", "=i4")])
_WORK = struct.Struct("=iiibq").pack
_STATE = struct.Struct("=qqi").pack
assert struct.calcsize("=iiibq") == WORK_ROW.itemsize
assert struct.calcsize("=qqi") == STATE_ROW.itemsize
_LATE = 1e-6
"""Rounding allowance (ns) when a finish on the work clock is turned into an instant."""
_DUE = 1e-3
"""An attempt within this much work (ns) of its finish is done."""


class Done:
    """An attempt whose work is done, shaped like its end event for the model's callback."""

    __slots__ = ("value",)

    def __init__(self, value: tuple[Any, ...]) -> None:
        self.value = value


class Database:
    """The shared database of one model: its load, speed, work clock and finishing order.

    ``at(when, callback, value)`` schedules a callback (the model's, which drops instants
    at or past the horizon); ``ended`` is called with a ``Done`` for each attempt whose
    work is done.
    """

    def __init__(self, spec: DatabaseSpec, at: Callable[[int, Callable[[Any], None], Any],
                                                         None],
                 ended: Callable[[Any], None]) -> None:
        self.capacity = spec.capacity
        self.capacity_units = round(spec.capacity * LOAD_UNIT)
        self.throttle_units = (None if spec.throttle_load is None
                               else round(spec.throttle_load * LOAD_UNIT))
        self.at = at
        self.ended = ended
        self.load = 0  # in millionths
        self.tasks = 0  # executing attempts with a load above 0
        self.speed = 1.0
        self.clock = 0.0  # work done per attempt since the start, at instant self.since
        self.since = 0
        self.heap: list[list[Any]] = []  # [finish on the work clock, order, value, load]
        self.entries: dict[tuple[Any, int], list[Any]] = {}
        self.order = 0
        self.armed: int | None = None  # the earliest timer pending
        self.fire = self._fire
        self.work_rows = bytearray()
        self.state_rows = bytearray(_STATE(0, 0, 0))

    @property
    def throttled(self) -> bool:
        """Whether the load is at or above the throttle (never, without one)."""
        return self.throttle_units is not None and self.load >= self.throttle_units

    def begin(self, value: tuple[Any, ...], load: float, work: int, now: int) -> None:
        """An attempt ``value`` (run, task, server, cause, attempt) starts with ``work`` ns."""
        run, task, _, _, attempt = value
        self.work_rows += _WORK(run.plan.index, run.number, task, attempt, work)
        units = round(load * LOAD_UNIT)
        if units == 0:  # never slowed: it ends when its work says
            self.at(now + work, self.ended, value)
            return
        self._advance(now)
        entry = [self.clock + work, self.order, value, units]
        self.order += 1
        heappush(self.heap, entry)
        self.entries[(run, task)] = entry
        self.load += units
        self.tasks += 1
        self._respeed(now)
        self._arm(now)

    def drop(self, run: Any, task: int, now: int) -> None:
        """An executing attempt ends early (its server went down): its load leaves now."""
        entry = self.entries.pop((run, task), None)
        if entry is None:
            return  # a load-0 attempt: nothing to take off
        entry[2] = None
        self._advance(now)
        self.load -= entry[3]
        self.tasks -= 1
        self._respeed(now)
        self._arm(now)

    def _advance(self, now: int) -> None:
        """Bring the work clock up to ``now`` at the current speed."""
        if now != self.since:
            self.clock += (now - self.since) * self.speed
            self.since = now

    def _respeed(self, now: int) -> None:
        """Set the speed for the current load, and record the change."""
        load = self.load
        self.speed = 1.0 if load <= self.capacity_units else self.capacity_units / load
        self.state_rows += _STATE(now, load, self.tasks)

    def _arm(self, now: int) -> None:
        """Make sure a timer is pending at (or before) the next finish at the current speed."""
        heap = self.heap
        while heap and heap[0][2] is None:
            heappop(heap)
        if not heap:  # idle: restart the work clock, so it stays small and exact
            if not self.entries:
                self.clock = 0.0
            return
        when = now + max(0, math.ceil((heap[0][0] - self.clock) / self.speed - _LATE))
        armed = self.armed
        if armed is not None and now <= armed <= when:
            return  # an earlier timer fires first and re-arms if it finds nothing due
        self.armed = when
        self.at(when, self.fire, when)

    def _fire(self, event: Any) -> None:
        when = event.value
        if when != self.armed:
            return  # superseded by an earlier timer
        self.armed = None
        self._advance(when)
        heap = self.heap
        due = self.clock + _DUE
        done = []
        while heap and (heap[0][2] is None or heap[0][0] <= due):
            entry = heappop(heap)
            if entry[2] is not None:
                done.append(entry)
        for entry in done:
            value = entry[2]
            del self.entries[(value[0], value[1])]
            self.load -= entry[3]
            self.tasks -= 1
        if done:
            self._respeed(when)
        self._arm(when)
        ended = self.ended
        for entry in done:
            ended(Done(entry[2]))

    def rows(self, kind: str) -> np.ndarray:
        """The recorded ``"work"`` (one row per attempt started) or ``"state"`` rows."""
        if kind == "work":
            return np.frombuffer(self.work_rows, dtype=WORK_ROW)
        return np.frombuffer(self.state_rows, dtype=STATE_ROW)


def gate(database: Database, pick: Callable[[int], Any]) -> Callable[[int], Any]:
    """``pick`` that takes nothing while the database is throttled.

    Every start is checked, so a round of starts stops as soon as the load reaches the
    throttle. Nothing is exempt, Reserved capacity and Critical work included
    (docs/explanation/database.md says why).
    """
    def gated(server: int) -> Any:
        if database.throttled:
            return None
        return pick(server)
    return gated
