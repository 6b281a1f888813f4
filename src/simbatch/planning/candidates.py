"""Candidates of a plan: the base scenario with the variables' values set, and their rank.

A candidate is a point of the grid of the variables (``simbatch.scenario.settings``),
as the index of each one's value; its scenario is the base with those values set
(``simbatch.scenario.paths.changes_for``), made once. Its cost is the capacity it buys,
the available thread-hours over the horizon (``thread_hours``); a per-variable weight
multiplies the thread-hours that variable adds above its lowest value.

A variable whose values change the thread-hours is a capacity variable; any other is a
lever (a priority, a start time, a concurrency limit, …). "Least" ranks candidates by
(``Candidates.rank``):
1. the fewest levers changed from the base (each counted by its weight);
2. then the smallest steps (list positions for values in order, minutes for times, the
   difference for numbers; each times its weight);
3. then the least capacity (cost), fewer servers, and the point.
A plan of capacity variables alone is ranked by capacity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from simbatch.engine.servers import Limits
from simbatch.errors import SimbatchError, UsageError
from simbatch.scenario.paths import changes_for, plain
from simbatch.scenario.settings import Variable
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import NS

__all__ = ["Candidate", "Candidates", "thread_hours"]


def thread_hours(scenario: Scenario) -> tuple[float, int]:
    """Available thread-hours over the horizon (as the periods allow) and servers in use."""
    limits = Limits(scenario)
    total = 0
    used = 0
    for times, levels in zip(limits.times, limits.limits, strict=True):
        ends = [*times[1:], limits.horizon]
        total += sum(level * (end - begin) for level, begin, end
                     in zip(levels, times, ends, strict=True))
        used += max(levels) > 0
    return total / NS / 3600, used


@dataclass
class Candidate:
    """A point of the grid: its scenario, cost, replications so far and verdict."""

    point: tuple[int, ...]
    """The index of each variable's value."""
    scenario: Scenario
    cost: float
    thread_hours: float
    servers: int
    changes: float = 0.0
    """Levers changed from the base, each counted by its weight."""
    steps: float = 0.0
    """The levers' steps from the base, each times its weight."""
    rows: list[pd.DataFrame] = field(default_factory=list)
    verdict: str = "close"
    """met, failed (clearly), close (not decided yet: it gets more replications),
    undecided (still close when no more replications are to be had) or unconfirmed (met,
    but not again on fresh replications)."""
    judged: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per target label: n, mean, two-sided interval, one-sided bound, met."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """Per target label: met, failed, close or undecided, as for ``verdict``."""

    confirmed: bool | None = None
    """Lever plans: whether the candidate met the targets again on fresh replications
    (None: not tried)."""
    fresh: Candidate | None = field(default=None, repr=False)
    """Its twin judged on the fresh replications."""

    cached: tuple[int, pd.DataFrame] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        """Its replications so far."""
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        """All its metric rows in one frame (kept until more replications arrive)."""
        if self.cached is None or self.cached[0] != len(self.rows):
            self.cached = (len(self.rows), pd.concat(self.rows, ignore_index=True))
        return self.cached[1]


class Candidates:
    """Every candidate of a plan made so far, by point, and how one ranks."""

    def __init__(self, base: Scenario, variables: Sequence[Variable],
                 weights: Sequence[float]) -> None:
        self.base, self.variables, self.weights = base, variables, weights
        self.paths = [v.key for v in variables]
        self.values = [list(range(len(v.values))) for v in variables]
        self.document = plain(base.document)
        self.made: dict[tuple[int, ...], Candidate] = {}
        self.capacity = self._capacity()
        self.unit_hours = self._unit_hours()

    @property
    def levers(self) -> list[int]:
        """The indices of the variables that are not capacity."""
        return [i for i, c in enumerate(self.capacity) if not c]

    def base_point(self) -> tuple[int, ...] | None:
        """The base's point, None when a variable's base value is not listed."""
        if any(v.base is None for v in self.variables):
            return None
        return tuple(v.base for v in self.variables if v.base is not None)

    def label(self, point: tuple[int, ...]) -> str:
        """``key=value, ...`` as messages print a point."""
        return ", ".join(v.label(k) for v, k in zip(self.variables, point, strict=True))

    def setting(self, point: tuple[int, ...], only_changed: bool = False) -> dict[str, Any]:
        """What the point sets, by path; ``only_changed``: the values that differ from the
        base's."""
        out: dict[str, Any] = {}
        for v, k in zip(self.variables, point, strict=True):
            if not only_changed or v.changed(k):
                out |= v.setting(k)
        return out

    def _scenario(self, point: tuple[int, ...]) -> Scenario:
        """The base with the point's values set: a what-if, validated like any scenario."""
        try:
            return self.base.with_changes(changes_for(self.document, self.setting(point)))
        except SimbatchError as exc:
            raise UsageError(f"the candidate {self.label(point)} is not a valid scenario:"
                             f" {exc}") from None

    def _around_base(self, i: int, k: int) -> tuple[int, ...]:
        """Variable ``i`` at index ``k``, every other at its base (or its lowest)."""
        return tuple(k if j == i else (v.base if v.base is not None else 0)
                     for j, v in enumerate(self.variables))

    def _capacity(self) -> list[bool]:
        """Which variables are capacity: whole numbers whose ends differ in thread-hours."""
        out = []
        for i, v in enumerate(self.variables):
            if not v.numeric or len(v.values) < 2:
                out.append(v.numeric)
                continue
            low = thread_hours(self._scenario(self._around_base(i, 0)))[0]
            high = thread_hours(self._scenario(self._around_base(i, len(v.values) - 1)))[0]
            out.append(abs(high - low) > 1e-9)
        return out

    def _unit_hours(self) -> list[float]:
        """Thread-hours one step of each variable adds (needed only for weights)."""
        out = []
        low = tuple(0 for _ in self.variables)
        for i, weight in enumerate(self.weights):
            if weight == 1 or len(self.values[i]) < 2 or not self.capacity[i]:
                out.append(0.0)
                continue
            up = (*low[:i], 1, *low[i + 1:])
            out.append(thread_hours(self._scenario(up))[0] - thread_hours(self._scenario(low))[0])
        return out

    def get(self, point: tuple[int, ...]) -> Candidate:
        """The candidate at ``point``, made (and priced) on first use."""
        if point not in self.made:
            scenario = self._scenario(point)
            hours, servers = thread_hours(scenario)
            extra = sum((w - 1) * u * k for w, u, k in zip(
                self.weights, self.unit_hours, point, strict=True))
            changes, steps = self.distance(point)
            self.made[point] = Candidate(point, scenario, hours + extra, hours, servers,
                                         changes, steps)
        return self.made[point]

    def distance(self, point: tuple[int, ...]) -> tuple[float, float]:
        """The levers changed from the base and their steps, each times its weight."""
        changes = steps = 0.0
        for i in self.levers:
            v, k, w = self.variables[i], point[i], self.weights[i]
            if v.changed(k):
                changes += w
                steps += w * v.step(k)
        return round(changes, 9), round(steps, 9)

    def rank(self, c: Candidate) -> tuple[float, float, float, int, tuple[int, ...]]:
        """Least first: levers changed, their steps, cost, fewer servers, the point."""
        return (c.changes, c.steps, round(c.cost, 9), c.servers, c.point)
