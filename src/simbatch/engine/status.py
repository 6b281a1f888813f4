"""Status and cause codes of task attempts, shared by the compiler, the model and replays."""

from __future__ import annotations

__all__ = ["ABSENT", "CAUSES", "DIDNT_RUN", "ENDED", "ERROR", "EXECUTING", "EXPECT", "FAILED",
           "OK", "READY", "RESTART", "STATUS", "TRANSIENT", "WAITING"]

WAITING, READY, EXECUTING, ENDED, ERROR, DIDNT_RUN, ABSENT = range(7)
STATUS = ("Waiting", "Ready", "Executing", "Ended", "Error", "Didn't run")
"""Status names by code; ``ABSENT`` marks a runtime child slot this run never created."""
OK, FAILED, RESTART, TRANSIENT = range(4)
CAUSES = (None, "failed", "restart", "transient")
"""Why an attempt ended in Error, by code (``OK``: it did not)."""
EXPECT = {"ended": 1 << ENDED, "error": 1 << ERROR, "ended or error": (1 << ENDED) | (1 << ERROR)}
"""A dependency's expected status as the set of final status codes (bits) that meet it."""
