"""simbatch benchmarks: three comparisons in one invocation, reported as same-run ratios.

    python benchmarks/run.py            # full size (about three minutes on 2 cores)
    python benchmarks/run.py --history-plan   # also the history and plan benchmarks
    python benchmarks/run.py --small    # a quick run that checks the script still works

(a) M/M/c kernel: simbatch's M/M/c scenario against a minimal hand-written SimPy model
    (Resource plus generator processes) and Ciw, same rates, same number of jobs.
(b) Tenant month: 24 servers with day/night periods, recurring and arriving jobs and
    runtime helpers, about a million task attempts over 30 days.
(c) Idle year: 100 servers polling every minute for a year with little work; the work
    done must follow the tasks, not servers x minutes.
(d) Farm: the same workload on 100, 1,000 and 4,000 servers; the time must follow the work.
(e) Start-up: `simbatch validate` on the walkthrough against `python -c "import pandas"`.
(f) Replication: one replication's metrics against simulate() with both tables.
(g), (h) With --history-plan: the history and plan benchmarks, as their scripts print them.
(i) With --load: the load benchmark (benchmarks/load.py), as its script prints it.

Timings vary with the machine's load, so each model runs several times, interleaved, and
the best time counts; the ratios between models are what to read.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from load import peak_rss  # benchmarks/load.py, beside this script

import simbatch
from simbatch.engine.model import Model

ARRIVAL_RATE, SERVICE_RATE, THREADS = 0.32, 0.1, 4  # per minute: utilization 0.8


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    """Mean wait in queue of M/M/c, in the rates' time unit."""
    a = lam / mu
    top = a**c / math.factorial(c) / (1 - a / c)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top) / (c * mu - lam)


# ---- (a) the M/M/c kernel ------------------------------------------------------------------

def mmc_simbatch(jobs: int, seed: int) -> tuple[int, float]:
    """simbatch end to end (load, simulate, build the tables): jobs done, mean wait (min)."""
    doc = {
        "start": "2026-01-01 00:00", "horizon": f"{jobs / ARRIVAL_RATE * 60:.0f}s",
        "polling": 0, "servers": {"S": {"threads": THREADS}},
        "jobs": {"J": {"arrivals": {"interval": {"exponential": f"{60 / ARRIVAL_RATE}s"}},
                       "tasks": {"T": {"duration": {"exponential": f"{60 / SERVICE_RATE}s"}}}}},
    }
    result = simbatch.simulate(doc, seed=seed)
    return len(result.jobs), result.tasks.wait.dt.total_seconds().mean() / 60


def mmc_simpy(jobs: int, seed: int) -> tuple[int, float]:
    """A minimal hand-written SimPy M/M/c: Resource plus generator processes."""
    env = simpy.Environment()
    server = simpy.Resource(env, THREADS)
    rng = random.Random(seed)
    waits: list[float] = []

    def customer() -> Any:
        arrived = env.now
        with server.request() as request:
            yield request
            waits.append(env.now - arrived)
            yield env.timeout(rng.expovariate(SERVICE_RATE))

    def source() -> Any:
        for _ in range(jobs):
            yield env.timeout(rng.expovariate(ARRIVAL_RATE))
            env.process(customer())

    env.process(source())
    env.run()
    return len(waits), float(np.mean(waits))


def mmc_ciw(jobs: int, seed: int) -> tuple[int, float]:
    """Ciw's M/M/c."""
    import ciw

    network = ciw.create_network(
        arrival_distributions=[ciw.dists.Exponential(ARRIVAL_RATE)],
        service_distributions=[ciw.dists.Exponential(SERVICE_RATE)],
        number_of_servers=[THREADS])
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    sim.simulate_until_max_customers(jobs, method="Finish")
    records = sim.get_all_records()
    return len(records), float(np.mean([r.waiting_time for r in records]))


def kernel(jobs: int, repeats: int) -> dict[str, Any]:
    models = {"simbatch": mmc_simbatch, "SimPy (minimal)": mmc_simpy, "Ciw": mmc_ciw}
    best: dict[str, float] = {}
    waits: dict[str, list[float]] = {name: [] for name in models}
    for repeat in range(repeats):
        for name, model in models.items():
            began = time.perf_counter()
            done, wait = model(jobs, seed=repeat + 1)
            per_job = (time.perf_counter() - began) / done * 1e6
            best[name] = min(best.get(name, math.inf), per_job)
            waits[name].append(wait)
    return {"jobs": jobs, "us_per_job": best,
            "mean_wait_min": {name: float(np.mean(w)) for name, w in waits.items()},
            "erlang_c_min": erlang_c_wait(ARRIVAL_RATE, SERVICE_RATE, THREADS)}


