"""The ``simbatch`` command line; it only calls the public API."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

import simbatch

__all__ = ["main"]


def _clock(value: object) -> str:
    if not isinstance(value, pd.Timedelta) or pd.isna(value):
        return "-"
    seconds = value.total_seconds()
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False) if len(frame) else "(no tasks ran)"


def _print_tables(result: simbatch.Result) -> None:
    scenario = result.scenario
    print(f"{scenario.name}: {scenario.start:%Y-%m-%d %H:%M} to {scenario.end:%Y-%m-%d %H:%M}"
          f" ({scenario.timezone}), seed {result.seed}")
    jobs = result.jobs
    counts = jobs["status"].value_counts()
    print(f"job runs: {len(jobs)} ("
          + ", ".join(f"{n} {status}" for status, n in counts.items()) + ")")
    print("\nWaits per group (h:mm:ss)")
    summary = result.summary()
    for column in ("wait_mean", "wait_p50", "wait_p95", "wait_max"):
        summary[column] = summary[column].map(_clock)
    print(_table(summary))
    print("\nUtilization per server")
    util = result.utilization()
    util["busy_thread_seconds"] = util["busy_thread_seconds"].map("{:,.0f}".format)
    util["available_thread_seconds"] = util["available_thread_seconds"].map("{:,.0f}".format)
    util["utilization"] = util["utilization"].map("{:.1%}".format)
    print(_table(util))


def _write_csv(result: simbatch.Result, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, table in (("tasks", result.tasks), ("jobs", result.jobs)):
        frame = table.copy()
        for column in ("wait", "duration"):
            frame[column] = frame[column].dt.total_seconds()
        frame.to_csv(out / f"{name}.csv", index=False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="simbatch", description=(
        "Capacity planning for the Dynamics 365 F&O batch framework."))
    parser.add_argument("--version", action="version", version=simbatch.__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="simulate a scenario, print its summary, write CSVs")
    run.add_argument("file", type=Path)
    run.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    run.add_argument("--out", type=Path, default=Path("."),
                     help="folder for tasks.csv and jobs.csv (default: current folder)")
    run.add_argument("--format", choices=["csv", "fo"], default="csv",
                     help="csv: tasks.csv and jobs.csv (default); fo: BatchJobHistory.csv and"
                     " BatchHistory.csv in F&O's columns")
    validate = commands.add_parser("validate", help="check a scenario file; exit 0 or 2")
    validate.add_argument("file", type=Path)
    compare = commands.add_parser("compare", help="replicate scenarios on common random"
                                  " numbers and show their paired differences")
    compare.add_argument("files", type=Path, nargs="+", help="the first is the baseline")
    sweep = commands.add_parser("sweep", help="run a grid of changes to one scenario")
    sweep.add_argument("file", type=Path)
    sweep.add_argument("--grid", action="append", required=True, metavar="PATH=V1,V2,...",
                       help="a path into the scenario and its values (repeatable)")
    for command, replications in ((compare, 30), (sweep, 1)):
        command.add_argument("-n", "--replications", type=int, default=replications)
        command.add_argument("--seed", type=int, default=0)
        command.add_argument("--warmup", default="0s", help="waits of work ready before this"
                             " time are left out (default 0s)")
        command.add_argument("--dask", metavar="ADDRESS", help="run on a dask.distributed"
                             " scheduler at ADDRESS")
    compare.add_argument("--store", type=Path, help="keep finished replications here and reuse"
                         " them on a rerun")
    compare.add_argument("--report", type=Path, metavar="OUT.html",
                         help="also write the HTML report, with these intervals")
    report = commands.add_parser("report", help="write a self-contained HTML what-if report")
    report.add_argument("files", type=Path, nargs="+")
    report.add_argument("--out", type=Path, default=Path("report.html"))
    report.add_argument("--seed", type=int, default=0)
    report.add_argument("-n", "--replications", type=int, default=0,
                        help="with several scenarios: replications for the paired"
                        " differences (default 0: none)")
    _calibrate_parser(commands)
    _backtest_parser(commands)
    return parser


def _calibrate_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    calibrate = commands.add_parser("calibrate", help="fit a scenario to F&O batch history"
                                    " exports (CSV or xlsx)")
    calibrate.add_argument("history", type=Path, nargs="+", help="BatchJobHistory and"
                           " BatchHistory exports, and optionally Batch, BatchJob and"
                           " BatchConstraints")
    calibrate.add_argument("--out", type=Path, required=True, help="the scenario file to write")
    calibrate.add_argument("--timezone", help="IANA zone of recurrences and arrival profiles"
                           " (default: the topology's, else UTC)")
    calibrate.add_argument("--topology", type=Path, help="a scenario whose servers, threads,"
                           " groups and scheduling to use")


def _calibrate(args: argparse.Namespace) -> int:
    if args.out.is_dir():
        raise simbatch.UsageError(f"--out {args.out}: is a folder; name the scenario file")
    history = simbatch.read_history(*args.history)
    calibration = simbatch.calibrate(history, timezone=args.timezone, topology=args.topology)
    scenario = calibration.write(args.out)
    print(f"wrote {args.out}: {len(scenario.jobs)} jobs, {len(scenario.servers)} servers, from"
          f" {len(history.jobs):,} job runs and {len(history.tasks):,} task runs")
    for gap in history.gaps:
        print(f"  not in the history: {gap}")
    return 0


def _backtest_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backtest = commands.add_parser("backtest", help="replay F&O batch history on a topology"
                                   " and compare simulated waits with the actual ones")
    backtest.add_argument("history", type=Path, nargs="+", help="BatchJobHistory and"
                          " BatchHistory exports (and optionally Batch, BatchJob,"
                          " BatchConstraints)")
    backtest.add_argument("--topology", type=Path, required=True, help="the scenario file"
                          " whose servers, threads, groups and scheduling to replay on")
    backtest.add_argument("--other-servers", action="store_true", help="replay rows of"
                          " servers the topology lacks on its servers (default: refuse)")


def _backtest(args: argparse.Namespace) -> int:
    history = simbatch.read_history(*args.history)
    test = simbatch.backtest(history, args.topology, other_servers=args.other_servers)
    print(f"replayed {len(test.runs):,} job runs on {args.topology} (task graph:"
          f" {test.graph}); job waits in seconds, error = (simulated - actual) / actual")
    print(test.errors().to_string(index=False, float_format="{:,.2f}".format))
    for note in test.notes:
        print(f"  note: {note}")
    return 0


SHOWN = ["wait_mean_s", "wait_p95_s", "utilization", "backlog_at_horizon", "jobs_error"]


def _interval_table(frame: pd.DataFrame, by: list[str]) -> str:
    frame = frame[frame.metric.isin(SHOWN) & (frame.n > 0)].copy()
    frame["metric"] = pd.Categorical(frame.metric, SHOWN)
    frame = frame.sort_values([*by[:-2], "metric"], kind="stable")
    frame["estimate"] = [
        f"{m:,.2f} [{lo:,.2f}, {hi:,.2f}]" if pd.notna(lo) else f"{m:,.2f}"
        for m, lo, hi in zip(frame["mean"], frame.ci_low, frame.ci_high, strict=True)]
    return frame[[*by, "n", "estimate"]].to_string(index=False)


def _executor(address: str | None) -> object:
    if address is None:
        return None
    try:
        from distributed import Client
    except ImportError:
        raise simbatch.UsageError("--dask needs dask.distributed: pip install"
                                  " 'simbatch[cluster]'") from None
    return Client(address)


def _grid(specs: list[str]) -> dict[str, list[object]]:
    from ruamel.yaml import YAML

    reader = YAML(typ="safe", pure=True)
    grid: dict[str, list[object]] = {}
    for spec in specs:
        path, sep, values = spec.partition("=")
        if not sep or not path or not values:
            raise simbatch.UsageError(f"--grid {spec!r}: write PATH=V1,V2,...")
        if path.strip() in grid:
            raise simbatch.UsageError(f"--grid {path.strip()!r} is given twice; list all its"
                                      " values in one --grid")
        grid[path.strip()] = [reader.load(v.strip()) for v in values.split(",")]
    return grid


def _experiment(args: argparse.Namespace) -> int:
    if args.command == "compare" and args.report is not None and args.report.is_dir():
        raise simbatch.UsageError(f"--report {args.report}: is a folder; name the HTML file")
    executor = _executor(args.dask)
    try:
        if args.command == "compare":
            names = _names(args.files)
            comparison = simbatch.compare(dict(zip(names, args.files, strict=True)),
                                          replications=args.replications, seed=args.seed,
                                          warmup=args.warmup, executor=executor,
                                          store=args.store)
            print(f"{args.replications} replications each on common random numbers, seed"
                  f" {args.seed}; 95% t intervals" + (f"; reused {comparison.reused}"
                                                      if comparison.reused else ""))
            print("\nEach variant")
            print(_interval_table(comparison.summary(), ["variant", "metric", "key"]))
            if len(names) > 1:
                print(f"\nDifference from {names[0]} (paired by replication)")
                print(_interval_table(comparison.differences(), ["variant", "metric", "key"]))
            if args.report is not None:
                _write_report(args.files, names, args.seed, comparison, args.report)
        else:
            table = simbatch.sweep(args.file, _grid(args.grid), replications=args.replications,
                                   seed=args.seed, warmup=args.warmup, executor=executor)
            shown = [c for c in table.columns if "[" not in c
                     or c.split("[")[0] in ("wait_mean_s", "wait_p95_s", "backlog_at_horizon")]
            print(table[shown].to_string(index=False, float_format="{:,.1f}".format))
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()
    return 0


def _names(files: list[Path]) -> list[str]:
    """Variant names for scenario files: their stems, or their paths when stems clash."""
    if len({f.resolve() for f in files}) != len(files):
        raise simbatch.UsageError("the same scenario file is given twice; compare different"
                                  " files")
    names = [f.stem for f in files]
    return names if len(set(names)) == len(names) else [str(f) for f in files]


def _write_report(files: list[Path], names: list[str], seed: int,
                  comparison: simbatch.Comparison | None, out: Path) -> None:
    results = {name: simbatch.simulate(f, seed=seed)
               for name, f in zip(names, files, strict=True)}
    print(f"\nwrote {simbatch.write_report(results, out, comparison)}")


def _run(args: argparse.Namespace) -> int:
    if args.command == "calibrate":
        return _calibrate(args)
    if args.command == "backtest":
        return _backtest(args)
    if args.command in ("compare", "sweep"):
        return _experiment(args)
    if args.command == "report":
        if args.out.is_dir():
            raise simbatch.UsageError(f"--out {args.out}: is a folder; name the HTML file")
        if args.replications and len(args.files) < 2:
            raise simbatch.UsageError("-n replicates a comparison: give two or more scenarios")
        names = _names(args.files)
        comparison = None
        if args.replications and len(args.files) > 1:
            comparison = simbatch.compare(dict(zip(names, args.files, strict=True)),
                                          replications=args.replications, seed=args.seed)
        _write_report(args.files, names, args.seed, comparison, args.out)
        return 0
    if args.command == "validate":
        scenario = simbatch.load(args.file)
        print(f"{args.file}: valid ({len(scenario.servers)} servers, {len(scenario.groups)}"
              f" groups, {len(scenario.jobs)} jobs)")
        return 0
    if args.out.exists() and not args.out.is_dir():
        raise simbatch.UsageError(f"--out {args.out}: is a file, not a folder")
    result = simbatch.simulate(args.file, seed=args.seed)
    if args.format == "fo":
        written = simbatch.write_fo_history(result, args.out)
    else:
        _write_csv(result, args.out)
        written = [args.out / "tasks.csv", args.out / "jobs.csv"]
    _print_tables(result)
    print(f"\nwrote {' and '.join(map(str, written))}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 fine, 2 bad input)."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", simbatch.SimbatchWarning)
        try:
            code = _run(args)
        except BrokenPipeError:  # the reader (say, `head`) closed early: not an error
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the final flush
            code = 0
        except (simbatch.SimbatchError, OSError) as exc:
            print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
            code = 2
    for warning in caught:
        print(f"{warning.category.__name__}: {warning.message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
