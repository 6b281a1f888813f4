"""The README stays true: its Quick start is what CI runs, and its scenarios exist."""

from __future__ import annotations

import re

from tests.conftest import ROOT


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
