"""Building the topology: batch servers and their periods, batch groups, platform rules.

The platform rules (cloud thread limits, group affinity against priority scheduling,
batch concurrency control) are checked on the shaped document before anything is built;
then each server with its daily periods, then the groups with the servers they bind, then
reserved capacity (a level of priority scheduling).
``warn_idle`` looks at the built parts for pieces that can never do anything.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping

from simbatch.errors import excerpt
from simbatch.scenario import schema
from simbatch.scenario.build.context import Context
from simbatch.scenario.calendar import DAY
from simbatch.scenario.shape import Loc
from simbatch.scenario.spec import (
    CLOUD_MAX_THREADS,
    DEFAULT_GROUP,
    RESERVED_SHARES,
    Database,
    Group,
    Job,
    Period,
    Server,
    dedicated,
)
from simbatch.scenario.timegrammar import NS, parse_duration_ns

__all__ = ["DEFAULT_THREADS", "check_platform", "check_reserved", "database", "group_ref", "groups",
           "platform_threads", "server", "server_list", "servers", "warn_idle"]

DEFAULT_THREADS = 8
"""The cloud's default threads per batch server (batch-capacity.md)."""


def platform_threads(total: int, servers: int) -> int:
    """Threads per server when the platform spreads ``total`` threads over ``servers``.

    Every server gets the same number, rounded up, so the total stays about constant:
    48 on 6 servers is 8 each, on 7 it is 7 each (49), on 4 it is 12 each (48).
    """
    return math.ceil(total / servers)


def servers(ctx: Context, raw: schema.ScenarioIn, polling: int) -> tuple[Server, ...]:
    """The batch servers: listed one by one (``servers:``), or platform-managed
    (``capacity:``), built as servers whose thread limits follow the platform's scaling."""
    if raw.capacity is not None and raw.servers:
        raise ctx.fail(("capacity",), "give either servers (each server's threads) or"
                       " capacity (platform-managed), not both")
    if raw.capacity is None:
        if not raw.servers:
            raise ctx.doc.error(("servers",), "missing required key 'servers' (or capacity:"
                                " for platform-managed capacity)", at=())
        return tuple(server(ctx, name, s, polling) for name, s in raw.servers.items())
    return _platform(ctx, raw, raw.capacity)


def _platform(ctx: Context, raw: schema.ScenarioIn, cap: schema.CapacityIn
              ) -> tuple[Server, ...]:
    """Platform-managed capacity as servers ``Batch1``, ``Batch2``, ... (simbatch's rule).

    The total is ``threads``, else ``servers`` x 8. The base number of servers is
    ``servers``, else the total over 8 rounded up; more threads than 16 a server adds
    servers (licences raise the threads per server first). Each ``scale`` window runs its
    number of servers with the total spread over them (``platform_threads``); a server the
    platform removes gets a limit of 0, so its running tasks finish and it starts nothing
    new. Reserved capacity takes whole servers of those online, as with listed servers.
    """
    loc: Loc = ("capacity",)
    if raw.platform != "cloud":
        raise ctx.fail(loc, "capacity: is the cloud's platform-managed capacity; list the"
                       " servers (servers:) for platform: on-premises")
    if cap.threads is not None:
        total = cap.threads
    elif cap.servers is not None:
        total = cap.servers * DEFAULT_THREADS
    else:
        raise ctx.fail(loc, "give the total batch threads (threads:) or the batch servers"
                       " (servers:, 8 threads each)")
    least = math.ceil(total / CLOUD_MAX_THREADS)
    base = max(cap.servers or math.ceil(total / DEFAULT_THREADS), least)
    windows: list[tuple[int, int, int]] = []
    for i, w in enumerate(cap.scale):
        where: Loc = (*loc, "scale", i)
        if raw.scheduling != "priority":
            raise ctx.fail(where, "autoscaling needs priority-based scheduling"
                           " (scheduling: priority)")
        begin, end = ctx.daily_span(where, w.start, w.end, "window")
        if w.servers < least:
            raise ctx.fail((*where, "servers"), f"{total} threads on {w.servers} servers is"
                           f" {platform_threads(total, w.servers)} a server, above the cloud"
                           f" maximum of {CLOUD_MAX_THREADS}; at least {least} servers")
        windows.append((begin, end, w.servers))
    counts = [base, *(n for _, _, n in windows)]
    high = cap.max_servers if cap.max_servers is not None else max(counts)
    low = cap.min_servers if cap.min_servers is not None else min([*counts, high])
    if low > high:
        raise ctx.fail((*loc, "min_servers"), f"min_servers {low} is above max_servers {high}")
    for where, n in [((*loc, "servers"), base),
                     *(((*loc, "scale", i, "servers"), n) for i, (_, _, n) in
                       enumerate(windows))]:
        if not low <= n <= high:
            raise ctx.fail(where, f"{n} servers is outside min_servers {low} .. max_servers"
                           f" {high}" + (f" ({total} threads need at least {least})"
                                         if n == least > high else ""))
    spans = sorted((b, e if b < e else DAY, i) for i, (b, e, _) in enumerate(windows))
    spans += sorted((0, e, i) for i, (b, e, _) in enumerate(windows) if e <= b)
    spans.sort()
    for (_, end1, i), (begin2, _, j) in itertools.pairwise(spans):
        if begin2 < end1 and i != j:
            raise ctx.fail((*loc, "scale", max(i, j)), "this window overlaps scale window"
                           f" {min(i, j)}")
    built = []
    for k in range(1, max(counts) + 1):
        periods = tuple(Period(b, e, platform_threads(total, n) if k <= n else 0)
                        for b, e, n in windows)
        built.append(Server(f"{cap.name}{k}", platform_threads(total, base) if k <= base
                            else 0, periods))
    return tuple(built)


