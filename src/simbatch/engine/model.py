"""The SimPy model of the batch framework: build it from a compiled plan, run it to the horizon.

Every event (a job due, an attempt ending, a poll) is a SimPy ``Timeout`` with a
callback; there is no process per task. Arrivals, drawn in advance from each job's own
stream, are merged into the run loop as one sorted stream rather than one event each.
The run loop steps the environment itself so that, at each instant, every state change
is applied before the one dispatch step that hands waiting tasks to threads (DESIGN.md,
"One instant, fixed order"). The order of state changes within an instant does not
matter: which task a thread takes is fixed by (ready, job, run, task).

Polling is lazy: after each dispatch step the model schedules one wake-up, at the
earliest poll of any server that has a free thread and a task it may run waiting; a full
server gets one wake-up at its first poll after its limit next rises. Nothing can happen
between two such polls, so an idle tenant costs nothing per simulated minute, whatever
its size. A dispatch step looks only at the servers that have a free thread, work they
may run and a poll now (``simbatch.engine.idle``), so its cost follows the work, not the
number of servers.
With a shared database (``simbatch.engine.database``) an attempt's end is the database's
to call, once its work is done at the speeds the load allowed.
With ``every_tick=True`` every server polls at every tick of its grid instead, which must
give identical tables; the test suite holds the lazy mode to that.

The callbacks are the hot path of every simulation, so they read plain attributes and
lists prepared in ``__init__`` rather than calling helpers; SimPy is used through its
public API only (``Environment``, ``Timeout``, ``peek``, ``step``).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy
from simpy.events import Timeout

from simbatch.engine.compile import CompiledPlan, compile
from simbatch.engine.database import Database, gate
from simbatch.engine.dispatch import Lanes
from simbatch.engine.idle import Idle
from simbatch.engine.jobs import JobPlan, Run
from simbatch.engine.recorder import NA, NO_SERVER, Recorder
from simbatch.engine.servers import Limits, poll_offsets
from simbatch.engine.status import (
    DIDNT_RUN,
    ENDED,
    ERROR,
    EXECUTING,
    FAILED,
    OK,
    READY,
    RESTART,
    TRANSIENT,
    WAITING,
)
from simbatch.engine.workload import Schedule
from simbatch.scenario.spec import Scenario

__all__ = ["Model"]

Entry = tuple[int, int, int, int, Run]
"""A waiting task in a lane (a ready queue): (ready, job, run number, task, run)."""
Callback = Callable[[Any], None]
PROGRESS_EVERY = 1 << 16
"""Events between two calls of ``Model.run``'s progress callback."""


class _Restarted:
    """An attempt ended by a restart of its server, shaped like its end event."""

    __slots__ = ("value",)

    def __init__(self, value: tuple[Run, int, int, int, int]) -> None:
        self.value = value


