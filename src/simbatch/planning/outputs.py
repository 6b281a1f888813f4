"""What a plan writes: the recommendation as a what-if file.

``Plan.write`` computes what to write; the text of the file is made here. The plan's HTML
page is rendered by ``simbatch.present.plan_report``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from simbatch.errors import UsageError
from simbatch.files import write_text

__all__ = ["write_whatif"]


def write_whatif(out: str | Path, source: str, changes: Mapping[str, Any],
                 comments: Sequence[str]) -> Path:
    """Write ``changes`` as a what-if file that ``extends:`` the scenario file ``source``.

    ``comments`` open the file, one ``#`` line each; string values are double-quoted, as
    the bundled files write times.
    """
    from ruamel.yaml import YAML

    base = Path(source)
    if not base.is_file():
        raise UsageError(f"the plan's base {source!r} is not a file; a"
                         " what-if file extends a scenario file")
    path = Path(out)
    relative = os.path.relpath(base.resolve(), path.parent.resolve())
    lines = [f"# {comment}" for comment in comments] + [""]
    writer = YAML()
    writer.default_flow_style = None
    buffer = io.StringIO()
    writer.dump(_quoted({"extends": relative, **changes}), buffer)
    return write_text(path, "\n".join(lines) + buffer.getvalue())


def _quoted(node: Any) -> Any:
    """Plain data with string values double-quoted, as the bundled files write times."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(node, dict):
        out = CommentedMap((k, _quoted(v)) for k, v in node.items())
        if not any(isinstance(v, dict | list) for v in node.values()):
            out.fa.set_flow_style()  # a leaf map on one line: {from: "08:00", ...}
        return out
    if isinstance(node, list):
        return [_quoted(v) for v in node]
    return DoubleQuotedScalarString(node) if isinstance(node, str) else node
