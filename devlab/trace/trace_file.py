"""Refuse, in one line, a file that cannot be a Perfetto trace before any reader starts on it.

A trace file is a serialized `perfetto.protos.Trace`, whose only field is `repeated TracePacket packet = 1`
(google/perfetto: protos/perfetto/trace/trace.proto), so its first byte is that field's tag, 0x0A (field 1,
length-delimited), after gunzipping when it is a .gz. An empty file, or one that starts with anything else (a log,
a JSON trace, a screenshot), is not one: the user gets that, not "corrupt at byte 2 — re-pull the trace".
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from devlab.errors import ParseError
from devlab.trace.framing import open_trace

PACKET_TAG = b"\x0a"
_FIX = "pass a .perfetto-trace file (written by perfetto -o or devlab trace record), or its .gz"


def require_trace(path: Path) -> None:
    """Raise ParseError unless `path` starts like a Perfetto trace (plain or gzip-compressed)."""
    try:
        with open_trace(path) as handle:
            head = handle.read(64)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ParseError(f"{path.name} could not be decompressed: {exc}", _FIX) from exc
    if not head:
        raise ParseError(f"{path.name} is empty: it holds no trace packets", _FIX)
    if head[:1] != PACKET_TAG:
        raise ParseError(f"{path.name} is not a Perfetto trace ({_looks_like(head)})", _FIX)


def _looks_like(head: bytes) -> str:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"its first byte is 0x{head[0]:02x}, a trace's is 0x0a"
    if text.isprintable() or all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        first = text.strip().splitlines()[0][:40] if text.strip() else ""
        return f"it is text: {first!r}"
    return f"its first byte is 0x{head[0]:02x}, a trace's is 0x0a"
