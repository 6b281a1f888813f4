"""The fast path: a replication's metrics from the recorder equal the table path exactly."""

from __future__ import annotations

import concurrent.futures
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given
from hypothesis import strategies as st

import simbatch
from simbatch.experiments import executors
from simbatch.experiments import runs as experiments
from simbatch.results import measures, summary
from simbatch.scenario.spec import Scenario
from simbatch.scenario.timegrammar import parse_duration_ns
from tests import reference_metrics
from tests.conftest import SCENARIOS, scenario
from tests.test_deadlines import night
from tests.test_invariants import SETTINGS, scenarios
from tests.test_metrics import tiny


def both(source: Any, seed: int = 0, warmup: str = "0s") -> pd.DataFrame:
    """The fast rows, after checking that they equal the table path's bit for bit, and
    that the results' own rows from the tables (``result_metric_rows``) do too."""
    loaded = simbatch.load(source)
    ns = parse_duration_ns(warmup)
    result = simbatch.simulate(loaded, seed=seed)
    table = reference_metrics.metrics(result, ns)
    fast = summary.replication_metrics(loaded, seed, ns)
    from_tables = pd.DataFrame(summary.result_metric_rows(result, ns),
                               columns=["metric", "key", "value"])
    for rows in (fast, from_tables):
        pdt.assert_frame_equal(rows, table, check_exact=True)
        assert rows.value.to_numpy().tobytes() == table.value.to_numpy().tobytes()  # -0.0, NaN
    return fast


def values(rows: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(m, k): v for m, k, v in rows.itertuples(index=False)}


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
@pytest.mark.parametrize(("seed", "warmup"), [(0, "0s"), (1, "6h")])
def test_every_bundled_scenario_gives_the_table_metrics(path: Path, seed: int,
                                                        warmup: str) -> None:
    rows = both(path, seed, warmup)
    assert {"tasks_started", "wait_p95_s", "utilization", "backlog_at_horizon"} <= set(
        rows.metric)


def test_the_rows_match_a_hand_computed_case() -> None:
    # tests.test_metrics.tiny: X (A) runs 00:00-00:10 and Y (A) 00:10-00:20, so their waits
    # are 0 and 600 s; Z (B), due 00:00:20, waits 40 s for B's poll and runs 00:01-00:06
    doc = tiny()
    doc["jobs"]["J1"]["deadline"] = "15m"  # J1 ends 00:20: 5 minutes late
    doc["jobs"]["J2"]["deadline"] = "10m"  # J2 is due 00:00:20 and ends 00:06: 260 s early
    got = values(both(doc))
    assert got["tasks_started", "all"] == 3 and got["tasks_started", "G"] == 2
    assert got["wait_mean_s", "all"] == (0 + 600 + 40) / 3
    assert got["wait_p95_s", "all"] == 40 + 0.9 * 560  # linear, between 40 and 600 s
    assert (got["wait_mean_s", "G"], got["wait_p95_s", "G"]) == (300, 570)
    assert (got["wait_mean_s", "default"], got["wait_p95_s", "default"]) == (40, 40)
    assert got["utilization", "A"] == 1200 / 3600 and got["utilization", "B"] == 300 / 3600
    assert (got["jobs_ended", "all"], got["jobs_error", "all"]) == (2, 0)
    assert got["job_duration_mean_s", "all"] == (1200 + 300) / 2  # J2 ran from 00:01
    assert got["backlog_at_horizon", "all"] == 0
    assert [got[m, "J1"] for m in ("deadline_runs", "deadline_misses", "deadline_miss",
                                   "deadline_undetermined", "lateness_p50_s",
                                   "margin_min_s", "latest_finish_s")] == [
        1, 1, 1.0, 0, 300, -300, 1200]
    assert [got[m, "J2"] for m in ("deadline_misses", "lateness_p95_s", "margin_min_s",
                                   "latest_finish_s")] == [0, -260, 260, 340]


