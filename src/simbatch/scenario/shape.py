"""Reading a scenario document: YAML 1.2 with line numbers, ``extends`` and merging.

This is the first phase of loading (see ``simbatch.scenario.spec``): it turns a file or a
dict into plain Python data plus a map from each path to its line. Its shape (known keys,
types, ranges) is checked next, by ``simbatch.scenario.schema``; cross-references and
meaning are checked later, by the builder.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from simbatch.errors import EXCERPT, ScenarioError, excerpt
from simbatch.scenario import yamlfile as safeyaml

Loc = tuple[str | int, ...]
MAX_EXTENDS = 16
"""The longest chain of files that extend one another (a base, its what-if, and so on)."""


def format_path(loc: Loc) -> str:
    """A path inside a scenario as messages print it: ``jobs.JOB 1.tasks.TASK 7.after``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            key = str(part) if len(str(part)) <= EXCERPT else f"{str(part)[:EXCERPT - 1]}…"
            out += f".{key}" if out else key
    return out


Origin = tuple[str, int]
"""Where a key was written: the file as the user named it, and the line."""


class Document:
    """Plain scenario data with where each key was written, so that errors can point at it.

    With ``extends:``, keys come from several files; each keeps its own file and line.
    """

    def __init__(self, data: dict[str, Any], source: str, origins: dict[Loc, Origin],
                 folder: Path | None, *, from_file: bool = False, located: bool = True) -> None:
        self.data = data
        self.source = source
        self.origins = origins
        self.folder = folder
        self.from_file = from_file
        """Whether the data was read from a scenario file (its name is the file's stem)."""
        self.located = located
        """Whether ``origins`` holds the line of every key (False after a quick read)."""

    def origin(self, loc: Loc) -> tuple[str, int | None]:
        """The file and line of ``loc``, or of its nearest enclosing key the loader saw."""
        for end in range(len(loc), 0, -1):
            found = self.origins.get(tuple(loc[:end]))
            if found is not None:
                return found
        return self.source, None

    def line(self, loc: Loc) -> int | None:
        """The line of ``loc`` (or of its nearest enclosing key)."""
        return self.origin(loc)[1]

    def folder_of(self, loc: Loc) -> Path | None:
        """The folder of the file that wrote ``loc``: relative paths there are relative to it."""
        source, line = self.origin(loc)
        if line is None or source == self.source:
            return self.folder
        return Path(source).resolve().parent

    def error(self, loc: Loc, problem: str, at: Loc | None = None) -> ScenarioError:
        """A ``ScenarioError`` at ``loc``, in the file that wrote it (printed as path ``at``)."""
        source, line = self.origin(loc)
        return ScenarioError(source, format_path(loc if at is None else at), problem, line)


def _plain(node: Any, source: str, lines: dict[Loc, Origin] | None = None) -> Any:
    """Copy a ruamel tree (or a Python mapping) into plain dicts, lists and scalars, noting
    each key's line in ``lines``.

    The walk keeps its own stack, so no nesting reaches Python's recursion limit; nesting
    deeper than ``yamlfile.MAX_DEPTH`` (which the YAML reader refuses too, and which a
    mapping that contains itself reaches) is a ``ScenarioError`` at the path it reaches.
    """
    if not isinstance(node, Mapping | list):
        return _scalar(node)
    root: Any = {} if isinstance(node, Mapping) else []
    stack: list[tuple[Any, Any, Loc]] = [(node, root, ())]
    while stack:
        here_node, out, loc = stack.pop()
        if len(loc) >= safeyaml.MAX_DEPTH:
            raise ScenarioError(source, format_path(loc), f"nested more than"
                                f" {safeyaml.MAX_DEPTH} levels deep")
        lc = getattr(here_node, "lc", None)
        if isinstance(here_node, Mapping):
            for key, value in here_node.items():
                plain_key = _scalar(key) if not isinstance(key, Mapping | list) else str(key)
                here = (*loc, plain_key if isinstance(plain_key, str | int) else str(plain_key))
                if lc is not None and lines is not None:
                    with contextlib.suppress(KeyError, TypeError):  # merged keys carry no mark
                        lines[here] = (source, lc.key(key)[0] + 1)
                out[plain_key] = _child(value, here, stack)
        else:
            for i, value in enumerate(here_node):
                here = (*loc, i)
                if lc is not None and lines is not None:
                    with contextlib.suppress(KeyError, TypeError, IndexError):
                        lines[here] = (source, lc.item(i)[0] + 1)
                out.append(_child(value, here, stack))
    return root


