"""Database contention in a history: do durations grow with concurrency, and at what capacity?

The model (docs/explanation/database.md): every executing task has load 1, and while more
than ``C`` run, each progresses at speed ``C / n``. So a task's work is the integral of
``min(1, C / n(t))`` over its run, where ``n(t)`` is the number of tasks executing; for the
right ``C``, the work of one task class no longer depends on what else ran.

1. **Test.** Per task class (job and task) with at least ``FEW`` single-attempt runs, each
   run's log duration and its average concurrency over the run (``n`` averaged over
   ``[start, end]``, itself included) are centred on the class's means. Spearman's rank
   correlation of the pooled centred values is tested one-sided (durations grow with
   concurrency) at ``ALPHA``. Classes whose runs never overlap another task add nothing.
2. **Fit.** When significant, ``C`` is the value on a grid (``GRID`` steps from 1 to the
   highest concurrency seen) that minimises the within-class variance of the log work
   ``log ∫ min(1, C / n(t)) dt``; a best value at the top of the grid means no capacity
   explains the growth, and nothing is written.

The loads of classes are not fitted (every task counts 1): that needs far more data than
a history of a few weeks holds about any one class.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from simbatch.history.calibration.document import flow_map
from simbatch.history.calibration.durations import FEW
from simbatch.history.read import History

__all__ = ["ALPHA", "FIT_ROWS", "GRID", "Contention", "database_section", "fit_contention"]

ALPHA = 0.001
"""One-sided level of the Spearman test (many rows make small effects significant; the
fit must then also find a capacity below the highest concurrency)."""
GRID = 400
"""Capacities tried between 1 and the highest concurrency seen."""
FIT_ROWS = 20_000
"""At most this many runs (a seeded random subset) are used to fit ``C``."""


class Contention:
    """The verdict on one history: the capacity fitted (or None) and its evidence in words."""

    def __init__(self, capacity: float | None, evidence: str) -> None:
        self.capacity = capacity
        self.evidence = evidence

    def without_contention(self, history: History) -> History:
        """``history`` with each task run's end moved to its start plus its work: what it
        would have lasted alone, so that durations fitted from it are not stretched twice
        (once in the history, once by the simulated database). Unchanged without a capacity.
        """
        if self.capacity is None:
            return history
        tasks = history.tasks
        timed = (tasks.start.notna() & tasks.end.notna() & (tasks.end > tasks.start)).to_numpy()
        origin = tasks.start[timed].min()
        start = (tasks.start[timed] - origin).dt.total_seconds().to_numpy(float)
        end = (tasks.end[timed] - origin).dt.total_seconds().to_numpy(float)
        times, counts = _concurrency(start, end)
        work = _integral(times, np.minimum(1.0, self.capacity / np.maximum(counts, 1.0)),
                         start, end)
        ends = tasks.end.copy()
        ends[timed] = tasks.start[timed] + pd.to_timedelta(np.round(work), unit="s")
        return replace(history, tasks=tasks.assign(end=ends))


def _concurrency(starts: np.ndarray, ends: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The number executing as steps: change instants (s) and the count from each on."""
    times = np.r_[starts, ends]
    steps = np.r_[np.ones(len(starts)), -np.ones(len(ends))]
    order = np.lexsort((steps, times))  # at one instant, ends before starts
    times, counts = times[order], np.cumsum(steps[order])
    last = np.r_[times[1:] != times[:-1], True]
    return times[last], counts[last]


