"""Replications, paired comparisons on common random numbers, sweeps, executors, the store."""

from __future__ import annotations

import concurrent.futures
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

import simbatch
from simbatch.cli.main import main
from simbatch.experiments import executors
from simbatch.experiments.intervals import summarize
from simbatch.history.backtest.compare import replicate_figures
from tests.conftest import ROOT, SCENARIOS


def small(threads: int = 2, hours: int = 6) -> dict[str, Any]:
    return {"start": "2026-01-05 00:00", "horizon": f"{hours}h", "polling": "1m",
            "servers": {"A": {"threads": threads}},
            "jobs": {"J": {"arrivals": {"interval": {"exponential": "3m"}},
                           "tasks": {"T": {"duration": {"exponential": "5m"}}}}}}


def test_rows_carry_replication_and_seed_and_executors_agree() -> None:
    serial = simbatch.replicate(small(), 4, seed=3, executor="serial")
    pooled = simbatch.replicate(small(), 4, seed=3)  # local process pool
    pdt.assert_frame_equal(serial.metrics, pooled.metrics)
    rows = serial.metrics
    assert list(rows.columns) == ["replication", "seed", "metric", "key", "value"]
    assert sorted(rows.replication.unique()) == [1, 2, 3, 4]
    assert rows.groupby("replication").seed.nunique().eq(1).all()
    assert rows.seed.nunique() == 4
    summary = serial.summary().set_index(["metric", "key"])
    row = summary.loc[("wait_mean_s", "all")]
    assert row.n == 4 and row.ci_low < row["mean"] < row.ci_high


def test_common_random_numbers_shrink_the_variance_of_a_paired_difference() -> None:
    # what if the task gets 10% slower? Under common random numbers both variants draw
    # the same arrivals and the same standard exponentials for durations
    base = small(threads=3, hours=24)
    slow = small(threads=3, hours=24)
    slow["jobs"]["J"]["tasks"]["T"]["duration"] = {"exponential": "5.5m"}
    crn = simbatch.compare({"base": base, "slow": slow}, replications=30, seed=1,
                           executor="serial").differences().set_index(["metric", "key"])
    # the same comparison with independent streams: the variant gets other seeds
    a = simbatch.replicate(base, 30, seed=1, executor="serial").metrics
    b = simbatch.replicate(slow, 30, seed=2, executor="serial").metrics
    pick = ["metric", "key", "replication"]
    diff = (b.set_index(pick).sort_index().value
            - a.set_index(pick).sort_index().value).loc["wait_mean_s", "all"]
    independent_sd = float(np.std(diff, ddof=1))
    crn_sd = float(crn.loc[("wait_mean_s", "all"), "sd"])
    # measured: about 23 s against 40 s, a third of the variance
    assert crn_sd < 0.75 * independent_sd, (crn_sd, independent_sd)


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    a = lam / mu
    top = a**c / math.factorial(c) / (1 - a / c)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top) / (c * mu - lam)


COVERAGE_EXPERIMENTS = 300
"""Each coverage test counts how many of at least this many experiments cover the truth.

A 95% interval covers in a share of experiments whose binomial standard error over 300 is
sqrt(0.95 x 0.05 / 300) = 1.26 points (1.09 over 400): the accepted band 95% +- 3 points is
2.4 standard errors (2.75 over 400), so a correct interval fails it with probability about
1.7% (0.6%) at a random seed; the seeds are fixed, so each run is deterministic. An
interval that uses the normal quantile instead of Student's t covers about 88% with 5
replications, and one that forgets the square root of n far less: both fail.
"""


