"""F&O's batch tables as simbatch reads them: their fields, and the enums in their cells.

The field lists are those of Microsoft's Common Data Model definitions of the tables
(``schemaDocuments/core/operationsCommon/Tables/System/SystemAdministration``: Transaction/
Batch, BatchJob, BatchHistory, BatchJobHistory, BatchConstraints, BatchConstraintsHistory;
Group/BatchGroup) and of the data entity BatchJobHistoryEntity (OData set
BatchJobHistories). ``simbatch.history.tables`` recognises a table by these fields, case
aside; ``simbatch.history.cells`` reads a status, an expected status, a priority, a log
level or a constraint type from a label or an enum number.
"""

from __future__ import annotations

__all__ = ["CONSTRAINT_CODES", "CONSTRAINT_WORDS", "DEPENDENCY_CODES", "DEPENDENCY_WORDS",
           "FIELDS", "HISTORY_CAP", "LOG_LEVEL_CODES", "LOG_LEVEL_WORDS", "NO_TIME_DATES",
           "PRIORITY_CODES", "PRIORITY_WORDS", "REQUIRED", "STATUS_CODES", "STATUS_WORDS",
           "TABLES", "history_cap"]

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
"""A status as written in an export (lower case, apostrophes dropped) -> its label."""
DEPENDENCY_CODES: dict[int, str] = {3: "error", 4: "ended", 250: "ended or error"}
"""The BatchDependencyStatus enum (BatchConstraints.ExpectedStatus): Error 3, Finished 4,
FinishedOrError 250."""
DEPENDENCY_WORDS = {"error": "error", "ended": "ended", "finished": "ended",
                    "ended or error": "ended or error", "finishedorerror": "ended or error",
                    "finished or error": "ended or error"}
"""An expected status as written -> simbatch's word for it."""
PRIORITY_CODES: dict[int, str] = {0: "low", 1: "normal", 2: "high", 3: "critical",
                                  4: "reserved"}
"""BatchJob.SchedulingPriority and BatchGroup.SchedulingPriority as numbers (the
BatchSchedulingPriority enum) -> the scenario's priority.

Inferred: the public docs list the priorities in this order (Low, Normal, High, Critical,
Reserved capacity) but do not give the enum's numbers; ``read_history(priority_codes=)``
overrides this mapping."""
PRIORITY_WORDS = {"low": "low", "normal": "normal", "high": "high", "critical": "critical",
                  "reserved": "reserved", "reserved capacity": "reserved",
                  "reservedcapacity": "reserved"}
"""A priority as written -> the scenario's priority."""
LOG_LEVEL_CODES: dict[int, str] = {0: "always", 1: "errors only", 2: "never"}
"""BatchJob.LogLevel ("Save job to history") as a number -> its label. Inferred from the
order the batch job form lists the choices (Always, Errors only, Never); labels are read
as well."""
LOG_LEVEL_WORDS = {"always": "always", "all": "always", "errors only": "errors only",
                   "errorsonly": "errors only", "error": "errors only",
                   "errors": "errors only", "never": "never", "none": "never"}
"""A log level as written -> its label."""
CONSTRAINT_CODES: dict[int, str] = {0: "all", 1: "any"}
"""Batch.ConstraintType: All 0, Any 1."""
CONSTRAINT_WORDS = {"all": "all", "any": "any"}
"""A constraint type as written -> its label."""

