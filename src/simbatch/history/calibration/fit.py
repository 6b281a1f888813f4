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

from simbatch.errors import HistoryError, SimbatchError, UsageError
from simbatch.files import write_text
from simbatch.history.calibration.contention import database_section
from simbatch.history.calibration.dependencies import check_cycles
from simbatch.history.calibration.document import thousands, yaml_writer
from simbatch.history.calibration.durations import FEW, KS_FITS
from simbatch.history.calibration.gaps import (
    check_budget,
    check_period,
    check_retries,
    history_notes,
)
from simbatch.history.calibration.jobs import job_document
from simbatch.history.calibration.topology import infer_topology, restarts
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
        """Write the YAML to ``out``, then load it back with ``simbatch.load`` to check it.

        The document is checked before anything is written: a calibration that fails its
        own check is a ``HistoryError`` naming the history, and ``out`` is left as it was.
        """
        path = Path(out)
        try:
            load(self.document)
        except SimbatchError as exc:
            raise HistoryError(", ".join(self.history.sources) or "history",
                               f"the scenario calibrated from it fails its own check, so"
                               f" nothing was written to {path}: {exc}") from None
        written = write_text(path, self.text)
        try:
            return load(written)
        except SimbatchError:
            written.unlink(missing_ok=True)
            raise


# ---- the document ---------------------------------------------------------------------------

def calibrate(history: History, timezone: str | None = None,
              topology: str | Path | Mapping[str, Any] | Scenario | None = None,
              name: str | None = None, max_attempts: int | None = None) -> Calibration:
    """Fit a scenario to ``history``: jobs, tasks, schedules, failures and topology.

    ``timezone`` (an IANA name) is the zone recurrences and arrival profiles are read in:
    by default the topology's, else UTC. ``topology`` is a scenario (file, mapping or
    object) whose servers, groups, scheduling, outages and maintenance are used instead of
    those inferred; its jobs' deadlines are carried over to the calibrated jobs of the same
    name (no history holds a deadline). ``max_attempts`` bounds the task rows read (the
    work budget, as for a simulation): a ``BudgetError`` above it. Refused with a
    ``HistoryError`` naming the history file and row: a cycle in the constraints, times no
    scenario can hold, a history without any due time.
    """
    if not isinstance(history, History):
        raise UsageError(f"calibrate takes a History (from simbatch.read_history), got"
                         f" {type(history).__name__}")
    check_budget(history, max_attempts, "calibration")
    jobs, tasks = history.jobs, history.tasks
    if jobs.empty:
        raise UsageError("the history has no job runs to calibrate from")
    check_period(history)
    check_retries(history)
    check_cycles(history)
    topo, notes = infer_topology(history, topology)
    given = load(topology) if topology is not None else None
    if timezone is None:
        timezone = given.timezone if given is not None else "UTC"
    try:
        zone = ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:
        raise UsageError(f"unknown time zone {timezone!r} (use an IANA name such as"
                         f" Europe/Amsterdam): {exc}") from None
    history, database = database_section(history, notes)  # when durations grow with load
    jobs, tasks = history.jobs, history.tasks
    if given is not None and (given.outages or given.maintenance):
        tasks = tasks.assign(restarts=restarts(tasks, given))
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
    groups: dict[str, str | None] = {}
    sources: dict[str, list[int]] = {}
    due = jobs["scheduled"].where(jobs["scheduled"].notna(), jobs["start"])
    first_due = due.groupby(jobs["job"], observed=True).min().sort_values(kind="stable")
    order = [str(j) for j in first_due.index]
    rows_by_job = {str(k): v for k, v in tasks.groupby("job", observed=True)}
    runs_by_job = {str(k): v for k, v in jobs.groupby("job", observed=True)}
    deadlines = _deadlines(given)
    for jname in order:
        rows = rows_by_job.get(jname)
        if rows is None or jname not in runs_by_job:
            continue  # no task rows: named in the header's gaps
        job_doc, fit = job_document(jname, runs_by_job[jname], rows, history, zone, period,
                                    scheduling, known)
        if fit.group is not None and "group" in job_doc:
            groups.setdefault(fit.group, None)
            if fit.group_priority is not None:
                groups[fit.group] = fit.group_priority
        if deadlines.get(jname) is not None:
            job_doc.insert(len(job_doc) - 1, "deadline", deadlines[jname],
                           comment="from the topology file: no history holds a deadline")
        notes.extend(fit.notes)
        kind, with_any, runs = fit.dependencies
        counts = sources.setdefault(kind, [0, 0, 0, 0])
        counts[0] += 1
        counts[1] += with_any > 0
        counts[2] += with_any
        counts[3] += runs
        job_docs[jname] = job_doc
    _groups(doc, groups, scheduling)
    doc["jobs"] = job_docs
    for kind, (n, some, with_any, runs) in sources.items():
        notes.append(f"dependencies of {n} jobs from {_SOURCES.get(kind, kind)}: {some} of them"
                     f" have some, found in {with_any} of their {runs} runs")
    warning = history.looks_local(zone.key)  # the reader's rule; the CLI prints it too
    if warning is not None:
        notes.insert(0, "WARNING: " + warning)
    notes.extend(history_notes(history))
    if given is None:
        notes.append("deadlines: no history holds one; give the scenario you compare against"
                     " as the topology to carry its jobs' deadlines over")
    doc.yaml_set_start_comment(_header(history, first, last, origin, days, zone, notes))
    return Calibration(doc, history)


