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
from typing import TYPE_CHECKING

import simbatch

if TYPE_CHECKING:  # pandas and the table formatting load with the commands that print
    import pandas as pd

__all__ = ["main"]


def _not_a_folder(path: Path | None, option: str, what: str = "file") -> None:
    """Refuse a file option (``--out``, ``--report``, …) that names an existing folder."""
    if path is not None and path.is_dir():
        raise simbatch.UsageError(f"--{option} {path}: is a folder; name the {what}")


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False) if len(frame) else "(no tasks ran)"


def _print_tables(result: simbatch.Result) -> None:
    import pandas as pd

    from simbatch.present import units

    scenario = result.scenario
    print(f"{scenario.name}: {scenario.start:%Y-%m-%d %H:%M} to {scenario.end:%Y-%m-%d %H:%M}"
          f" ({scenario.timezone}), seed {result.seed}")
    jobs = result.jobs
    counts = jobs["status"].value_counts()
    counts = counts[counts > 0]  # a categorical column counts every status, even unseen
    print(f"job runs: {len(jobs)} ("
          + ", ".join(f"{n} {status}" for status, n in counts.items()) + ")")
    print("\nWaits per group (h:mm:ss)")
    summary = result.summary()
    for column in ("wait_mean", "wait_p50", "wait_p95", "wait_max"):
        summary[column] = summary[column].map(units.clock)
    print(_table(summary))
    _print_deadlines(result)
    print("\nUtilization per server (thread-time in h:mm:ss)")
    util = result.utilization()
    frame = pd.DataFrame({
        "server": util["server"],
        "busy": util["busy_thread_seconds"].map(units.clock),
        "available": util["available_thread_seconds"].map(units.clock),
        "utilization": util["utilization"].map(units.percent)})
    print(_table(frame))


def _print_deadlines(result: simbatch.Result) -> None:
    """The deadline summary per job: does the night finish in time."""
    import pandas as pd

    from simbatch.present import units

    summary = result.deadline_summary()
    if summary.empty:
        return
    zone = result.scenario.timezone
    print(f"\nDeadlines per job (h:mm:ss; lateness = end - deadline, negative when early;"
          f" clock times in {zone})")
    frame = pd.DataFrame({
        "job": summary.job,
        "judged": summary.runs,
        "missed": summary.missed,
        "miss share": summary.miss_share.map(units.percent),
        "undetermined": summary.undetermined,
        "lateness p50": summary.lateness_p50.map(units.clock),
        "lateness p95": summary.lateness_p95.map(units.clock),
        "smallest margin": summary.margin_min.map(units.clock),
        "latest finish": [f"{units.clock(span)} after due ({end:%a %H:%M})" if pd.notna(end)
                          else "-" for span, end in zip(summary.latest_finish,
                                                        summary.latest_end, strict=True)]})
    print(frame.to_string(index=False))
    if int(summary.undetermined.sum()):
        print("undetermined: still open at the horizon, before the deadline; not counted as"
              " met or missed")


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
    _calibrate_parser(commands)
    _plan_parser(commands)
    _max_attempts(report)
    _backtest_parser(commands)
    return parser


build_parser = _parser


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
    _not_a_folder(args.out, "out", "scenario file")
    history = simbatch.read_history(*args.history)
    calibration = simbatch.calibrate(history, timezone=args.timezone, topology=args.topology)
    scenario = calibration.write(args.out)
    print(f"wrote {args.out}: {len(scenario.jobs)} jobs, {len(scenario.servers)} servers, from"
          f" {len(history.jobs):,} job runs and {len(history.tasks):,} task runs")
    for gap in history.gaps:
        print(f"  not in the history: {gap}")
    return 0


SHOWN = ["wait_mean_s", "wait_p95_s", "utilization", "backlog_at_horizon", "jobs_error",
         "deadline_runs", "deadline_misses", "deadline_miss", "deadline_undetermined",
         "lateness_p95_s", "margin_min_s", "latest_finish_s"]


def _max_attempts(command: argparse.ArgumentParser) -> None:
    command.add_argument("--max-attempts", type=int, metavar="N", default=None,
                         help="refuse a run expected to simulate more task attempts than N"
                         f" (default {simbatch.MAX_ATTEMPTS:,}, about"
                         f" {simbatch.MAX_ATTEMPTS * simbatch.BYTES_PER_ATTEMPT / 1e9:.1f} GB)")


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
    backtest.add_argument("--calibrated", action="store_true", help="run replications of the"
                          " calibrated scenario on the topology instead of replaying")
    backtest.add_argument("-n", "--replications", type=int, default=None,
                          help="replications in calibrated mode (default 10)")
    backtest.add_argument("--seed", type=int, default=0)
    backtest.add_argument("--report", type=Path, metavar="BACKTEST.html",
                          help="write an HTML report (and the plot beside it as .png)")
    backtest.add_argument("--plot", type=Path, metavar="WAITS.png", help="write the plot of"
                          " actual against simulated waits per hour of the day")


