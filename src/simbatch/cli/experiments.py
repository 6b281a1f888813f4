"""``simbatch compare``, ``sweep`` and ``report``: several runs, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import simbatch
from simbatch.cli.options import (
    MAX_REPLICATIONS,
    Commands,
    add_command,
    add_dask,
    add_max_attempts,
    add_seed,
    check_output_option,
    close,
    excerpt,
    executor,
    names,
    text,
    whole,
)
from simbatch.cli.tables import interval_table

__all__ = ["SWEEP_SHOWN", "add_commands", "compare", "grid", "metric_names", "report",
           "sweep"]


def add_commands(commands: Commands) -> None:
    """Add ``compare``, ``sweep`` and ``report`` to the command line."""
    parser = add_command(commands, "compare", "replicate scenarios on common random numbers"
                         " and show their paired differences",
                         "scenarios/tenant-week.yaml scenarios/tenant-week-more-servers.yaml"
                         " -n 10")
    parser.add_argument("files", type=Path, nargs="+", metavar="file",
                        help="scenario files (YAML); the first is the baseline")
    _add_replications(parser, 30)
    parser.add_argument("--store", type=Path, metavar="DIR", help="keep finished"
                        " replications here and reuse them on a rerun (default: keep none)")
    parser.add_argument("--report", type=Path, metavar="OUT.html",
                        help="also write the HTML report, with these intervals (default: none)")
    parser.set_defaults(handler=compare)
    parser = add_command(commands, "sweep", "run a grid of changes to one scenario",
                         "scenarios/affinity.yaml --grid servers.AOS1.threads=4,8")
    parser.add_argument("file", type=Path, help="the scenario file (YAML)")
    parser.add_argument("--grid", action="append", default=[], metavar="PATH=V1,V2,...",
                        type=text("--grid", flow=True),
                        help="a path into the scenario and its values (repeatable; default:"
                        " none, but --grid or --vary is required)")
    parser.add_argument("--vary", action="append", default=[], metavar="PATH=SPEC",
                        type=text("--vary", flow=True),
                        help="a setting and its values as plan reads them: LO..HI[/STEP],"
                        " 22:00..02:00/15m, A,B,C; PATH may be servers.*.threads or"
                        " servers.count (repeatable; default: none)")
    _add_replications(parser, 1)
    parser.add_argument("--metrics", metavar="M1,M2,...", type=text("--metrics"),
                        help="the metrics to print and write, such as"
                        " wait_mean_s,utilization (default: printed, "
                        + ", ".join(SWEEP_SHOWN) + "; written, all)")
    parser.add_argument("--out", type=Path, metavar="FILE.csv", help="also write the table"
                        " for machines: times in seconds (columns with _s), shares as"
                        " fractions (default: none)")
    parser.set_defaults(handler=sweep, usage_error=parser.error)
    parser = add_command(commands, "report", "write a self-contained HTML what-if report",
                         "scenarios/tenant-week.yaml scenarios/tenant-week-more-servers.yaml"
                         " --out report.html")
    parser.add_argument("files", type=Path, nargs="+", metavar="file",
                        help="scenario files (YAML); the first is the baseline")
    parser.add_argument("--out", type=Path, default=Path("report.html"), metavar="OUT.html",
                        help="the HTML file to write (default: %(default)s)")
    add_seed(parser)
    parser.add_argument("-n", "--replications", type=whole(0, MAX_REPLICATIONS), default=0,
                        help="with several scenarios: replications for the paired"
                        f" differences, 0 to {MAX_REPLICATIONS:,} (default: %(default)s,"
                        " none)")
    add_max_attempts(parser)
    parser.set_defaults(handler=report)


def _add_replications(parser: argparse.ArgumentParser, replications: int) -> None:
    """The options of ``compare`` and ``sweep``: replications, seed, warm-up, fan-out."""
    parser.add_argument("-n", "--replications", type=whole(1, MAX_REPLICATIONS),
                        default=replications, help="replications of each scenario, 1 to"
                        f" {MAX_REPLICATIONS:,} (default: %(default)s)")
    add_seed(parser, "seed of the first replication")
    parser.add_argument("--warmup", default="0s", metavar="TIME", type=text("--warmup"),
                        help="waits of work ready"
                        " before this time are left out (default: %(default)s)")
    add_dask(parser)
    add_max_attempts(parser)


def grid(specs: list[str]) -> dict[str, list[object]]:
    """``--grid PATH=V1,V2,...`` as paths and values.

    The values are YAML flow items separated by commas, as inside ``[...]``: ``8,12,20``,
    ``10/h,20/h``, a list in brackets (``[AOS1,AOS2],[AOS1]``) or a map in braces
    (``{threads: 8},{threads: 12}``).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    reader = YAML(typ="safe", pure=True)
    points: dict[str, list[object]] = {}
    for spec in specs:
        path, sep, values = spec.partition("=")
        path = path.strip()
        if not sep or not path or not values.strip():
            raise simbatch.UsageError(f"--grid {spec!r}: write PATH=V1,V2,... (a list value"
                                      " in brackets: PATH=[A,B],[A])")
        if path in points:
            raise simbatch.UsageError(f"--grid {path!r} is given twice; list all its"
                                      " values in one --grid")
        try:
            parsed = reader.load(f"[{values}]")
        except YAMLError as exc:
            problem = str(getattr(exc, "problem", "") or exc).strip()
            raise simbatch.UsageError(f"--grid {spec!r}: cannot read the values ({problem});"
                                      " separate them by commas, write a list value in"
                                      " brackets and a map in braces") from None
        if not isinstance(parsed, list) or not parsed or any(v is None for v in parsed):
            raise simbatch.UsageError(f"--grid {spec!r}: an empty value; write PATH=V1,V2,...")
        seen: list[object] = []
        for value in parsed:
            if value in seen:
                raise simbatch.UsageError(f"--grid {spec!r}: the value {value!r} is given"
                                          " twice")
            seen.append(value)
        points[path] = parsed
    return points


