"""One style of units for everything a person reads.

- Durations are written ``h:mm:ss``, with days where needed (``2d 3:04:05``, never
  ``51:04:05``) and a leading minus when negative (``-0:16:14``); a missing value is ``-``.
- Utilization and shares are written as percent (``37.5%``; a relative error with its
  sign, ``+12.5%``).
- Counts are whole numbers with thousands separators (``6,921``); a mean of counts over
  replications keeps two decimals (``3.50``).
- Machine columns (CSV files, metric rows) stay in seconds, with names ending ``_s``.

The CLI, the report and the plots all format through these functions, so the same number
looks the same wherever it is read.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LABELS", "PERCENT_METRICS", "TIME_METRICS", "clock", "count", "estimate", "interval",
           "label", "percent", "unit", "value"]


def _seconds(value: Any) -> float | None:
    """A duration (timedelta, or a number of seconds) as float seconds; None if missing."""
    if isinstance(value, pd.Timedelta | dt.timedelta | np.timedelta64):
        span: Any = pd.Timedelta(value)  # NaT when missing
        return None if pd.isna(span) else float(span.total_seconds())
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def clock(value: Any) -> str:
    """A duration as ``h:mm:ss`` (``2d 3:04:05`` from a day on; ``-0:05:00`` when negative).

    Takes a timedelta or a number of seconds; rounds to the whole second, halves away from
    zero (``59.5`` is ``0:01:00``). Missing values (NaT, NaN, None) are ``-``.
    """
    seconds = _seconds(value)
    if seconds is None:
        return "-"
    whole = math.floor(abs(seconds) + 0.5)
    sign = "-" if seconds < 0 and whole else ""
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{sign}{days}d {text}" if days else f"{sign}{text}"


def _missing(value: Any) -> bool:
    """Whether a value is missing: None, NaN, NaT or an infinity."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value)) or not math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def percent(value: Any, digits: int = 1, *, signed: bool = False) -> str:
    """A fraction as percent (``0.375`` is ``37.5%``); missing values are ``-``.

    ``signed`` writes the sign of a change or an error (``+12.5%``, ``-3.0%``).
    """
    if _missing(value):
        return "-"
    return f"{float(value) * 100:{'+' if signed else ''}.{digits}f}%"


def count(value: Any) -> str:
    """A count as a whole number with thousands separators (``6,921``); missing is ``-``.

    Rounds halves away from zero, as ``clock`` does.
    """
    if _missing(value):
        return "-"
    number = float(value)
    return f"{int(math.copysign(math.floor(abs(number) + 0.5), number)):,d}"


PERCENT_METRICS = frozenset({"utilization", "deadline_miss"})
"""Metrics that are fractions in [0, 1] and read as percent."""

LABELS = {
    "tasks_started": "attempts started",
    "wait_mean_s": "wait, mean",
    "wait_p95_s": "wait, p95",
    "utilization": "utilization",
    "jobs_ended": "runs ended",
    "jobs_error": "runs in Error",
    "job_duration_mean_s": "run duration, mean",
    "backlog_at_horizon": "waiting at the horizon",
    "deadline_runs": "deadline runs judged",
    "deadline_misses": "deadline misses",
    "deadline_miss": "deadline miss share",
    "deadline_undetermined": "deadline undetermined",
    "lateness_p50_s": "lateness, p50",
    "lateness_p95_s": "lateness, p95",
    "margin_min_s": "smallest margin",
    "latest_finish_s": "latest finish after due",
}
"""How a person reads each metric's name."""


def label(metric: str) -> str:
    """The readable name of a metric (its machine name when it has none)."""
    return LABELS.get(metric, metric)


TIME_METRICS = frozenset(m.removesuffix("_s") for m in LABELS if m.endswith("_s"))
"""The time metrics by the names targets use, without their ``_s`` (``wait_p95``)."""


def unit(metric: str) -> str:
    """How a metric reads: ``time`` (h:mm:ss), ``share`` (percent) or ``number``.

    A time metric may be named with its ``_s`` (``wait_p95_s``, as ``replicate`` names it)
    or without (``wait_p95``, as a plan's target names it).
    """
    if metric.endswith("_s") or metric in TIME_METRICS:
        return "time"
    if metric in PERCENT_METRICS:
        return "share"
    return "number"


def value(metric: str, number: Any) -> str:
    """One metric value in the house style: h:mm:ss for times, percent for shares."""
    if _missing(number):
        return "-"
    kind = unit(metric)
    if kind == "time":
        return clock(float(number))
    if kind == "share":
        return percent(number)
    number = float(number)
    return count(number) if number == round(number) else f"{number:,.2f}"


def estimate(metric: str, mean: Any, low: Any, high: Any) -> str:
    """A mean and its interval in the house style: ``0:01:02 [0:00:50, 0:01:14]``."""
    shown = value(metric, mean)
    if _missing(low) or _missing(high):
        return shown
    return f"{shown} [{value(metric, low)}, {value(metric, high)}]"


def interval(metric: str, low: Any, high: Any) -> str:
    """An interval alone in the house style: ``[0:00:50, 0:01:14]``; ``-`` when missing."""
    if _missing(low) or _missing(high):
        return "-"
    return f"[{value(metric, low)}, {value(metric, high)}]"
