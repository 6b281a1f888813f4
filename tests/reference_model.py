"""An independent reference model of simbatch's core semantics, for differential tests.

Written from the contract alone (/work/shared/DESIGN.md, "Semantics to honour", and the
facts file), not from simbatch's engine. It covers ONE batch group under FIFO polling:

- servers with fixed thread counts, each polling every ``polling`` at its own
  ``poll_offset``; ``polling: 0`` dispatches at once;
- a thread that finishes takes the next ready task at once;
- the oldest ready task goes first, ties by job then task order in the file;
- one instant, fixed order: every attempt ending at an instant is recorded and its
  dependents become ready (or Didn't run), and every job starting then has its tasks
  ready, before any pickup; then the freed threads pick: their attempts all ended at
  this instant, so server file order decides (not the order the ends were scheduled in,
  nor task order); then the servers
  polling at that instant (with ``polling: 0``: every idle server) fill their free threads
  in file order;
- task graphs with ``after`` (ended / error / ended or error) and ``condition`` all / any;
  a task whose condition can no longer be met is Didn't run;
- constant durations; ``fail`` 0 or 1 (deterministic branches); ``retries`` (the task is
  Ready again at once, so the freed thread may take it straight back);
- the horizon: nothing due at or after it is processed; what runs is Executing, what is
  ready Ready, the rest of a started job Waiting; a job due at or after it has no rows.

Plain Python and heapq: no SimPy, no random stream. Times are whole seconds from the
scenario's start; :func:`frame` turns the rows into a table like ``Result.tasks``.
"""

from __future__ import annotations

