"""Loading scenarios in phases, as Ciw's importer does.

1. read: YAML 1.2 with line numbers, following ``extends:`` (``simbatch.scenario.shape``);
2. shape: known keys, types, ranges, defaults (pydantic models in ``simbatch.scenario.shape``);
3. build: meaning, cross-references, cycles, time grammar and calendars, checked while the
   frozen objects of ``simbatch.scenario.spec`` are built, part by part, by the modules of
   ``simbatch.scenario.build`` (topology, jobs, calendars, downtime); then the likely
   mistakes of a valid scenario are warned about (``simbatch.scenario.lint``).

Every problem becomes one ``ScenarioError`` naming the file, the path and the bad value.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simbatch.errors import ScenarioError, excerpt
from simbatch.scenario import lint, schema, shape
from simbatch.scenario.build import calendars, downtime, jobs, topology
from simbatch.scenario.build.context import Context
from simbatch.scenario.shape import Document
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import parse_duration_ns

__all__ = ["load", "load_changed", "load_document"]


def load(source: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """Load and validate a scenario from a YAML file path or a mapping."""
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return _build(shape.from_mapping(source))
    doc = shape.read_file(source, quick=True)
    if doc.located:
        return _build(doc)
    # read quickly, without lines: a message or a warning needs them, so read it again
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scenario = _build(doc)
    except ScenarioError:
        caught = [None]  # type: ignore[list-item]
    if caught:
        return _build(shape.read_file(source))
    return scenario


def load_changed(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """``scenario`` with ``changes`` deep-merged into its document, validated anew.

    ``Scenario.with_changes`` calls this, through the ``reload`` field every scenario
    built here carries.
    """
    if not isinstance(changes, Mapping):
        raise ScenarioError(scenario.source, "",
                            f"changes must be a mapping, got {excerpt(changes)}")
    try:
        merged = shape.merge(scenario.document, changes)
    except shape.MergeError as exc:
        raise ScenarioError(f"{scenario.source} (with changes)", shape.format_path(exc.loc),
                            str(exc)) from None
    return load_document(merged, f"{scenario.source} (with changes)", scenario.folder,
                         scenario.name)


def load_document(data: Mapping[str, Any], source: str, folder: Path | None = None,
                  default_name: str | None = None) -> Scenario:
    """A scenario from plain data that stands for ``source`` (for messages)."""
    return _build(shape.from_mapping(data, source, folder), default_name)


def _build(doc: Document, default_name: str | None = None) -> Scenario:
    """Check the document's shape, then its meaning, and build the frozen ``Scenario``.

    The parts are built in the order their references need (servers before the groups
    that bind them, groups before the jobs and tasks that name them); so the first
    problem in that order is the one reported.
    """
    raw = schema.check_shape(doc)
    ctx = Context(doc, raw.scheduling)
    topology.check_platform(ctx, raw)
    zone = ctx.zone(("timezone",), raw.timezone)
    start = ctx.moment(("start",), raw.start, zone)
    horizon = calendars.horizon(ctx, raw, start, zone)
    calendars.check_horizon(ctx, raw, start, horizon)
    polling = ctx.parse(("polling",), parse_duration_ns, raw.polling)
    servers = topology.servers(ctx, raw, polling)
    groups = topology.groups(ctx, raw, servers)
    topology.check_reserved(ctx, raw)
    group_servers = {g.name: g.servers for g in groups}
    built_jobs = tuple(jobs.job(ctx, name, j, start, zone, horizon, group_servers)
                       for name, j in raw.jobs.items())
    names = [s.name for s in servers]
    outages = tuple(downtime.outage(ctx, ("outages", i), o, zone, names)
                    for i, o in enumerate(raw.outages))
    maintenance = tuple(downtime.maintenance(ctx, ("maintenance", i), m, names)
                        for i, m in enumerate(raw.maintenance))
    database = topology.database(ctx, raw)
    topology.warn_idle(ctx, servers, groups, built_jobs, start, horizon)
    name = raw.name or default_name or (
        Path(doc.source).stem if doc.from_file else "scenario")
    scenario = Scenario(
        name=name, start=start, timezone=raw.timezone, horizon=horizon, polling=polling,
        scheduling=raw.scheduling, servers=servers, groups=groups, jobs=built_jobs,
        reserved_capacity=raw.reserved_capacity, throttle=raw.throttle,
        platform=raw.platform, outages=outages, maintenance=maintenance, database=database,
        source=doc.source, document=doc.data, folder=doc.folder, reload=load_changed,
    )
    lint.warn_likely_mistakes(scenario, ctx.warn)
    return scenario
