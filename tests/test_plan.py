"""simbatch.plan: targets, candidates, cost, the search and its guarantees, the CLI.

Statistical checks use fixed seeds, so each is deterministic; their targets are set about
halfway (on a log scale) between the closed-form values of neighbouring capacities, so a
correct planner is not on a knife's edge.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import simbatch
from simbatch.cli.main import main
from simbatch.planning.candidates import thread_hours
from simbatch.planning.targets import parse_target
from simbatch.scenario.paths import changes_for
from simbatch.scenario.settings import parse_vary
from tests.conftest import ROOT


def erlang_c_wait(arrival_rate: float, service_rate: float, c: int) -> float:
    """Mean time in queue of M/M/c (same time unit as the rates); inf when unstable."""
    a = arrival_rate / service_rate
    if a >= c:
        return math.inf
    top = a**c / math.factorial(c) / (1 - a / c)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top) / (
        c * service_rate - arrival_rate)


def mmc(per_hour: float, service_minutes: float, days: float) -> dict[str, Any]:
    job: dict[str, Any] = {
        "arrivals": {"interval": {"exponential": f"{3600 / per_hour}s"}},
        "tasks": {"T": {"duration": {"exponential": f"{service_minutes}m"}}}}
    doc: dict[str, Any] = {
        "name": "mmc", "start": "2026-01-01 00:00", "horizon": f"{days}d", "polling": 0,
        "scheduling": "priority", "servers": {"S": {"threads": 1}}, "jobs": {"J": job}}
    return doc


# ---- targets --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "metric", "op", "value", "key", "kind"), [
    ("wait_p95 <= 2m for Integration", "wait_p95", "<=", 120.0, "Integration", "time"),
    ("wait_mean<90s", "wait_mean", "<", 90.0, "all", "time"),
    ("utilization <= 80% for AOS1", "utilization", "<=", 0.8, "AOS1", "percent"),
    ("jobs_error <= 0", "jobs_error", "<=", 0.0, "all", "number"),
    ('deadline_miss <= 5% for "Master planning"', "deadline_miss", "<=", 0.05,
     "Master planning", "percent"),
    ("deadline_misses <= 1 for 'Master planning'", "deadline_misses", "<=", 1.0,
     "Master planning", "number"),
    ('lateness_p95 <= 10m for "Master planning"', "lateness_p95", "<=", 600.0,
     "Master planning", "time"),
    ('margin_min >= 30m for "Recurring invoicing"', "margin_min", ">=", 1800.0,
     "Recurring invoicing", "time"),
    ("latest_finish < 1h30m for Master planning", "latest_finish", "<", 5400.0,
     "Master planning", "time"),
    ("deadline_runs > 6 for X", "deadline_runs", ">", 6.0, "X", "number"),
])
def test_parse_target(text: str, metric: str, op: str, value: float, key: str,
                      kind: str) -> None:
    target = parse_target(text)
    assert (target.metric, target.op, target.key, target.kind) == (metric, op, key, kind)
    assert target.value == pytest.approx(value)
    assert target.upper == (op in ("<=", "<"))


@pytest.mark.parametrize(("text", "message"), [
    ("wait_p95 == 2m", "one of <=, <, >=, >"),
    ("wait_p95 = 2m", "one of <=, <, >=, >"),
    ("wait_p95 <=", "no value"),
    ("wait_p95 <= 2 minutes", "bad value '2 minutes'"),
    ("wait_p95 <= 2m for ''", "name the key"),
    ("<= 2m", "write METRIC OP VALUE"),
    ("deadline_miss <= five%", "bad value 'five%'"),
])
def test_malformed_targets_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(simbatch.UsageError, match="target") as caught:
        parse_target(text)
    assert message in str(caught.value)


def test_a_target_names_metrics_and_keys_that_runs_produce() -> None:
    produced = {("wait_mean_s", "all"), ("wait_mean_s", "G"), ("utilization", "S")}
    assert parse_target("wait_mean <= 1m for G").column(produced) == "wait_mean_s"
    assert parse_target("wait_mean_s <= 1m").column(produced) == "wait_mean_s"
    assert parse_target("utilization <= 80% for S").column(produced) == "utilization"
    cases = [("deadline_miss <= 5% for X", "produce no metric 'deadline_miss'"),
             ("wait_mean <= 1m for H", "for 'G', 'all', not for 'H'"),
             ("utilization <= 80%", "not for 'all'"),
             ("utilization <= 2m for S", "not a time"),
             ("wait_mean <= 5% for G", "is a time")]
    for text, message in cases:
        with pytest.raises(simbatch.UsageError, match=message):
            parse_target(text).column(produced)


def test_parse_vary() -> None:
    assert parse_vary("servers.AOS1.periods[1].threads=4..16") == (
        "servers.AOS1.periods[1].threads", range(4, 17))
    assert parse_vary("servers.S.threads = 3 .. 3")[1] == range(3, 4)
    for bad, message in [("servers.S.threads", "PATH=LO..HI"), ("x=1-4", "PATH=LO..HI"),
                         ("x=a..4", "PATH=LO..HI"), ("x=5..4", "above"),
                         ("servers..S=1..2", "bad path")]:
        with pytest.raises(simbatch.UsageError, match=message):
            parse_vary(bad)


# ---- candidates and cost --------------------------------------------------------------------

def test_changes_copy_whole_lists_and_leave_aliases_alone() -> None:
    period = {"from": "08:00", "to": "18:00", "threads": 2}
    document = {"servers": {"A": {"periods": [period, {"from": "18:00", "to": "08:00",
                                                       "threads": 20}]},
                            "B": {"threads": 4}}}
    document["servers"]["C"] = document["servers"]["A"]  # a YAML alias
    changes = changes_for(document, {"servers.A.periods[1].threads": 9,
                                     "servers.B.threads": 5})
    assert changes == {"servers": {"A": {"periods": [period, {"from": "18:00", "to": "08:00",
                                                              "threads": 9}]},
                                   "B": {"threads": 5}}}
    assert document["servers"]["C"]["periods"][1]["threads"] == 20
    with pytest.raises(simbatch.UsageError, match=r"no 'servers.A.periods\[5\]'"):
        changes_for(document, {"servers.A.periods[5].threads": 1})


def test_thread_hours_follow_the_periods() -> None:
    scenario = simbatch.load({
        "start": "2026-01-05 00:00", "horizon": "1d", "scheduling": "priority",
        "servers": {"A": {"threads": 8, "periods": [
            {"from": "08:00", "to": "18:00", "threads": 2},
            {"from": "18:00", "to": "07:30", "threads": 12}]}, "B": {"threads": 3}},
        "jobs": {"J": {"tasks": {"T": {"duration": "5m"}}}}})
    # A: 7.5 h x 12 + 0.5 h x 8 + 10 h x 2 + 6 h x 12; B: 24 h x 3
    assert thread_hours(scenario) == (pytest.approx(90 + 4 + 20 + 72 + 72), 2)


# ---- the search -----------------------------------------------------------------------------

def test_one_variable_finds_the_smallest_c_and_reports_its_estimate() -> None:
    found = simbatch.plan(mmc(12, 10, 3), {"servers.S.threads": range(1, 12)},
                          ["wait_mean <= 2m"], replications=5, warmup="2h",
                          executor="serial")
    assert found.met and found.choice == {"servers.S.threads": 4}
    assert found.recommended is not None and found.recommended.servers[0].threads == 4
    estimate = found.estimates.iloc[0]
    assert estimate.met and estimate.bound <= 120 and estimate.ci_low <= estimate["mean"]
    assert estimate.n >= 5
    # every candidate ran the same seeds (common random numbers)
    seeds = found.metrics.groupby("candidate").seed.apply(lambda s: tuple(sorted(set(s))))
    assert len({s[:5] for s in seeds}) == 1
    assert found.runs == found.evaluations.replications.sum() == found.metrics.groupby(
        ["candidate", "replication"]).ngroups
    curve = found.curve()
    assert list(curve.cost) == sorted(curve.cost) and curve.chosen.sum() == 1
    assert found.plot().axes[0].get_title() == "wait_mean <= 2m"


def test_the_budget_is_honoured_exactly() -> None:
    found = simbatch.plan(mmc(12, 10, 1), {"servers.S.threads": range(1, 12)},
                          ["wait_mean <= 2m"], replications=3, budget=7, executor="serial")
    assert found.runs == 7 == found.metrics.groupby(["candidate", "replication"]).ngroups
    assert any("budget of 7 runs" in note for note in found.notes)
    # several variables: the budget may run out in the middle of a batch of candidates
    doc = mmc(30, 10, 1)
    doc["servers"]["T"] = {"threads": 1}
    vary = {"servers.S.threads": range(1, 9), "servers.T.threads": range(1, 9)}
    for budget in (1, 13, 26):
        found = simbatch.plan(doc, vary, ["wait_mean <= 1m"], replications=3, budget=budget,
                              executor="serial")
        assert found.runs == budget == found.metrics.groupby(
            ["candidate", "replication"]).ngroups == found.evaluations.replications.sum()


def test_vary_texts_give_the_plan_of_the_mapping_and_max_attempts_bounds_each_run() -> None:
    doc = mmc(12, 10, 1)
    mapping = simbatch.plan(doc, {"servers.S.threads": range(1, 12)}, ["wait_mean <= 2m"],
                            replications=3, executor="serial")
    texts = simbatch.plan(doc, ["servers.S.threads=1..11"], ["wait_mean <= 2m"],
                          replications=3, executor="serial")
    assert texts.choice == mapping.choice
    assert texts.evaluations.equals(mapping.evaluations)
    with pytest.raises(simbatch.UsageError, match="given twice"):
        simbatch.plan(doc, ["servers.S.threads=1..3", "servers.S.threads=2..4"],
                      ["wait_mean <= 2m"], executor="serial")
    with pytest.raises(simbatch.BudgetError, match="more than the limit of 10"):
        simbatch.plan(doc, ["servers.S.threads=1..3"], ["wait_mean <= 2m"],
                      replications=2, executor="serial", max_attempts=10)


def test_an_infeasible_target_is_not_met_and_gives_the_best_candidate() -> None:
    found = simbatch.plan(mmc(30, 10, 2), {"servers.S.threads": range(1, 7)},
                          ["wait_mean <= 1m"], replications=4, executor="serial")
    assert not found.met and found.choice == {"servers.S.threads": 6}
    assert not found.estimates.met.any()
    assert found.monotone  # more threads did help, just not enough


def test_capacity_that_does_not_help_is_reported_not_looped_on() -> None:
    # at most 2 of a run's tasks in G at a time: threads beyond the second are useless
    scenario: dict[str, Any] = {
        "name": "throttled", "start": "2026-01-01 00:00", "horizon": "1d", "polling": 0,
        "scheduling": "priority", "servers": {"S": {"threads": 1}},
        "groups": {"G": {"max_concurrency": 2}},
        "jobs": {"Planning": {"group": "G", "tasks": {"Plan": {
            "duration": "1m",
            "runtime": {"tasks": 30, "duration": {"exponential": "10m"}}}}}}}
    found = simbatch.plan(scenario, {"servers.S.threads": range(1, 9)},
                          ["wait_mean <= 2m for G"], replications=4, executor="serial")
    assert not found.met and not found.monotone
    # the highest, one below it and the lowest, then it stops
    assert len(found.evaluations) == 3 and found.runs == 12
    assert any("more capacity does not help" in note for note in found.notes)


def test_unknown_metric_or_key_is_a_clear_error() -> None:
    with pytest.raises(simbatch.UsageError, match="no metric 'deadline_miss'"):
        simbatch.plan(mmc(12, 10, 1), {"servers.S.threads": range(1, 3)},
                      ['deadline_miss <= 5% for "Master planning"'], replications=2,
                      executor="serial")
    with pytest.raises(simbatch.UsageError, match="not for 'Nope'"):
        simbatch.plan(mmc(12, 10, 1), {"servers.S.threads": range(1, 3)},
                      ["wait_mean <= 1m for Nope"], replications=2, executor="serial")


def test_bad_arguments() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"vary": {}}, "vary="), ({"vary": {"servers.T.threads": range(1, 3)}}, "no 'servers.T'"),
        ({"vary": {"servers.S.threads": range(3, 3)}}, "empty"),
        ({"targets": "wait_mean <= 1m"}, "list of targets"),
        ({"confidence": 1.5}, "confidence"),
        ({"weights": {"x": 2}}, "not varied"),
        ({"vary": {"servers.S.threads": range(0, 3)}}, "not a valid scenario"),
    ]
    for change, message in cases:
        kwargs: dict[str, Any] = {"vary": {"servers.S.threads": range(1, 3)},
                                  "targets": ["wait_mean <= 1m"], "executor": "serial",
                                  "replications": 2} | change
        with pytest.raises(simbatch.UsageError, match=message):
            simbatch.plan(mmc(12, 10, 1), **kwargs)


def test_weights_make_a_variable_dearer() -> None:
    doc = mmc(12, 10, 1)
    doc["servers"]["T"] = {"threads": 1}
    vary = {"servers.S.threads": range(1, 5), "servers.T.threads": range(1, 5)}
    plain = simbatch.plan(doc, vary, ["wait_mean <= 1h"], replications=2, executor="serial")
    dear = simbatch.plan(doc, vary, ["wait_mean <= 1h"], replications=2, executor="serial",
                         weights={"servers.S.threads": 3})
    row = dear.evaluations.set_index(["servers.S.threads", "servers.T.threads"])
    base = plain.evaluations.set_index(["servers.S.threads", "servers.T.threads"])
    both = row.index.intersection(base.index)
    extra = row.loc[both, "cost"] - base.loc[both, "cost"]
    s_units = pd.Series([s - 1 for s, _ in both], index=both)
    assert list(extra) == pytest.approx(list(2 * 24 * s_units))


def test_the_local_pool_gives_the_serial_answer() -> None:
    kwargs: dict[str, Any] = {"vary": {"servers.S.threads": range(1, 8)},
                              "targets": ["wait_mean <= 2m"], "replications": 3}
    serial = simbatch.plan(mmc(12, 10, 1), executor="serial", **kwargs)
    pooled = simbatch.plan(mmc(12, 10, 1), **kwargs)
    pd.testing.assert_frame_equal(serial.metrics, pooled.metrics)
    assert serial.choice == pooled.choice


@pytest.mark.slow
def test_a_dask_cluster_gives_the_serial_answer() -> None:
    distributed = pytest.importorskip("distributed")
    kwargs: dict[str, Any] = {"vary": {"servers.S.threads": range(1, 8)},
                              "targets": ["wait_mean <= 2m"], "replications": 3}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = simbatch.plan(mmc(12, 10, 1), executor=client, **kwargs)
    serial = simbatch.plan(mmc(12, 10, 1), executor="serial", **kwargs)
    pd.testing.assert_frame_equal(serial.metrics, on_dask.metrics)


def test_a_contradiction_of_monotonicity_is_reported() -> None:
    # Reserved capacity (high, 25%) dedicates whole servers from the last: with S1 at 4
    # threads (8 in all) S3 covers the 2 reserved threads and normal work has 6 threads;
    # at 5 (9 in all) it takes S3 and S2, and normal work has 5: more capacity, worse waits
    doc = mmc(30, 10, 1)
    doc["reserved_capacity"] = "high"
    doc["servers"] = {"S1": {"threads": 4}, "S2": {"threads": 2}, "S3": {"threads": 2}}
    found = simbatch.plan(doc, {"servers.S1.threads": range(4, 6)},
                          ["wait_mean <= 1s"], replications=4, executor="serial")
    assert not found.monotone
    assert any(note.startswith("monotonicity contradicted") for note in found.notes)


def test_a_setting_that_is_not_capacity_is_a_lever() -> None:
    # the task's duration buys no thread-hours: a lever, so the base (600 s) is kept when
    # it meets the targets, although 300 s meets them too
    doc = mmc(12, 10, 1)
    doc["servers"]["S"]["threads"] = 3
    doc["jobs"]["J"]["tasks"]["T"]["duration"] = 600
    found = simbatch.plan(doc, {"jobs.J.tasks.T.duration": range(300, 1201, 300)},
                          ["wait_mean <= 10m"], replications=4, executor="serial")
    assert found.levers == ("jobs.J.tasks.T.duration",)
    assert found.choice == {"jobs.J.tasks.T.duration": 600} and found.met
    assert found.rule.startswith("least: the fewest settings changed")


# ---- results written out and the command line ----------------------------------------------

MMC_YAML = """\
name: mmc
start: 2026-01-01 00:00
horizon: 2d
polling: 0
scheduling: priority
servers:
  S:
    threads: 4
    periods:
      - {from: "08:00", to: "20:00", threads: 8}
