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
    validate = commands.add_parser("validate", help="check a scenario file; exit 0 or 2")
    validate.add_argument("file", type=Path)
    return parser


def _run(args: argparse.Namespace) -> int:
    if args.command == "validate":
        scenario = simbatch.load(args.file)
        print(f"{args.file}: valid ({len(scenario.servers)} servers, {len(scenario.groups)}"
              f" groups, {len(scenario.jobs)} jobs)")
        return 0
    if args.out.exists() and not args.out.is_dir():
        raise simbatch.UsageError(f"--out {args.out}: is a file, not a folder")
    result = simbatch.simulate(args.file, seed=args.seed)
    _write_csv(result, args.out)
    _print_tables(result)
    print(f"\nwrote {args.out / 'tasks.csv'} and {args.out / 'jobs.csv'}")
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
