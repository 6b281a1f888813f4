"""Calibration: fit a scenario document to a batch history, with the evidence beside each value.

``calibrate(history)`` turns a ``History`` (``simbatch.history.read``) into a scenario
document (a ruamel.yaml ``CommentedMap``) that ``simbatch.load`` accepts and a person can
read and edit. Every fitted value carries a comment with its evidence, and the header
names the period, the row counts and what the history could not show. Data flows one way:
history -> calibrate -> the same loading -> engine. The README states every rule used here.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from simbatch.engine.randomness import generator
from simbatch.errors import UsageError
from simbatch.files import write_text
from simbatch.history.read import History
from simbatch.scenario.load import load
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import format_seconds, parse_days

__all__ = ["Calibration", "calibrate"]

FEW = 20
"""Fewer samples than this are written as ``empirical`` (the values seen), not fitted."""
KS_FITS = 0.05
"""A fit is used when its Kolmogorov-Smirnov statistic is at most this, or at most the 5%
critical value 1.36 / sqrt(n) where that is larger (small samples); else empirical."""
FIT_SAMPLE = 5000
"""At most this many durations (a seeded random subset) are used to fit and test."""
QUANTILES = 100
"""An empirical distribution of more than this many values is written as this many quantiles."""
CONSTANT_SPREAD = 2.0
"""Durations within this many seconds of each other (F&O keeps whole seconds) are constant."""
RATE_SIGMA = 3.0
"""Two arrival rates are one when they differ by less than this many standard errors."""
DAY_SIGMA = 4.0
"""Two weekdays share one hourly profile when no hour differs by this many standard errors
(stricter than ``RATE_SIGMA``, since 24 hours are compared at once)."""
INFER_RUNS = 5
"""An order is inferred from timing only when it holds in every run, over at least this many."""
MAX_THREADS = 16
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FINAL = ("Ended", "Error")


@dataclass(frozen=True)
class Calibration:
    """A fitted scenario document (``document``, comments included) and the history it came from."""

    document: CommentedMap
    history: History

    @property
    def text(self) -> str:
        """The document as YAML, comments and all."""
        stream = io.StringIO()
        _yaml().dump(self.document, stream)
        return stream.getvalue()

    def scenario(self) -> Scenario:
        """The document loaded and validated as a ``Scenario``."""
        return load(self.document)

    def write(self, path: str | Path) -> Scenario:
        """Write the YAML to ``path``, then load it back with ``simbatch.load`` to check it."""
        return load(write_text(path, self.text))


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _flow(data: Mapping[str, Any]) -> CommentedMap:
    out = CommentedMap()
    for key, value in data.items():
        out[key] = _flow(value) if isinstance(value, Mapping) else value
    out.fa.set_flow_style()
    return out


def _flow_list(items: list[Any]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


# ---- small formatters -----------------------------------------------------------------------

def _time(seconds: float) -> str:
    """A time as the grammar writes it: ``4m10s`` from 100 s on, else ``42.5s``."""
    if seconds >= 100:
        return format_seconds(round(seconds))
    value = round(seconds, 2)
    return f"{value:.2f}".rstrip("0").rstrip(".") + "s" if value > 0 else "0s"


def _clock(seconds: float) -> str:
    """A time for comments: ``4m10s``, ``42s``."""
    return format_seconds(round(seconds)) if seconds >= 1 else f"{seconds:.2g}s"


def _count(n: int) -> str:
    return f"{n:,}"


def _days(days: list[int]) -> str:
    """Weekdays as ``mon-fri`` when consecutive, else ``mon,wed``."""
    days = sorted(days)
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{WEEKDAYS[days[0]]}-{WEEKDAYS[days[-1]]}"
    return ",".join(WEEKDAYS[d] for d in days)


def _hhmm(second: int) -> str:
    return f"{second // 3600:02d}:{second // 60 % 60:02d}"


def _rate(per_hour: float) -> str:
    text = f"{per_hour:.4f}".rstrip("0").rstrip(".")
    return f"{text if text != '0' else '0.0001'}/h" if per_hour > 0 else "0/h"


# ---- durations ------------------------------------------------------------------------------

_CANDIDATES = {"lognormal": "lognorm", "gamma": "gamma", "weibull": "weibull_min",
               "exponential": "expon"}
"""The candidate families, by their scipy.stats names (scipy loads when a fit needs it)."""


def fit_duration(seconds: np.ndarray, key: str = "") -> tuple[Any, str]:
    """A time for the scenario and its evidence comment, from observed durations in seconds.

    Constant when they lie within ``CONSTANT_SPREAD``; ``empirical`` below ``FEW`` samples or
    when no candidate's KS statistic is within ``KS_FITS``; else the candidate (lognormal,
    gamma, Weibull, exponential, each with location 0) with the lowest AIC.
    """
    x = np.sort(np.asarray(seconds, dtype=float))
    n = len(x)
    if n == 0:
        return "1m", "never ran to an end in the history: 1m is a placeholder"
    median, p95 = float(np.median(x)), float(np.percentile(x, 95))
    seen = f"{_count(n)} runs, median {_clock(median)}, p95 {_clock(p95)}"
    if x[-1] - x[0] <= CONSTANT_SPREAD:
        return _time(median), f"{seen}; all within {CONSTANT_SPREAD:g}s: constant"
    if n < FEW:
        return {"empirical": _flow_list([_time(v) for v in x])}, (
            f"{seen}; fewer than {FEW} runs: empirical")
    sample = x
    if n > FIT_SAMPLE:
        sample = np.sort(generator(0, "calibrate", key).choice(x, FIT_SAMPLE, replace=False))
    positive = np.maximum(sample, 0.5)  # F&O keeps whole seconds: 0 means under a second
    from scipy import stats

    fits = []
    for name, family in _CANDIDATES.items():
        dist = getattr(stats, family)
        with np.errstate(all="ignore"):
            params = _fit(name, positive)
            loglik = float(np.sum(dist.logpdf(positive, *params)))
        k = 1 if name == "exponential" else 2
        if not math.isfinite(loglik):
            continue
        ks = _ks(positive, dist.cdf(positive, *params))
        fits.append((2 * k - 2 * loglik, name, params, ks))
    fits.sort(key=lambda f: f[0])
    aic, name, params, ks = fits[0]
    others = ", ".join(f[1] for f in fits[1:])
    limit = max(KS_FITS, 1.36 / math.sqrt(len(sample)))
    if ks > limit:
        return _empirical(x), (f"{seen}; best fit {name} (by AIC) has KS {ks:.2f} >"
                               f" {limit:.2f}: empirical")
    subset = f" (fitted on {_count(FIT_SAMPLE)} of them)" if n > FIT_SAMPLE else ""
    return _written(name, params), (f"{seen}; {name}, KS {ks:.2f}; AIC {aic:,.0f}, lowest"
                                    f" of {name}, {others}{subset}")


def _fit(name: str, x: np.ndarray) -> tuple[float, ...]:
    """Maximum-likelihood parameters with location 0, in scipy's order (shape, loc, scale)."""
    if name == "exponential":
        return (0.0, float(x.mean()))
    logs = np.log(x)
    if name == "lognormal":
        return (float(logs.std()), 0.0, float(np.exp(logs.mean())))
    if name == "gamma":  # Minka's start, then Newton steps on log(a) - digamma(a) = s
        from scipy.special import digamma, polygamma

        gap = math.log(x.mean()) - float(logs.mean())
        a = (3 - gap + math.sqrt((gap - 3) ** 2 + 24 * gap)) / (12 * gap) if gap > 0 else 1e6
        for _ in range(20):
            step = (math.log(a) - float(digamma(a)) - gap) / (1 / a - float(polygamma(1, a)))
            a = max(a - step, a / 10)
            if abs(step) < 1e-10 * a:
                break
        return (a, 0.0, float(x.mean()) / a)
    # weibull: the shape k solves sum(x^k ln x) / sum(x^k) - 1/k = mean(ln x)
    from scipy.optimize import brentq

    unit = float(x.mean())
    y = x / unit
    logy = np.log(y)

    def score(k: float) -> float:
        w = y ** k
        return float((w * logy).sum() / w.sum() - 1 / k - logy.mean())

    low, high = 0.02, 50.0
    if score(low) > 0 or score(high) < 0:
        return (1.0, 0.0, unit)
    k = float(brentq(score, low, high, xtol=1e-8))
    return (k, 0.0, unit * float(np.mean(y ** k)) ** (1 / k))


