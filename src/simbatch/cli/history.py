"""``simbatch calibrate`` and ``backtest``: F&O batch history, fitted and replayed."""

from __future__ import annotations

import argparse
from pathlib import Path

import simbatch
from simbatch.cli.options import (
    MAX_ATTEMPTS_OPTION,
    MAX_REPLICATIONS,
    Commands,
    add_command,
    add_max_attempts,
    add_seed,
    check_output_option,
    excerpt,
    whole,
)

__all__ = ["add_commands", "add_reading", "backtest", "calibrate", "read"]

_SETUP = ("fo/ holds the F&O history of a run: simbatch run scenarios/walkthrough.yaml"
          " --format fo --out fo")
_HISTORY = "fo/BatchJobHistory.csv fo/BatchHistory.csv"


def add_reading(parser: argparse.ArgumentParser) -> None:
    """The options of every command that reads history: how its times, dates, version and
    priority numbers are to be read."""
    parser.add_argument("--times-in", metavar="ZONE", help="IANA zone the export's times"
                        " without an offset are in, for exports converted to local time"
                        " (default: UTC, as F&O stores them)")
    parser.add_argument("--date-format", metavar="FORMAT", help="strptime format of dates"
                        " that are not ISO, such as '%%d/%%m/%%Y %%H:%%M' (default: ISO dates"
                        " only; no day/month order is guessed)")
    parser.add_argument("--fo-version", metavar="VERSION", help="F&O version whose history"
                        " cap applies, such as 10.0.38 (default: the current rule, 10.0.39"
                        " on: jobs of more than 5,000 tasks keep 2,500 task rows)")
    parser.add_argument("--priority-codes", metavar="N=LABEL,...", help="scheduling"
                        " priorities as numbers, overriding the documented mapping"
                        " (default: 0=low,1=normal,2=high,3=critical,4=reserved)")


def _codes(text: str | None) -> dict[int, str] | None:
    if text is None:
        return None
    out: dict[int, str] = {}
    for item in text.split(","):
        number, _, label = item.partition("=")
        if not number.strip().isdigit() or not label.strip() or len(number.strip()) > 6:
            raise simbatch.UsageError(f"--priority-codes: expected N=LABEL pairs separated by"
                                      f" commas, such as 3=critical, got {excerpt(item.strip())}")
        out[int(number)] = label.strip()
    return out


def read(args: argparse.Namespace) -> simbatch.History:
    """The history the command's files and reading options give."""
    return simbatch.read_history(*args.history, times_in=args.times_in,
                                 date_format=args.date_format, fo_version=args.fo_version,
                                 priority_codes=_codes(args.priority_codes))


def add_commands(commands: Commands) -> None:
    """Add ``calibrate`` and ``backtest`` to the command line."""
    parser = add_command(commands, "calibrate", "fit a scenario to F&O batch history exports"
                         " (CSV or xlsx)", f"{_HISTORY} --topology scenarios/walkthrough.yaml"
                         " --out calibrated.yaml", _SETUP)
    parser.add_argument("history", type=Path, nargs="+", help="BatchJobHistory (or the"
                        " BatchJobHistories entity) and BatchHistory exports, and optionally"
                        " BatchConstraintsHistory, Batch, BatchJob, BatchGroup and"
                        " BatchConstraints (CSV, OData JSON or xlsx)")
    add_reading(parser)
    parser.add_argument("--out", type=Path, required=True,
                        metavar="FILE", help="the scenario file to write")
    parser.add_argument("--timezone", metavar="ZONE", help="IANA zone of recurrences and"
                        " arrival profiles (default: the topology's, else UTC)")
    parser.add_argument("--topology", type=Path, metavar="FILE", help="a scenario whose"
                        " servers, threads, groups and scheduling to use (default: the"
                        " servers seen in the history)")
    parser.add_argument("--max-attempts", type=whole(1, MAX_ATTEMPTS_OPTION), metavar="N",
                        default=None, help="refuse a history of more task rows than N, the"
                        f" work budget (default: {simbatch.MAX_ATTEMPTS:,}; at most"
                        f" {MAX_ATTEMPTS_OPTION:,})")
    parser.set_defaults(handler=calibrate)
    parser = add_command(commands, "backtest", "replay F&O batch history on a topology and"
                         " compare simulated waits with the actual ones",
                         f"{_HISTORY} --topology scenarios/walkthrough.yaml"
                         " --report backtest.html", _SETUP)
    parser.add_argument("history", type=Path, nargs="+", help="BatchJobHistory and"
                        " BatchHistory exports (and optionally BatchConstraintsHistory,"
                        " Batch, BatchJob, BatchGroup, BatchConstraints)")
    add_reading(parser)
    parser.add_argument("--topology", type=Path, required=True, metavar="FILE",
                        help="the scenario file whose servers, threads, groups and"
                        " scheduling to replay on")
    parser.add_argument("--other-servers", action="store_true", help="replay rows of"
                        " servers the topology lacks on its servers (default: refuse)")
    parser.add_argument("--calibrated", action="store_true", help="run replications of the"
                        " calibrated scenario on the topology instead of replaying"
                        " (default: replay)")
    parser.add_argument("-n", "--replications", type=whole(1, MAX_REPLICATIONS), default=None,
                        help=f"replications in calibrated mode, 1 to {MAX_REPLICATIONS:,}"
                        " (default: 10)")
    add_seed(parser)
    parser.add_argument("--report", type=Path, metavar="BACKTEST.html",
                        help="write an HTML report, and the plot beside it as .png"
                        " (default: none)")
    parser.add_argument("--plot", type=Path, metavar="WAITS.png", help="write the plot of"
                        " actual against simulated waits per hour of the day (default: none,"
                        " or beside --report)")
    add_max_attempts(parser)
    parser.set_defaults(handler=backtest)


