"""The rules of the house, read from the source with ``ast``.

- no import cycle between modules, not even through an import inside a function or under
  ``if TYPE_CHECKING:``;
- no private (underscore) name taken from a module of another subpackage;
- no module over 600 lines, and at most 8 modules directly under ``src/simbatch/``;
- only the front (``simbatch/__init__.py``), ``simbatch/__main__.py`` and the CLI import the
  front itself, so that no cycle runs through it.

Each checker is tried first on a small package written into a temporary folder, with a
planted breach of its rule, so that a check that passes means something.
"""

from __future__ import annotations

import ast
import functools
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "src" / "simbatch"
MAX_LINES = 600
MAX_TOP_MODULES = 8


@dataclass(frozen=True)
class Module:
    """One module of the package: its dotted name, file and syntax tree."""

    name: str
    path: Path
    file: str  # the path from the package's parent folder, for messages
    tree: ast.Module
    lines: int

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    @property
    def package(self) -> str:
        """The (sub)package the module belongs to: itself for an ``__init__.py``."""
        return self.name if self.is_package else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    """One module of the package imported by another, and the name taken from it.

    ``name`` is None when the import binds the module itself (``import a.b``,
    ``from a import b`` with ``b`` a module); else the name taken from ``target``.
    """

    source: str
    target: str
    name: str | None
    line: int


def modules(root: Path) -> dict[str, Module]:
    """Every module of the package in folder ``root``, by dotted name."""
    found: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        text = path.read_text(encoding="utf-8")
        name = ".".join(parts)
        found[name] = Module(name, path, path.relative_to(root.parent).as_posix(),
                             ast.parse(text, str(path)), len(text.splitlines()))
    return found


