"""Targets of a plan: ``METRIC OP VALUE [for KEY]``, read and matched to metric rows.

A target names a metric of ``simbatch.results.summary`` without its unit suffix
(``wait_p95`` is ``wait_p95_s``), so metrics added later (deadline misses, lateness) are
targets as soon as runs produce them: nothing here lists metric names.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from simbatch.errors import UsageError
from simbatch.scenario.timegrammar import NS, parse_duration_ns

__all__ = ["OPS", "Target", "parse_target"]

OPS = ("<=", "<", ">=", ">")
_TARGET = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|=<|=>|<|>|=)\s*(.*?)"
                     r"(?:\s+for\s+(.+?))?\s*$")


@dataclass(frozen=True)
class Target:
    """One target: ``metric op value`` for ``key``; ``value`` in the metric's unit.

    Times are in seconds and percents are fractions, as ``replicate`` reports them.
    """

    metric: str
    op: str
    value: float
    key: str = "all"
    kind: str = "number"
    """How the value was written: ``time``, ``percent`` or ``number``."""
    text: str = ""

    @property
    def upper(self) -> bool:
        """Whether the target bounds the metric from above (``<=`` or ``<``)."""
        return self.op in ("<=", "<")

    @property
    def label(self) -> str:
        """The target as a user writes it."""
        return self.text or f"{self.metric} {self.op} {self.value:g} for {self.key}"

    def within(self, x: float) -> bool:
        """Whether ``x`` satisfies the target."""
        return {"<=": x <= self.value, "<": x < self.value, ">=": x >= self.value,
                ">": x > self.value}[self.op]

    def column(self, produced: Iterable[tuple[str, str]]) -> str:
        """The metric name in ``replicate``'s rows; a clear error when runs lack it."""
        pairs = set(produced)
        names = {m for m, _ in pairs}
        name = next((n for n in (f"{self.metric}_s", self.metric) if n in names), None)
        if name is None:
            known = ", ".join(sorted({n.removesuffix("_s") for n in names}))
            raise UsageError(f"target {self.label!r}: the runs produce no metric"
                             f" {self.metric!r}; they produce: {known}")
        if self.kind == "time" and not name.endswith("_s"):
            raise UsageError(f"target {self.label!r}: {self.metric} is not a time; write a"
                             " number or a percent")
        if self.kind == "percent" and name.endswith("_s"):
            raise UsageError(f"target {self.label!r}: {self.metric} is a time; write a time"
                             " such as 2m")
        if (name, self.key) not in pairs:
            keys = ", ".join(repr(k) for k in sorted(k for m, k in pairs if m == name))
            raise UsageError(f"target {self.label!r}: the runs produce {self.metric} for"
                             f" {keys}, not for {self.key!r}; name one with 'for KEY'")
        return name


def parse_target(text: str) -> Target:
    """A target from ``METRIC OP VALUE [for KEY]``, such as ``wait_p95 <= 2m for Integration``.

    ``KEY`` may be quoted (``for "Master planning"``). Values: a time (``90s``, ``2m``),
    a percent (``5%``, as the fraction 0.05) or a plain number.
    """
    if not isinstance(text, str):
        raise UsageError(f"a target is text such as 'wait_p95 <= 2m for Integration',"
                         f" got {text!r}")
    match = _TARGET.match(text)
    if match is None:
        raise UsageError(f"target {text!r}: write METRIC OP VALUE [for KEY], such as"
                         " 'wait_p95 <= 2m for Integration'")
    metric, op, raw, key = match.groups()
    if op not in OPS:
        raise UsageError(f"target {text!r}: the comparison is one of <=, <, >=, >; got {op!r}")
    raw = raw.strip()
    if not raw:
        raise UsageError(f"target {text!r}: no value after {op!r}")
    kind = "number"
    try:
        if raw.endswith("%"):
            value, kind = float(raw[:-1]) / 100, "percent"
        else:
            try:
                value = float(raw)
            except ValueError:
                value, kind = parse_duration_ns(raw) / NS, "time"
    except ValueError:
        raise UsageError(f"target {text!r}: bad value {raw!r}; write a time such as 2m, a"
                         " percent such as 5% or a number") from None
    if not math.isfinite(value):
        raise UsageError(f"target {text!r}: bad value {raw!r}; it must be finite")
    if key is None:
        key = "all"
    else:
        key = key.strip()
        if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
            key = key[1:-1]
        if not key:
            raise UsageError(f"target {text!r}: name the key after 'for'")
    return Target(metric, op, value, key, kind, text.strip())
