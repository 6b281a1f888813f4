"""The compiled plan: integer nanoseconds, deterministic, and the only thing the engine reads."""

from __future__ import annotations

import ast
import dataclasses
import random
from pathlib import Path
from typing import Any

import pytest

import simbatch
from simbatch.engine.compile import CompiledPlan, compile
from simbatch.engine.model import Model
from simbatch.results.result import Result
from simbatch.scenario.timegrammar import Distribution

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "src" / "simbatch" / "engine"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))

RICH = {
    "name": "compile",
    "start": "2026-03-27 22:00",
    "timezone": "Europe/Amsterdam",
    "horizon": "3d",
    "polling": "1m",
    "scheduling": "priority",
    "reserved_capacity": "medium",
    "servers": {
        "A": {"threads": 4, "periods": [{"from": "08:00", "to": "18:00", "threads": 2}]},
        "B": {"threads": 2, "poll_offset": "20s"},
        "C": {"threads": 3},
    },
    "outages": [{"server": "C", "at": "2026-03-28 03:00", "for": "1h"}],
    "jobs": {
        "Daily": {"recurrence": {"every": "1d", "anchor": "end"}, "active": [
            {"from": "20:00", "to": "06:00"}],
            "tasks": {"T1": {"duration": {"uniform": ["1m", "5m"]}},
                      "T2": {"duration": "2m", "after": {"T1": "ended or error"}}}},
        "Cron": {"recurrence": {"cron": "*/30 * * * *"},
                 "tasks": {"Only": {"duration": "1m", "fail": 0.5, "retries": 1}}},
        "Hourly": {"recurrence": {"every": "1h"}, "tasks": {"H": {"duration": "10m"}}},
        "Adhoc": {"arrivals": {"interval": {"exponential": "30m"}, "batch": 2},
                  "tasks": {"X": {"duration": {"exponential": "3m"}}}},
        "Profile": {"arrivals": {"rate": "2/h", "windows": [
            {"from": "09:00", "to": "17:00", "rate": "10/h"}]},
            "tasks": {"P": {"duration": "1m"}}},
    },
}


def _walk(value: Any, path: str, found: list[tuple[str, Any]]) -> None:
    """Every leaf of a plan with its path (a scenario back-reference is not part of it)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, Distribution):
            return  # a sampler's parameters are seconds, by the time grammar
        for f in dataclasses.fields(value):
            if f.compare:
                _walk(getattr(value, f.name), f"{path}.{f.name}", found)
    elif isinstance(value, tuple | list | frozenset):
        for k, item in enumerate(value):
            _walk(item, f"{path}[{k}]", found)
    else:
        found.append((path, value))


def _times(plan: CompiledPlan) -> list[tuple[str, Any]]:
    """The plan's instants and spans (ns), found by the names of the fields that hold them."""
    leaves: list[tuple[str, Any]] = []
    _walk(plan, "plan", leaves)
    names = (".times", ".down", ".reserved", ".poll_offsets", ".horizon", ".polling", ".start",
             ".opens", ".closes", ".first", ".profile_times", ".slots", ".grid", ".until",
             ".elapsed", ".base", ".transitions", ".offsets")
    return [(p, v) for p, v in leaves if any(n in p for n in names)
            and not isinstance(v, str) and not p.endswith("down]") and v is not None]


def test_a_plan_holds_integer_nanoseconds() -> None:
    plan = compile(simbatch.load(RICH))
    times = _times(plan)
    assert len(times) > 50
    bad = [(p, v) for p, v in times if type(v) is not int]
    assert bad == []
    assert plan.horizon == 3 * 86_400 * 10**9
    assert plan.polling == 60 * 10**9
    assert plan.servers.poll_offsets[1] == 20 * 10**9
    hourly = plan.jobs[2].schedule.recurrence
    assert hourly is not None and hourly.grid == (0, 3600 * 10**9)
    cron = plan.jobs[1].schedule.recurrence
    assert cron is not None and cron.slots is not None and len(cron.slots) == 3 * 48


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_compiling_twice_gives_equal_plans(path: Path) -> None:
    scenario = simbatch.load(path)
    assert compile(scenario) == compile(scenario)
    assert compile(scenario) == compile(simbatch.load(path))


def test_a_plan_is_frozen() -> None:
    plan = compile(simbatch.load(RICH))
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.horizon = 0  # type: ignore[misc]
    hash(plan.servers)
    hash(plan.jobs)


