"""Building downtime: one-off outages and restarts, and recurring planned maintenance.

An outage takes one server down at a local moment for a time; maintenance takes the
servers it lists down once in each of its daily windows, one after another or all at
once, and must fit in the window.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from simbatch.errors import excerpt
from simbatch.scenario import schema
from simbatch.scenario.build import topology
from simbatch.scenario.build.context import Context
from simbatch.scenario.calendar import DAY
from simbatch.scenario.shape import Loc
from simbatch.scenario.spec import Maintenance, Outage
from simbatch.scenario.timegrammar import NS, parse_duration_ns

__all__ = ["maintenance", "outage"]


def outage(ctx: Context, loc: Loc, raw: schema.OutageIn, zone: ZoneInfo, servers: list[str]
           ) -> Outage:
    """A server down from a local moment for a time longer than 0 (a restart, a what-if)."""
    if raw.server not in servers:
        raise ctx.fail((*loc, "server"), f"unknown server {excerpt(raw.server)}"
                                         f" (servers: {', '.join(servers)})")
    length = ctx.parse((*loc, "for"), parse_duration_ns, raw.duration)
    if length == 0:
        raise ctx.fail((*loc, "for"), f"an outage must last longer than 0, got"
                                      f" {excerpt(raw.duration)}")
    return Outage(raw.server, ctx.moment((*loc, "at"), raw.at, zone), length)


def maintenance(ctx: Context, loc: Loc, raw: schema.MaintenanceIn, servers: list[str]
                ) -> Maintenance:
    """Planned maintenance: a daily window in which each listed server goes down once."""
    ctx.zone((*loc, "timezone"), raw.timezone)
    window = ctx.window(loc, raw)
    down = ctx.parse((*loc, "down"), parse_duration_ns, raw.down)
    if down == 0:
        raise ctx.fail((*loc, "down"), f"down must be longer than 0, got {excerpt(raw.down)}")
    listed = servers if raw.servers is None else raw.servers
    if not listed:
        raise ctx.fail((*loc, "servers"), "must not be empty; leave it out for every"
                                          " server")
    topology.server_list(ctx, loc, listed, servers)
    length = ((window.end - window.start) % DAY or DAY) * NS
    needed = down * (len(listed) if raw.stagger == "one-at-a-time" else 1)
    if needed > length:
        raise ctx.fail((*loc, "down"), f"{len(listed)} server(s) down {raw.down} each"
                       f" {raw.stagger} take longer than the window {raw.start}-{raw.end}")
    return Maintenance(window, raw.timezone, down, tuple(listed), raw.stagger)
