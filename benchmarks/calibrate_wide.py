"""Benchmark: calibration of wide jobs grows with the rows, not with their square.

    python benchmarks/calibrate_wide.py            # 6 runs of 250, 500, 1,000 and 2,000 tasks
    python benchmarks/calibrate_wide.py --runs 6 --tasks 1000

Each job run has N static tasks that start at random within an hour (so timing inference
must compare every pair of tasks); the history has no BatchConstraints. For each N it times
``simbatch.calibrate`` and prints the seconds per task row: roughly flat when calibration is
linear in the rows (the timing inference is a runs x tasks x tasks matrix step, done in
numpy, and bounded by ``dependencies.PAIR_BUDGET``). Before the fix, 6 runs of 1,000 tasks
took 223 s (issue 25); 300 tasks took 61 s.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

import simbatch


def history(runs: int, tasks: int, seed: int = 1) -> simbatch.History:
    """``runs`` daily runs of one job with ``tasks`` static tasks, in F&O's columns."""
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("2026-01-05 22:00", tz="UTC")
    jobs, rows = [], []
    for r in range(runs):
        due = base + pd.Timedelta(days=r)
        start = due + pd.to_timedelta(rng.integers(0, 3600, tasks), unit="s")
        end = start + pd.to_timedelta(rng.integers(10, 600, tasks), unit="s")
        jobs.append({"RecId": 100 + r, "BatchJobId": 7, "Caption": "Wide", "Status": "Ended",
                     "OrigStartDateTime": due, "StartDateTime": due, "EndDateTime": end.max()})
        rows.append(pd.DataFrame({
            "BatchJobHistoryId": 100 + r, "BatchJobId": 7, "BatchId": 1000 + np.arange(tasks),
            "Caption": [f"T{t}" for t in range(tasks)],
            "ServerId": [f"AOS{t % 4 + 1}" for t in range(tasks)], "Status": "Ended",
            "StartDateTime": start, "EndDateTime": end, "retryCount": 0}))
    return simbatch.History.from_tables(pd.DataFrame(jobs), pd.concat(rows, ignore_index=True),
                                        source="wide")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--tasks", type=int, nargs="*", default=[250, 500, 1000, 2000])
    args = parser.parse_args()
    print(f"{'tasks':>6} {'rows':>7} {'seconds':>8} {'ms/row':>7}")
    for n in args.tasks:
        data = history(args.runs, n)
        began = time.perf_counter()
        simbatch.calibrate(data)
        spent = time.perf_counter() - began
        print(f"{n:>6,} {args.runs * n:>7,} {spent:>8.2f} {1000 * spent / (args.runs * n):>7.3f}")


if __name__ == "__main__":
    main()
