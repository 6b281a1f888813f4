"""Hardening: every class of bad input gets one clear message, never a traceback or a hang.

One test per class the hardening issue lists: YAML tags, impossible dates, deep nesting,
alias expansion against honest size, errors in an extended base file, overflowing times,
distributions, recurrence steps, runtime counts, rates, instants beyond the clock, and the
work budget; then (round three) deep task graphs and documents, long extends chains,
special files, and bad values quoted in bounded excerpts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import simbatch
from simbatch.cli.main import main
from simbatch.scenario import ranges
from simbatch.scenario.timegrammar import Distribution

BASE = """\
start: 2026-01-05 22:00
horizon: 1d
scheduling: priority
servers: {A: {threads: 2}}
jobs:
  J: {tasks: {T: {duration: 5m}}}
"""


def scenario_with(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``simbatch validate`` refuses the file with exit 2 and a one-line message."""
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize("tagged", ['horizon: !!int "abc"', 'horizon: !!float "x"',
                                    'name: !!bool "maybe"', 'start: !!timestamp "2026-02-30"',
                                    "name: !custom 3", "name: !!str 08:00",
                                    "servers: !!map {A: {threads: 2}}"])
def test_yaml_tags_are_refused_with_their_line(tmp_path: Path, tagged: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    key = tagged.split(":")[0]
    rest = "\n".join(line for line in BASE.splitlines() if not line.startswith(f"{key}:"))
    err = refused(scenario_with(tmp_path, f"{rest}\n{tagged}\n"), capsys)
    tag = tagged.split()[1]
    assert f"YAML tag {tag} is not used in scenario files" in err
    assert f"(line {len(rest.splitlines()) + 1})" in err


@pytest.mark.parametrize("date", ["2026-02-30", "2026-02-30 22:00", "2026-13-01", "2026-04-31"])
def test_impossible_dates_are_bad_dates_at_their_path(tmp_path: Path, date: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace("start: 2026-01-05 22:00", f"start: {date}")
    err = refused(scenario_with(tmp_path, text), capsys)
    assert f"s.yaml: start: bad date and time '{date}'" in err and "(line 1)" in err


@pytest.mark.parametrize("nesting", ["[" * 5000 + "]" * 5000, "{a: " * 3000 + "1" + "}" * 3000])
def test_deep_nesting_is_refused_without_recursion_error(
        tmp_path: Path, nesting: str, capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(scenario_with(tmp_path, f"{BASE}name: {nesting}\n"), capsys)
    assert f"nested more than {64} levels deep" in err


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    err = refused(scenario_with(tmp_path, "\n".join(lines) + "\n" + BASE), capsys)
    assert "aliases expand" in err and "is an alias repeated in a loop?" in err


@pytest.mark.parametrize("recursive", ["name: &a [*a]", "name: &a {b: *a}"])
def test_a_recursive_alias_is_refused(tmp_path: Path, recursive: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(scenario_with(tmp_path, BASE + recursive + "\n"), capsys)
    assert "an alias refers to itself" in err or "name: expected text" in err


def chained(tasks: int, closed: bool = False) -> dict[str, object]:
    """One job of ``tasks`` tasks, each waiting for the one listed after it (so a walk
    from the first goes the whole length); ``closed``: the last waits for the first."""
    chain: dict[str, object] = {f"T{i}": {"duration": "1m", "after": {f"T{i + 1}": "ended"}}
                                for i in range(tasks - 1)}
    last = {"T0": "ended"} if closed else {}
    chain[f"T{tasks - 1}"] = {"duration": "1m", "after": last}
    return {"start": "2026-01-05 22:00", "horizon": "1d", "servers": {"A": {"threads": 2}},
            "jobs": {"Chain": {"tasks": chain}}}


def test_a_long_chain_of_tasks_loads_without_recursion_error() -> None:
    # the cycle check walks the graph with an explicit stack, not the Python stack
    scenario = simbatch.load(chained(10_000))
    tasks = scenario.jobs[0].tasks
    assert len(tasks) == 10_000 and tasks[0].after[0].task == "T1" and not tasks[-1].after


def test_a_long_dependency_cycle_is_refused_and_printed() -> None:
    with pytest.raises(simbatch.ScenarioError) as caught:
        simbatch.load(chained(10_000, closed=True))
    cycle = " -> ".join([*(f"T{i}" for i in range(10_000)), "T0"])
    assert str(caught.value) == ("<scenario>: jobs.Chain.tasks.T9999.after: dependency cycle:"
                                 f" {cycle}")


def test_written_values_are_told_from_expanded_ones() -> None:
    from simbatch.scenario.yamlfile import expansion

    honest = {"jobs": {f"J{i}": {"tasks": {"T": {"duration": "5m"}}} for i in range(30_000)}}
    written, expanded = expansion(honest)
    assert written == expanded > 200_000  # no aliases: nothing expands
    shared = ["x"] * 10
    for _ in range(8):
        shared = [shared] * 10
    written, expanded = expansion({"a": shared})
    assert written < 200 and expanded > 1_000_000_000


@pytest.mark.slow
def test_honest_size_is_not_alias_expansion(tmp_path: Path) -> None:
    # 50,000 jobs and no aliases: large, but every value is written in the file
    # (slow: ruamel's pure-Python scanner reads about 1,000 jobs a second here)
    jobs = "".join(f"  J{i}: {{start: 2026-01-05 22:00, tasks: {{T: {{duration: 5m, fail: 0}}}}}}\n"
                   for i in range(50_000))
    path = scenario_with(tmp_path, BASE.replace("  J: {tasks: {T: {duration: 5m}}}\n", jobs))
    scenario = simbatch.load(path)
    assert len(scenario.jobs) == 50_000
    # modest reuse of anchors is fine too
    reuse = BASE + "x-defaults: &d {duration: 5m}\n"
    with pytest.raises(simbatch.ScenarioError, match="unknown key 'x-defaults'"):
        simbatch.load(scenario_with(tmp_path, reuse, "reuse.yaml"))


def test_a_huge_file_is_refused_before_it_is_parsed(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from simbatch.scenario import yamlfile as safeyaml

    monkeypatch.setattr(safeyaml, "MAX_BYTES", 100)
    err = refused(scenario_with(tmp_path, BASE + "#" * 200 + "\n"), capsys)
    assert "the file is more than the 100 bytes a scenario may have" in err


@pytest.mark.parametrize(("base_text", "expected"), [
    (BASE.replace("threads: 2", "threads: 2, thread: 3"),
     "base.yaml: servers.A: unknown key 'thread' (did you mean 'threads'?) (line 4)"),
    (BASE.replace("threads: 2", "threads: -2"),
     "base.yaml: servers.A.threads: must be greater than or equal to 0, got -2 (line 4)"),
    (BASE.replace("duration: 5m", "duration: 5x"),
     "base.yaml: jobs.J.tasks.T.duration: bad time '5x'"),
    (BASE.replace("horizon: 1d", "horizon: [1d"), "base.yaml: not valid YAML"),
    (BASE.replace("horizon: 1d", 'horizon: !!int "1"'), "base.yaml: YAML tag !!int"),
])
def test_an_error_in_an_extended_file_names_that_file_and_line(
        tmp_path: Path, base_text: str, expected: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    scenario_with(tmp_path, base_text, "base.yaml")
    child = scenario_with(tmp_path, "extends: base.yaml\nname: child\n", "child.yaml")
    err = refused(child, capsys)
    assert expected in err
    assert "child.yaml" not in err


@pytest.mark.parametrize(("old", "new", "message"), [
    ("duration: 5m", "duration: 9999999999999w",
     "jobs.J.tasks.T.duration: bad time '9999999999999w': a time is at most 100 years"),
    ("duration: 5m", "duration: 1e308", "a time is at most 100 years"),
    ("duration: 5m", "duration: .inf", "a time must be finite"),
    ("duration: 5m", "duration: {lognormal: {mean: 1m, sd: 1000000w}}",
     "jobs.J.tasks.T.duration.lognormal.sd: bad time '1000000w': a time is at most 100 years"),
    ("duration: 5m", "duration: {exponential: 99999999999999999999d}",
     "duration.exponential: bad time"),
    ("horizon: 1d", "horizon: 1d\npolling: 99999999999999w", "polling: bad time"),
    ("threads: 2", "threads: 2, poll_offset: 9999999999999999999999s",
     "servers.A.poll_offset: bad time"),
    ("tasks: {T", "deadline: 99999999999999999w, tasks: {T", "jobs.J.deadline: bad time"),
    ("start: 2026-01-05 22:00\nhorizon: 1d", "start: 2200-01-05 22:00\nhorizon: 36500d",
     "horizon: the run would end after 2262-01-01"),
    (BASE, BASE.replace("2026", "2170").replace("tasks: {T", "deadline: 36500d, tasks: {T"),
     "jobs.J.deadline: deadline '36500d' after the horizon falls after 2262-01-01"),
    ("tasks: {T", "recurrence: {every: 9999999999y, anchor: end}, tasks: {T",
     "jobs.J.recurrence.every: recurrence step 9999999999y is longer than 100 years"),
    ("tasks: {T", "recurrence: {every: 1d, count: 99999999999999999999}, tasks: {T",
     "jobs.J.recurrence.count: must be less than or equal to 1000000"),
    ("duration: 5m", "duration: 5m, runtime: {tasks: 99999999999999999999, duration: 1m}",
     "jobs.J.tasks.T.runtime.tasks: at most 10,000 runtime tasks"),
    ("duration: 5m", "duration: 5m, runtime: {tasks: {uniform: [1, 99999999999999999999]},"
                     " duration: 1m}", "runtime.tasks: at most 10,000 runtime tasks"),
    ("tasks: {T", "arrivals: {rate: 99999999999/s}, tasks: {T",
     "jobs.J.arrivals.rate: rate '99999999999/s' is more than 1000 arrivals a second"),
    ("tasks: {T", "arrivals: {interval: 1h, batch: 99999999}, tasks: {T",
     "jobs.J.arrivals.batch: must be less than or equal to 10000"),
    ("threads: 2", "threads: 99999999999999999999", "servers.A.threads: must be less than"),
    ("duration: 5m", "duration: 5m, fail: 1e999", "fail: must be less than or equal to 1"),
    ("duration: 5m", "duration: 5m, fail: .nan", "jobs.J.tasks.T.fail"),
    ("duration: 5m", "duration: 5m, retries: 99999999999999999999", "retries: must be less"),
    ("start: 2026-01-05 22:00", "start: 1969-12-31 22:00", "outside the years 1970 to 2200"),
])
def test_every_value_has_a_range(tmp_path: Path, old: str, new: str, message: str,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert old in BASE
    err = refused(scenario_with(tmp_path, BASE.replace(old, new, 1)), capsys)
    assert message in err
    assert "(line " in err


def test_a_distribution_that_could_overflow_is_named() -> None:
    with pytest.raises(ValueError, match=r"\{lognormal: .*could overflow the clock"):
        ranges.check_distribution(Distribution("lognormal", (1e-300, 1e300)))
    with pytest.raises(ValueError, match=r"\{exponential: .*could overflow the clock"):
        ranges.check_distribution(Distribution("exponential", (1e300,)))
    ranges.check_distribution(Distribution("lognormal", (1.0, 3.0e9)))  # heavy, but fits


def test_long_gaps_over_a_long_horizon_do_not_overflow_the_clock() -> None:
    doc = {"start": "2026-01-05 00:00", "horizon": "36000d", "polling": 0,
           "scheduling": "priority", "servers": {"S": {"threads": 2}},
           "jobs": {"J": {"arrivals": {"interval": {"uniform": ["9000d", "36500d"]}},
                          "tasks": {"T": {"duration": "1h"}}}}}
    result = simbatch.simulate(doc, seed=1)
    scheduled = result.jobs.scheduled
    assert scheduled.is_monotonic_increasing and len(scheduled) >= 1
    assert (scheduled < result.scenario.end).all()


def arrivals(rate: str, horizon: str = "1d") -> dict[str, object]:
    return {"start": "2026-01-05 00:00", "horizon": horizon, "polling": 0,
            "scheduling": "priority", "servers": {"S": {"threads": 4}},
            "jobs": {"J": {"arrivals": {"rate": rate},
                           "tasks": {"A": {"duration": "1s", "fail": 0.5, "retries": 1},
                                     "B": {"duration": "1s"}}}}}


def test_the_budget_estimates_runs_and_attempts() -> None:
    found = simbatch.estimate_work(simbatch.load(arrivals("60/h")))
    assert found.runs == pytest.approx(24 * 60)
    assert found.attempts == pytest.approx(24 * 60 * (1.5 + 1))
    recurring = {"start": "2026-01-05 00:00", "horizon": "1w", "scheduling": "priority",
                 "servers": {"S": {"threads": 1}},
                 "jobs": {"R": {"recurrence": {"every": "15m"},
                                "tasks": {"P": {"duration": "1m", "runtime": {
                                    "tasks": {"uniform": [2, 4]}, "duration": "1s"}}}},
                          "C": {"recurrence": {"cron": "0 22 * * 1-5"},
                                "tasks": {"X": {"duration": "1m"}}}}}
    found = simbatch.estimate_work(simbatch.load(recurring))
    assert dict((name, runs) for name, runs, _ in found.by_job) == {"R": 7 * 96 + 1, "C": 5}
    assert found.attempts == pytest.approx((7 * 96 + 1) * 4 + 5)


def test_a_run_above_the_budget_is_refused_and_the_limit_can_be_raised(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the 96-year horizon that once grew to 2.5 GB with no output
    big = arrivals("100/s", "35000d")
    with pytest.raises(simbatch.BudgetError, match=r"about 756,000,000,000 task attempts"
                                                   r" \(302,400,000,000 job runs"):
        simbatch.simulate(big)
    small = arrivals("60/h")
    with pytest.raises(simbatch.BudgetError, match="more than the limit of 1,000"):
        simbatch.simulate(small, max_attempts=1000)
    assert len(simbatch.simulate(small, max_attempts=10_000).jobs) > 1000
    path = tmp_path / "small.yaml"
    path.write_text("start: 2026-01-05 00:00\nhorizon: 1d\npolling: 0\nscheduling: priority\n"
                    "servers: {S: {threads: 4}}\n"
                    "jobs: {J: {arrivals: {rate: 60/h}, tasks: {A: {duration: 1s}}}}\n",
                    encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path), "--max-attempts", "100"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("BudgetError: ") and "--max-attempts" in err
    assert main(["run", str(path), "--out", str(tmp_path), "--max-attempts", "5000"]) == 0
    assert (tmp_path / "tasks.csv").exists()
    assert main(["compare", str(path), "-n", "1", "--max-attempts", "100"]) == 2
    assert "BudgetError" in capsys.readouterr().err


def test_progress_reaches_the_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    from simbatch.engine import model as engine

    monkeypatch.setattr(engine, "PROGRESS_EVERY", 100)
    scenario = simbatch.load(arrivals("600/h", "6h"))
    seen: list[int] = []
    run = engine.Model(scenario, 0)
    run.run(seen.append)
    assert seen and seen == sorted(seen)
    assert all(0 <= t < scenario.horizon for t in seen)
    assert len(seen) == run.events // engine.PROGRESS_EVERY
    plain = engine.Model(scenario, 0)
    plain.run()  # watching changes nothing
    assert np.array_equal(plain.recorder.rows("tasks"), run.recorder.rows("tasks"))


@pytest.mark.parametrize("address", ["not a url", "http://x:1", "tcp://host", "host:99999",
                                     ""])
def test_a_malformed_dask_address_is_a_usage_error(tmp_path: Path, address: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = scenario_with(tmp_path, BASE)
    assert main(["compare", str(path), "-n", "1", "--dask", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"UsageError: --dask {address!r}: write the scheduler's address as")
    assert "Traceback" not in err


def large_file(jobs: int = 1_100, bad_at: int | None = None, extra: str = "") -> str:
    """A plain scenario above ``safeyaml.QUICK_BYTES``, with YAML's value kinds in it."""
    lines = ["# a large tenant, written by a script", "start: 2026-01-05 22:00",
             "horizon: 1d", "timezone: Europe/Amsterdam", "servers:",
             "  AOS1: {threads: 8, periods: [{from: '08:00', to: \"18:00\", threads: 4}]}",
             "  AOS2: {threads: 8, poll_offset: 30s}", "jobs:"]
    for j in range(jobs):
        duration = "5 minutes please" if j == bad_at else f"{1 + j % 9}m"
        lines += [f"  Job {j:05d}:",
                  f"    recurrence: {{every: {30 + j % 90}m}}",
                  "    active:", "      from: 18:00", "      to: 06:00",
                  "    tasks:",
                  f"      Extract: {{duration: {{lognormal: {{mean: {duration}, sd: 30.5s}}}},"
                  f" fail: 0.0{j % 5}, retries: {j % 3}}}",
                  "      Load: {duration: 2m, after: {Extract: ended}, ignore_failure: true}"]
    return "\n".join(lines) + "\n" + extra


def test_a_large_plain_file_is_read_quickly_with_the_same_values(tmp_path: Path) -> None:
    from simbatch.scenario import shape
    from simbatch.scenario import yamlfile as safeyaml

    path = scenario_with(tmp_path, large_file(), "tenant.yaml")
    assert path.stat().st_size >= safeyaml.QUICK_BYTES
    quick = shape.read_file(path, quick=True)
    careful = shape.read_file(path)
    assert not quick.located and careful.located  # libyaml read it, without lines
    assert quick.data == careful.data
    scenario = simbatch.load(path)
    assert scenario.name == "tenant" and len(scenario.jobs) == 1_100
    assert scenario.document == careful.data


def test_a_large_file_with_an_error_still_names_its_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = large_file(bad_at=789)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "5 minutes please" in t)
    err = refused(scenario_with(tmp_path, text), capsys)
    assert "Job 00789" in err and f"line {line}" in err


@pytest.mark.parametrize("extra, message", [
    ("jobs: {}\n", "duplicate key"),
    ("polling: {every: 1:00}\n", "polling"),  # libyaml takes no ':' in a flow plain scalar
    ("name:\tx\n", "not valid YAML"),  # libyaml takes a tab that ruamel refuses
    ("name: !!int '3'\n", "YAML tag !!int"),
    ("name: 2026-02-30\n", None),
])
def test_a_large_file_that_is_not_plain_is_read_the_careful_way(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str,
        message: str | None) -> None:
    from simbatch.scenario import yamlfile as safeyaml

    text = large_file(extra=extra)
    assert safeyaml.quick_load(text) is None
    if message is None:  # an impossible date is text: the name takes it as it is
        assert simbatch.load(scenario_with(tmp_path, text)).name == "2026-02-30"
        return
    err = refused(scenario_with(tmp_path, text), capsys)
    assert message in err and f"line {len(text.splitlines())}" in err


# ---- round three: deep graphs and documents, special files, bounded excerpts ------------------

def long_job(tasks: int, forward: bool) -> dict[str, object]:
    """One job of ``tasks`` one-second tasks in a chain: each waits for the next one listed
    (``forward``) or for the one before it."""
    step = 1 if forward else -1
    chain = {f"T{i}": {"duration": "1s", "after": ({f"T{i + step}": "ended"}
                                                    if 0 <= i + step < tasks else {})}
             for i in range(tasks)}
    return {"start": "2026-01-05 22:00", "horizon": "1d", "polling": 0,
            "servers": {"A": {"threads": 2}}, "jobs": {"Chain": {"tasks": chain}}}


@pytest.mark.parametrize("forward", [True, False])  # about 1.5 s each
def test_a_chain_of_ten_thousand_tasks_validates_and_simulates(forward: bool) -> None:
    result = simbatch.simulate(long_job(10_000, forward))
    tasks = result.tasks
    assert len(tasks) == 10_000 and set(tasks["status"]) == {"Ended"}
    first = "T9999" if forward else "T0"
    assert tasks.sort_values("start")["task"].iloc[0] == first
    assert result.jobs["duration"].iloc[0].total_seconds() == 10_000


def test_a_forward_chain_of_1500_tasks_validates_on_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f"  T{i}: {{duration: 1s, after: {{T{i + 1}: ended}}}}" for i in range(1499)]
    text = BASE.replace("  J: {tasks: {T: {duration: 5m}}}\n",
                        "  J:\n    tasks:\n" + "".join(f"    {line}\n" for line in lines)
                        + "      T1499: {duration: 1s}\n")
    assert main(["validate", str(scenario_with(tmp_path, text))]) == 0
    assert "valid (1 servers, 1 groups, 1 jobs)" in capsys.readouterr().out


def test_a_cycle_among_many_tasks_is_one_message_naming_it() -> None:
    doc = long_job(3_000, forward=False)
    tasks = doc["jobs"]["Chain"]["tasks"]  # type: ignore[index]
    tasks["T1000"]["after"] = {"T999": "ended", "T1004": "ended"}
    with pytest.raises(simbatch.ScenarioError) as caught:
        simbatch.load(doc)
    assert str(caught.value) == ("<scenario>: jobs.Chain.tasks.T1001.after: dependency cycle:"
                                 " T1000 -> T1004 -> T1003 -> T1002 -> T1001 -> T1000")


def nested(depth: int) -> dict[str, object]:
    """A mapping nested ``depth`` levels deep."""
    root: dict[str, object] = {}
    node = root
    for _ in range(depth):
        node["a"] = node = {}
    return root


@pytest.mark.parametrize("where", ["duration", "top", "changes"])
def test_a_deeply_nested_mapping_from_python_is_a_scenario_error(where: str) -> None:
    deep = nested(5_000)
    with pytest.raises(simbatch.ScenarioError) as caught:
        if where == "duration":
            simbatch.load({"start": "2026-01-05 22:00", "horizon": "1d",
                           "servers": {"A": {}}, "jobs": {"J": {"tasks": {"T": {
                               "duration": deep}}}}})
        elif where == "top":
            simbatch.load(deep)
        else:
            simbatch.load(BASE_DICT).with_changes(deep)
    assert str(caught.value).endswith(".a: nested more than 64 levels deep")


def test_a_mapping_that_contains_itself_is_a_scenario_error() -> None:
    loop: dict[str, object] = {"start": "2026-01-05 22:00", "servers": {"A": {}}}
    loop["jobs"] = {"J": loop}
    with pytest.raises(simbatch.ScenarioError, match="nested more than 64 levels deep"):
        simbatch.load(loop)


BASE_DICT = {"start": "2026-01-05 22:00", "horizon": "1d", "servers": {"A": {"threads": 2}},
             "jobs": {"J": {"tasks": {"T": {"duration": "5m"}}}}}


def test_a_long_extends_chain_is_refused(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    scenario_with(tmp_path, BASE, "f0.yaml")
    for i in range(1, 40):
        scenario_with(tmp_path, f"extends: f{i - 1}.yaml\nname: n{i}\n", f"f{i}.yaml")
    err = refused(tmp_path / "f39.yaml", capsys)
    assert "extends: a chain of more than 16 files extending one another" in err
    assert main(["validate", str(tmp_path / "f10.yaml")]) == 0


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="needs /etc/passwd")
def test_extends_of_a_system_file_does_not_print_it(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(scenario_with(tmp_path, "extends: /etc/passwd\n"), capsys)
    first = Path("/etc/passwd").read_text(encoding="utf-8").splitlines()[0]
    assert first not in err and "root" not in err
    assert err.startswith("ScenarioError: /etc/passwd: a scenario must be a mapping of keys,"
                          " got text (")


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("duration: 5m", "duration: X", "jobs.J.tasks.T.duration: bad time 'xxx"),
    ("J: {tasks", "J: {group: X, tasks", "jobs.J.group: unknown group 'xxx"),
    ("J: {tasks", "J: {start: X, tasks", "jobs.J.start: bad date and time 'xxx"),
    ("horizon: 1d", "horizon: 1d\ntimezone: X", "timezone: unknown time zone 'xxx"),
    ("horizon: 1d", "horizon: 1d\nname: [X]", "name: expected text, got ['xxx"),
])
def test_a_10_kb_bad_value_is_quoted_in_at_most_80_characters(
        tmp_path: Path, old: str, new: str, problem: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    err = refused(scenario_with(tmp_path, BASE.replace(old, new.replace("X", "x" * 10_000))),
                  capsys)
    assert problem in err and "…" in err and "x" * 80 not in err and len(err) < 400


def test_the_excerpt_is_bounded_for_every_kind_of_value() -> None:
    from simbatch.errors import excerpt

    assert excerpt("-2m") == "'-2m'" and excerpt({"sd": 1}) == "{'sd': 1}"
    assert excerpt("x" * 10_000) == "'" + "x" * 78 + "…"
    for value in (nested(5_000), list(range(10_000)), 10**5000, "é" * 1000, b"\0" * 999):
        assert len(excerpt(value)) <= 80


@pytest.mark.parametrize("kind", ["folder", "fifo", "zero", "null"])
def test_a_special_file_is_refused_before_it_is_read(
        tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    if kind == "fifo":
        path = tmp_path / "pipe.yaml"
        os.mkfifo(path)  # nobody writes to it: reading it would block for ever
    elif kind == "folder":
        path = tmp_path
    else:
        path = Path(f"/dev/{kind}")
        if not path.exists():
            pytest.skip(f"no {path}")
    err = refused(path, capsys)
    what = {"folder": "a folder", "fifo": "a FIFO (named pipe)"}.get(kind, "a device")
    assert err == f"ScenarioError: {path}: is {what}, not a file: give a scenario file\n"


def test_an_empirical_file_that_is_a_device_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = BASE.replace("duration: 5m", "duration: {empirical: {file: /dev/zero, column: s}}")
    err = refused(scenario_with(tmp_path, text), capsys)
    assert "jobs.J.tasks.T.duration.empirical.file: empirical file '/dev/zero' cannot be" \
           " read: is a device, not a file" in err


def load_benchmark() -> object:
    """``benchmarks/load.py`` as a module: its generated 300-server, 5,000-job month."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "load_benchmark", Path(__file__).parent.parent / "benchmarks" / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_ctrl_c_stops_a_big_run_cleanly(tmp_path: Path) -> None:
    import json
    import signal
    import subprocess
    import sys
    import time

    doc = load_benchmark().farm_month()  # type: ignore[attr-defined]
    path = tmp_path / "month.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")  # YAML 1.2 reads JSON
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "simbatch", "run", str(path), "--out",
                             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(10)  # loading and simulating: the whole run takes minutes
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode in (130, 2), stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == ["interrupted: stopped; finished outputs and stored"
                                           " replications are kept"], stderr
    assert not out.exists() or not any(out.iterdir())  # no partial output files


def test_the_document_walkers_take_any_depth_without_recursion() -> None:
    from simbatch.scenario.paths import plain
    from simbatch.scenario.yamlfile import YamlLimitError, expansion

    deep = nested(5_000)
    copied, depth = plain(deep), 0
    while copied:  # (comparing with == would recurse)
        copied, depth = copied["a"], depth + 1
    assert depth == 5_000
    assert plain({"a": (1, [2, {"b": 3}]), 4: "x"}) == {"a": [1, [2, {"b": 3}]], "4": "x"}
    assert expansion(deep) == (10_001, 10_001)  # every mapping and its one key
    shared = ["x"] * 3
    assert expansion({"a": shared, "b": shared}) == (8, 11)  # the second use: 1 against 4
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(YamlLimitError, match="refers to itself"):
        expansion({"a": loop})
