"""What a plan writes: the recommendation as a what-if file, and its HTML page.

``Plan.write`` and ``Plan.report`` compute what to show; the text of the file and of the
page is made here.
"""

from __future__ import annotations

import html
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from simbatch.errors import UsageError

__all__ = ["plan_page", "write_whatif"]


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
    path.parent.mkdir(parents=True, exist_ok=True)
    relative = os.path.relpath(base.resolve(), path.parent.resolve())
    lines = [f"# {comment}" for comment in comments] + [""]
    writer = YAML()
    writer.default_flow_style = None
    buffer = io.StringIO()
    writer.dump(_quoted({"extends": relative, **changes}), buffer)
    path.write_text("\n".join(lines) + buffer.getvalue(), encoding="utf-8")
    return path


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


def plan_page(*, scenario: str, version: str, met: bool, choice: Mapping[str, int],
              base: Mapping[str, int], runs: int, budget: int | None, tried: int, grid: int,
              seed: int, confidence: float, notes: Sequence[str], estimates: pd.DataFrame,
              plot: Figure, replications: int, differences: pd.DataFrame,
              candidates: pd.DataFrame) -> str:
    """The plan's HTML page, from plain data that ``Plan.report`` prepares.

    ``scenario``: the base scenario's name; ``version``: simbatch's; ``met``: whether the
    choice meets the targets; ``choice`` and ``base``: the varied paths' values in the
    choice and in the base; ``runs`` spent of ``budget`` (None: no budget) over ``tried``
    of ``grid`` candidates, on replication seeds from ``seed``; ``confidence`` of the
    one-sided bounds; ``notes``: what the plan found worth saying; ``estimates``: the
    targets judged at the choice; ``plot``: the cost against the targets;
    ``differences``: the choice minus the base over ``replications`` paired replications,
    the interval in the last column; ``candidates``: every candidate tried.
    """
    from simbatch.present.report import STYLE, png, table

    shown = ", ".join(f"{p} = {v}" for p, v in choice.items())
    shown_base = ", ".join(f"{p} = {v}" for p, v in base.items())
    verdict = ("<div class='finding ok'>The targets are met" if met else
               "<div class='finding'>No candidate in the ranges meets the targets; the"
               " best found is shown")
    parts = [f"<h1>Capacity plan: {html.escape(scenario)}</h1>",
             f"<p class='muted'>simbatch {version}; {runs} runs spent"
             f" (budget {budget if budget is not None else 'none'}) over"
             f" {tried} of {grid} candidates; common random"
             f" numbers, seed {seed}; {confidence:.0%} one-sided bounds.</p>",
             f"{verdict}: {html.escape(shown)} (base: {html.escape(shown_base)}).</div>",
             *(f"<div class='finding'>{html.escape(note)}</div>" for note in notes),
             "<h2>Targets at the choice</h2>", table(estimates),
             "<h2>Cost against the targets</h2>", png(plot),
             f"<h2>The choice against the base ({replications} paired replications)</h2>",
             "<p class='muted'>The same replication seeds in both, so the same arrivals,"
             " durations and failures; waits in seconds.</p>",
             table(differences),
             "<h2>Every candidate tried</h2>", table(candidates)]
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>simbatch plan: {html.escape(scenario)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
