"""simbatch: capacity planning for the Dynamics 365 F&O batch framework.

Describe a topology and a workload in a scenario file, then::

    import simbatch
    result = simbatch.simulate("scenarios/walkthrough.yaml", seed=0)
    result.tasks, result.jobs, result.summary(), result.utilization()
"""

from typing import TYPE_CHECKING, Any

from simbatch.backtest import Backtest, backtest
from simbatch.budget import BYTES_PER_ATTEMPT, MAX_ATTEMPTS, Estimate
from simbatch.budget import estimate as estimate_work
from simbatch.calibrate import Calibration, calibrate
from simbatch.errors import (
    BudgetError,
    HistoryError,
    ScenarioError,
    SimbatchError,
    SimbatchWarning,
    SimulationError,
    StoreError,
    UsageError,
)
from simbatch.loading import load
from simbatch.outputs import write_csv
from simbatch.results import Result
from simbatch.scenario import Scenario
from simbatch.simulation import simulate

# Loaded on first use (scipy, tqdm, matplotlib), for a quick ``import simbatch``. A public
# name that is also a submodule's (``calibrate``, ``backtest``) is imported here instead:
# importing the submodule would otherwise shadow the function with the module.
if TYPE_CHECKING:
    from simbatch.experiments import Comparison, Replications, compare, replicate, sweep
    from simbatch.history import History, read_history, write_fo_history
    from simbatch.planning import Plan, Target, parse_target, parse_vary, plan
    from simbatch.report import write_report

__version__ = "0.1.0"

_LAZY = {
    "History": "simbatch.history",
    "read_history": "simbatch.history",
    "write_fo_history": "simbatch.history",
    "Comparison": "simbatch.experiments",
    "Replications": "simbatch.experiments",
    "compare": "simbatch.experiments",
    "replicate": "simbatch.experiments",
    "sweep": "simbatch.experiments",
    "write_report": "simbatch.report",
    "Plan": "simbatch.planning",
    "Target": "simbatch.planning",
    "parse_target": "simbatch.planning",
    "parse_vary": "simbatch.planning",
    "plan": "simbatch.planning",
}

__all__ = [
    "BYTES_PER_ATTEMPT",
    "MAX_ATTEMPTS",
    "Backtest",
    "BudgetError",
    "Calibration",
    "Comparison",
    "Estimate",
    "History",
    "HistoryError",
    "Plan",
    "Replications",
    "Result",
    "Scenario",
    "ScenarioError",
    "SimbatchError",
    "SimbatchWarning",
    "SimulationError",
    "StoreError",
    "Target",
    "UsageError",
    "__version__",
    "backtest",
    "calibrate",
    "compare",
    "estimate_work",
    "load",
    "parse_target",
    "parse_vary",
    "plan",
    "read_history",
    "replicate",
    "simulate",
    "sweep",
    "write_csv",
    "write_fo_history",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """Load the heavier parts of the public API (experiments, report) when first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'simbatch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