def _integral(times: np.ndarray, rate: np.ndarray, a: np.ndarray, b: np.ndarray
              ) -> np.ndarray:
    """The integral over [a, b] of the step function ``rate`` (from each of ``times`` on)."""
    area = np.r_[0.0, np.cumsum(rate[:-1] * np.diff(times))]

    def upto(t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(times, t, side="right") - 1
        out: np.ndarray = area[i] + rate[i] * (t - times[i])
        return out

    result: np.ndarray = upto(b) - upto(a)
    return result


def fit_contention(history: History, seed: int = 0) -> Contention:
    """Whether the history's durations grow with concurrency, and the capacity that explains it.

    ``capacity`` is None when the test finds no contention, or there is nothing to test
    (no class with ``FEW`` runs that overlap others); ``evidence`` says which, with the
    test's statistic.
    """
    from scipy import stats

    tasks = history.tasks
    timed = tasks[tasks.start.notna() & tasks.end.notna() & (tasks.end > tasks.start)]
    if timed.empty:
        return Contention(None, "")
    origin = timed.start.min()
    start = (timed.start - origin).dt.total_seconds().to_numpy(float)
    end = (timed.end - origin).dt.total_seconds().to_numpy(float)
    times, counts = _concurrency(start, end)
    average = _integral(times, counts, start, end) / (end - start)
    single = timed.status.isin(["Ended", "Error"]).to_numpy() & (
        timed.retries.fillna(0).to_numpy() == 0)
    keys = (timed.job.astype(str) + "\x00" + timed.task.astype(str)).to_numpy()
    frame = pd.DataFrame({"key": keys, "log": np.log(end - start), "avg": average,
                          "start": start, "end": end})[single]
    sizes = frame.groupby("key").key.transform("size")
    varied = frame.groupby("key").avg.transform(lambda a: a.max() - a.min() > 1e-9)
    frame = frame[(sizes >= FEW) & varied]
    if frame.empty:
        return Contention(None, "")
    centred_log = frame.log - frame.groupby("key").log.transform("mean")
    centred_avg = frame.avg - frame.groupby("key").avg.transform("mean")
    if np.ptp(centred_log.to_numpy()) == 0:  # every run of every class equally long
        return Contention(None, "no contention evident in this history (every run of each"
                                " task class took the same time, whatever ran beside it)")
    test = stats.spearmanr(centred_log, centred_avg, alternative="greater")
    rho, p = float(test.statistic), float(test.pvalue)
    said = (f"Spearman's rho of duration against average concurrency over the run, within"
            f" {frame.key.nunique():,} task classes ({len(frame):,} runs): {rho:.3f},"
            f" one-sided p = {p:.2g}")
    if not p < ALPHA:
        return Contention(None, f"no contention evident in this history ({said}; alpha"
                                f" {ALPHA:g})")
    if len(frame) > FIT_ROWS:
        frame = frame.sample(FIT_ROWS, random_state=seed)
    top = float(counts.max())
    grid = np.linspace(1.0, top, GRID)
    codes = pd.factorize(frame.key)[0]
    a, b = frame.start.to_numpy(), frame.end.to_numpy()
    spread = []
    for c in grid:
        work = np.log(_integral(times, np.minimum(1.0, c / np.maximum(counts, 1.0)), a, b))
        means = np.bincount(codes, work) / np.bincount(codes)
        spread.append(float(((work - means[codes]) ** 2).sum()))
    best = int(np.argmin(spread))
    if best == len(grid) - 1:
        return Contention(None, f"durations grow with concurrency ({said}), but no capacity"
                                f" up to the highest concurrency seen ({top:g}) explains it")
    capacity = round(float(grid[best]), 1)
    share = 1 - spread[best] / spread[-1]
    return Contention(capacity, f"{said}; capacity {capacity:g} (of 1 to {top:g} tried)"
                                f" cuts the variance of log work within classes by"
                                f" {share:.0%}; task durations below are their work, with"
                                " this contention taken out")


def database_section(history: History, notes: list[str]
                     ) -> tuple[History, tuple[Any, str] | None]:
    """For ``calibrate``: the history to fit durations from, and the ``database:`` value
    with its evidence comment when contention is evident (else the verdict joins
    ``notes``, the header's list of what the history could not show)."""
    contention = fit_contention(history)
    if contention.capacity is None:
        if contention.evidence:
            notes.append(contention.evidence)
        return history, None
    return (contention.without_contention(history),
            (flow_map({"capacity": contention.capacity}), contention.evidence))