def coverage(rows: pd.DataFrame, per_experiment: int, truth: float) -> tuple[float, int]:
    """The share of experiments (consecutive replications) whose interval covers ``truth``.

    Each group of ``per_experiment`` replications is one experiment summarized by the
    package's own ``summarize`` (what ``Experiment.summary`` shows), grouped by experiment.
    """
    rows = rows.assign(experiment=(rows.replication - 1) // per_experiment)
    table = summarize(rows, ["experiment", "metric", "key"], 0.95)
    assert (table.n == per_experiment).all()
    covered = (table.ci_low <= truth) & (truth <= table.ci_high)
    return float(covered.mean()), len(table)


@pytest.mark.slow
def test_intervals_of_the_mean_wait_cover_erlang_c_95_percent_of_the_time() -> None:
    # M/M/2 at utilization 0.5 (one arrival a minute, one-minute service), 1 day with a
    # 2-hour warm-up; 300 experiments of 10 replications each, run as one replicate call
    # of 3,000 replications. The mean of a day's waits is biased by about -0.5% (measured
    # over the 3,000: 19.90 s against 20 s, 2 standard errors), a twentieth of the
    # interval's half-width, so it moves the coverage by well under a point.
    doc = {"start": "2026-01-05 00:00", "horizon": "1d", "polling": 0,
           "servers": {"S": {"threads": 2}},
           "jobs": {"J": {"arrivals": {"interval": {"exponential": "1m"}},
                          "tasks": {"T": {"duration": {"exponential": "1m"}}}}}}
    theory = erlang_c_wait(1 / 60, 1 / 60, 2)
    metrics = simbatch.replicate(doc, 10 * COVERAGE_EXPERIMENTS, seed=1, warmup="2h").metrics
    waits = metrics[(metrics.metric == "wait_mean_s") & (metrics.key == "all")]
    share, experiments = coverage(waits, 10, theory)
    assert experiments == COVERAGE_EXPERIMENTS
    assert 0.92 <= share <= 0.98, share  # measured: 93.7%


@pytest.mark.slow
def test_intervals_of_utilization_cover_rho_95_percent_of_the_time_with_5_replications() -> None:
    # M/M/2 at rho = 0.5 for 6 hours after a 1-hour warm-up: the busy share of the threads
    # has expectation rho (the transient from an empty start decays within minutes of
    # one-minute services) and is nearly symmetric (skewness 0.1), so a t interval on 5
    # replications should cover 95% and a normal one would not (about 86%).
    # 400 experiments of 5 replications.
    doc = {"start": "2026-01-05 00:00", "horizon": "7h", "polling": 0,
           "servers": {"S": {"threads": 2}},
           "jobs": {"J": {"arrivals": {"interval": {"exponential": "1m"}},
                          "tasks": {"T": {"duration": {"exponential": "1m"}}}}}}
    metrics = simbatch.replicate(doc, 5 * 400, seed=1, warmup="1h").metrics
    busy = metrics[(metrics.metric == "utilization") & (metrics.key == "S")]
    share, experiments = coverage(busy, 5, 0.5)
    assert experiments == 400
    assert 0.92 <= share <= 0.98, share  # measured: 94.5%


def test_dask_cluster_gives_the_same_results_as_the_local_pool() -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = simbatch.compare({"a": small(2), "b": small(3)}, replications=3, seed=5,
                                   executor=client)
    local = simbatch.compare({"a": small(2), "b": small(3)}, replications=3, seed=5)
    pdt.assert_frame_equal(on_dask.metrics, local.metrics)


def test_a_killed_run_resumes_without_redoing_finished_replications(tmp_path: Path) -> None:
    store = tmp_path / "store"
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
              "import simbatch\nfrom tests.test_experiments import small\n"
              f"simbatch.replicate(small(hours=48), 40, seed=7, executor='serial',"
              f" store={str(store)!r})\n")
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ},
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(list(store.glob("*/*.parquet"))) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(store.glob("*/*.parquet"))
    assert 3 <= len(finished) < 40
    stamps = {p: p.stat().st_mtime_ns for p in finished}
    resumed = simbatch.replicate(small(hours=48), 40, seed=7, executor="serial", store=store)
    assert resumed.reused == len(finished)
    assert all(p.stat().st_mtime_ns == stamps[p] for p in finished)  # not redone
    fresh = simbatch.replicate(small(hours=48), 40, seed=7, executor="serial")
    pdt.assert_frame_equal(resumed.metrics, fresh.metrics)


def test_a_folder_of_another_experiment_is_refused(tmp_path: Path) -> None:
    simbatch.replicate(small(2), 2, seed=1, executor="serial", store=tmp_path)
    again = simbatch.replicate(small(2), 2, seed=1, executor="serial", store=tmp_path)
    assert again.reused == 2
    with pytest.raises(simbatch.UsageError, match="holds results of another experiment"
                                                  r" \(differing: variants\)"):
        simbatch.replicate(small(3), 2, seed=1, executor="serial", store=tmp_path)
    with pytest.raises(simbatch.UsageError, match=r"\(differing: seed\)"):
        simbatch.replicate(small(2), 2, seed=2, executor="serial", store=tmp_path)


def test_sweep_over_nested_paths() -> None:
    doc = small()
    doc["servers"]["A"]["periods"] = [{"from": "00:00", "to": "03:00", "threads": 1}]
    table = simbatch.sweep(doc, {"servers.A.periods[0].threads": [1, 4],
                                 "jobs.J.tasks.T.duration": [{"exponential": "2m"},
                                                             {"exponential": "5m"}]},
                           replications=2, executor="serial")
    assert len(table) == 4
    assert list(table.columns[:2]) == ["servers.A.periods[0].threads", "jobs.J.tasks.T.duration"]
    waits = table["wait_mean_s[all]"].to_numpy()
    assert waits[0] > waits[2]  # more night threads, shorter waits (same durations)
    assert waits[1] > waits[0]  # longer tasks, longer waits


