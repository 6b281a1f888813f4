"""The calibrated document's YAML: round-trip maps in flow style, and how values are written.

Times as the scenario grammar writes them, counts, weekdays and rates for the evidence
comments; every module of ``simbatch.history.calibration`` writes through these.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from simbatch.scenario.timegrammar import WEEKDAYS, format_seconds

__all__ = ["clock_text", "commented", "days_text", "flow_list", "flow_map", "hhmm",
           "rate_text", "scenario_time", "thousands", "yaml_writer"]

"""Weekday names as the scenario format writes them, Monday first."""


def yaml_writer() -> YAML:
    """The round-trip YAML writer of calibrated documents (comments kept, 100 columns)."""
    yaml = YAML(typ="rt")
    yaml.width = 100
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def flow_map(data: Mapping[str, Any]) -> CommentedMap:
    """A mapping written on one line (``{threads: 8}``), nested mappings too."""
    out = CommentedMap()
    for key, value in data.items():
        out[key] = flow_map(value) if isinstance(value, Mapping) else value
    out.fa.set_flow_style()
    return out


def flow_list(items: list[Any]) -> CommentedSeq:
    """A list written on one line (``[mon, tue]``)."""
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def scenario_time(seconds: float) -> str:
    """A time as the grammar writes it: ``4m10s`` from 100 s on, else ``42.5s``."""
    if seconds >= 100:
        return format_seconds(round(seconds))
    value = round(seconds, 2)
    return f"{value:.2f}".rstrip("0").rstrip(".") + "s" if value > 0 else "0s"


def clock_text(seconds: float) -> str:
    """A time for comments: ``4m10s``, ``42s``."""
    return format_seconds(round(seconds)) if seconds >= 1 else f"{seconds:.2g}s"


def thousands(n: int) -> str:
    return f"{n:,}"


def days_text(days: list[int]) -> str:
    """Weekdays as ``mon-fri`` when consecutive, else ``mon,wed``."""
    days = sorted(days)
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return f"{WEEKDAYS[days[0]]}-{WEEKDAYS[days[-1]]}"
    return ",".join(WEEKDAYS[d] for d in days)


def hhmm(second: int) -> str:
    return f"{second // 3600:02d}:{second // 60 % 60:02d}"


def rate_text(per_hour: float) -> str:
    text = f"{per_hour:.4f}".rstrip("0").rstrip(".")
    return f"{text if text != '0' else '0.0001'}/h" if per_hour > 0 else "0/h"


def commented(data: Any) -> Any:
    if isinstance(data, Mapping):
        out = CommentedMap()
        for k, v in data.items():
            out[k] = commented(v)
        return out
    if isinstance(data, list):
        return CommentedSeq([commented(v) for v in data])
    return data