def _backtest(args: argparse.Namespace) -> int:
    _not_a_folder(args.report, "report")
    _not_a_folder(args.plot, "plot")
    if not args.calibrated and args.replications is not None:
        raise simbatch.UsageError("-n sets the replications of --calibrated; give both")
    replications = 10 if args.replications is None else args.replications
    history = simbatch.read_history(*args.history)
    test = simbatch.backtest(history, args.topology, other_servers=args.other_servers,
                             calibrated=args.calibrated, replications=replications,
                             seed=args.seed)
    what = ("replayed" if test.mode == "replay" else
            f"{replications} replications of the calibrated scenario against")
    print(f"{what} {len(test.runs):,} job runs on {args.topology} (task graph: {test.graph});"
          " seconds; error = (simulated - actual) / actual")
    shown = ["group", "metric", "actual", "simulated", "error", "abs_error"]
    if test.mode == "calibrated":
        shown += ["simulated_low", "simulated_high", "within"]
    print(test.errors().loc[:, shown].to_string(index=False, float_format="{:,.2f}".format))
    daily = test.errors("job")
    if len(daily):
        daily = daily[daily.metric.isin(["wait_mean", "end_mean", "end_p95", "end_max"])]
        print("\ndaily jobs (due at one local time each day):")
        print(daily.loc[:, ["job", *shown]].to_string(index=False,
                                                       float_format="{:,.2f}".format))
    for note in test.notes:
        print(f"  note: {note}")
    plot = args.plot or (args.report.with_suffix(".png") if args.report else None)
    if plot is not None:
        print(f"wrote {test.write_plot(plot)}")
    if args.report is not None:
        names = " ".join(p.name for p in args.history)
        print(f"wrote {test.write_report(args.report, names)}")
    return 0


