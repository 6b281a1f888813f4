"""The documented range of every scenario value, and the checks that the clock holds them.

The engine counts whole nanoseconds in 64 bits, and the results tables hold instants as
nanosecond timestamps, which end in April 2262. So every time a scenario writes, every
value its samplers can draw and every instant derived from them must fit; a scenario
that could leave that range is refused while loading, never part-way through a run.

The ranges (also listed in docs/explanation/validation-and-limits.md):

============================  ========================================================
value                          range
============================  ========================================================
any time (durations, polling,  0 to 100 years (``MAX_TIME``); horizon above 0
poll_offset, deadlines,
distribution parameters)
dates (start, until)           years 1970 to 2200; start + horizon (+ deadline) before
                               2262-01-01 (``LAST_INSTANT``)
threads                        0 to 1000 per server and period (``MAX_THREADS``)
max_concurrency                -1 to 100,000
fail                           0 to 1
retries                        0 to 5
arrival rates                  0 to 1000 per second (``MAX_RATE``)
batch                          1 to 10,000 (``MAX_BATCH``)
runtime tasks                  0 to 10,000 (``MAX_RUNTIME_TASKS``)
recurrence every               one step of at most 100 years; count 1 to 1,000,000
day, month                     1 to 31 (or last), 1 to 12
============================  ========================================================
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from simbatch.errors import SimulationError, excerpt
from simbatch.scenario.timegrammar import MAX_TIME, NS, Distribution

__all__ = ["LAST_INSTANT", "MAX_BATCH", "MAX_COUNT", "MAX_RATE", "MAX_RUNTIME_TASKS",
           "MAX_THREADS", "MAX_TIME", "check_distribution", "check_every", "check_rate",
           "last_instant_ns"]

LAST_INSTANT = dt.datetime(2262, 1, 1, tzinfo=dt.UTC)
"""No instant of a run (its horizon, a deadline) may lie at or after this one."""
MAX_THREADS = 1000
"""Threads of a server or period (on-premises): far above any real AOS, low enough to catch
a slipped digit. The cloud's own limit is ``spec.CLOUD_MAX_THREADS``."""
MAX_RATE = 1000.0
"""Arrivals per second: 3.6 million an hour, beyond any F&O tenant."""
MAX_BATCH = 10_000
"""Runs created by one arrival."""
MAX_RUNTIME_TASKS = 10_000
"""Runtime tasks one task may add (a bundle of work items)."""
MAX_COUNT = 1_000_000
"""Runs a recurrence's ``count`` may ask for."""

_UNIT_NS = {"m": 60 * NS, "h": 3600 * NS, "d": 86_400 * NS, "w": 7 * 86_400 * NS,
            "mo": 31 * 86_400 * NS, "y": 366 * 86_400 * NS}


def last_instant_ns() -> int:
    """``LAST_INSTANT`` as nanoseconds since the Unix epoch."""
    return int(LAST_INSTANT.timestamp()) * NS


def check_every(every: int, unit: str) -> None:
    """Refuse a recurrence step longer than ``MAX_TIME`` (``ValueError``, quoting it)."""
    if every * _UNIT_NS[unit] > MAX_TIME:
        raise ValueError(f"recurrence step {every}{unit} is longer than 100 years")


def check_rate(rate: float, written: object) -> None:
    """Refuse an arrival rate above ``MAX_RATE`` per second (``ValueError``, quoting it)."""
    if not math.isfinite(rate) or rate > MAX_RATE:
        raise ValueError(f"rate {excerpt(written)} is more than {MAX_RATE:g} arrivals a second")


def check_distribution(dist: Distribution) -> None:
    """Refuse a distribution whose parameters or samples leave the clock's range.

    A scenario's parameters are bounded by ``MAX_TIME`` (samples beyond it are capped, which
    changes no result since they end past any horizon); this guard catches, for any
    ``Distribution``, derived parameters that overflow (a lognormal or gamma with an extreme
    sd-to-mean ratio) or samples that are not finite, by computing the mean and drawing a
    few samples from a fixed stream. The ``ValueError`` names the distribution as written.
    """
    try:
        mean = dist.mean
        if dist.kind in ("lognormal", "gamma") and dist.params[1] > 0:
            ratio = dist.params[1] / dist.params[0]
            if not math.isfinite(math.log1p(ratio * ratio)):
                raise OverflowError
        with np.errstate(all="ignore"):
            samples = dist.sample(np.random.default_rng(0), 64)
    except (ArithmeticError, ValueError, SimulationError) as exc:
        raise ValueError(f"{dist.describe()} could overflow the clock: its parameters are"
                         " too extreme for its samples to be computed") from exc
    if not math.isfinite(mean) or mean * NS > MAX_TIME or not np.isfinite(samples).all():
        raise ValueError(f"{dist.describe()} could overflow the clock: its samples are not"
                         " all finite times of at most 100 years")