def check_platform(ctx: Context, raw: schema.ScenarioIn) -> None:
    """The rules of the chosen platform and scheduling model that the shape cannot say.

    Cloud batch servers have at most 16 threads. Group-to-server bindings are affinity
    scheduling (before 10.0.38), which a file must choose explicitly now that priority
    scheduling is the default; under priority scheduling a task's group is its job's,
    and only then is batch concurrency control (max concurrency) available.
    """
    if raw.platform == "cloud":
        for name, srv in raw.servers.items():
            for loc, threads in [(("servers", name, "threads"), srv.threads),
                                 *((("servers", name, "periods", i, "threads"), p.threads)
                                   for i, p in enumerate(srv.periods))]:
                if threads > CLOUD_MAX_THREADS:
                    raise ctx.fail(loc, f"{threads} threads exceed the cloud maximum of"
                                   f" {CLOUD_MAX_THREADS} per batch server; for an"
                                   " on-premises or AX-era server say platform:"
                                   " on-premises")
    for gname, group in raw.groups.items():
        if raw.scheduling == "priority" and group.servers is not None:
            said = "scheduling" in ctx.doc.data
            raise ctx.fail(("groups", gname, "servers"), "binding a group to servers is"
                           " group affinity (before F&O 10.0.38): "
                           + ("add scheduling: affinity to keep it, or remove the binding"
                              " for priority scheduling (the default since 10.0.38)"
                              if not said else "priority scheduling has no bindings;"
                              " remove them, or use scheduling: affinity"))
        if raw.scheduling == "affinity" and group.max_concurrency != 0:
            raise ctx.fail(("groups", gname, "max_concurrency"), "max concurrency (batch"
                           " concurrency control) needs priority-based scheduling"
                           " (scheduling: priority, F&O 10.0.38 and later)")
    if raw.scheduling == "priority":
        for jname, job in raw.jobs.items():
            for tname, task in job.tasks.items():
                if task.group is not None:
                    raise ctx.fail(("jobs", jname, "tasks", tname, "group"), "under"
                                   " priority scheduling a task's group is its job's"
                                   " (read-only in F&O); set the job's group, or use"
                                   " scheduling: affinity")