def _child(value: Any, loc: Loc, stack: list[tuple[Any, Any, Loc]]) -> Any:
    """A plain copy of ``value``: a scalar now, a container filled when ``stack`` reaches it."""
    if not isinstance(value, Mapping | list):
        return _scalar(value)
    out: Any = {} if isinstance(value, Mapping) else []
    stack.append((value, out, loc))
    return out


def _scalar(node: Any) -> Any:
    """A plain scalar (ruamel's scalar types are subclasses of Python's)."""
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, dt.datetime):
        return dt.datetime(node.year, node.month, node.day, node.hour, node.minute, node.second,
                           node.microsecond, tzinfo=node.tzinfo)
    return _python_time(node)


def _python_time(node: Any) -> Any:
    """Python times in a scenario given as a dict, as the YAML would write them.

    A ``timedelta`` (pandas' and numpy's included) becomes exact seconds such as
    ``"5400s"``; a ``datetime.time`` becomes ``"HH:MM:SS"``. Dates and datetimes stay as
    they are: the builder reads them.
    """
    if isinstance(node, dt.timedelta | np.timedelta64):
        import pandas as pd  # only mappings from Python carry timedeltas

        span: Any = pd.Timedelta(node)  # NaT for a missing numpy value
        if pd.isna(span):
            return node
        return f"{Decimal(span.value) / 10**9}s"
    if isinstance(node, dt.time):
        if node.tzinfo is not None:
            return node
        return node.isoformat()
    return node


def read_file(path: str | Path, _chain: tuple[Path, ...] = (), *,
              quick: bool = False) -> Document:
    """Read a scenario file as YAML 1.2, keeping the line of every key; follow ``extends:``.

    With ``quick``, a large plain file (``safeyaml.quick_load``) is read by libyaml
    without the lines (``Document.located`` is False): the caller reads it again the
    slow way when it needs a line for a message. A file that extends another is always
    read with its lines, since relative paths follow the file that wrote them.
    """
    doc = _read_one(path, quick and not _chain)
    if not doc.located and "extends" in doc.data:
        doc = _read_one(path, False)
    base = doc.data.pop("extends", None)
    if base is None:
        return doc
    here = Path(path).resolve()
    if not isinstance(base, str):
        raise doc.error(("extends",), f"extends takes a file name, got {excerpt(base)}")
    try:
        target = (here.parent / base).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop (RuntimeError before 3.13)
        raise doc.error(("extends",), f"extends {excerpt(base)}, which cannot be followed:"
                                      f" {excerpt(str(exc))}") from None
    chain = (*_chain, here)
    if target in chain:
        names = " -> ".join(p.name for p in (*chain[chain.index(target):], target))
        raise doc.error(("extends",), f"extends itself: {names}")
    if len(chain) >= MAX_EXTENDS:
        raise doc.error(("extends",), f"a chain of more than {MAX_EXTENDS} files extending"
                                      " one another")
    if not target.exists():
        raise doc.error(("extends",), f"extends {excerpt(base)}, but there is no such file"
                                      f" ({target})")
    if not target.is_file():
        raise doc.error(("extends",), f"extends {excerpt(base)}, which is not a file but a"
                                      f" {'folder' if target.is_dir() else 'special file'}"
                                      f" ({target})")
    parent = read_file(target, chain)
    try:
        data = merge(parent.data, doc.data)
    except MergeError as exc:
        raise doc.error(exc.loc, str(exc)) from None
    origins: dict[Loc, Origin] = {}
    for loc in _paths(data):
        found = doc.origins.get(loc) or parent.origins.get(loc)
        if found is not None:
            origins[loc] = found
    return Document(data, doc.source, origins, doc.folder, from_file=True)


class MergeError(ValueError):
    """A change removes (``null``) a key the base does not have: likely a typo."""

    def __init__(self, loc: Loc) -> None:
        self.loc = loc
        super().__init__(f"null removes {excerpt(format_path(loc))}, but the base has no such key")