_COMMON = ("RecId", "DataPartition")
TABLES: dict[str, tuple[str, ...]] = {
    "BatchJobHistory": (*_COMMON, "BatchJobId", "Caption", "Status", "OrigStartDateTime",
                        "StartDateTime", "EndDateTime", "Company", "ExecutedBy",
                        "AlertsProcessed", "BatchCreatedBy", "CanceledBy", "Finishing"),
    "BatchHistory": (*_COMMON, "BatchJobHistoryId", "BatchJobId", "BatchId", "Caption",
                     "ClassNumber", "ServerId", "Status", "StartDateTime", "EndDateTime",
                     "retryCount", "retriesOnFailure", "RuntimeTask", "Company", "ExecutedBy",
                     "ExceptionCode", "Info", "Parameters", "Priority", "RunType",
                     "SessionIdx", "SessionLoginDateTime"),
    "Batch": (*_COMMON, "GroupId", "BatchJobId", "Caption", "ClassNumber", "ConstraintType",
              "IgnoreOnFail", "retriesOnFailure", "retryCount", "AutomaticTransaction",
              "Company", "EndDateTime", "ExceptionCode", "ExecutedBy", "Info", "Parameters",
              "Priority", "PrivateTask", "RunTimeTask", "RunType", "ServerId", "SessionIdx",
              "SessionLoginDateTime", "StartDateTime", "Status"),
    "BatchJob": (*_COMMON, "BatchGroup", "Caption", "SchedulingPriority",
                 "SchedulingPriorityIsOverridden", "LogLevel", "OrigStartDateTime",
                 "recurrenceData", "Priority", "CanceledBy", "Company", "EndDateTime",
                 "Finishing", "RuntimeJob", "StartDateTime", "Status", "StartDate",
                 "StartTime", "Critical", "MonitoringCategory", "Managed", "ActivePeriod",
                 "ExecutingBy"),
    "BatchGroup": (*_COMMON, "Group", "Description", "SchedulingPriority"),
    "BatchConstraints": (*_COMMON, "BatchId", "DependsOnBatchId", "ExpectedStatus"),
    "BatchJobHistories": ("BatchJobId", "JobDescription", "Status", "OrigStartDateTime",
                          "StartDateTime", "EndDateTime", "Company", "ExecutedBy",
                          "AlertsProcessed", "BatchCreatedBy", "CanceledBy", "Finishing",
                          "DataPartition"),
}
"""Every field of each table simbatch reads, in F&O's spelling. ``BatchConstraints`` stands
for BatchConstraintsHistory too: the two have the same fields, and the reader tells them
apart by what their ids point to. ``BatchJob.Priority`` is not an F&O field: it is read
as the job's priority, as simbatch's first versions did."""
REQUIRED: dict[str, tuple[str, ...]] = {
    "BatchJobHistory": ("RecId", "BatchJobId", "Status", "OrigStartDateTime", "StartDateTime",
                        "EndDateTime"),
    "BatchHistory": ("BatchJobHistoryId", "BatchJobId", "BatchId", "Status", "StartDateTime",
                     "EndDateTime"),
    "Batch": ("RecId",),
    "BatchJob": ("RecId",),
    "BatchGroup": ("Group",),
    "BatchConstraints": ("BatchId", "DependsOnBatchId", "ExpectedStatus"),
    "BatchJobHistories": ("BatchJobId", "Status", "OrigStartDateTime", "StartDateTime",
                          "EndDateTime"),
}
"""The fields without which a table cannot be used."""
FIELDS: frozenset[str] = frozenset(f.lower() for fields in TABLES.values() for f in fields)
"""Every field of every table, lower case."""

NO_TIME_DATES = frozenset({(1900, 1, 1), (2154, 12, 31), (9999, 12, 31), (1, 1, 1),
                           (1753, 1, 1)})
"""Dates that mean "no time": F&O's empty utcdatetime (1900-01-01) and its "never"
(2154-12-31), and SQL Server's smallest and largest dates (0001-01-01, 1753-01-01,
9999-12-31)."""

HISTORY_CAP = {"10.0.39": (5000, 2500), "first": (4000, 1000)}
"""The history cap: a job of more than N tasks keeps only M task rows (errors first, then
canceled, ended, not run). From 10.0.39: more than 5,000 keep 2,500; before: more than
4,000 keep 1,000 (create-batch-job.md and its what's-new page)."""


def history_cap(fo_version: str | None) -> tuple[str, int, int]:
    """The cap rule of an F&O version ("10.0.38"; None: the current one): (rule, N, M)."""
    if fo_version is None:
        return "10.0.39", *HISTORY_CAP["10.0.39"]
    parts = fo_version.strip().split(".")
    if not (1 <= len(parts) <= 4) or not all(p.isdigit() and len(p) <= 6 for p in parts):
        from simbatch.errors import UsageError, excerpt
        raise UsageError(f"fo_version: expected a version such as 10.0.39, got"
                         f" {excerpt(fo_version)}")
    numbers = tuple(int(p) for p in parts) + (0,) * (3 - len(parts))
    if numbers >= (10, 0, 39):
        return "10.0.39", *HISTORY_CAP["10.0.39"]
    return "before 10.0.39", *HISTORY_CAP["first"]
