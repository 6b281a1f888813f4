"""Running a scenario: the one call most users need."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simbatch.engine.model import Model
from simbatch.errors import UsageError
from simbatch.loading import load
from simbatch.results import Result
from simbatch.scenario import Scenario

__all__ = ["simulate"]


def simulate(scenario: Scenario | str | Path | Mapping[str, Any], seed: int = 0) -> Result:
    """Simulate a scenario (object, YAML path or mapping) from its start to its horizon."""
    try:
        whole = operator.index(seed)  # int, numpy integers
    except TypeError:
        whole = -1
    if isinstance(seed, bool) or whole < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    model = Model(load(scenario), whole)
    model.run()
    return Result.from_model(model)
