"""simbatch load benchmark: a 300-server, 5,000-job month, against the work budget.

    python benchmarks/load.py            # full size (a minute or two on 2 cores)
    python benchmarks/load.py --small    # a quick run that checks the script still works

The scenario is generated in code (``farm_month``): 300 servers in ten batch groups, the
first hundred with day and night periods; 5,000 jobs, of which most recur daily (a
three-task chain) or hourly (two tasks), some arrive at random, and some run weekly with
runtime tasks. The run shows its progress over simulated time (the bar of
``simbatch.engine.progress``, forced onto stderr), and is measured in a child process so
that its peak resident memory is its own. The figures:

- the work budget's estimate (``simbatch.estimate_work``): attempts, and the memory they
  are expected to take (``Estimate.bytes``, ``BYTES_PER_ATTEMPT`` each);
- what the run did: attempts, wall time, progress updates, and the peak resident memory
  above the process's baseline (loaded scenario and modules), tables built;
- the ratio of the measured peak to the estimate, which must stay at or below 1.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import simbatch

SERVERS, JOBS, DAYS = 300, 5_000, 30


def peak_rss() -> int:
    """This process's peak resident memory in bytes.

    Linux's VmHWM belongs to the process's own address space; ``ru_maxrss`` would carry
    the parent's peak over into a child, hiding the child's own.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def farm_month(servers: int = SERVERS, jobs: int = JOBS, days: int = DAYS) -> dict[str, Any]:
    """The load scenario as plain data (YAML 1.2 reads its JSON as it is)."""
    day_night = {"threads": 8, "periods": [{"from": "08:00", "to": "18:00", "threads": 4},
                                           {"from": "18:00", "to": "07:30", "threads": 16}]}
    names = [f"AOS{i:03d}" for i in range(1, servers + 1)]
    groups = {f"G{g}": {"servers": names[g::10]} for g in range(10)}
    doc: dict[str, Any] = {
        "name": f"Load: {servers} servers, {jobs:,} jobs, {days} days",
        "start": "2026-01-05 00:00", "timezone": "Europe/Amsterdam", "horizon": f"{days}d",
        "polling": "1m", "scheduling": "affinity",
        "servers": {name: (day_night if i < servers // 3 else {"threads": 8})
                    for i, name in enumerate(names)},
        "groups": groups, "jobs": {},
    }
    for j in range(jobs):
        group = f"G{j % 10}"
        kind = j % 50  # 35 daily, 10 hourly, 4 arriving and 1 weekly in every 50 jobs
        minute = j % 60
        if kind < 35:
            hour = (18 + j % 12) % 24  # from 18:00 to 05:59, the batch night
            doc["jobs"][f"Daily {j}"] = {
                "group": group, "start": f"2026-01-05 {hour:02d}:{minute:02d}",
                "recurrence": {"every": "1d"}, "tasks": {
                    "Extract": {"duration": {"lognormal": {"mean": "2m", "sd": "1m"}}},
                    "Transform": {"duration": {"lognormal": {"mean": "3m", "sd": "2m"}},
                                  "after": {"Extract": "ended"}, "fail": 0.01, "retries": 1},
                    "Load": {"duration": {"gamma": {"mean": "1m", "sd": "30s"}},
                             "after": {"Transform": "ended"}}}}
        elif kind < 45:
            doc["jobs"][f"Hourly {j}"] = {
                "group": group, "start": f"2026-01-05 00:{minute:02d}",
                "recurrence": {"every": "1h"}, "tasks": {
                    "Read": {"duration": {"exponential": "30s"}},
                    "Write": {"duration": "20s", "after": {"Read": "ended"}}}}
        elif kind < 49:
            doc["jobs"][f"Arrivals {j}"] = {
                "group": group, "arrivals": {"interval": {"exponential": "2h"}},
                "tasks": {"Import": {"duration": {"gamma": {"mean": "1m", "sd": "40s"}},
                                     "fail": 0.02, "retries": 2}}}
        else:
            doc["jobs"][f"Weekly {j}"] = {
                "group": group, "start": f"2026-01-05 22:{minute:02d}",
                "recurrence": {"every": "1w"}, "tasks": {"Settle": {
                    "duration": "5m", "runtime": {
                        "tasks": 20, "duration": {"exponential": "1m"}}}}}
    return doc


def measure(servers: int, jobs: int, days: int) -> dict[str, Any]:
    """Load, estimate, run with a progress bar, build both tables; the figures."""
    from simbatch.engine.compile import compile
    from simbatch.engine.model import Model
    from simbatch.engine.progress import simulated_time
    from simbatch.results.result import Result

    began = time.perf_counter()
    scenario = simbatch.load(farm_month(servers, jobs, days))
    loaded = time.perf_counter() - began
    estimate = simbatch.estimate_work(scenario)
    baseline = peak_rss()
    began = time.perf_counter()
    model = Model.from_plan(compile(scenario), seed=1)
    updates: list[int] = []
    with simulated_time(scenario.horizon, scenario.name, show=True, delay=0) as advance:
        def record(now: int) -> None:
            updates.append(now)
            advance(now)

        model.run(record)
    result = Result.from_model(model)
    attempts = int(result.tasks.start.notna().sum())
    runs = len(result.jobs)
    wall = time.perf_counter() - began
    peak = peak_rss() - baseline
    return {"servers": servers, "jobs": jobs, "days": days, "load_s": loaded,
            "estimated_attempts": estimate.attempts, "estimated_bytes": estimate.bytes,
            "attempts": attempts, "rows": len(result.tasks), "job_runs": runs,
            "wall_s": wall, "attempts_per_s": attempts / wall,
            "progress_updates": len(updates),
            "progress_reached": updates[-1] / scenario.horizon if updates else 0.0,
            "peak_bytes_above_baseline": peak, "peak_to_estimate": peak / estimate.bytes}


def report(figures: dict[str, Any]) -> str:
    """The figures as the benchmark prints them."""
    f = figures
    return "\n".join([
        f"simbatch load benchmark ({f['machine']})",
        f"{f['servers']} servers, {f['jobs']:,} jobs, {f['days']} days; loaded in"
        f" {f['load_s']:.1f} s",
        f"  work budget estimate: {f['estimated_attempts']:,.0f} attempts,"
        f" {f['estimated_bytes'] / 1e6:,.0f} MB",
        f"  run: {f['attempts']:,} attempts ({f['rows']:,} rows, {f['job_runs']:,} job runs)"
        f" in {f['wall_s']:.1f} s, {f['attempts_per_s']:,.0f} attempts/s",
        f"  progress: {f['progress_updates']} updates, the last at"
        f" {f['progress_reached']:.0%} of the horizon",
        f"  peak memory above baseline: {f['peak_bytes_above_baseline'] / 1e6:,.0f} MB,"
        f" {f['peak_to_estimate']:.2f} of the estimate"
        + ("" if f["peak_to_estimate"] <= 1 else "  ** above the estimate **"),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a quick run (30 servers,"
                        " 500 jobs, 3 days)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._child:
        servers, jobs, days = (int(x) for x in args._child.split(","))
        print(json.dumps(measure(servers, jobs, days)))
        return 0
    size = (30, 500, 3) if args.small else (SERVERS, JOBS, DAYS)
    child = subprocess.run([sys.executable, __file__, "--_child", ",".join(map(str, size))],
                           stdout=subprocess.PIPE, text=True, check=True)  # the bar: stderr
    figures = {"machine": f"{platform.processor() or platform.machine()},"
                          f" Python {platform.python_version()}, simbatch"
                          f" {simbatch.__version__}", **json.loads(child.stdout)}
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