def server(ctx: Context, name: str, raw: schema.ServerIn, polling: int) -> Server:
    """A batch server: its threads, its daily periods (no two overlapping), its poll phase."""
    loc: Loc = ("servers", name)
    if raw.timezone is not None:
        ctx.zone((*loc, "timezone"), raw.timezone)
    offset = None
    if raw.poll_offset is not None:
        offset = ctx.parse((*loc, "poll_offset"), parse_duration_ns, raw.poll_offset)
        if polling == 0:
            raise ctx.fail((*loc, "poll_offset"), "poll_offset has no meaning with polling: 0")
        if offset >= polling:
            raise ctx.fail((*loc, "poll_offset"), f"poll_offset must be shorter than polling"
                           f" ({polling / NS:g}s), got {excerpt(raw.poll_offset)}")
    periods = []
    for i, p in enumerate(raw.periods):
        begin, end = ctx.daily_span((*loc, "periods", i), p.start, p.end, "period")
        periods.append(Period(begin, end, p.threads))
    _check_overlaps(ctx, loc, raw, periods)
    built = Server(name, raw.threads, tuple(periods), offset, raw.timezone)
    if all(built.threads_at(s) == 0 for s in [0, *built.change_points()]):
        raise ctx.fail(loc, "this server has no threads at any time of day")
    return built


def _check_overlaps(ctx: Context, loc: Loc, raw: schema.ServerIn, periods: list[Period]
                    ) -> None:
    """Refuse two periods of one server that share a second of the day."""
    spans = []
    for i, p in enumerate(periods):
        if p.start < p.end:
            spans.append((p.start, p.end, i))
        else:
            spans.extend([(p.start, DAY, i), (0, p.end, i)])
    spans.sort()
    for (_, end1, i), (begin2, _, j) in itertools.pairwise(spans):
        if begin2 < end1 and i != j:
            a, b = raw.periods[min(i, j)], raw.periods[max(i, j)]
            raise ctx.fail((*loc, "periods", max(i, j)),
                           f"period {b.start}-{b.end} overlaps period {a.start}-{a.end}")


def groups(ctx: Context, raw: schema.ScenarioIn, servers: tuple[Server, ...]
           ) -> tuple[Group, ...]:
    """The batch groups, the default group always among them.

    Under affinity scheduling a named group runs on the servers it lists, and the default
    group on ``groups.default.servers`` or else on every server no named group binds.
    """
    names = {s.name for s in servers}
    bound: set[str] = set()
    built: list[Group] = []
    for gname, g in raw.groups.items():
        loc: Loc = ("groups", gname)
        listed = g.servers or []
        server_list(ctx, loc, listed, sorted(names))
        if gname != DEFAULT_GROUP:
            bound.update(listed)
            if not listed and raw.scheduling == "affinity":
                raise ctx.fail(loc, f"group {excerpt(gname)} has no servers, so no server can run"
                                    " it: list them with servers: [...]")
        built.append(Group(gname, tuple(listed), g.priority, g.max_concurrency))
    default = raw.groups.get(DEFAULT_GROUP)
    default_servers = (tuple(default.servers) if default is not None and default.servers
                       is not None else tuple(s.name for s in servers if s.name not in bound))
    if default is None:
        built.append(Group(DEFAULT_GROUP, default_servers))
    else:
        built = [Group(g.name, default_servers, g.priority, g.max_concurrency)
                 if g.name == DEFAULT_GROUP else g for g in built]
    return tuple(built)


def check_reserved(ctx: Context, raw: schema.ScenarioIn) -> None:
    """Reserved capacity is a level of priority scheduling; affinity scheduling has none."""
    if raw.scheduling == "affinity" and raw.reserved_capacity != "none":
        raise ctx.fail(("reserved_capacity",), "reserved capacity belongs to priority"
                                               " scheduling (scheduling: priority)")


def server_list(ctx: Context, loc: Loc, listed: list[str], servers: list[str]) -> None:
    """Every name in ``loc``'s ``servers`` list is a server, and none is listed twice."""
    for i, name in enumerate(listed):
        if name not in servers:
            raise ctx.fail((*loc, "servers", i), f"unknown server {excerpt(name)}"
                           f" (servers: {', '.join(servers)})")
        if name in listed[:i]:
            raise ctx.fail((*loc, "servers", i), f"server {excerpt(name)} is listed twice")


