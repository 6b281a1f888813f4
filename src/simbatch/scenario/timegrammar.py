"""The time grammar of scenario files: fixed durations and sampled distributions.

A time is written as a plain duration (``90s``, ``5m``, ``1h30m``, ``1w``), a bare
number of seconds, or a distribution such as ``{lognormal: {mean: 5m, sd: 2m}}``.
Parsers raise ``ValueError`` with a message that quotes the bad value; the scenario
loader adds the file and path.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np

from simbatch.errors import SimulationError, excerpt

__all__ = ["EMPIRICAL_BYTES", "MAX_TIME", "NS", "WEEKDAYS", "Distribution", "ParameterError",
           "epoch_ns", "format_seconds",
           "parse_days", "parse_duration_ns", "parse_every", "parse_rate", "parse_time"]

NS = 1_000_000_000
"""Nanoseconds per second: the engine's clock counts whole nanoseconds."""
MAX_TIME = 100 * 365 * 86_400 * NS
"""The longest time a scenario may write (100 years): its nanoseconds fit in 64 bits."""

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([wdhms])")
_WHOLE = re.compile(r"^\s*" + "".join(rf"(?:\d+(?:\.\d+)?\s*{u}\s*)?" for u in "wdhms") + "$",
                    re.ASCII)
_HINT = ("use a number with units s, m, h, d or w, largest first and each once, such as 90s,"
         " 5m or 1h30m")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def epoch_ns(moment: dt.datetime) -> int:
    """An aware moment as exact nanoseconds since the Unix epoch (true elapsed time).

    A local time that does not exist (skipped when clocks go forward) means the instant
    the clocks jump; an ambiguous one (repeated when they go back) means its first
    occurrence.
    """
    wall = moment.replace(tzinfo=None)
    first = moment.replace(fold=0)
    if first.astimezone(dt.UTC).astimezone(moment.tzinfo).replace(tzinfo=None) != wall:
        # in the gap: the jump is between the two readings of this wall time
        low = int(moment.replace(fold=1).timestamp())
        high = int(first.timestamp())
        while low < high:  # the first second whose local time is past this wall time
            mid = (low + high) // 2
            if dt.datetime.fromtimestamp(mid, moment.tzinfo).replace(tzinfo=None) >= wall:
                high = mid
            else:
                low = mid + 1
        return low * NS
    return (first - _EPOCH) // dt.timedelta(microseconds=1) * 1000


