"""The result store and the command's processes under damage, races and signals.

- each kind of damaged store file is recomputed with a warning that names it;
- two experiments racing for one folder: exactly one is accepted, in many trials;
- SIGINT to ``simbatch run`` and ``simbatch compare --store``: exit 130, one line, no
  traceback, outputs intact, the store readable and resumable;
- SIGTERM and SIGKILL of the parent: its worker processes are gone soon after.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas.testing as pdt
import pytest

import simbatch
from simbatch.cli.main import main
from tests.conftest import ROOT


def small(hours: int = 6, threads: int = 2) -> dict[str, Any]:
    return {"start": "2026-01-05 00:00", "horizon": f"{hours}h", "polling": "1m",
            "scheduling": "priority", "servers": {"A": {"threads": threads}},
            "jobs": {"J": {"arrivals": {"interval": {"exponential": "3m"}},
                           "tasks": {"T": {"duration": {"exponential": "5m"}}}}}}


def stored(store: Path) -> list[Path]:
    return sorted(store.glob("*/*.parquet"))


# ---- damaged files ---------------------------------------------------------------------

def truncate(path: Path, others: list[Path]) -> str:
    path.write_bytes(path.read_bytes()[:40])
    return "cannot be read"


def empty(path: Path, others: list[Path]) -> str:
    path.write_bytes(b"")
    return "cannot be read"


def other_replication(path: Path, others: list[Path]) -> str:
    shutil.copy(others[1], path)  # replication 2's file where replication 1's should be
    return "holds replication 2, not 1"


def other_variant(path: Path, others: list[Path]) -> str:
    shutil.copy(others[2], path)  # variant b's replication 1 in a's place
    return "holds variant 'b', not 'a'"


def not_metrics(path: Path, others: list[Path]) -> str:
    import pandas as pd

    pd.DataFrame({"x": [1]}).to_parquet(path)
    return "is not a stored replication (missing columns"


def rewrite(path: Path, change: Any) -> None:
    """Rewrite the stored frame at ``path`` as ``change`` (a frame to frame) makes it."""
    import pandas as pd

    change(pd.read_parquet(path)).to_parquet(path, index=False)


def set_value(frame: Any, metric: str, key: str, value: Any) -> Any:
    frame.loc[(frame.metric == metric) & (frame.key == key), "value"] = value
    return frame


def text_value(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: f.assign(value=f.value.astype(str)))
    return "holds value of type str, not floats"


def inf_value(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: set_value(f, "wait_p95_s", "all", float("inf")))
    return "holds wait_p95_s inf for 'all', outside [0, inf]"


def share_above_one(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: set_value(f, "utilization", "A", 1.5))
    return "holds utilization 1.5 for 'A', outside [0, 1]"


def nan_count(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: set_value(f, "jobs_ended", "all", float("nan")))
    return "holds jobs_ended nan for 'all', not a count"


def nan_wait(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: set_value(f, "wait_mean_s", "default", float("nan")))
    return "holds wait_mean_s NaN for 'default', where attempts started"


def duplicated_row(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: f.iloc[[0, 0, *range(2, len(f))]])  # as many rows, one twice
    return "holds tasks_started for 'all' twice"


def renamed_metric(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: f.replace({"metric": {"wait_mean_s": "wait_mean"}}))
    return "holds unknown metric 'wait_mean'"


def foreign_key(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: f.replace({"key": {"A": "Z"}}))
    return "does not hold utilization for exactly its scenario's names"


def foreign_group(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: f.replace({"key": {"default": "elsewhere"}}))
    return "holds waits of 'elsewhere', not a group of its scenario"


def missing_row(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: f[f.metric != "jobs_error"])
    return "does not hold each run figure once, for all"


def wrong_type_key(path: Path, others: list[Path]) -> str:
    rewrite(path, lambda f: f.assign(seed=f.seed.astype(float)))
    return "holds seed of type float64, not whole numbers"


def many_rows(path: Path, others: list[Path]) -> str:
    import pandas as pd

    rewrite(path, lambda f: pd.concat([f] * 1000, ignore_index=True))
    return "holds 11,000 rows; its scenario gives at most 11"


@pytest.mark.parametrize("damage", [truncate, empty, other_replication, other_variant,
                                    not_metrics, text_value, inf_value, share_above_one,
                                    nan_count, nan_wait, duplicated_row, renamed_metric,
                                    foreign_key, foreign_group, missing_row, wrong_type_key,
                                    many_rows])
def test_a_damaged_replication_is_recomputed_with_a_warning(tmp_path: Path, damage: Any) -> None:
    variants = {"a": small(threads=2), "b": small(threads=3)}
    clean = simbatch.compare(variants, 2, seed=4, executor="serial", store=tmp_path)
    files = stored(tmp_path)
    assert len(files) == 4
    target = tmp_path / "a" / "replication-00001.parquet"
    expected = damage(target, files)
    with pytest.warns(simbatch.SimbatchWarning, match=rf"{target.name}.*{re.escape(expected)}.*"
                                                      "recomputing it"):
        again = simbatch.compare(variants, 2, seed=4, executor="serial", store=tmp_path)
    assert again.reused == 3
    pdt.assert_frame_equal(again.metrics, clean.metrics)
    assert simbatch.compare(variants, 2, seed=4, executor="serial", store=tmp_path).reused == 4


def test_a_file_over_the_byte_bound_is_not_read(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from simbatch.experiments import store

    clean = simbatch.replicate(small(), 2, seed=4, executor="serial", store=tmp_path)
    size = max(p.stat().st_size for p in stored(tmp_path))
    monkeypatch.setattr(store, "MAX_BYTES", size - 1)
    with pytest.warns(simbatch.SimbatchWarning, match=rf"is {size:,} bytes, more than a stored"
                      rf" replication's {size - 1:,}; recomputing it"):
        again = simbatch.replicate(small(), 2, seed=4, executor="serial", store=tmp_path)
    assert again.reused == 0
    pdt.assert_frame_equal(again.metrics, clean.metrics)


def test_the_rows_of_a_replication_are_checked_without_a_scenario() -> None:
    import pandas as pd

    from simbatch.experiments.store import max_rows, problem
    from simbatch.results.summary import result_metric_rows

    result = simbatch.simulate(small())
    rows = pd.DataFrame(result_metric_rows(result), columns=["metric", "key", "value"])
    assert problem(rows) is None and problem(rows, result.scenario) is None
    assert len(rows) == max_rows(result.scenario) == 11
    bad = rows.assign(value=rows.value.where(rows.metric != "backlog_at_horizon", 2.5))
    assert problem(bad) == "holds backlog_at_horizon 2.5 for 'all', not a count"
    # a job with a deadline: its eight figures, for its name only
    late = {**small(), "jobs": {**small()["jobs"], "Night": {
        "deadline": "1h", "tasks": {"N": {"duration": "2h"}}}}}
    result = simbatch.simulate(late)
    rows = pd.DataFrame(result_metric_rows(result), columns=["metric", "key", "value"])
    assert problem(rows, result.scenario) is None
    assert len(rows) == max_rows(result.scenario) == 19
    assert problem(rows.replace({"key": {"Night": "Day"}}), result.scenario) == (
        "does not hold deadline_runs for exactly its scenario's names")
    assert problem(rows.replace({"key": {"Night": "Day"}})) is None  # no names to check
    negative = rows.assign(value=rows.value.where(rows.metric != "latest_finish_s", -1.0))
    assert problem(negative) == "holds latest_finish_s -1.0 for 'Night', outside [0, inf]"
    early = rows.assign(value=rows.value.where(rows.metric != "margin_min_s", -1.0))
    assert problem(early) is None  # a margin may be negative


@pytest.mark.parametrize("manifest", ["{not json", "[1, 2]", ""])
def test_a_broken_manifest_is_rewritten_and_replications_are_checked(tmp_path: Path,
                                                                     manifest: str) -> None:
    clean = simbatch.replicate(small(), 2, seed=1, executor="serial", store=tmp_path)
    (tmp_path / "experiment.json").write_text(manifest, encoding="utf-8")
    with pytest.warns(simbatch.SimbatchWarning, match="experiment.json cannot be read"):
        again = simbatch.replicate(small(), 2, seed=1, executor="serial", store=tmp_path)
    assert again.reused == 2
    pdt.assert_frame_equal(again.metrics, clean.metrics)
    assert json.loads((tmp_path / "experiment.json").read_text())["seed"] == 1
    # after a broken manifest, replications of another seed are not mixed in
    (tmp_path / "experiment.json").write_text(manifest, encoding="utf-8")
    with pytest.warns(simbatch.SimbatchWarning) as caught:
        other = simbatch.replicate(small(), 2, seed=2, executor="serial", store=tmp_path)
    assert other.reused == 0
    messages = [str(w.message) for w in caught]
    assert "experiment.json cannot be read" in messages[0]
    assert sum("holds seed" in m and "recomputing it" in m for m in messages) == 2


def test_cli_reports_a_damaged_store_as_a_warning(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(small()), encoding="utf-8")
    store = tmp_path / "store"
    assert main(["compare", str(path), "-n", "2", "--store", str(store)]) == 0
    stored(store)[0].write_bytes(b"PAR1 garbage")
    capsys.readouterr()
    assert main(["compare", str(path), "-n", "2", "--store", str(store)]) == 0
    err = capsys.readouterr().err
    assert "SimbatchWarning: store:" in err and "recomputing it" in err
    assert "Traceback" not in err


# ---- two experiments, one folder ---------------------------------------------------------

def _contender(store: str, seed: int, go: Any, results: Any) -> None:
    go.wait()
    try:
        simbatch.replicate(small(hours=2), 1, seed=seed, executor="serial", store=store)
        results.put((seed, "accepted"))
    except (simbatch.StoreError, simbatch.UsageError) as exc:
        results.put((seed, type(exc).__name__))


def test_two_experiments_racing_for_one_folder_exactly_one_is_accepted(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    outcomes = []
    for trial in range(20):
        store = str(tmp_path / f"store{trial}")
        go, results = context.Event(), context.Queue()
        procs = [context.Process(target=_contender, args=(store, seed, go, results))
                 for seed in (1, 2)]
        for proc in procs:
            proc.start()
        time.sleep(0.05)
        go.set()  # released together
        found = [results.get(timeout=120) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        outcomes.append(sorted(outcome for _, outcome in found))
        accepted = [seed for seed, outcome in found if outcome == "accepted"]
        assert len(accepted) == 1, found
        manifest = json.loads((Path(store) / "experiment.json").read_text())
        assert manifest["seed"] == accepted[0]
        rows = simbatch.replicate(small(hours=2), 1, seed=accepted[0], executor="serial",
                                  store=store)
        assert rows.reused == 1  # what it stored is its own
    # the lock refused some contenders outright (the rest found the winner's manifest)
    assert any("StoreError" in o for o in outcomes)


def test_a_held_store_is_refused_with_a_message(tmp_path: Path) -> None:
    import filelock

    with filelock.FileLock(tmp_path / ".lock"), pytest.raises(
            simbatch.StoreError, match="is in use by another experiment"):
        simbatch.replicate(small(), 1, executor="serial", store=tmp_path)
    assert simbatch.replicate(small(), 1, executor="serial", store=tmp_path).reused == 0


# ---- signals -----------------------------------------------------------------------------

def session_members(session: int) -> list[int]:
    """Live processes (not zombies) of a session, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "simbatch.cli.main", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def wait_for(condition: Any, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def long_run(tmp_path: Path) -> Path:
    path = tmp_path / "long.yaml"
    path.write_text("start: 2026-01-05 00:00\nhorizon: 3d\npolling: 0\nscheduling: priority\n"
                    "servers: {S: {threads: 16}}\n"
                    "jobs: {J: {arrivals: {rate: 10/s}, tasks: {A: {duration: 1s}}}}\n",
                    encoding="utf-8")
    return path


def test_sigint_stops_run_cleanly_and_keeps_the_old_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "tasks.csv").write_text("old\n")
    proc = start_cli(["run", str(long_run(tmp_path)), "--out", str(out)], tmp_path)
    time.sleep(8)  # imported, loaded, simulating (a full run takes minutes)
    assert proc.poll() is None
    os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C does: the whole foreground group
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines() == ["interrupted: stopped; finished outputs and stored"
                                        " replications are kept"]
    assert (out / "tasks.csv").read_text() == "old\n"
    assert sorted(p.name for p in out.iterdir()) == ["tasks.csv"]  # no temporary left


def compare_args(tmp_path: Path, store: Path) -> list[str]:
    path = tmp_path / "c.yaml"
    path.write_text(json.dumps(small(hours=400, threads=3)), encoding="utf-8")
    return ["compare", str(path), "-n", "12", "--store", str(store)]


@pytest.mark.parametrize(("how", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                           (signal.SIGKILL, -9)])
def test_compare_stops_cleanly_and_its_workers_do_not_outlive_it(
        tmp_path: Path, how: signal.Signals, code: int) -> None:
    store = tmp_path / "store"
    args = compare_args(tmp_path, store)
    proc = start_cli(args, tmp_path)
    wait_for(lambda: len(stored(store)) >= 1 and len(session_members(proc.pid)) >= 2)
    if how == signal.SIGINT:
        os.killpg(proc.pid, how)  # Ctrl-C reaches the workers too; they ignore it
    else:
        proc.send_signal(how)  # only the parent
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    if how != signal.SIGKILL:
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    wait_for(lambda: session_members(proc.pid) == [], seconds=10)  # no worker left behind
    done = stored(store)
    assert 1 <= len(done) < 12
    if how != signal.SIGINT:
        return
    resumed = start_cli(args, tmp_path)
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert f"reused {len(done)}" in out
