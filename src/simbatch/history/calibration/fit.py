"""Calibration: fit a scenario document to a batch history, with the evidence beside each value.

``calibrate(history)`` turns a ``History`` (``simbatch.history.read``) into a scenario
document (a ruamel.yaml ``CommentedMap``) that ``simbatch.load`` accepts and a person can
read and edit. Every fitted value carries a comment with its evidence, and the header
names the period, the row counts and what the history could not show. Data flows one way:
history -> calibrate -> the same loading -> engine. docs/how-to/history-and-calibration.md states
every rule used here;
the inferences live beside this module: ``topology``, ``schedules``, ``durations``,
``dependencies``, and ``jobs`` (a job's whole document).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from ruamel.yaml.comments import CommentedMap

from simbatch.errors import UsageError
from simbatch.files import write_text
from simbatch.history.calibration.contention import database_section
from simbatch.history.calibration.document import thousands, yaml_writer
from simbatch.history.calibration.durations import FEW, KS_FITS
from simbatch.history.calibration.jobs import job_document
from simbatch.history.calibration.topology import infer_topology
from simbatch.history.read import History
from simbatch.scenario.load import load
from simbatch.scenario.spec import Scenario

__all__ = ["Calibration", "calibrate"]

@dataclass(frozen=True)
class Calibration:
    """A fitted scenario document (``document``, comments included) and the history it came from."""

    document: CommentedMap
    history: History

    @property
    def text(self) -> str:
        """The document as YAML, comments and all."""
        stream = io.StringIO()
        yaml_writer().dump(self.document, stream)
        return stream.getvalue()

    def scenario(self) -> Scenario:
        """The document loaded and validated as a ``Scenario``."""
        return load(self.document)

    def write(self, out: str | Path) -> Scenario:
        """Write the YAML to ``out``, then load it back with ``simbatch.load`` to check it."""
        return load(write_text(out, self.text))


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
    topo, notes = infer_topology(history, topology)
    if timezone is None:
        timezone = load(topology).timezone if topology is not None else "UTC"
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"unknown time zone {timezone!r} (use an IANA name such as"
                         f" Europe/Amsterdam): {exc}") from None
    history, database = database_section(history, notes)  # when durations grow with load
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
    if database is not None:
        doc["database"], evidence = database
        doc.yaml_add_eol_comment(evidence, "database")
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
        job_doc, group = job_document(jname, runs_by_job[jname], rows, history, zone, period,
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
        f"Rows: {thousands(len(history.jobs))} job runs (BatchJobHistory),"
        f" {thousands(len(history.tasks))} task runs (BatchHistory),"
        f" {thousands(len(history.constraints))} dependencies (BatchConstraints).",
        "Rules: durations fitted by AIC among lognormal, gamma, weibull and exponential, used"
        f" when KS <= max({KS_FITS:g}, 1.36/sqrt(n)); empirical under {FEW} runs or when"
        " nothing fits.",
        "Comments give each value's evidence; 'inferred' marks what timing alone suggests.",
        "What the history could not show:",
        *(f"  - {note}" for note in notes),
        *(f"  - {gap}" for gap in history.gaps),
    ]
    return "\n".join(lines)
