"""The search of a plan: judge candidates on their replications, and find the cheapest met.

Candidates are judged by ``simbatch.planning.judge`` (one-sided bounds: t for a mean,
pooled Wilson for a share of runs). A close decision gets more replications (sequential
sampling); still close at the most, it is undecided. The search uses monotone structure
(more threads never make a target worse): bisection along one variable; for several, a
bisection along each for a lower bound, a greedy marginal allocation from there, and a
descent. Monotonicity is checked on what was simulated.
Plans with levers (priorities, times, limits) search in preference order instead
(``simbatch.planning.levers``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from simbatch.engine import budget
from simbatch.errors import BudgetError
from simbatch.experiments.executors import Workers
from simbatch.experiments.intervals import (
    POOLED,
)
from simbatch.experiments.runs import replication_seed, run_replication
from simbatch.planning.candidates import Candidate, Candidates
from simbatch.planning.judge import Judge
from simbatch.planning.levers import search_levers
from simbatch.planning.targets import Target
from simbatch.present.units import clock, percent
from simbatch.scenario.settings import Variable
from simbatch.scenario.spec import Scenario

__all__ = ["FRESH", "BudgetSpentError", "Search"]


FRESH = 1_000_000
"""Confirmation replications are numbered after this: seeds no search replication uses."""


class BudgetSpentError(Exception):
    """The run budget is spent; the search stops with what it has."""


class Search:
    """The search for the cheapest candidate that meets every target (see ``plan``).

    Candidates are judged on their replications so far, and get more while a decision
    is close; every run goes through one ``Workers`` for the whole plan.
    """

    def __init__(self, base: Scenario, variables: list[Variable],
                 weights: list[float], targets: list[Target], confidence: float, n: int,
                 max_n: int, budget: int | None, seed: int, warmup: int,
                 workers: Workers, max_attempts: int | None = None) -> None:
        self.targets, self.confidence, self.n, self.max_n = targets, confidence, n, max_n
        self.budget, self.seed, self.warmup, self.workers = budget, seed, warmup, workers
        self.max_attempts = max_attempts
        self.catalog = Candidates(base, variables, weights)
        self.paths, self.values = self.catalog.paths, self.catalog.values
        self.candidates = self.catalog.made
        self.judging = Judge(targets, confidence)
        self.runs = 0
        self.notes: list[str] = []

    @property
    def columns(self) -> list[str] | None:
        """The targets' metric columns, known once the first candidate is judged."""
        return self.judging.columns

    def check_budget(self) -> None:
        """Before any run: refuse ranges whose ends ask the engine for more than its work
        budget (the most and the least of every variable), naming the candidate."""
        ends = dict.fromkeys([tuple(0 for _ in self.values),
                              tuple(len(v) - 1 for v in self.values)])
        for point in ends:
            try:
                budget.check(self.candidate(point).scenario, self.max_attempts)
            except BudgetError as exc:
                raise BudgetError(f"the candidate {self._label(point)} is past the work"
                                  f" budget, so the ranges are too wide: {exc}") from None

    def candidate(self, point: tuple[int, ...]) -> Candidate:
        """The candidate at ``point`` (made on first use)."""
        return self.catalog.get(point)

    def rank(self, c: Candidate) -> tuple[float, float, float, int, tuple[int, ...]]:
        """Least first (``Candidates.rank``)."""
        return self.catalog.rank(c)

    def evaluate(self, points: Iterable[tuple[int, ...]]) -> list[Candidate]:
        """Simulate the points until each is decided or out of replications."""
        return self.decide([self.candidate(p) for p in dict.fromkeys(points)])

    def confirm(self, c: Candidate) -> bool:
        """Judge ``c`` again on fresh replications, whose seeds the search never uses
        (numbered from ``FRESH``): whether it meets the targets there too. The fresh
        verdict does not depend on the screening that chose ``c``, so it carries the
        stated confidence for the chosen candidate itself."""
        twin = Candidate(c.point, c.scenario, c.cost, c.thread_hours, c.servers, c.changes,
                         c.steps)
        c.fresh = twin
        self.decide([twin], FRESH)
        c.confirmed = twin.verdict == "met"
        if not c.confirmed:
            c.verdict = "unconfirmed"
        return c.confirmed

    def decide(self, chosen: list[Candidate], first: int = 0) -> list[Candidate]:
        """Simulate the candidates until each is decided or out of replications; their
        replications are numbered after ``first``."""
        while True:
            batch = []
            spent = False
            for c in chosen:
                if c.n == 0:
                    want = self.n
                elif c.verdict == "close" and c.n < self.max_n:
                    want = min(self.n, self.max_n - c.n)
                else:
                    continue
                if self.budget is not None:
                    want = min(want, self.budget - self.runs)
                    if want <= 0:
                        spent = True
                        continue
                self.runs += want
                reps = [(r, replication_seed(self.seed, r)) for r in
                        range(first + c.n + 1, first + c.n + want + 1)]
                batch.append((c, reps))
            if batch:
                self.run(batch)
                for c, _ in batch:
                    self.judging.judge(c)
            if spent:
                raise BudgetSpentError
            if not batch:
                for c in chosen:
                    if c.verdict == "close" and c.n >= self.max_n:
                        self._undecided(c)
                return chosen

    def run(self, batch: list[tuple[Candidate, list[tuple[int, int]]]]) -> None:
        """Run each candidate's (replication, seed) on the workers; append their rows."""
        data = {c.point: c.scenario for c, _ in batch}
        items = [(c.point, rep) for c, reps in batch for rep in reps]
        owners = [c for c, reps in batch for _ in reps]
        rows = self.workers.run(run_replication, data, items, (self.warmup, self.max_attempts))
        for owner, frame in zip(owners, rows, strict=True):
            owner.rows.append(frame)

    def _undecided(self, c: Candidate) -> None:
        """No more replications for ``c``: what is still close is undecided (not met)."""
        c.verdict = "undecided"
        for label, verdict in c.verdicts.items():
            if verdict == "close":
                c.verdicts[label] = "undecided"

    def settle(self) -> None:
        """At the end: every close candidate is undecided, and the notes say what it cost.

        When no candidate met the targets, each target still undecided somewhere "cannot
        be decided within the budget"; when one did, undecided candidates cheaper than the
        cheapest met are named, since more replications might make one of them the choice.
        """
        tried = [c for c in self.candidates.values() if c.n]
        for c in tried:
            if c.verdict == "close":
                self._undecided(c)
        met = [c for c in tried if c.verdict == "met"]
        undecided = [c for c in tried if c.verdict == "undecided"]
        if not met:
            assert self.columns is not None
            for target, column in zip(self.targets, self.columns, strict=True):
                open_ = [c for c in undecided if c.verdicts.get(target.label) == "undecided"]
                if not open_:
                    continue
                c = max(open_, key=self.rank)
                n, mean, _, _, bound, _ = c.judged[target.label]
                self.notes.append(
                    f"cannot decide {target.label!r} within the budget: at"
                    f" {self._label(c.point)}, after {c.n} replications"
                    f" ({_count(column, n)}), the estimate is {_shown(target, mean)}"
                    f" and its {self.confidence:.0%} one-sided bound {_shown(target, bound)}"
                    " is not within the target, nor clearly beyond it; "
                    + (_edge(target, column) or "more replications (max_replications,"
                       " budget) may decide it"))
            return
        cheapest = min(met, key=self.rank)
        cheaper = [c for c in undecided if self.rank(c) < self.rank(cheapest)]
        if cheaper:
            cheaper.sort(key=self.rank)
            labels = [t.label for t in self.targets
                      if any(c.verdicts.get(t.label) == "undecided" for c in cheaper)]
            points = ", ".join("(" + ", ".join(str(v.values[k]) for v, k in zip(
                self.catalog.variables, c.point, strict=True)) + ")" for c in cheaper)
            self.notes.append(
                f"{len(cheaper)} candidate{'s' if len(cheaper) > 1 else ''} cheaper than the"
                f" choice stayed undecided on {', '.join(repr(x) for x in labels)} after"
                f" {_spread(sorted({c.n for c in cheaper}))} replications, at {points}; more"
                " replications"
                " (max_replications, budget) may find a cheaper choice")

    def met(self, point: tuple[int, ...]) -> bool:
        return self.evaluate([point])[0].verdict == "met"

    # the search itself
    def search(self) -> None:
        """Levers: the feasibility screen in preference order (``planning.levers``);
        capacity alone: the monotone search below."""
        if self.catalog.levers:
            search_levers(self)
            return
        top = tuple(v[-1] for v in self.values)
        low = tuple(v[0] for v in self.values)
        # the most, and each variable at its least with the others at their most: the
        # bisections ask for these first, so they go to the workers in one batch
        self.evaluate([top, *((*top[:i], 0, *top[i + 1:]) for i in range(len(top)))])
        if not self.met(top):
            below = [p for i in range(len(self.paths)) if (p := self._step(top, i, -1))]
            self.evaluate([low, *below])
            for point in dict.fromkeys([*below, low]):
                self._flat(point, top)
            return
        axes = self._axes(top)
        if len(self.paths) == 1:
            return
        bound = tuple(self.values[i][k] for i, k in enumerate(axes))
        self._greedy(bound)
        self._descend(min(self.feasible(), key=self.rank).point, bound)

    def feasible(self) -> list[Candidate]:
        """The candidates decided to meet every target so far."""
        return [c for c in self.candidates.values() if c.verdict == "met"]

    def lowest_met(self, lines: list[list[tuple[int, ...]]], lowest_first: bool = False
                   ) -> list[int | None]:
        """For each line of points (least capacity first, the last known or asked to meet
        the targets), the index of the lowest point met, by bisection, every line in lock
        step so that the workers judge one point of each at once; None where the last point
        does not meet them. ``lowest_first`` tries each line's first point before bisecting
        (cheap when the least already meets the targets)."""
        def met(points: list[tuple[int, ...]]) -> dict[tuple[int, ...], bool]:
            return {c.point: c.verdict == "met" for c in self.evaluate(points)}

        tops = met([line[-1] for line in lines])
        bounds = {i: [-1, len(line) - 1] for i, line in enumerate(lines) if tops[line[-1]]}
        if lowest_first:
            asked = {i: 0 for i, (_, good) in bounds.items() if good > 0}
            found = met([lines[i][0] for i in asked])
            for i in asked:
                bounds[i] = [-1, 0] if found[lines[i][0]] else [0, bounds[i][1]]
        while True:
            asked = {i: (bad + good) // 2 for i, (bad, good) in bounds.items() if good - bad > 1}
            if not asked:
                break
            found = met([lines[i][k] for i, k in asked.items()])
            for i, k in asked.items():
                bounds[i][1 if found[lines[i][k]] else 0] = k
        return [bounds[i][1] if i in bounds else None for i in range(len(lines))]

    def _axes(self, top: tuple[int, ...]) -> list[int]:
        """Bisection along each variable with the others at ``top`` (all in lock step):
        the lowest index met of each."""
        lines = [[(*top[:i], k, *top[i + 1:]) for k in self.values[i]]
                 for i in range(len(self.paths))]
        return [k if k is not None else len(self.values[i]) - 1
                for i, k in enumerate(self.lowest_met(lines, lowest_first=True))]

    def _step(self, point: tuple[int, ...], i: int, by: int) -> tuple[int, ...] | None:
        k = self.values[i].index(point[i]) + by
        if not 0 <= k < len(self.values[i]):
            return None
        return (*point[:i], self.values[i][k], *point[i + 1:])

    def _greedy(self, point: tuple[int, ...]) -> tuple[int, ...]:
        """From the lower bound, add the unit that closes the gap most per cost, until met.

        It stops early once it costs as much as a candidate already known to meet the
        targets: adding units cannot lead to a cheaper one.
        """
        while not self.met(point):
            if self.candidates[point].cost >= min(c.cost for c in self.feasible()):
                return point
            options = [p for i in range(len(self.paths)) if (p := self._step(point, i, 1))]
            if not options:
                return point
            found = self.evaluate(options)
            feasible = [c for c in found if c.verdict == "met"]
            if feasible:
                return min(feasible, key=self.rank).point
            here = self.candidates[point]

            def gain(c: Candidate, here: Candidate = here) -> float:
                gap = self.judging.gap
                return (gap(here) - gap(c)) / max(c.cost - here.cost, 1e-9)

            best = max(found, key=lambda c: (gain(c), -c.cost))
            if gain(best) <= 0:
                self.notes.append(f"adding one unit to any variable at {self._label(point)}"
                                  " did not bring the targets closer")
            point = best.point
        return point

    def _descend(self, point: tuple[int, ...], bound: tuple[int, ...]) -> None:
        """Remove one unit from a variable while the targets stay met (cheapest first)."""
        while True:
            options = [p for i in range(len(self.paths)) if (p := self._step(point, i, -1))
                       and p[i] >= bound[i]]
            feasible = [c for c in self.evaluate(options) if c.verdict == "met"]
            if not feasible:
                return
            point = min(feasible, key=self.rank).point

    def _label(self, point: tuple[int, ...]) -> str:
        return self.catalog.label(point)

    def _flat(self, lower: tuple[int, ...], top: tuple[int, ...]) -> None:
        """Say when going from ``lower`` to ``top`` does not move a failing target at all."""
        assert self.columns is not None
        a, b = self.candidates[lower], self.candidates[top]
        if a.n == 0 or lower == top:
            return
        for target, column in zip(self.targets, self.columns, strict=True):
            if b.verdicts.get(target.label) != "failed":
                continue  # met, or undecided: not shown to fail, so nothing to explain
            d = self.judging.paired(a, b, column, target)
            if d is not None and d[1] <= 0:
                self.notes.append(
                    f"more capacity does not help {target.label!r}: from"
                    f" {self._label(lower)} to {self._label(top)} it improved by"
                    f" {_shown(target, d[0])} (paired; {self.confidence:.0%} upper bound"
                    f" {_shown(target, d[1])});"
                    " something other than the varied threads limits it, such as a"
                    " group's max_concurrency")

    def monotonicity(self) -> None:
        """Report pairs where more capacity was worse on a target, paired by replication.

        Every pair of candidates where one has at least as much of every variable is
        tested; the confidence is Bonferroni-corrected over all those tests, so a flat
        region's noise does not raise false alarms.
        """
        if self.columns is None:
            return
        done = [c for c in self.candidates.values() if c.n >= 2]
        levers = self.catalog.levers
        pairs = [(a, b) for a, b in itertools.permutations(done, 2)
                 if all(x <= y for x, y in zip(a.point, b.point, strict=True))
                 and all(a.point[i] == b.point[i] for i in levers)]
        tests = len(pairs) * len(self.targets)
        if not tests:
            return
        strict = 1 - (1 - self.confidence) / tests
        for a, b in pairs:
            for target, column in zip(self.targets, self.columns, strict=True):
                d = self.judging.paired(a, b, column, target, strict)
                if d is not None and d[1] < 0:
                    self.notes.append(
                        f"monotonicity contradicted: {target.label!r} is worse at"
                        f" {self._label(b.point)} than at {self._label(a.point)} (paired"
                        f" difference {_signed(target, -d[0])}, significant at"
                        f" {self.confidence:.0%}"
                        f" over {tests} comparisons)")


def _shown(target: Target, x: float) -> str:
    """A value in the target's own unit: h:mm:ss for times, percent for percents."""
    if target.kind == "time":
        return clock(x)
    if target.kind == "percent":
        return percent(x)
    return f"{x:,.4g}"


def _edge(target: Target, column: str) -> str:
    """A remark when a share target sits at 0% or 100%, which no finite sample can show."""
    if column in POOLED and ((target.upper and target.value <= 0)
                             or (not target.upper and target.value >= 1)):
        return (f"no finite number of runs shows a share of {percent(target.value)}:"
                " write a small share instead, such as 5%")
    return ""


def _count(column: str, n: float) -> str:
    """What n counts: runs judged for a pooled share, else replications."""
    return f"{int(n):,} runs judged" if column in POOLED else f"n = {int(n)}"


def _spread(ns: list[int]) -> str:
    """``12``, or ``6 to 12`` when the numbers differ."""
    return str(ns[0]) if len(ns) == 1 else f"{ns[0]} to {ns[-1]}"


def _signed(target: Target, x: float) -> str:
    """A difference in the target's unit, with its sign."""
    text = _shown(target, x)
    return text if text.startswith("-") else "+" + text
