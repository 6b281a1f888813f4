"""Paths into a scenario document, as messages print them: ``servers.AOS1.periods[1].threads``.

Sweeps and plans address the values they vary this way. One walker reads a path and
both ways of changing a document go through it:
- ``set_values`` sets each path in a copy of the document (a sweep's variants);
- ``changes_for`` gives the nested changes that ``Scenario.with_changes`` merges in (a
  plan's candidates). Merging replaces lists whole, so a path into a list item carries
  the whole list with that item changed.

Errors name the path and say which part of it the scenario lacks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from simbatch.errors import UsageError, excerpt
from simbatch.scenario.shape import format_path

__all__ = ["Part", "changes_for", "get_value", "parse_path", "plain", "set_values"]

Part = str | int
"""A key of a mapping or the index of a list item."""

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


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
    for path, value in values.items():
        parts = parse_path(path)
        *above, last = parts
        node = _walk(out, above, path, what)
        if isinstance(last, int):
            _walk(out, parts, path, what)
        elif not isinstance(node, dict):
            raise UsageError(f"{what} {excerpt(path)}: {excerpt(last)} is not inside a mapping")
        node[last] = value
    return out


def changes_for(document: Mapping[str, Any], values: Mapping[str, Any],
                what: str = "vary") -> dict[str, Any]:
    """The nested changes that set each path to its value, for ``Scenario.with_changes``.

    Every path must exist in ``document``. Lists are replaced whole when merged, so a path
    into a list item carries the whole list, copied from ``document``, with the item
    changed; everything else is left alone (a YAML alias stays one).
    """
    changes: dict[str, Any] = {}
    for path, value in values.items():
        parts = parse_path(path)
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
    return changes
