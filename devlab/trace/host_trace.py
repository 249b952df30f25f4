"""A Perfetto trace of a host run: one track per variant x accelerator, one slice per timed inference.

LiteRT's Python API exposes no per-op profiler (its C profiler API needs the native compiled-model handle, which
the Python wrapper does not give out), so host traces hold per-inference slices and say so in their granularity
field; per-op timing on a phone comes from benchmark_model's op profile instead.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket, TrackDescriptor, TrackEvent

from devlab.fsutil import atomic_write_bytes

GRANULARITY = "per-inference"      # what a host trace resolves; "per-op" would need LiteRT's C profiler
_SEQUENCE = 7
_BOOTTIME, _MONOTONIC = 6, 3        # perfetto BuiltinClock ids


@dataclass(frozen=True)
class HostTrack:
    name: str                                   # "fp16 on cpu"
    spans_ns: tuple[tuple[int, int], ...]       # (start, duration) on the monotonic clock


def write_host_trace(path: Path, tracks: list[HostTrack], process_name: str = "devlab host run") -> Path:
    packets: list[TracePacket] = [_clock_snapshot()]
    pid = os.getpid()
    process_uuid = 1
    process = TracePacket(trusted_packet_sequence_id=_SEQUENCE)
    process.track_descriptor.uuid = process_uuid
    process.track_descriptor.process.pid = pid
    process.track_descriptor.process.process_name = process_name
    packets.append(process)
    for index, track in enumerate(tracks):
        uuid = 100 + index
        descriptor = TracePacket(trusted_packet_sequence_id=_SEQUENCE)
        descriptor.track_descriptor.CopyFrom(TrackDescriptor(uuid=uuid, parent_uuid=process_uuid, name=track.name))
        packets.append(descriptor)
        for start, duration in track.spans_ns:
            packets.append(_slice(uuid, start, TrackEvent.TYPE_SLICE_BEGIN, "Invoke"))
            packets.append(_slice(uuid, start + duration, TrackEvent.TYPE_SLICE_END, None))
    data = b"".join(_framed(packet) for packet in packets)
    atomic_write_bytes(path, data)
    return path


def _slice(track_uuid: int, ts_ns: int, kind: int, name: str | None) -> TracePacket:
    packet = TracePacket(timestamp=ts_ns, timestamp_clock_id=_MONOTONIC, trusted_packet_sequence_id=_SEQUENCE)
    packet.track_event.type = kind
    packet.track_event.track_uuid = track_uuid
    if name is not None:
        packet.track_event.name = name
    return packet


def _clock_snapshot() -> TracePacket:
    """Ties our monotonic timestamps to boottime, the trace's default clock, read at the same moment."""
    packet = TracePacket(trusted_packet_sequence_id=_SEQUENCE)
    monotonic = time.monotonic_ns()
    boottime = time.clock_gettime_ns(time.CLOCK_BOOTTIME) if hasattr(time, "CLOCK_BOOTTIME") else monotonic
    packet.clock_snapshot.clocks.add(clock_id=_BOOTTIME, timestamp=boottime)
    packet.clock_snapshot.clocks.add(clock_id=_MONOTONIC, timestamp=monotonic)
    return packet


def _framed(packet: TracePacket) -> bytes:
    from google.protobuf.internal.encoder import _VarintBytes
    body = packet.SerializeToString()
    return b"\x0a" + _VarintBytes(len(body)) + body   # Trace.packet is field 1, length-delimited
