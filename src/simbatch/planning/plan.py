"""Plans: the least capacity that meets a set of targets, at a stated confidence.

``plan`` answers the inverse of a what-if: not "what happens with 12 night threads?" but
"how few threads still meet these targets?". Candidates are the base scenario with integer
values set by path (``servers.AOS1.periods[1].threads``, as in ``sweep``), and every
candidate runs the same replication seeds (common random numbers, as in ``compare``).

- **Targets** read ``METRIC OP VALUE [for KEY]``: a metric of ``replicate`` without its
  unit suffix (``wait_p95`` is ``wait_p95_s``), one of ``<= < >= >``, a value in the time
  grammar (``2m``), a percent (``5%``) or a number, and a key (a group, server or job;
  default ``all``).
- **Decision rule.** A candidate meets a target when the one-sided confidence bound of the
  metric's mean (upper for ``<=``/``<``, lower for ``>=``/``>``; Student t over its
  replications) is within the target. When the bound on the other side still admits the
  target, the decision is close and the candidate gets more replications (sequential
  sampling), up to ``max_replications`` each and ``budget`` runs in all.
- **Cost** is the capacity bought: the available thread-hours over the horizon (what the
  periods allow), ties broken by fewer servers with any thread, then by the values. A
  per-variable ``weight`` multiplies the thread-hours that variable adds above its lowest
  value (a weight of 2 makes its threads cost double).
- **Search** uses monotone structure (more threads never make a target worse). With all
  variables at their highest values the targets must be met, else the plan is infeasible.
  For one variable, bisection. For several, a bisection along each variable with the
  others at their highest gives a lower bound for each; from there a greedy marginal
  allocation adds the unit that closes the gap to the targets most per thread-hour until
  the targets are met, and a descent then tries removing one unit from each variable.
- **Monotonicity** is checked on what was simulated anyway: a candidate with more capacity
  that is worse on a target (paired by replication, significant at the confidence) is
  reported, and an infeasible plan compares its lowest and highest candidates to say when
  the varied capacity does not move the metric at all (for example when a group's
  ``max_concurrency`` is what limits it).
"""

from __future__ import annotations

import copy
import html
import io
import itertools
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

import simbatch
from simbatch.experiments import executors as workers
from simbatch.engine.servers import Limits
from simbatch.errors import SimbatchError, UsageError
from simbatch.experiments.runs import (
    Comparison,
    Source,
    _check_executor,
    _chunk,
    _warmup,
    chunks,
    is_dask,
    parse_path,
    replicate,
    replication_seed,
)
from simbatch.scenario.load import load
from simbatch.scenario.spec import Scenario
from simbatch.scenario.shape import format_path
from simbatch.simulation import whole_number
from simbatch.planning.targets import Target, parse_target
from simbatch.scenario.timegrammar import NS

__all__ = ["Plan", "Target", "parse_target", "parse_vary", "plan"]


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


# ---- candidates -----------------------------------------------------------------------------

def _get(document: Any, parts: Sequence[str | int], path: str) -> Any:
    node = document
    for depth, part in enumerate(parts):
        where = format_path(tuple(parts[:depth + 1]))
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                raise UsageError(f"vary {path!r}: the scenario has no {where!r}")
        elif not isinstance(node, Mapping) or part not in node:
            raise UsageError(f"vary {path!r}: the scenario has no {where!r}")
        node = node[part]
    return node


