"""Benchmark: read and calibrate 60 days of a large tenant's batch history.

    python benchmarks/history.py              # about 5 million BatchHistory rows
    python benchmarks/history.py --scale 0.1  # a tenth of that, for a quick look

It writes a synthetic export once (BatchJobHistory.csv and BatchHistory.csv, in F&O's
columns) to a cache folder, then times ``simbatch.read_history`` and ``simbatch.calibrate``
on it, and prints the figures the README records. The tenant has recurring integrations
(every 5 to 60 minutes, several tasks each), arrival-driven jobs with business-hour peaks,
batches of runs that share one due time, and nightly jobs that fan out into thousands of
runtime tasks.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

import simbatch

DAYS = 60
START = np.datetime64("2026-01-05T00:00:00", "s")
SERVERS = [f"AOS{i}" for i in range(1, 13)]


def _tenant(scale: float) -> list[dict[str, object]]:
    """The jobs of the synthetic tenant: how their runs are due and what tasks they have."""
    jobs: list[dict[str, object]] = []
    for i in range(max(4, round(40 * scale))):
        jobs.append({"name": f"Integration {i + 1}", "kind": "every",
                     "minutes": [5, 10, 15, 30, 60][i % 5], "tasks": 2 + i % 4})
    for i in range(20):
        jobs.append({"name": f"Import {i + 1}", "kind": "arrivals",
                     "rate": (8 + 4 * i) * scale, "tasks": 1 + i % 2,
                     "batch": 1 + 4 * (i % 4 == 0)})
    for i in range(12):
        jobs.append({"name": f"Nightly {i + 1}", "kind": "daily", "hour": 18 + i // 2,
                     "tasks": 2, "runtime": int((2800 + 170 * i) * scale)})
    return jobs


def generate(folder: Path, scale: float, seed: int = 0) -> tuple[Path, Path]:
    """Write the synthetic export (once per scale) and return its two files."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs_path, tasks_path = folder / "BatchJobHistory.csv", folder / "BatchHistory.csv"
    if jobs_path.exists() and tasks_path.exists():
        return jobs_path, tasks_path
    rng = np.random.default_rng(seed)
    horizon = DAYS * 86400
    run_rows: list[pd.DataFrame] = []
    task_rows: list[pd.DataFrame] = []
    next_run = 5_637_144_576
    for j, job in enumerate(_tenant(scale)):
        kind = job["kind"]
        if kind == "every":
            due = np.arange(0, horizon, 60 * int(job["minutes"]))  # type: ignore[call-overload]
        elif kind == "daily":
            due = np.arange(DAYS) * 86400 + 3600 * int(job["hour"])  # type: ignore[call-overload]
        else:
            hours = np.arange(DAYS * 24)
            busy = ((hours % 24 >= 8) & (hours % 24 < 18) & ((hours // 24) % 7 < 5))
            counts = rng.poisson(np.where(busy, job["rate"], 0.1 * job["rate"]))  # type: ignore[arg-type]
            due = np.sort(np.repeat(hours, counts) * 3600 + rng.uniform(0, 3600, counts.sum())
                          ).astype(np.int64)
            due = np.repeat(due, int(job["batch"]))  # type: ignore[call-overload]
        n = len(due)
        run_ids = next_run + np.arange(n)
        next_run += n
        start = due + rng.integers(0, 60, n)
        tasks = int(job["tasks"])  # type: ignore[call-overload]
        durations = np.maximum(1, rng.lognormal(np.log(30 + 20 * (j % 7)), 0.6,
                                                (n, tasks)).round()).astype(np.int64)
        begins = start[:, None] + np.concatenate([np.zeros((n, 1), np.int64),
                                                  np.cumsum(durations, axis=1)[:, :-1]], axis=1)
        ends = begins + durations
        fails = rng.random((n, tasks)) < 0.02
        retries = np.where(fails, rng.integers(0, 3, (n, tasks)), 0)
        frames = [pd.DataFrame({
            "run": np.repeat(run_ids, tasks), "task": np.tile(np.arange(tasks), n),
            "start": begins.ravel(), "end": ends.ravel(), "error": fails.ravel(),
            "retries": retries.ravel(), "runtime": 0})]
        run_end = ends[:, -1]
        children = int(job.get("runtime", 0))  # type: ignore[call-overload]
        if children:
            k = rng.integers(int(children * 0.8), children + 1, n)
            parent = np.repeat(np.arange(n), k)
            child_start = begins[parent, 0] + rng.integers(0, 3600, len(parent))
            child_len = np.maximum(1, rng.gamma(4.0, 30.0, len(parent)).round()).astype(np.int64)
            frames.append(pd.DataFrame({
                "run": run_ids[parent], "task": tasks, "start": child_start,
                "end": child_start + child_len, "error": rng.random(len(parent)) < 0.005,
                "retries": 0, "runtime": 1}))
            run_end = np.maximum(run_end, np.maximum.reduceat(
                child_start + child_len, np.r_[0, np.cumsum(k)[:-1]]))
        rows = pd.concat(frames, ignore_index=True)
        rows["job"] = j
        task_rows.append(rows)
        errors = rows.groupby("run")["error"].any().reindex(run_ids, fill_value=False)
        run_rows.append(pd.DataFrame({"RecId": run_ids, "BatchJobId": 10_000 + j,
                                      "Caption": job["name"], "due": due, "start": start,
                                      "end": run_end, "error": errors.to_numpy()}))
    runs = pd.concat(run_rows, ignore_index=True)
    names = {10_000 + j: job["name"] for j, job in enumerate(_tenant(scale))}
    stamp = lambda seconds: pa.array(START + seconds.astype("timedelta64[s]"))  # noqa: E731
    pacsv.write_csv(pa.table({
        "RecId": runs.RecId, "BatchJobId": runs.BatchJobId, "Caption": runs.Caption,
        "Status": np.where(runs.error, "Error", "Ended"),
        "OrigStartDateTime": stamp(runs.due.to_numpy()), "StartDateTime": stamp(
            runs.start.to_numpy()), "EndDateTime": stamp(runs.end.to_numpy()),
        "Company": np.full(len(runs), "DAT"), "ExecutedBy": np.full(len(runs), "Admin")}),
        jobs_path)
    tasks = pd.concat(task_rows, ignore_index=True)
    job_ids = 10_000 + tasks.job.to_numpy()
    captions = np.where(tasks.runtime == 1, "Helper", "Step " + (tasks.task + 1).astype(str))
    batch_ids = np.where(tasks.runtime == 1, 9_000_000_000 + np.arange(len(tasks)),
                         1_000_000 + 10 * tasks.job.to_numpy() + tasks.task.to_numpy())
    del names
    pacsv.write_csv(pa.table({
        "BatchJobHistoryId": tasks.run, "BatchJobId": job_ids, "BatchId": batch_ids,
        "Caption": captions, "ClassNumber": 20_000 + 10 * tasks.job + tasks.task,
        "ServerId": np.array(SERVERS)[rng.integers(0, len(SERVERS), len(tasks))],
        "Status": np.where(tasks.error, "Error", "Ended"),
        "StartDateTime": stamp(tasks.start.to_numpy()),
        "EndDateTime": stamp(tasks.end.to_numpy()),
        "retryCount": tasks.retries, "RuntimeTask": tasks.runtime,
        "Company": np.full(len(tasks), "DAT")}),
        tasks_path)
    return jobs_path, tasks_path


def main() -> None:
    """Generate the export if needed, then time reading and calibrating it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1 = about 5 million rows")
    parser.add_argument("--cache", type=Path, default=Path(".bench-history"))
    args = parser.parse_args()
    folder = args.cache / f"scale-{args.scale:g}"
    t = time.perf_counter()
    paths = generate(folder, args.scale)
    generated = time.perf_counter() - t
    t = time.perf_counter()
    history = simbatch.read_history(*paths)
    read = time.perf_counter() - t
    t = time.perf_counter()
    calibration = simbatch.calibrate(history)
    fitted = time.perf_counter() - t
    t = time.perf_counter()
    scenario = calibration.write(folder / "calibrated.yaml")
    written = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Machine: {platform.processor() or platform.machine()}, Python"
          f" {platform.python_version()}, pandas {pd.__version__}, simbatch"
          f" {simbatch.__version__}")
    print(f"Export: {DAYS} days, {len(history.jobs):,} BatchJobHistory rows,"
          f" {len(history.tasks):,} BatchHistory rows (generated or reused in {generated:.1f} s)")
    print(f"read_history: {read:.1f} s; calibrate: {fitted:.1f} s; write and load the YAML:"
          f" {written:.1f} s; total {read + fitted + written:.1f} s (target <= 60 s)")
    print(f"Peak memory: {peak:,.0f} MiB; calibrated {len(scenario.jobs)} jobs on"
          f" {len(scenario.servers)} servers")


if __name__ == "__main__":
    main()
