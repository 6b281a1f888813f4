"""Job schedules: a recurrence (daily, weekly, monthly, every n minutes in a window) or
arrivals (hourly profiles per weekday), inferred from when the runs were due.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from ruamel.yaml.comments import CommentedSeq

from simbatch.history.calibration.document import (
    days_text,
    flow_list,
    flow_map,
    hhmm,
    rate_text,
    thousands,
)
from simbatch.scenario.timegrammar import WEEKDAYS, parse_days

__all__ = ["DAY_SIGMA", "GRID_WALK", "HOURS_WALK", "RATE_SIGMA", "SLOTS_PER_RUN",
           "infer_schedule"]

GRID_WALK = 100_000
"""A grid's slots are counted one by one up to this many (or ``SLOTS_PER_RUN`` per run)."""
SLOTS_PER_RUN = 50
HOURS_WALK = 200_000
"""A period's hours (for arrival rates) are walked up to this many (about 22 years)."""

RATE_SIGMA = 3.0
"""Two arrival rates are one when they differ by less than this many standard errors."""
DAY_SIGMA = 4.0
"""Two weekdays share one hourly profile when no hour differs by this many standard errors
(stricter than ``RATE_SIGMA``, since 24 hours are compared at once)."""


def _seconds_of_day(local: pd.Series) -> np.ndarray:
    return np.asarray(local.dt.hour * 3600 + local.dt.minute * 60 + local.dt.second)


def infer_schedule(scheduled: pd.Series, start: pd.Series, zone: ZoneInfo,
                   period: tuple[pd.Timestamp, pd.Timestamp]) -> tuple[dict[str, Any], str]:
    """A job's ``start`` with ``recurrence`` (and ``active``), or ``arrivals``, and why.

    ``scheduled`` and ``start`` are its runs' OrigStartDateTime and StartDateTime (UTC).
    """
    order = np.argsort(scheduled.to_numpy(), kind="stable")
    scheduled = scheduled.iloc[order].reset_index(drop=True)
    start = start.iloc[order].reset_index(drop=True)
    local = scheduled.dt.tz_convert(zone)
    slots = local.drop_duplicates().reset_index(drop=True)
    sizes = scheduled.value_counts()
    batch = round(float(sizes.mean())) if len(sizes) and sizes.median() > 1 else 1
    first = f"{slots.iloc[0]:%Y-%m-%d %H:%M:%S}".removesuffix(":00")
    if len(slots) == 1 and batch == 1:
        return {"start": first}, "one run in the history: a one-time job"
    if len(slots) >= 2 and batch == 1:
        found = _calendar(slots) or _grid(slots, start, scheduled, period)
        if found is not None:
            why = found.pop("_why")
            return {"start": first, **found}, why
    return _arrivals(slots, sizes, batch, zone, period)


def _sureness(n: int) -> str:
    return "sure" if n >= 10 else "likely" if n >= 4 else "a guess from few runs"


