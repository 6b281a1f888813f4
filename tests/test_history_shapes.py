"""Every shape of batch history an F&O tenant can export, built here from the documented
field lists (Microsoft's Common Data Model table definitions and the BatchJobHistoryEntity
data entity), never from simbatch's own export: SQL dumps in upper case, local-time dumps,
the entity as CSV and OData JSON, workbooks with an extra sheet, numeric and label
priorities, and the history cap of each F&O version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import simbatch
from simbatch.history.tables import recognise

UTC = "UTC"


def write(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    path = folder / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def upper(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k.upper(): v for k, v in row.items()} for row in rows]


# Two runs of job 1 (tasks 11 -> 12), one run of job 2 (task 21); SQL dumps carry the
# system fields too (PARTITION, RECVERSION, DATAAREAID), which no table is recognised by.
SYSTEM = {"Partition": 5637144576, "RecVersion": 1}
JOB_RUNS = [
    {"RecId": 501, "BatchJobId": 1, "Caption": "Invoices", "Status": 4,
     "OrigStartDateTime": "2026-01-05 22:00:00", "StartDateTime": "2026-01-05 22:00:20",
     "EndDateTime": "2026-01-05 22:10:00", "Company": "usmf", "ExecutedBy": "Admin",
     "AlertsProcessed": 1, "BatchCreatedBy": "Admin", "CanceledBy": "", "Finishing": 0,
     "DataPartition": "initial", **SYSTEM},
    {"RecId": 502, "BatchJobId": 1, "Caption": "Invoices", "Status": 3,
     "OrigStartDateTime": "2026-01-06 22:00:00", "StartDateTime": "2026-01-06 22:00:20",
     "EndDateTime": "2026-01-06 22:05:00", "Company": "usmf", "ExecutedBy": "Admin",
     "AlertsProcessed": 1, "BatchCreatedBy": "Admin", "CanceledBy": "", "Finishing": 0,
     "DataPartition": "initial", **SYSTEM},
    {"RecId": 503, "BatchJobId": 2, "Caption": "Cleanup", "Status": 4,
     "OrigStartDateTime": "2026-01-06 03:00:00", "StartDateTime": "2026-01-06 03:00:05",
     "EndDateTime": "2026-01-06 03:01:00", "Company": "usmf", "ExecutedBy": "Admin",
     "AlertsProcessed": 1, "BatchCreatedBy": "Admin", "CanceledBy": "", "Finishing": 0,
     "DataPartition": "initial", **SYSTEM},
]


def task_run(recid: int, run: int, job: int, task: int, caption: str, status: int,
             start: str, end: str, retries: int = 0) -> dict[str, Any]:
    return {"RecId": recid, "BatchJobHistoryId": run, "BatchJobId": job, "BatchId": task,
            "Caption": caption, "ClassNumber": 1000 + task, "ServerId": "AOS1",
            "Status": status, "StartDateTime": start, "EndDateTime": end,
            "retryCount": retries, "retriesOnFailure": 3 if task == 11 else "",
            "RuntimeTask": 0, "Company": "usmf", "ExecutedBy": "Admin", "ExceptionCode": 0,
            "Priority": 0, "RunType": 0, "SessionIdx": 7,
            "SessionLoginDateTime": "2026-01-05 21:59:00", "DataPartition": "initial",
            **SYSTEM}


TASK_RUNS = [
    task_run(9001, 501, 1, 11, "Post", 4, "2026-01-05 22:00:20", "2026-01-05 22:05:00"),
    task_run(9002, 501, 1, 12, "Print", 4, "2026-01-05 22:05:00", "2026-01-05 22:10:00"),
    task_run(9003, 502, 1, 11, "Post", 3, "2026-01-06 22:00:20", "2026-01-06 22:05:00", 2),
    task_run(9004, 502, 1, 12, "Print", 6, "", ""),
    task_run(9005, 503, 2, 21, "Purge", 4, "2026-01-06 03:00:05", "2026-01-06 03:01:00"),
]
# BatchId and DependsOnBatchId point to BatchHistory.RecId: one row per run
CONSTRAINTS_HISTORY = [
    {"RecId": 1, "BatchId": 9002, "DependsOnBatchId": 9001, "ExpectedStatus": 4, **SYSTEM},
    {"RecId": 2, "BatchId": 9004, "DependsOnBatchId": 9003, "ExpectedStatus": 4, **SYSTEM},
]
BATCH = [
    {"RecId": 11, "BatchJobId": 1, "Caption": "Post", "ClassNumber": 1011, "GroupId": "FIN",
     "ConstraintType": 0, "IgnoreOnFail": 0, "retriesOnFailure": 3, "retryCount": 0,
     "AutomaticTransaction": 0, "PrivateTask": 0, "RunTimeTask": 0, "Status": 1, **SYSTEM},
    {"RecId": 12, "BatchJobId": 1, "Caption": "Print", "ClassNumber": 1012, "GroupId": "",
     "ConstraintType": 1, "IgnoreOnFail": 1, "retriesOnFailure": 1, "retryCount": 0,
     "AutomaticTransaction": 0, "PrivateTask": 0, "RunTimeTask": 0, "Status": 1, **SYSTEM},
]
# a full BatchJob dump: it has ORIGSTARTDATETIME and STATUS too, but no BATCHJOBID
BATCH_JOB = [
    {"RecId": 1, "Caption": "Invoices", "Status": 1, "OrigStartDateTime": "2026-01-07 22:00:00",
     "StartDateTime": "2026-01-06 22:00:20", "EndDateTime": "2026-01-06 22:05:00",
     "BatchGroup": "FIN", "SchedulingPriority": 3, "SchedulingPriorityIsOverridden": 1,
     "LogLevel": 0, "recurrenceData": "0x0001", "RuntimeJob": 0, "Critical": 0,
     "MonitoringCategory": 0, "Managed": 0, "ActivePeriod": "", "ExecutingBy": "Admin",
     "Company": "usmf", **SYSTEM},
    {"RecId": 2, "Caption": "Cleanup", "Status": 1, "OrigStartDateTime": "2026-01-07 03:00:00",
     "StartDateTime": "2026-01-06 03:00:05", "EndDateTime": "2026-01-06 03:01:00",
     "BatchGroup": "OPS", "SchedulingPriority": 1, "SchedulingPriorityIsOverridden": 0,
     "LogLevel": 1, "recurrenceData": "", "RuntimeJob": 0, "Critical": 0,
     "MonitoringCategory": 0, "Managed": 0, "ActivePeriod": "", "ExecutingBy": "Admin",
     "Company": "usmf", **SYSTEM},
]
BATCH_GROUP = [{"Group": "FIN", "Description": "Finance", "SchedulingPriority": 2},
               {"Group": "OPS", "Description": "Operations", "SchedulingPriority": 0},
               {"Group": "", "Description": "Empty batch group", "SchedulingPriority": 1}]


def sql_dump(folder: Path) -> list[Path]:
    return [write(folder, "BATCHJOBHISTORY.csv", upper(JOB_RUNS)),
            write(folder, "BATCHHISTORY.csv", upper(TASK_RUNS)),
            write(folder, "BATCHCONSTRAINTSHISTORY.csv", upper(CONSTRAINTS_HISTORY)),
            write(folder, "BATCH.csv", upper(BATCH)),
            write(folder, "BATCHJOB.csv", upper(BATCH_JOB)),
            write(folder, "BATCHGROUP.csv", upper(BATCH_GROUP))]


def test_an_upper_case_sql_dump_with_constraints_history(tmp_path: Path) -> None:
    history = simbatch.read_history(*sql_dump(tmp_path))
    assert history.level == "task"
    assert history.constraints_source == "BatchConstraintsHistory"
    # BatchHistory.RecId ids translated to task ids, each valid for its own run
    assert history.constraints.to_dict("records") == [
        {"task_id": 12, "depends_on": 11, "expect": "ended", "run_id": 501},
        {"task_id": 12, "depends_on": 11, "expect": "ended", "run_id": 502}]
    assert ("dependencies from BatchConstraintsHistory, per run: 2 of 2 rows, for 2 of 3 job"
            " runs") in history.notes
    tasks = history.tasks
    assert tasks.history_id.tolist() == [9001, 9002, 9003, 9004, 9005]
    assert tasks.constraint_type.tolist()[:4] == ["all", "any", "all", "any"]
    assert pd.isna(tasks.constraint_type.iloc[4])
    assert tasks.ignore_on_fail.tolist()[:4] == [False, True, False, True]
    # retriesOnFailure from BatchHistory (3 on task 11), else from Batch (1 on task 12)
    assert tasks.retry_limit.tolist()[:4] == [3, 1, 3, 1]
    assert tasks.group.astype(str).tolist() == ["FIN", "FIN", "FIN", "FIN", "OPS"]
    jobs = history.jobs
    assert jobs.priority.astype(str).tolist() == ["critical", "critical", "low"]
    assert jobs.priority_source.astype(str).tolist() == ["BatchJob", "BatchJob", "BatchGroup"]
    assert jobs.log_level.astype(str).tolist() == ["always", "always", "errors only"]
    assert history.batch_jobs is not None
    assert history.batch_jobs.to_dict("list") | {"start": None} == {
        "job_id": [1, 2], "job": ["Invoices", "Cleanup"], "group": ["FIN", "OPS"],
        "priority": ["critical", "low"], "priority_source": ["BatchJob", "BatchGroup"],
        "log_level": ["always", "errors only"], "recurrence": ["0x0001", None], "start": None}
    assert history.batch_jobs.start.tolist() == [pd.Timestamp("2026-01-07 22:00", tz=UTC),
                                                 pd.Timestamp("2026-01-07 03:00", tz=UTC)]
    assert any(g.startswith("1 jobs have the log level 'errors only'") for g in history.gaps)


def test_constraints_history_without_batch_history_recids_falls_back(tmp_path: Path) -> None:
    tasks = [{k: v for k, v in row.items() if k != "RecId"} for row in TASK_RUNS]
    paths = [write(tmp_path, "jobs.csv", JOB_RUNS), write(tmp_path, "tasks.csv", tasks),
             write(tmp_path, "BatchConstraintsHistory.csv", CONSTRAINTS_HISTORY)]
    history = simbatch.read_history(*paths)
    assert history.constraints_source == "timing"
    assert history.constraints.empty
    assert any("has no RecId column: it cannot be used" in n for n in history.notes)


def test_plain_batch_constraints_hold_for_every_run(tmp_path: Path) -> None:
    plain = [{"BatchId": 12, "DependsOnBatchId": 11, "ExpectedStatus": "Finished"}]
    paths = [write(tmp_path, "jobs.csv", JOB_RUNS), write(tmp_path, "tasks.csv", TASK_RUNS),
             write(tmp_path, "deps.csv", plain)]
    history = simbatch.read_history(*paths)
    assert history.constraints_source == "BatchConstraints"
    assert history.constraints.to_dict("records") == [
        {"task_id": 12, "depends_on": 11, "expect": "ended", "run_id": None}]
    assert ("dependencies from BatchConstraints (today's task definitions), for every one of"
            " the 3 job runs") in history.notes


def test_a_batch_job_dump_is_never_taken_for_batch_job_history() -> None:
    header = [k.upper() for k in BATCH_JOB[0]]
    found = recognise("BATCHJOB.csv", header)
    assert found is not None and found[0] == "BatchJob"
    found = recognise("x.csv", [k.upper() for k in JOB_RUNS[0]])
    assert found is not None and found[0] == "BatchJobHistory"
    found = recognise("x.csv", [k.upper() for k in TASK_RUNS[0]])
    assert found is not None and found[0] == "BatchHistory"
    found = recognise("x.csv", [k.upper() for k in BATCH[0]])
    assert found is not None and found[0] == "Batch"
    assert recognise("x.csv", ["SELECT * FROM BATCHJOB"]) is None


def test_a_local_time_dump_across_a_dst_change(tmp_path: Path) -> None:
    # Europe/Amsterdam: clocks go forward on 2026-03-29 and back on 2026-10-25
    jobs = [{**JOB_RUNS[0], "RecId": 600 + i, "OrigStartDateTime": f"{day} 22:00:00",
             "StartDateTime": f"{day} 22:00:00", "EndDateTime": f"{day} 22:10:00"}
            for i, day in enumerate(["2026-03-28", "2026-03-29"])]
    jobs.append({**JOB_RUNS[0], "RecId": 610, "OrigStartDateTime": "2026-10-25 02:30:00",
                 "StartDateTime": "2026-03-29 02:30:00",  # does not exist: one hour later
                 "EndDateTime": "2026-10-25T02:40:00+01:00"})  # an offset is honoured
    paths = [write(tmp_path, "jobs.csv", jobs)]
    history = simbatch.read_history(*paths, times_in="Europe/Amsterdam")
    assert history.jobs.scheduled.tolist() == [
        pd.Timestamp("2026-03-28 21:00", tz=UTC), pd.Timestamp("2026-03-29 20:00", tz=UTC),
        pd.Timestamp("2026-10-25 00:30", tz=UTC)]  # repeated 02:30: its first occurrence
    assert history.jobs.start.iloc[2] == pd.Timestamp("2026-03-29 01:30", tz=UTC)
    assert history.jobs.end.iloc[2] == pd.Timestamp("2026-10-25 01:40", tz=UTC)
    assert ("8 times without an offset read as local time in Europe/Amsterdam and converted"
            " to UTC") in history.notes
    assert any(n.startswith("2 of them fall where Europe/Amsterdam's clocks change")
               for n in history.notes)
    utc = simbatch.read_history(*paths)
    assert utc.jobs.scheduled.iloc[1] == pd.Timestamp("2026-03-29 22:00", tz=UTC)


ENTITY = [{"BatchJobId": 5637144577, "JobDescription": "Post invoices", "Status": "Finished",
           "OrigStartDateTime": "2026-01-05T22:00:00Z", "StartDateTime": "2026-01-05T22:00:31Z",
           "EndDateTime": "2026-01-05T22:12:00Z", "Company": "usmf", "BatchCreatedBy": "Admin",
           "CanceledBy": "", "AlertsProcessed": "Yes", "Finishing": "No",
           "DataPartition": "initial"},
          {"BatchJobId": 5637144577, "JobDescription": "Post invoices", "Status": "Error",
           "OrigStartDateTime": "2026-01-06T22:00:00Z", "StartDateTime": "2026-01-06T22:00:40Z",
           "EndDateTime": "2026-01-06T22:03:00Z", "Company": "usmf", "BatchCreatedBy": "Admin",
           "CanceledBy": "", "AlertsProcessed": "Yes", "Finishing": "No",
           "DataPartition": "initial"}]


def check_job_level(history: simbatch.History) -> None:
    assert history.level == "job"
    assert history.jobs.run_id.tolist() == [1, 2]
    assert history.jobs.job.astype(str).tolist() == ["Post invoices"] * 2
    assert history.jobs.status.tolist() == ["Ended", "Error"]
    tasks = history.tasks
    assert tasks.task_id.tolist() == [5637144577] * 2
    assert tasks.task.astype(str).tolist() == ["Post invoices"] * 2
    assert tasks.start.tolist() == history.jobs.start.tolist()
    assert tasks.retries.tolist() == [0, 0] and not tasks.runtime.any()
    assert tasks.server.isna().all()
    assert any(g.startswith("no BatchHistory table: a job-level history") for g in history.gaps)


def test_the_entity_as_csv(tmp_path: Path) -> None:
    check_job_level(simbatch.read_history(write(tmp_path, "BatchJobHistories.csv", ENTITY)))


def test_the_entity_as_odata_json_in_camel_case(tmp_path: Path) -> None:
    camel = [{k[0].lower() + k[1:]: v for k, v in row.items()} for row in ENTITY]
    path = tmp_path / "BatchJobHistories.json"
    path.write_text(json.dumps({"@odata.context": "https://x/data/$metadata#BatchJobHistories",
                                "value": [{"@odata.etag": "W/\"1\"", **r} for r in camel]}))
    check_job_level(simbatch.read_history(path))
    pascal = tmp_path / "pascal.json"
    pascal.write_text(json.dumps(ENTITY))
    check_job_level(simbatch.read_history(pascal))


def test_a_workbook_with_an_extra_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    query = book.active
    assert query is not None
    query.title = "Query"
    query.append(["SELECT * FROM BATCHJOBHISTORY WHERE STARTDATETIME > '2026-01-01'"])
    for title, rows in (("Jobs", JOB_RUNS), ("Tasks", TASK_RUNS)):
        sheet = book.create_sheet(title)
        sheet.append(list(rows[0]))
        for row in rows:
            sheet.append([None if v == "" else v for v in row.values()])
    book.create_sheet("Empty")
    path = tmp_path / "export.xlsx"
    book.save(path)
    history = simbatch.read_history(path)
    assert len(history.jobs) == 3 and len(history.tasks) == 5
    assert (f"{path}[Query]: not a batch table (columns: SELECT * FROM BATCHJOBHISTORY WHERE"
            " STAR); skipped") in history.notes
    assert f"{path}[Empty]: an empty sheet; skipped" in history.notes


@pytest.mark.parametrize(("job", "group", "codes", "expected"), [
    ("Critical", "High", None, ["critical", "high"]),
    ("3", "2", None, ["critical", "high"]),
    (" reserved capacity ", "0", None, ["reserved", "low"]),
    ("7", "2", {7: "high"}, ["high", "high"]),
])
def test_numeric_and_label_priorities(job: str, group: str, codes: dict[int, str] | None,
                                      expected: list[str]) -> None:
    batch_job = pd.DataFrame({"RecId": [1, 2], "BatchGroup": ["FIN", "OPS"],
                              "SchedulingPriority": [job, "1"],
                              "SchedulingPriorityIsOverridden": [1, 0]})
    groups = pd.DataFrame({"Group": ["FIN", "OPS"], "SchedulingPriority": ["1", group]})
    history = simbatch.History.from_tables(pd.DataFrame(JOB_RUNS), pd.DataFrame(TASK_RUNS),
                                           batch_job=batch_job, batch_group=groups,
                                           priority_codes=codes)
    assert history.jobs.drop_duplicates("job_id").priority.astype(str).tolist() == expected


def test_an_unknown_numeric_priority_names_file_row_column_and_value() -> None:
    batch_job = pd.DataFrame({"RecId": [1, 2], "BatchGroup": ["FIN", "OPS"],
                              "SchedulingPriority": [2, 9]})
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.History.from_tables(pd.DataFrame(JOB_RUNS), pd.DataFrame(TASK_RUNS),
                                     batch_job=batch_job, source="export")
    assert str(caught.value) == (
        "export[BatchJob]: row 3, column SchedulingPriority: unknown priority '9' (labels or"
        " numbers: 0 low, 1 normal, 2 high, 3 critical, 4 reserved)")


def capped_history(folder: Path, rows: int, version: str | None) -> simbatch.History:
    tasks = [task_run(10_000 + i, 503, 2, 100 + i, "Split", 4, "2026-01-06 03:00:05",
                      "2026-01-06 03:01:00") for i in range(rows)]
    paths = [write(folder, "jobs.csv", JOB_RUNS), write(folder, "tasks.csv", tasks)]
    return simbatch.read_history(*paths, fo_version=version)


@pytest.mark.parametrize(("rows", "version", "capped"), [
    (2500, None, True), (2500, "10.0.39", True), (2500, "10.0.38", False),
    (1000, "10.0.38", True), (1000, None, False), (999, "10.0.20", False)])
def test_the_history_cap_of_each_version(tmp_path: Path, rows: int, version: str | None,
                                         capped: bool) -> None:
    history = capped_history(tmp_path, rows, version)
    assert history.jobs.capped.tolist() == [False, False, capped]
    flagged = [g for g in history.gaps if "F&O's cap" in g]
    assert bool(flagged) == capped
    if capped and rows == 2500:
        assert flagged == ["1 runs have exactly 2,500 task rows, F&O's cap for jobs of more"
                           " than 5,000 tasks (10.0.39 on); their task counts are lower"
                           " bounds: Cleanup"]


def daily(hours: list[int]) -> list[dict[str, Any]]:
    """A daily job's runs from 2026-03-26 to 2026-04-01, due at the given UTC hours."""
    days = pd.date_range("2026-03-26", "2026-04-01", freq="D")
    return [{**JOB_RUNS[0], "RecId": 700 + i, "OrigStartDateTime": f"{d:%Y-%m-%d} {h}:00:00",
             "StartDateTime": f"{d:%Y-%m-%d} {h}:00:10", "EndDateTime": f"{d:%Y-%m-%d} {h}:05:00"}
            for i, (d, h) in enumerate(zip(days, hours, strict=True))]


