"""The adb sync service (STAT or STA2, SEND, RECV) and the shell services (v2, and v1 for Android < 7) on an open
adb transport, with timeouts.

STAT (v1) answers mode, size and mtime as 32-bit fields, so a file of 4 GiB or more reads back with its size modulo
2^32; a phone that advertises the `stat_v2` feature (Android 8+) answers STA2 with a 64-bit size (AOSP
packages/modules/adb: file_sync_protocol.h `sync_stat_v1` / `sync_stat_v2`, daemon/file_sync_service.cpp
`do_lstat_v1` / `do_stat_v2`).

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
    """The connection broke or stalled; `done` bytes of the payload had gone through, `partial` is the shell output
    that had arrived (stdout)."""

    def __init__(self, message: str, done: int = 0, partial: bytes = b"") -> None:
        super().__init__(message)
        self.done = done
        self.partial = partial


class RemoteRefused(Exception):
    """The device answered FAIL (no such file, permission denied, ...)."""


@dataclass(frozen=True)
class RemoteStat:
    mode: int
    size: int
    mtime: int
    size_bits: int = 32      # 32 from STAT v1 (the size is modulo 2^32), 64 from STA2
    error: int = 0           # STA2 only: the errno of a failed stat (2 = no such file)

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


# sync_stat_v2 after its id: error u32, dev u64, ino u64, mode u32, nlink u32, uid u32, gid u32, size u64,
# atime i64, mtime i64, ctime i64 (72 bytes with the id)
_STAT_V2 = struct.Struct("<IQQIIIIQqqq")


def sync_stat(sock: socket.socket, path: str, v2: bool = False) -> RemoteStat:
    """stat() of `path` on the device: STA2 (64-bit size) when the phone has `stat_v2`, else STAT v1 (lstat, 32-bit
    fields; zeros when the file is missing)."""
    command = b"STA2" if v2 else b"STAT"
    _request(sock, command, path)
    reply = _recv_exact(sock, 4 + (_STAT_V2.size if v2 else 12))
    if reply[:4] != command:
        raise TransportLost(f"unexpected sync reply {reply[:4]!r}")
    if v2:
        error, _dev, _ino, mode, _nlink, _uid, _gid, size, _atime, mtime, _ctime = _STAT_V2.unpack(reply[4:])
        return RemoteStat(mode, size, mtime, size_bits=64, error=error)
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
            raise TransportLost("the command did not finish before the timeout", partial=bytes(stdout))
        sock.settimeout(remaining)
        try:
            header = _recv_exact(sock, 5)
            kind, length = header[0], struct.unpack("<I", header[1:])[0]
            data = _recv_exact(sock, length) if length else b""
        except TransportLost as exc:
            raise TransportLost(str(exc), exc.done, bytes(stdout)) from None
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
