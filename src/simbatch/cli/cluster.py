"""``--dask ADDRESS``: a dask.distributed Client, once the address is known to be a scheduler.

``connect(address)`` opens the Client, or refuses the address with a ``UsageError``
within ``DASK_TIMEOUT`` seconds. A plain TCP address is first probed
(``probe_scheduler``), since dask's client believes the length that the first eight bytes
from the server announce, and an SSH banner announces 2.8 EiB. The library itself never
turns an address into a Client (its functions take an executor), so this lives with
the command line.
"""

from __future__ import annotations

import re
import socket
import struct
import time
from typing import Any

from simbatch import UsageError

__all__ = ["DASK_TIMEOUT", "HANDSHAKE_BYTES", "connect", "probe_scheduler"]

DASK_TIMEOUT = 5.0
"""Seconds within which a dask scheduler must answer (``connect``)."""

HANDSHAKE_BYTES = 64 * 1024
"""The largest first message taken from a dask scheduler (its handshake is ~60 bytes)."""

_TCP = re.compile(r"^(?:tcp://)?(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})$")


def probe_scheduler(host: str, port: int, timeout: float = DASK_TIMEOUT) -> None:
    """Check that a dask scheduler listens at ``host:port``, reading at most
    ``HANDSHAKE_BYTES`` + 8 bytes; raise ``UsageError`` (why) when it does not.

    A scheduler speaks first: its handshake is dask's frames (an 8-byte little-endian
    total, an 8-byte frame count, 8 bytes per frame length, then the frames). A service
    that says nothing within ``timeout``, closes, or sends anything else is refused.
    """
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host.strip("[]"), port), timeout=timeout) as sock:
            head = _receive(sock, 8, deadline)
            (size,) = struct.unpack("<Q", head)
            if not 16 <= size <= HANDSHAKE_BYTES:
                raise UsageError(f"not a dask scheduler: it sent {head!r} first")
            body = _receive(sock, size, deadline)
    except TimeoutError:
        raise UsageError(f"no dask scheduler answered within {timeout:g} s") from None
    except OSError as exc:
        raise UsageError(f"no dask scheduler answers there ({type(exc).__name__}:"
                         f" {exc.strerror or exc})") from None
    (count,) = struct.unpack_from("<Q", body)
    if not 1 <= count <= (size - 8) // 8 or 8 + 8 * count + sum(
            struct.unpack_from(f"<{count}Q", body, 8)) != size:
        raise UsageError(f"not a dask scheduler: it sent {(head + body)[:24]!r} first")


def _receive(sock: socket.socket, size: int, deadline: float) -> bytes:
    """Exactly ``size`` bytes from ``sock`` by ``deadline`` (TimeoutError, or OSError when
    the other side closes first)."""
    data = bytearray()
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        sock.settimeout(left)
        chunk = sock.recv(min(size - len(data), 65536))
        if not chunk:
            raise ConnectionAbortedError(0, f"it closed the connection after {len(data)}"
                                            " bytes")
        data += chunk
    return bytes(data)


def connect(address: str, timeout: float = DASK_TIMEOUT, name: str = "dask address") -> Any:
    """A ``dask.distributed.Client`` of the scheduler at ``address``, or ``UsageError``
    (its message starts ``name 'address':``) within about ``timeout`` seconds each for the
    probe and the client.

    A plain TCP address (``HOST:PORT`` or ``tcp://HOST:PORT``) is probed first
    (``probe_scheduler``); other schemes (tls, ws, ucx, inproc) go to dask as they are.
    """
    where = f"{name} {address!r}"
    match = _TCP.match(address)
    if match is not None:
        try:
            probe_scheduler(match.group(1), int(match.group(2)), timeout)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc}") from None
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(f"{where}: needs dask.distributed: pip install"
                         " 'simbatch[cluster]'") from None
    try:
        return Client(address, timeout=f"{timeout:g}s")
    except Exception as exc:  # dask raises many kinds; each means "no scheduler here"
        reason = " ".join(str(exc).split())[:200]
        raise UsageError(f"{where}: no dask scheduler answers there ({type(exc).__name__}:"
                         f" {reason})") from None
