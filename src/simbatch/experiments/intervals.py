"""Intervals of experiment metrics: t intervals, Wilson scores and paired share differences.

Every metric has a range (``metric_range``): shares lie in [0, 1], a few metrics may be
negative, and every other metric is a count or a time, at least 0. Intervals are clipped
to it, so a count or a share never gets a negative bound. A share of judged runs
(``deadline_miss``) is pooled over the replications and gets a Wilson score interval; the
paired difference of two such shares gets Newcombe's hybrid score interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from simbatch.present.units import PERCENT_METRICS

__all__ = ["POOLED", "SHARES", "SIGNED", "metric_range", "paired_share_difference",
           "summarize", "t_interval", "wilson", "wilson_bound"]


def t_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """Mean, standard deviation and a t confidence interval of ``values``."""
    n = len(values)
    mean = float(np.mean(values)) if n else np.nan
    if n < 2:
        return mean, np.nan, np.nan, np.nan
    sd = float(np.std(values, ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * sd / np.sqrt(n)
    return mean, sd, mean - half, mean + half


SHARES = PERCENT_METRICS
"""Metrics that are fractions in [0, 1]: those written as percents (``present.units``)."""
SIGNED = frozenset({"lateness_p50_s", "lateness_p95_s", "margin_min_s"})
"""Metrics that may be negative; every other metric is a count or a time, at least 0."""
POOLED = {"deadline_miss": ("deadline_misses", "deadline_runs")}
"""Shares of runs, by the metrics that count them (misses, runs judged) per replication.

These are pooled over the replications and judged with a Wilson score interval.
``utilization`` is a share too, but of time, not of runs: it has no count to pool, and
is judged like any mean, over the replications.
"""


def metric_range(metric: str, difference: bool = False) -> tuple[float, float]:
    """The values a metric (or a difference of two of its values) can take."""
    if metric in SHARES:
        return (-1.0, 1.0) if difference else (0.0, 1.0)
    if metric in SIGNED or difference:
        return -np.inf, np.inf
    return 0.0, np.inf


def wilson(misses: float, runs: float, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``misses / runs``."""
    if runs <= 0:
        return np.nan, np.nan
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = misses / runs
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z / (1 + z * z / runs) * np.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs))
    low = 0.0 if misses <= 0 else max(0.0, float(centre - half))
    high = 1.0 if misses >= runs else min(1.0, float(centre + half))
    return low, high


def wilson_bound(misses: float, runs: float, confidence: float, upper: bool) -> float:
    """The one-sided Wilson bound of ``misses / runs`` at ``confidence``.

    The upper bound when ``upper``, else the lower: an end of the two-sided interval at
    ``2 * confidence - 1``, so each side leaves out ``1 - confidence``.
    """
    low, high = wilson(misses, runs, 2 * confidence - 1)
    return high if upper else low


def paired_share_difference(misses_a: np.ndarray, runs_a: np.ndarray, misses_b: np.ndarray,
                            runs_b: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Share b - share a of paired counts, with Newcombe's hybrid score interval.

    Each share is pooled over the replications (misses ÷ runs judged), and each gets a
    Wilson interval. They are combined by the square-and-add method with the correlation of
    the paired per-replication shares (Newcombe 1998, method 10; Zou and Donner's MOVER),
    so identical outcomes in both variants give a narrow interval around 0, and the bounds
    stay within [-1, 1].
    """
    total_a, total_b = float(runs_a.sum()), float(runs_b.sum())
    if total_a <= 0 or total_b <= 0:
        return np.nan, np.nan, np.nan
    pa, pb = misses_a.sum() / total_a, misses_b.sum() / total_b
    la, ua = wilson(float(misses_a.sum()), total_a, confidence)
    lb, ub = wilson(float(misses_b.sum()), total_b, confidence)
    both = (runs_a > 0) & (runs_b > 0)
    phi = 0.0
    if both.sum() > 1:
        xa, xb = misses_a[both] / runs_a[both], misses_b[both] / runs_b[both]
        if np.std(xa) > 0 and np.std(xb) > 0:
            phi = float(np.corrcoef(xa, xb)[0, 1])
    d = float(pb - pa)
    low = d - np.sqrt(max(0.0, (pb - lb) ** 2 - 2 * phi * (pb - lb) * (ua - pa) + (ua - pa) ** 2))
    high = d + np.sqrt(max(0.0, (ub - pb) ** 2 - 2 * phi * (ub - pb) * (pa - la)
                           + (pa - la) ** 2))
    return d, max(-1.0, low), min(1.0, high)


def summarize(rows: pd.DataFrame, by: list[str], confidence: float,
               difference: bool = False) -> pd.DataFrame:
    """Per ``by`` group: n, mean, sd and a t interval clipped to the metric's range.

    Outside differences, ``deadline_miss`` gets a Wilson interval on its counts pooled
    over the replications (``deadline_misses`` ÷ ``deadline_runs``), and its mean is that
    pooled share.
    """
    out = []
    counts = {}
    if not difference:
        pooled = rows[rows.metric.isin(POOLED["deadline_miss"])]
        others = [c for c in by if c != "metric"]
        if len(pooled):
            counts = pooled.groupby([*others, "metric"], sort=False)["value"].sum().to_dict()
    for key, group in rows.groupby(by, sort=False):
        parts = key if isinstance(key, tuple) else (key,)
        metric = str(dict(zip(by, parts, strict=True))["metric"])
        values = group["value"].dropna().to_numpy()
        mean, sd, low, high = t_interval(values, confidence)
        floor, ceiling = metric_range(metric, difference)
        low, high = (float(np.clip(low, floor, ceiling)), float(np.clip(high, floor, ceiling)))
        if metric == "deadline_miss" and not difference:
            rest = tuple(p for c, p in zip(by, parts, strict=True) if c != "metric")
            misses = counts.get((*rest, "deadline_misses"), np.nan)
            runs = counts.get((*rest, "deadline_runs"), np.nan)
            if runs > 0:
                mean = float(misses / runs)
                low, high = wilson(misses, runs, confidence)
        out.append([*parts, len(values), mean, sd, low, high])
    return pd.DataFrame(out, columns=[*by, "n", "mean", "sd", "ci_low", "ci_high"])
