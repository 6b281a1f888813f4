"""The ``simbatch`` command line; it only calls the public API."""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import threading
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
    _max_attempts(run)
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
        _max_attempts(command)
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
    _max_attempts(report)
    return parser


def _max_attempts(command: argparse.ArgumentParser) -> None:
    command.add_argument("--max-attempts", type=int, metavar="N", default=None,
                         help="refuse a run expected to simulate more task attempts than N"
                         f" (default {simbatch.MAX_ATTEMPTS:,}, about"
                         f" {simbatch.MAX_ATTEMPTS * simbatch.BYTES_PER_ATTEMPT / 1e9:.1f} GB)")


SHOWN = ["wait_mean_s", "wait_p95_s", "utilization", "backlog_at_horizon", "jobs_error"]


def _interval_table(frame: pd.DataFrame, by: list[str]) -> str:
    frame = frame[frame.metric.isin(SHOWN) & (frame.n > 0)].copy()
    frame["metric"] = pd.Categorical(frame.metric, SHOWN)
    frame = frame.sort_values([*by[:-2], "metric"], kind="stable")
    frame["estimate"] = [
        f"{m:,.2f} [{lo:,.2f}, {hi:,.2f}]" if pd.notna(lo) else f"{m:,.2f}"
        for m, lo, hi in zip(frame["mean"], frame.ci_low, frame.ci_high, strict=True)]
    return frame[[*by, "n", "estimate"]].to_string(index=False)


_ADDRESS = re.compile(r"^(?:(tcp|tls|inproc|ws|wss|ucx)://)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:]+\])"
                      r":([0-9]{1,5})$")


def _executor(address: str | None) -> object:
    if address is None:
        return None
    match = _ADDRESS.match(address.strip())
    if match is None or not 0 < int(match.group(3)) < 65536:
        raise simbatch.UsageError(f"--dask {address!r}: write the scheduler's address as"
                                  " HOST:PORT or tcp://HOST:PORT, such as tcp://10.0.0.5:8786")
    try:
        from distributed import Client
    except ImportError:
        raise simbatch.UsageError("--dask needs dask.distributed: pip install"
                                  " 'simbatch[cluster]'") from None
    try:
        return Client(address.strip(), timeout="10s")
    except (OSError, ValueError, TypeError) as exc:
        raise simbatch.UsageError(f"--dask {address!r}: no scheduler answers there"
                                  f" ({type(exc).__name__}: {exc})") from None


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
                                          store=args.store, max_attempts=args.max_attempts)
            print(f"{args.replications} replications each on common random numbers, seed"
                  f" {args.seed}; 95% t intervals" + (f"; reused {comparison.reused}"
                                                      if comparison.reused else ""))
            print("\nEach variant")
            print(_interval_table(comparison.summary(), ["variant", "metric", "key"]))
            if len(names) > 1:
                print(f"\nDifference from {names[0]} (paired by replication)")
                print(_interval_table(comparison.differences(), ["variant", "metric", "key"]))
            if args.report is not None:
                _write_report(args.files, names, args.seed, comparison, args.report,
                              args.max_attempts)
        else:
            table = simbatch.sweep(args.file, _grid(args.grid), replications=args.replications,
                                   seed=args.seed, warmup=args.warmup, executor=executor,
                                   max_attempts=args.max_attempts)
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
                  comparison: simbatch.Comparison | None, out: Path,
                  max_attempts: int | None = None) -> None:
    results = {name: simbatch.simulate(f, seed=seed, max_attempts=max_attempts)
               for name, f in zip(names, files, strict=True)}
    print(f"\nwrote {simbatch.write_report(results, out, comparison)}")


def _run(args: argparse.Namespace) -> int:
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
                                          replications=args.replications, seed=args.seed,
                                          max_attempts=args.max_attempts)
        _write_report(args.files, names, args.seed, comparison, args.out, args.max_attempts)
        return 0
    if args.command == "validate":
        scenario = simbatch.load(args.file)
        print(f"{args.file}: valid ({len(scenario.servers)} servers, {len(scenario.groups)}"
              f" groups, {len(scenario.jobs)} jobs)")
        return 0
    if args.out.exists() and not args.out.is_dir():
        raise simbatch.UsageError(f"--out {args.out}: is a file, not a folder")
    result = simbatch.simulate(args.file, seed=args.seed, max_attempts=args.max_attempts,
                               progress=True)
    simbatch.write_csv(result, args.out)
    _print_tables(result)
    print(f"\nwrote {args.out / 'tasks.csv'} and {args.out / 'jobs.csv'}")
    return 0


class _TerminatedError(Exception):
    """SIGTERM arrived: stop like Ctrl-C, with the conventional exit code 143."""


def _terminate(signum: int, frame: object) -> None:
    raise _TerminatedError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 fine, 2 bad input, 130 interrupted)."""
    args = _parser().parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _terminate)
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
        except KeyboardInterrupt:
            print("\ninterrupted: stopped; finished outputs and stored replications are"
                  " kept", file=sys.stderr)
            code = 130
        except _TerminatedError:
            print("terminated: stopped; finished outputs and stored replications are kept",
                  file=sys.stderr)
            code = 143
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    for warning in caught:
        print(f"{warning.category.__name__}: {warning.message}", file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