def _imports(path: Path) -> set[str]:
    """Every module a source file imports, at any depth (functions, TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_engine_imports_nothing_from_the_calendar() -> None:
    """Only the compiler turns local-time rules into instants; the engine reads its plan."""
    modules = [p for p in ENGINE.glob("*.py") if p.name != "compile.py"]
    assert len(modules) > 8
    offenders = {p.name: sorted(m for m in _imports(p) if m.startswith("simbatch.scenario.calendar")
                                or m == "simbatch.scenario.calendar")
                 for p in modules}
    assert {name: found for name, found in offenders.items() if found} == {}


def test_the_engine_reads_no_scenario_while_it_runs() -> None:
    """The run loop's modules take no ``Scenario`` (only the model's compatible front does)
    and convert no local times: no zoneinfo, no epoch conversions."""
    for name in ("dispatch.py", "jobs.py", "workload.py", "idle.py", "recorder.py"):
        imported = _imports(ENGINE / name)
        assert "simbatch.scenario.spec.Scenario" not in imported, name
    for name in ("model.py", "servers.py", "dispatch.py", "jobs.py", "workload.py", "idle.py",
                 "trace.py", "recorder.py", "randomness.py", "status.py"):
        imported = _imports(ENGINE / name)
        assert not any(m.startswith("simbatch.scenario.calendar") for m in imported), name
        assert "zoneinfo" not in imported, name
        assert "simbatch.scenario.timegrammar.epoch_ns" not in imported, name


def test_a_model_from_a_plan_equals_a_model_from_the_scenario() -> None:
    scenario = simbatch.load(RICH)
    plan = compile(scenario)
    direct = Model(scenario, 3)
    direct.run()
    compiled = Model.from_plan(plan, 3)
    compiled.run()
    again = Model.from_plan(plan, 3)  # a plan is not spent by a run
    again.run()
    tables = [Result.from_model(m) for m in (direct, compiled, again)]
    for other in tables[1:]:
        assert tables[0].tasks.equals(other.tasks)
        assert tables[0].jobs.equals(other.jobs)
        assert tables[0].capacity.equals(other.capacity)
    assert len(tables[0].tasks) > 100


@pytest.mark.parametrize("zone", ["Europe/Amsterdam", "America/New_York",
                                  "Australia/Lord_Howe", "Asia/Kolkata"])
@pytest.mark.parametrize("every", ["1d", "2w", "1mo", "1y"])
def test_the_drift_step_lands_where_the_calendar_puts_it(zone: str, every: str) -> None:
    """``anchor: end`` on the local calendar, from integer tables, equals datetime + zoneinfo
    (the reference below), across daylight-saving changes and month ends."""
    import datetime as dt

    from simbatch.engine.workload import SlotWalk
    from simbatch.scenario.timegrammar import epoch_ns

    doc = {"start": "2026-01-30 23:30", "timezone": zone, "horizon": "800d",
           "servers": {"A": {"threads": 1}},
           "jobs": {"J": {"recurrence": {"every": every, "anchor": "end"},
                          "tasks": {"T": {"duration": "1m"}}}}}
    scenario = simbatch.load(doc)
    job = scenario.jobs[0]
    assert job.recurrence is not None
    spec = compile(scenario).jobs[0].schedule.recurrence
    assert spec is not None and spec.calendar is not None
    walk = SlotWalk(spec, scenario.horizon)
    origin, step, zone_info = epoch_ns(scenario.start), job.recurrence.step(), job.start.tzinfo

    def reference(end: int) -> tuple[int | None, int]:
        """The next due time after a run ended at ``end``: the local date-time plus the step."""
        local = dt.datetime.fromtimestamp((origin + end) / 10**9, zone_info)
        due = epoch_ns(local + step) - origin
        return (None, 0) if due >= scenario.horizon else (due, 0)

    rng = random.Random(every + zone)
    day = 86_400 * 10**9
    ends = [k * day // 4 + rng.randrange(-2 * 3600 * 10**9, 2 * 3600 * 10**9)
            for k in range(4 * 800)]
    ends += [rng.randrange(0, 800 * day) for _ in range(2000)]
    ends += [k * 60 * 10**9 + 999_999_500 + rng.randrange(0, 1000) for k in range(0, 10**6, 997)]
    base = spec.calendar.base
    for change in spec.calendar.transitions[1:]:  # ends a step before a clock change, too
        for back in (0, 1, 14, 28, 29, 30, 31, 365, 366):
            ends += [change - base - back * day + minutes * 60 * 10**9
                     for minutes in range(-180, 181, 7)]
    checked = 0
    for end in ends:
        if end < 0:
            continue
        assert walk.after_end(end, None) == reference(end), end
        checked += 1
    assert checked > 5000
