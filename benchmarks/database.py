"""The kernel with and without the shared database: an A/B of ``Model.run`` alone.

    python benchmarks/database.py            # 200,000 jobs, best of 5 (about a minute)
    python benchmarks/database.py --small    # a quick run that checks the script works

The same M/M/4 workload (utilization 0.8, polling 0) runs as:
- ``none``: no ``database:``, the kernel every other benchmark measures;
- ``roomy``: ``database: {capacity: 1000000}``, never saturated: the cost of the work clock
  and its heap alone;
- ``contended``: ``database: {capacity: 2}``, saturated most of the time;
- ``throttled``: capacity 2 with ``throttle_at: 100%``.

Each variant is compiled once and run several times, interleaved; the best CPU time of
the process counts (``time.process_time``: on a shared machine, wall time measures the
neighbours).
Run it with another checkout's sources first on the path (``PYTHONPATH=…/src``) to
compare ``none`` across versions: the kernel's cost without ``database:`` must not move.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import simbatch
from simbatch.engine.compile import compile
from simbatch.engine.model import Model

RATE, SERVICE, THREADS = 0.32, 0.1, 4  # per minute


def scenario(jobs: int, database: dict[str, Any] | None) -> dict[str, Any]:
    """The M/M/4 workload of ``jobs`` expected runs, with ``database`` if given."""
    doc: dict[str, Any] = {
        "start": "2026-01-01 00:00", "horizon": f"{jobs / RATE * 60:.0f}s", "polling": 0,
        "servers": {"S": {"threads": THREADS}},
        "jobs": {"J": {"arrivals": {"interval": {"exponential": f"{60 / RATE}s"}},
                       "tasks": {"T": {"duration": {"exponential": f"{60 / SERVICE}s"}}}}}}
    if database is not None:
        doc["database"] = database
    return doc


VARIANTS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "roomy": {"capacity": 1_000_000},
    "contended": {"capacity": 2},
    "throttled": {"capacity": 2, "throttle_at": "100%"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true")
    args = parser.parse_args()
    jobs, repeats = (5_000, 2) if args.small else (200_000, 5)
    plans = {}
    for name, db in VARIANTS.items():
        try:
            plans[name] = compile(simbatch.load(scenario(jobs, db)))
        except simbatch.ScenarioError:  # a version without the database: "none" only
            continue
    best: dict[str, float] = {}
    attempts: dict[str, int] = {}
    for _ in range(repeats):
        for name, plan in plans.items():
            model = Model.from_plan(plan, seed=1)
            began = time.process_time()
            model.run()
            spent = time.process_time() - began
            attempts[name] = len(model.recorder.rows("tasks"))
            best[name] = min(best.get(name, math.inf), spent)
    rows = {name: {"attempts": attempts[name], "best_s": round(best[name], 4),
                   "us_per_attempt": round(best[name] / attempts[name] * 1e6, 3),
                   "ratio_to_none": round(best[name] / best["none"], 3)}
            for name in plans}
    print(json.dumps({"jobs": jobs, "repeats": repeats, "variants": rows}, indent=2))


if __name__ == "__main__":
    main()