def parse_duration_ns(value: Any) -> int:
    """A fixed, non-negative duration as whole nanoseconds (``"1h30m"``, ``90``, ``"2.5s"``)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"bad time {excerpt(value)}: {_HINT}")
    if isinstance(value, int):
        seconds = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"bad time {excerpt(value)}: a time must be finite")
        seconds = Decimal(repr(value))
    elif isinstance(value, str):
        if value.strip().startswith("-") and _WHOLE.match(value.strip()[1:]):
            raise ValueError(f"bad time {excerpt(value)}: a time cannot be negative")
        if re.fullmatch(r"\s*\d+(\.\d+)?\s*", value, re.ASCII):  # seconds, as in a CSV cell
            return parse_duration_ns(float(value) if "." in value else int(value))
        if not value.strip() or not _WHOLE.match(value):
            raise ValueError(f"bad time {excerpt(value)}: {_HINT}")
        try:
            seconds = sum(
                (Decimal(n) * _UNITS[u] for n, u in _PART.findall(value)), Decimal(0)
            )
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
            raise ValueError(f"bad time {excerpt(value)}: {_HINT}") from exc
    else:
        raise ValueError(f"bad time {excerpt(value)}: {_HINT}")
    if seconds < 0:
        raise ValueError(f"bad time {excerpt(value)}: a time cannot be negative")
    if 0 < seconds < Decimal("1e-9"):
        raise ValueError(f"bad time {excerpt(value)}: shorter than a nanosecond, the clock's unit")
    if seconds * NS > MAX_TIME:
        raise ValueError(f"bad time {excerpt(value)}: a time is at most 100 years (36500d)")
    return int(seconds * NS)


def _seconds(value: Any) -> float:
    return parse_duration_ns(value) / NS


def format_seconds(seconds: float) -> str:
    """A compact human form of a time in seconds, as the grammar would write it (``1h30m``)."""
    if not math.isfinite(seconds):
        return str(seconds)
    whole = int(seconds)
    if whole != seconds or whole == 0:
        return f"{seconds:g}s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts)


@dataclass(frozen=True)
class Distribution:
    """A sampler of times in seconds; ``kind`` names the distribution, ``params`` its arguments."""

    kind: str
    params: tuple[float, ...]

    @property
    def mean(self) -> float:
        """The distribution's mean in seconds (of the truncated distribution for ``normal``)."""
        p = self.params
        if self.kind in ("constant", "exponential"):
            return p[0]
        if self.kind == "uniform":
            return (p[0] + p[1]) / 2
        if self.kind == "triangular":
            return (p[0] + p[1] + p[2]) / 3
        if self.kind == "normal":
            mean, sd = p
            if sd == 0:
                return mean
            a = mean / sd
            pdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
            cdf = 0.5 * (1 + math.erf(a / math.sqrt(2)))
            return mean + sd * pdf / cdf
        if self.kind in ("lognormal", "gamma"):
            return p[0]
        if self.kind == "weibull":
            scale, shape = p
            return scale * math.gamma(1 + 1 / shape)
        return float(np.mean(p))  # empirical

    def describe(self) -> str:
        """The distribution as the user wrote it, for messages."""
        if self.kind == "weibull":
            return (f"{{weibull: {{shape: {self.params[1]:g}, scale:"
                    f" {format_seconds(self.params[0])}}}}}")
        p = [format_seconds(x) for x in self.params]
        if self.kind in ("constant", "exponential"):
            return f"{{{self.kind}: {p[0]}}}"
        if self.kind in ("normal", "lognormal", "gamma"):
            return f"{{{self.kind}: {{mean: {p[0]}, sd: {p[1]}}}}}"
        if self.kind == "empirical" and len(p) > 6:
            p = [*p[:5], "…"]
        return f"{{{self.kind}: [{', '.join(p)}]}}"

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` samples in seconds; a negative or NaN sample is a ``SimulationError``."""
        p = self.params
        kind = self.kind
        if kind == "constant":
            out = np.full(size, p[0])
        elif kind == "exponential":
            out = rng.exponential(p[0], size)
        elif kind == "uniform":
            out = rng.uniform(p[0], p[1], size)
        elif kind == "triangular":
            out = rng.triangular(p[0], p[1], p[2], size) if p[0] < p[2] else np.full(size, p[0])
        elif kind == "normal":
            out = rng.normal(p[0], p[1], size)
            bad = out < 0
            while bad.any():  # truncated at 0 by redrawing, never by clipping
                out[bad] = rng.normal(p[0], p[1], int(bad.sum()))
                bad = out < 0
        elif kind == "lognormal":
            sigma2 = math.log1p((p[1] / p[0]) ** 2)
            out = rng.lognormal(math.log(p[0]) - sigma2 / 2, math.sqrt(sigma2), size)
        elif kind == "gamma":
            out = (
                rng.gamma((p[0] / p[1]) ** 2, p[1] ** 2 / p[0], size)
                if p[1] > 0
                else np.full(size, p[0])
            )
        elif kind == "weibull":
            out = p[0] * rng.weibull(p[1], size)
        else:  # empirical
            out = np.asarray(p)[rng.integers(0, len(p), size)]
        if np.isnan(out).any() or (out < 0).any():
            raise SimulationError(f"{self.describe()} sampled a negative or NaN time")
        return out


_KINDS = ("constant", "exponential", "uniform", "triangular", "normal", "lognormal", "gamma",
          "weibull", "empirical")


class ParameterError(ValueError):
    """A distribution's parameter is bad; ``at`` is its path below the time field, such as
    ``("lognormal", "sd")`` or ``("uniform", 1)``, so that a message names
    ``jobs.J.tasks.T.duration.lognormal.sd`` rather than the whole duration."""

    def __init__(self, problem: str, at: tuple[str | int, ...]) -> None:
        self.at = at
        super().__init__(problem)


def _param(value: Any, *at: str | int) -> float:
    """A time parameter in seconds; a bad one is a ``ParameterError`` at ``at``."""
    try:
        return _seconds(value)
    except ValueError as exc:
        raise ParameterError(str(exc), at) from None


def _list(value: Any, n: int, kind: str) -> list[float]:
    if not isinstance(value, list) or len(value) != n:
        raise ParameterError(f"{kind} takes a list of {n} times, got {excerpt(value)}", (kind,))
    return [_param(v, kind, i) for i, v in enumerate(value)]


def _mean_sd(value: Any, kind: str) -> tuple[float, float]:
    if not isinstance(value, dict) or set(value) != {"mean", "sd"}:
        raise ParameterError(f"{kind} takes {{mean: TIME, sd: TIME}}, got {excerpt(value)}",
                             (kind,))
    return _param(value["mean"], kind, "mean"), _param(value["sd"], kind, "sd")


EMPIRICAL_BYTES = 64 * 1024 * 1024
"""The largest file of samples an empirical distribution reads."""


def _empirical(value: Any, base_dir: Path | None) -> list[float]:
    kind = "empirical"
    if isinstance(value, list):
        if not value:
            raise ParameterError("empirical needs at least one time, got []", (kind,))
        return [_param(v, kind, i) for i, v in enumerate(value)]
    if not isinstance(value, dict) or set(value) != {"file", "column"}:
        raise ParameterError("empirical takes a list of times or {file: F, column: C},"
                             f" got {excerpt(value)}", (kind,))
    written = excerpt(str(value["file"]))
    path = Path(str(value["file"]))
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    import io

    import pandas as pd  # only an empirical distribution's file needs it

    from simbatch.scenario.yamlfile import read_text

    try:
        text = read_text(path, EMPIRICAL_BYTES, "a CSV")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except OSError as exc:
        raise ParameterError(f"empirical file {written} cannot be read:"
                             f" {exc.strerror or exc}", (kind, "file")) from None
    except ValueError as exc:
        reason = excerpt(" ".join(str(exc).split()), quoted=False)
        raise ParameterError(f"empirical file {written} cannot be read: {reason}",
                             (kind, "file")) from None
    column = str(value["column"])
    if column not in frame.columns:
        raise ParameterError(
            f"empirical file {written} has no column {excerpt(column)}"
            f" (it has {excerpt(', '.join(map(str, frame.columns)), quoted=False)})",
            (kind, "column"))
    cells = frame[column].tolist()
    if not cells:
        raise ParameterError(f"empirical column {excerpt(column)} of {written} is empty",
                             (kind, "column"))
    times = []
    for row, cell in enumerate(cells, start=2):  # row 1 is the header
        try:
            times.append(_seconds(cell.strip()))
        except ValueError as exc:
            raise ParameterError(f"empirical file {written}, column {excerpt(column)},"
                                 f" row {row}: {exc}", (kind, "file")) from None
    return times


def _weibull(value: Any) -> list[float]:
    """``{shape: K, scale: TIME}`` as (scale in seconds, shape)."""
    if not isinstance(value, dict) or set(value) != {"shape", "scale"}:
        raise ParameterError("weibull takes {shape: NUMBER, scale: TIME}, got"
                             f" {excerpt(value)}", ("weibull",))
    shape = value["shape"]
    if (isinstance(shape, bool) or not isinstance(shape, int | float)
            or not math.isfinite(shape) or shape <= 0):
        raise ParameterError(f"weibull needs a shape above 0, got {excerpt(shape)}",
                             ("weibull", "shape"))
    scale = _param(value["scale"], "weibull", "scale")
    if scale == 0:
        raise ParameterError(f"weibull needs a scale above 0, got {excerpt(value['scale'])}",
                             ("weibull", "scale"))
    return [scale, float(shape)]


def parse_time(value: Any, base_dir: Path | None = None) -> Distribution:
    """A time field as a ``Distribution``: plain durations become ``constant``.

    A bad parameter of a distribution is a ``ParameterError`` (a ``ValueError``) whose
    ``at`` names it below the field; other problems are plain ``ValueError``s.
    """
    if not isinstance(value, dict):
        return Distribution("constant", (_seconds(value),))
    if len(value) != 1:
        raise ValueError(f"a distribution has exactly one kind ({', '.join(_KINDS)}),"
                         f" got {excerpt(value)}")
    ((kind, arg),) = value.items()
    if kind not in _KINDS:
        raise ValueError(f"unknown distribution {excerpt(kind)}: use one of {', '.join(_KINDS)}")
    if kind in ("constant", "exponential"):
        params = [_param(arg, kind)]
        if kind == "exponential" and params[0] == 0:
            raise ParameterError(f"exponential needs a mean above 0, got {excerpt(arg)}",
                                 (kind,))
    elif kind == "uniform":
        params = _list(arg, 2, kind)
        if params[0] > params[1]:
            raise ParameterError(f"uniform needs [low, high] with low <= high, got"
                                 f" {excerpt(arg)}", (kind,))
    elif kind == "triangular":
        params = _list(arg, 3, kind)
        if not params[0] <= params[1] <= params[2]:
            raise ParameterError(f"triangular needs [min, mode, max] in that order, got"
                                 f" {excerpt(arg)}", (kind,))
    elif kind == "empirical":
        params = _empirical(arg, base_dir)
    elif kind == "weibull":
        params = _weibull(arg)
    else:
        params = list(_mean_sd(arg, kind))
        if kind in ("lognormal", "gamma") and params[0] == 0:
            raise ParameterError(f"{kind} needs a mean above 0, got"
                                 f" {excerpt(arg['mean'])}", (kind, "mean"))
    return Distribution(kind, tuple(params))


# ---- calendar words: weekdays, rates, recurrence steps ----------------------------------------

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekdays as a scenario writes them, Monday (0) first."""
_LONG_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _weekday(word: str) -> int:
    key = word.strip().lower()
    if key in WEEKDAYS:
        return WEEKDAYS.index(key)
    if key in _LONG_WEEKDAYS:
        return _LONG_WEEKDAYS.index(key)
    raise ValueError(f"unknown weekday {excerpt(word)}: use mon, tue, wed, thu, fri, sat or sun")


def parse_days(value: Any) -> tuple[int, ...]:
    """Weekdays (0 = Monday) from ``mon-fri``, ``sat,sun``, ``[mon, fri]`` or ``mon``."""
    words = value if isinstance(value, list) else str(value).split(",")
    if not words:
        raise ValueError("an empty list of weekdays: name at least one, such as mon-fri")
    days: list[int] = []
    for word in words:
        if not isinstance(word, str) or not word.strip():
            raise ValueError(f"bad weekdays {excerpt(value)}: write mon-fri, sat,sun or [mon, fri]")
        if "-" in word:
            first, last = (_weekday(w) for w in word.split("-", 1))
            days.extend((first + i) % 7 for i in range((last - first) % 7 + 1))
        else:
            days.append(_weekday(word))
    if len(set(days)) != len(days):
        raise ValueError(f"weekdays {excerpt(value)} name a day twice")
    return tuple(sorted(days))


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*([wdhms])\s*$")


def parse_rate(value: Any) -> float:
    """A rate such as ``60/h`` or ``2/m``, per second."""
    match = _RATE.match(str(value)) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"bad rate {excerpt(value)}: write a count per unit, such as 60/h or 2/m")
    return float(match.group(1)) / _UNITS[match.group(2)]


_EVERY = re.compile(r"^\s*(\d+)\s*(mo|y|w|d|h|m)\s*$")


def parse_every(value: Any) -> tuple[int, str]:
    """A recurrence step such as ``15m``, ``2h``, ``1d``, ``1w``, ``1mo`` or ``1y``."""
    match = _EVERY.match(value) if isinstance(value, str) else None
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"bad recurrence step {excerpt(value)}: write a whole number and one"
                         " unit of m, h, d, w, mo or y, such as 15m, 1d or 1mo")
    return int(match.group(1)), match.group(2)