def compare(args: argparse.Namespace) -> int:
    """Replicate the scenarios on common random numbers; print each and its differences."""
    check_output_option(args.report, "report", "HTML file")
    client = executor(args.dask)
    try:
        variants = names(args.files)
        comparison = simbatch.compare(dict(zip(variants, args.files, strict=True)),
                                      replications=args.replications, seed=args.seed,
                                      warmup=args.warmup, executor=client,
                                      store=args.store, max_attempts=args.max_attempts)
        print(f"{args.replications} replications each on common random numbers, seed"
              f" {args.seed}; 95% intervals (t, clipped to each metric's range; Wilson"
              " for the deadline miss share)" + (f"; reused {comparison.reused}"
                                                 if comparison.reused else ""))
        print("Times in h:mm:ss, shares in percent; lateness = end - deadline.")
        for name, scenario in zip(variants, comparison.scenarios, strict=True):
            print(f"  {name}: {scenario.name} ({scenario.source})")
        print("\nEach variant")
        print(interval_table(comparison.summary(), ["variant", "metric", "key"]))
        if len(variants) > 1:
            print(f"\nDifference from {variants[0]} (paired by replication)")
            print(interval_table(comparison.differences(), ["variant", "metric", "key"]))
        if args.report is not None:
            _write_report(args.files, variants, args.seed, comparison, args.report,
                          args.max_attempts)
    finally:
        close(client)
    return 0


SWEEP_SHOWN = ("wait_mean_s", "wait_p95_s", "utilization", "jobs_error", "backlog_at_horizon",
               "deadline_miss", "margin_min_s")
"""The metrics ``sweep`` prints without ``--metrics`` (those its runs produce)."""


