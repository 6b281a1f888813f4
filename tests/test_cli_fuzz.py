"""Fuzzing the command line: argument vectors for every subcommand, built from its options
with hostile values (huge, negative and empty numbers; devices, FIFOs, folders and missing
files; deeply nested YAML; long and unicode texts).

Every vector must end in exit code 0 or 2 with no traceback, within a time bound (an alarm
turns a hang into a failure), and, for the in-process sample, within a memory bound. A
small sample runs in the default suite; ``test_argument_vectors_at_length`` runs many more
under the ``fuzz`` marker, which CI runs too. Every vector that once crashed, hung or
exhausted memory is kept in ``tests/corpus/cli/`` and replayed by
``test_the_argument_corpus_never_crashes``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simbatch.cli.main import build_parser, main

CORPUS = Path(__file__).with_name("corpus") / "cli"
SECONDS = 60
"""The longest one vector may take (the alarm's bound); the tiny scenario takes about 1 s."""
PEAK_BYTES = 400 * 1024 * 1024
"""The most memory (traced by tracemalloc) the in-process sample may allocate at once."""

TINY = """\
name: tiny
start: 2026-01-05 00:00
horizon: 2h
scheduling: affinity
servers: {S: {threads: 2}, T: {threads: 1}}
jobs:
  J:
    recurrence: {every: 15m}
    tasks: {A: {duration: {exponential: 5m}}, B: {duration: 2m, after: {A: ended}}}
"""


@pytest.fixture(scope="module")
def place() -> Iterator[dict[str, str]]:
    """A folder of inputs and outputs, named as the vectors write them (``{tiny}``)."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "tiny.yaml").write_text(TINY, encoding="utf-8")
        (root / "tiny2.yaml").write_text(TINY.replace("tiny", "tiny two"), encoding="utf-8")
        (root / "ä✓ tiny.yaml").write_text(TINY, encoding="utf-8")
        (root / "deep.yaml").write_text("name: " + "[" * 5000 + "]" * 5000 + "\n",
                                        encoding="utf-8")
        (root / "history.csv").write_text("RecId,Caption\n1,=cmd\n", encoding="utf-8")
        os.mkfifo(root / "fifo.yaml")
        (root / "folder").mkdir()
        (root / "out").mkdir()
        os.mkfifo(root / "out" / "fifo.html")
        yield {"root": folder, "tiny": str(root / "tiny.yaml"),
               "tiny2": str(root / "tiny2.yaml"), "unicode": str(root / "ä✓ tiny.yaml"),
               "deep": str(root / "deep.yaml"), "history": str(root / "history.csv"),
               "fifo": str(root / "fifo.yaml"), "folder": str(root / "folder"),
               "out": str(root / "out")}


# ---- the values: valid ones keep the runs tiny, hostile ones must be refused --------------

NUMBERS = ["0", "1", "2", "3", "-1", "-0", "9" * 40, "9" * 5000, "1e3", "1.5", "nan", "inf",
           "", " ", "0x10", "+2", "٣", "4294967296", "18446744073709551616"]
FRACTIONS = ["0.9", "0.5", "1", "0", "-0.1", "nan", "inf", "1e-400", "high", "", "0.99999"]
INPUTS = ["{tiny}", "{tiny}", "{tiny2}", "{unicode}", "{deep}", "{fifo}", "{folder}",
          "/dev/zero", "/dev/null", "{root}/missing.yaml", "", "x" * 5000, "{history}",
          "/etc/passwd"]
OUTPUTS = ["{out}/a", "{out}/b.html", "{out}/c.csv", "{out}/fifo.html", "{out}", "{folder}",
           "{out}/new/deeper/x.html", "", "{out}/" + "n" * 300]
TEXTS = ["servers.S.threads=1,2", "servers.S.threads=1..3", "servers.T.threads=0..2",
         "wait_p95 <= 5m", "wait_p95 <= 5m for default", "deadline_miss <= 5%", "0s", "1m",
         "-1m", "x=" + "[" * 3000, "x=" + "{a: " * 40 + "1" + "}" * 40, "x=[[1]],[[2]]",
         "servers.S.threads=0..1000000000", "ä✓", "", "=", "..", "\x00", "y" * 20_000,
         "wait_mean_s,utilization", "servers.S.threads=2", "Europe/Amsterdam", "nowhere"]
DASK = ["", "x", "tcp://", "http://x:1", "host:99999", "a" * 5000]
VALID = {  # values that keep a command going, so that the deeper checks are reached too
    "grid": ["servers.S.threads=1,2", "servers.T.threads=0,1"],
    "vary": ["servers.S.threads=1..3", "servers.T.threads=0..2"],
    "target": ["wait_p95 <= 5m", "wait_p95 <= 5m for default"], "warmup": ["0s", "10m"],
    "metrics": ["wait_mean_s,utilization"], "weight": ["servers.S.threads=2"],
    "timezone": ["Europe/Amsterdam"], "replications": ["2", "3"], "seed": ["0", "7"],
    "max_replications": ["3", "4"], "budget": ["20"], "max_attempts": ["100000"],
    "confidence": ["0.9"],
}

_RESERVED = {"-h", "--help", "--version"}


def _options(parser: argparse.ArgumentParser) -> list[tuple[list[str], Any, bool]]:
    """Each option of a subcommand with the values the fuzzer gives it, and whether the
    command requires it."""
    out: list[tuple[list[str], Any, bool]] = []
    for action in parser._actions:
        if not action.option_strings or set(action.option_strings) & _RESERVED:
            continue
        name = getattr(action.type, "__name__", "")
        if action.nargs == 0:
            values: Any = st.just(None)
        elif action.dest == "dask":
            values = st.sampled_from(DASK)
        elif action.choices is not None:
            values = st.sampled_from([*map(str, action.choices), "xlsx", "ä", ""])
        elif name == "whole number":
            values = st.sampled_from(NUMBERS)
        elif name == "number":
            values = st.sampled_from(FRACTIONS)
        elif action.dest in ("out", "report", "store", "plot"):
            values = st.sampled_from(OUTPUTS)
        elif action.dest == "topology":
            values = st.sampled_from(INPUTS)
        else:
            values = st.sampled_from(TEXTS)
        if action.dest in VALID:  # as often valid as hostile
            values = st.one_of(st.sampled_from(VALID[action.dest]), values)
        out.append((action.option_strings, values, bool(action.required)))
    return out


def _positionals(parser: argparse.ArgumentParser) -> list[tuple[str, Any]]:
    return [(a.dest, a.nargs) for a in parser._actions if not a.option_strings]


PARSERS: dict[str, argparse.ArgumentParser] = dict(next(
    a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices)
COMMANDS = list(PARSERS)


@st.composite
def vectors(draw: Any, command: str) -> list[str]:
    """An argument vector for ``command``: its positionals, then options in any order."""
    parser = PARSERS[command]
    argv = [command]
    inputs = st.one_of(st.sampled_from(["{tiny}", "{tiny2}"]), st.sampled_from(INPUTS))
    for _, nargs in _positionals(parser):
        count = draw(st.integers(1, 3)) if nargs == "+" else 1
        argv += [draw(inputs) for _ in range(count)]
    options = _options(parser)
    chosen = draw(st.lists(st.integers(0, len(options) - 1), max_size=5)) if options else []
    if draw(st.integers(0, 4)):  # mostly with the options the command requires
        chosen = [i for i, (_, _, required) in enumerate(options) if required] + chosen
    for index in chosen:
        flags, values, _ = options[index]
        flag = draw(st.sampled_from(flags))
        value = draw(values)
        argv += [flag] if value is None else [flag, value]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(1, len(argv))), draw(st.sampled_from(
            ["--bogus", "-x", "--", "-n", "z" * 3000])))
    return argv


def expand(argv: list[str], place: dict[str, str]) -> list[str]:
    """``{tiny}`` and the like as the paths of ``place``."""
    out = []
    for arg in argv:
        for key, value in place.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


class _HangError(Exception):
    """The alarm rang: a vector ran longer than ``SECONDS``."""


def _ring(signum: int, frame: object) -> None:
    raise _HangError


def run(argv: list[str], place: dict[str, str]) -> tuple[int, str]:
    """``simbatch ARGV`` in this process, from ``place``'s output folder: (code, stderr)."""
    err = io.StringIO()
    previous = signal.signal(signal.SIGALRM, _ring)
    signal.alarm(SECONDS)
    cwd = os.getcwd()
    try:
        os.chdir(place["out"])
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(expand(argv, place))
            except SystemExit as exit_:  # argparse refuses an argument: usage and code 2
                code = int(exit_.code or 0)
    except _HangError:
        pytest.fail(f"no answer within {SECONDS} s: simbatch {shlex.join(argv)}")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.chdir(cwd)
    return code, err.getvalue()


OUTCOMES: Counter[tuple[str, str]] = Counter()
"""(command, outcome) of every vector run: ``exit 0``, or the error's type for exit 2."""


def check(argv: list[str], place: dict[str, str]) -> int:
    """Run a vector; it must end in 0 or 2, without a traceback; a refusal says why."""
    code, err = run(argv, place)
    last = err.strip().splitlines()[-1] if err.strip() else ""
    head = last.split(":")[0]
    OUTCOMES[(argv[0], "exit 0" if code == 0 else head if head.endswith("Error")
              else "usage (argparse)")] += 1
    shown = shlex.join(argv)[:300]
    assert code in (0, 2), (shown, code, err[-2000:])
    assert "Traceback" not in err, (shown, err[-2000:])
    if code == 2:
        assert "Error: " in last or ": error: " in last, (shown, err[-2000:])
        assert len(last) < 1200, (shown, last[:300])
    return code


SETTINGS: dict[str, Any] = {
    "deadline": None,  # the alarm bounds each vector; Hypothesis would flag a slow plan
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                              HealthCheck.data_too_large],
    "database": None,
}


