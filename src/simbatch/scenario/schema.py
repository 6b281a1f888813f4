"""The scenario document's shape: known keys, types and ranges, as pydantic models.

The second half of reading a scenario (``simbatch.scenario.shape`` reads the YAML with
line numbers): ``check_shape`` validates the plain data and turns pydantic's errors into
one ``ScenarioError`` that names the path and line. Cross-references and meaning are
checked later, by the builder.
"""

from __future__ import annotations

import difflib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simbatch.errors import ScenarioError, excerpt
from simbatch.scenario import ranges
from simbatch.scenario.shape import Document, Loc

Time = Any
"""A time in the grammar of ``simbatch.scenario.timegrammar``; parsed by the builder."""
Moment = Any
"""A date and time (text, or a YAML date); parsed by the builder."""
MAX_SERVERS = MAX_GROUPS = 32_767
"""The recorder packs server and group numbers in 16 bits."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False,
                              frozen=True)


class PeriodIn(_Strict):
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    threads: int = Field(ge=0, le=ranges.MAX_THREADS)


class ServerIn(_Strict):
    threads: int = Field(default=8, ge=0, le=ranges.MAX_THREADS)
    poll_offset: Time = None
    timezone: str | None = None
    periods: list[PeriodIn] = []


Priority = Literal["low", "normal", "high", "critical", "reserved"]


class GroupIn(_Strict):
    servers: list[str] | None = None
    priority: Priority = "normal"
    max_concurrency: int = Field(default=0, ge=-1, le=100_000)


class TransientIn(_Strict):
    chance: float = Field(ge=0.0, le=1.0)
    at: float = Field(default=0.5, ge=0.0, le=1.0)


class RuntimeIn(_Strict):
    tasks: int | dict[str, Any] = Field(union_mode="left_to_right")
    duration: Time
    fail: float = Field(default=0.0, ge=0.0, le=1.0)
    transient: TransientIn | None = None
    load: float = Field(default=1.0, ge=0.0, le=1e6)


class TaskIn(_Strict):
    duration: Time
    after: dict[str, str] = {}
    condition: Literal["all", "any"] = "all"
    group: str | None = None
    fail: float = Field(default=0.0, ge=0.0, le=1.0)
    retries: int = Field(default=0, ge=0, le=5)
    ignore_failure: bool = False
    task_class: str | None = Field(default=None, alias="class", min_length=1)
    runtime: RuntimeIn | None = None
    transient: TransientIn | None = None
    load: float = Field(default=1.0, ge=0.0, le=1e6)


Days = str | list[str] | None


class WindowIn(_Strict):
    start: str = Field(alias="from")
    end: str = Field(alias="to")
    days: Days = None


class RateWindowIn(WindowIn):
    rate: str | int | float


class ArrivalsIn(_Strict):
    interval: Time = None
    rate: str | int | float | None = None
    windows: list[RateWindowIn] = []
    batch: int = Field(default=1, ge=1, le=ranges.MAX_BATCH)


class RecurrenceIn(_Strict):
    every: str | None = None
    cron: str | None = None
    on: Days = None
    day: int | str | None = None
    month: int | None = Field(default=None, ge=1, le=12)
    count: int | None = Field(default=None, ge=1, le=ranges.MAX_COUNT)
    until: Moment = None
    anchor: Literal["slot", "end"] = "slot"


class JobIn(_Strict):
    group: str = "default"
    start: Moment = None
    timezone: str | None = None
    arrivals: ArrivalsIn | None = None
    recurrence: RecurrenceIn | None = None
    active: WindowIn | list[WindowIn] | None = None
    priority: Priority | None = None
    deadline: str | int | float | None = None
    tasks: dict[str, TaskIn] = Field(min_length=1)


class OutageIn(_Strict):
    server: str
    at: Moment
    duration: Time = Field(alias="for")


class MaintenanceIn(WindowIn):
    timezone: str = "UTC"
    down: Time
    servers: list[str] | None = None
    stagger: Literal["one-at-a-time", "all-at-once"] = "one-at-a-time"


class ScaleIn(_Strict):
    """A daily window in which the platform runs ``servers`` batch servers."""

    start: str = Field(alias="from")
    end: str = Field(alias="to")
    servers: int = Field(ge=1, le=MAX_SERVERS)


class CapacityIn(_Strict):
    """Platform-managed batch capacity (the cloud): total threads, or servers of 8 threads."""

    threads: int | None = Field(default=None, ge=1, le=MAX_SERVERS * ranges.MAX_THREADS)
    servers: int | None = Field(default=None, ge=1, le=MAX_SERVERS)
    min_servers: int | None = Field(default=None, ge=1, le=MAX_SERVERS)
    max_servers: int | None = Field(default=None, ge=1, le=MAX_SERVERS)
    scale: list[ScaleIn] = []
    name: str = Field(default="Batch", min_length=1)


class DatabaseIn(_Strict):
    """The shared database: its capacity in load units, and the optional start throttle."""

    capacity: float = Field(ge=0.001, le=1e6)
    throttle_at: str | float | None = None


class ScenarioIn(_Strict):
    extends: str | None = None
    name: str | None = None
    start: Moment
    timezone: str = "UTC"
    horizon: Time = None
    end: Moment = None
    polling: Time = "1m"
    scheduling: Literal["affinity", "priority"] = "priority"
    platform: Literal["cloud", "on-premises"] = "cloud"
    reserved_capacity: Literal["none", "low", "medium", "high"] = "none"
    throttle: bool = True
    servers: dict[str, ServerIn] = Field(default={}, max_length=MAX_SERVERS)
    capacity: CapacityIn | None = None
    groups: dict[str, GroupIn] = Field(default={}, max_length=MAX_GROUPS - 1)
    jobs: dict[str, JobIn] = {}
    outages: list[OutageIn] = []
    maintenance: list[MaintenanceIn] = []
    database: DatabaseIn | None = None


_FRIENDLY = {
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "string_type": "expected text",
    "dict_type": "expected a mapping of keys",
    "model_type": "expected a mapping of keys",
    "list_type": "expected a list",
    "too_short": "must not be empty",
    "string_too_short": "must not be empty",
}


def _empty_maps_to_none(data: dict[str, Any]) -> dict[str, Any]:
    """Let ``Batch1:`` (no value) mean ``Batch1: {}`` for servers and groups."""
    out = dict(data)
    for key in ("servers", "groups"):
        section = out.get(key)
        if isinstance(section, dict):
            out[key] = {k: ({} if v is None else v) for k, v in section.items()}
    return out


def check_shape(doc: Document) -> ScenarioIn:
    """Validate the document's keys and types; the first problem in file order is raised."""
    try:
        return ScenarioIn.model_validate(_empty_maps_to_none(doc.data))
    except ValidationError as exc:
        errors = exc.errors()
    # the first shape problem in the file; on one line an unknown key (a typo) explains the rest
    first = min(errors, key=lambda e: (doc.line(_real_loc(doc.data, tuple(e["loc"]))) or 10**9,
                                       e["type"] != "extra_forbidden"))
    raise _problem(doc, first) from None


