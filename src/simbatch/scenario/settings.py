"""Settings to vary in a plan or a sweep: a setting (or several tied together) and its values.

``--vary PATH=SPEC`` (``parse_vary``) or ``vary={PATH: values}`` names one, where SPEC is:
- whole numbers ``LO..HI`` or ``LO..HI/STEP`` (threads, concurrency limits, runtime-task
  counts, the server count ``servers.count``);
- times of day ``22:00..02:00/15m`` (a start keeps its date, and a range that crosses
  midnight goes on into the next day);
- values in order, separated by commas: ``normal,high,critical``, ``none,low,medium``,
  ``true,false``.

PATH may be a pattern (``servers.*.threads``: one value for every server), a named tie
(``ties={"night": [path, ...]}``, ``--tie night=PATH,PATH``), or ``servers.count`` /
``servers.count(AOS1)`` (servers added as copies of the named one, or removed).

Each variable knows its base: the value the base scenario has (a setting it leaves out
counts as its default, and a job without a priority has its group's), and how far a value
is from it (``step``): list positions for values in order, minutes for times, the
difference for numbers. A base value that is not among the listed values makes every
value a change, and value k then steps k + 1.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from simbatch.errors import UsageError
from simbatch.scenario.paths import (
    changes_for,
    count_template,
    expand,
    get_value,
    parse_path,
)
from simbatch.scenario.timegrammar import NS, parse_duration_ns

__all__ = ["MAX_VALUES", "Variable", "make_variable", "parse_vary", "split_vary"]

MAX_VALUES = 10_000
"""The most values one variable may take: a range past this is refused before any run."""
DAY_MIN = 1440
_DATED = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})(?::00)?$")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")
_TOP_DEFAULTS: dict[str, Any] = {"reserved_capacity": "none", "throttle": True,
                                 "scheduling": "priority", "platform": "cloud"}
_GROUP_DEFAULTS: dict[str, Any] = {"priority": "normal", "max_concurrency": 0}


@dataclass(frozen=True)
class Variable:
    """One variable: the paths it sets, its values in order and where the base stands."""

    key: str
    """As the user named it: a path, a pattern, a tie's name or ``servers.count``."""
    paths: tuple[str, ...]
    values: tuple[Any, ...]
    """The values written into the scenario, in order."""
    kind: str
    """number, count (the server count), category or time."""
    positions: tuple[float, ...]
    """Where each value stands: the number, the list position, or minutes."""
    base: int | None
    """The index of the base's value, None when the base's value is not listed."""
    base_position: float | None
    template: str | None = None
    """For the server count: the server copied."""

    @property
    def numeric(self) -> bool:
        """Whether the values are whole numbers in ascending order (a capacity candidate)."""
        return self.kind in ("number", "count")

    def changed(self, k: int) -> bool:
        """Whether value ``k`` differs from the base's."""
        return k != self.base

    def step(self, k: int) -> float:
        """How far value ``k`` is from the base's: positions for values in order, minutes
        for times, the difference for numbers (k + 1 when the base's is not listed)."""
        if self.base_position is None:
            return float(k + 1)
        return abs(self.positions[k] - self.base_position)

    def setting(self, k: int) -> dict[str, Any]:
        """What value ``k`` sets, by path (``changes_for`` writes it; ``servers.count``
        included)."""
        return {path: self.values[k] for path in self.paths}

    def label(self, k: int) -> str:
        """``key=value`` as messages print it."""
        return f"{self.key}={self.values[k]}"


def split_vary(text: str, what: str = "--vary") -> tuple[str, str]:
    """``PATH=SPEC`` as its path and spec; one message when it is not written so."""
    if not isinstance(text, str):
        raise UsageError(f"{what}: write PATH=SPEC as text, got {text!r}")
    path, sep, spec = text.partition("=")
    if not sep or not path.strip() or not spec.strip():
        raise UsageError(f"{what} {text!r}: write PATH=LO..HI (whole numbers, /STEP to"
                         " skip), PATH=22:00..02:00/15m (times) or PATH=A,B,C (values in"
                         " order), such as jobs.Nightly.priority=normal,high,critical")
    return path.strip(), spec.strip()


def parse_vary(text: str) -> tuple[str, range]:
    """``PATH=LO..HI`` (whole numbers, both included) as a path and a range."""
    path, spec = split_vary(text)
    parse_path(path)
    numbers = _number_range(spec, f"--vary {text!r}")
    if numbers is None:
        raise UsageError(f"--vary {text!r}: write PATH=LO..HI with whole numbers, such as"
                         " servers.AOS1.periods[1].threads=4..16")
    return path, numbers