@pytest.mark.parametrize("command", COMMANDS)
def test_a_sample_of_argument_vectors_exits_0_or_2(command: str,
                                                   place: dict[str, str]) -> None:
    @settings(max_examples=12, **SETTINGS)
    @given(vectors(command))
    def sample(argv: list[str]) -> None:
        check(argv, place)

    sample()


@pytest.mark.fuzz
@pytest.mark.parametrize("command", COMMANDS)
def test_argument_vectors_at_length(command: str, place: dict[str, str]) -> None:
    @settings(max_examples=300, **SETTINGS)
    @given(vectors(command))
    def many(argv: list[str]) -> None:
        check(argv, place)

    many()
    print(f"\n{command}:", ", ".join(f"{kind} {count}" for (name, kind), count
                                     in sorted(OUTCOMES.items()) if name == command))


HOSTILE = [  # one of each class, with what a run must not exceed
    ["validate", "/dev/zero"], ["validate", "{fifo}"], ["validate", "{folder}"],
    ["validate", "{deep}"], ["run", "{tiny}", "--seed", "9" * 5000],
    ["compare", "{tiny}", "-n", "2", "-n", "9" * 40],
    ["sweep", "{tiny}", "--grid", "x=" + "[" * 5000, "-n", "1"],
    ["sweep", "{tiny}", "--grid", "servers.S.threads=1,2", "-n", "999999999999999999999"],
    ["plan", "{tiny}", "--vary", "servers.S.threads=0..1000000000", "--target",
     "wait_p95 <= 5m"],
    ["run", "{tiny}", "--out", "{out}/run"], ["validate", "{unicode}"],
]
ACCEPTED = (["run", "{tiny}", "--out", "{out}/run"], ["validate", "{unicode}"])