def _plain(node: Any) -> Any:
    """Plain dicts, lists and scalars (no loader types), for copying and writing."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool | int | float | str) or node is None:
        return type(node)(node) if node is not None else None
    return node


def changes_for(document: Mapping[str, Any], values: Mapping[str, int]) -> dict[str, Any]:
    """The nested changes that set each path to its value, for ``Scenario.with_changes``.

    Lists are replaced whole when merged, so a path into a list item carries the whole
    list, copied from ``document``, with the item changed.
    """
    changes: dict[str, Any] = {}
    for path, value in values.items():
        parts = parse_path(path)
        _get(document, parts, path)
        cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), len(parts))
        node: dict[str, Any] = changes
        for part in parts[:cut - 1]:
            node = node.setdefault(str(part), {})
        last = str(parts[cut - 1])
        if cut == len(parts):
            node[last] = value
            continue
        if last not in node:
            node[last] = _plain(copy.deepcopy(_get(document, parts[:cut], path)))
        inner: Any = node[last]
        for part in parts[cut:-1]:
            inner = inner[part]
        inner[parts[-1]] = value
    return changes


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
class _Candidate:
    point: tuple[int, ...]
    scenario: Scenario
    cost: float
    thread_hours: float
    servers: int
    rows: list[pd.DataFrame] = field(default_factory=list)
    verdict: str = "close"
    """met, failed (clearly) or close (undecided at its replications)."""
    judged: dict[str, tuple[float, ...]] = field(default_factory=dict)

    cached: tuple[int, pd.DataFrame] | None = field(default=None, repr=False)

    @property
    def n(self) -> int:
        return len(self.rows)

    def frame(self) -> pd.DataFrame:
        """All its metric rows in one frame (kept until more replications arrive)."""
        if self.cached is None or self.cached[0] != len(self.rows):
            self.cached = (len(self.rows), pd.concat(self.rows, ignore_index=True))
        return self.cached[1]


# ---- where work runs ------------------------------------------------------------------------

class _Runner:
    """One worker pool for the whole plan: local processes, ``serial``, or a dask Client.

    Local workers come from ``simbatch.experiments.executors`` (they end with this process); each
    candidate's replications of a step go out in one chunk per worker, so its scenario
    travels once per worker, not once per replication (a dask Client scatters it once).
    """

    def __init__(self, executor: Any) -> None:
        _check_executor(executor)
        self.own = executor is None
        self.workers = os.cpu_count() or 1
        self.pool: Any = workers.pool(self.workers) if self.own else executor
        self.dask = is_dask(self.pool)
        self.scattered: dict[tuple[int, ...], Any] = {}

    def run(self, batch: list[tuple[_Candidate, list[tuple[int, int]]]],
            warmup: int) -> None:
        """Run each candidate's replications; append their rows in replication order."""
        if self.pool == "serial":
            for candidate, reps in batch:
                candidate.rows += _chunk(candidate.scenario, reps, warmup)
            return
        futures: list[tuple[_Candidate, int, Any]] = []
        try:
            for candidate, reps in batch:
                if self.dask:
                    if candidate.point not in self.scattered:
                        self.scattered[candidate.point] = self.pool.scatter(
                            candidate.scenario)
                    held = self.scattered[candidate.point]
                    futures += [(candidate, r, self.pool.submit(_chunk, held, [(r, s)], warmup,
                                                                pure=False)) for r, s in reps]
                else:
                    futures += [(candidate, part[0][0], self.pool.submit(
                        _chunk, candidate.scenario, part, warmup))
                        for part in chunks(reps, self.workers)]
            done = {(id(c), first): f.result() for c, first, f in futures}
        except BaseException:
            for _, _, future in futures:
                future.cancel()
            raise
        for candidate, first, _ in sorted(futures, key=lambda x: x[1]):
            candidate.rows += done[id(candidate), first]

    def close(self, finished: bool) -> None:
        """End the pool if it is the plan's own: at once unless the plan ``finished``."""
        if self.own:
            workers.close(self.pool, finished)


# ---- the search -----------------------------------------------------------------------------

class _BudgetSpentError(Exception):
    """The run budget is spent; the search stops with what it has."""


