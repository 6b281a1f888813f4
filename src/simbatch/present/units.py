"""One style of units for everything a person reads.

- Durations are written ``h:mm:ss``, with days where needed (``2d 3:04:05``) and a
  leading minus when negative; a missing value is ``-``.
- Utilization and shares are written as percent (``37.5%``).
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

__all__ = ["LABELS", "clock", "estimate", "label", "percent", "value"]


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

    Takes a timedelta or a number of seconds; rounds to the whole second. Missing values
    (NaT, NaN, None) are ``-``.
    """
    seconds = _seconds(value)
    if seconds is None:
        return "-"
    whole = round(seconds)
    sign = "-" if whole < 0 else ""
    days, rest = divmod(abs(whole), 86_400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{sign}{days}d {text}" if days else f"{sign}{text}"


def percent(value: Any, digits: int = 1) -> str:
    """A fraction as percent (``0.375`` is ``37.5%``); missing values are ``-``."""
    if value is None or pd.isna(value):
        return "-"
    return f"{float(value) * 100:.{digits}f}%"


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


def value(metric: str, number: Any) -> str:
    """One metric value in the house style: h:mm:ss for ``_s``, percent for shares."""
    if number is None or pd.isna(number):
        return "-"
    if metric.endswith("_s"):
        return clock(float(number))
    if metric in PERCENT_METRICS:
        return percent(number)
    number = float(number)
    return f"{number:,.0f}" if number == round(number) else f"{number:,.2f}"


def estimate(metric: str, mean: Any, low: Any, high: Any) -> str:
    """A mean and its interval in the house style: ``0:01:02 [0:00:50, 0:01:14]``."""
    shown = value(metric, mean)
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return shown
    return f"{shown} [{value(metric, low)}, {value(metric, high)}]"
