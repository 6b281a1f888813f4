"""When a job's runs are due (a start, arrivals, recurrence slots) and when they may start.

Everything here reads a job's compiled ``ScheduleSpec`` (integer ns after the scenario
start): the local-time rules were turned into instants by ``simbatch.engine.compile``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from bisect import bisect_right

import numpy as np
from dateutil.relativedelta import relativedelta

from simbatch.engine.compile import ArrivalSpec, CalendarStep, RecurrenceSpec, ScheduleSpec
from simbatch.engine.randomness import generator
from simbatch.scenario.timegrammar import NS

__all__ = ["ActiveWindows", "Schedule", "SlotWalk", "draw_arrivals"]


class ActiveWindows:
    """When a job may start: the union of its daily windows, as sorted (open, close) spans."""

    def __init__(self, opens: tuple[int, ...], closes: tuple[int, ...]) -> None:
        self.opens = opens
        self.closes = closes

    def inside(self, t: int) -> bool:
        """Whether instant ``t`` falls inside a window."""
        return self.next_open(t) == t

    def next_open(self, t: int) -> int | None:
        """The first instant at or after ``t`` inside a window, or None if none comes."""
        i = bisect_right(self.closes, t)
        if i == len(self.opens):
            return None
        return max(t, self.opens[i])


_EPOCH = dt.datetime(1970, 1, 1)
_US = 1_000_000
_REACH = 2 * 86_400 * NS
"""Farther than any UTC offset: an instant and its wall time are closer than this."""


def _offset(step: CalendarStep, instant: int) -> int:
    """The UTC offset (ns) at an instant (ns since the epoch)."""
    return step.offsets[bisect_right(step.transitions, instant) - 1]


def _calendar_due(step: CalendarStep, end: int) -> int:
    """One step of the local calendar after instant ``end`` (ns after the start).

    A day keeps its wall time; a month or a year keeps the day, or takes the month's
    last. As ``datetime`` and zoneinfo do it: ``end`` is read to the microsecond (rounded
    as ``datetime.fromtimestamp`` rounds it), a wall time that does not exist is the
    instant the clocks jump, and a repeated one is its first occurrence.
    """
    frac, whole = math.modf((step.base + end) / NS)
    instant = (int(whole) * _US + round(frac * _US)) * 1000
    wall = instant + _offset(step, instant)
    if step.years or step.months:
        moved = (_EPOCH + dt.timedelta(microseconds=wall // 1000)
                 + relativedelta(years=step.years, months=step.months))
        wall = (moved - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    else:
        wall += step.seconds * NS
    transitions, offsets = step.transitions, step.offsets
    found: int | None = None
    for k in range(max(bisect_right(transitions, wall - _REACH) - 1, 0), len(transitions)):
        if transitions[k] > wall + _REACH:
            break
        candidate = wall - offsets[k]
        if _offset(step, candidate) == offsets[k]:
            found = candidate if found is None else min(found, candidate)
    if found is None:  # in a jump forward: the instant of the jump
        k = next(k for k in range(1, len(transitions))
                 if transitions[k] + offsets[k - 1] <= wall < transitions[k] + offsets[k])
        found = transitions[k]
    return found - step.base


class SlotWalk:
    """The slots of one job's recurrence, walked forward as the simulation advances."""

    def __init__(self, spec: RecurrenceSpec, horizon: int) -> None:
        self.spec = spec
        self.horizon = horizon
        self.k = 0  # the index of the next slot

    def _peek(self) -> int | None:
        """The next slot not yet walked past, or None when the range or horizon is over."""
        spec = self.spec
        if spec.slots is not None:
            return spec.slots[self.k] if self.k < len(spec.slots) else None
        assert spec.grid is not None
        first, step = spec.grid
        slot = first + self.k * step
        return slot if slot <= spec.until and slot < self.horizon else None

    def first(self, windows: ActiveWindows | None) -> int | None:
        """The first slot (inside the windows, if given) before the horizon and the range."""
        return self.at_or_after(-(2**62), windows)[0]

    def at_or_after(self, t: int, windows: ActiveWindows | None) -> tuple[int | None, int]:
        """The first slot at or after ``t``, and how many slots it passes over.

        With ``windows``, a slot outside the active windows is no slot at all: it is
        neither taken nor counted as passed over.
        """
        passed = 0
        while (slot := self._peek()) is not None:
            self.k += 1
            if windows is not None and not windows.inside(slot):
                continue
            if slot >= t:
                return slot, passed
            passed += 1
        return None, passed

    def after_end(self, end: int, windows: ActiveWindows | None) -> tuple[int | None, int]:
        """When the next run is due after a run that ended at ``end``, and slots skipped."""
        spec = self.spec
        if spec.anchor_end:
            if spec.elapsed is not None:  # minutes and hours: elapsed time
                due = end + spec.elapsed
            else:  # days and longer on the local calendar
                assert spec.calendar is not None
                due = _calendar_due(spec.calendar, end)
            if due >= self.horizon or due > spec.until:
                return None, 0
            return due, 0
        return self.at_or_after(end, windows)


