"""The plan's judge: is a candidate's evidence enough to say it meets each target?

A candidate meets a target when the one-sided confidence bound of the metric is within it:
a t bound over the replications for a mean, a Wilson bound on the runs pooled over the
replications for a share of runs (``experiments.intervals.POOLED``). It has failed when the
bound on the other side is past the target, and is close otherwise (the search gives it
more replications). Improvements between two candidates are paired by replication: paired
t, or Newcombe's interval of the pooled shares, as ``compare`` gives them.

Kept apart from the search so that it can be mutation-tested on its own
(docs/explanation/statistics.md, "Mutation testing").
"""

from __future__ import annotations

import math
from typing import Protocol

import pandas as pd
from scipy import stats

from simbatch.experiments.intervals import (
    POOLED,
    paired_share_difference,
    wilson,
    wilson_bound,
)
from simbatch.planning.targets import Target

__all__ = ["Judge", "Judged"]


class Judged(Protocol):
    """What the judge reads of a candidate (its metric rows) and writes on it."""

    judged: dict[str, tuple[float, ...]]
    verdicts: dict[str, str]
    verdict: str

    def frame(self) -> pd.DataFrame: ...


class Judge:
    """Judges candidates on the targets at the confidence, from their replications' rows."""

    def __init__(self, targets: list[Target], confidence: float) -> None:
        self.targets, self.confidence = targets, confidence
        self.columns: list[str] | None = None
        """The targets' metric columns in the rows, known once a first candidate is judged."""

    def values(self, c: Judged, column: str, key: str) -> pd.Series:
        """A metric's value for ``key`` in each replication (NaN where one lacks it)."""
        frame = c.frame()
        mine = frame[(frame.metric == column) & (frame.key == key)]
        return mine.set_index("replication")["value"].reindex(
            sorted(frame.replication.unique()))

    def judge(self, c: Judged) -> None:
        """Set each target's figures and verdict on ``c``, and its overall verdict."""
        if self.columns is None:
            frame = c.frame()
            produced = set(zip(frame.metric, frame.key, strict=True))
            self.columns = [t.column(produced) for t in self.targets]
        verdicts = []
        for target, column in zip(self.targets, self.columns, strict=True):
            if column in POOLED:
                n, mean, low, high, bound, other = self._pooled(c, column, target)
            else:
                n, mean, low, high, bound, other = self._t_bounds(c, column, target)
            if n and target.within(bound):
                verdict = "met"
            elif n and not math.isnan(other) and not target.within(other):
                verdict = "failed"
            else:
                verdict = "close"
            verdicts.append(verdict)
            c.judged[target.label] = (n, mean, low, high, bound, verdict == "met")
            c.verdicts[target.label] = verdict
        c.verdict = ("met" if all(v == "met" for v in verdicts) else
                     "failed" if "failed" in verdicts else "close")

    def _t_bounds(self, c: Judged, column: str, target: Target
                  ) -> tuple[int, float, float, float, float, float]:
        """A mean over replications: n, mean, two-sided t interval, the one-sided t bound
        on the target's side and on the other side (infinite below 2 replications)."""
        values = self.values(c, column, target.key).dropna().to_numpy()
        n = len(values)
        mean = float(values.mean()) if n else math.nan
        if n >= 2:
            se = float(values.std(ddof=1)) / math.sqrt(n)
            one = float(stats.t.ppf(self.confidence, n - 1)) * se
            two = float(stats.t.ppf((1 + self.confidence) / 2, n - 1)) * se
        else:
            one = two = math.inf
        bound = mean + one if target.upper else mean - one
        other = math.nan if n < 2 else (mean - one if target.upper else mean + one)
        return n, mean, mean - two, mean + two, bound, other

    def _pooled(self, c: Judged, column: str, target: Target
                ) -> tuple[int, float, float, float, float, float]:
        """A share of runs pooled over replications: runs judged, the share, its two-sided
        Wilson interval, and the one-sided Wilson bounds on the target's side and the other."""
        counted, judged = POOLED[column]
        misses = float(self.values(c, counted, target.key).sum())
        runs = float(self.values(c, judged, target.key).sum())
        if runs <= 0:
            return 0, math.nan, math.nan, math.nan, math.nan, math.nan
        low, high = wilson(misses, runs, self.confidence)
        bound = wilson_bound(misses, runs, self.confidence, target.upper)
        other = wilson_bound(misses, runs, self.confidence, not target.upper)
        return int(runs), misses / runs, low, high, bound, other

    def gap(self, c: Judged) -> float:
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

    def paired(self, a: Judged, b: Judged, column: str, target: Target,
                confidence: float | None = None) -> tuple[float, float, float] | None:
        """The improvement from ``a`` to ``b`` on a target, paired: mean, upper, lower bound.

        One-sided bounds at the confidence: paired t over the replications, or for a share
        of runs, Newcombe's interval of the pooled shares, as ``compare`` gives it.
        """
        level = confidence or self.confidence
        if column in POOLED:
            counted, judged = POOLED[column]
            counts = pd.concat([self.values(c, m, target.key) for c in (a, b)
                                for m in (counted, judged)], axis=1, join="inner").dropna()
            if len(counts) < 2:
                return None
            m = counts.to_numpy()
            d, low, high = paired_share_difference(m[:, 0], m[:, 1], m[:, 2], m[:, 3],
                                                   2 * level - 1)
            if math.isnan(d):
                return None
            # d is b - a; for a target from above, the improvement is a - b
            return (-d, -low, -high) if target.upper else (d, high, low)
        x = self.values(a, column, target.key)
        y = self.values(b, column, target.key)
        both = pd.concat([x, y], axis=1, join="inner").dropna().to_numpy()
        if len(both) < 2:
            return None
        better = (both[:, 0] - both[:, 1]) if target.upper else (both[:, 1] - both[:, 0])
        mean = float(better.mean())
        se = float(better.std(ddof=1)) / math.sqrt(len(better))
        t = float(stats.t.ppf(level, len(better) - 1))
        return mean, mean + t * se, mean - t * se