# ---- (b) a tenant month --------------------------------------------------------------------

def tenant_month(days: int = 30, scale: float = 1.0) -> dict[str, Any]:
    """A large tenant: 24 servers, day/night threads, every kind of workload."""
    night = {"threads": 8, "periods": [{"from": "08:00", "to": "18:00", "threads": 4},
                                       {"from": "18:00", "to": "07:30", "threads": 16}]}
    servers = {f"AOS{i:02d}": night for i in range(1, 25)}
    names = list(servers)

    def rate(per_hour: float) -> str:
        return f"{per_hour * scale:g}/h"

    return {
        "name": "Tenant month", "start": "2026-01-05 00:00", "timezone": "Europe/Amsterdam",
        "horizon": f"{days}d", "polling": "1m", "scheduling": "affinity", "servers": servers,
        "groups": {"Integration": {"servers": names[:8]}, "Planning": {"servers": names[8:16]},
                   "default": {"servers": names[8:]}},
        "jobs": {
            "Order import": {"group": "Integration", "arrivals": {
                "rate": rate(400), "windows": [{"days": "mon-fri", "from": "08:00",
                                                "to": "18:00", "rate": rate(1500)}]},
                "tasks": {"Import": {"duration": {"gamma": {"mean": "30s", "sd": "20s"}},
                                     "fail": 0.01, "retries": 2}}},
            "Invoices": {"arrivals": {"rate": rate(300)},
                         "tasks": {"Post": {"duration": {"lognormal": {"mean": "40s",
                                                                       "sd": "30s"}}}}},
            "Reporting": {"arrivals": {"rate": rate(100)},
                          "tasks": {"Report": {"duration": {"exponential": "3m"}}}},
            "Integration sync": {"group": "Integration", "recurrence": {"every": "1m"},
                                 "tasks": {"Read": {"duration": "10s"},
                                           "Transform": {"duration": "15s",
                                                         "after": {"Read": "ended"}},
                                           "Write": {"duration": "10s",
                                                     "after": {"Transform": "ended"}}}},
            "Master planning": {"group": "Planning", "start": "2026-01-05 22:00",
                                "recurrence": {"every": "1d"}, "tasks": {"Plan": {
                                    "duration": "10m", "runtime": {
                                        "tasks": {"uniform": [int(1500 * scale),
                                                              int(2500 * scale)]},
                                        "duration": {"lognormal": {"mean": "1m",
                                                                   "sd": "30s"}}}}}},
            "Cost calculation": {"start": "2026-01-05 23:00", "recurrence": {"every": "1d"},
                                 "tasks": {"Calculate": {"duration": "5m", "runtime": {
                                     "tasks": int(1000 * scale),
                                     "duration": {"gamma": {"mean": "1m", "sd": "40s"}}}}}},
        },
    }


def _measure_month(days: int, scale: float) -> dict[str, Any]:
    """Run in a child process: its peak resident memory is this run's alone."""
    scenario = simbatch.load(tenant_month(days, scale))
    baseline = peak_rss()
    began = time.perf_counter()
    result = simbatch.simulate(scenario, seed=1)
    wall = time.perf_counter() - began
    peak = peak_rss()
    attempts = int(result.tasks.start.notna().sum())
    return {"days": days, "attempts": attempts, "rows": len(result.tasks), "wall_s": wall,
            "attempts_per_s": attempts / wall, "peak_bytes_above_baseline": peak - baseline,
            "bytes_per_attempt": (peak - baseline) / attempts}


def month(days: int, scale: float) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--_month", f"{days},{scale}"],
                         capture_output=True, text=True, check=True)
    return dict(json.loads(out.stdout))


# ---- (c) an idle year ----------------------------------------------------------------------

def idle_year(servers: int, days: int) -> dict[str, Any]:
    night = {"threads": 8, "periods": [{"from": "08:00", "to": "18:00", "threads": 2},
                                       {"from": "18:00", "to": "07:30", "threads": 16}]}
    doc = {"start": "2026-01-01 00:00", "horizon": f"{days}d", "polling": "1m",
           "servers": {f"AOS{i:03d}": night for i in range(servers)},
           "jobs": {"Nightly": {"start": "2026-01-01 02:00", "recurrence": {"every": "1d"},
                                "tasks": {"A": {"duration": "10m"},
                                          "B": {"duration": "5m", "after": {"A": "ended"}},
                                          "C": {"duration": "5m", "after": {"A": "ended"}}}}}}
    began = time.perf_counter()
    model = Model(simbatch.load(doc), seed=1)
    model.run()
    wall = time.perf_counter() - began
    ticks = servers * days * 24 * 60
    return {"servers": servers, "days": days, "wall_s": wall, "events": model.events,
            "server_minutes": ticks}


