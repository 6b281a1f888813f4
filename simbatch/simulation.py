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


def whole_number(value: Any, name: str, least: int) -> int:
    """``value`` as a plain int (numpy integers too), or a ``UsageError`` naming ``name``."""
    try:
        whole = operator.index(value)
    except TypeError:
        whole = least - 1
    if isinstance(value, bool) or whole < least:
        raise UsageError(f"{name} must be a whole number >= {least}, got {value!r}")
    return whole


def simulate(scenario: Scenario | str | Path | Mapping[str, Any], seed: int = 0) -> Result:
    """Simulate a scenario (object, YAML path or mapping) from its start to its horizon."""
    model = Model(load(scenario), whole_number(seed, "seed", 0))
    model.run()
    return Result.from_model(model)