def metric_names(text: str | None) -> list[str] | None:
    """``--metrics M1,M2,...`` as metric names; an unknown name is refused."""
    from simbatch.present import units

    if text is None:
        return None
    chosen: list[str] = []
    for name in (n.strip() for n in text.split(",")):
        known = name if name in units.LABELS else f"{name}_s"  # wait_p95 is wait_p95_s
        if known not in units.LABELS:
            raise simbatch.UsageError(f"--metrics: no metric {name!r}; use some of "
                                      + ", ".join(units.LABELS))
        if known not in chosen:
            chosen.append(known)
    return chosen


def sweep(args: argparse.Namespace) -> int:
    """Run every point of the grid; print one row of metric means per point, and write it."""
    from simbatch.present import units

    check_output_option(args.out, "out", "CSV file")
    chosen = metric_names(args.metrics)
    points: dict[str, Any] = dict(grid(args.grid))
    for written in args.vary:
        path, sep, spec = (part.strip() for part in written.partition("="))
        if not sep or not path or not spec:
            raise simbatch.UsageError(f"--vary {excerpt(written)}: write PATH=LO..HI[/STEP],"
                                      " PATH=22:00..02:00/15m or PATH=A,B,C")
        if path in points:
            raise simbatch.UsageError(f"--vary {excerpt(path)} is given twice")
        points[path] = spec
    if not points:
        args.usage_error("the following arguments are required: --grid or --vary")
    client = executor(args.dask)
    try:
        table = simbatch.sweep(args.file, points, replications=args.replications,
                               seed=args.seed, warmup=args.warmup, executor=client,
                               max_attempts=args.max_attempts)
    finally:
        close(client)
    paths = list(points)
    metric_of = {c: c.partition("[")[0] for c in table.columns if c not in paths}
    produced = list(dict.fromkeys(metric_of.values()))
    if chosen is not None:
        missing = [m for m in chosen if m not in produced]
        if missing:
            raise simbatch.UsageError(f"--metrics: these runs produce no {', '.join(missing)};"
                                      f" they produce {', '.join(produced)}")
    printed = chosen or [m for m in SWEEP_SHOWN if m in produced]
    written = chosen or produced
    print(f"{args.replications} replication(s) per point, seed {args.seed}; metric means;"
          " times in h:mm:ss, shares in percent"
          + ("" if chosen else f" (metrics shown: {', '.join(printed)}; --metrics chooses)"))
    shown = table[paths].copy()
    for metric in printed:  # in the order chosen, each metric's keys in the table's order
        for column in (c for c, m in metric_of.items() if m == metric):
            name = column.replace(metric, metric.removesuffix("_s"), 1)
            shown[name] = table[column].map(lambda x, m=metric: units.value(m, x))
    print(shown.to_string(index=False))
    if args.out is not None:
        from simbatch.present.tables import write_table

        write_table(table[[*paths, *(c for metric in written for c, m in metric_of.items()
                                     if m == metric)]], args.out)
        print(f"wrote {args.out}")
    return 0


def report(args: argparse.Namespace) -> int:
    """Write the HTML what-if report of the scenarios, with intervals when ``-n`` asks."""
    check_output_option(args.out, "out", "HTML file")
    if args.replications and len(args.files) < 2:
        raise simbatch.UsageError("-n replicates a comparison: give two or more scenarios")
    variants = names(args.files)
    comparison = None
    if args.replications and len(args.files) > 1:
        comparison = simbatch.compare(dict(zip(variants, args.files, strict=True)),
                                      replications=args.replications, seed=args.seed,
                                      max_attempts=args.max_attempts)
    _write_report(args.files, variants, args.seed, comparison, args.out, args.max_attempts)
    return 0


def _write_report(files: list[Path], variants: list[str], seed: int,
                  comparison: simbatch.Comparison | None, out: Path,
                  max_attempts: int | None = None) -> None:
    """Simulate each scenario once at ``seed`` and write the report to ``out``."""
    results = {name: simbatch.simulate(f, seed=seed, max_attempts=max_attempts)
               for name, f in zip(variants, files, strict=True)}
    print(f"\nwrote {simbatch.write_report(results, out, comparison)}")
