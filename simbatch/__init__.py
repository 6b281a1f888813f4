"""simbatch: capacity planning for the Dynamics 365 F&O batch framework.

Describe a topology and a workload in a scenario file, then::

    import simbatch
    result = simbatch.simulate("scenarios/walkthrough.yaml", seed=0)
    result.tasks, result.jobs, result.summary(), result.utilization()
"""

from simbatch.calibrate import Calibration, calibrate
from simbatch.errors import (
    HistoryError,
    ScenarioError,
    SimbatchError,
    SimbatchWarning,
    SimulationError,
    UsageError,
)
from simbatch.experiments import Comparison, Replications, compare, replicate, sweep
from simbatch.history import History, read_history, write_fo_history
from simbatch.loading import load
from simbatch.report import write_report
from simbatch.results import Result
from simbatch.scenario import Scenario
from simbatch.simulation import simulate

__version__ = "0.1.0"

__all__ = [
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