# ---- (d) servers at a fixed workload -------------------------------------------------------

def farm(servers: int, hours: int = 24) -> dict[str, Any]:
    """The same workload (about 1,500 single-task runs an hour) on ``servers`` servers.

    Dispatch looks only at free servers with work that poll now, so the time should follow
    the work, not the number of servers; building the model still costs a little per server.
    """
    doc = {"start": "2026-01-01 00:00", "horizon": f"{hours}h", "polling": "1m",
           "servers": {f"AOS{i:04d}": {"threads": 4} for i in range(servers)},
           "jobs": {"Work": {"arrivals": {"rate": "1500/h"},
                             "tasks": {"T": {"duration": {"exponential": "8m"}}}}}}
    scenario = simbatch.load(doc)
    began = time.perf_counter()
    model = Model(scenario, seed=1)
    model.run()
    wall = time.perf_counter() - began
    return {"servers": servers, "wall_s": wall, "events": model.events,
            "attempts": len(model.recorder.rows("tasks"))}


def farms(counts: tuple[int, ...], repeats: int, hours: int) -> list[dict[str, Any]]:
    """``farm`` for each count, interleaved, best of ``repeats``."""
    best: dict[int, dict[str, Any]] = {}
    for _ in range(repeats):
        for n in counts:
            row = farm(n, hours)
            if n not in best or row["wall_s"] < best[n]["wall_s"]:
                best[n] = row
    return [best[n] for n in counts]


# ---- (e) start-up --------------------------------------------------------------------------

def startup(repeats: int) -> dict[str, float]:
    """Best wall time of ``simbatch validate`` on the walkthrough against ``import pandas``."""
    root = Path(__file__).resolve().parent.parent
    commands = {
        "python -c 'import pandas'": [sys.executable, "-c", "import pandas"],
        "simbatch validate scenarios/walkthrough.yaml": [
            str(Path(sys.executable).with_name("simbatch")), "validate",
            str(root / "scenarios" / "walkthrough.yaml")],
    }
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, command in commands.items():
            began = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            best[name] = min(best.get(name, math.inf), time.perf_counter() - began)
    return best


# ---- (g), (h) the history and plan benchmarks, as their own scripts print them --------------

