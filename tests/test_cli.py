"""The ``simbatch`` command: run prints a readable summary and writes the two CSVs."""

from __future__ import annotations

import argparse
import math
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from simbatch.cli.main import build_parser, main
from tests.conftest import ROOT, SCENARIOS


def test_run_prints_summary_and_writes_csvs(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(SCENARIOS / "walkthrough.yaml"), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Batch server walkthrough" in out
    assert "job runs: 1 (1 Ended)\n" in out  # only the statuses that occur
    assert "Waits per group" in out and "default" in out
    assert "Utilization per server" in out and "Batch1" in out
    tasks = pd.read_csv(tmp_path / "tasks.csv")
    jobs = pd.read_csv(tmp_path / "jobs.csv")
    assert list(tasks.columns) == ["job", "run", "task", "group", "server", "attempt", "status",
                                   "ready", "start", "end", "wait", "duration", "cause"]
    assert len(tasks) == 7 and jobs.status.tolist() == ["Ended"]
    assert tasks.loc[tasks.task == "TASK 4", "wait"].item() == 30.0  # seconds in the CSV


def test_seed_changes_the_run(tmp_path: Path) -> None:
    paths = []
    for seed in (1, 2):
        out = tmp_path / str(seed)
        assert main(["run", str(SCENARIOS / "affinity.yaml"), "--seed", str(seed),
                     "--out", str(out)]) == 0
        paths.append((out / "tasks.csv").read_text())
    assert paths[0] != paths[1]


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(SCENARIOS / "affinity.yaml")]) == 0
    assert "valid (3 servers, 2 groups, 3 jobs)" in capsys.readouterr().out


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("start: 2026-01-05 22:00\nhorizon: 1d\nservers: {S: {threads: -2}}\n")
    proc = subprocess.run([sys.executable, "-m", "simbatch.cli.main", "validate", str(bad)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"ScenarioError: {bad}: servers.S.threads: must be greater"
                                   " than or equal to 0, got -2 (line 3)")
    assert "Traceback" not in proc.stderr


def test_out_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["run", str(SCENARIOS / "walkthrough.yaml"), "--out", str(afile)]) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == f"UsageError: --out {afile}: is a file, not a folder"
    assert captured.out == ""  # refused before simulating


def test_numpy_integer_seeds_are_fine() -> None:
    import numpy as np

    import simbatch

    a = simbatch.simulate(SCENARIOS / "affinity.yaml", seed=np.int64(3))
    assert a.tasks.equals(simbatch.simulate(SCENARIOS / "affinity.yaml", seed=3).tasks)


def night_file(tmp_path: Path) -> Path:
    path = tmp_path / "night.yaml"
    path.write_text(
        "name: Night\nstart: 2026-01-05 00:00\nhorizon: 10h\npolling: 0\n"
        "scheduling: affinity\n"
        "servers: {AOS1: {threads: 2}, AOS2: {threads: 2}}\n"
        "groups: {Integration: {servers: [AOS1]}, default: {servers: [AOS2]}}\n"
        "jobs:\n"
        "  Cycle: {recurrence: {every: 3h}, deadline: \"04:00\","
        " tasks: {T: {duration: 1h30m}}}\n"
        "  Stuck: {group: Integration, deadline: 2h, tasks: {T: {duration: 20h}}}\n",
        encoding="utf-8")
    return path


