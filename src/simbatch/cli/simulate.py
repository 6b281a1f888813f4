"""``simbatch run`` and ``simbatch validate``: one scenario, simulated or checked."""

from __future__ import annotations

import argparse
from pathlib import Path

import simbatch
from simbatch.cli.options import Commands, add_command, add_max_attempts, add_seed
from simbatch.cli.tables import print_tables

__all__ = ["add_commands", "run", "validate"]


def add_commands(commands: Commands) -> None:
    """Add ``run`` and ``validate`` to the command line."""
    parser = add_command(commands, "run", "simulate a scenario, print its summary, write CSVs",
                         "scenarios/walkthrough.yaml --out out")
    parser.add_argument("file", type=Path, help="the scenario file (YAML)")
    add_seed(parser)
    parser.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                        help="folder for tasks.csv and jobs.csv (default: %(default)s,"
                        " the current folder)")
    parser.add_argument("--format", choices=["csv", "fo"], default="csv",
                        help="csv: tasks.csv and jobs.csv; fo: BatchJobHistory.csv and"
                        " BatchHistory.csv in F&O's columns (default: %(default)s)")
    add_max_attempts(parser)
    parser.set_defaults(handler=run)
    parser = add_command(commands, "validate", "check a scenario file; exit 0 or 2",
                         "scenarios/walkthrough.yaml")
    parser.add_argument("file", type=Path, help="the scenario file (YAML)")
    parser.set_defaults(handler=validate)


def run(args: argparse.Namespace) -> int:
    """Simulate one scenario, write its tables and print their summary."""
    if args.out.exists() and not args.out.is_dir():
        kind = ("a file" if args.out.is_file() else
                "a special file (FIFO, socket or device)")
        raise simbatch.UsageError(f"--out {args.out}: is {kind}, not a folder")
    result = simbatch.simulate(args.file, seed=args.seed, max_attempts=args.max_attempts,
                               progress=True)
    if args.format == "fo":
        written = list(simbatch.write_fo_history(result, args.out))
    else:
        written = list(simbatch.write_csv(result, args.out))
    print_tables(result)
    print(f"\nwrote {' and '.join(map(str, written))}")
    return 0


def validate(args: argparse.Namespace) -> int:
    """Load a scenario, which checks it, and say what it holds."""
    scenario = simbatch.load(args.file)
    print(f"{args.file}: valid ({len(scenario.servers)} servers, {len(scenario.groups)}"
          f" groups, {len(scenario.jobs)} jobs)")
    return 0
