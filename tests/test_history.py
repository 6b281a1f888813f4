"""Reading F&O batch history exports, every bad-file case, and writing a Result back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import simbatch
from simbatch.cli.main import main
from simbatch.history.columns import STATUS_CODES
from simbatch.results.fo import record_id
from tests.conftest import scenario

JOBS = [
    {"RecId": 101, "BatchJobId": 1, "Caption": "Nightly", "Status": "Ended",
     "OrigStartDateTime": "2026-01-05 22:00:00", "StartDateTime": "2026-01-05 22:00:30",
     "EndDateTime": "2026-01-05 22:20:00", "Company": "DAT", "ExecutedBy": "Admin"},
    {"RecId": 102, "BatchJobId": 1, "Caption": "Nightly", "Status": "Error",
     "OrigStartDateTime": "2026-01-06 22:00:00", "StartDateTime": "2026-01-06T23:00:30+01:00",
     "EndDateTime": "2026-01-06 22:30:00", "Company": "DAT", "ExecutedBy": "Admin"},
]
TASKS = [
    {"BatchJobHistoryId": 101, "BatchJobId": 1, "BatchId": 11, "Caption": "Extract",
     "ClassNumber": 5001, "ServerId": "AOS1", "Status": "Ended",
     "StartDateTime": "2026-01-05 22:00:30", "EndDateTime": "2026-01-05 22:10:00",
     "retryCount": 0, "RuntimeTask": 0, "Company": "DAT"},
    {"BatchJobHistoryId": 101, "BatchJobId": 1, "BatchId": 12, "Caption": "Load",
     "ClassNumber": 5002, "ServerId": "AOS2", "Status": "Ended",
     "StartDateTime": "2026-01-05 22:10:00", "EndDateTime": "2026-01-05 22:20:00",
     "retryCount": 0, "RuntimeTask": 0, "Company": "DAT"},
    {"BatchJobHistoryId": 102, "BatchJobId": 1, "BatchId": 11, "Caption": "Extract",
     "ClassNumber": 5001, "ServerId": "AOS1", "Status": "Error",
     "StartDateTime": "2026-01-06 22:00:30", "EndDateTime": "2026-01-06 22:30:00",
     "retryCount": 2, "RuntimeTask": 0, "Company": "DAT"},
    {"BatchJobHistoryId": 102, "BatchJobId": 1, "BatchId": 12, "Caption": "Load",
     "ClassNumber": 5002, "ServerId": "", "Status": "Didn't run",
     "StartDateTime": "", "EndDateTime": "", "retryCount": 0, "RuntimeTask": 0,
     "Company": "DAT"},
]


def write(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    path = folder / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def pair(tmp_path: Path, jobs: list[dict[str, Any]] | None = None,
         tasks: list[dict[str, Any]] | None = None) -> tuple[Path, Path]:
    return (write(tmp_path, "jobs.csv", JOBS if jobs is None else jobs),
            write(tmp_path, "tasks.csv", TASKS if tasks is None else tasks))


def test_reads_tidy_tables_with_utc_times(tmp_path: Path) -> None:
    history = simbatch.read_history(*pair(tmp_path))
    jobs, tasks = history.jobs, history.tasks
    assert list(jobs.columns[:7]) == ["run_id", "job_id", "job", "status", "scheduled", "start",
                                      "end"]
    assert {"company", "group", "priority"} <= set(jobs.columns)
    assert list(tasks.columns[:12]) == ["run_id", "job_id", "job", "task_id", "task",
                                        "class_number", "server", "status", "start", "end",
                                        "retries", "runtime"]
    assert "group" in tasks.columns
    assert jobs.run_id.tolist() == [101, 102]
    assert jobs.status.tolist() == ["Ended", "Error"]
    for column in ("scheduled", "start", "end"):
        assert str(jobs[column].dt.tz) == "UTC"
    # a naive time means UTC; an explicit offset is honoured
    assert jobs.start.iloc[1] == pd.Timestamp("2026-01-06 22:00:30", tz="UTC")
    assert tasks.retries.tolist() == [0, 0, 2, 0]
    assert tasks.server.isna().tolist() == [False, False, False, True]
    assert tasks.start.isna().tolist() == [False, False, False, True]
    assert tasks.job.astype(str).tolist() == ["Nightly"] * 4
    assert jobs.group.isna().all() and jobs.priority.isna().all()
    assert "no BatchConstraints table: dependencies are inferred from timing" in history.gaps
    assert history.constraints.empty
    assert list(history.constraints.columns) == ["task_id", "depends_on", "expect", "run_id"]


def test_statuses_as_numbers_and_labels() -> None:
    assert STATUS_CODES == {0: "Withhold", 1: "Waiting", 2: "Executing", 3: "Error",
                            4: "Ended", 5: "Ready", 6: "Didn't run", 7: "Canceling",
                            8: "Canceled", 9: "Scheduled"}
    jobs = pd.DataFrame(JOBS).assign(Status=[4, "finished"])
    tasks = pd.DataFrame(TASKS).assign(Status=["4", 4, "Error", "NotRun"])
    history = simbatch.History.from_tables(jobs, tasks)
    assert history.jobs.status.tolist() == ["Ended", "Ended"]
    assert history.tasks.status.tolist() == ["Ended", "Ended", "Error", "Didn't run"]


def test_optional_tables_give_groups_priorities_and_dependencies() -> None:
    batch = pd.DataFrame({"RecId": [11, 12], "GroupId": ["Extracts", ""]})
    batch_job = pd.DataFrame({"RecId": [1], "BatchGroup": ["Nights"], "Priority": ["High"]})
    constraints = pd.DataFrame({"BatchId": [12], "DependsOnBatchId": [11],
                                "ExpectedStatus": [4]})
    history = simbatch.History.from_tables(pd.DataFrame(JOBS), pd.DataFrame(TASKS), batch,
                                           batch_job, constraints)
    assert history.tasks.group.astype(str).tolist() == ["Extracts", "Nights", "Extracts",
                                                         "Nights"]
    assert history.jobs.priority.astype(str).tolist() == ["high", "high"]
    assert history.constraints.to_dict("records") == [
        {"task_id": 12, "depends_on": 11, "expect": "ended", "run_id": None}]


def test_optional_columns_may_be_missing_and_gaps_say_what_is_lost(tmp_path: Path) -> None:
    jobs = [{k: v for k, v in row.items() if k not in ("Caption", "Company", "ExecutedBy")}
            for row in JOBS]
    tasks = [{k: v for k, v in row.items() if k in ("BatchJobHistoryId", "BatchJobId",
                                                    "BatchId", "Status", "StartDateTime",
                                                    "EndDateTime")} for row in TASKS]
    history = simbatch.read_history(*pair(tmp_path, jobs, tasks))
    assert history.jobs.job.astype(str).tolist() == ["Job 1", "Job 1"]
    assert history.tasks.task.astype(str).tolist() == ["Task 11", "Task 12", "Task 11",
                                                       "Task 12"]
    assert history.tasks.retries.eq(0).all() and not history.tasks.runtime.any()
    assert history.gaps[:7] == (
        "no Caption column in BatchJobHistory: jobs are named by BatchJobId",
        "no Caption column in BatchHistory: tasks are named by ClassNumber (or BatchId)",
        "no ServerId column in BatchHistory: servers and their peak concurrency are unknown",
        "no retryCount column in BatchHistory: retries are unknown; failure shares count"
        " final errors only",
        "no RuntimeTask column in BatchHistory: runtime tasks cannot be told from static ones",
        "no ClassNumber column in BatchHistory: tasks without a Caption cannot be grouped by"
        " class",
        "no Company column in BatchJobHistory: companies are unknown",
    )


def test_gaps_name_runs_without_task_rows_capped_runs_and_missing_days(tmp_path: Path) -> None:
    jobs = [*JOBS, {**JOBS[0], "RecId": 103, "Caption": "Errors only",
                    "OrigStartDateTime": "2026-01-09 22:00:00",
                    "StartDateTime": "2026-01-09 22:00:00",
                    "EndDateTime": "2026-01-09 22:01:00"}]
    tasks = [*TASKS, *({**TASKS[0], "BatchJobHistoryId": 103, "BatchId": 1000 + i}
                       for i in range(1000))]
    # the cap rule of the version stated (before 10.0.39: more than 4,000 tasks keep 1,000)
    history = simbatch.read_history(*pair(tmp_path, jobs, tasks), fo_version="10.0.38")
    assert ("1 runs have exactly 1,000 task rows, F&O's cap for jobs of more than 4,000 tasks"
            " (before 10.0.39); their task counts are lower bounds: Errors only"
            ) in history.gaps
    assert history.jobs.capped.tolist() == [False, False, True]
    assert "2 days without any job run (UTC): 2026-01-07, 2026-01-08" in history.gaps
    history = simbatch.read_history(*pair(tmp_path, jobs))
    assert ("1 job runs of 1 jobs have no task rows (history setting Never or Errors only?):"
            " Errors only") in history.gaps


def test_an_xlsx_workbook_with_statuses_as_numbers(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Batch job history"
    columns = list(JOBS[0])
    sheet.append(columns)
    for row in JOBS:
        values = {**row, "Status": {"Ended": 4, "Error": 3}[row["Status"]]}
        values["OrigStartDateTime"] = pd.Timestamp(row["OrigStartDateTime"]).to_pydatetime()
        sheet.append([values[c] for c in columns])
    tasks = book.create_sheet("Batch tasks")
    columns = list(TASKS[0])
    tasks.append(columns)
    codes = {"Ended": 4, "Error": 3, "Didn't run": 6}
    for row in TASKS:
        tasks.append([codes[row["Status"]] if c == "Status" else (row[c] if row[c] != ""
                                                                   else None)
                      for c in columns])
    path = tmp_path / "export.xlsx"
    book.save(path)
    history = simbatch.read_history(path)
    assert history.jobs.status.tolist() == ["Ended", "Error"]
    assert history.tasks.status.tolist() == ["Ended", "Ended", "Error", "Didn't run"]
    assert history.jobs.scheduled.tolist() == [pd.Timestamp("2026-01-05 22:00", tz="UTC"),
                                               pd.Timestamp("2026-01-06 22:00", tz="UTC")]
    assert history.jobs.start.iloc[1] == pd.Timestamp("2026-01-06 22:00:30", tz="UTC")
    assert history.sources == (str(path),)


# ---- every bad-file case, with its exact message -------------------------------------------------

def bad(tmp_path: Path, jobs: list[dict[str, Any]] | None = None,
        tasks: list[dict[str, Any]] | None = None) -> str:
    paths = pair(tmp_path, jobs, tasks)
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.read_history(*paths)
    return str(caught.value).replace(str(tmp_path) + "/", "")


def test_a_required_column_missing(tmp_path: Path) -> None:
    tasks = [{k: v for k, v in row.items() if k != "Status"} for row in TASKS]
    assert bad(tmp_path, tasks=tasks) == (
        "tasks.csv: the BatchHistory table has no column 'Status' (required:"
        " BatchJobHistoryId, BatchJobId, BatchId, Status, StartDateTime, EndDateTime)")


def test_a_time_that_does_not_parse(tmp_path: Path) -> None:
    tasks = [TASKS[0], {**TASKS[1], "StartDateTime": "yesterday"}]
    assert bad(tmp_path, tasks=tasks) == (
        "tasks.csv: row 3, column StartDateTime: not a date and time in ISO form such as"
        " 2026-01-05 22:00:00 (or give --date-format): 'yesterday'")


def test_an_end_before_a_start(tmp_path: Path) -> None:
    jobs = [{**JOBS[0], "EndDateTime": "2026-01-05 21:00:00"}, JOBS[1]]
    assert bad(tmp_path, jobs=jobs) == (
        "jobs.csv: row 2, column EndDateTime: ends at 2026-01-05 21:00:00, before its start"
        " 2026-01-05 22:00:30 (UTC)")


def test_a_task_row_whose_job_run_is_missing(tmp_path: Path) -> None:
    tasks = [*TASKS, {**TASKS[0], "BatchJobHistoryId": 999}]
    assert bad(tmp_path, tasks=tasks) == (
        "tasks.csv: row 6, column BatchJobHistoryId: no job run with RecId 999 in the"
        " BatchJobHistory table")


def test_a_duplicate_id(tmp_path: Path) -> None:
    jobs = [JOBS[0], {**JOBS[1], "RecId": 101}]
    assert bad(tmp_path, jobs=jobs) == (
        "jobs.csv: row 3, column RecId: duplicate RecId (also on row 2)")
    tasks = [*TASKS, TASKS[1]]
    assert bad(tmp_path, tasks=tasks) == (
        "tasks.csv: row 6, column BatchId: duplicate task run: this BatchId is already in this"
        " BatchJobHistoryId (also on row 3)")


def test_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.read_history(tmp_path / "empty.csv", tmp_path / "x.csv")
    assert str(caught.value) == f"{tmp_path}/empty.csv: the file is empty"


def test_a_file_that_is_not_a_history(tmp_path: Path) -> None:
    # a file that is no table is skipped with a note (issue 22: never refused for itself);
    # with no BatchJobHistory left, the message names it
    path = write(tmp_path, "people.csv", [{"name": "Ada", "age": 36}])
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.read_history(path)
    assert str(caught.value) == (
        f"{path}: no BatchJobHistory table among the files (found: {path}: not a batch table"
        " (columns: name, age); skipped); export BatchJobHistory (and BatchHistory), or the"
        " BatchJobHistories entity")


def test_an_unknown_status(tmp_path: Path) -> None:
    tasks = [TASKS[0], {**TASKS[1], "Status": "Finito"}]
    assert bad(tmp_path, tasks=tasks) == (
        "tasks.csv: row 3, column Status: unknown status 'Finito' (labels or numbers:"
        " 0 Withhold, 1 Waiting, 2 Executing, 3 Error, 4 Ended, 5 Ready, 6 Didn't run,"
        " 7 Canceling, 8 Canceled, 9 Scheduled)")
    jobs = [JOBS[0], {**JOBS[1], "Status": 12}]
    assert bad(tmp_path, jobs=jobs).startswith(
        "jobs.csv: row 3, column Status: unknown status '12' (labels or numbers:")


def test_an_unknown_priority() -> None:
    batch_job = pd.DataFrame({"RecId": [1], "BatchGroup": ["Nights"], "Priority": ["Urgent"]})
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.History.from_tables(pd.DataFrame(JOBS), pd.DataFrame(TASKS),
                                     batch_job=batch_job, source="export")
    assert str(caught.value) == ("export[BatchJob]: row 2, column Priority: unknown priority"
                                 " 'Urgent' (labels: low, normal, high, critical, reserved)")


def test_a_missing_table(tmp_path: Path) -> None:
    # BatchJobHistory alone is a job-level history now (issue 22); BatchHistory alone is not
    path = write(tmp_path, "tasks.csv", TASKS)
    with pytest.raises(simbatch.HistoryError) as caught:
        simbatch.read_history(path)
    assert str(caught.value) == (
        f"{path}: no BatchJobHistory table among the files (found: {path} (BatchHistory));"
        " export BatchJobHistory (and BatchHistory), or the BatchJobHistories entity")


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    tasks = [TASKS[0], {**TASKS[1], "StartDateTime": "yesterday"}]
    paths = pair(tmp_path, tasks=tasks)
    assert main(["calibrate", *map(str, paths), "--out", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert err == (f"HistoryError: {tmp_path}/tasks.csv: row 3, column StartDateTime: not a"
                   " date and time in ISO form such as 2026-01-05 22:00:00 (or give"
                   " --date-format): 'yesterday'\n")


# ---- export -------------------------------------------------------------------------------------

def test_export_folds_attempts_into_one_row_with_its_retry_count() -> None:
    doc = scenario(polling=0, scheduling="priority", jobs={"J": {"tasks": {
        "Flaky": {"duration": "5m", "fail": 1, "retries": 2},
        "Split": {"duration": "1m", "runtime": {"tasks": 2, "duration": "2m"}}}}},
        servers={"S1": {"threads": 4}})
    result = simbatch.simulate(doc)
    tables = result.to_fo_history()
    assert list(tables) == ["BatchJobHistory", "BatchHistory", "BatchJob", "Batch",
                            "BatchConstraintsHistory", "BatchGroup"]
    jobs, tasks = tables["BatchJobHistory"], tables["BatchHistory"]
    assert list(jobs.columns) == ["RecId", "BatchJobId", "Caption", "Status",
                                  "OrigStartDateTime", "StartDateTime", "EndDateTime",
                                  "Company", "ExecutedBy"]
    assert list(tasks.columns) == ["RecId", "BatchJobHistoryId", "BatchJobId", "BatchId",
                                   "Caption", "ClassNumber", "ServerId", "Status",
                                   "StartDateTime", "EndDateTime", "retryCount",
                                   "retriesOnFailure", "RuntimeTask", "Company"]
    assert jobs[["Caption", "Status"]].values.tolist() == [["J", "Error"]]
    assert jobs.RecId.tolist() == [record_id("run", "J", "1")]
    assert jobs.BatchJobId.tolist() == [record_id("job", "J")]
    rows = tasks[["Caption", "Status", "retryCount", "RuntimeTask"]].values.tolist()
    assert rows == [["Flaky", "Error", 2, 0], ["Split", "Ended", 0, 0],
                    ["Split", "Ended", 0, 1], ["Split", "Ended", 0, 1]]
    # the folded row spans its three attempts: 22:00 to 22:15 (UTC)
    assert tasks.StartDateTime.iloc[0] == pd.Timestamp("2026-01-05 22:00", tz="UTC")
    assert tasks.EndDateTime.iloc[0] == pd.Timestamp("2026-01-05 22:15", tz="UTC")
    assert tasks.BatchId.iloc[0] == record_id("task", "J", "Flaky")
    assert tasks.BatchId.iloc[2] == record_id("task", "J", "Split #1", "1")
    assert tasks.ClassNumber.iloc[1] == tasks.ClassNumber.iloc[2]  # children share the class
    assert tasks.BatchId.is_unique


def test_export_reads_back_as_the_same_history(tmp_path: Path) -> None:
    result = simbatch.simulate(scenario(scheduling="priority", horizon="2h", jobs={"J": {
        "arrivals": {"interval": "10m"}, "tasks": {"A": {"duration": "3m", "fail": 0.3,
                                                         "retries": 1},
                                                   "B": {"duration": "2m",
                                                         "after": {"A": "ended"}}}}}),
        seed=3)
    paths = simbatch.write_fo_history(result, tmp_path)
    assert [p.name for p in paths] == ["BatchJobHistory.csv", "BatchHistory.csv", "BatchJob.csv",
                                       "Batch.csv", "BatchConstraintsHistory.csv",
                                       "BatchGroup.csv"]
    history = simbatch.read_history(*paths)
    assert len(history.jobs) == len(result.jobs)
    runs = result.tasks.groupby(["run", "task"]).size()
    assert len(history.tasks) == len(runs)
    assert history.tasks.retries.sum() == (result.tasks.attempt > 1).sum()
    start = result.jobs.start.dropna().dt.tz_convert("UTC").dt.floor("s")
    assert history.jobs.start.dropna().tolist() == start.tolist()
