"""The levers a cloud customer holds: plans over priorities, start times, tied threads and
the server count, evaluated in parallel with the same decisions on every executor."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import simbatch
from simbatch.scenario.settings import make_variable
from tests.test_plan import erlang_c_wait, mmc


def night(reports_start: str = "2026-01-05 21:55", **nightly: Any) -> dict[str, Any]:
    """A burst of 60 report tasks (4 threads: an hour of work) before a nightly chain of
    four 6-minute tasks due by 22:40; both recur daily for three nights."""
    chain = {"A": {"duration": "6m"}, "B": {"duration": "6m", "after": {"A": "ended"}},
             "C": {"duration": "6m", "after": {"B": "ended"}},
             "D": {"duration": "6m", "after": {"C": "ended"}}}
    return {"name": "night", "start": "2026-01-05 21:00", "horizon": "3d", "polling": 0,
            "servers": {"S1": {"threads": 4}},
            "jobs": {
                "Reports": {"start": reports_start, "recurrence": {"every": "1d"},
                            "deadline": "01:00",
                            "tasks": {f"R{i}": {"duration": "4m"} for i in range(60)}},
                "Nightly": {"start": "2026-01-05 22:00", "recurrence": {"every": "1d"},
                            "deadline": "22:40", **nightly, "tasks": chain}}}


TARGET = "deadline_miss <= 10% for Nightly"


def test_a_priority_lever_picks_the_smaller_change() -> None:
    found = simbatch.plan(night(), {"jobs.Nightly.priority": ["normal", "high", "critical"]},
                          [TARGET], executor="serial")
    assert found.levers == ("jobs.Nightly.priority",)
    verdicts = dict(zip(found.evaluations["jobs.Nightly.priority"],
                        found.evaluations.verdict, strict=True))
    # behind the burst at Normal it misses every night; High and Critical both meet it,
    # and High is one step from the base where Critical is two
    assert verdicts == {"normal": "failed", "high": "met", "critical": "met"}
    assert found.met and found.choice == {"jobs.Nightly.priority": "high"}
    assert found.changes() == {"jobs": {"Nightly": {"priority": "high"}}}
    # three candidates of 10 replications in one batch, then 10 fresh ones for the choice
    assert found.runs == 40 and found.confirmation is not None
    assert list(found.confirmation.n) == [30] and bool(found.confirmation.met.all())
    # the choice holds on independent replications (other seeds)
    again = simbatch.replicate(found.recommended, 10, seed=12_345, executor="serial")
    rows = again.metrics[(again.metrics.metric == "deadline_misses")
                         & (again.metrics.key == "Nightly")]
    assert rows.value.sum() == 0


def test_a_choice_that_fresh_replications_do_not_confirm_is_passed_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from simbatch.planning.search import Search

    confirm = Search.confirm

    def refuse_high(self: Search, c: Any) -> bool:
        met = confirm(self, c)
        if self.catalog.label(c.point) == "jobs.Nightly.priority=high":
            c.confirmed, c.verdict = False, "unconfirmed"
            return False
        return met

    monkeypatch.setattr(Search, "confirm", refuse_high)
    found = simbatch.plan(night(), {"jobs.Nightly.priority": ["normal", "high", "critical"]},
                          [TARGET], executor="serial")
    assert found.met and found.choice == {"jobs.Nightly.priority": "critical"}
    assert ("jobs.Nightly.priority=high met the targets on the search's replications but"
            " not on 10 fresh ones, so it is not chosen") in found.notes
    assert found.runs == 50


def test_a_start_time_lever_finds_the_known_best_window() -> None:
    # Reports (an hour of work, due by 01:00) starting at 22:00 block the chain (done by
    # 22:24 alone); the least move is to start them at 22:30, after the chain: 30 minutes
    # (21:00, an hour earlier, meets too but moves further; after 00:00 Reports are late)
    found = simbatch.plan(night("2026-01-05 22:00"), ["jobs.Reports.start=21:00..00:30/15m"],
                          [TARGET, "deadline_miss <= 10% for Reports"], executor="serial")
    assert found.choice == {"jobs.Reports.start": "2026-01-05 22:30"} and found.met
    met = found.evaluations[found.evaluations.verdict == "met"]
    assert set(met["jobs.Reports.start"]) >= {"2026-01-05 21:00", "2026-01-05 22:30"}
    assert "2026-01-06 00:15" not in set(met["jobs.Reports.start"])


def test_time_values_keep_the_date_and_cross_midnight() -> None:
    document = night()
    v = make_variable(document, "jobs.Reports.start", "22:00..02:00/1h")
    assert v.values == ("2026-01-05 22:00", "2026-01-05 23:00", "2026-01-06 00:00",
                        "2026-01-06 01:00", "2026-01-06 02:00")
    assert v.base is None and v.step(0) == 5  # 21:55 is not listed: 5 minutes away
    after = make_variable({**document, "jobs": {"Reports": {
        **document["jobs"]["Reports"], "start": "2026-01-06 01:00"}}},
        "jobs.Reports.start", "22:00..02:00/1h")
    assert after.values[0] == "2026-01-05 22:00" and after.base == 3
    window = make_variable({"jobs": {"J": {"active": {"from": "20:00", "to": "23:00"}}}},
                           "jobs.J.active.from", "19:00..21:00/30m")
    assert window.values == ("19:00", "19:30", "20:00", "20:30", "21:00")
    assert (window.base, window.step(0), window.step(4)) == (2, 60, 60)


def test_values_in_order_count_their_steps_from_the_base() -> None:
    document = night()
    priority = make_variable(document, "jobs.Nightly.priority", "low,normal,high,critical")
    assert (priority.base, [priority.step(k) for k in range(4)]) == (1, [1, 0, 1, 2])
    reserved = make_variable(document, "reserved_capacity", ["none", "low", "high"])
    assert reserved.base == 0 and reserved.kind == "category"
    switch = make_variable(document, "throttle", "true,false")
    assert (switch.values, switch.base) == ((True, False), 0)


@pytest.mark.parametrize(("spec", "message"), [
    ("1..20000", "20,000 values, more than the 10,000"),
    ("high", "write LO..HI"),
    ("normal,normal", "given twice"),
])
def test_a_bad_range_is_refused_before_any_run(spec: str, message: str) -> None:
    with pytest.raises(simbatch.UsageError, match=message):
        simbatch.plan(night(), {"jobs.Nightly.priority": spec}, [TARGET], executor="serial")


def test_ranges_past_the_work_budget_are_refused_before_any_run() -> None:
    doc = mmc(12, 10, 3)  # about 864 runs: at 10,000 runtime tasks each, 8.6 million attempts
    doc["jobs"]["J"]["tasks"]["T"]["runtime"] = {"tasks": 1, "duration": "1m"}
    with pytest.raises(simbatch.BudgetError, match=r"the candidate .*tasks=10000 is past"
                       r" the work budget"):
        simbatch.plan(doc, ["jobs.J.tasks.T.runtime.tasks=1..10000/9999"],
                      ["wait_mean <= 1m"], executor="serial")


def test_patterns_ties_and_the_server_count_write_the_scenario() -> None:
    base = {**mmc(12, 10, 1), "scheduling": "affinity", "platform": "on-premises",
            "servers": {"S1": {"threads": 1}, "S2": {"threads": 1}},
            "groups": {"default": {"servers": ["S1", "S2"]}}}
    table = simbatch.sweep(base, {"servers.*.threads": [2], "servers.count": [3]},
                           executor="serial")
    assert table.shape[0] == 1
    scenario = simbatch.load(base)
    tie = make_variable(scenario.document, "night", "1..3",
                        {"night": ["servers.S1.threads", "servers.S2.threads"]})
    assert tie.paths == ("servers.S1.threads", "servers.S2.threads") and tie.base == 0
    count = make_variable(scenario.document, "servers.count(S1)", "1..3")
    from simbatch.scenario.paths import changes_for
    assert changes_for(scenario.document, count.setting(2)) == {
        "servers": {"S1-2": {"threads": 1}}, "groups": {"default": {"servers": [
            "S1", "S2", "S1-2"]}}}
    assert changes_for(scenario.document, count.setting(0)) == {
        "servers": {"S2": None}, "groups": {"default": {"servers": ["S1"]}}}


@pytest.mark.slow
@pytest.mark.parametrize("vary", [{"servers.*.threads": range(1, 9)},
                                  {"servers.count": range(1, 17)}])
def test_tied_threads_and_the_server_count_match_erlang_c(vary: dict[str, range]) -> None:
    # offered load 2, wait target 2 min: Erlang C needs 4 threads (Wq(3) = 4.44 min,
    # Wq(4) = 0.87 min); tied over two servers that is 2 each, or 4 one-thread servers
    lam, mu = 12 / 60, 1 / 10
    assert next(c for c in range(1, 17) if erlang_c_wait(lam, mu, c) <= 2) == 4
    doc = {**mmc(12, 10, 8), "platform": "on-premises"}
    if "servers.*.threads" in vary:
        doc["servers"] = {"S1": {"threads": 1}, "S2": {"threads": 1}}
    found = simbatch.plan(doc, vary, ["wait_mean <= 120s"], replications=10, warmup="12h",
                          seed=3)
    assert found.levers == ()
    assert found.met and found.choice == {next(iter(vary)): 2 if "servers.*.threads" in vary
                                          else 4}


@pytest.mark.slow
def test_the_same_choice_on_serial_pool_and_dask() -> None:
    distributed = pytest.importorskip("distributed")
    kwargs: dict[str, Any] = {"vary": ["jobs.Nightly.priority=normal,high,critical",
                                       "jobs.Reports.start=21:30..22:30/30m"],
                              "targets": [TARGET], "replications": 3}
    serial = simbatch.plan(night(), executor="serial", **kwargs)
    pool = simbatch.plan(night(), **kwargs)
    with distributed.LocalCluster(n_workers=2, processes=False, dashboard_address=None) \
            as cluster, distributed.Client(cluster) as client:
        on_dask = simbatch.plan(night(), executor=client, **kwargs)
    for other in (pool, on_dask):
        assert other.choice == serial.choice and other.runs == serial.runs
        pd.testing.assert_frame_equal(serial.evaluations, other.evaluations)
        pd.testing.assert_frame_equal(serial.metrics, other.metrics)


TWO_SERVERS = """\
name: two
start: 2026-01-01 00:00
horizon: 1d
polling: 0
servers:
  S1: {threads: 1}
  S2: {threads: 1}
