"""Paths into a scenario document, as messages print them: ``servers.AOS1.periods[1].threads``.

Sweeps and plans address the values they vary this way. One walker reads a path and
both ways of changing a document go through it:
- ``set_values`` sets each path in a copy of the document (a sweep's variants);
- ``changes_for`` gives the nested changes that ``Scenario.with_changes`` merges in (a
  plan's candidates). Merging replaces lists whole, so a path into a list item carries
  the whole list with that item changed.

Two more kinds of setting go through the same writers:
- a pattern with ``*`` for every key of a mapping (``servers.*.threads``), which
  ``expand`` turns into its paths (a tie: one value for all of them);
- the server count, ``servers.count`` or ``servers.count(AOS1)``: servers added as copies of
  the named server (by default the last one), or removed from the end of the file, and
  each group's server list kept in step (``server_count_changes``).

Errors name the path and say which part of it the scenario lacks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from simbatch.errors import UsageError, excerpt
from simbatch.scenario.shape import format_path, merge

__all__ = ["Part", "changes_for", "count_template", "expand", "get_value", "parse_path", "plain",
           "server_count_changes", "set_values", "union"]

Part = str | int
"""A key of a mapping or the index of a list item."""

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_COUNT = re.compile(r"^servers\.count(?:\((.+)\))?$")


def parse_path(path: str) -> list[Part]:
    """``servers.AOS1.periods[1].threads`` as keys and list indices."""
    parts: list[Part] = []
    position = 0
    for match in _PART.finditer(path):
        gap = path[position:match.start()]
        if gap not in ("", "."):
            raise UsageError(f"bad path {excerpt(path)}: write keys with dots and list"
                             " items as [1]")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if not parts or position != len(path):
        raise UsageError(f"bad path {excerpt(path)}: write keys with dots and list items as [1]")
    return parts


def _walk(document: Any, parts: Sequence[Part], path: str, what: str) -> Any:
    """The node at ``parts``; an error names ``what`` (``path``, ``vary``) and ``path``."""
    node = document
    for depth, part in enumerate(parts):
        where = format_path(tuple(parts[:depth + 1]))
        if isinstance(part, int):
            if not isinstance(node, list) or not 0 <= part < len(node):
                raise UsageError(f"{what} {excerpt(path)}: the scenario has no {excerpt(where)}")
        elif not isinstance(node, Mapping) or part not in node:
            raise UsageError(f"{what} {excerpt(path)}: the scenario has no {excerpt(where)}")
        node = node[part]
    return node


def get_value(document: Any, path: str, what: str = "path") -> Any:
    """The value at ``path`` in ``document``; an error when the document has none there."""
    return _walk(document, parse_path(path), path, what)


def plain(node: Any) -> Any:
    """Plain dicts, lists and scalars (no loader types), for copying and writing; walked
    with an explicit stack, so no nesting reaches Python's recursion limit."""
    if not isinstance(node, Mapping | list | tuple):
        return _scalar(node)
    root: Any = {} if isinstance(node, Mapping) else []
    stack: list[tuple[Any, Any]] = [(node, root)]
    while stack:
        source, out = stack.pop()
        items = (((str(k), v) for k, v in source.items()) if isinstance(source, Mapping)
                 else enumerate(source))
        for key, value in items:
            if isinstance(value, Mapping | list | tuple):
                copied: Any = {} if isinstance(value, Mapping) else []
                stack.append((value, copied))
            else:
                copied = _scalar(value)
            if isinstance(out, dict):
                out[key] = copied
            else:
                out.append(copied)
    return root


def _scalar(node: Any) -> Any:
    """A scalar as its plain Python type (a loader's subclass of int or str dropped)."""
    if isinstance(node, bool | int | float | str):
        return type(node)(node)
    return node


def set_values(document: Mapping[str, Any], values: Mapping[str, Any],
               what: str = "path") -> dict[str, Any]:
    """A deep copy of ``document`` with each path set to its value.

    Everything above the last part must exist; the last part may be a new key of a
    mapping, or an existing list item.
    """
    out = copy.deepcopy(dict(document))
    templates = {p: count_template(out, p, what) for p in values}
    counts = {p: (v, t) for p, v in values.items() if (t := templates[p]) is not None}
    plain_values: dict[str, Any] = {}
    for path, value in values.items():
        if path not in counts:
            plain_values |= dict.fromkeys(expand(out, path, what), value)
    for path, value in plain_values.items():
        parts = parse_path(path)
        *above, last = parts
        node = _walk(out, above, path, what)
        if isinstance(last, int):
            _walk(out, parts, path, what)
        elif not isinstance(node, dict):
            raise UsageError(f"{what} {excerpt(path)}: {excerpt(last)} is not inside a mapping")
        node[last] = value
    for value, template in counts.values():
        out = merge(out, server_count_changes(out, value, template, what))
    return out


