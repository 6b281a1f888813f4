"""Running a scenario: the one call most users need."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simbatch.engine import budget
from simbatch.engine.compile import compile
from simbatch.engine.model import Model
from simbatch.engine.progress import simulated_time
from simbatch.errors import UsageError
from simbatch.results.result import Result
from simbatch.scenario.load import load
from simbatch.scenario.spec import Scenario

__all__ = ["simulate"]


def whole_number(value: Any, name: str, least: int) -> int:
    """``value`` as a plain int (numpy integers too), or a ``UsageError`` naming ``name``."""
    try:
        whole = operator.index(value)
    except TypeError:
        whole = least - 1
    if isinstance(value, bool) or whole < least:
        raise UsageError(f"{name} must be a whole number >= {least}, got {value!r}")
    return whole


def simulate(scenario: Scenario | str | Path | Mapping[str, Any], seed: int = 0, *,
             max_attempts: int | None = None, progress: bool = False) -> Result:
    """Simulate a scenario (object, YAML path or mapping) from its start to its horizon.

    A scenario expected to ask for more than ``max_attempts`` task attempts (default
    ``simbatch.engine.budget.MAX_ATTEMPTS``) is refused with a ``BudgetError`` before it runs.
    ``progress=True`` shows a bar over simulated time on a terminal for runs longer than
    a couple of seconds. The scenario is compiled (``simbatch.engine.compile``) and the
    engine runs the compiled plan.
    """
    loaded = load(scenario)
    seed = whole_number(seed, "seed", 0)
    limit = None if max_attempts is None else whole_number(max_attempts, "max_attempts", 1)
    budget.check(loaded, limit)
    model = Model.from_plan(compile(loaded), seed)
    if progress:
        with simulated_time(loaded.horizon, loaded.name) as advance:
            model.run(advance)
    else:
        model.run()
    return Result.from_model(model)
