"""Group affinity: a task runs only on its group's servers, as in the reference."""

from __future__ import annotations

import copy

import pytest

import simbatch
from tests.conftest import SCENARIOS


@pytest.fixture(scope="module")
def affinity_doc() -> dict[str, object]:
    return copy.deepcopy(dict(simbatch.load(SCENARIOS / "affinity.yaml").document))


def servers_by_group(result: simbatch.Result) -> dict[str, set[str]]:
    ran = result.tasks.dropna(subset=["server"])
    return {g: set(rows.server) for g, rows in ran.groupby("group")}


def test_bg1_never_runs_on_aos1_and_bound_servers_run_only_bg1(affinity_doc) -> None:
    for seed in range(3):
        used = servers_by_group(simbatch.simulate(affinity_doc, seed=seed))
        assert used["BG1"] == {"AOS2", "AOS3"}  # both used, AOS1 never
        assert used["default"] == {"AOS1"}  # default group not listed on AOS2/AOS3


def test_bound_servers_run_default_work_when_the_default_group_lists_them(affinity_doc) -> None:
    doc = copy.deepcopy(affinity_doc)
    doc["groups"]["default"] = {"servers": ["AOS1", "AOS2"]}
    used = servers_by_group(simbatch.simulate(doc, seed=0))
    assert used["BG1"] == {"AOS2", "AOS3"}
    assert used["default"] == {"AOS1", "AOS2"}


def test_unbound_servers_form_the_default_group(affinity_doc) -> None:
    scenario = simbatch.load(affinity_doc)
    assert scenario.group("default").servers == ("AOS1",)
    assert scenario.group("BG1").servers == ("AOS2", "AOS3")


def test_affinity_strands_work_while_other_servers_idle() -> None:
    # One busy group bound to a one-thread server: its second task waits for the first
    # even though the other server is idle the whole time.
    doc = {
        "start": "2026-01-05 00:00", "horizon": "1h", "polling": 0, "scheduling": "affinity",
        "servers": {"A": {"threads": 1}, "B": {"threads": 4}},
        "groups": {"Integration": {"servers": ["A"]}},
        "jobs": {"J": {"group": "Integration", "tasks": {
            "X": {"duration": "10m"}, "Y": {"duration": "10m"}}}},
    }
    tasks = simbatch.simulate(doc).tasks
    assert set(tasks.server) == {"A"}
    assert tasks.wait.max().total_seconds() == 600