def union(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two sets of nested changes as one (``b`` wins where both set a value)."""
    out = dict(a)
    for key, value in b.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = union(out[key], value)
        else:
            out[key] = value
    return out


def expand(document: Any, pattern: str, what: str = "vary") -> list[str]:
    """The paths a pattern stands for: ``*`` in place of a key means every key there
    (``servers.*.threads``: each server's threads); a path without ``*`` is itself."""
    parts = parse_path(pattern)
    if "*" not in parts:
        return [pattern]
    found: list[tuple[Part, ...]] = [()]
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        nxt: list[tuple[Part, ...]] = []
        for prefix in found:
            if part != "*":
                nxt.append((*prefix, part))
                continue
            node = _walk(document, prefix, pattern, what)
            keys = (list(node) if isinstance(node, Mapping) else
                    list(range(len(node))) if isinstance(node, list) and not last else [])
            nxt.extend((*prefix, k) for k in keys)
        found = nxt
    if not found:
        raise UsageError(f"{what} {pattern!r}: the pattern matches nothing in the scenario")
    return [format_path(p) for p in found]


def count_template(document: Mapping[str, Any], path: str, what: str = "vary"
                   ) -> str | None:
    """For ``servers.count`` or ``servers.count(NAME)``: the server its copies copy (the
    last one unless named); None for any other path."""
    match = _COUNT.match(path)
    if match is None:
        return None
    servers = list(document.get("servers") or {})
    if not servers:
        raise UsageError(f"{what} {path!r}: the scenario lists no servers (with capacity:"
                         " vary capacity.servers instead)")
    name = match.group(1) or servers[-1]
    if name not in servers:
        raise UsageError(f"{what} {path!r}: no server {name!r} (servers:"
                         f" {', '.join(servers)})")
    return str(name)


def server_count_changes(document: Mapping[str, Any], count: int, template: str,
                         what: str = "vary") -> dict[str, Any]:
    """The changes that make ``count`` servers: copies of ``template`` added (named
    ``TEMPLATE-2``, ``TEMPLATE-3``, …), or servers removed from the end of the file
    (never the template); every group list that names the template lists its copies,
    and none lists a removed server."""
    servers = dict(document.get("servers") or {})
    names = list(servers)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"{what} servers.count: a whole number of servers, at least 1,"
                         f" got {count!r}")
    changes: dict[str, Any] = {}
    added: list[str] = []
    removed: list[str] = []
    if count > len(names):
        k = 2
        while len(names) + len(added) < count:
            name = f"{template}-{k}"
            if name not in servers:
                added.append(name)
                changes[name] = plain(copy.deepcopy(servers[template]))
            k += 1
    else:
        keep = [n for n in names if n == template][:1]
        others = [n for n in names if n != template]
        stay = set(keep) | set(others[:count - len(keep)])
        removed = [n for n in names if n not in stay]
        changes = dict.fromkeys(removed)
    out: dict[str, Any] = {"servers": changes} if changes else {}
    groups: dict[str, Any] = {}
    for gname, group in (document.get("groups") or {}).items():
        listed = list((group or {}).get("servers") or [])
        if not listed:
            continue
        new = [n for n in listed if n not in removed]
        if template in listed:
            new += added
        if new != listed:
            groups[str(gname)] = {"servers": new}
    if groups:
        out["groups"] = groups
    return out


def changes_for(document: Mapping[str, Any], values: Mapping[str, Any],
                what: str = "vary") -> dict[str, Any]:
    """The nested changes that set each path to its value, for ``Scenario.with_changes``.

    Every path must exist in ``document``, but its last key may be new (a job's
    ``priority`` where it had none); ``servers.count`` paths add or remove servers
    (``server_count_changes``). Lists are replaced whole when merged, so a path
    into a list item carries the whole list, copied from ``document``, with the item
    changed; everything else is left alone (a YAML alias stays one).
    """
    changes: dict[str, Any] = {}
    counted: dict[str, Any] = {}
    for path, value in values.items():
        template = count_template(document, path, what)
        if template is not None:
            counted = union(counted, server_count_changes(document, value, template, what))
            continue
        parts = parse_path(path)
        if isinstance(parts[-1], str):
            parent = _walk(document, parts[:-1], path, what)
            if not isinstance(parent, Mapping):
                raise UsageError(f"{what} {path!r}: {parts[-1]!r} is not inside a mapping")
        else:
            _walk(document, parts, path, what)
        cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), len(parts))
        node: dict[str, Any] = changes
        for part in parts[:cut - 1]:
            node = node.setdefault(str(part), {})
        last = str(parts[cut - 1])
        if cut == len(parts):
            node[last] = value
            continue
        if last not in node:
            node[last] = plain(copy.deepcopy(_walk(document, parts[:cut], path, what)))
        inner: Any = node[last]
        for part in parts[cut:-1]:
            inner = inner[part]
        inner[parts[-1]] = value
    return union(changes, counted)
