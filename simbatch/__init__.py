"""simbatch: capacity planning for the Dynamics 365 F&O batch framework.

Describe a topology and a workload in a scenario file, then::

    import simbatch
    result = simbatch.simulate("scenarios/walkthrough.yaml", seed=0)
    result.tasks, result.jobs, result.summary(), result.utilization()
"""

from simbatch.budget import BYTES_PER_ATTEMPT, MAX_ATTEMPTS, Estimate
from simbatch.budget import estimate as estimate_work
from simbatch.errors import (
    BudgetError,
    ScenarioError,
    SimbatchError,
    SimbatchWarning,
    SimulationError,
    StoreError,
    UsageError,
)
from simbatch.experiments import Comparison, Replications, compare, replicate, sweep
from simbatch.loading import load
from simbatch.outputs import write_csv
from simbatch.report import write_report
from simbatch.results import Result
from simbatch.scenario import Scenario
from simbatch.simulation import simulate

__version__ = "0.1.0"

__all__ = [
    "BYTES_PER_ATTEMPT",
    "MAX_ATTEMPTS",
    "BudgetError",
    "Comparison",
    "Estimate",
    "Replications",
    "Result",
    "Scenario",
    "ScenarioError",
    "SimbatchError",
    "SimbatchWarning",
    "SimulationError",
    "StoreError",
    "UsageError",
    "__version__",
    "compare",
    "estimate_work",
    "load",
    "replicate",
    "simulate",
    "sweep",
    "write_csv",
    "write_report",
]