import datetime as dt
import heapq
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(value: Any) -> int:
    """A plain duration (``90s``, ``1h30m``) or a bare number of seconds, as whole seconds."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    parts = re.findall(r"(\d+)([smhdw])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"reference model: unsupported time {value!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _moment(value: Any) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value))


@dataclass(frozen=True)
class Row:
    """One attempt, like a row of ``Result.tasks``; times in seconds from the start."""

    job: str
    run: int
    task: str
    server: str | None
    attempt: int
    status: str
    ready: int | None
    start: int | None
    end: int | None


@dataclass
class _Task:
    job: int
    index: int
    name: str
    duration: int
    fail: bool
    retries: int
    condition: str
    after: dict[int, str]
    dependents: list[int] = field(default_factory=list)
    final: str | None = None  # Ended, Error or Didn't run
    attempt: int = 0
    ready: int | None = None  # when the current (not yet started) attempt became ready


@dataclass
class _Server:
    index: int
    name: str
    threads: int
    offset: int
    busy: int = 0


_SATISFIES = {"ended": {"Ended"}, "error": {"Error"}, "ended or error": {"Ended", "Error"}}


class ReferenceModel:
    """The reference simulation of one scenario document (see the module docstring)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.origin = _moment(doc["start"])
        self.zone = str(doc.get("timezone", "UTC"))
        if self.zone != "UTC":
            raise ValueError("reference model: UTC only")
        self.horizon = seconds(doc["horizon"])
        self.polling = seconds(doc.get("polling", "1m"))
        if self.polling and any("poll_offset" not in s for s in doc["servers"].values()):
            raise ValueError("reference model: give every server its poll_offset")
        self.servers = [
            _Server(i, name, int(spec["threads"]),
                    seconds(spec.get("poll_offset", 0)))
            for i, (name, spec) in enumerate(doc["servers"].items())]
        self.job_names: list[str] = []
        self.job_starts: list[int] = []
        self.tasks: list[list[_Task]] = []
        for j, (job_name, job) in enumerate(doc["jobs"].items()):
            self.job_names.append(job_name)
            due = job.get("start")
            start = 0 if due is None else int(
                (_moment(due) - self.origin).total_seconds())
            self.job_starts.append(start)
            names = list(job["tasks"])
            tasks = []
            for k, (task_name, spec) in enumerate(job["tasks"].items()):
                fail = float(spec.get("fail", 0))
                if fail not in (0.0, 1.0):
                    raise ValueError("reference model: fail must be 0 or 1")
                after = {names.index(dep): str(want)
                         for dep, want in (spec.get("after") or {}).items()}
                tasks.append(_Task(j, k, task_name, seconds(spec["duration"]), fail == 1.0,
                                   int(spec.get("retries", 0)),
                                   str(spec.get("condition", "all")), after))
            for task in tasks:
                for dep in task.after:
                    tasks[dep].dependents.append(task.index)
            self.tasks.append(tasks)
        self.rows: list[Row] = []
        self.ready: list[_Task] = []  # tasks whose current attempt waits for a thread
        self.running: dict[int, tuple[_Task, _Server, int, int]] = {}  # seq -> attempt
        self.seq = 0

    # ---- state changes -----------------------------------------------------------------

    def _make_ready(self, task: _Task, now: int) -> None:
        task.attempt += 1
        task.ready = now
        self.ready.append(task)

    def _finalise(self, task: _Task, status: str, now: int) -> None:
        """Mark a task final; its dependents become ready or Didn't run, transitively."""
        task.final = status
        if status == "Didn't run":
            self.rows.append(Row(self.job_names[task.job], 1, task.name, None, 1,
                                 "Didn't run", None, None, None))
        tasks = self.tasks[task.job]
        for d in task.dependents:
            dependent = tasks[d]
            if dependent.final is not None or dependent.attempt > 0:
                continue
            met = [tasks[p].final in _SATISFIES[want] for p, want in dependent.after.items()
                   if tasks[p].final is not None]
            open_ = sum(tasks[p].final is None for p in dependent.after)
            if dependent.condition == "any":
                if any(met):
                    self._make_ready(dependent, now)
                elif open_ == 0:
                    self._finalise(dependent, "Didn't run", now)
            else:
                if not all(met):
                    self._finalise(dependent, "Didn't run", now)
                elif open_ == 0:
                    self._make_ready(dependent, now)

    def _start_job(self, j: int, now: int) -> None:
        for task in self.tasks[j]:
            if not task.after:
                self._make_ready(task, now)

    def _end_attempt(self, seq: int, now: int) -> _Server:
        task, server, start, ready = self.running.pop(seq)
        server.busy -= 1
        status = "Error" if task.fail else "Ended"
        self.rows.append(Row(self.job_names[task.job], 1, task.name, server.name,
                             task.attempt, status, ready, start, now))
        if status == "Error" and task.attempt <= task.retries:
            self._make_ready(task, now)
        else:
            self._finalise(task, status, now)
        return server

    # ---- pickups ------------------------------------------------------------------------

    def rank(self, task: _Task) -> tuple[int, ...]:
        """The order ready tasks are picked in: the oldest ready, then job and task order."""
        assert task.ready is not None
        return (task.ready, task.job, task.index)

    def _pick(self, server: _Server, now: int) -> bool:
        """One free thread of ``server`` takes the oldest ready task; False if none."""
        if not self.ready or server.busy >= server.threads:
            return False
        task = min(self.ready, key=self.rank)
        self.ready.remove(task)
        assert task.ready is not None
        server.busy += 1
        self.seq += 1
        self.running[self.seq] = (task, server, now, task.ready)
        heapq.heappush(self.events, (now + task.duration, 0, self.seq))
        task.ready = None
        return True

    def _polls_at(self, server: _Server, now: int) -> bool:
        if self.polling == 0:
            return True
        return now >= server.offset and (now - server.offset) % self.polling == 0

    # ---- the run ------------------------------------------------------------------------

    def run(self) -> list[Row]:
        """Simulate up to the horizon; the rows sorted by job, task (file order), attempt."""
        self.events: list[tuple[int, int, int]] = []  # (time, kind, key): 0 end, 1 job start
        for j, start in enumerate(self.job_starts):
            heapq.heappush(self.events, (start, 1, j))
        instants: set[int] = set()
        if self.polling > 0:  # every poll instant before the horizon is an instant to visit
            for server in self.servers:
                instants.update(range(server.offset, self.horizon, self.polling))
        while True:
            pending = [t for t in (self.events[0][0] if self.events else None,
                                   min((i for i in instants), default=None)) if t is not None]
            if not pending or min(pending) >= self.horizon:
                break
            now = min(pending)
            instants.discard(now)
            freed: list[tuple[int, int, _Server]] = []  # (end order, server order, server)
            while self.events and self.events[0][0] == now:
                _, kind, key = heapq.heappop(self.events)
                if kind == 0:
                    server = self._end_attempt(key, now)
                    freed.append((key, server.index, server))
                else:
                    self._start_job(key, now)
            # freed at one instant, their attempts ended together: server file order decides
            for _, _, server in sorted(freed, key=lambda f: f[1]):
                self._pick(server, now)
            for server in self.servers:
                if self._polls_at(server, now):
                    while self._pick(server, now):
                        pass
        for task, server, start, ready in self.running.values():
            self.rows.append(Row(self.job_names[task.job], 1, task.name, server.name,
                                 task.attempt, "Executing", ready, start, None))
        for task in self.ready:
            self.rows.append(Row(self.job_names[task.job], 1, task.name, None, task.attempt,
                                 "Ready", task.ready, None, None))
        for j, tasks in enumerate(self.tasks):
            if self.job_starts[j] >= self.horizon:
                continue
            for task in tasks:
                if task.final is None and task.attempt == 0:
                    self.rows.append(Row(self.job_names[j], 1, task.name, None, 1, "Waiting",
                                         None, None, None))
        order = {(self.job_names[j], t.name): (j, t.index)
                 for j, tasks in enumerate(self.tasks) for t in tasks}
        return sorted(self.rows, key=lambda r: (order[r.job, r.task], r.run, r.attempt))


def simulate(doc: dict[str, Any]) -> list[Row]:
    """The reference's rows for a scenario document."""
    return ReferenceModel(doc).run()


COLUMNS = ["job", "run", "task", "server", "attempt", "status", "ready", "start", "end"]


def frame(rows: list[Row], doc: dict[str, Any]) -> pd.DataFrame:
    """The rows as a DataFrame like ``Result.tasks`` (plain strings, tz-aware times)."""
    origin = pd.Timestamp(str(doc["start"]), tz=str(doc.get("timezone", "UTC")))

    def when(value: int | None) -> object:
        return pd.NaT if value is None else origin + pd.Timedelta(seconds=value)

    return pd.DataFrame(
        [(r.job, r.run, r.task, r.server, r.attempt, r.status, when(r.ready), when(r.start),
          when(r.end)) for r in rows], columns=COLUMNS)