def test_run_prints_deadlines_under_the_waits(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(night_file(tmp_path)), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert out.index("Waits per group") < out.index("Deadlines per job") < out.index(
        "Utilization per server")
    deadlines = out.split("Deadlines per job")[1].split("Utilization")[0]
    cycle = next(line for line in deadlines.splitlines() if line.startswith("Cycle"))
    # 3 judged, 1 missed, 0 failed (33.3%), 1 undetermined; lateness p50 -2:30:00; margin
    # -0:30:00
    assert cycle.split()[:6] == ["Cycle", "3", "1", "0", "33.3%", "1"]
    assert "-2:30:00" in cycle and "-0:30:00" in cycle and "1:30:00 after due" in cycle
    stuck = next(line for line in deadlines.splitlines() if line.startswith("Stuck"))
    assert stuck.split()[:6] == ["Stuck", "1", "1", "0", "100.0%", "0"]
    assert "undetermined: still open at the horizon" in deadlines
    assert "50.0%" in out.split("Utilization per server")[1] or "%" in out


def test_csv_times_read_back_with_the_documented_call(tmp_path: Path) -> None:
    import simbatch

    doc = tmp_path / "dst.yaml"
    doc.write_text(  # across the spring-forward change, with sub-second durations
        "start: 2026-03-28 22:00\ntimezone: Europe/Amsterdam\nhorizon: 1d\npolling: 0\n"
        "scheduling: priority\nservers: {S: {threads: 2}}\n"
        "jobs:\n  J: {recurrence: {every: 2h},"
        " tasks: {T: {duration: {uniform: [10m, 20m]}}}}\n", encoding="utf-8")
    assert main(["run", str(doc), "--out", str(tmp_path)]) == 0
    tasks = pd.read_csv(tmp_path / "tasks.csv", parse_dates=["ready", "start", "end"])
    jobs = pd.read_csv(tmp_path / "jobs.csv", parse_dates=["scheduled", "start", "end"])
    for frame, columns in ((tasks, ["ready", "start", "end"]),
                           (jobs, ["scheduled", "start", "end"])):
        for column in columns:
            assert str(frame[column].dtype).startswith("datetime64") and str(
                frame[column].dt.tz) == "UTC"
    text = (tmp_path / "tasks.csv").read_text().splitlines()[1]
    assert "+00:00" in text and "+01:00" not in text
    result = simbatch.simulate(doc)
    expected = result.tasks.start.dt.tz_convert("UTC").dt.round("ms")
    assert (tasks.start == expected).all()
    assert (pd.to_datetime(pd.read_csv(tmp_path / "tasks.csv").end) == tasks.end).all()
    assert (tasks.wait == result.tasks.wait.dt.total_seconds().round(3)).all()


def test_sweep_shows_indexed_paths_and_every_metric(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = night_file(tmp_path)
    text = path.read_text().replace("AOS1: {threads: 2}",
                                    "AOS1: {threads: 2, periods: [{from: \"00:00\","
                                    " to: \"06:00\", threads: 1}]}")
    path.write_text(text)
    code = main(["sweep", str(path), "--grid", "servers.AOS1.periods[0].threads=1,2",
                 "--grid", "jobs.Cycle.deadline=04:00,2h", "--out", str(tmp_path / "s.csv")])
    out = capsys.readouterr()
    assert code == 0, out.err
    header = out.out.splitlines()[1]  # printed: the readable metrics, times without _s
    for column in ("servers.AOS1.periods[0].threads", "jobs.Cycle.deadline",
                   "wait_mean[all]", "utilization[AOS1]", "deadline_miss[Cycle]",
                   "margin_min[Cycle]"):
        assert column in header
    assert len(out.out.splitlines()) == 2 + 4 + 1  # the wrote line
    written = pd.read_csv(tmp_path / "s.csv").columns  # written: every metric, in _s
    for column in ("servers.AOS1.periods[0].threads", "jobs.Cycle.deadline",
                   "wait_mean_s[all]", "utilization[AOS1]", "deadline_miss[Cycle]",
                   "lateness_p95_s[Cycle]", "margin_min_s[Cycle]", "latest_finish_s[Cycle]"):
        assert column in written


def test_sweep_takes_list_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", str(night_file(tmp_path)),
                 "--grid", "groups.Integration.servers=[AOS1],[AOS1,AOS2]",
                 "--grid", "servers.AOS2={threads: 1},{threads: 4}"])
    out = capsys.readouterr()
    assert code == 0, out.err
    rows = out.out.splitlines()[2:]
    assert len(rows) == 4
    assert "[AOS1, AOS2]" in rows[2] and "{'threads': 1}" in rows[2]


