"""MkDocs hook: the command-line reference, rendered from the argparse parser at build time.

The page ``reference/cli.md`` holds the marker ``<!-- cli-help -->``; this hook replaces it
with the help of ``simbatch.cli.main.build_parser()`` and of each of its subcommands, so
the page can never drift from the parser.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

MARKER = "<!-- cli-help -->"
SRC = Path(__file__).resolve().parent.parent / "src"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subparsers of ``parser`` by name, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def cli_reference() -> str:
    """Markdown with the help text of ``simbatch`` and of every subcommand."""
    if str(SRC) not in sys.path:  # document this checkout, not another installed copy
        sys.path.insert(0, str(SRC))
    from simbatch.cli.main import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps to the terminal; fix it for the page
    try:
        parser = build_parser()
        parts = ["## simbatch", "", "```text", parser.format_help().rstrip(), "```", ""]
        for name, sub in _subcommands(parser).items():
            parts += [f"## simbatch {name}", "", "```text", sub.format_help().rstrip(),
                      "```", ""]
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Fill the CLI page's marker with the parser's help."""
    if MARKER in markdown:
        return markdown.replace(MARKER, cli_reference())
    return markdown
