"""``simbatch plan``: the least change (levers, capacity) that meets targets, at a stated
confidence."""

from __future__ import annotations

import argparse
from pathlib import Path

import simbatch
from simbatch.cli.options import (
    MAX_REPLICATIONS,
    MAX_RUNS,
    Commands,
    add_command,
    add_dask,
    add_max_attempts,
    add_seed,
    check_output_option,
    close,
    executor,
    fraction,
    text,
    whole,
)

__all__ = ["add_commands", "plan"]


def add_commands(commands: Commands) -> None:
    """Add ``plan`` to the command line."""
    parser = add_command(commands, "plan", "find the least change (priorities, start times,"
                         " limits, capacity) that meets targets, at a stated confidence",
                         "scenarios/affinity.yaml --vary"
                         " servers.AOS1.threads=1..8 --target 'wait_p95 <= 5m for default'")
    parser.add_argument("file", type=Path, help="the scenario file (YAML)")
    parser.add_argument("--vary", action="append", required=True, metavar="PATH=SPEC",
                        type=text("--vary", flow=True),
                        help="a setting and its values: LO..HI[/STEP] (whole numbers),"
                        " 22:00..02:00/15m (times), A,B,C (values in order); PATH may be"
                        " servers.*.threads, a --tie name or servers.count (repeatable)")
    parser.add_argument("--tie", action="append", default=[], metavar="NAME=PATH,PATH",
                        type=text("--tie"),
                        help="one variable NAME that sets several paths to one value"
                        " (repeatable; default: none)")
    parser.add_argument("--target", action="append", required=True,
                        metavar='"METRIC OP VALUE [for KEY]"', type=text("--target"),
                        help="such as 'wait_p95 <= 2m for Integration' (repeatable)")
    parser.add_argument("--weight", action="append", default=[], metavar="PATH=W",
                        type=text("--weight"),
                        help="multiply the thread-hours a capacity variable adds, or a"
                        " lever's change and steps, by W (repeatable; default: 1 each)")
    parser.add_argument("--confidence", type=fraction(0.5, 1, high_open=True), default=0.95,
                        metavar="P", help="of the one-sided bounds, in [0.5, 1) (default:"
                        " %(default)s)")
    parser.add_argument("-n", "--replications", type=whole(2, MAX_REPLICATIONS), default=10,
                        help=f"replications per candidate to start with, 2 to"
                        f" {MAX_REPLICATIONS:,} (default: %(default)s)")
    parser.add_argument("--max-replications", type=whole(2, MAX_REPLICATIONS), metavar="N",
                        help=f"most replications per candidate, up to {MAX_REPLICATIONS:,}"
                        " (default: 4 x -n)")
    parser.add_argument("--budget", type=whole(1, MAX_RUNS), metavar="RUNS",
                        help=f"most simulation runs in all, 1 to {MAX_RUNS:,} (default: no"
                        " limit)")
    add_seed(parser, "seed of the first replication")
    parser.add_argument("--warmup", default="0s", metavar="TIME", type=text("--warmup"),
                        help="waits of work ready"
                        " before this time are left out (default: %(default)s)")
    parser.add_argument("--out", type=Path, metavar="PLAN.yaml",
                        help="write the recommendation as a what-if file that extends FILE"
                        " (default: none)")
    parser.add_argument("--report", type=Path, metavar="PLAN.html", help="write an HTML page"
                        " with the curve and the choice against the base (default: none)")
    add_max_attempts(parser)
    add_dask(parser)
    parser.set_defaults(handler=plan)


def _weights(specs: list[str]) -> dict[str, float]:
    """``--weight PATH=W`` as paths and weights."""
    weights: dict[str, float] = {}
    for spec in specs:
        path, sep, value = spec.partition("=")
        try:
            weights[path.strip()] = float(value)
        except ValueError:
            raise simbatch.UsageError(f"--weight {spec!r}: write PATH=W with a number W")\
                from None
        if not sep:
            raise simbatch.UsageError(f"--weight {spec!r}: write PATH=W")
    return weights


def _ties(specs: list[str]) -> dict[str, list[str]]:
    """``--tie NAME=PATH,PATH`` as names and paths."""
    ties: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, paths = spec.partition("=")
        listed = [p.strip() for p in paths.split(",") if p.strip()]
        if not sep or not name.strip() or not listed:
            raise simbatch.UsageError(f"--tie {spec!r}: write NAME=PATH,PATH")
        if name.strip() in ties:
            raise simbatch.UsageError(f"--tie {name.strip()!r} is given twice")
        ties[name.strip()] = listed
    return ties


def plan(args: argparse.Namespace) -> int:
    """Search the ranges for the cheapest choice that meets the targets; print and write it."""
    from simbatch.present.plan_report import target_rows

    check_output_option(args.out, "out")
    check_output_option(args.report, "report")
    weights = _weights(args.weight)
    ties = _ties(args.tie)
    client = executor(args.dask)
    try:
        found = simbatch.plan(args.file, args.vary, args.target, args.confidence,
                              replications=args.replications,
                              max_replications=args.max_replications, budget=args.budget,
                              weights=weights, seed=args.seed, warmup=args.warmup,
                              executor=client, max_attempts=args.max_attempts,
                              ties=ties or None)
        variables, targets = len(found.paths), len(found.targets)
        print(f"Plan for {found.scenario.name}: {variables} variable"
              f"{'s' if variables > 1 else ''}, {targets} target"
              f"{'s' if targets > 1 else ''}, {args.confidence:.0%} one-sided bounds,"
              f" common random numbers (seed {args.seed})")
        print(found.rule)
        state = ("meets the targets" if found.met else
                 "does NOT meet the targets: the closest found")
        print(f"\nchoice ({state}):")
        chosen = found.evaluations[found.evaluations.chosen].iloc[0]
        for v, k in zip(found.variables, found.point, strict=True):
            mark = "" if v.changed(k) else "  (as the base)"
            print(f"  {v.key} = {v.values[k]}{mark}")
        print(f"  cost {chosen['cost']:,.1f} thread-hours over the horizon (the base:"
              f" {found.base_thread_hours:,.1f}), {int(chosen['servers'])} servers")
        print("\ntargets at the choice (each in its own unit: times h:mm:ss, shares percent)")
        print(target_rows(found.estimates).to_string(index=False))
        if found.confirmation is not None:
            fresh = found.confirmation
            print(f"\nconfirmed on fresh replications (seeds the search did not use):"
                  f" {'met' if bool(fresh.met.all()) else 'NOT met'}")
            print(target_rows(fresh).to_string(index=False))
        budget = f" of a budget of {found.budget}" if found.budget is not None else ""
        print(f"\nruns spent: {found.runs}{budget}, on {len(found.evaluations)} of"
              f" {found.grid} candidates (the full grid at -n {args.replications}:"
              f" {found.grid * args.replications:,} runs)")
        for note in found.notes:
            print(f"note: {note}")
        if args.out is not None:
            print(f"wrote {found.write(args.out)}")
        if args.report is not None:
            print(f"wrote {found.write_report(args.report, executor=client)}")
    finally:
        close(client)
    return 0
