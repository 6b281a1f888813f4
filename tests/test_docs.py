"""The docs stay true: the README's Quick start is what CI runs, every ```bash example in
the README and the docs runs as written, every shown output is what the command prints,
and the site builds in strict mode (no broken link or anchor).

Conventions the docs follow (also stated in ``docs/index.md``):
- A ```bash block holds commands to run from the repository root, on bundled files, that
  finish quickly. A line ending in a backslash continues on the next; ``#`` lines are
  comments. A user's own files or placeholders go in a ```text block instead.
- The blocks of one page run in order, as one session: a later block may read what an
  earlier one wrote (under ``out/``, which git ignores).
- A line ``<!-- output of the command above -->`` right after a ```bash block, followed by
  a ```text block, shows what the block's last command prints. The test compares the two,
  line by line, ignoring trailing spaces and blank lines at either end.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

OUTPUT_MARKER = "<!-- output of the command above -->"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.M | re.S)


def quick_start() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_has_two_commands_and_ci_runs_the_second() -> None:
    run, test = quick_start()
    assert "simbatch run scenarios/" in run
    assert "pytest" in test
    assert test in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    scenario = re.search(r"(scenarios/\S+\.yaml)", run)
    assert scenario is not None and (ROOT / scenario.group(1)).exists()


@dataclass
class Block:
    """One ```bash block: where it is, its commands, and the output shown after it."""

    line: int
    commands: list[str]
    shown: str | None = None


def commands_of(body: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments and blanks dropped."""
    joined = re.sub(r"[ \t]*\\\n[ \t]*", " ", body)
    return [line.strip() for line in joined.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def bash_blocks(path: Path) -> list[Block]:
    """Every ```bash block of a Markdown file, with the output shown after it, if any."""
    text = path.read_text(encoding="utf-8")
    fences = list(FENCE.finditer(text))
    blocks = []
    for i, fence in enumerate(fences):
        if fence.group("lang") != "bash":
            continue
        indent = len(fence.group("indent"))
        body = "\n".join(line[indent:] for line in fence.group("body").splitlines())
        block = Block(text.count("\n", 0, fence.start()) + 1, commands_of(body))
        after = text[fence.end():].lstrip()
        if after.startswith(OUTPUT_MARKER):
            shown = fences[i + 1] if i + 1 < len(fences) else None
            between = text[fence.end():shown.start()] if shown else ""
            assert shown is not None and shown.group("lang") == "text" and \
                between.strip() == OUTPUT_MARKER, \
                f"{path.name}:{block.line}: the output marker must be followed by a ```text block"
            block.shown = shown.group("body")
        blocks.append(block)
    return blocks


def documented_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines()).strip("\n")


PAGES_WITH_COMMANDS = [p for p in documented_pages() if bash_blocks(p)]


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES_WITH_COMMANDS,
                         ids=[str(p.relative_to(ROOT)) for p in PAGES_WITH_COMMANDS])
def test_every_bash_example_runs_and_prints_what_is_shown(page: Path) -> None:
    setup = set(quick_start())  # they create the venv: the suite already runs inside one
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
           f"{os.environ.get('PATH', '')}", "COLUMNS": "100", "NO_COLOR": "1"}
    for block in bash_blocks(page):
        commands = [c for c in block.commands if c not in setup]
        for command in commands:
            done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)
            where = f"{page.relative_to(ROOT)}:{block.line}: {command}"
            assert done.returncode == 0, f"{where}\nexit {done.returncode}\n{done.stderr}"
        if block.shown is not None:
            assert commands, f"{page.name}:{block.line}: an output shown for no command"
            assert normalise(done.stdout) == normalise(block.shown), \
                f"{where}: the output shown differs from what it prints:\n{done.stdout}"


def test_bash_blocks_are_parsed_as_documented(tmp_path: Path) -> None:
    sample = ("```bash\nsimbatch run a.yaml \\\n    --out out  # here\n# a comment\n\n"
              "simbatch validate a.yaml\n```\n\n" + OUTPUT_MARKER +
              "\n```text\na.yaml: valid  \n```\n")
    path = tmp_path / "sample.md"
    path.write_text(sample, encoding="utf-8")
    (block,) = bash_blocks(path)
    assert block.commands == ["simbatch run a.yaml --out out  # here",
                              "simbatch validate a.yaml"]
    assert block.shown is not None and normalise(block.shown) == "a.yaml: valid"


def test_readme_is_short_and_links_into_the_docs() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    links = re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", text)
    assert links, "the README links into docs/"
    for link in links:
        assert (ROOT / link).exists(), link


@pytest.mark.slow
def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "cli" / "index.html").exists()


def test_every_python_example_parses() -> None:
    for page in documented_pages():
        text = page.read_text(encoding="utf-8")
        for fence in FENCE.finditer(text):
            if fence.group("lang") == "python":
                line = text.count("\n", 0, fence.start()) + 1
                try:
                    ast.parse(textwrap.dedent(fence.group("body")))
                except SyntaxError as error:
                    pytest.fail(f"{page.relative_to(ROOT)}:{line}: {error}")