def _ks(sorted_x: np.ndarray, cdf: np.ndarray) -> float:
    """The Kolmogorov-Smirnov statistic of a sorted sample against its fitted CDF values."""
    n = len(sorted_x)
    upper = np.arange(1, n + 1) / n - cdf
    lower = cdf - np.arange(n) / n
    return float(max(upper.max(), lower.max()))


def _empirical(x: np.ndarray) -> dict[str, Any]:
    if len(x) > QUANTILES:
        x = np.quantile(x, (np.arange(QUANTILES) + 0.5) / QUANTILES)
    return {"empirical": _flow_list([_time(v) for v in x])}


def _written(name: str, params: tuple[float, ...]) -> Any:
    if name == "exponential":
        return _flow({"exponential": _time(params[1])})
    if name == "weibull":
        shape, _, scale = params
        return _flow({"weibull": {"shape": round(float(shape), 3), "scale": _time(scale)}})
    if name == "lognormal":
        s, _, scale = params
        mean = scale * math.exp(s * s / 2)
        sd = mean * math.sqrt(math.expm1(s * s))
    else:
        a, _, scale = params
        mean, sd = a * scale, math.sqrt(a) * scale
    return _flow({name: {"mean": _time(mean), "sd": _time(sd)}})


# ---- schedules ------------------------------------------------------------------------------

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
    at = f"at {_hhmm(int(tod[0]))}" + (f":{tod[0] % 60:02d}" if tod[0] % 60 else "")
    day_gaps = [(b - a).days for a, b in itertools.pairwise(dates)]
    step = math.gcd(*day_gaps)
    doms = {d.day for d in dates}
    last = all((d + dt.timedelta(days=1)).month != d.month for d in dates)
    if n >= 2 and min(day_gaps) >= 28:
        if last:
            return {"recurrence": _flow({"every": "1mo", "day": "last"}),
                    "_why": f"{_count(n)} runs, each on a month's last day {at}; {_sureness(n)}"}
        if len(doms) == 1:
            return {"recurrence": _flow({"every": "1mo", "day": doms.pop()}),
                    "_why": f"{_count(n)} runs, each on day {dates[0].day} of a month {at};"
                            f" {_sureness(n)}"}
    weekdays = sorted({d.weekday() for d in dates})
    if step == 1 and len(weekdays) < 7 and (dates[-1] - dates[0]).days >= 7:
        missed = sum(1 for i in range((dates[-1] - dates[0]).days + 1)
                     if (dates[0] + dt.timedelta(days=i)).weekday() in weekdays
                     and dates[0] + dt.timedelta(days=i) not in set(dates))
        return {"recurrence": _flow({"every": "1w", "on": _flow_list(
                    [WEEKDAYS[d] for d in weekdays])}),
                "_why": f"{_count(n)} runs {at} on {_days(weekdays)} only, {missed} of those days"
                        f" without a run; {_sureness(n)}"}
    if step % 7 == 0 and step:
        return {"recurrence": _flow({"every": f"{step // 7}w"}),
                "_why": f"{_count(n)} runs {at}, every {step // 7} weeks; {_sureness(n)}"}
    if step:
        skipped = sum(g // step - 1 for g in day_gaps)
        return {"recurrence": _flow({"every": f"{step}d"}),
                "_why": f"{_count(n)} runs {at}, {step}-day steps, {skipped} slots without a run;"
                        f" {_sureness(n)}"}
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
    out: dict[str, Any] = {"recurrence": _flow({"every": every})}
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
    grid = pd.to_datetime(np.arange(int(epoch.iloc[0]), int(epoch.iloc[-1]) + 1, step),
                          unit="s", utc=True).tz_convert(slots.dt.tz)
    inside = np.ones(len(grid), bool) if window is None else _inside(pd.Series(grid), window)
    skipped = int(inside.sum()) - n
    why = (f"{_count(n)} runs, all on a {every} grid from {slots.iloc[0]:%H:%M};"
           f" {_count(max(skipped, 0))} slots without a run")
    if window is not None:
        out["active"] = _flow(window)
        span = f"{window['from']}-{window['to']}" + (f" on {window['days']}"
                                                     if "days" in window else "")
        why += (f" inside the window; due only {span}, so it is active only then (inferred)"
                if not held.any() else f"; {int(held.sum())} runs were held until a window"
                f" opened, so it may start only {span} (inferred)")
    out["_why"] = f"{why}; {_sureness(n)}"
    return out


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
    window: dict[str, Any] = {"from": _hhmm(begin), "to": _hhmm(end) if end < 86400
                              else "24:00"}
    local = points.reset_index(drop=True)
    opens_before = _seconds_of_day(local) < begin if begin > end % 86400 else np.zeros(
        len(local), bool)
    days = sorted({(moment - dt.timedelta(days=int(before))).weekday()
                   for moment, before in zip(local, opens_before, strict=True)})
    if len(days) < 7 and observed_days >= 7:
        window["days"] = _days(days)
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
    """Hours observed of each (weekday, local hour) in the period."""
    hours = pd.date_range(period[0].floor("h"), period[1].ceil("h"), freq="h", inclusive="left")
    local = hours.tz_convert(zone)
    out = np.zeros((7, 24))
    np.add.at(out, (local.day_of_week, local.hour), 1.0)
    return out


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
            windows.append(_flow({"days": _days(days), "from": _hhmm(b * 3600),
                                  "to": _hhmm(t * 3600) if t < 24 else "24:00",
                                  "rate": _rate(c / e)}))
    arrivals: dict[str, Any] = {"rate": _rate(pooled_c / pooled_e)}
    if windows:
        arrivals["windows"] = CommentedSeq(windows)
    if batch > 1:
        arrivals["batch"] = batch
    hours = exposure.sum()
    why = (f"{_count(len(slots))} arrivals over {hours:,.0f} hours, off any regular grid:"
           f" a Poisson rate by weekday and hour, {len(windows)} windows where the rate differs"
           f" by more than {RATE_SIGMA:g} standard errors")
    if batch > 1:
        why += (f"; runs share one OrigStartDateTime in groups of {sizes.min()}-{sizes.max()}"
                f" (mean {sizes.mean():.1f}): batch {batch}")
    return {"arrivals": arrivals}, why


# ---- tasks ----------------------------------------------------------------------------------

def _failures(rows: pd.DataFrame) -> tuple[float, int, str]:
    """The per-attempt error share and retries, from final rows and their retryCount."""
    final = rows[rows["status"].isin(FINAL)]
    retries = final["retries"].to_numpy()
    attempts = int(len(final) + retries.sum())
    errors = int(retries.sum() + (final["status"] == "Error").sum())
    share = errors / attempts if attempts else 0.0
    most = int(retries.max()) if len(retries) else 0
    text = (f"{_count(errors)} errors in {_count(attempts)} attempts ({share:.2%}): each row's"
            f" retryCount k counts k failed attempts before its final status")
    if most:
        text += f"; retryCount up to {most}"
    return share, min(most, 5), text


def _task_doc(rows: pd.DataFrame, key: str) -> CommentedMap:
    doc = CommentedMap()
    single = rows[rows["status"].isin(FINAL) & rows["start"].notna() & rows["end"].notna()
                  & (rows["retries"] == 0)]
    seconds = (single["end"] - single["start"]).dt.total_seconds().to_numpy()
    value, why = fit_duration(seconds, key)
    left = int((rows["retries"] > 0).sum())
    if left:
        why += f"; {_count(left)} rows with retries left out (they span several attempts)"
    doc["duration"] = value
    doc.yaml_add_eol_comment(why, "duration")
    share, retries, text = _failures(rows)
    if share > 0:
        doc["fail"] = round(share, 4)
        doc.yaml_add_eol_comment(text, "fail")
        if retries:
            doc["retries"] = retries
    return doc


def _runtime(parent_runs: pd.Series, children: pd.DataFrame, key: str) -> CommentedMap:
    counts = children.groupby("run_id", observed=True).size().reindex(
        parent_runs.to_numpy(), fill_value=0).to_numpy()
    out = CommentedMap()
    low, high = int(counts.min()), int(counts.max())
    seen = (f"{_count(len(counts))} parent runs, {_count(int(counts.sum()))} runtime tasks:"
            f" {low}-{high} per run, mean {counts.mean():.1f}")
    if low == high:
        out["tasks"] = low
    else:
        # the unbiased estimate of a uniform's bounds widens the range seen by range/(n-1)
        widen = (high - low) / max(len(counts) - 1, 1)
        bounds = [max(0, round(low - widen)), round(high + widen)]
        out["tasks"] = _flow({"uniform": _flow_list(bounds)})
        seen += f"; uniform, the range seen widened by range/(n-1) = {widen:.2f} each side"
    out.yaml_add_eol_comment(seen, "tasks")
    ended = children[children["status"].isin(FINAL) & children["start"].notna()
                     & children["end"].notna()]
    value, why = fit_duration((ended["end"] - ended["start"]).dt.total_seconds().to_numpy(),
                              key + " runtime")
    out["duration"] = value
    out.yaml_add_eol_comment(why, "duration")
    errors = int((children["status"] == "Error").sum())
    if errors:
        out["fail"] = round(errors / max(len(ended), 1), 4)
        out.yaml_add_eol_comment(f"{errors} of {len(ended)} runtime tasks ended in Error"
                                 " (runtime tasks have no retries)", "fail")
    return out


def _inferred_order(static: pd.DataFrame, names: list[str]) -> dict[str, dict[str, int]]:
    """``{B: {A: runs}}`` where B started after A ended in every run (transitively reduced)."""
    spans = static.groupby(["run_id", "task"], observed=True).agg(start=("start", "min"),
                                                                     end=("end", "max"))
    start = spans["start"].unstack()
    end = spans["end"].unstack()
    start.columns = [str(c) for c in start.columns]
    end.columns = [str(c) for c in end.columns]
    before: dict[str, set[str]] = {n: set() for n in names}
    evidence: dict[tuple[str, str], int] = {}
    for a in names:
        if a not in end.columns:
            continue
        for b in names:
            if a == b or b not in start.columns:
                continue
            both = start[b].notna() & end[a].notna()
            n = int(both.sum())
            if n >= INFER_RUNS and bool((start[b][both] >= end[a][both]).all()):
                before[b].add(a)
                evidence[(a, b)] = n
    out: dict[str, dict[str, int]] = {}
    for b, parents in before.items():
        direct = [a for a in names if a in parents
                  and not any(a in before[c] for c in parents if c != a)]
        if direct:
            out[b] = {a: evidence[(a, b)] for a in direct}
    return out


def _job_doc(name: str, runs: pd.DataFrame, rows: pd.DataFrame, history: History,
             zone: ZoneInfo, period: tuple[pd.Timestamp, pd.Timestamp],
             scheduling: str, known_groups: set[str] | None) -> tuple[CommentedMap, str | None]:
    doc = CommentedMap()
    group = _mode(pd.concat([runs["group"].astype(object), rows["group"].astype(object)]))
    if group is not None and (known_groups is None or group in known_groups):
        doc["group"] = group
    schedule, why = infer_schedule(runs["scheduled"], runs["start"], zone, period)
    for key, value in schedule.items():
        doc[key] = value
    main = next(k for k in ("recurrence", "arrivals", "start") if k in schedule)
    doc.yaml_add_eol_comment(why, main)
    priority = _mode(runs["priority"].astype(object))
    if priority is not None and scheduling == "priority":
        doc["priority"] = priority
    static = rows[~rows["runtime"]]
    children = rows[rows["runtime"]]
    run_start = runs.set_index("run_id")["start"]
    offset = (static["start"].reset_index(drop=True)
              - run_start.reindex(static["run_id"].to_numpy()).reset_index(drop=True))
    order = (pd.DataFrame({"task": static["task"].to_numpy(), "offset": offset})
             .groupby("task", observed=True)["offset"].median()
             .sort_values(na_position="last"))
    names = [str(t) for t in order.index]
    tasks = CommentedMap()
    by_task = {str(k): v for k, v in static.groupby("task", observed=True)}
    child_by = {str(k): v for k, v in children.groupby("task", observed=True)}
    for tname in names:
        mine = by_task[tname]
        tdoc = _task_doc(mine, f"{name}/{tname}")
        failed_runs = set(mine.loc[mine["status"] == "Error", "run_id"])
        if failed_runs and (runs.set_index("run_id").loc[sorted(failed_runs), "status"]
                            == "Ended").any():
            tdoc["ignore_failure"] = True
            tdoc.yaml_add_eol_comment("its job run still Ended after it failed",
                                      "ignore_failure")
        tasks[tname] = tdoc
    # runtime rows: children of the static task with their Caption, else of the first task
    for caption, kids in child_by.items():
        parent = caption if caption in tasks else (names[0] if names else None)
        if parent is None:
            continue
        parent_runs = by_task[parent]["run_id"][by_task[parent]["start"].notna()]
        tasks[parent]["runtime"] = _runtime(parent_runs, kids, f"{name}/{parent}")
        if parent != caption:
            tasks[parent].yaml_add_eol_comment(f"runtime tasks {caption!r} assumed to be added"
                                               f" by {parent!r}", "runtime")
    _dependencies(tasks, static, names, history, name)
    doc["tasks"] = tasks
    return doc, group


def _dependencies(tasks: CommentedMap, static: pd.DataFrame, names: list[str],
                  history: History, job: str) -> None:
    cons = history.constraints
    if len(cons):
        caption = dict(zip(static["task_id"], static["task"].astype(str), strict=True))
        for task_id, depends, expect in cons.itertuples(index=False):
            b, a = caption.get(task_id), caption.get(depends)
            if b is None or a is None or b not in tasks or a not in tasks:
                continue
            after = tasks[b].setdefault("after", _flow({}))
            after[a] = str(expect)
        for b in names:
            if "after" in tasks[b]:
                tasks[b].yaml_add_eol_comment("from BatchConstraints", "after")
        return
    for b, parents in _inferred_order(static, names).items():
        tasks[b]["after"] = _flow({a: "ended" for a in parents})
        runs = min(parents.values())
        tasks[b].yaml_add_eol_comment(f"inferred: in every run with both (at least {runs}),"
                                      f" {b} started after {' and '.join(parents)} ended",
                                      "after")


def _mode(values: pd.Series) -> Any:
    values = values.dropna()
    return None if values.empty else values.mode().iloc[0]


# ---- topology -------------------------------------------------------------------------------

def _peaks(tasks: pd.DataFrame) -> dict[str, int]:
    """The most task runs seen at once on each server."""
    ran = tasks[tasks["server"].notna() & tasks["start"].notna()]
    out: dict[str, int] = {}
    for server, rows in ran.groupby("server", observed=True):
        starts = rows["start"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        ends = rows["end"].to_numpy(dtype="datetime64[ns]").astype(np.int64)
        ends = np.where(rows["end"].isna().to_numpy(), np.iinfo(np.int64).max, ends)
        times = np.concatenate([starts, ends])
        steps = np.concatenate([np.ones(len(starts)), -np.ones(len(ends))])
        order = np.lexsort((steps, times))  # an end before a start at one instant
        out[str(server)] = int(np.cumsum(steps[order]).max())
    return out


def _topology(history: History, topology: Any) -> tuple[CommentedMap, list[str]]:
    """Servers, groups and scheduling: from ``topology`` when given, else from ServerId."""
    out = CommentedMap()
    notes: list[str] = []
    if topology is not None:
        scenario = load(topology)
        data = scenario.document
        for key in ("scheduling", "platform", "polling", "reserved_capacity", "throttle"):
            if key in data:
                out[key] = data[key]
        out.setdefault("scheduling", scenario.scheduling)
        out["servers"] = _plain_to_commented(data["servers"])
        if data.get("groups"):
            out["groups"] = _plain_to_commented(data["groups"])
        notes.append(f"servers, threads and groups from the topology {scenario.source}")
        return out, notes
    out["scheduling"] = "priority"
    out["polling"] = "1m"
    servers = CommentedMap()
    peaks = _peaks(history.tasks)
    for name, peak in sorted(peaks.items()):
        threads = max(1, min(peak, MAX_THREADS))
        servers[name] = _flow({"threads": threads})
        note = f"peak {peak} tasks at once: threads are not in the history, a lower bound"
        if peak > MAX_THREADS:
            note += f"; capped at {MAX_THREADS}, the cloud maximum"
        servers.yaml_add_eol_comment(note, name)
    if not servers:
        servers["AOS1"] = _flow({"threads": 8})
        servers.yaml_add_eol_comment("no ServerId in the history: one server of 8 threads"
                                     " (the cloud default), a guess", "AOS1")
    out["servers"] = servers
    notes.append("threads per server: not in the history; each server's peak concurrency"
                 " is written as a lower bound (give --topology to set them)")
    return out, notes


def _plain_to_commented(data: Any) -> Any:
    if isinstance(data, Mapping):
        out = CommentedMap()
        for k, v in data.items():
            out[k] = _plain_to_commented(v)
        return out
    if isinstance(data, list):
        return CommentedSeq([_plain_to_commented(v) for v in data])
    return data


# ---- the document ---------------------------------------------------------------------------

def calibrate(history: History, timezone: str | None = None,
              topology: str | Path | Mapping[str, Any] | Scenario | None = None,
              name: str | None = None) -> Calibration:
    """Fit a scenario to ``history``: jobs, tasks, schedules, failures and topology.

    ``timezone`` (an IANA name) is the zone recurrences and arrival profiles are read in:
    by default the topology's, else UTC. ``topology`` is a scenario (file, mapping or
    object) whose servers, groups and scheduling are used instead of those inferred.
    """
    if not isinstance(history, History):
        raise UsageError(f"calibrate takes a History (from simbatch.read_history), got"
                         f" {type(history).__name__}")
    topo, notes = _topology(history, topology)
    if timezone is None:
        timezone = load(topology).timezone if topology is not None else "UTC"
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"unknown time zone {timezone!r} (use an IANA name such as"
                         f" Europe/Amsterdam): {exc}") from None
    jobs, tasks = history.jobs, history.tasks
    if jobs.empty:
        raise UsageError("the history has no job runs to calibrate from")
    first, last = history.period
    origin = first.tz_convert(zone).normalize()
    days = max(1, math.ceil((last - origin) / pd.Timedelta("1D")))
    period = (origin.tz_convert("UTC"), origin.tz_convert("UTC") + pd.Timedelta(days=days))
    doc = CommentedMap()
    doc["name"] = name or "Calibrated from batch history"
    doc["start"] = f"{origin:%Y-%m-%d %H:%M}"
    doc["timezone"] = timezone
    doc["horizon"] = f"{days}d"
    for key, value in topo.items():
        doc[key] = value
    scheduling = str(doc["scheduling"])
    known = (set(topo.get("groups", {})) | {"default"}) if (
        topology is not None and scheduling == "affinity") else None
    job_docs = CommentedMap()
    groups: set[str] = set()
    first_due = jobs.groupby("job", observed=True)["scheduled"].min().sort_values(kind="stable")
    order = [str(j) for j in first_due.index]
    rows_by_job = {str(k): v for k, v in tasks.groupby("job", observed=True)}
    runs_by_job = {str(k): v for k, v in jobs.groupby("job", observed=True)}
    for jname in order:
        rows = rows_by_job.get(jname)
        if rows is None:
            continue  # no task rows: named in the header's gaps
        job_doc, group = _job_doc(jname, runs_by_job[jname], rows, history, zone, period,
                                  scheduling, known)
        if group is not None and "group" in job_doc:
            groups.add(group)
        job_docs[jname] = job_doc
    if groups - {"default"}:
        section = doc.setdefault("groups", CommentedMap())
        for g in sorted(groups - {"default"}):
            if g not in section:
                section[g] = CommentedMap()
                section[g].fa.set_flow_style()
    doc["jobs"] = job_docs
    doc.yaml_set_start_comment(_header(history, origin, days, zone, notes))
    return Calibration(doc, history)


def _header(history: History, origin: pd.Timestamp, days: int, zone: ZoneInfo,
            notes: list[str]) -> str:
    first, last = history.period
    lines = [
        "Calibrated by simbatch from a Dynamics 365 F&O batch history.",
        f"Sources: {', '.join(history.sources)}",
        f"Period: {first.tz_convert(zone):%Y-%m-%d %H:%M} to"
        f" {last.tz_convert(zone):%Y-%m-%d %H:%M} ({zone.key}); the scenario covers {days}"
        f" days from {origin:%Y-%m-%d}.",
        f"Rows: {_count(len(history.jobs))} job runs (BatchJobHistory),"
        f" {_count(len(history.tasks))} task runs (BatchHistory),"
        f" {_count(len(history.constraints))} dependencies (BatchConstraints).",
        "Rules: durations fitted by AIC among lognormal, gamma, weibull and exponential, used"
        f" when KS <= max({KS_FITS:g}, 1.36/sqrt(n)); empirical under {FEW} runs or when"
        " nothing fits.",
        "Comments give each value's evidence; 'inferred' marks what timing alone suggests.",
        "What the history could not show:",
        *(f"  - {note}" for note in notes),
        *(f"  - {gap}" for gap in history.gaps),
    ]
    return "\n".join(lines)