def _number_range(spec: str, what: str) -> range | None:
    """``LO..HI`` or ``LO..HI/STEP`` of whole numbers as a range; None when not numbers."""
    span, _, step = spec.partition("/")
    low, dots, high = span.partition("..")
    if not dots:
        return None
    try:
        lo, hi = int(low.strip()), int(high.strip())
        by = int(step.strip()) if step.strip() else 1
    except ValueError:
        return None
    if lo > hi:
        raise UsageError(f"{what}: LO {lo} is above HI {hi}")
    if by < 1:
        raise UsageError(f"{what}: the step is a whole number of at least 1, got {by}")
    _bounded((hi - lo) // by + 1, what)  # counted, not len(): a range may outgrow ssize_t
    return range(lo, hi + 1, by)


def _bounded(count: int, what: str) -> None:
    """Refuse more values than ``MAX_VALUES`` before anything is built or run."""
    if count > MAX_VALUES:
        raise UsageError(f"{what}: {count:,} values, more than the {MAX_VALUES:,} a"
                         " variable may take; narrow the range or take a larger step")


def _minutes(text: str) -> int | None:
    """``HH:MM`` as minutes of the day; None when it is not a time of day."""
    match = _CLOCK.match(text.strip())
    if match is None:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    return hours * 60 + minutes if hours < 24 and minutes < 60 else None


def _time_range(spec: str, what: str) -> list[int] | None:
    """``22:00..02:00/15m`` as minutes from the first day's midnight (crossing midnight
    goes on past 1440); None when the ends are not times of day."""
    span, _, step = spec.partition("/")
    low, dots, high = span.partition("..")
    lo, hi = _minutes(low), _minutes(high)
    if not dots or lo is None or hi is None:
        return None
    try:
        by = parse_duration_ns(step.strip() or "15m") / NS / 60
    except ValueError:
        raise UsageError(f"{what}: bad step {step!r}; write a time such as 15m") from None
    if by < 1 or by != int(by):
        raise UsageError(f"{what}: the step is whole minutes, at least 1m, got {step!r}")
    if hi < lo:
        hi += DAY_MIN
    out = list(range(lo, hi + 1, int(by)))
    _bounded(len(out), what)
    return out


def _items(spec: str, what: str) -> list[Any]:
    """``A,B,C`` as YAML flow items (``true`` a boolean, ``8`` a number, else text)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        parsed = YAML(typ="safe", pure=True).load(f"[{spec}]")
    except YAMLError as exc:
        problem = str(getattr(exc, "problem", "") or exc).strip()
        raise UsageError(f"{what}: cannot read the values ({problem})") from None
    return list(parsed or [])


def _whole(x: Any) -> bool:
    """Whether ``x`` is a whole number (a boolean is not)."""
    return isinstance(x, int) and not isinstance(x, bool)


def _base_value(document: Mapping[str, Any], path: str) -> Any:
    """The base's value at ``path``, or the default it stands for when the file leaves it out."""
    parts = parse_path(path)
    try:
        return get_value(document, path)
    except UsageError:
        pass
    if len(parts) == 1:
        return _TOP_DEFAULTS.get(str(parts[0]))
    if parts[0] == "groups" and len(parts) == 3:
        return _GROUP_DEFAULTS.get(str(parts[2]))
    if parts[0] == "jobs" and len(parts) == 3 and parts[2] == "priority":
        job = (document.get("jobs") or {}).get(parts[1]) or {}
        group = (document.get("groups") or {}).get(job.get("group", "default")) or {}
        return group.get("priority", "normal")
    if parts[0] == "jobs" and len(parts) == 3 and parts[2] == "start":
        return document.get("start")
    return None


def make_variable(document: Mapping[str, Any], key: str, values: Any,
                  ties: Mapping[str, Sequence[str]] | None = None) -> Variable:
    """The variable ``key`` over ``values``: a spec text, a range of whole numbers, or a
    list of values in order."""
    what = f"vary {key!r}"
    ties = ties or {}
    template = None if key in ties else count_template(document, key)
    if template is not None:
        paths: tuple[str, ...] = (key,)
        bases: list[Any] = [len(document.get("servers") or {})]
    else:
        listed = ties.get(key, [key])
        if isinstance(listed, str) or not listed:
            raise UsageError(f"tie {key!r}: list the paths it ties, such as"
                             " ['servers.AOS1.threads', 'servers.AOS2.threads']")
        paths = tuple(dict.fromkeys(p for pattern in listed
                                    for p in expand(document, pattern, "vary")))
        bases = []
        for path in paths:
            changes_for(document, {path: 0})  # above its last key the path must exist
            bases.append(_base_value(document, path))
    base = bases[0] if all(_same(b, bases[0]) for b in bases) else None
    listed_values, kind, positions = _values(values, base, what)
    if template is not None:
        kind = "count"
        if not all(_whole(v) and v >= 1 for v in listed_values):
            raise UsageError(f"{what}: the server count is whole numbers from 1")
    base_index: int | None
    base_position: float | None
    if kind == "time":
        written, base_position = _times(positions, base, what)
        base_index = next((i for i, p in enumerate(positions) if p == base_position), None)
    else:
        written = tuple(listed_values)
        base_index = _index(listed_values, base)
        base_position = (positions[base_index] if base_index is not None else
                         float(base) if kind in ("number", "count") and isinstance(base, int)
                         else None)
    if len(set(positions)) != len(positions):
        raise UsageError(f"{what}: a value is given twice")
    return Variable(key, paths, written, kind, tuple(positions), base_index, base_position,
                    template)


def _same(a: Any, b: Any) -> bool:
    """Whether two values are the same setting (text compared without case)."""
    return (type(a) is type(b) and a == b) or (isinstance(a, str) and isinstance(b, str)
                                             and a.lower() == b.lower())


def _index(values: Sequence[Any], base: Any) -> int | None:
    """Where ``base`` is among ``values``; None when it is not listed."""
    return next((i for i, v in enumerate(values) if _same(v, base)), None)


def _values(values: Any, base: Any, what: str) -> tuple[list[Any], str, list[float]]:
    """The listed values, their kind and positions (times: minutes, the day's midnight 0)."""
    if isinstance(values, str):
        numbers = _number_range(values, what)
        if numbers is not None:
            return list(numbers), "number", [float(v) for v in numbers]
        minutes = _time_range(values, what)
        if minutes is not None:
            return [], "time", [float(m) for m in minutes]
        if "," not in values:
            raise UsageError(f"{what}: write LO..HI (whole numbers, /STEP to skip),"
                             " 22:00..02:00/15m (times) or A,B,C (values in order), such as"
                             f" PATH=LO..HI; got {values!r}")
        items = _items(values, what)
    elif isinstance(values, Mapping) or not isinstance(values, Iterable):
        raise UsageError(f"{what}: give a range of whole numbers or a list of values in"
                         f" order, got {values!r}")
    else:
        items = list(values)
    if not items:
        raise UsageError(f"{what}: the range is empty")
    _bounded(len(items), what)
    if all(_whole(v) for v in items):
        ordered = sorted(set(items))
        return ordered, "number", [float(v) for v in ordered]
    clocks = [_minutes(v) if isinstance(v, str) else None for v in items]
    if all(m is not None for m in clocks) and (_minutes(str(base)) is not None or
                                               _DATED.match(str(base)) is not None):
        out: list[float] = []
        for m in clocks:
            assert m is not None
            value = float(m)
            while out and value <= out[-1]:
                value += DAY_MIN
            out.append(value)
        return [], "time", out
    for i, item in enumerate(items):
        if any(_same(item, other) for other in items[:i]):
            raise UsageError(f"{what}: the value {item!r} is given twice")
    return items, "category", [float(i) for i in range(len(items))]


def _times(positions: list[float], base: Any, what: str) -> tuple[tuple[Any, ...], float | None]:
    """Times as written (a dated start keeps its date) and where the base stands."""
    text = str(base) if base is not None else ""
    dated = _DATED.match(text)
    clock = _minutes(text)
    if dated is None and clock is None:
        raise UsageError(f"{what}: times of day vary a start or a from/to time; the"
                         f" scenario has {base!r} there")
    low, high = positions[0], positions[-1]
    b = (int(dated.group(2)) * 60 + int(dated.group(3))) if dated else clock
    assert b is not None
    # a window that crosses midnight holds an early base on its second day
    b_pos = float(b + DAY_MIN) if high >= DAY_MIN and b < low and b + DAY_MIN <= high else float(b)
    if dated is None:
        return tuple(f"{int(m) % DAY_MIN // 60:02d}:{int(m) % 60:02d}" for m in positions), b_pos
    midnight = dt.datetime.fromisoformat(dated.group(1)) - dt.timedelta(
        days=1 if b_pos >= DAY_MIN else 0)
    written = tuple((midnight + dt.timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M")
                    for m in positions)
    return written, b_pos