@pytest.mark.parametrize(("grid", "message"), [
    ("groups.Integration.servers=[AOS1,", "cannot read the values"),
    ("servers.AOS1.threads=", "write PATH=V1,V2"),
    ("servers.AOS1.threads=2,2", "given twice"),
    ("servers.AOS9.threads=2", "no 'servers.AOS9'"),
    ("servers.AOS1.threads=[1,2]", "servers.AOS1.threads"),
    ("servers..threads=2", "bad path"),
    ("jobs.Cycle.tasks.T.duration=5 parsecs", "bad time"),
])
def test_sweep_bad_input_gives_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           grid: str, message: str) -> None:
    assert main(["sweep", str(night_file(tmp_path)), "--grid", grid]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


COMMANDS = ["run", "validate", "compare", "sweep", "report", "calibrate", "backtest", "plan"]


def subparsers() -> dict[str, argparse.ArgumentParser]:
    """The subcommands of the complete parser, by name."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_build_parser_has_every_command() -> None:
    assert list(subparsers()) == COMMANDS
    assert "simbatch run scenarios/walkthrough.yaml" in build_parser().format_help()


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_an_example_that_parses(command: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: simbatch {command} ")
    example = text.split("\nexample:\n", 1)[1]
    lines = [line.strip() for line in example.splitlines()
             if line.strip() and not line.strip().startswith("#")]
    assert len(lines) == 1 and lines[0].startswith(f"simbatch {command} "), example
    argv = shlex.split(lines[0])[1:]
    assert build_parser().parse_args(argv).command == command
    bundled = [arg for arg in argv if arg.startswith("scenarios/")]
    assert bundled and all((ROOT / arg).is_file() for arg in bundled), bundled


@pytest.mark.parametrize("command", COMMANDS)
def test_help_states_every_default(command: str) -> None:
    parser = subparsers()[command]
    text = parser.format_help()
    assert "default: None" not in text and "(default: [])" not in text
    for action in parser._actions:
        if not action.option_strings or action.default == argparse.SUPPRESS or action.required:
            continue  # positionals, --help, and options that must be given
        shown = (action.help or "") % {**vars(action), "prog": parser.prog}
        assert "default: " in shown, (action.option_strings, shown)
        assert "default: None" not in shown
        if action.default is not None and not isinstance(action.default, bool | list):
            assert f"default: {action.default}" in shown, (action.option_strings, shown)
        assert " ".join(shown.split()) in " ".join(text.split())


@pytest.mark.parametrize(("argv", "problem"), [
    (["run", "--seed", "x", "FILE"], "argument --seed: 'x' is not a whole number; give one"
     " from 0 to 4,294,967,295"),
    (["run", "--seed", "-1", "FILE"], "argument --seed: '-1' is out of range; give a whole"
     " number from 0 to 4,294,967,295"),
    (["run", "--format", "xlsx", "FILE"], "argument --format: invalid choice"),
    (["validate"], "the following arguments are required: file"),
    (["compare", "a.yaml", "-n", "many"], "argument -n/--replications: 'many' is not a whole"
     " number; give one from 1 to 10,000"),
    (["compare", "a.yaml", "-n", "2", "-n", "9" * 40], "argument -n/--replications: '"
     + "9" * 40 + "' is out of range; give a whole number from 1 to 10,000"),
    (["sweep", "a.yaml"], "the following arguments are required: --grid"),
    (["report", "a.yaml", "--seed"], "argument --seed: expected one argument"),
    (["calibrate", "h.csv"], "the following arguments are required: --out"),
    (["backtest", "h.csv", "--topology", "t.yaml", "--fast"], "unrecognized arguments: --fast"),
    (["plan", "a.yaml", "--vary", "x=1..2", "--target", "wait_p95 <= 1m",
      "--confidence", "high"], "argument --confidence: 'high' is not a number in [0.5, 1)"),
])
def test_a_bad_argument_shows_the_commands_usage_and_exits_2(
        argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: simbatch {argv[0]} "), err
    assert err.strip().splitlines()[-1].startswith(f"simbatch {argv[0]}: error: {problem}"), err
    assert "Traceback" not in err


def test_python_m_simbatch_refuses_a_bad_argument_without_a_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "simbatch", "run", "--seed", "x", "FILE"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("usage: simbatch run ")
    assert proc.stderr.strip().splitlines()[-1] == ("simbatch run: error: argument --seed:"
                                                    " 'x' is not a whole number; give one"
                                                    " from 0 to 4,294,967,295")
    assert "Traceback" not in proc.stderr


# ---- numbers people read: h:mm:ss, percent, whole counts (issue 21) --------------------------

RAW_FLOAT = re.compile(r"\d[eE][+-]\d\d|\d,\d{3}\.\d{3}|\d\.\d{3,}")
"""What a number for people must not look like: 2.07e+04, 11,365.500, 0.013888."""
CLOCK = re.compile(r"^-?(?:\d+d )?\d+:\d\d:\d\d$")


def seconds_of(text: str) -> int:
    """``-1d 2:03:04`` back to seconds (the reader's inverse of ``units.clock``)."""
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("-")
    days, _, rest = text.rpartition("d ")
    hours, minutes, secs = (int(part) for part in rest.split(":"))
    return sign * ((int(days or 0) * 24 + hours) * 3600 + minutes * 60 + secs)


@pytest.mark.parametrize(("value", "text"), [
    (0, "0:00:00"), (59.5, "0:01:00"), (58.5, "0:00:59"), (59.4, "0:00:59"),
    (3600, "1:00:00"), (-974, "-0:16:14"), (-0.4, "0:00:00"), (86_399, "23:59:59"),
    (86_400, "1d 0:00:00"), (93_784, "1d 2:03:04"), (-93_784, "-1d 2:03:04"),
    (float("nan"), "-"), (None, "-"), (float("inf"), "-"),
    (pd.Timedelta(seconds=-974), "-0:16:14"), (pd.NaT, "-"),
])
def test_clock_writes_h_mm_ss(value: object, text: str) -> None:
    from simbatch.present import units

    assert units.clock(value) == text
    if text != "-":
        assert CLOCK.match(text)
    if isinstance(value, int | float) and text != "-":  # rounded halves away from zero
        assert seconds_of(text) == math.copysign(math.floor(abs(value) + 0.5), value)


@pytest.mark.parametrize(("metric", "value", "text"), [
    ("deadline_miss", 0.125, "12.5%"), ("utilization", 0.0069444, "0.7%"),
    ("utilization", 1.0, "100.0%"), ("deadline_miss", float("nan"), "-"),
    ("wait_p95_s", 20_700.4, "5:45:00"), ("wait_p95", 20_700.4, "5:45:00"),
    ("margin_min", -974.0, "-0:16:14"), ("lateness_p95_s", 0.0, "0:00:00"),
    ("tasks_started", 6921.0, "6,921"), ("jobs_error", 0.0, "0"),
    ("backlog_at_horizon", 3.5, "3.50"),
])
def test_value_writes_each_metric_in_its_unit(metric: str, value: float, text: str) -> None:
    from simbatch.present import units

    assert units.value(metric, value) == text


def test_percent_count_and_intervals() -> None:
    from simbatch.present import units

    assert units.percent(0.13, signed=True) == "+13.0%"
    assert units.percent(-0.0299, signed=True) == "-3.0%"
    assert units.percent(0.375) == "37.5%" and units.percent(None) == "-"
    assert units.count(1_234_567.0) == "1,234,567" and units.count(float("nan")) == "-"
    assert units.count(2.5) == "3" and units.count(-2.5) == "-3" and units.count(0) == "0"
    assert units.estimate("margin_min_s", 20_700, 18_800, 22_500) == (
        "5:45:00 [5:13:20, 6:15:00]")
    assert units.estimate("deadline_miss", 0.0, 0.0, 0.074) == "0.0% [0.0%, 7.4%]"
    assert units.interval("wait_mean_s", 4.2, 27.0) == "[0:00:04, 0:00:27]"
    assert units.interval("wait_mean_s", float("nan"), 27.0) == "-"
    assert [units.unit(m) for m in ("wait_p95", "wait_p95_s", "deadline_miss", "jobs_error")
            ] == ["time", "time", "share", "number"]


def test_run_prints_counts_with_separators_and_no_raw_floats(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "busy.yaml"
    path.write_text("name: Busy\nstart: 2026-01-05 00:00\nhorizon: 1d\npolling: 0\n"
                    "servers: {S: {threads: 4}}\n"
                    "jobs:\n  J: {recurrence: {every: 1m}, deadline: 30s,"
                    " tasks: {T: {duration: 20s}}}\n", encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "job runs: 1,440 (1,440 Ended)" in out
    waits = out.split("Waits per group")[1].split("Deadlines")[0]
    assert re.search(r"default\s+1,440\s+1,440\s+0:00:00", waits)
    row = next(line for line in out.splitlines() if line.lstrip().startswith("J "))
    # 1,440 judged (one still open at the horizon is not), none missed: a margin of 10 s
    assert row.split()[:6] == ["J", "1,440", "0", "0", "0.0%", "0"]
    assert "-0:00:10" in row and "0:00:10" in row.split()
    assert not RAW_FLOAT.search(out.split("wrote")[0])


def test_plan_prints_each_target_in_its_unit(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["plan", str(night_file(tmp_path)), "--vary", "servers.AOS2.threads=1..2",
                 "--target", "wait_mean <= 1h for default",
                 "--target", "deadline_miss <= 90% for Cycle", "-n", "2", "--seed", "1"])
    out = capsys.readouterr()
    assert code == 0, out.err
    table = out.out.split("targets at the choice")[1].split("runs spent")[0]
    assert not RAW_FLOAT.search(table)
    wait = next(line for line in table.splitlines() if line.lstrip().startswith("wait_mean"))
    share = next(line for line in table.splitlines() if line.lstrip().startswith("deadline"))
    assert re.search(r"\d+:\d\d:\d\d \[\d+:\d\d:\d\d, \d+:\d\d:\d\d\] +\d+:\d\d:\d\d ", wait)
    assert re.search(r"\d+\.\d%( \[\d+\.\d%, \d+\.\d%\])? +\d+\.\d% ", share)
    assert ":" not in share.split("Cycle", 1)[1]


def test_sweep_prints_people_units_and_writes_the_chosen_machine_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import simbatch

    path, out = night_file(tmp_path), tmp_path / "x.csv"
    path.write_text(path.read_text() + "  Three: {tasks: {A: {duration: 1h},"
                    " B: {duration: 1h}, C: {duration: 1h}}}\n")  # waits on AOS2
    code = main(["sweep", str(path), "--grid", "servers.AOS2.threads=1,2",
                 "--out", str(out), "--metrics", "wait_mean_s,utilization"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    table = pd.read_csv(out)
    assert list(table.columns) == ["servers.AOS2.threads", "wait_mean_s[all]",
                                   "wait_mean_s[Integration]", "wait_mean_s[default]",
                                   "utilization[AOS1]", "utilization[AOS2]"]
    expected = simbatch.sweep(path, {"servers.AOS2.threads": [1, 2]})
    pd.testing.assert_frame_equal(table, expected[table.columns], check_dtype=False)
    assert expected["wait_mean_s[default]"].max() > 60  # seconds, not minutes or h:mm:ss
    assert table.filter(like="utilization").le(1).all().all()  # fractions
    lines = printed.out.splitlines()
    assert lines[1].split() == ["servers.AOS2.threads", "wait_mean[all]",
                                "wait_mean[Integration]", "wait_mean[default]",
                                "utilization[AOS1]", "utilization[AOS2]"]
    for line, (_, row) in zip(lines[2:4], expected.iterrows(), strict=True):
        cells = line.split()
        assert all(CLOCK.match(c) for c in cells[1:4]) and all(
            c.endswith("%") for c in cells[4:6])
        assert seconds_of(cells[3]) == round(row["wait_mean_s[default]"])
        assert cells[4] == f"{row['utilization[AOS1]'] * 100:.1f}%"
    assert not RAW_FLOAT.search(printed.out)


def test_sweep_prints_a_readable_default_and_writes_every_metric(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "all.csv"
    assert main(["sweep", str(night_file(tmp_path)), "--grid", "servers.AOS2.threads=1,2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[1].split()
    assert header[:2] == ["servers.AOS2.threads", "wait_mean[all]"]
    assert "deadline_miss[Cycle]" in header and "margin_min[Cycle]" in header
    assert not RAW_FLOAT.search(printed) and "%" in printed
    columns = pd.read_csv(out).columns
    for column in ("tasks_started[all]", "wait_mean_s[all]", "jobs_ended[all]",
                   "lateness_p95_s[Cycle]", "latest_finish_s[Cycle]", "deadline_runs[Cycle]"):
        assert column in columns


@pytest.mark.parametrize(("metrics", "message"), [
    ("wait_man", "--metrics: no metric 'wait_man'; use some of tasks_started"),
    ("wait_mean_s,bogus", "--metrics: no metric 'bogus'"),
])
def test_sweep_refuses_an_unknown_metric(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         metrics: str, message: str) -> None:
    out = tmp_path / "x.csv"
    assert main(["sweep", str(night_file(tmp_path)), "--grid", "servers.AOS2.threads=1",
                 "--metrics", metrics, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_sweep_refuses_a_metric_the_runs_do_not_produce(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(SCENARIOS / "walkthrough.yaml"), "--grid",
                 "servers.Batch2.threads=1", "--metrics", "deadline_miss"]) == 2
    err = capsys.readouterr().err
    assert "these runs produce no deadline_miss" in err and len(err.strip().splitlines()) == 1


FO = ROOT / "examples" / "fo-export"


def test_backtest_prints_times_and_percent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", str(FO / "BatchJobHistory.csv"), str(FO / "BatchHistory.csv"),
                 "--topology", str(ROOT / "examples" / "small-tenant.yaml")]) == 0
    out = capsys.readouterr().out
    assert not RAW_FLOAT.search(out)
    row = next(line.split() for line in out.splitlines() if " all " in f" {line} "
               and "wait_mean" in line)
    assert row[:2] == ["all", "wait_mean"] and all(CLOCK.match(c) for c in row[2:4])
    assert re.fullmatch(r"[+-]\d+\.\d%", row[4]) and CLOCK.match(row[5])


def test_backtest_calibrated_prints_the_interval_within_is_judged_on(
        capsys: pytest.CaptureFixture[str]) -> None:
    import simbatch

    files = [str(FO / "BatchJobHistory.csv"), str(FO / "BatchHistory.csv")]
    topology = ROOT / "examples" / "small-tenant.yaml"
    assert main(["backtest", *files, "--topology", str(topology), "--calibrated",
                 "-n", "3"]) == 0
    out = capsys.readouterr().out
    assert not RAW_FLOAT.search(out)
    lines = out.splitlines()
    header = next(line for line in lines if line.lstrip().startswith("group"))
    assert re.search(r"simulated \(95% CI\)\s+predicted \(95% PI\)\s+within$", header)
    assert "predicted (95% PI): where one period" in out
    test = simbatch.backtest(simbatch.read_history(*files), topology, calibrated=True,
                             replications=3)
    errors = test.errors()
    pattern = re.compile(r"^\s*(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s+\S+\s+\[(\S+), (\S+)\]"
                         r"\s+\[(\S+), (\S+)\]\s+(True|False)$")
    rows = [m.groups() for m in map(pattern.match, lines[lines.index(header) + 1:])
            if m is not None and m.group(1) in ("all", "default")]
    assert len(rows) == len(errors)
    outside_ci = 0
    for (group, metric, actual, _, ci_lo, ci_hi, lo, hi, within), (_, expected) in zip(
            rows, errors.iterrows(), strict=True):
        assert (group, metric) == (expected["group"], expected["metric"])
        assert within == str(bool(expected["within"]))
        assert seconds_of(lo) == math.floor(expected["predicted_low"] + 0.5)
        assert seconds_of(hi) == math.floor(expected["predicted_high"] + 0.5)
        a, low, high = seconds_of(actual), seconds_of(lo), seconds_of(hi)
        if within == "True":  # rounding to whole seconds keeps the order
            assert low <= a <= high
        else:
            assert a <= low or a >= high
        outside_ci += not seconds_of(ci_lo) <= a <= seconds_of(ci_hi) and within == "True"
    assert outside_ci  # the case the issue saw: outside the CI, yet within the PI


def test_run_prints_deadlines_in_h_mm_ss_with_failed_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The deadline summary's seconds columns (ending _s) with failed runs read as h:mm:ss."""
    import simbatch

    original = simbatch.Result.deadline_summary

    def with_failed(self: simbatch.Result) -> pd.DataFrame:
        return original(self).assign(failed=1)

    monkeypatch.setattr(simbatch.Result, "deadline_summary", with_failed)
    assert main(["run", str(night_file(tmp_path)), "--out", str(tmp_path / "out")]) == 0
    deadlines = capsys.readouterr().out.split("Deadlines per job")[1].split("Utilization")[0]
    assert deadlines.splitlines()[1].split()[:4] == ["job", "judged", "missed", "failed"]
    cycle = next(line for line in deadlines.splitlines() if line.startswith("Cycle"))
    assert cycle.split()[:6] == ["Cycle", "3", "1", "1", "33.3%", "1"]
    assert "-2:30:00" in cycle and "-0:30:00" in cycle and "1:30:00 after due" in cycle


def test_run_prints_a_negative_margin_as_minus_h_mm_ss(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Late ends 974 s after its deadline: margin -0:16:14, never "-1 days +23:43:46"."""
    path = tmp_path / "late.yaml"
    path.write_text(
        "name: Late\nstart: 2026-01-05 00:00\nhorizon: 2h\npolling: 0\n"
        "scheduling: priority\nservers: {A: {threads: 1}}\n"
        "jobs:\n  Late: {deadline: 30m, tasks: {T: {duration: 46m14s}}}\n", encoding="utf-8")
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    deadlines = capsys.readouterr().out.split("Deadlines per job")[1].split("Utilization")[0]
    assert "days" not in deadlines
    late = next(line for line in deadlines.splitlines() if line.startswith("Late"))
    # judged 1, missed 1, failed 0, 100.0%, undetermined 0; lateness p50 and p95 0:16:14;
    # smallest margin -0:16:14; latest finish 0:46:14 after due (Mon 00:46)
    assert late.split() == ["Late", "1", "1", "0", "100.0%", "0", "0:16:14", "0:16:14",
                            "-0:16:14", "0:46:14", "after", "due", "(Mon", "00:46)"]


# ---- every argument bounded before anything runs (issue 25) ----------------------------------

NUMERIC = [  # (command, option, lowest, highest)
    ("run", "--seed", 0, 2**32 - 1), ("run", "--max-attempts", 1, 10**9),
    ("compare", "-n", 1, 10_000), ("compare", "--seed", 0, 2**32 - 1),
    ("compare", "--max-attempts", 1, 10**9), ("sweep", "-n", 1, 10_000),
    ("sweep", "--seed", 0, 2**32 - 1), ("sweep", "--max-attempts", 1, 10**9),
    ("report", "-n", 0, 10_000), ("report", "--seed", 0, 2**32 - 1),
    ("report", "--max-attempts", 1, 10**9), ("plan", "-n", 2, 10_000),
    ("plan", "--max-replications", 2, 10_000), ("plan", "--budget", 1, 10**7),
    ("plan", "--seed", 0, 2**32 - 1), ("plan", "--max-attempts", 1, 10**9),
    ("backtest", "-n", 1, 10_000), ("backtest", "--seed", 0, 2**32 - 1),
    ("backtest", "--max-attempts", 1, 10**9), ("calibrate", "--max-attempts", 1, 10**9),
]


def test_every_numeric_option_is_listed_here() -> None:
    listed = {(c, o) for c, o, _, _ in NUMERIC}
    for name, parser in subparsers().items():
        for action in parser._actions:
            parse = action.type
            if getattr(parse, "__name__", "") in ("whole number", "int", "float"):
                assert (name, action.option_strings[0]) in listed, (name, action.option_strings)
            assert parse not in (int, float), (name, action.option_strings)


@pytest.mark.parametrize(("command", "option", "low", "high"), NUMERIC,
                         ids=[f"{c} {o}" for c, o, _, _ in NUMERIC])
def test_every_numeric_option_is_bounded_with_its_range_in_the_message(
        command: str, option: str, low: int, high: int) -> None:
    parser = subparsers()[command]
    action = next(a for a in parser._actions if option in a.option_strings)
    assert action.type is not None
    assert action.type(str(low)) == low and action.type(f" {high} ") == high
    for bad in (str(low - 1), str(high + 1), "9" * 5000, "-" + "9" * 40, "1.5", "", "x"):
        with pytest.raises(argparse.ArgumentTypeError) as caught:
            action.type(bad)
        message = str(caught.value)
        assert f"from {low:,} to {high:,}" in message and len(message) < 200, message


def test_every_command_that_simulates_takes_max_attempts() -> None:
    for name in ("run", "compare", "sweep", "report", "plan", "backtest"):
        assert "--max-attempts" in subparsers()[name].format_help(), name


@pytest.mark.parametrize(("argv", "problem"), [
    (["sweep", "a.yaml", "--grid", "x=" + "[" * 5000], "nests brackets or braces more than 16"),
    (["sweep", "a.yaml", "--grid", "x=" + "{a: " * 100 + "1" + "}" * 100],
     "nests brackets or braces more than 16"),
    (["sweep", "a.yaml", "--grid", "x=" + "1," * 6000], "characters long; --grid takes at most"),
    (["plan", "a.yaml", "--vary", "x=1..2", "--target", "w" * 20_000],
     "characters long; --target takes at most 10,000"),
    (["plan", "a.yaml", "--vary", "x=1..2", "--target", "t", "--confidence", "1"],
     "'1' is not a number in [0.5, 1)"),
    (["run", "a.yaml", "--format", "y" * 10_000], "argument --format: invalid choice: 'yyy"),
    (["run", "a.yaml", "--bogus", "z" * 10_000], "unrecognized arguments: --bogus zzz"),
])
def test_a_hostile_argument_is_refused_in_a_short_message(
        argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert problem in last and len(last) < 400, last


def test_sweep_values_nested_within_the_bound_still_parse(tmp_path: Path) -> None:
    from simbatch.cli.experiments import grid

    assert grid(["x=[[1, 2]], [[3]]"]) == {"x": [[[1, 2]], [[3]]]}


@pytest.mark.parametrize(("vary", "max_attempts", "refused"), [
    (["servers.AOS1.threads=0..1000000000"], None, "1,000,000,001 values, more than the 10,000"),
    (["servers.AOS1.threads=0..99999999999999999999999999999999"], None, "values, more than"),
    (["servers.AOS1.threads=1..4"], "5", "past the work budget"),
])
def test_vary_ranges_beyond_the_work_budget_are_refused_before_anything_runs(
        vary: list[str], max_attempts: str | None, refused: str,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from simbatch.planning import search

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("no candidate may run")

    monkeypatch.setattr(search, "run_replication", never)
    argv = ["plan", "scenarios/affinity.yaml", *(f"--vary={v}" for v in vary), "--target",
            "wait_p95 <= 5m for default", "-n", "2"]
    if max_attempts is not None:
        argv += ["--max-attempts", max_attempts]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert refused in err and err.count("\n") == 1, err


def test_calibrate_takes_the_work_budget(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "calibrated.yaml"
    history = [str(p) for p in sorted(Path("examples/fo-export").glob("*.csv"))]
    assert main(["calibrate", *history, "--out", str(out), "--max-attempts", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("BudgetError: ") and "776 task rows, more than the limit of 10" in err
    assert not out.exists()
