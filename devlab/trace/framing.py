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
from devlab.trace import fastscan

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
        for base, spans, batch in self._batches(with_spans=True):
            for (start, _), packet in zip(spans, batch.packet):
                yield base + start, packet

    def batches(self) -> Iterator[Trace]:
        """The packets as `Trace` messages of about `batch_bytes` each: the fast way through a trace, since
        iterating `batch.packet` directly costs no per-packet Python beyond the caller's own."""
        for _, _, batch in self._batches(with_spans=False):
            yield batch

    def regions(self) -> Iterator[tuple[int, bytes, int, int]]:
        """The undecoded batches, as (file offset of buf[0], buf, first packet start, last packet end), for the C
        scanner: the same record framing and errors as `batches()`, without the upb decode."""
        for base, buf, first, last, _ in self._raw():
            yield base, buf, first, last

    def decode_range(self, buf: bytes, base: int, first: int, last: int) -> Trace:
        """The packet records in buf[first:last] as one `Trace` (ParseError naming the broken one)."""
        spans, _ = self._scan(memoryview(buf)[:last], base, True, begin=first)
        return self._decode(buf, base, first, last, len(spans))

    def _batches(self, with_spans: bool) -> Iterator[tuple[int, list[tuple[int, int]], Trace]]:
        for base, pending, first, last, count in self._raw(with_spans):
            spans = self._scan(pending[:last], base, True)[0] if with_spans else []
            yield base, spans, self._decode(pending, base, first, last, count)

    def _raw(self, with_spans: bool = False) -> Iterator[tuple[int, bytes, int, int, int]]:
        """(base, buf, first, last, count) for each run of whole packet records, before any decoding."""
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
                if with_spans:
                    spans, consumed = self._scan(pending, base, eof)
                    first, last, count = (spans[0][0], spans[-1][1], len(spans)) if spans else (0, 0, 0)
                else:
                    first, last, count, consumed = self._scan_fast(pending, base, eof)
                if count:
                    yield base, pending, first, last, count
                pending = pending[consumed:]
                base += consumed

    def _scan_fast(self, buf: bytes, base: int, eof: bool) -> tuple[int, int, int, int]:
        """Like `_scan`, but only (first packet start, last packet end, packet count, bytes consumed): the
        common record (tag 0x0A, a length of up to 3 varint bytes) is stepped over inline, anything else goes
        through `_scan` one record at a time."""
        pos, end = 0, len(buf)
        first = last = -1
        count = 0
        safe = end - 4  # the inline path reads at most 4 header bytes
        plain_records = fastscan.SCANNER.records if fastscan.wanted() else None  # type: ignore[union-attr]
        while pos < end:
            if plain_records is not None:
                # the C scanner steps over the run of plain records; what stops it is decided below
                pos, run_first, run_last, run_count = plain_records(buf, pos)
                if run_count:
                    first = run_first if first < 0 else first
                    last = run_last
                    count += run_count
                if pos >= end:
                    break
            if pos < safe and buf[pos] == 0x0A:
                b1 = buf[pos + 1]
                if b1 < 0x80:
                    stop = pos + 2 + b1
                else:
                    b2 = buf[pos + 2]
                    if b2 < 0x80:
                        stop = pos + 3 + ((b1 & 0x7F) | (b2 << 7))
                    else:
                        b3 = buf[pos + 3]
                        stop = pos + 4 + ((b1 & 0x7F) | ((b2 & 0x7F) << 7) | (b3 << 14)) if b3 < 0x80 else -1
                if 0 <= stop <= end:
                    if first < 0:
                        first = pos
                    last = pos = stop
                    count += 1
                    continue
            # anything unusual (another field, a long length, the buffer's end): the careful scanner decides
            one, stop = self._scan(buf, base, eof, begin=pos, limit=1)
            if stop == pos:
                break
            if one:
                if first < 0:
                    first = one[0][0]
                last = one[0][1]
                count += 1
            pos = stop
        return max(first, 0), max(last, 0), count, pos

    def _scan(self, buf: bytes, base: int, eof: bool, begin: int = 0,
              limit: int = -1) -> tuple[list[tuple[int, int]], int]:
        """(start, end) of each whole packet record in buf from `begin` (at most `limit` records when limit > 0),
        and where the scan stopped: after those records and skipped non-packet fields. At EOF a partial record is
        a truncated trace."""
        spans: list[tuple[int, int]] = []
        pos, end = begin, len(buf)
        while pos < end and limit != 0:
            limit -= 1
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

    def _decode(self, buf: bytes, base: int, first: int, last: int, count: int) -> Trace:
        view = memoryview(buf)
        try:
            batch = Trace.FromString(view[first:last])
        except DecodeError:
            batch = None
        if batch is not None and len(batch.packet) == count:
            return batch
        # The batch failed: decode packet by packet to say which one is broken.
        spans, _ = self._scan(buf[:last], base, True)
        for start, stop in spans:
            try:
                Trace.FromString(view[start:stop])
            except DecodeError as exc:
                raise self._corrupt(base + start, f"TracePacket of {stop - start} bytes does not decode ({exc})") \
                    from exc
        raise self._corrupt(base + first, f"{count} packet records decode as {len(batch.packet) if batch else 0}")
