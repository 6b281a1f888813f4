"""simbatch: capacity planning for the Dynamics 365 F&O batch framework.

Describe a topology and a workload in a scenario file, then::

    import simbatch
    result = simbatch.simulate("scenarios/walkthrough.yaml", seed=0)
    result.tasks, result.jobs, result.summary(), result.utilization()
"""

from typing import TYPE_CHECKING, Any

from simbatch.backtest import Backtest, backtest  # eager: the function hides its module
from simbatch.errors import (
    HistoryError,
    ScenarioError,
    SimbatchError,
    SimbatchWarning,
    SimulationError,
    UsageError,
)
from simbatch.loading import load
from simbatch.results import Result
from simbatch.scenario import Scenario
from simbatch.simulation import simulate

if TYPE_CHECKING:  # loaded on first use (scipy, tqdm, matplotlib): a quick ``import simbatch``
    from simbatch.calibrate import Calibration, calibrate
    from simbatch.experiments import Comparison, Replications, compare, replicate, sweep
    from simbatch.history import History, read_history, write_fo_history
    from simbatch.report import write_report

__version__ = "0.1.0"

_LAZY = {
    "Calibration": "simbatch.calibrate",
    "calibrate": "simbatch.calibrate",
    "History": "simbatch.history",
    "read_history": "simbatch.history",
    "write_fo_history": "simbatch.history",
    "Comparison": "simbatch.experiments",
    "Replications": "simbatch.experiments",
    "compare": "simbatch.experiments",
    "replicate": "simbatch.experiments",
    "sweep": "simbatch.experiments",
    "write_report": "simbatch.report",
}

__all__ = [
    "Backtest",
    "Calibration",
    "Comparison",
    "History",
    "HistoryError",
    "Replications",
    "Result",
    "Scenario",
    "ScenarioError",
    "SimbatchError",
    "SimbatchWarning",
    "SimulationError",
    "UsageError",
    "__version__",
    "backtest",
    "calibrate",
    "compare",
    "load",
    "read_history",
    "replicate",
    "simulate",
    "sweep",
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
