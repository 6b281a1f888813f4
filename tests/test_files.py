"""Output files: written atomically, with the permissions the umask gives a new file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from simbatch.files import replacing, write_bytes, write_text


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_file_honours_the_umask(tmp_path: Path, umask_022: None) -> None:
    path = write_text(tmp_path / "deep" / "a.txt", "hello")
    assert path.read_text(encoding="utf-8") == "hello"
    assert path.stat().st_mode & 0o777 == 0o644
    os.umask(0o077)
    assert write_bytes(tmp_path / "b.bin", b"x").stat().st_mode & 0o777 == 0o600


def test_nothing_is_replaced_when_the_block_raises(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    write_text(first, "old")
    with pytest.raises(RuntimeError), replacing(first, second) as temps:
        for temp in temps:
            temp.write_text("new", encoding="utf-8")
        raise RuntimeError("interrupted")
    assert first.read_text(encoding="utf-8") == "old" and not second.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv"]  # no temporary left


def test_run_outputs_are_readable_by_others(tmp_path: Path, umask_022: None) -> None:
    import simbatch
    from tests.test_metrics import tiny

    result = simbatch.simulate(tiny())
    written = [*simbatch.write_csv(result, tmp_path / "csv"),
               *simbatch.write_fo_history(result, tmp_path / "fo")]
    assert [p.stat().st_mode & 0o777 for p in written] == [0o644] * 8
