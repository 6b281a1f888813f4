"""What every builder shares: the document being built, and how it reports and parses.

A ``Context`` wraps the checked ``Document``: it turns a problem at a path into the one
``ScenarioError`` that names the file, the path and the line, warns the same way, and
parses the values every part of a scenario writes (times of day, dates, zones, daily
windows, distributions) into the objects of ``simbatch.scenario.spec``.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sys
import warnings
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from simbatch.errors import ScenarioError, SimbatchWarning, excerpt
from simbatch.scenario import ranges, schema, shape
from simbatch.scenario.calendar import DAY, Window
from simbatch.scenario.shape import Document, Loc
from simbatch.scenario.timegrammar import (
    Distribution,
    ParameterError,
    parse_days,
    parse_rate,
    parse_time,
)

__all__ = ["YEARS", "Context", "bounded_rate", "caller_level", "time_of_day", "zone_names"]

YEARS = (1970, 2200)  # the span the tables' nanosecond timestamps hold, with room
T = TypeVar("T")


def caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside simbatch."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("simbatch"):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


@functools.cache
def zone_names() -> frozenset[str]:
    """The IANA zone names, from the tzdata package: the same list on every host."""
    return frozenset(resources.files("tzdata").joinpath("zones").read_text().split())


def bounded_rate(value: Any) -> float:
    """``parse_rate`` within ``ranges.MAX_RATE``."""
    rate = parse_rate(value)
    ranges.check_rate(rate, value)
    return rate


def time_of_day(text: str) -> int:
    """Seconds of the day from ``HH:MM`` or ``HH:MM:SS`` (``24:00`` is the day's end)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(re.fullmatch(r"[0-9]{1,2}", p) for p in parts):
        raise ValueError(f"bad time of day {excerpt(text)}: write HH:MM, such as \"08:00\"")
    h, m, s = (int(p) for p in (*parts, "0")[:3])
    if m > 59 or s > 59 or h > 24 or (h == 24 and (m or s)):
        raise ValueError(f"bad time of day {excerpt(text)}: hours 0-24, minutes and seconds 0-59")
    return h * 3600 + m * 60 + s


class Context:
    """The document under construction, with the checks and parsers every builder uses."""

    def __init__(self, doc: Document, scheduling: str) -> None:
        self.doc = doc
        self.scheduling = scheduling
        """``priority`` or ``affinity``: several rules depend on it."""

    def fail(self, loc: Loc, problem: str) -> ScenarioError:
        """The error for ``problem`` at ``loc``, naming the file, the path and the line."""
        return self.doc.error(loc, problem)

    def warn(self, loc: Loc, problem: str) -> None:
        """Warn about ``problem`` at ``loc`` (a ``SimbatchWarning`` at the caller's line)."""
        source, line = self.doc.origin(loc)
        at = f" (line {line})" if line is not None else ""
        warnings.warn(f"{source}: {shape.format_path(loc)}: {problem}{at}", SimbatchWarning,
                      stacklevel=caller_level())

    def parse(self, loc: Loc, parser: Callable[[Any], T], value: Any) -> T:
        """``parser(value)``, its ValueError turned into a ScenarioError at ``loc``."""
        try:
            return parser(value)
        except ValueError as exc:
            raise self.fail(loc, str(exc)) from None

    def distribution(self, loc: Loc, value: Any) -> Distribution:
        """A sampled time (``5m``, ``{normal: [...]}``, a file of samples) within the ranges."""
        try:
            dist = parse_time(value, self.doc.folder_of(loc))
            ranges.check_distribution(dist)
            return dist
        except ParameterError as exc:  # a parameter: named by its own path
            raise self.fail((*loc, *exc.at), str(exc)) from None
        except ValueError as exc:
            raise self.fail(loc, str(exc)) from None

    def zone(self, loc: Loc, name: str) -> ZoneInfo:
        """The IANA time zone called ``name``."""
        if name not in zone_names():  # also refuses names like "localtime" that vary by host
            raise self.fail(loc, f"unknown time zone {excerpt(name)} (use an IANA name such as"
                                 " Europe/Amsterdam)")
        return ZoneInfo(name)

    def moment(self, loc: Loc, value: Any, zone: ZoneInfo, *, day_end: bool = False
               ) -> dt.datetime:
        """A date and time in ``zone``; with ``day_end`` a date alone means its last instant."""
        if value is None or isinstance(value, bool | int | float | list | dict):
            raise self.fail(loc, f"bad date and time {excerpt(value)}: write it as"
                                 " 2026-01-05 22:00")
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime(value.year, value.month, value.day)
            if day_end:  # a date alone means the whole of that day
                moment += dt.timedelta(days=1, microseconds=-1)
        else:
            try:
                moment = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise self.fail(loc, f"bad date and time {excerpt(value)}: write it as"
                                     " 2026-01-05 22:00") from None
            if day_end and len(str(value).strip()) == 10:
                moment += dt.timedelta(days=1, microseconds=-1)
        if not YEARS[0] <= moment.year <= YEARS[1]:
            raise self.fail(loc, f"date {excerpt(value)} is outside the years {YEARS[0]} to"
                                 f" {YEARS[1]}")
        if moment.tzinfo is None:
            return moment.replace(tzinfo=zone)
        return moment.astimezone(zone)

    def daily_span(self, loc: Loc, start: str, end: str, what: str) -> tuple[int, int]:
        """A ``from``/``to`` pair of local times as seconds of the day (to may be 24:00)."""
        begin = self.parse((*loc, "from"), time_of_day, start)
        finish = self.parse((*loc, "to"), time_of_day, end)
        if begin == DAY:
            raise self.fail((*loc, "from"), f"a {what} cannot start at 24:00")
        if begin == finish % DAY:
            hint = ("; for a whole day set the server's threads instead" if what == "period"
                    else "")
            raise self.fail(loc, f"{what} from {excerpt(start)} to {excerpt(end)} is empty or a"
                                 " whole day"
                                 + hint)
        return begin, finish

    def window(self, loc: Loc, raw: schema.WindowIn) -> Window:
        """A daily window of local time on some weekdays (every day unless ``days`` says)."""
        begin, end = self.daily_span(loc, raw.start, raw.end, "window")
        days = tuple(range(7)) if raw.days is None else self.parse(
            (*loc, "days"), parse_days, raw.days)
        return Window(begin, end, days)
