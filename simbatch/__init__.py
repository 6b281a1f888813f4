"""simbatch: capacity planning for the Dynamics 365 F&O batch framework.

Describe a topology and a workload in a scenario file, then::

    import simbatch
    result = simbatch.simulate("scenarios/walkthrough.yaml", seed=0)
    result.tasks, result.jobs, result.summary(), result.utilization()
"""

from simbatch.errors import (
    ScenarioError,
    SimbatchError,
    SimbatchWarning,
    SimulationError,
    UsageError,
)
from simbatch.experiments import Comparison, Replications, compare, replicate, sweep
from simbatch.loading import load
from simbatch.plan import Plan, Target, parse_target, parse_vary, plan
from simbatch.report import write_report
from simbatch.results import Result
from simbatch.scenario import Scenario
from simbatch.simulation import simulate

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "Plan",
    "Replications",
    "Result",
    "Scenario",
    "ScenarioError",
    "SimbatchError",
    "SimbatchWarning",
    "SimulationError",
    "Target",
    "UsageError",
    "__version__",
    "compare",
    "load",
    "parse_target",
    "parse_vary",
    "plan",
    "replicate",
    "simulate",
    "sweep",
    "write_report",
]