class _Search:
    def __init__(self, base: Scenario, paths: list[str], values: list[list[int]],
                 weights: list[float], targets: list[Target], confidence: float, n: int,
                 max_n: int, budget: int | None, seed: int, warmup: int,
                 runner: _Runner) -> None:
        self.base, self.paths, self.values, self.weights = base, paths, values, weights
        self.targets, self.confidence, self.n, self.max_n = targets, confidence, n, max_n
        self.budget, self.seed, self.warmup, self.runner = budget, seed, warmup, runner
        self.document = _plain(base.document)
        self.candidates: dict[tuple[int, ...], _Candidate] = {}
        self.columns: list[str] | None = None
        self.runs = 0
        self.notes: list[str] = []
        self.unit_hours = self._unit_hours()

    # candidates and their cost
    def _scenario(self, point: tuple[int, ...]) -> Scenario:
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

    def candidate(self, point: tuple[int, ...]) -> _Candidate:
        if point not in self.candidates:
            scenario = self._scenario(point)
            hours, servers = thread_hours(scenario)
            extra = sum((w - 1) * u * (x - v[0]) for w, u, x, v in zip(
                self.weights, self.unit_hours, point, self.values, strict=True))
            self.candidates[point] = _Candidate(point, scenario, hours + extra, hours, servers)
        return self.candidates[point]

    def rank(self, c: _Candidate) -> tuple[float, int, tuple[int, ...]]:
        return (round(c.cost, 9), c.servers, c.point)

    # judging
    def _values(self, c: _Candidate, column: str, key: str) -> pd.Series:
        frame = c.frame()
        mine = frame[(frame.metric == column) & (frame.key == key)]
        return mine.set_index("replication")["value"].reindex(
            sorted(frame.replication.unique()))

    def judge(self, c: _Candidate) -> None:
        if self.columns is None:
            frame = c.frame()
            produced = set(zip(frame.metric, frame.key, strict=True))
            self.columns = [t.column(produced) for t in self.targets]
        verdicts = []
        for target, column in zip(self.targets, self.columns, strict=True):
            values = self._values(c, column, target.key).dropna().to_numpy()
            n = len(values)
            mean = float(values.mean()) if n else math.nan
            if n >= 2:
                sd = float(values.std(ddof=1))
                se = sd / math.sqrt(n)
                one = float(stats.t.ppf(self.confidence, n - 1)) * se
                two = float(stats.t.ppf((1 + self.confidence) / 2, n - 1)) * se
            else:
                one = two = math.inf
            bound = mean + one if target.upper else mean - one
            other = mean - one if target.upper else mean + one
            if n and target.within(bound):
                verdict = "met"
            elif n >= 2 and not target.within(other):
                verdict = "failed"
            else:
                verdict = "close"
            verdicts.append(verdict)
            c.judged[target.label] = (n, mean, mean - two, mean + two, bound,
                                      verdict == "met")
        c.verdict = ("met" if all(v == "met" for v in verdicts) else
                     "failed" if "failed" in verdicts else "close")

    def gap(self, c: _Candidate) -> float:
        """How far the candidate's bounds are from the targets (0 when all are met)."""
        worst = 0.0
        for target in self.targets:
            _, mean, _, _, bound, _ = c.judged[target.label]
            if math.isinf(bound) or math.isnan(bound):
                bound = mean
            if math.isnan(bound):
                return math.inf
            scale = abs(target.value) or 1.0
            short = (bound - target.value if target.upper else target.value - bound) / scale
            worst = max(worst, short)
        return worst

    def evaluate(self, points: Iterable[tuple[int, ...]]) -> list[_Candidate]:
        """Simulate the points until each is decided or out of replications."""
        chosen = [self.candidate(p) for p in dict.fromkeys(points)]
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
                        range(c.n + 1, c.n + want + 1)]
                batch.append((c, reps))
            if batch:
                self.runner.run(batch, self.warmup)
                for c, _ in batch:
                    self.judge(c)
            if spent:
                raise _BudgetSpentError
            if not batch:
                return chosen

    def met(self, point: tuple[int, ...]) -> bool:
        return self.evaluate([point])[0].verdict == "met"

    # the search itself
    def search(self) -> None:
        top = tuple(v[-1] for v in self.values)
        low = tuple(v[0] for v in self.values)
        if not self.met(top):
            below = [p for i in range(len(self.paths)) if (p := self._step(top, i, -1))]
            self.evaluate([low, *below])
            for point in dict.fromkeys([*below, low]):
                self._flat(point, top)
            return
        if len(self.paths) == 1:
            self._axis(0, top)
            return
        bound = tuple(self.values[i][self._axis(i, top)] for i in range(len(self.paths)))
        self._greedy(bound)
        self._descend(min(self.feasible(), key=self.rank).point, bound)

    def feasible(self) -> list[_Candidate]:
        """The candidates decided to meet every target so far."""
        return [c for c in self.candidates.values() if c.verdict == "met"]

    def _axis(self, i: int, top: tuple[int, ...]) -> int:
        """Bisection along variable ``i`` with the others at ``top``: the lowest index met."""
        def at(k: int) -> tuple[int, ...]:
            return (*top[:i], self.values[i][k], *top[i + 1:])

        good, bad = len(self.values[i]) - 1, -1
        if good > 0 and self.met(at(0)):
            return 0
        bad = 0
        while good - bad > 1:
            middle = (good + bad) // 2
            if self.met(at(middle)):
                good = middle
            else:
                bad = middle
        return good

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

            def gain(c: _Candidate, here: _Candidate = here) -> float:
                return (self.gap(here) - self.gap(c)) / max(c.cost - here.cost, 1e-9)

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
        return ", ".join(f"{p}={v}" for p, v in zip(self.paths, point, strict=True))

    def _flat(self, lower: tuple[int, ...], top: tuple[int, ...]) -> None:
        """Say when going from ``lower`` to ``top`` does not move a failing target at all."""
        assert self.columns is not None
        a, b = self.candidates[lower], self.candidates[top]
        if a.n == 0 or lower == top:
            return
        for target, column in zip(self.targets, self.columns, strict=True):
            if b.judged[target.label][5]:
                continue
            d = self._paired(a, b, column, target)
            if d is not None and d[1] <= 0:
                self.notes.append(
                    f"more capacity does not help {target.label!r}: from"
                    f" {self._label(lower)} to {self._label(top)} it improved by"
                    f" {d[0]:.4g} (paired; {self.confidence:.0%} upper bound {d[1]:.4g});"
                    " something other than the varied threads limits it, such as a"
                    " group's max_concurrency")

    def _paired(self, a: _Candidate, b: _Candidate, column: str, target: Target,
                confidence: float | None = None) -> tuple[float, float, float] | None:
        """The improvement from ``a`` to ``b`` on a target, paired: mean, upper, lower bound."""
        x = self._values(a, column, target.key)
        y = self._values(b, column, target.key)
        both = pd.concat([x, y], axis=1, join="inner").dropna().to_numpy()
        if len(both) < 2:
            return None
        better = (both[:, 0] - both[:, 1]) if target.upper else (both[:, 1] - both[:, 0])
        mean = float(better.mean())
        se = float(better.std(ddof=1)) / math.sqrt(len(better))
        t = float(stats.t.ppf(confidence or self.confidence, len(better) - 1))
        return mean, mean + t * se, mean - t * se

    def monotonicity(self) -> None:
        """Report pairs where more capacity was worse on a target, paired by replication.

        Every pair of candidates where one has at least as much of every variable is
        tested; the confidence is Bonferroni-corrected over all those tests, so a flat
        region's noise does not raise false alarms.
        """
        if self.columns is None:
            return
        done = [c for c in self.candidates.values() if c.n >= 2]
        pairs = [(a, b) for a, b in itertools.permutations(done, 2)
                 if all(x <= y for x, y in zip(a.point, b.point, strict=True))]
        tests = len(pairs) * len(self.targets)
        if not tests:
            return
        strict = 1 - (1 - self.confidence) / tests
        for a, b in pairs:
            for target, column in zip(self.targets, self.columns, strict=True):
                d = self._paired(a, b, column, target, strict)
                if d is not None and d[1] < 0:
                    self.notes.append(
                        f"monotonicity contradicted: {target.label!r} is worse at"
                        f" {self._label(b.point)} than at {self._label(a.point)} (paired"
                        f" difference {-d[0]:+.4g}, significant at {self.confidence:.0%}"
                        f" over {tests} comparisons)")