jobs:
  J:
    arrivals: {interval: {exponential: 5m}}
    tasks: {T: {duration: {exponential: 10m}}}
"""


def test_cli_plan_writes_a_what_if_and_a_report(write_yaml: Any, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = write_yaml(MMC_YAML)
    out, page = tmp_path / "what-if" / "plan.yaml", tmp_path / "plan.html"
    code = main(["plan", str(base), "--vary", "servers.S.periods[0].threads=1..12",
                 "--target", "wait_mean <= 2m", "-n", "3", "--seed", "4", "--out", str(out),
                 "--report", str(page), "--confidence", "0.9"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "choice (meets the targets)" in printed and "runs spent" in printed
    text = out.read_text(encoding="utf-8")
    chosen = int(printed.split("servers.S.periods[0].threads = ")[1].split()[0])
    assert '- {from: "08:00", to: "20:00", threads: ' in text
    from ruamel.yaml import YAML

    assert YAML(typ="safe").load(text) == {  # only the changed values
        "extends": "../scenario.yaml",
        "servers": {"S": {"periods": [{"from": "08:00", "to": "20:00", "threads": chosen}]}}}
    planned = simbatch.load(out)
    assert planned.servers[0].periods[0].threads == chosen
    assert planned.servers[0].threads == 4
    html = page.read_text(encoding="utf-8")
    assert "The choice against the base" in html and "data:image/png;base64" in html
    assert "src='http" not in html and 'src="http' not in html  # self-contained


@pytest.mark.parametrize(("args", "message"), [
    (["--vary", "servers.S.threads=1-4", "--target", "wait_mean <= 1m"], "PATH=LO..HI"),
    (["--vary", "servers.S.threads=1..4", "--target", "wait_mean ~ 1m"], "write METRIC"),
    (["--vary", "servers.S.threads=1..4", "--target", "wait_mean <= soon"], "bad value"),
    (["--vary", "servers.S.threads=1..4", "--vary", "servers.S.threads=2..3",
      "--target", "wait_mean <= 1m"], "given twice"),
    (["--vary", "servers.S.threads=1..4", "--target", "wait_mean <= 1m", "--weight", "x"],
     "PATH=W"),
    (["--vary", "servers.X.threads=1..4", "--target", "wait_mean <= 1m"], "no 'servers.X'"),
])
def test_cli_plan_bad_input_exits_2(write_yaml: Any, args: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(write_yaml(MMC_YAML)), "-n", "2", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("UsageError: ") and message in err
    assert "Traceback" not in err


# ---- statistical guarantees (slow) ---------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize(("per_hour", "service", "target_minutes", "expected"), [
    (12.0, 10.0, 2.0, 4),    # offered load 2:   Wq(3) = 4.44 min, Wq(4) = 0.87 min
    (30.0, 10.0, 1.0, 8),    # offered load 5:   Wq(7) = 1.62 min, Wq(8) = 0.56 min
    (54.0, 10.0, 0.6, 13),   # offered load 9:   Wq(12) = 0.89 min, Wq(13) = 0.39 min
])
def test_mmc_plan_matches_erlang_c(per_hour: float, service: float, target_minutes: float,
                                   expected: int) -> None:
    lam, mu = per_hour / 60, 1 / service
    smallest = next(c for c in range(1, 17) if erlang_c_wait(lam, mu, c) <= target_minutes)
    assert smallest == expected
    assert erlang_c_wait(lam, mu, smallest) < target_minutes / 1.5
    assert erlang_c_wait(lam, mu, smallest - 1) > target_minutes * 1.4
    found = simbatch.plan(mmc(per_hour, service, 8), {"servers.S.threads": range(1, 17)},
                          [f"wait_mean <= {target_minutes * 60:g}s"], replications=10,
                          warmup="12h", seed=3)
    assert found.met and found.choice == {"servers.S.threads": expected}


DAY_NIGHT: dict[str, Any] = {
    "name": "day and night", "start": "2026-01-05 00:00", "horizon": "4d", "polling": 0,
    "scheduling": "priority",
    "servers": {"S": {"periods": [
        {"from": "08:00", "to": "20:00", "threads": 10},
        {"from": "20:00", "to": "08:00", "threads": 10}]}},
    "groups": {"Day": {}, "Night": {}},
    "jobs": {
        "Day work": {"group": "Day", "arrivals": {"rate": "0/h", "windows": [
            {"from": "08:00", "to": "20:00", "rate": "21/h"}]},
            "tasks": {"T": {"duration": {"exponential": "10m"}}}},
        "Night work": {"group": "Night", "arrivals": {"rate": "12/h", "windows": [
            {"from": "08:00", "to": "20:00", "rate": "0/h"}]},
            "tasks": {"T": {"duration": {"exponential": "10m"}}}}},
}


@pytest.mark.slow
def test_day_night_plan_is_tight_in_both_periods() -> None:
    # Day: offered load 3.5, Wq(5) = 2.52 min, Wq(6) = 0.71 min; Night: load 2,
    # Wq(3) = 4.44 min, Wq(4) = 0.87 min. Targets halfway between on a log scale.
    day, night = "servers.S.periods[0].threads", "servers.S.periods[1].threads"
    targets = ["wait_mean <= 80s for Day", "wait_mean <= 2m for Night"]
    found = simbatch.plan(DAY_NIGHT, {day: range(1, 11), night: range(1, 11)}, targets,
                          replications=10, seed=1)
    assert found.met and found.choice == {day: 6, night: 4}
    base = simbatch.load(DAY_NIGHT)
    document = dict(base.document)

    def check(values: dict[str, int]) -> pd.DataFrame:
        variant = base.with_changes(changes_for(document, values))
        summary = simbatch.replicate(variant, 20, seed=777).summary(confidence=0.9)
        return summary[summary.metric == "wait_mean_s"].set_index("key")

    # independent replications (another seed); 90% two-sided = 95% one-sided bounds
    chosen = check(found.choice)
    assert chosen.loc["Day", "ci_high"] <= 80 and chosen.loc["Night", "ci_high"] <= 120
    assert check({day: 5, night: 4}).loc["Day", "ci_low"] > 80
    assert check({day: 6, night: 3}).loc["Night", "ci_low"] > 120


@pytest.mark.slow
def test_plan_benchmark_small(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "plan.py"), "--small",
                           "--json", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "simbatch plan scenarios/tenant-week.yaml --vary" in proc.stdout
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures["met"] and len(figures["choice"]) == 2
    # sequential sampling may give a close candidate up to 4 x n replications
    assert 0 < figures["runs"] <= figures["grid"] * 4 * figures["replications"]


NIGHTLY: dict[str, Any] = {
    "start": "2026-01-05 12:00", "horizon": "3d", "polling": 0, "scheduling": "priority",
    "servers": {"S": {"threads": 8}},
    "jobs": {"Master planning": {
        "start": "2026-01-05 22:00", "recurrence": {"every": "1d"}, "deadline": "1h40m",
        "tasks": {"Split": {"duration": "5m", "runtime": {"tasks": 8, "duration": "30m"}}}}}}
"""8 helpers of 30 minutes after a 5-minute split: the run ends 5m + ceil(8 / c) * 30m after
22:00, so 3 threads (1:35) meet a 1:40 deadline and 2 (2:05) miss it; 3 nights a replication."""


def test_a_deadline_target_finds_the_fewest_threads_that_keep_the_night() -> None:
    # No run misses at 3 threads or more, but a share of runs is judged by its one-sided
    # Wilson bound on the runs pooled over replications: with 0 misses in N runs it is
    # z^2 / (N + z^2), within 15% from N = 16 runs, so 6 replications (18 nights).
    found = simbatch.plan(NIGHTLY, {"servers.S.threads": range(1, 9)},
                          ['deadline_miss <= 15% for "Master planning"'], replications=2,
                          executor="serial")
    assert found.met and found.choice == {"servers.S.threads": 3}
    estimate = found.estimates.iloc[0]
    assert (estimate.n, estimate["mean"], estimate.verdict) == (18, 0.0, "met")
    z2 = 1.6448536269514722 ** 2
    assert estimate.bound == pytest.approx(z2 / (18 + z2))
    assert estimate.interval.startswith("Wilson")
    chosen = found.evaluations[found.evaluations.chosen].iloc[0]
    assert chosen.replications == 6


def test_a_share_met_by_its_mean_but_not_its_bound_is_not_met() -> None:
    # Every night at 3+ threads keeps the deadline: the sample share is 0%, within 5%.
    # But 24 nights (8 replications, the most) without a miss bound the share only at
    # 2.706 / 26.7 = 10.1%: nothing is shown to meet 5%, so nothing may be chosen as met.
    target = 'deadline_miss <= 5% for "Master planning"'
    found = simbatch.plan(NIGHTLY, {"servers.S.threads": range(1, 9)}, [target],
                          replications=2, executor="serial")
    assert not found.met
    assert not found.evaluations.verdict.eq("met").any()
    assert not found.estimates.met.any()
    s = "deadline_miss_5_for_Master_planning"
    kept = found.evaluations[found.evaluations[f"mean_{s}"] == 0]
    assert len(kept) and (kept[f"bound_{s}"] > 0.05).all()
    assert set(kept.verdict) == {"undecided"} and (kept.replications == 8).all()
    assert found.estimates.verdict.iloc[0] == "undecided"
    notes = [n for n in found.notes if n.startswith("cannot decide")]
    assert len(notes) == 1 and target in notes[0] and "within the budget" in notes[0]
    # undecided is not "more capacity does not help": nothing was shown to fail
    assert found.monotone
    # a share of 0% is never shown by finitely many runs: the notes say so
    zero = simbatch.plan(NIGHTLY, {"servers.S.threads": range(6, 9)},
                         ['deadline_miss <= 0% for "Master planning"'], replications=2,
                         executor="serial")
    assert not zero.met and any("no finite number of runs" in n for n in zero.notes)


@pytest.mark.parametrize(("op", "share", "confidence"), [("<=", "20%", 0.95),
                                                         (">=", "10%", 0.9)])
def test_the_share_bound_is_wilson_on_the_pooled_runs(op: str, share: str,
                                                      confidence: float) -> None:
    proportion = pytest.importorskip("statsmodels.stats.proportion")
    doc = json.loads(json.dumps(NIGHTLY))
    doc["jobs"]["Master planning"]["tasks"]["Split"]["runtime"]["duration"] = {
        "exponential": "25m"}
    found = simbatch.plan(doc, {"servers.S.threads": range(1, 9)},
                          [f'deadline_miss {op} {share} for "Master planning"'],
                          confidence=confidence, replications=3, executor="serial")
    rows = found.metrics[found.metrics.key == "Master planning"]
    counts = rows.pivot_table(index="candidate", columns="metric", values="value",
                              aggfunc="sum")
    slug = next(c for c in found.evaluations.columns if c.startswith("bound_"))[6:]
    some_missed = 0
    for record in found.evaluations.to_dict("records"):
        misses = int(counts.loc[record["candidate"], "deadline_misses"])
        runs = int(counts.loc[record["candidate"], "deadline_runs"])
        some_missed += 0 < misses < runs
        # one-sided at the confidence = an end of the two-sided interval at 2c - 1
        low, high = proportion.proportion_confint(misses, runs, alpha=2 * (1 - confidence),
                                                  method="wilson")
        assert record[f"bound_{slug}"] == pytest.approx(high if op == "<=" else low,
                                                        abs=1e-12)
        low, high = proportion.proportion_confint(misses, runs, alpha=1 - confidence,
                                                  method="wilson")
        assert record[f"ci_low_{slug}"] == pytest.approx(low, abs=1e-12)
        assert record[f"ci_high_{slug}"] == pytest.approx(high, abs=1e-12)
        assert record[f"n_{slug}"] == runs and record[f"mean_{slug}"] == misses / runs
    assert some_missed  # the check covers shares strictly between 0 and 1


def test_a_mean_target_is_judged_by_its_one_sided_t_bound() -> None:
    # the reference: scipy's t quantile on the candidate's replications, from the metric rows
    from scipy import stats

    confidence = 0.9
    found = simbatch.plan(mmc(12, 10, 1), {"servers.S.threads": range(1, 8)},
                          ["wait_mean <= 2m"], confidence=confidence, replications=3,
                          executor="serial")
    rows = found.metrics[(found.metrics.metric == "wait_mean_s")
                         & (found.metrics.key == "all")]
    judged = 0
    for record in found.evaluations.to_dict("records"):
        values = rows[rows.candidate == record["candidate"]].value.dropna().to_numpy()
        n = len(values)
        assert record["n_wait_mean_2m"] == n and n >= 2
        se = values.std(ddof=1) / math.sqrt(n)
        bound = values.mean() + stats.t.ppf(confidence, n - 1) * se
        half = stats.t.ppf((1 + confidence) / 2, n - 1) * se
        assert record["bound_wait_mean_2m"] == pytest.approx(bound, rel=1e-12)
        assert record["ci_high_wait_mean_2m"] == pytest.approx(values.mean() + half, rel=1e-12)
        assert record["met_wait_mean_2m"] == (bound <= 120)
        judged += se > 0
    assert judged  # some candidate's bound is above its mean