def _real_loc(data: Any, loc: Loc) -> Loc:
    """``loc`` without pydantic's union-member tags (``start.str``): only keys that exist."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        in_map = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_map or in_list:
            node = node[part]
        elif i == len(loc) - 1 and isinstance(node, dict) and not isinstance(part, int):
            out.append(part)  # a missing or unknown key names itself
            break
        else:
            continue
        out.append(part)
    return tuple(out)


def _problem(doc: Document, err: Any) -> ScenarioError:
    loc: Loc = _real_loc(doc.data, tuple(p for p in err["loc"] if p != "[key]"))
    kind = err["type"]
    if kind == "extra_forbidden":
        key = loc[-1]
        parent = loc[:-1]
        model = _model_at(parent)
        hint = ""
        if model is not None and isinstance(key, str):
            names = [f.alias or n for n, f in model.model_fields.items()]
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names)})"
        return doc.error(loc, f"unknown key {excerpt(key)}{hint}", at=parent)
    if kind in ("too_long", "list_too_long"):
        limit = err.get("ctx", {}).get("max_length")
        return doc.error(loc, f"at most {limit:,} entries, got {len(err['input']):,}")
    if kind == "missing":
        return doc.error(loc, f"missing required key {loc[-1]!r}", at=loc[:-1])
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        problem = f"expected one of {expected}, got {excerpt(err['input'])}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = err["msg"].lower().replace("input should be", "must be")
        problem = f"{bound}, got {excerpt(err['input'])}"
    else:
        friendly = _FRIENDLY.get(kind, err["msg"])
        problem = f"{friendly}, got {excerpt(err['input'])}"
    return doc.error(loc, problem)


_SECTIONS: dict[str, type[BaseModel]] = {
    "servers": ServerIn, "groups": GroupIn, "jobs": JobIn,
}
_LISTS: dict[str, type[BaseModel]] = {"outages": OutageIn, "maintenance": MaintenanceIn}
_PARTS: dict[str, type[BaseModel]] = {"capacity": CapacityIn, "database": DatabaseIn}
_JOB_PARTS: dict[str, type[BaseModel]] = {
    "arrivals": ArrivalsIn, "recurrence": RecurrenceIn, "active": WindowIn,
}


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The schema model that describes the mapping at ``loc`` (for key suggestions)."""
    model: type[BaseModel] = ScenarioIn
    i = 0
    while i < len(loc):
        part = loc[i]
        if model is ScenarioIn and part in _SECTIONS:
            model = _SECTIONS[str(part)]
            i += 2
        elif model is ScenarioIn and part in _LISTS:
            model = _LISTS[str(part)]
            i += 2
        elif model is CapacityIn and part == "scale":
            model = ScaleIn
            i += 2
        elif model is ScenarioIn and part in _PARTS:
            model = _PARTS[str(part)]
            i += 1
        elif model is ServerIn and part == "periods":
            model = PeriodIn
            i += 2
        elif model is JobIn and part == "tasks":
            model = TaskIn
            i += 2
        elif model is JobIn and part in ("arrivals", "recurrence", "active"):
            model = _JOB_PARTS[str(part)]
            i += 2 if part == "active" and i + 1 < len(loc) and isinstance(loc[i + 1], int) else 1
        elif model is ArrivalsIn and part == "windows":
            model = RateWindowIn
            i += 2
        elif model is TaskIn and part == "runtime":
            model = RuntimeIn
            i += 1
        elif model in (TaskIn, RuntimeIn) and part == "transient":
            model = TransientIn
            i += 1
        else:
            return None
    return model