@pytest.mark.parametrize(("grid", "error", "message"), [
    ({"servers.B.threads": [1]}, simbatch.UsageError, "the scenario has no 'servers.B'"),
    ({"servers.A.periods[0].threads": [1]}, simbatch.UsageError,
     "the scenario has no 'servers.A.periods'"),
    ({"serverz.A.threads": [1]}, simbatch.UsageError, "the scenario has no 'serverz'"),
    ({"servers..threads": [1]}, simbatch.UsageError, "bad path 'servers..threads'"),
    ({"servers.A.threads": [-1]}, simbatch.ScenarioError,
     "with servers.A.threads=-1: servers.A.threads: must be greater than or equal to 0"),
    ({"servers.A.thread": [3]}, simbatch.ScenarioError, "unknown key 'thread'"),
])
def test_bad_paths_and_values_get_clear_errors(grid: dict[str, list[Any]],
                                               error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        simbatch.sweep(small(), grid, executor="serial")
    assert message in str(raised.value)


def test_bad_experiment_arguments() -> None:
    with pytest.raises(simbatch.UsageError, match="replications must be a whole number"):
        simbatch.replicate(small(), 0, executor="serial")
    with pytest.raises(simbatch.UsageError, match="warmup: bad time 'soon'"):
        simbatch.replicate(small(), 2, warmup="soon", executor="serial")
    with pytest.raises(simbatch.UsageError, match="executor is None"):
        simbatch.replicate(small(), 2, executor="threads")
    with pytest.raises(simbatch.UsageError, match="compare takes a mapping"):
        simbatch.compare([small()])  # type: ignore[arg-type]


def test_cli_compare_and_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = SCENARIOS / "tenant-week.yaml", SCENARIOS / "tenant-week-more-servers.yaml"
    report = tmp_path / "out" / "compare.html"
    assert main(["compare", str(a), str(b), "-n", "2", "--store", str(tmp_path / "store"),
                 "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "Difference from tenant-week (paired by replication)" in out
    assert "tenant-week-more-servers" in out and "wait, p95" in out
    page = report.read_text(encoding="utf-8")
    assert "Differences from tenant-week" in page and "2 replications each" in page
    assert main(["sweep", str(SCENARIOS / "affinity.yaml"),
                 "--grid", "servers.AOS1.threads=2,4"]) == 0
    out = capsys.readouterr().out
    assert "servers.AOS1.threads" in out and "wait_mean[all]" in out
    assert main(["sweep", str(SCENARIOS / "affinity.yaml"), "--grid", "nothing"]) == 2
    assert "--grid 'nothing': write PATH=V1,V2" in capsys.readouterr().err
    assert main(["sweep", str(SCENARIOS / "affinity.yaml"), "--grid", "servers.AOS1.threads=2",
                 "--grid", "servers.AOS1.threads=4"]) == 2
    assert "is given twice" in capsys.readouterr().err
    assert main(["compare", str(a), str(a), "-n", "2"]) == 2
    assert "the same scenario file is given twice" in capsys.readouterr().err
    assert main(["report", str(a), "-n", "2", "--out", str(tmp_path / "r.html")]) == 2
    assert "give two or more scenarios" in capsys.readouterr().err
    assert main(["report", str(a), "--out", str(tmp_path)]) == 2
    assert "is a folder; name the HTML file" in capsys.readouterr().err


# ---- the one fan-out ------------------------------------------------------------------------

def scaled(data: int, item: int, factor: int) -> tuple[int, int]:
    """A stand-in for a replication: its result names its data and item."""
    return data * factor, item


def test_the_fan_out_returns_results_in_input_order_on_every_executor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    data = {"a": 1, "b": 10}
    items = [("b", 1), ("a", 2), ("b", 3), ("a", 4), ("b", 5)]
    expected = [(100, 1), (10, 2), (100, 3), (10, 4), (100, 5)]
    seen: list[int] = []
    assert executors.fan_out(scaled, data, items, (10,), "serial",
                             done=lambda i, _: seen.append(i)) == expected
    assert seen == [0, 1, 2, 3, 4]
    assert executors.fan_out(scaled, data, items, (10,)) == expected
    assert executors.fan_out(scaled, data, items, (10,), shared=True) == expected
    with concurrent.futures.ThreadPoolExecutor(2) as threads:
        seen.clear()
        assert executors.fan_out(scaled, data, items, (10,), threads,
                                 done=lambda i, _: seen.append(i)) == expected
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert executors.fan_out(scaled, data, [], (10,), "serial") == []
    with pytest.raises(simbatch.UsageError, match="executor is None"):
        executors.fan_out(scaled, data, items, (10,), "threads")


def test_the_fan_out_sends_each_data_once_per_chunk_or_by_key() -> None:
    data = {"a": 1, "b": 10}
    items = [("a", 1), ("b", 2), ("a", 3), ("a", 4)]
    chunked = executors.tasks(scaled, data, items, cores=2)
    assert [(task[1], task[2], indices) for task, indices in chunked] == [
        (1, [1, 3], [0, 2]), (1, [4], [3]), (10, [2], [1])]
    by_key = executors.tasks(scaled, data, items, cores=2, shared=data)
    assert [(task[1], task[2], indices) for task, indices in by_key] == [
        ("a", [1], [0]), ("b", [2], [1]), ("a", [3], [2]), ("a", [4], [3])]


def test_backtest_replications_on_the_local_pool_give_the_serial_figures() -> None:
    loaded = simbatch.load(small())
    serial = replicate_figures(loaded, 3, 4, "UTC", ["J"], executor="serial")
    pooled = replicate_figures(loaded, 3, 4, "UTC", ["J"])
    pdt.assert_frame_equal(pooled, serial)
    assert sorted(serial.replication.unique()) == [1, 2, 3]
