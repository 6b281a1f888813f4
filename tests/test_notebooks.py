"""Both notebooks run from top to bottom, and are committed with their outputs stripped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_notebooks_exist() -> None:
    assert {p.name for p in NOTEBOOKS} == {"getting-started.ipynb", "topology-what-if.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_without_outputs(path: Path) -> None:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    book = nbformat.read(path, as_version=4)
    # run from a copy of the folder layout, so that files the notebook writes land in tmp
    work = tmp_path / "notebooks"
    work.mkdir()
    (tmp_path / "scenarios").symlink_to(ROOT / "scenarios")
    client = nbclient.NotebookClient(book, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    images = sum(1 for cell in book.cells for out in cell.get("outputs", [])
                 if "image/png" in out.get("data", {}))
    assert images >= 1