def test_hostile_vectors_stay_within_time_and_memory(place: dict[str, str]) -> None:
    tracemalloc.start()
    try:
        for argv in HOSTILE:
            tracemalloc.reset_peak()
            began = time.monotonic()
            code = check(argv, place)
            _, peak = tracemalloc.get_traced_memory()
            assert code == (0 if argv in ACCEPTED else 2), argv[:3]
            assert peak < PEAK_BYTES, (argv[:3], peak)
            assert time.monotonic() - began < SECONDS
    finally:
        tracemalloc.stop()


def test_a_small_sample_through_python_m_simbatch(place: dict[str, str]) -> None:
    for argv in (["validate", "/dev/zero"], ["compare", "{tiny}", "-n", "9" * 400],
                 ["sweep", "{tiny}", "--grid", "x=" + "[" * 2000]):
        proc = subprocess.run([sys.executable, "-m", "simbatch", *expand(argv, place)],
                              capture_output=True, text=True, timeout=SECONDS, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert len(proc.stderr.strip().splitlines()[-1]) < 400


def corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.args"))


@pytest.mark.parametrize("path", corpus(), ids=lambda p: p.stem)
def test_the_argument_corpus_never_crashes(path: Path, place: dict[str, str]) -> None:
    """Vectors that once crashed, hung or ran out of memory: now each ends in 0 or 2."""
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# "), "a corpus file says what it once did in its first line"
    argv = shlex.split(" ".join(line for line in lines[1:] if line.strip()))
    expected = 0 if "now: accepted" in lines[0] else 2
    assert check(argv, place) == expected
