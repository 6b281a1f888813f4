"""Building the calendars: the run's span, and when a job's runs are due or may start.

``horizon`` turns ``horizon:`` or ``end:`` into elapsed nanoseconds; for a job,
``recurrence`` checks a repeating schedule (``every:`` or ``cron:``), ``arrivals`` ad-hoc
work (an interval, or a rate by local time), and ``active`` its daily windows.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from simbatch.errors import excerpt
from simbatch.scenario import ranges, schema
from simbatch.scenario.build.context import Context, bounded_rate
from simbatch.scenario.calendar import DAY, Profile, Recurrence, Window
from simbatch.scenario.shape import Loc
from simbatch.scenario.spec import Arrivals
from simbatch.scenario.timegrammar import NS, epoch_ns, parse_days, parse_duration_ns, parse_every

__all__ = ["MAX_HORIZON", "active", "arrivals", "check_horizon", "horizon", "recurrence"]

MAX_HORIZON = 100 * 365 * DAY * NS


def horizon(ctx: Context, raw: schema.ScenarioIn, start: dt.datetime, zone: ZoneInfo) -> int:
    """The elapsed horizon in nanoseconds: ``horizon:``, or up to ``end:`` (local time)."""
    if raw.horizon is None and raw.end is None:
        raise ctx.fail((), "missing required key 'horizon' (elapsed time, such as 1d);"
                           " or give end: (a local date and time, such as 2026-01-19"
                           " 08:00)")
    if raw.horizon is not None and raw.end is not None:
        raise ctx.fail(("end",), "give horizon: (elapsed time) or end: (a local date and"
                                 " time), not both")
    if raw.horizon is not None:
        return ctx.parse(("horizon",), parse_duration_ns, raw.horizon)
    end = ctx.moment(("end",), raw.end, zone)
    elapsed = epoch_ns(end) - epoch_ns(start)  # true elapsed time, across DST changes
    if elapsed <= 0:
        raise ctx.fail(("end",), f"end {excerpt(str(raw.end))} is not after the start"
                                 f" {start:%Y-%m-%d %H:%M}")
    return elapsed


def check_horizon(ctx: Context, raw: schema.ScenarioIn, start: dt.datetime, length: int
                  ) -> None:
    """The horizon is above 0, at most 100 years, and ends within the results' clock."""
    if not 0 < length <= MAX_HORIZON:
        raise ctx.fail(("horizon",), "the horizon must be longer than 0 and at most 100"
                                     f" years, got {excerpt(raw.horizon or raw.end)}")
    if epoch_ns(start) + length >= ranges.last_instant_ns():
        raise ctx.fail(("horizon",), f"the run would end after {ranges.LAST_INSTANT:%Y-%m-%d},"
                                     " beyond the nanosecond clock of the results; got"
                                     f" {excerpt(raw.horizon or raw.end)} from {start:%Y-%m-%d}")


def active(ctx: Context, loc: Loc, raw: schema.JobIn) -> tuple[Window, ...]:
    """A job's daily windows in which a run may start (one or a list); empty means any time."""
    if raw.active == []:
        raise ctx.fail((*loc, "active"), "an empty list of windows; leave active out for"
                                         " a job that may start at any time")
    actives = (raw.active if isinstance(raw.active, list)
               else [] if raw.active is None else [raw.active])
    return tuple(ctx.window((*loc, "active", *((i,) if isinstance(raw.active, list)
                                               else ())), w)
                 for i, w in enumerate(actives))


def arrivals(ctx: Context, loc: Loc, raw: schema.ArrivalsIn) -> Arrivals:
    """Ad-hoc runs: after sampled intervals, or at a rate that varies by local time."""
    if (raw.interval is None) == (raw.rate is None):
        raise ctx.fail(loc, "arrivals take an interval or a rate (with optional windows),"
                            " one of the two")
    if raw.interval is not None:
        if raw.windows:
            raise ctx.fail((*loc, "windows"), "windows go with rate:, not with interval:")
        interval = ctx.distribution((*loc, "interval"), raw.interval)
        if interval.mean <= 0:
            raise ctx.fail((*loc, "interval"), "an arrival interval must average more than"
                                               f" 0, got {interval.describe()}")
        return Arrivals(interval=interval, batch=raw.batch)
    rate = ctx.parse((*loc, "rate"), bounded_rate, raw.rate)
    windows = tuple(
        (ctx.window((*loc, "windows", i), w),
         ctx.parse((*loc, "windows", i, "rate"), bounded_rate, w.rate))
        for i, w in enumerate(raw.windows))
    if rate == 0 and not any(r > 0 for _, r in windows):
        ctx.warn((*loc, "rate"), "every rate is 0, so this job never arrives")
    return Arrivals(profile=Profile(rate, windows), batch=raw.batch)


def recurrence(ctx: Context, loc: Loc, raw: schema.RecurrenceIn, start: dt.datetime,
               zone: ZoneInfo) -> Recurrence:
    """A repeating schedule: ``every:`` with its calendar keys, or a ``cron:`` expression."""
    if (raw.every is None) == (raw.cron is None):
        raise ctx.fail(loc, "a recurrence has every: (such as 1d) or cron:, one of the two")
    unit, every = None, 1
    if raw.every is not None:
        every, unit = ctx.parse((*loc, "every"), parse_every, raw.every)
        ctx.parse((*loc, "every"), lambda _: ranges.check_every(every, unit), raw.every)
    else:
        if len(str(raw.cron).split()) != 5:
            raise ctx.fail((*loc, "cron"), f"bad cron expression {excerpt(raw.cron)}: use five"
                           " fields (minute hour day month weekday)")
        try:
            next(iter(CronSim(str(raw.cron), start)))
        except (CronSimError, ValueError, StopIteration) as exc:
            raise ctx.fail((*loc, "cron"), f"bad cron expression {excerpt(raw.cron)}: {exc}"
                           ) from None
        if raw.anchor == "end":
            raise ctx.fail((*loc, "anchor"), "anchor: end needs every:, not cron:")
    if raw.anchor == "end" and (raw.on is not None or raw.day is not None):
        raise ctx.fail((*loc, "anchor"), "anchor: end repeats one interval after each"
                                         " run; it cannot keep on: or day:")
    if raw.on is not None and unit != "w":
        raise ctx.fail((*loc, "on"), "on: names weekdays, for a weekly recurrence (every: 1w)")
    weekdays = () if raw.on is None else ctx.parse((*loc, "on"), parse_days, raw.on)
    day = raw.day
    if day is not None:
        if unit not in ("mo", "y"):
            raise ctx.fail((*loc, "day"), "day: is for monthly or yearly recurrences")
        if day == "last":
            day = -1
        elif not isinstance(day, int) or not 1 <= day <= 31:
            raise ctx.fail((*loc, "day"), f"day is 1 to 31 or last, got {excerpt(raw.day)}")
    if raw.month is not None and unit != "y":
        raise ctx.fail((*loc, "month"), "month: is for yearly recurrences (every: 1y)")
    until = None
    if raw.until is not None:
        until = ctx.moment((*loc, "until"), raw.until, zone, day_end=True)
        if until < start:
            raise ctx.fail((*loc, "until"), f"until {excerpt(str(raw.until))} is before the job's"
                                            " start")
    return Recurrence(unit=unit, every=every, cron=raw.cron, weekdays=weekdays,
                      day=day if isinstance(day, int) else None, month=raw.month,
                      count=raw.count, until=until, anchor=raw.anchor)