def script(name: str, *args: str) -> list[str]:
    """Run ``benchmarks/<name>`` and keep the lines it prints."""
    out = subprocess.run([sys.executable, str(Path(__file__).with_name(name)), *args],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()
# ---- (f) one replication's metrics ---------------------------------------------------------

def replication_cost(repeats: int) -> dict[str, Any]:
    """One replication's metrics (run + metrics from the recorder, as workers compute them)
    against ``simulate()`` building both tables, on the tenant week; interleaved, best of
    ``repeats``. Also the parts: the run alone, the fast metrics, the tables, the metrics
    read from the tables, and the previous replication (simulate + table metrics)."""
    from simbatch.results import summary
    from simbatch.results.result import Result

    scenario = simbatch.load(Path(__file__).resolve().parent.parent / "scenarios"
                             / "tenant-week.yaml")
    best: dict[str, float] = {}

    def timed(name: str, began: float) -> float:
        now = time.perf_counter()
        best[name] = min(best.get(name, math.inf), now - began)
        return now

    for repeat in range(repeats):
        seed = repeat + 1
        began = time.perf_counter()
        simbatch.simulate(scenario, seed=seed)
        began = timed("simulate", began)
        summary.replication_metrics(scenario, seed)
        began = timed("replication", began)
        summary.result_metric_rows(simbatch.simulate(scenario, seed=seed))
        began = timed("previous replication", began)
        model = Model(scenario, seed)
        model.run()
        began = timed("run", began)
        summary.metric_rows(model)
        began = timed("metrics from the recorder", began)
        result = Result.from_model(model)
        began = timed("tables", began)
        summary.result_metric_rows(result)
        timed("metrics from the tables", began)
    return {"scenario": scenario.name, "repeats": repeats, "best_s": best,
            "ratio": best["replication"] / best["simulate"],
            "ratio_to_previous": best["replication"] / best["previous replication"]}


# ---- report --------------------------------------------------------------------------------

def report(results: dict[str, Any]) -> str:
    k = results["kernel"]
    us = k["us_per_job"]
    ours = us["simbatch"]
    lines = [
        f"Machine: {results['machine']}",
        "",
        f"(a) M/M/{THREADS} kernel, {k['jobs']:,} jobs, utilization"
        f" {ARRIVAL_RATE / SERVICE_RATE / THREADS:.2f}; Erlang C mean wait"
        f" {k['erlang_c_min']:.2f} min",
        "",
        "| model | µs per job | ÷ simbatch | mean wait (min), mean of the runs |",
        "| --- | --- | --- | --- |",
    ]
    for name, value in us.items():
        lines.append(f"| {name} | {value:.2f} | {value / ours:.2f} |"
                     f" {k['mean_wait_min'][name]:.2f} |")
    lines += ["",
              f"simbatch ÷ SimPy (minimal) = {ours / us['SimPy (minimal)']:.2f} (target <= 0.6);"
              f" Ciw ÷ simbatch = {us['Ciw'] / ours:.2f} (target >= 2)", ""]
    m = results["month"]
    lines += [f"(b) Tenant month: {m['days']} days, {m['attempts']:,} task attempts"
              f" ({m['rows']:,} rows): {m['wall_s']:.1f} s, {m['attempts_per_s']:,.0f}"
              f" attempts/s, peak memory {m['peak_bytes_above_baseline'] / 2**20:.0f} MiB"
              f" above baseline = {m['bytes_per_attempt']:.0f} bytes per attempt"
              " (target <= 200)", ""]
    lines.append("(c) Idle year: events processed against servers x minutes")
    lines += ["", "| servers | days | wall (s) | events | servers x minutes |",
              "| --- | --- | --- | --- | --- |"]
    for row in results["idle"]:
        lines.append(f"| {row['servers']} | {row['days']} | {row['wall_s']:.2f} |"
                     f" {row['events']:,} | {row['server_minutes']:,} |")
    lines += ["", "(d) The same workload on more servers: time against servers",
              "", "| servers | wall (s) | ÷ the first | events | task attempts |",
              "| --- | --- | --- | --- | --- |"]
    first = results["farm"][0]["wall_s"]
    for row in results["farm"]:
        lines.append(f"| {row['servers']:,} | {row['wall_s']:.2f} | {row['wall_s'] / first:.2f} |"
                     f" {row['events']:,} | {row['attempts']:,} |")
    up = results["startup"]
    pandas_s, validate_s = up.values()
    lines += ["", "(e) Start-up, best wall time", "", "| command | wall (s) | ÷ import pandas |",
              "| --- | --- | --- |"]
    for name, value in up.items():
        lines.append(f"| `{name}` | {value:.2f} | {value / pandas_s:.2f} |")
    lines += ["", f"validate ÷ import pandas = {validate_s / pandas_s:.2f} (target <= 1.5)"]
    r = results["replication"]
    lines += ["", f"(f) One replication's metrics on {r['scenario']}: replication ÷ simulate()"
              f" with both tables = {r['ratio']:.2f} (target <= 0.6); ÷ the previous"
              f" replication (simulate + table metrics) = {r['ratio_to_previous']:.2f};"
              " best seconds: " + ", ".join(f"{k} {v:.3f}" for k, v in r["best_s"].items())]
    for title, key in (("(g) History: read and calibrate (benchmarks/history.py)", "history"),
                       ("(h) Plan on the tenant week (benchmarks/plan.py)", "plan"),
                       ("(i) Load: 300 servers, 5,000 jobs, a month (benchmarks/load.py)",
                        "load")):
        if results.get(key):
            lines += ["", title, "", "```text", *results[key], "```"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="a quick run of every part")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--history-plan", action="store_true", help="also run benchmarks/"
                        "history.py and benchmarks/plan.py (several minutes at full size)")
    parser.add_argument("--load", action="store_true", help="also run benchmarks/load.py"
                        " (a 300-server, 5,000-job month: a few minutes)")
    parser.add_argument("--_month", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._month:
        days, scale = args._month.split(",")
        print(json.dumps(_measure_month(int(days), float(scale))))
        return 0
    small = args.small
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()},"
                   f" Python {platform.python_version()}, simpy {simpy.__version__},"
                   f" simbatch {simbatch.__version__}",
        "kernel": kernel(jobs=5_000 if small else 200_000, repeats=1 if small else 3),
        "month": month(days=2 if small else 30, scale=0.05 if small else 1.0),
        "idle": [idle_year(servers, 20 if small else 365) for servers in (10, 100)],
        "farm": farms((100, 1000, 4000), repeats=1 if small else 3, hours=2 if small else 24),
        "startup": startup(repeats=2 if small else 5),
        "replication": replication_cost(repeats=1 if small else 3),
    }
    if args.history_plan:
        results["history"] = script("history.py", "--scale", "0.01" if small else "1")
        results["plan"] = script("plan.py", *(["--small"] if small else []))
    if args.load:
        results["load"] = script("load.py", *(["--small"] if small else []))
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
