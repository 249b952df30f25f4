"""Split a Perfetto trace file into TracePackets without holding the file in memory.

A trace is a `perfetto.protos.Trace`: a run of length-delimited field-1 records, one per TracePacket. We scan the
record headers in Python (cheap: one varint pair per packet) and hand runs of whole records to upb as one `Trace`
message per batch. Decoding a batch costs the same as decoding those packets one by one, but it keeps the
per-packet Python overhead out of the hot loop; each batch is a fresh message, so memory stays at one batch.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace, TracePacket

from devlab.errors import ParseError

GZIP_MAGIC = b"\x1f\x8b"
BATCH_BYTES = 4 << 20
_FIX = "re-pull the trace; stop perfetto with SIGTERM (kill <pid>) so it flushes, and check the disk was not full"


def _varint(buf: bytes | memoryview, pos: int, end: int) -> tuple[int, int]:
    """Decode a varint at pos; returns (value, next_pos), or (-1, pos) when the buffer ends inside it."""
    value = shift = 0
    while pos < end:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")
    return -1, pos


def open_trace(path: Path) -> BinaryIO:
    """The trace's bytes, gunzipped on the fly when the file is gzip-compressed."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise ParseError(f"cannot open trace {path}: {exc.strerror}", "pass an existing .perfetto-trace file") from exc
    magic = handle.read(2)
    handle.seek(0)
    if magic == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=handle, mode="rb")  # type: ignore[return-value]
    return handle


class PacketStream:
    """Iterate (offset, TracePacket) over a trace file; `offset` is the packet's byte offset (uncompressed)."""

    def __init__(self, path: Path, batch_bytes: int = BATCH_BYTES) -> None:
        self.path = Path(path)
        self.batch_bytes = batch_bytes
        self.bytes_read = 0

    def _corrupt(self, offset: int, what: str) -> ParseError:
        return ParseError(f"trace {self.path.name} is corrupt at byte {offset}: {what}", _FIX)

    def __iter__(self) -> Iterator[tuple[int, TracePacket]]:
        with open_trace(self.path) as handle:
            pending = b""      # bytes of records not yet decoded
            base = 0           # file offset of pending[0]
            eof = False
            while not eof or pending:
                if not eof:
                    try:
                        chunk = handle.read(self.batch_bytes)
                    except (OSError, EOFError, gzip.BadGzipFile) as exc:
                        raise ParseError(f"trace {self.path.name} could not be decompressed: {exc}", _FIX) from exc
                    eof = not chunk
                    pending = pending + chunk if pending else chunk
                    self.bytes_read += len(chunk)
                    if not eof and len(pending) < self.batch_bytes:
                        continue
                spans, consumed = self._scan(pending, base, eof)
                yield from self._decode(pending, base, spans)
                pending = pending[consumed:]
                base += consumed

    def _scan(self, buf: bytes, base: int, eof: bool) -> tuple[list[tuple[int, int]], int]:
        """(start, end) of each whole packet record in buf, and how many bytes those records (and skipped
        non-packet fields) cover. At EOF a partial record is a truncated trace."""
        spans: list[tuple[int, int]] = []
        pos, end = 0, len(buf)
        while pos < end:
            start = pos
            try:
                tag, pos = _varint(buf, pos, end)
                if tag >= 0:
                    wire = tag & 7
                    if tag >> 3 == 0 or wire in (3, 4, 6, 7):
                        raise self._corrupt(base + start, f"invalid record header 0x{tag:x} (not a Trace)")
                    if wire == 2:
                        length, pos = _varint(buf, pos, end)
                        stop = pos + length if length >= 0 else -1
                    elif wire == 0:
                        value, stop = _varint(buf, pos, end)
                        stop = stop if value >= 0 else -1
                    else:
                        stop = pos + (8 if wire == 1 else 4)
                else:
                    stop = -1
            except ValueError as exc:
                raise self._corrupt(base + start, str(exc)) from exc
            if stop < 0 or stop > end:
                if eof:
                    have = end - start
                    raise ParseError(
                        f"trace {self.path.name} is truncated: the record at byte {base + start} needs "
                        f"{'more' if stop < 0 else stop - start} bytes, only {have} remain", _FIX)
                return spans, start
            if tag == 0x0A:  # field 1, length-delimited: a TracePacket
                spans.append((start, stop))
            pos = stop
        return spans, pos

    def _decode(self, buf: bytes, base: int, spans: list[tuple[int, int]]) -> Iterator[tuple[int, TracePacket]]:
        if not spans:
            return
        view = memoryview(buf)
        first, last = spans[0][0], spans[-1][1]
        try:
            batch = Trace.FromString(view[first:last])
        except DecodeError:
            batch = None
        if batch is not None and len(batch.packet) == len(spans):
            for (start, _), packet in zip(spans, batch.packet):
                yield base + start, packet
            return
        # The batch failed: decode packet by packet to say which one is broken.
        for start, stop in spans:
            try:
                batch = Trace.FromString(view[start:stop])
            except DecodeError as exc:
                raise self._corrupt(base + start, f"TracePacket of {stop - start} bytes does not decode ({exc})") \
                    from exc
            yield base + start, batch.packet[0]