def _base(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` reads from (relative forms resolved)."""
    if not node.level:
        return node.module or ""
    package = module.package.split(".")
    parts = package[: len(package) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def imports(mods: dict[str, Module]) -> list[Import]:
    """Every import of one of the package's modules, anywhere in a module (in functions,
    under ``if TYPE_CHECKING:``), with ``from pkg import module`` read as the module."""
    found: list[Import] = []
    for module in mods.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                found += [Import(module.name, alias.name, None, node.lineno)
                          for alias in node.names if alias.name in mods]
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, node)
                for alias in node.names:
                    if f"{base}.{alias.name}" in mods:
                        found.append(Import(module.name, f"{base}.{alias.name}", None,
                                            node.lineno))
                    elif base in mods:
                        found.append(Import(module.name, base, alias.name, node.lineno))
    return found


def graph(mods: dict[str, Module]) -> dict[str, dict[str, int]]:
    """Module -> the modules it imports, each with the line of its first import."""
    edges: dict[str, dict[str, int]] = {name: {} for name in mods}
    for imp in imports(mods):
        if imp.target != imp.source:
            edges[imp.source].setdefault(imp.target, imp.line)
    return edges


def cycles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return sorted(found)


def one_cycle(edges: dict[str, dict[str, int]], group: list[str]) -> list[str]:
    """A shortest cycle through the group's first module: ``[a, b, ..., a]``."""
    start, members = group[0], set(group)
    before: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for succ in sorted(edges[node]):
            if succ == start:
                path = [node]
                while path[-1] != start:
                    path.append(before[path[-1]])
                return [*reversed(path), start]
            if succ in members and succ not in before:
                before[succ] = node
                queue.append(succ)
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def describe(mods: dict[str, Module], edges: dict[str, dict[str, int]],
             group: list[str]) -> str:
    """The group's modules, its shortest cycle through the first, and every import that
    binds the group, each with its file and line."""
    path = one_cycle(edges, group)
    inside = [f"    {a} -> {b} ({mods[a].file}:{line})" for a in group
              for b, line in sorted(edges[a].items()) if b in group]
    return "\n".join([f"  cycle among {', '.join(group)}", f"    for one: {' -> '.join(path)}",
                      "  through these imports:", *inside])


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(mods: dict[str, Module]) -> list[str]:
    """Private names taken from a module of another subpackage: imported by name, a
    private module imported, or read as an attribute of an imported module."""
    found: list[str] = []

    def crossing(source: str, target: str) -> bool:
        return mods[source].package != mods[target].package

    for imp in imports(mods):
        taken = imp.name if imp.name is not None else imp.target.rpartition(".")[2]
        if _private(taken) and crossing(imp.source, imp.target):
            found.append(f"{mods[imp.source].file}:{imp.line} {imp.source} takes"
                         f" {taken} from {imp.target}")
    for module in mods.values():
        bound = _bound_modules(module, mods)
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.Attribute) or not _private(node.attr):
                continue
            target = _module_of(node.value, bound, mods)
            if target is not None and crossing(module.name, target):
                found.append(f"{module.file}:{node.lineno} {module.name} reads"
                             f" {node.attr} of {target}")
    return sorted(set(found))


def _bound_modules(module: Module, mods: dict[str, Module]) -> dict[str, str]:
    """The local names that the module's imports bind to the package's modules."""
    bound: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in mods:
                    bound[alias.asname] = alias.name
                elif not alias.asname and alias.name.split(".")[0] in mods:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = _base(module, node)
            for alias in node.names:
                if f"{base}.{alias.name}" in mods:
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    return bound


def _module_of(node: ast.expr, bound: dict[str, str], mods: dict[str, Module]) -> str | None:
    """The package module an expression such as ``model`` or ``simbatch.engine.model``
    names, through the module's imports; None for anything else."""
    attrs: list[str] = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    name = bound[node.id]
    for attr in reversed(attrs):
        if f"{name}.{attr}" not in mods:
            return None
        name = f"{name}.{attr}"
    return name


def long_modules(mods: dict[str, Module]) -> list[str]:
    """The modules over ``MAX_LINES`` lines."""
    return [f"{m.name} ({m.lines} lines)" for m in mods.values() if m.lines > MAX_LINES]


def top_modules(root: Path) -> list[str]:
    """The modules directly in the package's folder."""
    return sorted(p.name for p in root.glob("*.py"))


def front_imports(mods: dict[str, Module], front: str) -> list[str]:
    """Imports of the package front by modules that may not: all but the front itself,
    ``__main__`` and the CLI (``front.cli`` and below)."""
    allowed = (front, f"{front}.__main__", f"{front}.cli")
    found: list[str] = []
    for module in mods.values():
        if module.name in allowed or module.name.startswith(f"{front}.cli."):
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                taken = [alias.name for alias in node.names if alias.name == front]
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, node)
                taken = [alias.name for alias in node.names
                         if base == front and f"{front}.{alias.name}" not in mods]
            else:
                continue
            found += [f"{module.file}:{node.lineno} {module.name} imports"
                      f" {front if name == front else f'{name} from {front}'}"
                      for name in taken]
    return found


# ---- the checkers, on a small package with planted breaches -----------------------------


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


TINY = {
    "pkg/__init__.py": "from pkg.a.one import f\n__all__ = ['f']\n",
    "pkg/run.py": "from pkg.a import one\n",
    "pkg/a/__init__.py": '"""a"""\n',
    "pkg/a/one.py": "def f() -> None:\n    from pkg.b import two\n\n\ndef _helper() -> None:\n"
                    "    pass\n",
    "pkg/a/long.py": "x = 1\n" * (MAX_LINES + 1),
    "pkg/a/fits.py": "x = 1\n" * MAX_LINES,
    "pkg/b/__init__.py": "",
    "pkg/b/two.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                    "    from ..a.one import f\n_shared = 1\n",
    "pkg/b/three.py": "from pkg.a.one import _helper\nfrom .two import _shared\n"
                      "from . import two\nimport pkg.a.one as first\nimport pkg\n"
                      "from pkg import f\nfrom pkg import run\n"
                      "first._helper()\ntwo._shared\npkg.a.one._helper()\nfirst.__name__\n",
    "pkg/c/__init__.py": "from pkg.c.six import _g\n",
    "pkg/c/four.py": "from pkg.c.five import g\n",
    "pkg/c/five.py": "from ..c import six\ng = six\n",
    "pkg/c/six.py": "import pkg.c.four\n\ndef _g() -> None:\n    pass\n",
    "pkg/cli/__init__.py": "import pkg\n",
    "pkg/cli/main.py": "from pkg import f\n",
    "pkg/__main__.py": "from pkg import f\n",
}


def test_imports_resolve_every_form(tmp_path: Path) -> None:
    mods = modules(write(tmp_path, TINY))
    assert "pkg.a" in mods and "pkg.a.one" in mods and mods["pkg.a"].package == "pkg.a"
    assert mods["pkg.b.two"].package == "pkg.b"
    edges = graph(mods)
    assert edges["pkg.a.one"] == {"pkg.b.two": 2}  # inside a function; from PKG import MODULE
    assert edges["pkg.b.two"] == {"pkg.a.one": 4}  # relative, under TYPE_CHECKING
    assert edges["pkg.run"] == {"pkg.a.one": 1}
    assert edges["pkg.c.five"] == {"pkg.c.six": 1}  # from ..c import six
    assert set(edges["pkg.b.three"]) == {"pkg.a.one", "pkg.b.two", "pkg", "pkg.run"}


def test_cycles_are_found_with_their_modules(tmp_path: Path) -> None:
    mods = modules(write(tmp_path, TINY))
    edges = graph(mods)
    found = cycles(edges)
    assert found == [["pkg.a.one", "pkg.b.two"],  # through a function and TYPE_CHECKING
                     ["pkg.c.five", "pkg.c.four", "pkg.c.six"]]
    assert one_cycle(edges, found[1]) == ["pkg.c.five", "pkg.c.six", "pkg.c.four",
                                          "pkg.c.five"]
    assert describe(mods, edges, found[1]).splitlines()[1:] == [
        "    for one: pkg.c.five -> pkg.c.six -> pkg.c.four -> pkg.c.five",
        "  through these imports:",
        "    pkg.c.five -> pkg.c.six (pkg/c/five.py:1)",
        "    pkg.c.four -> pkg.c.five (pkg/c/four.py:1)",
        "    pkg.c.six -> pkg.c.four (pkg/c/six.py:1)"]
    del edges["pkg.c.six"]["pkg.c.four"]
    assert cycles(edges) == found[:1]
    assert cycles({"x": {"y": 1}, "y": {"z": 1}, "z": {}}) == []


def test_private_names_from_another_subpackage_are_found(tmp_path: Path) -> None:
    found = private_imports(modules(write(tmp_path, TINY)))
    assert found == [
        "pkg/b/three.py:1 pkg.b.three takes _helper from pkg.a.one",
        "pkg/b/three.py:10 pkg.b.three reads _helper of pkg.a.one",
        "pkg/b/three.py:8 pkg.b.three reads _helper of pkg.a.one",
    ]  # not _shared (same subpackage), not __name__, nor pkg.c's own _g


def test_long_modules_and_the_top_are_counted(tmp_path: Path) -> None:
    root = write(tmp_path, TINY)
    assert long_modules(modules(root)) == [f"pkg.a.long ({MAX_LINES + 1} lines)"]
    assert top_modules(root) == ["__init__.py", "__main__.py", "run.py"]


def test_imports_of_the_front_are_found(tmp_path: Path) -> None:
    assert front_imports(modules(write(tmp_path, TINY)), "pkg") == [
        "pkg/b/three.py:5 pkg.b.three imports pkg",
        "pkg/b/three.py:6 pkg.b.three imports f from pkg",
    ]  # from pkg import run is a module; the front, __main__ and the CLI may


# ---- the rules, on simbatch ---------------------------------------------------------------


@functools.cache
def house() -> dict[str, Module]:
    """simbatch's modules, read once."""
    return modules(PACKAGE)


def test_no_import_cycle() -> None:
    edges = graph(house())
    found = cycles(edges)
    assert not found, "import cycles (imports in functions and under TYPE_CHECKING count):\n" \
        + "\n".join(describe(house(), edges, group) for group in found)


def test_no_private_name_from_another_subpackage() -> None:
    found = private_imports(house())
    assert not found, "private names taken across subpackages:\n" + "\n".join(found)


def test_no_module_over_600_lines() -> None:
    found = long_modules(house())
    assert not found, f"modules over {MAX_LINES} lines: " + ", ".join(found)


def test_at_most_8_modules_at_the_top() -> None:
    found = top_modules(PACKAGE)
    assert len(found) <= MAX_TOP_MODULES, found


def test_only_the_front_and_the_cli_import_the_front() -> None:
    found = front_imports(house(), "simbatch")
    assert not found, "import from the defining module, not the front:\n" + "\n".join(found)