_SOURCES = {"BatchConstraintsHistory": "BatchConstraintsHistory (per run)",
            "BatchConstraints": "BatchConstraints (the jobs as set up, for every run)",
            "timing": "timing (no constraints table: an order that holds in every run)"}


def _deadlines(given: Scenario | None) -> dict[str, Any]:
    """Each job's ``deadline:`` as the topology file writes it (no history holds one)."""
    if given is None:
        return {}
    jobs = given.document.get("jobs") or {}
    return {str(name): job.get("deadline") for name, job in jobs.items()
            if isinstance(job, Mapping) and job.get("deadline") is not None}


def _groups(doc: CommentedMap, groups: dict[str, str | None], scheduling: str) -> None:
    """The groups the jobs use, with the priority BatchGroup gave them."""
    named = {g: p for g, p in groups.items() if g != "default" or p not in (None, "normal")}
    if not named:
        return
    section = doc.setdefault("groups", CommentedMap())
    for g in sorted(named):
        if g not in section:
            section[g] = CommentedMap()
            section[g].fa.set_flow_style()
        priority = named[g]
        if priority is not None and scheduling == "priority" and "priority" not in section[g]:
            section[g]["priority"] = priority
            section.yaml_add_eol_comment("BatchGroup.SchedulingPriority", g)


def _header(history: History, first: pd.Timestamp, last: pd.Timestamp, origin: pd.Timestamp,
            days: int, zone: ZoneInfo, notes: list[str]) -> str:
    table = (history.constraints_source if history.constraints_source != "timing"
             else "BatchConstraints")
    lines = [
        "Calibrated by simbatch from a Dynamics 365 F&O batch history.",
        f"Sources: {', '.join(history.sources)}",
        f"Period: {first.tz_convert(zone):%Y-%m-%d %H:%M} to"
        f" {last.tz_convert(zone):%Y-%m-%d %H:%M} ({zone.key}); the scenario covers {days}"
        f" days from {origin:%Y-%m-%d}.",
        f"Rows: {thousands(len(history.jobs))} job runs (BatchJobHistory),"
        f" {thousands(len(history.tasks))} task runs (BatchHistory),"
        f" {thousands(len(history.constraints))} dependencies ({table}).",
        "Rules: durations fitted by AIC among lognormal, gamma, weibull and exponential, used"
        f" when KS <= max({KS_FITS:g}, 1.36/sqrt(n)); empirical under {FEW} runs or when"
        " nothing fits.",
        "Comments give each value's evidence; 'inferred' marks what timing alone suggests.",
        "What the history could not show:",
        *(f"  - {note}" for note in notes),
        *(f"  - {gap}" for gap in history.gaps),
        *(["How the export was read:"] if history.notes else []),
        *(f"  - {note}" for note in history.notes),
    ]
    return "\n".join(lines)