def calibrate(args: argparse.Namespace) -> int:
    """Fit a scenario to the history and write it, saying what the history lacks."""
    check_output_option(args.out, "out", "scenario file")
    history = read(args)
    zone = args.timezone or (simbatch.load(args.topology).timezone if args.topology else None)
    warning = history.looks_local(zone) if zone else None
    calibration = simbatch.calibrate(history, timezone=args.timezone, topology=args.topology,
                                     max_attempts=args.max_attempts)
    scenario = calibration.write(args.out)
    print(f"wrote {args.out}: {len(scenario.jobs)} jobs, {len(scenario.servers)} servers, from"
          f" {len(history.jobs):,} job runs and {len(history.tasks):,} task runs")
    for gap in history.gaps:
        print(f"  not in the history: {gap}")
    for note in history.notes:
        print(f"  read: {note}")
    if warning:
        print(f"  warning: {warning}")
    return 0


def backtest(args: argparse.Namespace) -> int:
    """Replay (or replicate) the history on the topology; print the errors per group and job."""
    check_output_option(args.report, "report")
    check_output_option(args.plot, "plot")
    if not args.calibrated and args.replications is not None:
        raise simbatch.UsageError("-n sets the replications of --calibrated; give both")
    replications = 10 if args.replications is None else args.replications
    from simbatch.present.backtest_report import (
        CONFIDENCE_INTERVAL,
        PREDICTION_INTERVAL,
        error_rows,
    )

    history = read(args)
    test = simbatch.backtest(history, args.topology, other_servers=args.other_servers,
                             calibrated=args.calibrated, replications=replications,
                             seed=args.seed, max_attempts=args.max_attempts)
    what = ("replayed" if test.mode == "replay" else
            f"{replications} replications of the calibrated scenario against")
    print(f"{what} {len(test.runs):,} job runs on {args.topology} (task graph: {test.graph});"
          " times in h:mm:ss; error = (simulated - actual) / actual")
    if test.mode == "calibrated":
        print(f"{CONFIDENCE_INTERVAL}: the interval of the replications' mean;"
              f" {PREDICTION_INTERVAL}: where one period's figure should fall if the model"
              " were right; within: the actual is inside the predicted interval")
    shown = ["group", "metric", "actual", "simulated", "error", "abs_error"]
    if test.mode == "calibrated":
        shown += [CONFIDENCE_INTERVAL, PREDICTION_INTERVAL, "within"]
    print(error_rows(test.errors()).loc[:, shown].to_string(index=False))
    daily = test.errors("job")
    if len(daily):
        daily = daily[daily.metric.isin(["wait_mean", "end_mean", "end_p95", "end_max"])]
        print("\ndaily jobs (due at one local time each day):")
        print(error_rows(daily).loc[:, ["job", *shown]].to_string(index=False))
    for note in test.notes:
        print(f"  note: {note}")
    warning = history.looks_local(simbatch.load(args.topology).timezone)
    if warning:
        print(f"  warning: {warning}")
    plot = args.plot or (args.report.with_suffix(".png") if args.report else None)
    if plot is not None:
        print(f"wrote {test.write_plot(plot)}")
    if args.report is not None:
        names = " ".join(p.name for p in args.history)
        print(f"wrote {test.write_report(args.report, names)}")
    return 0