def group_ref(ctx: Context, loc: Loc, name: str,
              group_servers: Mapping[str, tuple[str, ...]]) -> str:
    """``name``, a group that exists and (under affinity scheduling) has servers to run on."""
    if name not in group_servers:
        raise ctx.fail(loc, f"unknown group {excerpt(name)} (groups: {', '.join(group_servers)})")
    if not group_servers[name] and ctx.scheduling == "affinity":
        raise ctx.fail(loc, f"group {excerpt(name)} has no servers, so no server can run its tasks"
                            " (every server is bound to a named group; list servers under"
                            f" groups.{name}.servers)")
    return name


def warn_idle(ctx: Context, servers: tuple[Server, ...], groups: tuple[Group, ...],
              jobs: tuple[Job, ...], start: dt.datetime, horizon: int) -> None:
    """Warn about parts that can never do anything within this scenario."""
    if ctx.scheduling == "affinity":
        data = ctx.doc.data
        for g in groups:
            if "priority" in ((data.get("groups") or {}).get(g.name) or {}):
                ctx.warn(("groups", g.name, "priority"), "priorities apply under"
                         " scheduling: priority; affinity scheduling ignores them")
        for job in jobs:
            if job.priority is not None:
                ctx.warn(("jobs", job.name, "priority"), "priorities apply under"
                         " scheduling: priority; affinity scheduling ignores them")
    level = ctx.doc.data.get("reserved_capacity", "none")
    if ctx.scheduling == "priority" and level != "none":
        largest = [max(s.threads_at(x) for x in [0, *s.change_points()]) for s in servers]
        if not dedicated(RESERVED_SHARES[level], largest):
            ctx.warn(("reserved_capacity",), f"reserved capacity {excerpt(level)} dedicates no"
                     " server: at least one online server always stays shared, so with"
                     " one server Reserved capacity work has only its weight")
    serving = {name for g in groups for name in g.servers}
    for srv in servers:
        if ctx.scheduling == "affinity" and srv.name not in serving:
            ctx.warn(("servers", srv.name), "this server runs no group (it is bound to"
                     " none, and groups.default.servers does not list it), so it stays idle")
    end = start.astimezone(dt.UTC) + dt.timedelta(microseconds=horizon // 1000)
    for job in jobs:
        if job.start >= end:
            when = f"{job.start:%Y-%m-%d %H:%M}"
            ctx.warn(("jobs", job.name, "start"), f"the job starts at {when}, at or after"
                     " the horizon, so it never runs")


def database(ctx: Context, scenario: schema.ScenarioIn) -> Database | None:
    """The shared database: its capacity, and ``throttle_at`` as a fraction of it.

    ``throttle_at`` is written as a percentage (``90%``) or a fraction (``0.9``) of the
    capacity; it may pass 100%, since the load may exceed the capacity. Without a
    database, a task's ``load`` has no effect, and the first one written is warned about.
    """
    raw = scenario.database
    if raw is None:
        for jname, job in (ctx.doc.data.get("jobs") or {}).items():
            for tname, task in ((job or {}).get("tasks") or {}).items():
                said: list[tuple[str, ...]] = [("load",)] if "load" in (task or {}) else []
                if "load" in ((task or {}).get("runtime") or {}):
                    said.append(("runtime", "load"))
                for part in said:
                    ctx.warn(("jobs", jname, "tasks", tname, *part), "a load has no effect"
                             " without a database: add database: {capacity: ...}")
                    return None
        return None
    written = raw.throttle_at
    if written is None:
        return Database(raw.capacity)
    loc: Loc = ("database", "throttle_at")
    share: float | None = None
    if isinstance(written, str) and written.strip().endswith("%"):
        try:
            share = float(written.strip()[:-1]) / 100
        except ValueError:
            share = None
    elif isinstance(written, (int, float)) and not isinstance(written, bool):
        share = float(written)
    if share is None or not 0 < share <= 10:
        raise ctx.fail(loc, "throttle_at is a share of the capacity above 0 and at most"
                            f" 1000%, such as 90% or 0.9, got {written!r}")
    return Database(raw.capacity, share)
