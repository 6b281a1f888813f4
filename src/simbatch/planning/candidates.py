"""Candidates of a plan: the base scenario with whole-number values set by path, and their cost.

``--vary PATH=LO..HI`` names a variable (``parse_vary``). A candidate is a point of the
grid of the variables' values; its scenario is the base with those values set
(``simbatch.scenario.paths.changes_for``), made once. Its cost is the capacity it buys,
the available thread-hours over the horizon (``thread_hours``); a per-variable weight
multiplies the thread-hours that variable adds above its lowest value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from simbatch.engine.servers import Limits
from simbatch.errors import SimbatchError, UsageError
from simbatch.scenario.paths import changes_for, parse_path, plain
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import NS

__all__ = ["Candidate", "Candidates", "parse_vary", "thread_hours"]


def parse_vary(text: str) -> tuple[str, range]:
    """``PATH=LO..HI`` (whole numbers, both included) as a path and a range."""
    path, sep, span = text.partition("=")
    low, dots, high = span.partition("..")
    try:
        if not sep or not dots:
            raise ValueError
        lo, hi = int(low.strip()), int(high.strip())
    except ValueError:
        raise UsageError(f"--vary {text!r}: write PATH=LO..HI with whole numbers, such as"
                         " servers.AOS1.periods[1].threads=4..16") from None
    path = path.strip()
    parse_path(path)
    if lo > hi:
        raise UsageError(f"--vary {text!r}: LO {lo} is above HI {hi}")
    return path, range(lo, hi + 1)


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
    scenario: Scenario
    cost: float
    thread_hours: float
    servers: int
    rows: list[pd.DataFrame] = field(default_factory=list)
    verdict: str = "close"
    """met, failed (clearly), close (not decided yet: it gets more replications) or
    undecided (still close when no more replications are to be had)."""
    judged: dict[str, tuple[float, ...]] = field(default_factory=dict)
    """Per target label: n, mean, two-sided interval, one-sided bound, met."""
    verdicts: dict[str, str] = field(default_factory=dict)
    """Per target label: met, failed, close or undecided, as for ``verdict``."""

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
    """Every candidate of a plan made so far, by point, and what one costs."""

    def __init__(self, base: Scenario, paths: Sequence[str], values: Sequence[Sequence[int]],
                 weights: Sequence[float]) -> None:
        self.base, self.paths, self.values, self.weights = base, paths, values, weights
        self.document = plain(base.document)
        self.made: dict[tuple[int, ...], Candidate] = {}
        self.unit_hours = self._unit_hours()

    def _scenario(self, point: tuple[int, ...]) -> Scenario:
        """The base with the point's values set: a what-if, validated like any scenario."""
        values = dict(zip(self.paths, point, strict=True))
        label = ", ".join(f"{p}={v}" for p, v in values.items())
        try:
            return self.base.with_changes(changes_for(self.document, values))
        except SimbatchError as exc:
            raise UsageError(f"the candidate {label} is not a valid scenario: {exc}") from None

    def _unit_hours(self) -> list[float]:
        """Thread-hours one unit of each variable adds (needed only for weights)."""
        out = []
        low = tuple(v[0] for v in self.values)
        for i, weight in enumerate(self.weights):
            if weight == 1 or len(self.values[i]) < 2:
                out.append(0.0)
                continue
            up = (*low[:i], self.values[i][1], *low[i + 1:])
            hours = thread_hours(self._scenario(up))[0] - thread_hours(self._scenario(low))[0]
            out.append(hours / (self.values[i][1] - self.values[i][0]))
        return out

    def get(self, point: tuple[int, ...]) -> Candidate:
        """The candidate at ``point``, made (and priced) on first use."""
        if point not in self.made:
            scenario = self._scenario(point)
            hours, servers = thread_hours(scenario)
            extra = sum((w - 1) * u * (x - v[0]) for w, u, x, v in zip(
                self.weights, self.unit_hours, point, self.values, strict=True))
            self.made[point] = Candidate(point, scenario, hours + extra, hours, servers)
        return self.made[point]

    def rank(self, c: Candidate) -> tuple[float, int, tuple[int, ...]]:
        """Cheapest first: cost, then fewer servers with any thread, then the values."""
        return (round(c.cost, 9), c.servers, c.point)
