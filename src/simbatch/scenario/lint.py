"""Likely mistakes in a valid scenario: warnings, never errors.

Each check looks at the built ``Scenario`` (and the document the user wrote) and reports
through the loader's ``warn``, which names the file, the path and the line. The CLI prints
these as ``SimbatchWarning: ...`` and still exits 0.
"""

from __future__ import annotations

from collections.abc import Callable

from simbatch.scenario.calendar import DAY, Slots
from simbatch.scenario.shape import Loc
from simbatch.scenario.spec import Scenario, Server
from simbatch.scenario.timegrammar import NS, format_seconds

__all__ = ["MAX_POLLING", "warn_likely_mistakes"]

MAX_POLLING = 5 * 60 * NS
"""Polling slower than this is almost certainly a slip: F&O servers poll every minute."""

Warn = Callable[[Loc, str], None]


def warn_likely_mistakes(scenario: Scenario, warn: Warn) -> None:
    """Warn about settings that are valid but almost certainly not what the author meant."""
    servers = scenario.document.get("servers") or {}
    for server in scenario.servers:
        written = servers.get(server.name) or {}
        if isinstance(written, dict) and "threads" in written and _periods_cover_the_day(server):
            warn(("servers", server.name, "threads"), f"threads: {server.threads} is never"
                 " used: the periods cover the whole day; remove it, or shorten a period")
    if scenario.polling > MAX_POLLING:
        warn(("polling",), f"polling every {format_seconds(scenario.polling / NS)} is far"
             " slower than F&O's one minute; idle servers will leave work waiting that long")
    end = scenario.end
    for job in scenario.jobs:
        if job.recurrence is None or job.start >= end:
            continue  # a job that starts after the horizon has its own warning
        slots = Slots(job.recurrence, job.start, scenario.start, scenario.horizon)
        if slots.first() is None:
            what = "cron expression" if job.recurrence.cron is not None else "recurrence"
            warn(("jobs", job.name, "recurrence"), f"the {what}'s first slot falls after the"
                 f" horizon ({end:%Y-%m-%d %H:%M}) or its range, so the job never runs")


def _periods_cover_the_day(server: Server) -> bool:
    """Whether a server's periods together cover every second of the day."""
    if not server.periods:
        return False
    covered = 0
    for period in server.periods:
        covered += (period.end - period.start) % DAY or DAY
    return covered >= DAY
