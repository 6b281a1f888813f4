"""When a job's runs are due (a start, arrivals, recurrence slots) and when they may start."""

from __future__ import annotations

import numpy as np

from simbatch.engine.randomness import generator
from simbatch.scenario.calendar import Slots, Windows, arrival_times
from simbatch.scenario.spec import Job, Scenario
from simbatch.scenario.timegrammar import epoch_ns

__all__ = ["Schedule"]


class Schedule:
    """One job's due times on the engine's clock (ns after the scenario start).

    Arrivals are drawn once for the whole horizon from the job's own stream; recurrence
    slots are walked forward as runs end, because the next run depends on when the last
    one finished.
    """

    def __init__(self, job: Job, scenario: Scenario, seed: int) -> None:
        self.job = job
        horizon = scenario.horizon
        zone = scenario.zone_of(job)
        self.start = epoch_ns(job.start) - epoch_ns(scenario.start)
        self.windows = (Windows(job.active, scenario.start, horizon, zone) if job.active
                        else None)
        self.arrivals: np.ndarray | None = None
        self.slots: Slots | None = None
        arrivals = job.arrivals
        if arrivals is not None:
            rng = generator(seed, "arrivals", job.name)
            profile = (None if arrivals.profile is None
                       else arrivals.profile.segments(scenario.start, horizon, zone))
            self.arrivals = arrival_times(rng, horizon, interval=arrivals.interval,
                                          profile=profile, first=self.start)
        elif job.recurrence is not None:
            self.slots = Slots(job.recurrence, job.start, scenario.start, horizon)

    @property
    def batch(self) -> int:
        """Runs created by one arrival."""
        return self.job.arrivals.batch if self.job.arrivals is not None else 1

    def first(self) -> int | None:
        """When the first run is due (arrival streams are handled by the model)."""
        if self.slots is not None:
            return self.slots.first(None if self.windows is None else self.windows.inside)
        return self.start

    def after_run(self, runs: int, end: int) -> tuple[int | None, int]:
        """For a recurring job whose run ``runs`` ended at ``end``: next due time, slots skipped."""
        if self.slots is None:
            return None, 0
        count = self.slots.recurrence.count
        if count is not None and runs >= count:
            return None, 0
        # recurrence applies only inside the active windows: a slot outside is no slot
        return self.slots.after_end(end, None if self.windows is None else self.windows.inside)