def _calendar(slots: pd.Series) -> dict[str, Any] | None:
    """Daily, weekly or monthly at one local time of day, or None."""
    tod = _seconds_of_day(slots)
    if len(set(tod)) != 1:
        return None
    n = len(slots)
    dates = [d.date() for d in slots]
    at = f"at {hhmm(int(tod[0]))}" + (f":{tod[0] % 60:02d}" if tod[0] % 60 else "")
    day_gaps = [(b - a).days for a, b in itertools.pairwise(dates)]
    step = math.gcd(*day_gaps)
    doms = {d.day for d in dates}
    last = all((d + dt.timedelta(days=1)).month != d.month for d in dates)
    if n >= 2 and min(day_gaps) >= 28:
        if last:
            return {"recurrence": flow_map({"every": "1mo", "day": "last"}),
                    "_why": f"{thousands(n)} runs, each on a month's last day {at}; {_sureness(n)}"}
        if len(doms) == 1:
            return {"recurrence": flow_map({"every": "1mo", "day": doms.pop()}),
                    "_why": f"{thousands(n)} runs, each on day {dates[0].day} of a month {at};"
                            f" {_sureness(n)}"}
    weekdays = sorted({d.weekday() for d in dates})
    if step == 1 and len(weekdays) < 7 and (dates[-1] - dates[0]).days >= 7:
        span = (dates[-1] - dates[0]).days + 1  # counted, not walked: bounded by the rows
        weeks, rest = divmod(span, 7)
        on_days = weeks * len(weekdays) + sum(
            1 for i in range(rest) if (dates[0].weekday() + i) % 7 in weekdays)
        missed = on_days - len(set(dates))
        return {"recurrence": flow_map({"every": "1w", "on": flow_list(
                    [WEEKDAYS[d] for d in weekdays])}),
                "_why": f"{thousands(n)} runs {at} on {days_text(weekdays)} only, {missed} of"
                        f" those days without a run; {_sureness(n)}"}
    if step % 7 == 0 and step:
        return {"recurrence": flow_map({"every": f"{step // 7}w"}),
                "_why": f"{thousands(n)} runs {at}, every {step // 7} weeks; {_sureness(n)}"}
    if step:
        skipped = sum(g // step - 1 for g in day_gaps)
        return {"recurrence": flow_map({"every": f"{step}d"}),
                "_why": f"{thousands(n)} runs {at}, {step}-day steps, {skipped} slots without"
                        f" a run; {_sureness(n)}"}
    return None


def _grid(slots: pd.Series, start: pd.Series, scheduled: pd.Series,
          period: tuple[pd.Timestamp, pd.Timestamp]) -> dict[str, Any] | None:
    """Every N minutes or hours (elapsed time), with the daily window the runs keep to.

    A grid needs due times whose gaps share a divisor of whole minutes, and at least half
    of the gaps one step long (else sparse runs on whole minutes would pass for a grid).
    """
    utc = slots.dt.tz_convert("UTC")
    epoch = (utc - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta("1s")
    gaps = np.diff(epoch.to_numpy(dtype=np.int64))
    step = math.gcd(*[int(g) for g in gaps])
    if step < 60 or step % 60 or (gaps == step).mean() < 0.5:
        return None  # not whole minutes, or most runs not one step apart: not a grid
    every = f"{step // 3600}h" if step % 3600 == 0 else f"{step // 60}m"
    n = len(slots)
    out: dict[str, Any] = {"recurrence": flow_map({"every": every})}
    # the daily window: recurrence applies only inside an active period, so the runs' due
    # times keep to it; in older histories a run due outside it was held until it opened
    began = (pd.DataFrame({"due": scheduled, "start": start.dt.tz_convert("UTC")})
             .groupby("due")["start"].min().sort_index())
    waits = ((began - began.index).dt.total_seconds()).to_numpy()
    ran = ~np.isnan(waits)
    held = ran & (np.nan_to_num(waits, nan=0.0) > step)
    opened_at = began[held].dt.tz_convert(slots.dt.tz)
    points = pd.concat([slots[~held].reset_index(drop=True), opened_at.reset_index(drop=True)])
    window = _daily_window(points, step, (period[1] - period[0]).days)
    # the slots without a run: those of the grid inside the window (a slot outside is none)
    inside, about = _slots_inside(int(epoch.iloc[0]), int(epoch.iloc[-1]), step, n,
                                  slots.dt.tz, window)
    skipped = inside - n
    why = (f"{thousands(n)} runs, all on a {every} grid from {slots.iloc[0]:%H:%M};"
           f" {about}{thousands(max(skipped, 0))} slots without a run")
    if window is not None:
        out["active"] = flow_map(window)
        span = f"{window['from']}-{window['to']}" + (f" on {window['days']}"
                                                     if "days" in window else "")
        why += (f" inside the window; due only {span}, so it is active only then (inferred)"
                if not held.any() else f"; {int(held.sum())} runs were held until a window"
                f" opened, so it may start only {span} (inferred)")
    out["_why"] = f"{why}; {_sureness(n)}"
    return out


def _slots_inside(first: int, last: int, step: int, n: int, zone: Any,
                  window: dict[str, Any] | None) -> tuple[int, str]:
    """How many slots of the grid (epoch seconds ``first`` to ``last``) lie inside the window,
    and "about " when counted from one week of slots rather than all of them.

    The slots are walked only while there are at most ``GRID_WALK`` of them or ``SLOTS_PER_RUN``
    per run; beyond that a week of slots is walked and scaled, so a history of a few rows
    spanning centuries costs a week, not its span.
    """
    total = (last - first) // step + 1
    if window is None:
        return total, ""
    walk = total if total <= max(GRID_WALK, SLOTS_PER_RUN * n) else min(
        total, 7 * 86400 // step + 1)
    grid = pd.to_datetime(first + step * np.arange(walk, dtype=np.int64), unit="s",
                          utc=True).tz_convert(zone)
    inside = int(_inside(pd.Series(grid), window).sum())
    if walk == total:
        return inside, ""
    return round(inside * total / walk), "about "


def _daily_window(points: pd.Series, step: int, observed_days: int) -> dict[str, Any] | None:
    """The daily window a grid job's runs keep to, or None when they cover the day.

    The times of day are binned by the grid's step; the largest circular run of empty
    bins, if it is at least an hour and two steps long, lies outside the window. The
    weekdays are those on which a window with runs opens, when the history covers a week
    or more and some weekdays are never used.
    """
    size = max(step, 60)
    bins = math.ceil(86400 / size)
    occupied = sorted({int(x) // size for x in _seconds_of_day(points)})
    if not occupied:
        return None
    gaps = [((occupied[(i + 1) % len(occupied)] - b - 1) % bins, b)
            for i, b in enumerate(occupied)]
    empty, last = max(gaps)
    if empty * size < max(3600, 2 * size):
        return None
    begin = (last + 1 + empty) % bins * size
    end = min((last + 1) * size, 86400)
    window: dict[str, Any] = {"from": hhmm(begin), "to": hhmm(end) if end < 86400
                              else "24:00"}
    local = points.reset_index(drop=True)
    opens_before = _seconds_of_day(local) < begin if begin > end % 86400 else np.zeros(
        len(local), bool)
    days = sorted({(moment - dt.timedelta(days=int(before))).weekday()
                   for moment, before in zip(local, opens_before, strict=True)})
    if len(days) < 7 and observed_days >= 7:
        window["days"] = days_text(days)
    return window


def _inside(local: pd.Series, window: dict[str, Any]) -> np.ndarray:
    """Which local instants fall inside a daily window (``from``, ``to``, ``days``)."""
    begin, end = (int(window[k][:2]) * 3600 + int(window[k][3:5]) * 60 for k in ("from", "to"))
    tod = _seconds_of_day(local)
    crosses = begin >= end
    within = (tod >= begin) | (tod < end) if crosses else (tod >= begin) & (tod < end)
    if "days" not in window:
        return np.asarray(within)
    days = set(parse_days(window["days"]))
    opened = local - pd.to_timedelta(np.where(crosses & (tod < end), 1, 0), unit="D")
    return np.asarray(within & opened.dt.day_of_week.isin(days))


def _exposure(period: tuple[pd.Timestamp, pd.Timestamp], zone: ZoneInfo) -> np.ndarray:
    """Hours observed of each (weekday, local hour) in the period.

    The hours are walked while there are at most ``HOURS_WALK`` of them; a longer period is
    a whole number of weeks, each week's hours counted once and scaled.
    """
    begin, end = period[0].floor("h"), period[1].ceil("h")
    count = int((end - begin) / pd.Timedelta("1h"))
    scale = 1.0
    if count > HOURS_WALK:
        end, scale = begin + pd.Timedelta(weeks=52), count / (52 * 168)
    hours = pd.date_range(begin, end, freq="h", inclusive="left")
    local = hours.tz_convert(zone)
    out = np.zeros((7, 24))
    np.add.at(out, (local.day_of_week, local.hour), 1.0)
    return out * scale


def _same(c1: float, e1: float, c2: float, e2: float, sigma: float = RATE_SIGMA) -> bool:
    """Whether two Poisson counts over exposures e1, e2 agree with one rate."""
    if e1 == 0 or e2 == 0:
        return True
    pooled = (c1 + c2) / (e1 + e2)
    se = math.sqrt(max(pooled, 1e-9) * (1 / e1 + 1 / e2))
    return abs(c1 / e1 - c2 / e2) <= sigma * se


def _arrivals(slots: pd.Series, sizes: pd.Series, batch: int, zone: ZoneInfo,
              period: tuple[pd.Timestamp, pd.Timestamp]) -> tuple[dict[str, Any], str]:
    """A Poisson rate by weekday and local hour, segments merged where the counts agree."""
    exposure = _exposure(period, zone)
    counts = np.zeros((7, 24))
    np.add.at(counts, (slots.dt.day_of_week.to_numpy(), slots.dt.hour.to_numpy()), 1.0)
    # weekdays with one profile: every hour agrees
    groups: list[list[int]] = []
    for day in range(7):
        if exposure[day].sum() == 0:
            continue
        for g in groups:
            c, e = counts[g].sum(axis=0), exposure[g].sum(axis=0)
            if all(_same(c[h], e[h], counts[day, h], exposure[day, h], DAY_SIGMA)
                   for h in range(24)):
                g.append(day)
                break
        else:
            groups.append([day])
    segments: list[tuple[list[int], int, int, float, float]] = []  # days, from h, to h, c, e
    for g in groups:
        c, e = counts[g].sum(axis=0), exposure[g].sum(axis=0)
        begin, cs, es = 0, c[0], e[0]
        for h in range(1, 24):
            if _same(cs, es, c[h], e[h]):
                cs, es = cs + c[h], es + e[h]
            else:
                segments.append((g, begin, h, cs, es))
                begin, cs, es = h, c[h], e[h]
        segments.append((g, begin, 24, cs, es))
    # the rate outside any window: the one that, pooled with the segments it agrees with,
    # covers the most hours
    best: tuple[float, list[int]] = (-1.0, [])
    for seg in segments:
        agree = [j for j, other in enumerate(segments)
                 if _same(seg[3], seg[4], other[3], other[4])]
        hours = sum(segments[j][4] for j in agree)
        if hours > best[0]:
            best = (hours, agree)
    covered = set(best[1])
    pooled_c = sum(segments[j][3] for j in covered)
    pooled_e = sum(segments[j][4] for j in covered)
    # the rest: one window per span of hours, days joined where their rates agree
    merged: list[tuple[list[int], int, int, float, float]] = []
    for j, (days, begin, end, c, e) in enumerate(segments):
        if j in covered:
            continue
        for k, (mdays, mb, mt, mc, mexp) in enumerate(merged):
            if (mb, mt) == (begin, end) and _same(mc, mexp, c, e):
                merged[k] = (sorted([*mdays, *days]), mb, mt, mc + c, mexp + e)
                break
        else:
            merged.append((list(days), begin, end, c, e))
    windows = []
    for days, begin, end, c, e in sorted(merged, key=lambda m: (m[0][0], m[1])):
        days = [d for d in days if (exposure[d, begin:end] > 0).all()]  # only days observed
        if not days:
            continue
        spans = [(begin, 12), (12, 24)] if (begin, end) == (0, 24) else [(begin, end)]
        for b, t in spans:
            windows.append(flow_map({"days": days_text(days), "from": hhmm(b * 3600),
                                  "to": hhmm(t * 3600) if t < 24 else "24:00",
                                  "rate": rate_text(c / e)}))
    arrivals: dict[str, Any] = {"rate": rate_text(pooled_c / pooled_e)}
    if windows:
        arrivals["windows"] = CommentedSeq(windows)
    if batch > 1:
        arrivals["batch"] = batch
    hours = exposure.sum()
    why = (f"{thousands(len(slots))} arrivals over {hours:,.0f} hours, off any regular grid:"
           f" a Poisson rate by weekday and hour, {len(windows)} windows where the rate differs"
           f" by more than {RATE_SIGMA:g} standard errors")
    if batch > 1:
        why += (f"; runs share one OrigStartDateTime in groups of {sizes.min()}-{sizes.max()}"
                f" (mean {sizes.mean():.1f}): batch {batch}")
    return {"arrivals": arrivals}, why
