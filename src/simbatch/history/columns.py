"""F&O's batch tables as simbatch reads them: their columns, and the enums in their cells.

``simbatch.history.read`` recognises a table by these columns and reads a status, an
expected status or a priority from a label or an enum number.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CAPPED_ROWS", "DEPENDENCY_CODES", "DEPENDENCY_WORDS", "NULL_DATE", "PRIORITY_WORDS",
           "SIGNATURE", "STATUS_CODES", "STATUS_WORDS", "TABLES"]

STATUS_CODES: dict[int, str] = {
    0: "Withhold", 1: "Waiting", 2: "Executing", 3: "Error", 4: "Ended", 5: "Ready",
    6: "Didn't run", 7: "Canceling", 8: "Canceled", 9: "Scheduled",
}
"""The BatchStatus enum (one enum for jobs and tasks): value -> the label F&O shows.

Values from Microsoft's reference of the ``BatchStatus`` enum (Hold 0, Waiting 1,
Executing 2, Error 3, Finished 4, Ready 5, NotRun 6, Cancelling 7, Canceled 8,
Scheduled 9); the labels are the ones the F&O client shows."""
STATUS_WORDS: dict[str, str] = {
    **{label.lower(): label for label in STATUS_CODES.values()},
    "hold": "Withhold", "finished": "Ended", "notrun": "Didn't run", "not run": "Didn't run",
    "didnt run": "Didn't run", "cancelling": "Canceling", "cancelled": "Canceled",
}
DEPENDENCY_CODES: dict[int, str] = {3: "error", 4: "ended", 250: "ended or error"}
"""The BatchDependencyStatus enum (BatchConstraints.ExpectedStatus): Error 3, Finished 4,
FinishedOrError 250."""
"""A status as written in an export (lower case, apostrophes dropped) -> its label."""
DEPENDENCY_WORDS = {"error": "error", "ended": "ended", "finished": "ended",
                    "ended or error": "ended or error", "finishedorerror": "ended or error",
                    "finished or error": "ended or error"}
"""An expected status as written -> simbatch's word for it."""
PRIORITY_WORDS = {"low": "low", "normal": "normal", "high": "high", "critical": "critical",
                  "reserved": "reserved", "reserved capacity": "reserved",
                  "reservedcapacity": "reserved"}
"""A BatchJob priority as written -> the scenario's priority."""

TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "BatchJobHistory": (("RecId", "BatchJobId", "Status", "OrigStartDateTime", "StartDateTime",
                         "EndDateTime"), ("Caption", "Company", "ExecutedBy")),
    "BatchHistory": (("BatchJobHistoryId", "BatchJobId", "BatchId", "Status", "StartDateTime",
                      "EndDateTime"),
                     ("Caption", "ClassNumber", "ServerId", "retryCount", "RuntimeTask",
                      "Company", "ExecutedBy")),
    "Batch": (("RecId", "GroupId"), ("BatchJobId", "Caption", "ClassNumber")),
    "BatchJob": (("RecId", "BatchGroup"), ("Caption", "Priority")),
    "BatchConstraints": (("BatchId", "DependsOnBatchId", "ExpectedStatus"), ()),
}
"""Each table simbatch reads: (required columns, optional columns), F&O's exact names."""
SIGNATURE = {"BatchHistory": "BatchJobHistoryId", "BatchJobHistory": "OrigStartDateTime",
             "BatchConstraints": "DependsOnBatchId", "Batch": "GroupId",
             "BatchJob": "BatchGroup"}
"""The column that tells each table from the others."""
NULL_DATE = pd.Timestamp("1900-01-01", tz="UTC")
"""F&O's empty utcdatetime: read as missing."""
CAPPED_ROWS = 1000
"""F&O keeps only this many task rows of a run of a job with more than 4,000 tasks."""