def test_the_warmup_changes_the_waits_it_should() -> None:
    path = SCENARIOS / "tenant-week.yaml"
    early, late = values(both(path, 1, "0s")), values(both(path, 1, "6h"))
    assert early["tasks_started", "all"] > late["tasks_started", "all"]
    assert early["utilization", "AOS1"] == late["utilization", "AOS1"]  # whole horizon
    assert any(m.startswith("deadline") for m, _ in early)  # the bundled deadlines


def test_nothing_started_gives_nan_waits_and_no_job_duration() -> None:
    # one thread, held by a task longer than the horizon: the second job never starts
    doc = scenario(polling=0, horizon="2h", servers={"S1": {"threads": 1}}, jobs={
        "Long": {"tasks": {"T": {"duration": "5h"}}},
        "Late": {"start": "2026-01-05 22:30", "tasks": {"T": {"duration": "5m"}}}})
    got = values(both(doc, 0, "10m"))
    assert got["tasks_started", "all"] == 0
    assert math.isnan(got["wait_mean_s", "all"]) and math.isnan(got["wait_p95_s", "all"])
    assert math.isnan(got["job_duration_mean_s", "all"])  # no run ended
    assert got["backlog_at_horizon", "all"] == 1 and got["utilization", "S1"] == 1.0
    after_all = values(both(doc, 0, "1d"))  # a warm-up past the horizon leaves no attempt
    assert after_all["tasks_started", "all"] == 0 and ("tasks_started", "default") not in after_all


def test_a_group_with_no_tasks_and_a_server_down_all_the_time() -> None:
    doc = scenario(polling=0, scheduling="affinity",
                   servers={"S1": {"threads": 2}, "S2": {"threads": 1}, "S3": {"threads": 1}},
                   outages=[{"server": "S3", "at": "2026-01-05 22:00", "for": "1d"}],
                   groups={"Empty": {"servers": ["S2"]}, "Busy": {"servers": ["S1", "S3"]}},
                   jobs={"J": {"group": "Busy", "arrivals": {"interval": "7m"},
                               "tasks": {"T": {"duration": "10m"}}}})
    got = values(both(doc, 3))
    assert ("tasks_started", "Empty") not in got and got["tasks_started", "Busy"] > 0
    assert got["utilization", "S2"] == 0.0 and math.isnan(got["utilization", "S3"])


def test_deadlines_met_missed_and_undetermined_at_the_horizon() -> None:
    got = values(both(night()))
    assert got["deadline_undetermined", "Cycle"] == 1 and got["deadline_runs", "Cycle"] == 3
    assert math.isnan(got["margin_min_s", "Stuck"])  # open at the horizon, already late
    assert got["lateness_p50_s", "Stuck"] == 8 * 3600
    doc = night()
    doc["jobs"] = {"Long": {"deadline": "1d", "tasks": {"T": {"duration": "20h"}}}}
    long = values(both(doc))
    assert long["deadline_undetermined", "Long"] == 1 and math.isnan(long["deadline_miss",
                                                                           "Long"])
    assert math.isnan(long["lateness_p95_s", "Long"])


def test_time_of_day_deadlines_across_a_clock_change() -> None:
    # Amsterdam springs forward at 02:00 on 29 March 2026: 02:30 does not exist that night
    doc = night()
    doc |= {"start": "2026-03-28 20:00", "timezone": "Europe/Amsterdam", "horizon": "1d"}
    doc["jobs"]["Cycle"]["deadline"] = "02:30"
    both(doc)


