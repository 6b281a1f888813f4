"""simbatch: capacity planning for the Dynamics 365 F&O batch framework.

Describe a topology and a workload in a scenario file, then::

    import simbatch
    result = simbatch.simulate("scenarios/walkthrough.yaml", seed=0)
    result.tasks, result.jobs, result.summary(), result.utilization()
"""

from typing import TYPE_CHECKING, Any

from simbatch.engine.budget import BYTES_PER_ATTEMPT, MAX_ATTEMPTS, Estimate
from simbatch.engine.budget import estimate as estimate_work
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
from simbatch.files import check_output
from simbatch.scenario.load import load
from simbatch.scenario.spec import Scenario

# Loaded on first use (the engine, scipy, tqdm, matplotlib, the history machinery), for a
# quick ``import simbatch`` and ``simbatch validate``. No public name is also the name of a
# module directly under ``simbatch`` (``calibrate`` lives in ``history.calibration.fit``,
# ``backtest`` in ``history.backtest.replay``): importing such a module would replace the
# function with it.
if TYPE_CHECKING:
    from simbatch.experiments.runs import Comparison, Replications, compare, replicate, sweep
    from simbatch.history.backtest.replay import Backtest, backtest
    from simbatch.history.calibration.fit import Calibration, calibrate
    from simbatch.history.export import write_fo_history
    from simbatch.history.read import History, read_history
    from simbatch.planning.plan import Plan, plan
    from simbatch.planning.targets import Target
    from simbatch.present.report import write_report
    from simbatch.results.csv import write_csv
    from simbatch.results.result import Result
    from simbatch.simulation import simulate

from simbatch.version import __version__

_LAZY = {
    "Backtest": "simbatch.history.backtest.replay",
    "backtest": "simbatch.history.backtest.replay",
    "Calibration": "simbatch.history.calibration.fit",
    "calibrate": "simbatch.history.calibration.fit",
    "Result": "simbatch.results.result",
    "simulate": "simbatch.simulation",
    "write_csv": "simbatch.results.csv",
    "History": "simbatch.history.read",
    "read_history": "simbatch.history.read",
    "write_fo_history": "simbatch.history.export",
    "Comparison": "simbatch.experiments.runs",
    "Replications": "simbatch.experiments.runs",
    "compare": "simbatch.experiments.runs",
    "replicate": "simbatch.experiments.runs",
    "sweep": "simbatch.experiments.runs",
    "write_report": "simbatch.present.report",
    "Plan": "simbatch.planning.plan",
    "Target": "simbatch.planning.targets",
    "plan": "simbatch.planning.plan",
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
    "check_output",
    "compare",
    "estimate_work",
    "load",
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