class Model:
    """One compiled plan under one seed, as a SimPy environment with callbacks.

    ``Model(scenario)`` compiles the scenario first; ``Model.from_plan(plan)`` runs a plan
    already compiled (one plan serves every seed). The model reads only the plan;
    ``scenario`` is kept for the results tables, which name jobs, servers and groups.
    """

    @classmethod
    def from_plan(cls, plan: CompiledPlan, seed: int = 0, *, every_tick: bool = False
                  ) -> Model:
        """A model of a compiled plan under ``seed``."""
        return Model(plan, seed, every_tick=every_tick)

    def __init__(self, scenario: Scenario | CompiledPlan, seed: int = 0, *,
                 every_tick: bool = False) -> None:
        plan = scenario if isinstance(scenario, CompiledPlan) else compile(scenario)
        self.plan = plan
        self.scenario = plan.scenario
        self.seed = seed
        self.every_tick = every_tick
        self.env = simpy.Environment()
        self.now = 0  # the instant being simulated
        self.clock = 0  # SimPy's own clock: it moves only when SimPy steps, not on arrivals
        self.events = 0
        self.horizon = plan.horizon
        self.polling = plan.polling
        self.limits = Limits(plan.servers)
        self.offsets = poll_offsets(plan.servers, seed)
        self.recorder = Recorder()
        self.ended: Callback = self._ended  # bound once: it is attached to every attempt
        self.db = None if plan.database is None else Database(plan.database, self._at,
                                                              self.ended)
        # with restarts, an attempt's end event may be stale: its attempt was ended early
        self.guarded = any(self.limits.down)
        self.going_down: list[int] = []
        self.servers = range(len(plan.servers.names))
        self.busy = [0 for _ in self.servers]
        # each server's limit now, when it next changes, and when it next rises
        self.limit = [0 for _ in self.servers]
        self.until = [0 for _ in self.servers]
        self.rise = [0 for _ in self.servers]
        for s in self.servers:
            self._refresh(s, 0)
        self.wake_at: int | None = None  # the pending wake-up, if any
        self.waiting = 0
        self.freed: list[int] = []
        self.ticked: set[int] = set()  # reference mode: servers whose tick is at tick_time
        self.tick_time = -1
        self.dirty = False
        self.live: dict[Run, None] = {}
        self.plans = [JobPlan(job, seed) for job in plan.jobs]
        self.lanes = Lanes(plan.lanes, plan.servers.names, seed)
        self.heaps = self.lanes.heaps
        self.server_queues = self.lanes.heaps_of_server
        self.simple = self.lanes.simple
        self.throttle = plan.lanes.throttle
        self.runs = [0 for _ in self.plans]
        if self.db is not None and self.db.throttle_units is not None:
            self._pick = gate(self.db, self._pick)  # type: ignore[method-assign,assignment]
        self._schedule_workload(plan, seed)
        for s, spans in enumerate(self.limits.down):
            for begin, _, _ in spans:
                self._at(begin, self._down, s)
        for at, servers in self.limits.reserved:
            if at == 0:
                self.lanes.dedicate(servers)
            else:
                self._at(at, self._dedicate, servers)
        self.idle = Idle(self.offsets, self.server_queues)
        self.rise_wake = [-1 for _ in self.servers]  # the rise each full server waits for
        for s in self.servers:
            self._settle(s)
        if every_tick:
            self._tick_everywhere()

    def _schedule_workload(self, plan: CompiledPlan, seed: int) -> None:
        """When runs are due: one-time starts and recurrences as events, arrivals merged.

        A replay (``simbatch.engine.trace``) overrides this with the due times it is given.
        """
        self.schedules = [Schedule(job.name, job.schedule, plan.horizon, seed)
                          for job in plan.jobs]
        self.windows = [s.windows for s in self.schedules]
        self.recurring = [s.slots is not None for s in self.schedules]
        self.batch = [s.batch for s in self.schedules]
        streams = []
        for j, schedule in enumerate(self.schedules):
            if schedule.arrivals is not None:
                streams.append((schedule.arrivals, j))
            else:
                first = schedule.first()
                if first is not None:
                    self._at(first, self._due, (j, 0))
        # every arrival of every job, in time order (ties: job order), as two flat arrays
        times = np.concatenate([a for a, _ in streams]) if streams else np.zeros(0, np.int64)
        jobs = np.concatenate([np.full(len(a), j, np.int64) for a, j in streams]) if streams \
            else np.zeros(0, np.int64)
        order = np.lexsort((jobs, times))
        self.arrival_times = times[order]
        self.arrival_jobs = jobs[order].astype(np.int32)
        for schedule in self.schedules:
            schedule.arrivals = None  # merged above; keep one copy only

    # ---- scheduling helpers -------------------------------------------------------------

    def _at(self, when: int, callback: Callback, value: object) -> None:
        """Call ``callback(event)`` at instant ``when`` if it falls before the horizon."""
        if when < self.horizon:
            Timeout(self.env, when - self.clock, value).callbacks.append(callback)

    def _wake(self, when: int) -> None:
        """Make sure a dispatch step happens at ``when`` (or earlier)."""
        current = self.wake_at
        if (current is not None and current <= when) or when >= self.horizon:
            return
        self.wake_at = when
        self._at(when, self._woken, None)

    def _next_poll(self, server: int, t: int) -> int:
        """The first poll instant of ``server`` at or after ``t``."""
        period = self.polling
        if period == 0:
            return t
        offset = self.offsets[server]
        if t <= offset:
            return offset
        return offset - (-(t - offset) // period) * period

    def _refresh(self, server: int, t: int) -> None:
        """Bring ``server``'s cached limit up to instant ``t``."""
        self.limit[server], self.until[server], self.rise[server] = self.limits.segment(
            server, t)

    def _tick_everywhere(self) -> None:
        """Reference mode: every server polls at every tick, and every limit change is seen."""
        for s in self.servers:
            for change in self.limits.times[s][1:]:
                self._at(change, self._touch, s)
            if self.polling:
                self._at(self.offsets[s], self._tick, s)

    def _tick(self, event: simpy.Event) -> None:
        # a server polls for the whole instant of its tick, through every dispatch round
        if self.tick_time != self.now:
            self.ticked.clear()
            self.tick_time = self.now
        self.ticked.add(event.value)
        self.dirty = True
        self._at(self.now + self.polling, self._tick, event.value)

    def _touch(self, event: simpy.Event) -> None:
        self.dirty = True

    def _down(self, event: simpy.Event) -> None:
        # its attempts are ended in the dispatch step, once every attempt that ends
        # naturally at this instant has ended
        self.going_down.append(event.value)
        self.dirty = True

    def _dedicate(self, event: simpy.Event) -> None:
        self.lanes.dedicate(event.value)
        self.idle.regroup(self.server_queues)
        self.dirty = True

    def _woken(self, event: simpy.Event) -> None:
        if self.wake_at == self.now:
            self.wake_at = None
        self.dirty = True

    # ---- workload -----------------------------------------------------------------------

    def _due(self, event: simpy.Event) -> None:
        j, skipped = event.value
        self._open(j, skipped)

    def _open(self, j: int, skipped: int) -> None:
        """A run is due now: it starts now, or when the job's active window opens."""
        now = self.now
        number = self.runs[j] = self.runs[j] + 1
        run = Run(self.plans[j], number, now, skipped)
        self.live[run] = None
        windows = self.windows[j]
        opens = now if windows is None else windows.next_open(now)
        if opens == now:  # _release inlined: one call less on the per-run hot path (~5%)
            for task in run.plan.roots:
                self._ready(run, task, now)
            self.dirty = True
        elif opens is not None:
            self._at(opens, self._released, run)

    def _released(self, event: simpy.Event) -> None:
        self._release(event.value, self.now)

    def _release(self, run: Run, now: int) -> None:
        for task in run.plan.roots:
            self._ready(run, task, now)
        self.dirty = True

    def _ready(self, run: Run, task: int, now: int) -> None:
        run.status[task] = READY
        run.ready[task] = now
        plan = run.plan
        entry = (now, plan.index, run.number, task, run)
        limit = plan.limit[task]
        if limit:  # max concurrency: queue no more of the group than the run may still start
            group = plan.groups[task]
            counts = run.counts.setdefault(group, [0, 0])
            if limit < 0 or counts[0] + counts[1] >= limit:
                heappush(run.parked.setdefault(group, []), entry)
                return
            counts[1] += 1
        heappush(self.heaps[plan.lane[task]], entry)
        self.waiting += 1

    def _ended(self, event: simpy.Event | _Restarted) -> None:
        """An attempt is over (``cause``: OK, or why it ended in Error); settle its task.

        Restarts come here too (``_restart``), so the hot path costs no extra call.
        """
        run, task, server, cause, attempt = event.value
        if self.guarded and (run.attempt[task] != attempt or run.status[task] != EXECUTING):
            return  # this attempt was ended early, by a restart of its server
        now = self.now
        self.busy[server] -= 1
        if cause != RESTART:  # a server going down frees no thread to pick with
            self.freed.append(server)
        self.dirty = True
        plan = run.plan
        if plan.limit[task] > 0:
            group = plan.groups[task]
            counts = run.counts[group]
            counts[0] -= 1
            parked = run.parked.get(group)
            if parked:  # the run may start one more of the group: the oldest held back
                entry = heappop(parked)
                self.recorder.release(plan.index, run.number, entry[3], run.attempt[entry[3]],
                                      now)
                counts[1] += 1
                heappush(self.heaps[plan.lane[entry[3]]], entry)
                self.waiting += 1
        attempt = run.attempt[task]
        status = ERROR if cause else ENDED
        self.recorder.task(plan.index, run.number, task, plan.groups[task], server, attempt,
                           status, cause, run.ready[task], run.start[task], now)
        run.rows += 1
        if cause and attempt <= plan.retries[task]:
            run.attempt[task] = attempt + 1
            self._ready(run, task, now)
            return
        ready, skipped = run.settle(task, status)
        for child in ready:
            self._ready(run, child, now)
        for child in skipped:
            self.recorder.task(plan.index, run.number, child, plan.groups[child], NO_SERVER, 1,
                               DIDNT_RUN, OK, NA, NA, NA)
            run.rows += 1
        if run.open == 0:
            self._finish(run, now)

    def _restart(self, server: int) -> None:
        """``server`` goes down: each attempt executing on it ends now in Error (a restart)."""
        for run in list(self.live):
            status, where = run.status, run.server
            for task in range(len(status)):
                if status[task] == EXECUTING and where[task] == server:
                    if self.db is not None:
                        self.db.drop(run, task, self.now)
                    self._ended(_Restarted((run, task, server, RESTART, run.attempt[task])))

    def _finish(self, run: Run, now: int) -> None:
        """A run's last task is final: record the run and, for a recurring job, plan the next."""
        plan = run.plan
        self.recorder.job(plan.index, run.number, run.scheduled, run.first_start, now,
                           ERROR if run.failed else ENDED, run.rows, run.skipped)
        del self.live[run]
        if self.recurring[plan.index]:
            due, skipped = self.schedules[plan.index].after_run(run.number, now)
            if due is not None:
                self._at(due, self._due, (plan.index, skipped))

    # ---- dispatch -----------------------------------------------------------------------

    def _pick(self, server: int) -> Entry | None:
        """Take the waiting task that ``server`` runs next."""
        if not self.simple[server]:
            entry = self.lanes.pick(server, self.now)
            if entry is not None:
                self.waiting -= 1
            return entry
        queues = self.server_queues[server]  # one lane: the oldest task (ties: file order)
        if len(queues) == 1:
            best: list[Entry] | None = queues[0]
            if not best:
                return None
        else:
            best = None
            for queue in queues:
                if queue and (best is None or queue[0] < best[0]):
                    best = queue
            if best is None:
                return None
        self.waiting -= 1
        return heappop(best)

    def _start(self, server: int, entry: Entry, now: int) -> None:
        _, _, number, task, run = entry
        plan = run.plan
        attempt = run.attempt[task]
        run.status[task] = EXECUTING
        run.start[task] = now
        run.server[task] = server
        if run.first_start == NA:
            run.first_start = now
        self.busy[server] += 1
        if plan.limit[task] > 0:
            counts = run.counts[plan.groups[task]]
            counts[1] -= 1
            counts[0] += 1
        if self.throttle and plan.cls[task] >= 0:
            self.lanes.started(server, plan.cls[task], now)
        if attempt == 1 and plan.runtime[task] is not None:
            children = plan.children(task, number)
            if children:
                run.add(children)
                for child in children:
                    self._ready(run, child, now)
                self.dirty = True  # the servers already passed in this step look again
        duration = plan.duration(task, number, attempt)
        cause = OK
        if plan.transient[task] is not None:
            duration, gave_up = plan.transient_tries(task, number, attempt, duration)
            if gave_up:
                cause = TRANSIENT
        if now + duration < self.horizon or self.db is not None:
            if not cause and plan.may_fail[task] and plan.fails(task, number, attempt):
                cause = FAILED
            if self.db is None:
                Timeout(self.env, now + duration - self.clock,
                        (run, task, server, cause, attempt)).callbacks.append(self.ended)
            else:  # its duration is its work, stretched by the contention it meets
                self.db.begin((run, task, server, cause, attempt), plan.load[task], duration,
                              now)

    def _dispatch(self, now: int) -> None:
        """Hand waiting tasks to threads: freed threads first, then the servers polling now."""
        if self.going_down:
            for s in self.going_down:
                self._restart(s)
                if now >= self.until[s]:
                    self._refresh(s, now)
                self._settle(s)
            self.going_down = []
        busy, limits, until, free = self.busy, self.limit, self.until, self.idle.free
        rise, waits_for = self.rise, self.rise_wake
        if self.freed:
            freed = self.freed
            self.freed = []
            if len(freed) > 1:
                freed.sort()  # threads freed at one instant pick in the servers' file order
            for s in freed:
                if now >= until[s]:
                    self._refresh(s, now)
                if self.waiting and busy[s] < limits[s]:
                    entry = self._pick(s)
                    if entry is not None:
                        self._start(s, entry, now)
                if (busy[s] < limits[s]) != free[s] or (not free[s] and waits_for[s] != rise[s]):
                    self._settle(s)
        if not self.waiting:
            return
        if self.every_tick:
            self._dispatch_ticked(now)
            return
        if not self.idle.count:
            return  # every server is full: each comes back at its rise or a thread's end
        # lazy polling: only free servers with work that poll now, then one wake-up at
        # the next poll of such a server (full ones come back by their rise events)
        period = self.polling
        phase = now % period if period else 0
        queues = self.server_queues
        for s in self.idle.polling(phase):
            if not self.waiting:
                break
            if not any(queues[s]):
                continue  # servers before it took what it may run
            if now >= until[s]:
                self._refresh(s, now)  # a limit that fell while it was idle: it takes none
            limit = limits[s]
            while busy[s] < limit and self.waiting:
                entry = self._pick(s)
                if entry is None:
                    break
                self._start(s, entry, now)
            if (busy[s] < limit) != free[s] or (not free[s] and waits_for[s] != rise[s]):
                self._settle(s)
        if period and self.waiting:
            gap = self.idle.next_poll(phase, period)
            if gap is not None:
                self._wake(now + gap)

    def _dispatch_ticked(self, now: int) -> None:
        """Reference mode: every server with work whose tick is now fills its free threads."""
        busy, limits, until = self.busy, self.limit, self.until
        period = self.polling
        for s in self.servers:
            if not any(self.server_queues[s]):
                continue  # nothing this server may run is waiting
            if now >= until[s]:
                self._refresh(s, now)
            if period and not (s in self.ticked and self.tick_time == now):
                continue
            while busy[s] < limits[s]:
                entry = self._pick(s)
                if entry is None:
                    break
                self._start(s, entry, now)

    def _settle(self, server: int) -> None:
        """Index ``server`` as free or full; a full one polls again once its limit rises.

        Called whenever the server's state may differ from the index: it turned free or
        full, or it is full and its limit's next rise is not the one it waits for (a limit
        that fell while its threads were busy).
        """
        free = self.busy[server] < self.limit[server]
        self.idle.place(server, free)
        rise = self.rise[server]
        if not free and self.rise_wake[server] != rise:
            self.rise_wake[server] = rise  # one wake-up per rise, however often it fills
            if not self.every_tick:
                self._at(self._next_poll(server, rise), self._risen, server)

    def _risen(self, event: simpy.Event) -> None:
        server = event.value
        if self.now >= self.until[server]:
            self._refresh(server, self.now)
        self._settle(server)
        self.dirty = True

    # ---- running ------------------------------------------------------------------------

    def run(self, progress: Callable[[int], None] | None = None) -> Recorder:
        """Simulate up to the horizon and return the recorded columns.

        ``progress``, if given, is called with the current instant every
        ``PROGRESS_EVERY`` events (a progress bar; it may raise to stop the run).
        """
        report = PROGRESS_EVERY if progress is not None else -1
        peek, step = self.env.peek, self.env.step
        horizon = self.horizon
        dispatch = self._dispatch
        arrival_times, arrival_jobs, batch = self.arrival_times, self.arrival_jobs, self.batch
        count = len(arrival_times)
        k = 0
        arrival = arrival_times.item(0) if count else horizon
        events = 0
        t = min(peek(), arrival)
        while t < horizon:
            self.now = t
            if arrival == t:
                j = arrival_jobs.item(k)
                for _ in range(batch[j]):
                    self._open(j, 0)
                k += 1
                arrival = arrival_times.item(k) if k < count else horizon
            else:
                self.clock = t  # SimPy's clock as its callbacks see it
                step()
            events += 1
            if events == report:
                progress(t)  # type: ignore[misc]
                report += PROGRESS_EVERY
            after = peek()
            if arrival < after:
                after = arrival
            while self.dirty and after != t:  # the instant's last state change is applied
                self.dirty = False
                dispatch(t)
                after = peek()
                if arrival < after:
                    after = arrival
            t = after
        self.events = events
        self.arrival_times = self.arrival_jobs = np.zeros(0, np.int64)  # spent
        self._close()
        return self.recorder

    def _close(self) -> None:
        """Record what is still open at the horizon with its current status."""
        record = self.recorder.task
        for run in self.live:
            plan = run.plan
            for task, status in enumerate(run.status):
                if status == WAITING:
                    record(plan.index, run.number, task, plan.groups[task], NO_SERVER,
                           run.attempt[task], WAITING, OK, NA, NA, NA)
                elif status == READY:
                    record(plan.index, run.number, task, plan.groups[task], NO_SERVER,
                           run.attempt[task], READY, OK, run.ready[task], NA, NA)
                elif status == EXECUTING:
                    record(plan.index, run.number, task, plan.groups[task], run.server[task],
                           run.attempt[task], EXECUTING, OK, run.ready[task], run.start[task],
                           NA)
                else:
                    continue
                run.rows += 1
            self.recorder.job(plan.index, run.number, run.scheduled, run.first_start, NA,
                               EXECUTING if run.first_start != NA else WAITING, run.rows,
                               run.skipped)
        self.live.clear()
