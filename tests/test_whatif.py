"""What-if files: ``extends:`` plus only what changes, and ``Scenario.with_changes``."""

from __future__ import annotations

from pathlib import Path

import pytest

import simbatch
from simbatch.scenario import paths

BASE = """\
name: Base tenant
start: 2026-01-05 22:00
horizon: 1d
servers:
  AOS1: {threads: 8}
  AOS2: {threads: 8, periods: [{from: 08:00, to: 18:00, threads: 2}]}
groups:
  Integration: {servers: [AOS2]}
jobs:
  Import:
    group: Integration
    arrivals: {interval: {exponential: 10m}}
    tasks:
      Read: {duration: 1m, fail: 0.1, retries: 2}
  Close:
    tasks:
      Close: {duration: 2h, runtime: {tasks: 4, duration: 20m}}
scheduling: affinity
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_deep_merges_and_null_removes(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "more.yaml", """\
extends: base.yaml
name: One more server
servers:
  AOS3: {threads: 4}
  AOS2: {periods: null}
groups:
  Integration: {servers: [AOS2, AOS3]}
jobs:
  Close: null
""")
    scenario = simbatch.load(child)
    assert scenario.name == "One more server"
    assert [s.name for s in scenario.servers] == ["AOS1", "AOS2", "AOS3"]
    aos2 = scenario.servers[1]
    assert (aos2.threads, aos2.periods) == (8, ())  # threads kept, periods removed
    assert scenario.group("Integration").servers == ("AOS2", "AOS3")
    assert [j.name for j in scenario.jobs] == ["Import"]
    assert scenario.horizon == simbatch.load(tmp_path / "base.yaml").horizon


def test_extends_chains_and_relative_paths(tmp_path: Path) -> None:
    write(tmp_path, "base/base.yaml", BASE)
    write(tmp_path, "base/night.yaml", "extends: base.yaml\nhorizon: 2d\n")
    top = write(tmp_path, "variants/top.yaml", "extends: ../base/night.yaml\nname: Top\n")
    scenario = simbatch.load(top)
    assert (scenario.name, scenario.horizon) == ("Top", 2 * 86_400 * 10**9)


def test_errors_point_at_the_file_that_wrote_the_key(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", BASE.replace("threads: 2}", "threads: -2}"))
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nname: x\n")
    with pytest.raises(simbatch.ScenarioError) as raised:
        simbatch.load(child)
    assert str(raised.value).startswith(f"{tmp_path / 'base.yaml'}: servers.AOS2.periods[0]")
    assert raised.value.line == 6
    write(tmp_path, "base.yaml", BASE)
    write(tmp_path, "child.yaml", "extends: base.yaml\nservers:\n  AOS1: {thread: 4}\n")
    with pytest.raises(simbatch.ScenarioError, match=r"child\.yaml: servers\.AOS1: unknown key"
                                                     r" 'thread' .*\(line 3\)"):
        simbatch.load(child)


def test_extends_a_missing_file_or_itself(tmp_path: Path) -> None:
    missing = write(tmp_path, "a.yaml", "extends: nowhere.yaml\n")
    with pytest.raises(simbatch.ScenarioError, match=r"a\.yaml: extends: extends 'nowhere\.yaml',"
                                                     r" but there is no such file"):
        simbatch.load(missing)
    itself = write(tmp_path, "self.yaml", "extends: self.yaml\n" + BASE)
    with pytest.raises(simbatch.ScenarioError, match=r"extends itself: self\.yaml -> self\.yaml"):
        simbatch.load(itself)
    write(tmp_path, "x.yaml", "extends: y.yaml\n")
    write(tmp_path, "y.yaml", "extends: x.yaml\n")
    with pytest.raises(simbatch.ScenarioError, match=r"extends itself: x\.yaml -> y\.yaml ->"
                                                     r" x\.yaml"):
        simbatch.load(tmp_path / "x.yaml")


def test_extends_a_folder_a_device_or_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    folder = write(tmp_path, "a.yaml", "extends: folder\n")
    with pytest.raises(simbatch.ScenarioError, match=r"a\.yaml: extends: extends 'folder',"
                                                     r" which is not a file but a folder"):
        simbatch.load(folder)
    device = write(tmp_path, "d.yaml", "extends: /dev/zero\n")
    with pytest.raises(simbatch.ScenarioError, match=r"d\.yaml: extends: extends '/dev/zero',"
                                                     r" which is not a file but a special file"):
        simbatch.load(device)
    # a symlink to a file is followed, and its relative paths are the target's own
    write(tmp_path, "base.yaml", BASE)
    (tmp_path / "link.yaml").symlink_to("base.yaml")
    linked = write(tmp_path, "b.yaml", "extends: link.yaml\n")
    assert simbatch.load(linked).servers == simbatch.load(tmp_path / "base.yaml").servers
    # a loop of symlinks is one message, not a traceback
    (tmp_path / "loop1.yaml").symlink_to("loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to("loop1.yaml")
    looped = write(tmp_path, "c.yaml", "extends: loop1.yaml\n")
    with pytest.raises(simbatch.ScenarioError, match=r"c\.yaml: extends: extends 'loop1\.yaml',"
                                                     r" which cannot be followed"):
        simbatch.load(looped)


def test_with_changes_in_python(tmp_path: Path) -> None:
    base = simbatch.load(write(tmp_path, "base.yaml", BASE))
    bigger = base.with_changes({"servers": {"AOS3": {"threads": 4}},
                                "groups": {"Integration": {"servers": ["AOS2", "AOS3"]}}})
    assert [s.name for s in bigger.servers] == ["AOS1", "AOS2", "AOS3"]
    assert base.servers != bigger.servers  # the original is untouched
    # common random numbers: the workload is the same, the schedule differs
    a, b = simbatch.simulate(base, seed=3), simbatch.simulate(bigger, seed=3)
    assert a.jobs.scheduled.equals(b.jobs.scheduled)
    with pytest.raises(simbatch.ScenarioError, match=r"\(with changes\): groups\.Integration"
                                                     r"\.servers\[1\]: unknown server 'AOS9'"):
        base.with_changes({"groups": {"Integration": {"servers": ["AOS2", "AOS9"]}}})


@pytest.mark.parametrize(("change", "message"), [
    ({"recurrence": {"every": "1x"}}, "recurrence.every: bad recurrence step '1x'"),
    ({"recurrence": {"every": "1d", "cron": "0 22 * * *"}}, "every: (such as 1d) or cron:"),
    ({"recurrence": {"cron": "61 22 * * *"}}, "recurrence.cron: bad cron expression"),
    ({"recurrence": {"cron": "0 22 * *"}}, "recurrence.cron: bad cron expression"),
    ({"recurrence": {"every": "1d", "on": ["mon"]}}, "on: names weekdays, for a weekly"),
    ({"recurrence": {"every": "1w", "day": 3}}, "day: is for monthly or yearly"),
    ({"recurrence": {"every": "1mo", "day": 32}}, "day is 1 to 31 or last, got 32"),
    ({"recurrence": {"every": "1d", "count": 0}}, "count: must be greater than or equal to 1"),
    ({"recurrence": {"every": "1d", "until": "2026-01-01"}}, "is before the job's start"),
    ({"recurrence": {"cron": "0 22 * * *", "anchor": "end"}}, "anchor: end needs every:"),
    ({"recurrence": {"every": "1d", "anchor": "drift"}}, "expected one of 'slot' or 'end'"),
    ({"recurrence": {"every": "1d"}, "arrivals": {"interval": "1h"}}, "not both"),
    ({"timezone": "Europe/Amstredam"}, "jobs.Close.timezone: unknown time zone"),
    ({"recurrence": {"every": "1w", "on": ["mon"], "anchor": "end"}},
     "anchor: end repeats one interval after each run; it cannot keep on: or day:"),
    ({"recurrence": {"cron": "0 0 * * * *"}}, "use five fields"),
    ({"recurrence": {"every": "1w", "on": []}}, "an empty list of weekdays"),
    ({"recurrence": {"every": "1w", "on": ["mon", "mon"]}}, "name a day twice"),
    ({"active": []}, "jobs.Close.active: an empty list of windows"),
    ({"active": {"from": "20:00", "to": "23:00", "days": []}}, "an empty list of weekdays"),
    ({"tasks": {"Close": {"class": ""}}}, "class: must not be empty"),
    ({"active": {"from": "20:00", "to": "20:00"}}, "active: window from '20:00' to '20:00'"),
    ({"active": {"from": "20:00", "to": "23:00", "days": "weekends"}},
     "active.days: unknown weekday 'weekends'"),
])
def test_bad_workload_over_time_gets_a_clear_error(tmp_path: Path, change: dict[str, object],
                                                   message: str) -> None:
    base = simbatch.load(write(tmp_path, "base.yaml", BASE))
    with pytest.raises(simbatch.ScenarioError) as raised:
        base.with_changes({"jobs": {"Close": change}})
    assert message in str(raised.value)


def test_removing_a_key_the_base_lacks_is_an_error(tmp_path: Path) -> None:
    base = simbatch.load(write(tmp_path, "base.yaml", BASE))
    with pytest.raises(simbatch.ScenarioError, match=r"jobs\.Reportng: null removes"
                                                     r" 'jobs\.Reportng', but the base has no"
                                                     " such key"):
        base.with_changes({"jobs": {"Reportng": None}})
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nservers:\n  AOS9: null\n")
    with pytest.raises(simbatch.ScenarioError, match=r"child\.yaml: servers\.AOS9: null"
                                                     r" removes .* \(line 3\)"):
        simbatch.load(child)


def test_warnings_for_settings_that_do_nothing(tmp_path: Path) -> None:
    base = simbatch.load(write(tmp_path, "base.yaml", BASE))
    with pytest.warns(simbatch.SimbatchWarning, match="affinity scheduling ignores them"):
        base.with_changes({"groups": {"Integration": {"priority": "high"}}})
    with pytest.warns(simbatch.SimbatchWarning, match="every rate is 0, so this job never"):
        base.with_changes({"jobs": {"Import": {"arrivals": {"interval": None,
                                                            "rate": "0/h"}}}})


def test_unknown_server_zone(tmp_path: Path) -> None:
    base = simbatch.load(write(tmp_path, "base.yaml", BASE))
    with pytest.raises(simbatch.ScenarioError, match=r"servers\.AOS1\.timezone: unknown time zone"):
        base.with_changes({"servers": {"AOS1": {"timezone": "Mars/Base"}}})


# ---- paths into the document ----------------------------------------------------------------

def test_one_path_walker_reads_sets_and_changes_values(tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text(BASE, encoding="utf-8")
    loaded = simbatch.load(base)
    document = paths.plain(loaded.document)
    assert paths.parse_path("servers.AOS2.periods[0].threads") == [
        "servers", "AOS2", "periods", 0, "threads"]
    assert paths.get_value(document, "servers.AOS2.periods[0].threads") == 2
    values = {"servers.AOS2.periods[0].threads": 5, "servers.AOS1.threads": 3}
    changed = paths.set_values(document, values)
    assert document["servers"]["AOS1"]["threads"] == 8  # the document is left alone
    assert [paths.get_value(changed, p) for p in values] == [5, 3]
    merged = loaded.with_changes(paths.changes_for(document, values))
    assert merged.document["servers"] == changed["servers"]
    assert paths.set_values(document, {"servers.AOS1.note": "x"})["servers"]["AOS1"] == {
        "threads": 8, "note": "x"}
    for bad, message in [
            ("servers.AOS3.threads", "path 'servers.AOS3.threads': the scenario has no"
                                     " 'servers.AOS3'"),
            ("servers.AOS2.periods[4].threads", "the scenario has no 'servers.AOS2.periods[4]'"),
            ("servers.AOS1.threads.x", "'x' is not inside a mapping"),
            ("servers..x", "bad path 'servers..x'")]:
        with pytest.raises(simbatch.UsageError) as raised:
            paths.set_values(document, {bad: 1})
        assert message in str(raised.value)
    # a new last key is allowed (a job's priority where it had none); the schema then
    # refuses a key that does not exist
    assert paths.changes_for(document, {"servers.AOS1.note": 1}) == {
        "servers": {"AOS1": {"note": 1}}}
    with pytest.raises(simbatch.ScenarioError, match="unknown key 'note'"):
        loaded.with_changes(paths.changes_for(document, {"servers.AOS1.note": 1}))
    with pytest.raises(simbatch.UsageError) as raised:
        paths.changes_for(document, {"servers.AOS3.threads": 1})
    assert "vary 'servers.AOS3.threads': the scenario has no 'servers.AOS3'" in str(
        raised.value)