def merge(base: Mapping[str, Any], changes: Mapping[str, Any], loc: Loc = ()) -> dict[str, Any]:
    """Deep-merge ``changes`` into ``base``: maps merge, other values replace, null removes.

    Walked with an explicit stack, depth first in the order of ``changes``, so changes of
    any depth merge without recursion and the first bad key is the one reported.
    """
    out = dict(base)
    stack = [(out, base, iter(changes.items()), loc)]
    while stack:
        target, old, items, here = stack[-1]
        for key, value in items:
            if value is None:
                if key not in target:
                    raise MergeError((*here, key))
                del target[key]
            elif isinstance(value, Mapping) and isinstance(old.get(key), Mapping):
                inner = dict(old[key])
                target[key] = inner
                stack.append((inner, old[key], iter(value.items()), (*here, key)))
                break
            else:
                target[key] = value
        else:
            stack.pop()
    return out


def _paths(node: Any) -> list[Loc]:
    """Every key and list item path in plain data, in document order (without recursion)."""
    out: list[Loc] = []
    stack = _children(node, ())
    while stack:
        value, loc = stack.pop()
        out.append(loc)
        stack.extend(_children(value, loc))
    return out


def _children(node: Any, loc: Loc) -> list[tuple[Any, Loc]]:
    """The items of a dict or list with their paths, last first (for a stack)."""
    items = (node.items() if isinstance(node, dict)
             else enumerate(node) if isinstance(node, list) else ())
    return [(value, (*loc, key)) for key, value in items][::-1]


def _read_one(path: str | Path, quick: bool = False) -> Document:
    source = str(path)
    try:
        text = safeyaml.read_text(path)
    except FileNotFoundError:
        raise ScenarioError(source, "", "no such file") from None
    except safeyaml.YamlLimitError as exc:
        raise ScenarioError(source, "", exc.problem) from None
    except OSError as exc:
        raise ScenarioError(source, "", f"cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(source, "", f"cannot be read: {exc}") from None
    if quick:
        plain = safeyaml.quick_load(text)
        if isinstance(plain, dict):
            return Document(_plain(plain, source), source, {},
                            Path(path).resolve().parent, from_file=True, located=False)
    try:
        tree = safeyaml.reader().load(text)
    except safeyaml.YamlLimitError as exc:
        raise ScenarioError(source, "", exc.problem, exc.line) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        duplicate = re.search(r'found duplicate key ("[^"]*")', problem)
        if duplicate:
            problem = f"duplicate key {duplicate.group(1)}"
        raise ScenarioError(source, "", f"not valid YAML: {problem}",
                            mark.line + 1 if mark else None) from None
    except (YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ScenarioError(source, "", f"not valid YAML: {excerpt(str(exc), quoted=False)}"
                            ) from None
    if tree is None:
        raise ScenarioError(source, "", "the file is empty")
    if not isinstance(tree, Mapping):
        raise ScenarioError(source, "", "a scenario must be a mapping of keys, got"
                            f" {_what(tree)}")
    try:
        written, expanded = safeyaml.expansion(tree)
    except safeyaml.YamlLimitError as exc:
        raise ScenarioError(source, "", exc.problem) from None
    if expanded - written > safeyaml.MAX_EXPANSION:
        raise ScenarioError(source, "", f"aliases expand {written:,} written values to"
                                        f" {expanded:,}, more than {safeyaml.MAX_EXPANSION:,}"
                                        " beyond the file; is an alias repeated in a loop?")
    lines: dict[Loc, Origin] = {}
    data = _plain(tree, source, lines)
    return Document(data, source, lines, Path(path).resolve().parent, from_file=True)


def _what(tree: Any) -> str:
    """What a file holds instead of a mapping, named by its type: never its contents (a
    mistaken ``extends: /etc/passwd`` must not print the file)."""
    if isinstance(tree, str):
        return f"text ({len(tree):,} characters)"
    if isinstance(tree, list):
        return f"a list ({len(tree):,} items)"
    return f"a single value ({type(tree).__name__})"


def from_mapping(data: Mapping[str, Any], source: str = "<scenario>",
                 folder: Path | None = None) -> Document:
    """A scenario given as a Python mapping (no line numbers)."""
    if not isinstance(data, Mapping):
        raise ScenarioError(source, "",
                            f"a scenario must be a mapping of keys, got {excerpt(data)}")
    if "extends" in data:
        raise ScenarioError(source, "extends", "extends is for scenario files; in Python use"
                                               " simbatch.load(base).with_changes({...})")
    return Document(_plain(data, source), source, {}, folder)
