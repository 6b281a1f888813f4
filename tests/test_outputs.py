"""Where outputs may go: never over a folder, FIFO, socket or device; missing folders
created only under an existing folder that is not the filesystem root."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import simbatch
from simbatch.cli.main import main
from simbatch.files import check_output, replacing, write_text
from tests.conftest import SCENARIOS

WALKTHROUGH = SCENARIOS / "walkthrough.yaml"


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def still_a_fifo(path: Path) -> bool:
    return stat.S_ISFIFO(path.lstat().st_mode)


def test_a_fifo_at_the_output_is_refused_and_kept(tmp_path: Path) -> None:
    pipe = fifo(tmp_path / "pipe")
    with pytest.raises(simbatch.UsageError) as caught:
        write_text(pipe, "x")
    assert str(caught.value) == (f"{pipe}: is a FIFO (named pipe); an output is written as a"
                                 " regular file and never replaces a folder, FIFO, socket or"
                                 " device")
    assert still_a_fifo(pipe)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left


def test_a_symlink_to_a_fifo_is_refused(tmp_path: Path) -> None:
    pipe = fifo(tmp_path / "pipe")
    link = tmp_path / "link.html"
    link.symlink_to(pipe)
    with pytest.raises(simbatch.UsageError, match="is a FIFO"):
        write_text(link, "x")
    assert link.is_symlink() and still_a_fifo(pipe)


def test_a_symlink_to_a_file_is_replaced_and_its_file_kept(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("old", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_text(link, "new")
    assert not link.is_symlink() and link.read_text(encoding="utf-8") == "new"
    assert target.read_text(encoding="utf-8") == "old"


def test_a_folder_at_the_output_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out.html").mkdir()
    with pytest.raises(simbatch.UsageError, match=r"out\.html: is a folder;"):
        write_text(tmp_path / "out.html", "x")
    assert (tmp_path / "out.html").is_dir()


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full", "/dev/zero"])
def test_a_device_is_refused(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"no {device} here")
    # the check alone: a broken check must not replace a shared machine's device node
    with pytest.raises(simbatch.UsageError, match=f"^{device}: is a character device;"):
        check_output(device)


def test_no_output_of_a_group_is_written_when_one_is_refused(tmp_path: Path) -> None:
    good, pipe = tmp_path / "new" / "a.csv", fifo(tmp_path / "b.csv")
    with pytest.raises(simbatch.UsageError, match="FIFO"), replacing(good, pipe):
        pytest.fail("the block must not run")
    assert not (tmp_path / "new").exists()  # not even its folder
    assert still_a_fifo(pipe)


def test_missing_folders_are_created_under_an_existing_folder(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c" / "out.txt"
    assert write_text(deep, "x").read_text(encoding="utf-8") == "x"


def test_missing_folders_are_not_created_under_the_root() -> None:
    path = Path("/simbatch-nonexistent-7f3a/deeper/out.html")
    with pytest.raises(simbatch.UsageError) as caught:
        write_text(path, "x")
    assert str(caught.value) == (f"{path}: the folder /simbatch-nonexistent-7f3a does not"
                                 " exist; simbatch creates missing folders under an existing"
                                 " folder, never directly under the filesystem root /")
    assert not Path("/simbatch-nonexistent-7f3a").exists()


def test_a_file_in_the_way_of_a_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("not a folder", encoding="utf-8")
    with pytest.raises(simbatch.UsageError) as caught:
        write_text(tmp_path / "a" / "b" / "out.txt", "x")
    assert str(caught.value) == (f"{tmp_path}/a/b/out.txt: {tmp_path}/a is a file,"
                                 " not a folder")
    pipe = fifo(tmp_path / "p")
    with pytest.raises(simbatch.UsageError, match=r"p is a FIFO \(named pipe\), not a folder"):
        write_text(pipe / "a", "x")


def test_a_run_folder_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file", encoding="utf-8")
    result = simbatch.simulate(WALKTHROUGH)
    with pytest.raises(simbatch.UsageError, match=r"out is a file, not a folder"):
        simbatch.write_csv(result, tmp_path / "out")


def test_the_cli_refuses_a_fifo_report(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    pipe = fifo(tmp_path / "report.html")
    code = main(["report", str(WALKTHROUGH), "--out", str(pipe)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"UsageError: --out {pipe}: is a FIFO (named pipe); an output is written"
                   " as a regular file and never replaces a folder, FIFO, socket or device\n")
    assert still_a_fifo(pipe)


def test_the_cli_refuses_a_fifo_as_the_run_folder_and_as_compares_report(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipe = fifo(tmp_path / "pipe")
    assert main(["run", str(WALKTHROUGH), "--out", str(pipe)]) == 2
    assert capsys.readouterr().err == (f"UsageError: --out {pipe}: is a special file (FIFO,"
                                       " socket or device), not a folder\n")
    assert main(["compare", str(WALKTHROUGH), "-n", "2", "--report", str(pipe)]) == 2
    err = capsys.readouterr().err  # refused before anything runs: the one line is all
    assert err == (f"UsageError: --report {pipe}: is a FIFO (named pipe); an output is"
                   " written as a regular file and never replaces a folder, FIFO, socket or"
                   " device\n")
    assert "Traceback" not in err and still_a_fifo(pipe)


def test_the_cli_refuses_a_folder_under_the_root(capsys: pytest.CaptureFixture[str]) -> None:
    out = "/simbatch-nonexistent-7f3a/csv"
    assert main(["run", str(WALKTHROUGH), "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("UsageError: /simbatch-nonexistent-7f3a/csv/tasks.csv: the folder"
                          " /simbatch-nonexistent-7f3a does not exist;")
    assert "Traceback" not in err


# ---- --dask: an address that is not a dask scheduler ---------------------------------------

@contextlib.contextmanager
def service(greeting: bytes | None, close: bool = False) -> Iterator[str]:
    """A local TCP service that sends ``greeting`` (None: nothing) to each client, then
    holds the connection (or closes it); yields its address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            if greeting:
                client.sendall(greeting)
            if close:
                client.close()
            else:
                held.append(client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for client in held:
            client.close()
        listener.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once closed


@pytest.mark.parametrize(("greeting", "close", "why"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n", False, "not a dask scheduler: it sent b'SSH-2.0-' first"),
    (b"\x00\x00\x00\x00\x01\x00\x00\x00", False,  # 4 GiB announced
     r"not a dask scheduler: it sent b'\x00\x00\x00\x00\x01\x00\x00\x00' first"),
    (b"\x18" + b"\x00" * 7 + b"\xff" * 24, False,  # a sane length, then no dask frames
     r"not a dask scheduler: it sent b'\x18\x00\x00\x00\x00\x00\x00\x00" + r"\xff" * 16
     + "' first"),
    (None, False, "no dask scheduler answered within 0.5 s"),
    (b"220 ", True, "no dask scheduler answers there (ConnectionAbortedError: it closed"
     " the connection after 4 bytes)"),
])
def test_a_service_that_is_not_a_dask_scheduler_is_refused(greeting: bytes | None,
                                                           close: bool, why: str) -> None:
    from simbatch.cli.cluster import connect

    with service(greeting, close) as address, pytest.raises(simbatch.UsageError) as caught:
        connect(address, timeout=0.5)
    assert str(caught.value) == f"dask address {address!r}: {why}"


def test_nothing_listening_is_refused() -> None:
    from simbatch.cli.cluster import connect

    address = f"127.0.0.1:{free_port()}"
    with pytest.raises(simbatch.UsageError) as caught:
        connect(address)
    assert str(caught.value) == (f"dask address {address!r}: no dask scheduler answers there"
                                 " (ConnectionRefusedError: Connection refused)")


def test_the_cli_refuses_an_ssh_server_as_a_scheduler(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with service(b"SSH-2.0-OpenSSH_9.6\r\n") as address:
        code = main(["compare", str(WALKTHROUGH), "-n", "2", "--dask", address])
    assert code == 2
    assert capsys.readouterr().err == (f"UsageError: --dask {address!r}: not a dask scheduler:"
                                       " it sent b'SSH-2.0-' first\n")


def test_a_real_scheduler_passes_the_probe() -> None:
    distributed = pytest.importorskip("distributed")
    from simbatch.cli.cluster import connect

    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        client = connect(cluster.scheduler_address)
        try:
            assert client.scheduler_info()["address"] == cluster.scheduler_address
        finally:
            client.close()


def test_a_relative_path_creates_its_folders_under_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the parents of a relative path end at ".", which is not the filesystem root
    from simbatch.files import check_output, write_text

    monkeypatch.chdir(tmp_path)
    assert check_output("out/new/report.html") == Path("out/new/report.html")
    write_text("out/new/report.html", "x")
    assert (tmp_path / "out" / "new" / "report.html").read_text() == "x"
