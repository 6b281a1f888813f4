"""Mutation fuzzing: bundled scenarios with keys deleted, types changed, extreme numbers and
odd strings, through the loader and a short simulation.

Every outcome must be a ``Result`` or a documented ``SimbatchError`` (``ScenarioError``,
``BudgetError``, ``SimulationError``, ``UsageError``); anything else is a bug. A few
hundred examples run in the default suite; 10,000 run under the ``fuzz`` marker, which
CI runs too. Any input that ever crashed belongs in ``tests/corpus/``, which
``test_the_corpus_never_crashes`` replays through the command line.
"""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simbatch
from simbatch.cli.main import main
from simbatch.scenario import shape
from simbatch.scenario.load import load_document
from tests.conftest import SCENARIOS

CORPUS = Path(__file__).with_name("corpus")
BUDGET = 2_000  # attempts: a short simulation, whatever the mutation asks for


def bases() -> list[tuple[str, dict[str, Any], Path | None]]:
    """Each bundled scenario as plain data (``extends`` followed), two hours long."""
    out = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        doc = shape.read_file(path)
        data = copy.deepcopy(doc.data)
        data["horizon"] = "2h"
        out.append((path.name, data, doc.folder))
    return out


BASES = bases()

ODD_NUMBERS = [0, -1, 1, 7, 2**31, 2**53 + 1, 2**63, -(2**63), 2**64, 10**30,
               math.nan, math.inf, -math.inf, -0.0, 1e-300, 0.5, 1e308]
ODD_STRINGS = ["", " ", "5x", "-1m", "0s", "1e400s", "1h1h", "08:00", "24:00", "25:99",
               "\x00", "ä✓", "9" * 400 + "w", "2026-02-30", "2262-04-12 00:00",
               "1969-12-31", "{", "mon-sun", "sun-mon", "60/h", "0/h", "99999999999/s",
               "ended or error", "last", "*/0 * * * *", "0 22 * * 1-5", "1mo", "0d",
               "99999999999y", "Europe/Nowhere", "default", "affinity", "priority"]
VALID_EXTREMES = ["0s", "0.000000001s", "1s", "36500d", "5214w", "1d", "30d", "2h", 0, 1, 16,
                  1000, 0.999, 1.0]  # values in range: mutations that still simulate
ODD_MAPS = [{}, {"exponential": "1e400s"}, {"normal": {"mean": "1m", "sd": "100000w"}},
            {"uniform": ["9m", "1m"]}, {"empirical": []}, {"lognormal": {"mean": 0, "sd": "1m"}},
            {"gamma": {"mean": "1s", "sd": "36500d"}}, {"uniform": [1, 99999999999999999999]},
            {"every": "1m", "anchor": "end"}, {"cron": "* * * * *"}, {"rate": "1000/s"},
            {"interval": {"exponential": "1ns"}}, {"tasks": 10_000, "duration": "1s"}]

ODD = st.one_of(
    st.none(), st.booleans(), st.sampled_from(ODD_NUMBERS), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(ODD_STRINGS),
    st.text(max_size=12), st.lists(st.sampled_from([0, -1, "1m", None, "x"]), max_size=3),
    st.sampled_from(ODD_MAPS), st.sampled_from(VALID_EXTREMES), st.sampled_from(VALID_EXTREMES),
)


def paths(node: Any, loc: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key and list item path in plain data."""
    out = []
    items = (node.items() if isinstance(node, dict)
             else enumerate(node) if isinstance(node, list) else ())
    for key, value in items:
        out.append((*loc, key))
        out.extend(paths(value, (*loc, key)))
    return out


def mutate(data: dict[str, Any], draw: Any) -> dict[str, Any]:
    """One to three mutations: delete, replace with an odd value, change the type."""
    doc = copy.deepcopy(data)
    for _ in range(draw(st.integers(1, 3))):
        every = paths(doc)
        if not every:
            break
        loc = every[draw(st.integers(0, len(every) - 1))]
        parent: Any = doc
        for part in loc[:-1]:
            parent = parent[part]
        key = loc[-1]
        how = draw(st.sampled_from(["delete", "replace", "replace", "wrap", "text", "key"]))
        if how == "delete":
            del parent[key]
        elif how == "replace":
            parent[key] = copy.deepcopy(draw(ODD))  # never share a value across examples
        elif how == "wrap":
            parent[key] = [parent[key]]
        elif how == "text":
            parent[key] = str(parent[key])
        elif isinstance(parent, dict):  # rename the key
            parent[draw(st.sampled_from(ODD_STRINGS))] = parent.pop(key)
    return doc


def outcome(doc: dict[str, Any], source: str, folder: Path | None,
            summaries: bool = True) -> str:
    """Load and simulate briefly; the name of a documented outcome, or raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            scenario = load_document(doc, source, folder)
            result = simbatch.simulate(scenario, seed=1, max_attempts=BUDGET)
            if summaries:
                result.summary()
                result.utilization()
        except simbatch.SimbatchError as exc:
            assert str(exc), "an error must say what is wrong"
            return type(exc).__name__
    assert len(result.tasks) >= 0 and len(result.jobs) >= 0
    return "Result"


@st.composite
def mutated(draw: Any) -> tuple[str, dict[str, Any], Path | None]:
    name, data, folder = draw(st.sampled_from(BASES))
    return name, mutate(data, draw), folder


def check(example: tuple[str, dict[str, Any], Path | None], summaries: bool = True) -> None:
    name, doc, folder = example
    assert outcome(doc, f"{name} (mutated)", folder, summaries) in (
        "Result", "ScenarioError", "BudgetError", "SimulationError", "UsageError")


SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow,
                                                        HealthCheck.data_too_large]}


@settings(max_examples=300, **SETTINGS)  # type: ignore[arg-type]
@given(mutated())
def test_mutated_scenarios_give_a_result_or_a_documented_error(
        example: tuple[str, dict[str, Any], Path | None]) -> None:
    check(example)


@pytest.mark.fuzz
@settings(max_examples=10_000, **SETTINGS)  # type: ignore[arg-type]
@given(mutated())
def test_mutated_scenarios_at_length(example: tuple[str, dict[str, Any], Path | None]) -> None:
    check(example, summaries=False)  # the tables, not the summaries: keeps CI's time


def test_the_bases_themselves_run() -> None:
    for name, data, folder in BASES:
        assert outcome(data, name, folder) == "Result"


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.yaml")), ids=lambda p: p.name)
def test_the_corpus_never_crashes(path: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Inputs that once crashed: now each is valid or refused with one clear message."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# "), "a corpus file says what it once did in its first line"
    for args in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path)]):
        code = main(args)
        err = capsys.readouterr().err
        assert code in (0, 2), (args, err)
        assert "Traceback" not in err
        if code == 2:
            assert err.splitlines()[-1].split(":")[0].endswith("Error")