# ---- the result -----------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Plan:
    """The least capacity found that meets the targets, and how it was found."""

    scenario: Scenario
    """The base scenario."""
    paths: tuple[str, ...]
    targets: tuple[Target, ...]
    confidence: float
    seed: int
    warmup: int
    """Waits of work ready before this (ns after the start) are left out of the metrics."""
    choice: dict[str, int]
    """Each varied path and its recommended value (the best found when not met)."""
    met: bool
    """Whether the choice meets every target at the confidence."""
    estimates: pd.DataFrame
    """Per target at the choice: n, mean, two-sided interval, one-sided bound, met."""
    evaluations: pd.DataFrame
    """One row per candidate tried: its values, cost, replications, verdict and estimates."""
    metrics: pd.DataFrame
    """Every replication's metric rows: candidate, replication, seed, metric, key, value."""
    runs: int
    """Simulation runs the search spent."""
    budget: int | None
    grid: int
    """How many candidates the full grid of the ranges holds."""
    base_thread_hours: float = math.nan
    """The base scenario's available thread-hours over the horizon, to set the cost against."""
    notes: tuple[str, ...] = ()
    """Monotonicity findings and why the search stopped early."""
    recommended: Scenario | None = field(default=None, repr=False)

    @property
    def monotone(self) -> bool:
        """False when the data contradicted "more capacity never makes a target worse"."""
        return not any(n.startswith(("monotonicity", "more capacity", "adding one"))
                       for n in self.notes)

    def curve(self) -> pd.DataFrame:
        """Cost against each target metric: one row per candidate and target, by cost."""
        rows = []
        for record in self.evaluations.to_dict("records"):
            for target in self.targets:
                s = _slug(target)
                rows.append({**{p: record[p] for p in self.paths},
                             "candidate": record["candidate"], "cost": record["cost"],
                             "servers": record["servers"], "target": target.label,
                             **{name: record[f"{name}_{s}"] for name in _JUDGED},
                             "chosen": record["chosen"]})
        columns = [*self.paths, "candidate", "cost", "servers", "target", *_JUDGED, "chosen"]
        return pd.DataFrame(rows, columns=columns).sort_values(
            ["target", "cost"], kind="stable").reset_index(drop=True)

    def plot(self) -> Figure:
        """The curve: each target's metric (mean and interval) against cost, with the target."""
        curve = self.curve()
        fig = Figure(figsize=(6.5, 3.2 * len(self.targets)))
        for i, target in enumerate(self.targets):
            ax = fig.add_subplot(len(self.targets), 1, i + 1)
            mine = curve[curve.target == target.label]
            ok = mine.met.astype(bool)
            for shown, color, name in ((mine[ok], "C2", "meets"), (mine[~ok], "C3", "misses")):
                ax.errorbar(shown.cost, shown["mean"], yerr=[
                    (shown["mean"] - shown.ci_low).fillna(0),
                    (shown.ci_high - shown["mean"]).fillna(0)], fmt="o", color=color,
                    label=name, capsize=3)
            chosen = mine[mine.chosen.astype(bool)]
            ax.scatter(chosen.cost, chosen["mean"], s=160, facecolors="none",
                       edgecolors="black", label="choice", zorder=3)
            ax.axhline(target.value, color="grey", linestyle="--", label="target")
            ax.set_title(target.label)
            ax.set_xlabel("cost (thread-hours over the horizon)")
            ax.set_ylabel(target.metric + (" (s)" if target.kind == "time" else ""))
            ax.legend(fontsize="small")
        fig.tight_layout()
        return fig

    def changes(self) -> dict[str, Any]:
        """The recommendation as nested changes to the base: only the values that differ."""
        document = _plain(self.scenario.document)
        changed = {p: v for p, v in self.choice.items()
                   if _get(document, parse_path(p), p) != v}
        return changes_for(document, changed)

    def write(self, out: str | Path) -> Path:
        """Write the recommendation as a what-if file that ``extends:`` the base file."""
        from ruamel.yaml import YAML

        base = Path(self.scenario.source)
        if not base.is_file():
            raise UsageError(f"the plan's base {self.scenario.source!r} is not a file; a"
                             " what-if file extends a scenario file")
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        relative = os.path.relpath(base.resolve(), path.parent.resolve())
        lines = [f"# What if: the least capacity simbatch plan found for {base.name}"
                 f" ({'targets met' if self.met else 'targets NOT met; the best found'}).",
                 *(f"#   {t.label}" for t in self.targets),
                 f"# {self.confidence:.0%} one-sided bounds, seed {self.seed},"
                 f" {self.runs} runs spent.", ""]
        writer = YAML()
        writer.default_flow_style = None
        buffer = io.StringIO()
        writer.dump(_quoted({"extends": relative, **self.changes()}), buffer)
        path.write_text("\n".join(lines) + buffer.getvalue(), encoding="utf-8")
        return path

    def report(self, out: str | Path, executor: Any = None) -> Path:
        """Write an HTML page: targets, the curve, and the choice against the base, paired.

        The base runs the choice's replication seeds, so the comparison is paired; its runs
        are reused from the search when the base is one of the candidates.
        """
        from simbatch.present.report import STYLE, _png, _table

        chosen = self.evaluations[self.evaluations.chosen]
        n = int(chosen.replications.iloc[0])
        cid = int(chosen.candidate.iloc[0])
        base_point = tuple(int(_get(_plain(self.scenario.document), parse_path(p), p))
                           for p in self.paths)
        rows = self.metrics
        same = [tuple(int(r[p]) for p in self.paths) == base_point
                for r in self.evaluations.to_dict("records")]
        found = self.evaluations[same]
        if len(found) and int(found.replications.iloc[0]) >= n:
            base_rows = rows[rows.candidate == int(found.candidate.iloc[0])]
            base_rows = base_rows[base_rows.replication <= n].drop(columns="candidate")
        else:
            base_rows = replicate(self.scenario, n, self.seed, warmup=self.warmup,
                                  executor=executor).metrics
        mine = rows[rows.candidate == cid].drop(columns="candidate")
        both = pd.concat([base_rows.assign(variant="base"), mine.assign(variant="plan")],
                         ignore_index=True)[["variant", "replication", "seed", "metric",
                                             "key", "value"]]
        comparison = Comparison(("base", "plan"), self.seed, both)
        diff = comparison.differences(self.confidence)
        diff = diff[diff.metric.isin(["wait_mean_s", "wait_p95_s", "utilization",
                                      "backlog_at_horizon", "jobs_error", *(
                                          c for c in diff.metric.unique()
                                          if str(c).startswith(("deadline", "lateness")))])
                    & (diff.n > 0)]
        diff = diff.assign(**{f"plan - base ({self.confidence:.0%} interval)": [
            f"{m:,.2f} [{lo:,.2f}, {hi:,.2f}]" if pd.notna(lo) else f"{m:,.2f}"
            for m, lo, hi in zip(diff["mean"], diff.ci_low, diff.ci_high, strict=True)]})
        estimates = self.estimates.copy()
        choice = ", ".join(f"{p} = {v}" for p, v in self.choice.items())
        base_choice = ", ".join(f"{p} = {v}" for p, v in zip(self.paths, base_point,
                                                              strict=True))
        verdict = ("<div class='finding ok'>The targets are met" if self.met else
                   "<div class='finding'>No candidate in the ranges meets the targets; the"
                   " best found is shown")
        parts = [f"<h1>Capacity plan: {html.escape(self.scenario.name)}</h1>",
                 f"<p class='muted'>simbatch {simbatch.__version__}; {self.runs} runs spent"
                 f" (budget {self.budget if self.budget is not None else 'none'}) over"
                 f" {len(self.evaluations)} of {self.grid} candidates; common random"
                 f" numbers, seed {self.seed}; {self.confidence:.0%} one-sided bounds.</p>",
                 f"{verdict}: {html.escape(choice)} (base: {html.escape(base_choice)}).</div>",
                 *(f"<div class='finding'>{html.escape(note)}</div>" for note in self.notes),
                 "<h2>Targets at the choice</h2>", _table(estimates),
                 "<h2>Cost against the targets</h2>", _png(self.plot()),
                 f"<h2>The choice against the base ({n} paired replications)</h2>",
                 "<p class='muted'>The same replication seeds in both, so the same arrivals,"
                 " durations and failures; waits in seconds.</p>",
                 _table(diff[["metric", "key", diff.columns[-1]]]),
                 "<h2>Every candidate tried</h2>", _table(self.evaluations)]
        page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>simbatch plan: {html.escape(self.scenario.name)}</title>"
                f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        return path