@st.composite
def with_deadlines(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    doc = draw(scenarios())
    for job in doc["jobs"].values():
        if draw(st.booleans()):
            job["deadline"] = draw(st.sampled_from(["10m", "1h", "23:45", "00:30"]))
    return doc, draw(st.sampled_from(["0s", "0s", "15m", "1h"]))


@pytest.mark.filterwarnings("ignore::simbatch.SimbatchWarning")  # jobs past a short horizon
@SETTINGS
@given(with_deadlines(), st.integers(0, 3))
def test_random_scenarios_give_the_table_metrics(case: tuple[dict[str, Any], str],
                                                 seed: int) -> None:
    doc, warmup = case
    both(doc, seed, warmup)


def test_the_budget_is_checked_as_simulate_checks_it() -> None:
    loaded = simbatch.load(SCENARIOS / "tenant-week.yaml")
    with pytest.raises(simbatch.BudgetError):
        summary.replication_metrics(loaded, 0, 0, max_attempts=10)
    with pytest.raises(simbatch.BudgetError):
        simbatch.simulate(loaded, max_attempts=10)



# ---- where replications run: each scenario travels to a worker once ------------------------

class Recording(concurrent.futures.ThreadPoolExecutor):
    """A thread pool that keeps what was submitted to it."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted: list[tuple[Any, ...]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.submitted.append(args)
        return super().submit(fn, *args, **kwargs)


def small(threads: int) -> dict[str, Any]:
    return scenario(polling=0, horizon="6h", servers={"S1": {"threads": threads}}, jobs={
        "J": {"arrivals": {"interval": {"exponential": "4m"}},
              "tasks": {"T": {"duration": {"exponential": "7m"}}}}})


def test_any_executor_gets_one_chunk_per_core_and_the_serial_answer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    variants = {"one": small(1), "two": small(2)}
    serial = simbatch.compare(variants, replications=7, seed=2, executor="serial")
    with Recording() as pool:
        chunked = simbatch.compare(variants, replications=7, seed=2, executor=pool)
    pdt.assert_frame_equal(chunked.metrics, serial.metrics)
    sent = [args[0] for args in pool.submitted]
    assert sorted(s.servers[0].threads for s in sent) == [1, 1, 1, 2, 2, 2]  # 3 chunks each
    assert sorted(r for args in pool.submitted for r, _ in args[1]) == sorted([*range(1, 8)] * 2)


def test_the_local_pool_sends_scenarios_by_name_only() -> None:
    loaded = {"a": simbatch.load(small(1)), "b": simbatch.load(small(2))}
    jobs = [(name, r, experiments.replication_seed(0, r)) for name in loaded for r in (1, 2)]
    items = [(name, (r, seed)) for name, r, seed in jobs]
    tasks = executors.tasks(experiments.run_replication, loaded, items, os.cpu_count() or 1,
                            loaded)
    assert [indices for _, indices in tasks] == [[0], [1], [2], [3]]
    assert not any(isinstance(arg, Scenario) for task, _ in tasks for arg in task)
    on_pool = simbatch.compare({"a": small(1), "b": small(2)}, replications=2)
    serial = simbatch.compare({"a": small(1), "b": small(2)}, replications=2,
                              executor="serial")
    pdt.assert_frame_equal(on_pool.metrics, serial.metrics)


def test_a_plan_on_any_executor_gives_the_serial_answer(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    kwargs: dict[str, Any] = {"vary": {"servers.S1.threads": range(1, 5)},
                              "targets": ["wait_mean <= 5m"], "replications": 3}
    serial = simbatch.plan(small(1), executor="serial", **kwargs)
    with Recording() as pool:
        chunked = simbatch.plan(small(1), executor=pool, **kwargs)
    pdt.assert_frame_equal(chunked.metrics, serial.metrics)
    assert chunked.choice == serial.choice
    # one chunk per candidate and step: the step's 3 replications travel together
    assert [len(args[1]) for args in pool.submitted] == [3] * len(pool.submitted)


def test_seconds_are_the_tables_seconds_to_the_last_bit() -> None:
    # 7,904,399,803 ns: a plain division by 1e9 differs from Series.dt.total_seconds (which
    # nudges quotients next to a whole second) in the last bit; a mean over it drifted
    spans = np.array([7_904_399_803, 6_507_893_554_795, 60_000_000_000], dtype=np.int64)
    table = pd.Series(spans.view("timedelta64[ns]")).dt.total_seconds().to_numpy()
    assert spans[0] / 1e9 != table[0]
    assert measures.seconds(spans).tobytes() == table.tobytes()
