"""simbatch: capacity planning for the Dynamics 365 F&O batch framework.

Describe a topology and a workload in a scenario file, then::

    import simbatch
    result = simbatch.simulate("scenarios/walkthrough.yaml", seed=0)
    result.tasks, result.jobs, result.summary(), result.utilization()
"""

from typing import TYPE_CHECKING, Any

from simbatch.budget import BYTES_PER_ATTEMPT, MAX_ATTEMPTS, Estimate
from simbatch.budget import estimate as estimate_work
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
from simbatch.scenario import Scenario

# Loaded on first use (the engine, scipy, tqdm, matplotlib, the history machinery), for a
# quick ``import simbatch`` and ``simbatch validate``. No public name is also a
# submodule's name (``calibrate`` lives in ``calibration``, ``backtest`` in
# ``backtesting``): importing such a submodule would replace the function with it.
if TYPE_CHECKING:
    from simbatch.backtesting import Backtest, backtest
    from simbatch.calibration import Calibration, calibrate
    from simbatch.experiments import Comparison, Replications, compare, replicate, sweep
    from simbatch.history import History, read_history, write_fo_history
    from simbatch.outputs import write_csv
    from simbatch.planning import Plan, Target, parse_target, parse_vary, plan
    from simbatch.report import write_report
    from simbatch.results import Result
    from simbatch.simulation import simulate

__version__ = "0.1.0"

_LAZY = {
    "Backtest": "simbatch.backtesting",
    "backtest": "simbatch.backtesting",
    "Calibration": "simbatch.calibration",
    "calibrate": "simbatch.calibration",
    "Result": "simbatch.results",
    "simulate": "simbatch.simulation",
    "write_csv": "simbatch.outputs",
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
    """Load the heavier parts of the public API (engine, history, experiments, report) when
    first used."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'simbatch' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
