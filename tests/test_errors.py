"""Every invalid scenario gives one clear message (file, path, line, value) and exit code 2."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simbatch
from simbatch.cli.main import main

BASE = """\
start: 2026-01-05 22:00
horizon: 1d
servers:
  S1: {threads: 2}
  S2: {threads: 2}
groups:
  BG1: {servers: [S2]}
jobs:
  J:
    tasks:
      A: {duration: 5m}
      B: {duration: 5m, after: {A: ended}}
scheduling: affinity
"""

# (what DESIGN.md asks to catch, text replaced, replacement, expected message, line)
CASES = [
    ("unknown key", "A: {duration: 5m}", "A: {durtion: 5m}",
     "jobs.J.tasks.A: unknown key 'durtion' (did you mean 'duration'?)", 11),
    ("unknown top-level key", "horizon: 1d", "horizon: 1d\nhorizn: 2d",
     "unknown key 'horizn' (did you mean 'horizon'?)", 3),
    ("unknown server", "[S2]", "[S2, S9]",
     "groups.BG1.servers[1]: unknown server 'S9'", 7),
    ("unknown group of a job", "  J:\n", "  J:\n    group: BG9\n",
     "jobs.J.group: unknown group 'BG9'", 10),
    ("unknown group of a task", "A: {duration: 5m}", "A: {duration: 5m, group: BG9}",
     "jobs.J.tasks.A.group: unknown group 'BG9'", 11),
    ("unknown task", "{A: ended}", "{Z: ended}",
     "jobs.J.tasks.B.after: unknown task 'Z'", 12),
    ("dependency cycle", "A: {duration: 5m}", "A: {duration: 5m, after: {B: ended}}",
     "dependency cycle: A -> B -> A", 12),
    ("group no server can run", "  BG1: {servers: [S2]}", "  BG1: {}",
     "groups.BG1: group 'BG1' has no servers, so no server can run it", 7),
    ("default group left without servers but used", "  BG1: {servers: [S2]}",
     "  BG1: {servers: [S2]}\n  default: {servers: []}",
     "jobs.J.group: group 'default' has no servers", 10),
    ("negative threads", "S1: {threads: 2}", "S1: {threads: -1}",
     "servers.S1.threads: must be greater than or equal to 0, got -1", 4),
    ("server with no threads at any time", "S1: {threads: 2}",
     "S1: {threads: 0, periods: [{from: '08:00', to: '18:00', threads: 0}]}",
     "servers.S1: this server has no threads at any time of day", 4),
    ("bad unit", "A: {duration: 5m}", "A: {duration: 5 minutes}",
     "jobs.J.tasks.A.duration: bad time '5 minutes'", 11),
    ("negative time", "A: {duration: 5m}", "A: {duration: -5m}",
     "jobs.J.tasks.A.duration: bad time '-5m': a time cannot be negative", 11),
    ("bad horizon", "horizon: 1d", "horizon: 1x", "horizon: bad time '1x'", 2),
    ("unknown distribution", "A: {duration: 5m}", "A: {duration: {pareto: 5m}}",
     "unknown distribution 'pareto'", 11),
    ("distribution parameters", "A: {duration: 5m}", "A: {duration: {uniform: [9m, 1m]}}",
     "uniform needs [low, high] with low <= high", 11),
    ("probability above 1", "A: {duration: 5m}", "A: {duration: 5m, fail: 1.5}",
     "jobs.J.tasks.A.fail: must be less than or equal to 1, got 1.5", 11),
    ("probability below 0", "A: {duration: 5m}", "A: {duration: 5m, fail: -0.1}",
     "jobs.J.tasks.A.fail: must be greater than or equal to 0, got -0.1", 11),
    ("more than 5 retries", "A: {duration: 5m}", "A: {duration: 5m, retries: 6}",
     "jobs.J.tasks.A.retries: must be less than or equal to 5, got 6", 11),
    ("overlapping periods", "S1: {threads: 2}",
     "S1: {threads: 2, periods: [{from: 08:00, to: 18:00, threads: 4},"
     " {from: 17:00, to: 07:00, threads: 8}]}",
     "servers.S1.periods[1]: period 17:00-07:00 overlaps period 08:00-18:00", 4),
    ("bad time of day", "S1: {threads: 2}",
     "S1: {threads: 2, periods: [{from: 25:00, to: 18:00, threads: 4}]}",
     "servers.S1.periods[0].from: bad time of day '25:00'", 4),
    ("unknown time zone", "horizon: 1d", "horizon: 1d\ntimezone: Mars/Olympus",
     "timezone: unknown time zone 'Mars/Olympus'", 3),
    ("bad status in after", "{A: ended}", "{A: finished}",
     "jobs.J.tasks.B.after.A: unknown status 'finished'", 12),
    ("poll offset beyond polling", "S1: {threads: 2}", "S1: {threads: 2, poll_offset: 90s}",
     "servers.S1.poll_offset: poll_offset must be shorter than polling (60s), got '90s'", 4),
    ("date out of range", "start: 2026-01-05 22:00", "start: 9999-12-31 22:00",
     "start: date '9999-12-31 22:00' is outside the years 1970 to 2200", 1),
    ("horizon too long", "horizon: 1d", "horizon: 6000w",
     "horizon: bad time '6000w': a time is at most 100 years (36500d)", 2),
    ("zero horizon", "horizon: 1d", "horizon: 0", "the horizon must be longer than 0", 2),
    ("no start", "start: 2026-01-05 22:00", "start:",
     "start: bad date and time None", 1),
    ("number for a start", "  J:\n", "  J:\n    start: 5\n",
     "jobs.J.start: bad date and time 5", 10),
    ("absurd threads", "S1: {threads: 2}", "S1: {threads: 100000000000000000000000}",
     "servers.S1.threads: must be less than or equal to 1000", 4),
    ("repeated unit", "horizon: 1d", "horizon: 1h1h", "horizon: bad time '1h1h'", 2),
    ("units out of order", "horizon: 1d", "horizon: 30m1h", "horizon: bad time '30m1h'", 2),
    ("below the clock's unit", "horizon: 1d", "horizon: 1d\npolling: 0.0000000001",
     "polling: bad time 1e-10: shorter than a nanosecond", 3),
    ("host-dependent zone", "horizon: 1d", "horizon: 1d\ntimezone: localtime",
     "timezone: unknown time zone 'localtime'", 3),
    ("non-ASCII digits", "S1: {threads: 2}",
     "S1: {threads: 2, periods: [{from: '\u0660\u0668:00', to: '18:00', threads: 4}]}",
     "servers.S1.periods[0].from: bad time of day", 4),
    ("bad start", "start: 2026-01-05 22:00", "start: tomorrow",
     "start: bad date and time 'tomorrow'", 1),
    ("job before the scenario", "  J:\n", "  J:\n    start: 2026-01-01 00:00\n",
     "jobs.J.start: start '2026-01-01 00:00' is before the scenario start", 10),
    ("wrong type", "S1: {threads: 2}", "S1: {threads: 2.5}",
     "servers.S1.threads: expected a whole number, got 2.5", 4),
    ("bool for a number", "A: {duration: 5m}", "A: {duration: 5m, fail: true}",
     "jobs.J.tasks.A.fail: expected a number, got True", 11),
    ("zero arrival interval", "  J:\n", "  J:\n    arrivals: {interval: 0}\n",
     "jobs.J.arrivals.interval: an arrival interval must average more than 0", 10),
    ("duplicate key", "A: {duration: 5m}", "A: {duration: 5m}\n      A: {duration: 6m}",
     'not valid YAML: duplicate key "A"', 12),
    ("invalid YAML", "horizon: 1d", "horizon: 1d\n  bad: [", "not valid YAML", 3),
    ("missing key", "horizon: 1d\n", "", "missing required key 'horizon'", None),
    ("empty job", "      A: {duration: 5m}\n      B: {duration: 5m, after: {A: ended}}\n",
     "      {}\n", "jobs.J.tasks: must not be empty", 10),
    # today's platform (F&O 10.0.38 and later)
    ("above the cloud's 16 threads", "S1: {threads: 2}", "S1: {threads: 20}",
     "servers.S1.threads: 20 threads exceed the cloud maximum of 16 per batch server; for an"
     " on-premises or AX-era server say platform: on-premises", 4),
    ("above the cloud's 16 threads in a period", "S1: {threads: 2}",
     "S1: {threads: 2, periods: [{from: 18:00, to: 07:30, threads: 17}]}",
     "servers.S1.periods[0].threads: 17 threads exceed the cloud maximum of 16", 4),
    ("unknown platform", "horizon: 1d", "horizon: 1d\nplatform: azure",
     "platform: expected one of 'cloud' or 'on-premises', got 'azure'", 3),
    ("bindings without saying affinity", "scheduling: affinity\n", "",
     "groups.BG1.servers: binding a group to servers is group affinity (before F&O 10.0.38):"
     " add scheduling: affinity to keep it, or remove the binding for priority scheduling"
     " (the default since 10.0.38)", 7),
    ("max concurrency under affinity", "  BG1: {servers: [S2]}",
     "  BG1: {servers: [S2], max_concurrency: 2}",
     "groups.BG1.max_concurrency: max concurrency (batch concurrency control) needs"
     " priority-based scheduling", 7),
    ("outage on an unknown server", "scheduling: affinity\n",
     "scheduling: affinity\noutages: [{server: S9, at: 2026-01-05 23:00, for: 30m}]\n",
     "outages[0].server: unknown server 'S9' (servers: S1, S2)", 14),
    ("outage of no length", "scheduling: affinity\n",
     "scheduling: affinity\noutages: [{server: S1, at: 2026-01-05 23:00, for: 0}]\n",
     "outages[0].for: an outage must last longer than 0, got 0", 14),
    ("outage at a bad time", "scheduling: affinity\n",
     "scheduling: affinity\noutages: [{server: S1, at: soon, for: 5m}]\n",
     "outages[0].at: bad date and time 'soon'", 14),
    ("maintenance longer than its window", "scheduling: affinity\n",
     "scheduling: affinity\nmaintenance: [{from: 22:00, to: 23:00, down: 45m}]\n",
     "maintenance[0].down: 2 server(s) down 45m each one-at-a-time take longer than the"
     " window 22:00-23:00", 14),
    ("maintenance of an unknown server", "scheduling: affinity\n",
     "scheduling: affinity\nmaintenance: [{from: 22:00, to: 04:00, down: 30m, servers: [S7]}]\n",
     "maintenance[0].servers[0]: unknown server 'S7'", 14),
    ("maintenance in an unknown zone", "scheduling: affinity\n",
     "scheduling: affinity\nmaintenance: [{from: 22:00, to: 04:00, down: 30m,"
     " timezone: Moon/Base}]\n", "maintenance[0].timezone: unknown time zone 'Moon/Base'", 14),
    ("unknown maintenance stagger", "scheduling: affinity\n",
     "scheduling: affinity\nmaintenance: [{from: 22:00, to: 04:00, down: 30m,"
     " stagger: random}]\n", "maintenance[0].stagger: expected one of 'one-at-a-time' or"
     " 'all-at-once', got 'random'", 14),
    ("transient chance above 1", "A: {duration: 5m}",
     "A: {duration: 5m, transient: {chance: 1.5}}",
     "jobs.J.tasks.A.transient.chance: must be less than or equal to 1, got 1.5", 11),
    ("unknown transient key", "A: {duration: 5m}",
     "A: {duration: 5m, transient: {chanse: 0.1}}",
     "jobs.J.tasks.A.transient: unknown key 'chanse' (did you mean 'chance'?)", 11),
]


@pytest.mark.parametrize(("case", "old", "new", "message", "line"), CASES,
                         ids=[c[0] for c in CASES])
def test_invalid_scenario_gives_one_clear_message(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        case: str, old: str, new: str, message: str, line: int | None) -> None:
    assert old in BASE, case
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError) as raised:
        simbatch.load(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert raised.value.line == line
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [f"ScenarioError: {text}"]
    assert "Traceback" not in err


def test_the_base_of_those_cases_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(BASE, encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0


def test_the_design_example_message(tmp_path: Path) -> None:
    path = tmp_path / "walkthrough.yaml"
    path.write_text(BASE.replace("{A: ended}", "{TASK 9: ended}"), encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match=r"jobs\.J\.tasks\.B\.after: unknown task"
                                                     r" 'TASK 9' \(line 12\)$"):
        simbatch.load(path)


def test_missing_file_and_bad_seed_exit_2(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in capsys.readouterr().err
    path = tmp_path / "good.yaml"
    path.write_text(BASE, encoding="utf-8")
    with pytest.raises(SystemExit) as exit_:  # refused by the argument's own range
        main(["run", str(path), "--seed", "-1"])
    assert exit_.value.code == 2
    assert ("argument --seed: '-1' is out of range; give a whole number from 0 to"
            " 4,294,967,295") in capsys.readouterr().err
    with pytest.raises(simbatch.UsageError, match="seed must be a whole number >= 0, got -1"):
        simbatch.simulate(path, seed=-1)


def test_empty_file_and_alias_bomb(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match=r"empty\.yaml: the file is empty"):
        simbatch.load(empty)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match="more than 1,000,000 beyond the file"):
        simbatch.load(bomb)


def test_warnings_for_parts_that_never_do_anything(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "idle.yaml"
    path.write_text(BASE.replace("  BG1: {servers: [S2]}", "  BG1: {servers: [S2]}\n"
                                 "  default: {servers: [S2]}"), encoding="utf-8")
    with pytest.warns(simbatch.SimbatchWarning, match=r"servers\.S1: this server runs no"
                                                      r" group .*\(line 4\)"):
        simbatch.load(path)
    assert main(["validate", str(path)]) == 0
    assert "SimbatchWarning: " in capsys.readouterr().err


def test_a_scenario_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match="must be a mapping"):
        simbatch.load(path)


def test_empirical_file_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "times.csv").write_text("seconds\n30\n45\n", encoding="utf-8")
    good = BASE.replace("A: {duration: 5m}",
                        "A: {duration: {empirical: {file: times.csv, column: seconds}}}")
    (tmp_path / "ok.yaml").write_text(good, encoding="utf-8")
    task = simbatch.load(tmp_path / "ok.yaml").jobs[0].tasks[0]
    assert task.duration.params == (30.0, 45.0)
    (tmp_path / "bad.yaml").write_text(good.replace("column: seconds", "column: secs"),
                                       encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match="has no column 'secs'"):
        simbatch.load(tmp_path / "bad.yaml")
    (tmp_path / "times.csv").write_text("seconds\n90\n5m\nabc\n", encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match=r"'times\.csv', column 'seconds', row 4:"
                                                     r" bad time 'abc'"):
        simbatch.load(tmp_path / "ok.yaml")
    (tmp_path / "times.csv").write_text("seconds,note\n90,a\n,b\n5m,c\n", encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match="row 3: bad time ''"):
        simbatch.load(tmp_path / "ok.yaml")
    (tmp_path / "gone.yaml").write_text(good.replace("times.csv", "gone.csv"), encoding="utf-8")
    with pytest.raises(simbatch.ScenarioError, match=r"'gone\.csv' cannot be read"):
        simbatch.load(tmp_path / "gone.yaml")


# ---- no input crashes the loader ----------------------------------------------------------

VALID: dict[str, Any] = {
    "start": "2026-01-05 22:00", "horizon": "1d", "polling": "1m",
    "servers": {"S1": {"threads": 2, "periods": [{"from": "08:00", "to": "18:00",
                                                  "threads": 1}]}},
    "groups": {"G": {"servers": ["S1"]}},
    "jobs": {"J": {"group": "G", "arrivals": {"interval": {"exponential": "5m"}},
                   "tasks": {"A": {"duration": {"lognormal": {"mean": "5m", "sd": "1m"}}},
                             "B": {"duration": "1m", "after": {"A": "ended"},
                                   "fail": 0.1, "retries": 2}}}},
}

junk = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6),
                 st.floats(allow_nan=True), st.text(max_size=8),
                 st.lists(st.text(max_size=3), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_scenarios_are_valid_or_get_a_scenario_error(data: st.DataObject) -> None:
    doc = copy.deepcopy(VALID)
    paths = _paths(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = data.draw(junk)
        except (KeyError, IndexError, TypeError):
            continue
    try:
        with warnings.catch_warnings():  # a warning (say, slow polling) is not a crash
            warnings.simplefilter("ignore", simbatch.SimbatchWarning)
            simbatch.load(doc)
    except simbatch.ScenarioError as exc:
        assert str(exc).startswith("<scenario>: ")


def test_more_servers_than_the_tables_hold_is_refused_at_load() -> None:
    doc = {"start": "2026-01-05 22:00", "horizon": "1h",
           "servers": {f"S{i}": {"threads": 1} for i in range(32_768)}}
    with pytest.raises(simbatch.ScenarioError, match=r"servers: at most 32,767 entries, got"
                                                     r" 32,768"):
        simbatch.load(doc)


def test_with_changes_survives_pickling_and_needs_a_loaded_scenario(tmp_path: Path) -> None:
    # a scenario carries the loader's load_changed (spec imports no loader); a process
    # executor pickles scenarios, so the reference must travel with them
    path = tmp_path / "base.yaml"
    path.write_text(BASE, encoding="utf-8")
    base = pickle.loads(pickle.dumps(simbatch.load(path)))
    assert base.with_changes({"servers": {"S1": {"threads": 4}}}).servers[0].threads == 4
    by_hand = dataclasses.replace(base, reload=None)
    assert by_hand == base and repr(by_hand) == repr(base)
    with pytest.raises(simbatch.ScenarioError, match=r"not built by simbatch\.load"):
        by_hand.with_changes({"polling": "30s"})


# ---- a distribution's bad parameter is named by its own path ---------------------------------

DURATION = "jobs.J.tasks.A.duration"
# (the distribution as written, the path below the duration, the problem)
PARAMETERS = [
    ("{lognormal: {mean: 1m, sd: -2m}}", "lognormal.sd",
     "bad time '-2m': a time cannot be negative"),
    ("{lognormal: {mean: -1m, sd: 2m}}", "lognormal.mean",
     "bad time '-1m': a time cannot be negative"),
    ("{lognormal: {mean: 0, sd: 2m}}", "lognormal.mean", "lognormal needs a mean above 0, got 0"),
    ("{lognormal: [1m, 2m]}", "lognormal",
     "lognormal takes {mean: TIME, sd: TIME}, got ['1m', '2m']"),
    ("{gamma: {mean: 1m, sd: 2x}}", "gamma.sd", "bad time '2x'"),
    ("{gamma: {mean: 1x, sd: 2m}}", "gamma.mean", "bad time '1x'"),
    ("{normal: {mean: 5m, sd: -1m}}", "normal.sd", "bad time '-1m': a time cannot be negative"),
    ("{normal: {mean: 5 minutes, sd: 1m}}", "normal.mean", "bad time '5 minutes'"),
    ("{constant: -5m}", "constant", "bad time '-5m': a time cannot be negative"),
    ("{exponential: 2y}", "exponential", "bad time '2y'"),
    ("{exponential: 0}", "exponential", "exponential needs a mean above 0, got 0"),
    ("{uniform: [1m, -9m]}", "uniform[1]", "bad time '-9m': a time cannot be negative"),
    ("{uniform: [x, 9m]}", "uniform[0]", "bad time 'x'"),
    ("{uniform: [9m, 1m]}", "uniform", "uniform needs [low, high] with low <= high"),
    ("{uniform: [1m]}", "uniform", "uniform takes a list of 2 times, got ['1m']"),
    ("{triangular: [1m, 3m, 9q]}", "triangular[2]", "bad time '9q'"),
    ("{triangular: [1m, -3m, 9m]}", "triangular[1]", "bad time '-3m'"),
    ("{triangular: [-1m, 3m, 9m]}", "triangular[0]", "bad time '-1m'"),
    ("{triangular: [5m, 3m, 9m]}", "triangular", "triangular needs [min, mode, max] in that"
                                                 " order"),
    ("{weibull: {shape: 0, scale: 5m}}", "weibull.shape", "weibull needs a shape above 0, got 0"),
    ("{weibull: {shape: 1.5, scale: -5m}}", "weibull.scale", "bad time '-5m'"),
    ("{weibull: {shape: 1.5, scale: 0}}", "weibull.scale", "weibull needs a scale above 0"),
    ("{weibull: {shape: 1.5}}", "weibull", "weibull takes {shape: NUMBER, scale: TIME}"),
    ("{empirical: [1m, 2m, -7m]}", "empirical[2]", "bad time '-7m': a time cannot be negative"),
    ("{empirical: []}", "empirical", "empirical needs at least one time, got []"),
    ("{empirical: {file: none.csv, column: s}}", "empirical.file",
     "empirical file 'none.csv' cannot be read: No such file or directory"),
    ("{empirical: {file: times.csv, column: t}}", "empirical.column",
     "empirical file 'times.csv' has no column 't' (it has s)"),
]


@pytest.mark.parametrize(("written", "below", "problem"), PARAMETERS,
                         ids=[p[1] + ":" + p[0] for p in PARAMETERS])
def test_a_bad_distribution_parameter_is_named_by_its_path(
        tmp_path: Path, written: str, below: str, problem: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "times.csv").write_text("s\n30\n", encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(BASE.replace("A: {duration: 5m}", f"A: {{duration: {written}}}"),
                    encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ScenarioError: {path}: {DURATION}.{below}: {problem}"), err
    assert err.endswith("(line 11)\n") and err.count("\n") == 1


def test_a_bad_parameter_of_an_arrival_interval_or_runtime_is_named_too() -> None:
    doc = {"start": "2026-01-05 22:00", "horizon": "1d", "servers": {"A": {}},
           "jobs": {"J": {"arrivals": {"interval": {"gamma": {"mean": "1m", "sd": "-1s"}}},
                          "tasks": {"T": {"duration": "1m"}}}}}
    with pytest.raises(simbatch.ScenarioError, match=r"^<scenario>: jobs\.J\.arrivals\.interval"
                                                     r"\.gamma\.sd: bad time '-1s'"):
        simbatch.load(doc)
    doc["jobs"]["J"] = {"tasks": {"T": {"duration": "1m", "runtime": {  # type: ignore[index]
        "tasks": 2, "duration": {"uniform": ["1m", "2q"]}}}}}
    with pytest.raises(simbatch.ScenarioError, match=r"^<scenario>: jobs\.J\.tasks\.T\.runtime"
                                                     r"\.duration\.uniform\[1\]: bad time '2q'"):
        simbatch.load(doc)