def _quoted(node: Any) -> Any:
    """Plain data with string values double-quoted, as the bundled files write times."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(node, dict):
        out = CommentedMap((k, _quoted(v)) for k, v in node.items())
        if not any(isinstance(v, dict | list) for v in node.values()):
            out.fa.set_flow_style()  # a leaf map on one line: {from: "08:00", ...}
        return out
    if isinstance(node, list):
        return [_quoted(v) for v in node]
    return DoubleQuotedScalarString(node) if isinstance(node, str) else node


_JUDGED = ("n", "mean", "ci_low", "ci_high", "bound", "met")
"""What is judged per target: replications, mean, two-sided interval, one-sided bound, met."""


def _slug(target: Target) -> str:
    return re.sub(r"\W+", "_", target.label).strip("_")


# ---- the public entry -----------------------------------------------------------------------

def plan(scenario: Source, vary: Mapping[str, Iterable[int]],
         targets: Sequence[str | Target], confidence: float = 0.95, *,
         replications: int = 10, max_replications: int | None = None,
         budget: int | None = None, weights: Mapping[str, float] | None = None,
         seed: int = 0, warmup: str | int = 0, executor: Any = None) -> Plan:
    """The least capacity in ``vary``'s ranges that meets every target at ``confidence``.

    ``vary`` maps paths (as in ``sweep``) to whole-number values, such as
    ``{"servers.AOS1.periods[1].threads": range(4, 17)}``. ``targets`` are texts such as
    ``"wait_p95 <= 2m for Integration"`` (see ``parse_target``). Each candidate starts with
    ``replications`` runs and gets more, in steps of as many, while its decision is close,
    up to ``max_replications`` (default 4 x ``replications``); ``budget`` caps the runs in
    all. ``weights`` multiply the thread-hours a variable adds. ``executor`` is as for
    ``replicate``, and one pool serves the whole plan.
    """
    base = load(scenario)
    if not isinstance(vary, Mapping) or not vary:
        raise UsageError("plan takes vary={path: range}, such as"
                         " {'servers.AOS1.periods[1].threads': range(4, 17)}")
    if isinstance(targets, str | Target) or not targets:
        raise UsageError("plan takes a list of targets, such as ['wait_p95 <= 2m']")
    parsed = [t if isinstance(t, Target) else parse_target(t) for t in targets]
    if not (isinstance(confidence, float | int) and 0.5 <= confidence < 1):
        raise UsageError(f"confidence is in [0.5, 1), got {confidence!r}")
    n = whole_number(replications, "replications", 2)
    max_n = whole_number(max_replications if max_replications is not None else 4 * n,
                         "max_replications", n)
    if budget is not None:
        budget = whole_number(budget, "budget", 1)
    seed = whole_number(seed, "seed", 0)
    document = _plain(base.document)
    paths, values = [], []
    for path, span in vary.items():
        parse_path(path)
        _get(document, parse_path(path), path)
        try:
            items = sorted({whole_number(v, f"vary {path!r}", 0) for v in span})
        except TypeError:
            raise UsageError(f"vary {path!r}: give whole numbers, such as range(4, 17),"
                             f" got {span!r}") from None
        if not items:
            raise UsageError(f"vary {path!r}: the range is empty")
        paths.append(path)
        values.append(items)
    weights = dict(weights or {})
    unknown = set(weights) - set(paths)
    if unknown:
        raise UsageError(f"weights name paths that are not varied: {sorted(unknown)}")
    weight_list = [float(weights.get(p, 1.0)) for p in paths]
    if any(not math.isfinite(w) or w <= 0 for w in weight_list):
        raise UsageError(f"weights are positive numbers, got {weights}")
    runner = _Runner(executor)
    finished = False
    try:
        search = _Search(base, paths, values, weight_list, parsed, float(confidence), n,
                         max_n, budget, seed, _warmup(warmup), runner)
        try:
            search.search()
        except _BudgetSpentError:
            search.notes.append(f"the budget of {budget} runs was spent before the search"
                                " ended; the choice is the best decided so far")
        finished = True
    finally:
        runner.close(finished)
    search.monotonicity()
    return _result(search, base, parsed, paths, values, seed, budget)


def _result(search: _Search, base: Scenario, targets: list[Target], paths: list[str],
            values: list[list[int]], seed: int, budget: int | None) -> Plan:
    tried = [c for c in search.candidates.values() if c.n]
    if not tried:
        raise UsageError(f"the budget of {budget} runs allowed no run at all")
    met = [c for c in tried if c.verdict == "met"]
    best = (min(met, key=search.rank) if met else
            min(tried, key=lambda c: (search.gap(c), *search.rank(c))))
    records = []
    for i, c in enumerate(tried):
        record: dict[str, Any] = {p: v for p, v in zip(paths, c.point, strict=True)}
        record |= {"candidate": i, "cost": c.cost, "thread_hours": c.thread_hours,
                   "servers": c.servers, "replications": c.n, "verdict": c.verdict,
                   "chosen": c is best}
        for t in targets:
            n, mean, low, high, bound, ok = c.judged[t.label]
            s = _slug(t)
            record |= {f"{name}_{s}": value for name, value in zip(
                _JUDGED, (n, mean, low, high, bound, ok), strict=True)}
        records.append(record)
    evaluations = pd.DataFrame(records)
    frames = [c.frame().assign(candidate=i) for i, c in enumerate(tried)]
    rows = pd.concat(frames, ignore_index=True)[
        ["candidate", "replication", "seed", "metric", "key", "value"]]
    estimates = pd.DataFrame(
        [{"target": t.label, "metric": t.metric, "key": t.key, "op": t.op, "value": t.value,
          **dict(zip(_JUDGED, best.judged[t.label], strict=True))} for t in targets])
    grid = math.prod(len(v) for v in values)
    return Plan(base, tuple(paths), tuple(targets), search.confidence, seed, search.warmup,
                dict(zip(paths, best.point, strict=True)), best.verdict == "met", estimates,
                evaluations, rows, search.runs, budget, grid, thread_hours(base)[0],
                tuple(dict.fromkeys(search.notes)), best.scenario)
