"""Local-time calendars: recurrence slots, daily windows and arrival-rate profiles.

Everything here turns local-time rules into instants on the engine's clock (nanoseconds
after the scenario start), day by day with zoneinfo, so that daylight-saving changes
fall where they fall in the users' time zones. Recurrence patterns on days, weeks,
months and years use dateutil's ``rrule`` (RFC 5545, the model of the F&O recurrence
dialog); cron expressions use ``cronsim``; minutes and hours are elapsed time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from cronsim import CronSim
from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, weekday

from simbatch.scenario.timegrammar import NS, epoch_ns

__all__ = ["DAY", "Profile", "Recurrence", "Slots", "Window", "Windows"]

DAY = 86_400


@dataclass(frozen=True)
class Window:
    """A daily span of local time ``[start, end)`` in seconds of the day, on some weekdays.

    ``end <= start`` crosses midnight; ``days`` are the weekdays (0 = Monday) on which the
    span opens.
    """

    start: int
    end: int
    days: tuple[int, ...] = tuple(range(7))

    def spans(self, origin: dt.datetime, horizon: int, zone: ZoneInfo) -> list[tuple[int, int]]:
        """The window's occurrences as ``(open, close)`` ns after ``origin``, over the horizon."""
        base = epoch_ns(origin)
        first = origin.astimezone(zone).date() - dt.timedelta(days=1)
        out = []
        for d in range(math.ceil(horizon / NS / DAY) + 3):
            day = first + dt.timedelta(days=d)
            if day.weekday() not in self.days:
                continue
            length = (self.end - self.start) % DAY or DAY
            opens = _local(day, self.start, zone)
            closes = _local(day + dt.timedelta(days=(self.start + length) // DAY),
                            (self.start + length) % DAY, zone)
            begin, end = epoch_ns(opens) - base, epoch_ns(closes) - base
            if end > 0 and begin < horizon:
                out.append((begin, end))
        return out


def _local(day: dt.date, second: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, second // 3600, second // 60 % 60,
                       second % 60, tzinfo=zone)


class Windows:
    """When a job may start: the union of its daily windows over the horizon."""

    def __init__(self, windows: tuple[Window, ...], origin: dt.datetime, horizon: int,
                 zone: ZoneInfo) -> None:
        spans = sorted(s for w in windows for s in w.spans(origin, horizon, zone))
        merged: list[list[int]] = []
        for begin, end in spans:
            if merged and begin <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([begin, end])
        self.opens = [b for b, _ in merged]
        self.closes = [e for _, e in merged]



@dataclass(frozen=True)
class Profile:
    """An arrival rate (per second) outside any window, and per-window rates."""

    rate: float
    windows: tuple[tuple[Window, float], ...] = ()

    def segments(self, origin: dt.datetime, horizon: int,
                 zone: ZoneInfo) -> tuple[np.ndarray, np.ndarray]:
        """Change points (ns after ``origin``) and the rate from each, over the horizon."""
        points = {0}
        marks: list[tuple[int, int, float]] = []
        for window, rate in self.windows:
            for begin, end in window.spans(origin, horizon, zone):
                marks.append((max(begin, 0), min(end, horizon), rate))
                points.update((max(begin, 0), min(end, horizon)))
        times = np.array(sorted(p for p in points if p < horizon), dtype=np.int64)
        rates = np.full(len(times), self.rate)
        for begin, end, rate in marks:  # windows listed later win where they overlap
            rates[(times >= begin) & (times < end)] = rate
        return times, rates


@dataclass(frozen=True)
class Recurrence:
    """A job's recurrence, shaped like the F&O recurrence dialog (or a cron expression).

    ``unit`` is one of m, h, d, w, mo, y with ``every`` of them; weekly patterns may name
    ``weekdays``, monthly and yearly ones a ``day`` (-1 = last) and yearly a ``month``.
    ``anchor`` "slot" starts the next run at the first slot after the last run ended;
    "end" starts it one interval after that end (the drifting variant).
    """

    unit: str | None = None
    every: int = 1
    cron: str | None = None
    weekdays: tuple[int, ...] = ()
    day: int | None = None
    month: int | None = None
    count: int | None = None
    until: dt.datetime | None = None
    anchor: str = "slot"

    def step(self) -> relativedelta | dt.timedelta:
        """One interval of an ``every`` pattern."""
        n = self.every
        if self.unit == "mo":
            return relativedelta(months=n)
        if self.unit == "y":
            return relativedelta(years=n)
        seconds = {"m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}[self.unit or "d"]
        return dt.timedelta(seconds=seconds * n)


class Slots:
    """The slots of one job's recurrence, walked forward as the simulation advances."""

    def __init__(self, recurrence: Recurrence, start: dt.datetime, origin: dt.datetime,
                 horizon: int) -> None:
        self.recurrence = recurrence
        self.base = epoch_ns(origin)
        self.start = start
        self.horizon = horizon
        self.until = (epoch_ns(recurrence.until) - self.base if recurrence.until is not None
                      else horizon)
        self._iter = self._instants()
        self._next: int | None = next(self._iter, None)

    def _instants(self) -> Iterator[int]:
        r = self.recurrence
        start = self.start
        if r.cron is not None:
            for moment in CronSim(r.cron, start - dt.timedelta(seconds=1)):
                yield epoch_ns(moment) - self.base
        elif r.unit in ("m", "h"):
            first = epoch_ns(start) - self.base
            step = r.every * (60 if r.unit == "m" else 3600) * NS
            k = 0
            while True:
                yield first + k * step
                k += 1
        else:
            freqs: dict[str, Literal[0, 1, 2, 3]] = {"y": YEARLY, "mo": MONTHLY, "w": WEEKLY,
                                                     "d": DAILY}
            unit = r.unit or "d"
            monthday: int | list[int] | None = None
            setpos = None
            month = r.month
            if unit in ("mo", "y"):
                day = r.day if r.day is not None else start.day
                if unit == "y" and month is None:
                    month = start.month  # a yearly day is in the start's month
                if day > 28:  # the day, or the month's last day when it is shorter
                    monthday, setpos = list(range(28, day + 1)), -1
                else:
                    monthday = day
            rule = rrule(freqs[unit], dtstart=start, interval=r.every,
                         byweekday=[weekday(d) for d in r.weekdays] or None,
                         bymonthday=monthday, bymonth=month, bysetpos=setpos)
            for moment in rule:
                yield epoch_ns(moment) - self.base

    def first(self, inside: Callable[[int], bool] | None = None) -> int | None:
        """The first slot (inside the windows, if given) before the horizon and the range."""
        return self.at_or_after(-(2**62), inside)[0]

    def at_or_after(self, t: int, inside: Callable[[int], bool] | None = None
                    ) -> tuple[int | None, int]:
        """The first slot at or after ``t``, and how many slots it passes over.

        With ``inside``, a slot outside the active windows is no slot at all: it is neither
        taken nor counted as passed over.
        """
        passed = 0
        while self._next is not None and self._next <= self.until and self._next < self.horizon:
            slot = self._next
            self._next = next(self._iter, None)
            if inside is not None and not inside(slot):
                continue
            if slot >= t:
                return slot, passed
            passed += 1
        return None, passed