jobs:
  J:
    arrivals: {interval: {exponential: 10m}}
    tasks: {T: {duration: {exponential: 10m}}}
"""


def test_cli_plan_with_a_tie_and_sweep_with_vary(write_yaml: Any,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from simbatch.cli.main import main

    path = str(write_yaml(TWO_SERVERS))
    assert main(["plan", path, "--tie", "both=servers.S1.threads,servers.S2.threads",
                 "--vary", "both=1..4", "--target", "wait_mean <= 5m", "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert "least: the least capacity" in out and "  both = " in out
    assert main(["sweep", path, "--vary", "servers.*.threads=1..2", "--vary",
                 "servers.count=1,2"]) == 0
    out = capsys.readouterr().out
    assert "servers.*.threads  servers.count" in out and len(out.splitlines()) == 6


@pytest.mark.parametrize(("args", "message"), [
    (["plan", "--tie", "both", "--vary", "both=1..2", "--target", "wait_mean <= 5m"],
     "write NAME=PATH,PATH"),
    (["plan", "--vary", "servers.count(S9)=1..2", "--target", "wait_mean <= 5m"],
     "no server 'S9'"),
    (["plan", "--vary", "jobs.J.start=22:00..23:00/7s", "--target", "wait_mean <= 5m"],
     "whole minutes"),
    (["sweep", "--vary", "servers.S1.threads"], "write PATH=LO..HI[/STEP]"),
    (["sweep", "--vary", "servers.*.threads=1..20000"], "more than the 10,000"),
])
def test_cli_bad_vary_exits_2(write_yaml: Any, args: list[str], message: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from simbatch.cli.main import main

    command, *rest = args
    code = main([command, str(write_yaml(TWO_SERVERS)), *rest])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("UsageError: ") and message in err, err


def test_a_weight_changes_what_least_means() -> None:
    vary = {"jobs.Nightly.priority": "normal,high,critical",
            "jobs.Reports.start": "22:00..22:30/30m"}
    plain = simbatch.plan(night("2026-01-05 22:00"), vary, [TARGET], executor="serial")
    assert plain.choice == {"jobs.Nightly.priority": "high",
                            "jobs.Reports.start": "2026-01-05 22:00"}
    # a priority change counted as 50 settings: moving the reports is the smaller change
    weighted = simbatch.plan(night("2026-01-05 22:00"), vary, [TARGET], executor="serial",
                             weights={"jobs.Nightly.priority": 50})
    assert weighted.choice == {"jobs.Nightly.priority": "normal",
                               "jobs.Reports.start": "2026-01-05 22:30"}
    chosen = weighted.evaluations[weighted.evaluations.chosen].iloc[0]
    assert (chosen.changes, chosen.steps) == (1, 30)


def test_a_lever_beside_one_capacity_variable_gets_its_least_capacity() -> None:
    found = simbatch.plan(night(), {"jobs.Nightly.priority": "normal,high",
                                    "servers.S1.threads": "1..8"}, [TARGET], executor="serial")
    assert found.levers == ("jobs.Nightly.priority",)
    tried = {(r["jobs.Nightly.priority"], r["servers.S1.threads"]): r["verdict"]
             for r in found.evaluations.to_dict("records")}
    # Normal fails even with 8 threads; at High a bisection over the threads finds 3
    assert tried == {("normal", 8): "failed", ("high", 8): "met", ("high", 4): "met",
                     ("high", 2): "undecided", ("high", 3): "met"}
    assert found.choice == {"jobs.Nightly.priority": "high", "servers.S1.threads": 3}


def test_two_capacity_variables_beside_a_lever_are_refused() -> None:
    doc = night()
    doc["servers"]["S2"] = {"threads": 1}
    with pytest.raises(simbatch.UsageError, match=r"at most one capacity variable beside"
                       r" levers, got servers.S1.threads, servers.S2.threads; tie them"):
        simbatch.plan(doc, {"jobs.Nightly.priority": "normal,high",
                            "servers.S1.threads": "1..4", "servers.S2.threads": "1..4"},
                      [TARGET], executor="serial")