def draw_arrivals(rng: np.random.Generator, horizon: int, spec: ArrivalSpec) -> np.ndarray:
    """All arrival instants in ``[first, horizon)``: a renewal stream or a Poisson profile.

    With an ``interval`` the gaps are sampled (the first arrival comes one gap after
    ``first``); with a profile the rate per second is piecewise constant and arrivals are
    sampled by inverting the cumulative rate, so the same unit draws give the same
    arrivals whatever else changes in the scenario.
    """
    chunk = 4096
    first = spec.first
    interval = spec.interval
    if interval is not None:
        out: list[np.ndarray] = []
        t = first
        while t < horizon:
            gaps = np.rint(np.minimum(interval.sample(rng, chunk), horizon / NS) * NS)
            if t + float(gaps.sum()) < 2.0**62:
                times = t + np.cumsum(gaps.astype(np.int64))
            else:  # gaps this long could overflow int64 when summed: stop past the horizon
                kept = list(itertools.takewhile(lambda x: x < horizon, itertools.accumulate(
                    (int(g) for g in gaps), initial=t)))[1:]
                times = np.array([*kept, horizon], dtype=np.int64)
            out.append(times)
            t = int(times[-1])
        allt = np.concatenate(out) if out else np.zeros(0, np.int64)
        return allt[allt < horizon]
    assert spec.profile_times is not None and spec.profile_rates is not None
    rates = np.array(spec.profile_rates, dtype=np.float64)
    bounds = np.append(np.array(spec.profile_times, dtype=np.int64), horizon).astype(np.float64)
    widths = np.diff(bounds) / NS
    cumulative = np.concatenate([[0.0], np.cumsum(rates * widths)])
    start_mass = float(np.interp(first, bounds, cumulative))
    total = cumulative[-1]
    masses: list[np.ndarray] = []
    mass = start_mass
    while mass < total:
        block = mass + np.cumsum(rng.exponential(1.0, chunk))
        masses.append(block)
        mass = float(block[-1])
    if not masses:
        return np.zeros(0, np.int64)
    wanted = np.concatenate(masses)
    wanted = wanted[wanted < total]
    seg = np.clip(np.searchsorted(cumulative, wanted, side="right") - 1, 0, len(rates) - 1)
    within = (wanted - cumulative[seg]) / np.where(rates[seg] > 0, rates[seg], np.inf)
    result: np.ndarray = np.floor(bounds[seg] + within * NS).astype(np.int64)
    return result


class Schedule:
    """One job's due times on the engine's clock (ns after the scenario start).

    Arrivals are drawn once for the whole horizon from the job's own stream; recurrence
    slots are walked forward as runs end, because the next run depends on when the last
    one finished.
    """

    def __init__(self, name: str, spec: ScheduleSpec, horizon: int, seed: int) -> None:
        self.spec = spec
        self.start = spec.start
        self.batch = spec.batch
        self.windows = (None if spec.opens is None or spec.closes is None
                        else ActiveWindows(spec.opens, spec.closes))
        self.arrivals: np.ndarray | None = None
        self.slots: SlotWalk | None = None
        if spec.arrivals is not None:
            self.arrivals = draw_arrivals(generator(seed, "arrivals", name), horizon,
                                          spec.arrivals)
        elif spec.recurrence is not None:
            self.slots = SlotWalk(spec.recurrence, horizon)

    def first(self) -> int | None:
        """When the first run is due (arrival streams are handled by the model)."""
        if self.slots is not None:
            return self.slots.first(self.windows)
        return self.start

    def after_run(self, runs: int, end: int) -> tuple[int | None, int]:
        """For a recurring job whose run ``runs`` ended at ``end``: next due time, slots skipped."""
        if self.slots is None:
            return None, 0
        count = self.slots.spec.count
        if count is not None and runs >= count:
            return None, 0
        # recurrence applies only inside the active windows: a slot outside is no slot
        return self.slots.after_end(end, self.windows)