def test_times_that_look_local_are_warned_about(tmp_path: Path) -> None:
    # the raw clock time stays 22:00 across 2026-03-29, Amsterdam's change to summer time
    local = write(tmp_path, "local.csv", daily([22] * 7))
    history = simbatch.read_history(local)
    assert history.looks_local("Europe/Amsterdam") == (
        "1 daily jobs keep the same clock time across a daylight-saving change of"
        " Europe/Amsterdam (Invoices): the export's times look local, not UTC; if it converted"
        " them, read it with --times-in Europe/Amsterdam (times_in=)")
    assert history.looks_local("UTC") is None  # no change in the scenario's zone
    assert simbatch.read_history(local, times_in="Europe/Amsterdam").looks_local(
        "Europe/Amsterdam") is None
    # a job due at 22:00 Amsterdam time, stored in UTC: 21:00, then 20:00 from 03-29
    utc = write(tmp_path, "utc.csv", daily([21, 21, 21, 20, 20, 20, 20]))
    assert simbatch.read_history(utc).looks_local("Europe/Amsterdam") is None


def test_the_cli_reads_with_the_stated_zone_and_version(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    from simbatch.cli.main import main

    local = write(tmp_path, "local.csv", daily([22] * 7))
    out = str(tmp_path / "s.yaml")
    assert main(["calibrate", str(local), "--timezone", "Europe/Amsterdam", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "  warning: 1 daily jobs keep the same clock time" in printed
    assert main(["calibrate", str(local), "--times-in", "Europe/Amsterdam", "--fo-version",
                 "10.0.38", "--timezone", "Europe/Amsterdam", "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "warning" not in printed
    assert ("  read: 21 times without an offset read as local time in Europe/Amsterdam and"
            " converted to UTC\n") in printed
    assert ("  read: history cap (before 10.0.39): jobs of more than 4,000 tasks keep 1,000"
            " task rows; 0 runs have exactly 1,000 (jobs.capped)\n") in printed