def _interval_table(frame: pd.DataFrame, by: list[str]) -> str:
    from simbatch.present import units

    frame = frame[frame.metric.isin(SHOWN) & (frame.n > 0)].copy()
    frame["order"] = frame.metric.map(SHOWN.index)
    frame = frame.sort_values([*by[:-2], "order"], kind="stable")
    frame["estimate"] = [units.estimate(m, mean, lo, hi) for m, mean, lo, hi in zip(
        frame.metric, frame["mean"], frame.ci_low, frame.ci_high, strict=True)]
    frame["metric"] = frame.metric.map(units.label)
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
    """``--grid PATH=V1,V2,...`` as paths and values.

    The values are YAML flow items separated by commas, as inside ``[...]``: ``8,12,20``,
    ``10/h,20/h``, a list in brackets (``[AOS1,AOS2],[AOS1]``) or a map in braces
    (``{threads: 8},{threads: 12}``).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    reader = YAML(typ="safe", pure=True)
    grid: dict[str, list[object]] = {}
    for spec in specs:
        path, sep, values = spec.partition("=")
        path = path.strip()
        if not sep or not path or not values.strip():
            raise simbatch.UsageError(f"--grid {spec!r}: write PATH=V1,V2,... (a list value"
                                      " in brackets: PATH=[A,B],[A])")
        if path in grid:
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
        grid[path] = parsed
    return grid


def _experiment(args: argparse.Namespace) -> int:
    if args.command == "compare":
        _not_a_folder(args.report, "report", "HTML file")
    executor = _executor(args.dask)
    try:
        if args.command == "compare":
            names = _names(args.files)
            comparison = simbatch.compare(dict(zip(names, args.files, strict=True)),
                                          replications=args.replications, seed=args.seed,
                                          warmup=args.warmup, executor=executor,
                                          store=args.store, max_attempts=args.max_attempts)
            print(f"{args.replications} replications each on common random numbers, seed"
                  f" {args.seed}; 95% intervals (t, clipped to each metric's range; Wilson"
                  " for the deadline miss share)" + (f"; reused {comparison.reused}"
                                                     if comparison.reused else ""))
            print("Times in h:mm:ss, shares in percent; lateness = end - deadline.")
            for name, scenario in zip(names, comparison.scenarios, strict=True):
                print(f"  {name}: {scenario.name} ({scenario.source})")
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
            print(f"{args.replications} replication(s) per point, seed {args.seed}; metric"
                  " means; columns ending _s are seconds, utilization and deadline_miss are"
                  " fractions")
            print(table.to_string(index=False, float_format="{:,.3f}".format))
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
    if args.command == "calibrate":
        return _calibrate(args)
    if args.command == "plan":
        return _plan(args)
    if args.command == "backtest":
        return _backtest(args)
    if args.command in ("compare", "sweep"):
        return _experiment(args)
    if args.command == "report":
        _not_a_folder(args.out, "out", "HTML file")
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
    if args.format == "fo":
        written = list(simbatch.write_fo_history(result, args.out))
    else:
        written = list(simbatch.write_csv(result, args.out))
    _print_tables(result)
    print(f"\nwrote {' and '.join(map(str, written))}")
    return 0


def _plan_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    plan = commands.add_parser("plan", help="find the least capacity that meets targets, at a"
                               " stated confidence")
    plan.add_argument("file", type=Path)
    plan.add_argument("--vary", action="append", required=True, metavar="PATH=LO..HI",
                      help="a whole-number path into the scenario and its range (repeatable)")
    plan.add_argument("--target", action="append", required=True,
                      metavar='"METRIC OP VALUE [for KEY]"',
                      help="such as 'wait_p95 <= 2m for Integration' (repeatable)")
    plan.add_argument("--weight", action="append", default=[], metavar="PATH=W",
                      help="multiply the thread-hours a varied path adds by W (default 1)")
    plan.add_argument("--confidence", type=float, default=0.95,
                      help="of the one-sided bounds (default 0.95)")
    plan.add_argument("-n", "--replications", type=int, default=10,
                      help="replications per candidate to start with (default 10)")
    plan.add_argument("--max-replications", type=int,
                      help="most replications per candidate (default 4 x -n)")
    plan.add_argument("--budget", type=int, metavar="RUNS", help="most simulation runs in all")
    plan.add_argument("--seed", type=int, default=0)
    plan.add_argument("--warmup", default="0s", help="waits of work ready before this time"
                      " are left out (default 0s)")
    plan.add_argument("--out", type=Path, metavar="PLAN.yaml",
                      help="write the recommendation as a what-if file that extends FILE")
    plan.add_argument("--report", type=Path, metavar="PLAN.html", help="write an HTML page"
                      " with the curve and the choice against the base")
    plan.add_argument("--dask", metavar="ADDRESS", help="run on a dask.distributed scheduler"
                      " at ADDRESS")


def _plan(args: argparse.Namespace) -> int:
    import pandas as pd

    _not_a_folder(args.out, "out")
    _not_a_folder(args.report, "report")
    vary: dict[str, range] = {}
    for spec in args.vary:
        path, span = simbatch.parse_vary(spec)
        if path in vary:
            raise simbatch.UsageError(f"--vary {path!r} is given twice")
        vary[path] = span
    weights: dict[str, float] = {}
    for spec in args.weight:
        path, sep, value = spec.partition("=")
        try:
            weights[path.strip()] = float(value)
        except ValueError:
            raise simbatch.UsageError(f"--weight {spec!r}: write PATH=W with a number W")\
                from None
        if not sep:
            raise simbatch.UsageError(f"--weight {spec!r}: write PATH=W")
    targets = [simbatch.parse_target(t) for t in args.target]
    executor = _executor(args.dask)
    try:
        found = simbatch.plan(args.file, vary, targets, args.confidence,
                              replications=args.replications,
                              max_replications=args.max_replications, budget=args.budget,
                              weights=weights, seed=args.seed, warmup=args.warmup,
                              executor=executor)
        print(f"Plan for {found.scenario.name}: {len(vary)} variable"
              f"{'s' if len(vary) > 1 else ''}, {len(targets)} target"
              f"{'s' if len(targets) > 1 else ''}, {args.confidence:.0%} one-sided bounds,"
              f" common random numbers (seed {args.seed})")
        state = "meets the targets" if found.met else "does NOT meet the targets (best found)"
        print(f"\nchoice ({state}):")
        for path, value in found.choice.items():
            print(f"  {path} = {value}")
        chosen = found.evaluations[found.evaluations.chosen].iloc[0]
        print(f"  cost {chosen['cost']:,.1f} thread-hours over the horizon (the base:"
              f" {found.base_thread_hours:,.1f}), {int(chosen['servers'])} servers")
        print("\ntargets at the choice")
        shown = found.estimates.assign(estimate=[
            f"{m:,.3g} [{lo:,.3g}, {hi:,.3g}]" if pd.notna(lo) else f"{m:,.3g}"
            for m, lo, hi in zip(found.estimates["mean"], found.estimates.ci_low,
                                 found.estimates.ci_high, strict=True)],
            bound=found.estimates.bound.map("{:,.3g}".format))
        print(shown[["target", "n", "estimate", "bound", "met"]].to_string(index=False))
        budget = f" of a budget of {found.budget}" if found.budget is not None else ""
        print(f"\nruns spent: {found.runs}{budget}, on {len(found.evaluations)} of"
              f" {found.grid} candidates (the full grid at -n {args.replications}:"
              f" {found.grid * args.replications:,} runs)")
        for note in found.notes:
            print(f"note: {note}")
        if args.out is not None:
            print(f"wrote {found.write(args.out)}")
        if args.report is not None:
            print(f"wrote {found.report(args.report, executor=executor)}")
    finally:
        close = getattr(executor, "close", None)
        if close is not None:
            close()
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
