"""simbatch plan benchmark: a two-variable plan on the bundled tenant week.

    python benchmarks/plan.py            # full size (a few minutes on 2 cores)
    python benchmarks/plan.py --small    # a quick run that checks the script still works
    python benchmarks/plan.py --levers   # also the cloud-lever plan of cloud-night.yaml

It varies the batch threads of the busiest period (the night) on the first two servers of
``scenarios/tenant-week.yaml``, from 1 to what the file gives them. The paths are read from
the file's servers, so the script keeps working when the file changes. It reports the wall
time, the runs the plan spent, and the runs the full grid of the same ranges would take at
the same replications per candidate.

Then it runs the same plan again on one worker (``executor="serial"``) and reports the
parallel efficiency: the one-worker wall time over (cores x the all-workers wall time),
and the cores kept busy (CPU seconds of this process and its workers over the wall time).
The two plans must make the same choice on the same runs: the decisions never depend on
the number of workers. ``--levers`` measures the same for the cloud-lever plan of
``scenarios/cloud-night.yaml`` (a priority and a start time, in batches of 8 candidates).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

import simbatch

ROOT = Path(__file__).resolve().parent.parent
TENANT_WEEK = ROOT / "scenarios" / "tenant-week.yaml"
CLOUD_NIGHT = ROOT / "scenarios" / "cloud-night.yaml"
LEVERS = {"jobs.Nightly planning.priority": "normal,high,critical",
          "jobs.Reports.start": "22:00..02:00/30m"}
LEVER_TARGETS = ['deadline_miss <= 5% for "Nightly planning"']


def varied(scenario: simbatch.Scenario) -> dict[str, range]:
    """The night threads of the first two servers: the period with the most threads each."""
    out: dict[str, range] = {}
    for server in scenario.servers[:2]:
        if server.periods:
            k = max(range(len(server.periods)), key=lambda i: server.periods[i].threads)
            path, top = f"servers.{server.name}.periods[{k}].threads", server.periods[k].threads
        else:
            path, top = f"servers.{server.name}.threads", server.threads
        out[path] = range(1, top + 1)
    if len(out) < 2:
        sys.exit(f"{TENANT_WEEK} needs two servers for a two-variable plan")
    return out


def targets(scenario: simbatch.Scenario) -> list[str]:
    """Night planning waits and everything else's mean wait, on the groups the file has."""
    groups = {g.name for g in scenario.groups}
    planning = "Planning" if "Planning" in groups else "all"
    return [f"wait_p95 <= 2m for {planning}", "wait_mean <= 45s for default"]


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished workers so far."""
    mine = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + workers.ru_utime + workers.ru_stime


def timed(scenario: simbatch.Scenario, vary: dict[str, Any], wanted: list[str], n: int,
          executor: str | None) -> tuple[simbatch.Plan, float, float]:
    """The plan, its wall time, and the cores it kept busy (CPU seconds over wall time)."""
    cpu, began = cpu_seconds(), time.perf_counter()
    found = simbatch.plan(scenario, vary, wanted, replications=n, executor=executor)
    wall = time.perf_counter() - began
    return found, wall, (cpu_seconds() - cpu) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="narrow ranges, 2 replications")
    parser.add_argument("-n", "--replications", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--levers", action="store_true", help="also the cloud-lever plan")
    args = parser.parse_args()
    scenario = simbatch.load(TENANT_WEEK)
    vary = varied(scenario)
    n = args.replications
    if args.small:
        vary = {p: range(max(r.start, r.stop - 3), r.stop) for p, r in vary.items()}
        n = 2
    wanted = targets(scenario)
    command = ("simbatch plan scenarios/tenant-week.yaml "
               + " ".join(f"--vary '{p}={r.start}..{r.stop - 1}'" for p, r in vary.items())
               + " " + " ".join(f"--target '{t}'" for t in wanted) + f" -n {n}")
    print(f"simbatch {simbatch.__version__}, Python {platform.python_version()},"
          f" {platform.machine()}\n{command}\n")
    figures = efficiency(scenario, vary, wanted, n)
    if args.levers:
        print("\nsimbatch plan scenarios/cloud-night.yaml "
              + " ".join(f"--vary '{p}={v}'" for p, v in LEVERS.items())
              + " " + " ".join(f"--target '{t}'" for t in LEVER_TARGETS) + f" -n {n * 2}\n")
        figures["levers"] = efficiency(simbatch.load(CLOUD_NIGHT), LEVERS, LEVER_TARGETS, 2 * n)
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


def efficiency(scenario: simbatch.Scenario, vary: dict[str, Any], wanted: list[str],
               n: int) -> dict[str, Any]:
    """Run the plan on all workers and on one; print and return the figures."""
    found, wall, busy = timed(scenario, vary, wanted, n, None)
    state = "met" if found.met else "NOT met (best found)"
    print(f"choice ({state}): " + ", ".join(f"{p} = {v}" for p, v in found.choice.items()))
    print(found.estimates[["target", "n", "mean", "bound", "met"]].to_string(index=False))
    full = found.grid * n
    print(f"\nwall time {wall:.1f} s; runs spent {found.runs} on {len(found.evaluations)}"
          f" candidates; the full grid: {found.grid} candidates x {n} = {full} runs"
          f" ({found.runs / full:.1%} of it)")
    for note in found.notes:
        print(f"note: {note}")
    one, one_wall, _ = timed(scenario, vary, wanted, n, "serial")
    if one.choice != found.choice or one.runs != found.runs:
        sys.exit(f"the plan on one worker chose {one.choice} in {one.runs} runs, on all"
                 f" workers {found.choice} in {found.runs}: decisions must not depend on them")
    cores = os.cpu_count() or 1
    share = one_wall / (cores * wall)
    print(f"parallel efficiency: {one_wall:.1f} s on one worker, {wall:.1f} s on {cores}"
          f" workers: speed-up {one_wall / wall:.2f}, efficiency {share:.0%};"
          f" {busy:.2f} of {cores} cores busy; the same choice on the same runs")
    return {"wall_s": wall, "runs": found.runs, "candidates": len(found.evaluations),
            "grid": found.grid, "replications": n, "met": found.met,
            "choice": found.choice, "one_worker_wall_s": one_wall, "cores": cores,
            "efficiency": share, "cores_busy": busy}


if __name__ == "__main__":
    main()
