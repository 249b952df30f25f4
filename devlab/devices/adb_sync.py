"""The adb sync v1 service (STAT, SEND, RECV) and the shell services (v2, and v1 for Android < 7) on an open adb
transport, with timeouts.

Why not adbutils' own sync/shell: its push sends 4 KiB chunks with no timeout and its shell timeout is per read; here
every socket operation has a stall timeout, pushes send 64 KiB DATA packets (the protocol's maximum), and every
failure says how far it got.
"""

from __future__ import annotations

import socket
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 64 * 1024
MAX_PATH = 1024


class TransportLost(Exception):
    """The connection broke or stalled; `done` bytes of the payload had gone through."""

    def __init__(self, message: str, done: int = 0) -> None:
        super().__init__(message)
        self.done = done


class RemoteRefused(Exception):
    """The device answered FAIL (no such file, permission denied, ...)."""


@dataclass(frozen=True)
class RemoteStat:
    mode: int
    size: int
    mtime: int

    @property
    def exists(self) -> bool:
        return self.mode != 0

    @property
    def is_file(self) -> bool:
        return stat.S_ISREG(self.mode)


def _recv_exact(sock: socket.socket, size: int, done: int = 0) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        try:
            chunk = sock.recv(min(remaining, 1 << 20))
        except socket.timeout:
            raise TransportLost("no answer before the timeout", done) from None
        except OSError as exc:
            raise TransportLost(f"connection broke: {exc.strerror or exc}", done) from None
        if not chunk:
            raise TransportLost("connection closed by the device or the adb server", done)
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _send(sock: socket.socket, data: bytes | memoryview, done: int = 0) -> None:
    try:
        sock.sendall(data)
    except socket.timeout:
        raise TransportLost("the device stopped taking data before the timeout", done) from None
    except OSError as exc:
        raise TransportLost(f"connection broke: {exc.strerror or exc}", done) from None


def _request(sock: socket.socket, command: bytes, path: str) -> None:
    encoded = path.encode("utf-8")
    if len(encoded) > MAX_PATH:
        raise RemoteRefused(f"path longer than {MAX_PATH} bytes")
    _send(sock, command + struct.pack("<I", len(encoded)) + encoded)


def _fail_message(sock: socket.socket) -> str:
    (length,) = struct.unpack("<I", _recv_exact(sock, 4))
    return _recv_exact(sock, length).decode("utf-8", "replace")


def sync_stat(sock: socket.socket, path: str) -> RemoteStat:
    _request(sock, b"STAT", path)
    reply = _recv_exact(sock, 16)
    if reply[:4] != b"STAT":
        raise TransportLost(f"unexpected sync reply {reply[:4]!r}")
    mode, size, mtime = struct.unpack("<III", reply[4:])
    return RemoteStat(mode, size, mtime)


def sync_send(sock: socket.socket, source: BinaryIO, path: str, mode: int) -> int:
    """Stream `source` to `path`; returns the bytes sent."""
    _request(sock, b"SEND", f"{path},{stat.S_IFREG | mode}")
    sent = 0
    buffer = bytearray(8 + CHUNK)
    view = memoryview(buffer)
    while True:
        count = source.readinto(view[8:])  # type: ignore[attr-defined]
        if not count:
            break
        buffer[0:8] = b"DATA" + struct.pack("<I", count)
        _send(sock, view[:8 + count], sent)
        sent += count
    _send(sock, b"DONE" + struct.pack("<I", int(time.time())), sent)
    reply = _recv_exact(sock, 4, sent)
    if reply == b"FAIL":
        raise RemoteRefused(_fail_message(sock))
    if reply != b"OKAY":
        raise TransportLost(f"unexpected sync reply {reply!r}", sent)
    _recv_exact(sock, 4, sent)
    return sent


def sync_recv(sock: socket.socket, path: str, target: Path) -> int:
    """Write `path` into `target`; returns the bytes received."""
    _request(sock, b"RECV", path)
    received = 0
    with target.open("wb") as out:
        while True:
            header = _recv_exact(sock, 8, received)
            kind, length = header[:4], struct.unpack("<I", header[4:])[0]
            if kind == b"DATA":
                out.write(_recv_exact(sock, length, received))
                received += length
            elif kind == b"DONE":
                return received
            elif kind == b"FAIL":
                raise RemoteRefused(_recv_exact(sock, length).decode("utf-8", "replace"))
            else:
                raise TransportLost(f"unexpected sync reply {kind!r}", received)


def shell_v2(sock: socket.socket, deadline: float) -> tuple[int, bytes, bytes]:
    """Read shell v2 packets until the exit packet: (exit code, stdout, stderr). Raises TransportLost on timeout."""
    stdout = bytearray()
    stderr = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportLost("the command did not finish before the timeout")
        sock.settimeout(remaining)
        header = _recv_exact(sock, 5)
        kind, length = header[0], struct.unpack("<I", header[1:])[0]
        data = _recv_exact(sock, length) if length else b""
        if kind == 1:
            stdout += data
        elif kind == 2:
            stderr += data
        elif kind == 3:
            return (data[0] if data else 255), bytes(stdout), bytes(stderr)


def shell_v1(sock: socket.socket, deadline: float) -> bytes:
    """Read a shell v1 stream until the device closes it: stdout and stderr as one stream, no exit code (the caller
    appends an `echo` of `$?` to its command). Raises TransportLost on timeout."""
    output = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportLost("the command did not finish before the timeout", len(output))
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            raise TransportLost("the command did not finish before the timeout", len(output)) from None
        except OSError as exc:
            raise TransportLost(f"connection broke: {exc.strerror or exc}", len(output)) from None
        if not chunk:
            return bytes(output)
        output += chunk
