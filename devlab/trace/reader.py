"""Built-in streaming trace reader on perfetto's generated protos (no trace_processor binary needed).

It walks the packets once, batch by batch, and reports what it finds to a RecordSink: slices (ATrace print events
and track_event), counters (cpu/gpu frequency, GPU counters, track_event counters), GPU render stages,
process/thread names, sched switches and the trace_config. `records()` turns those reports into record objects;
the summary takes them directly, so analysing a trace builds no object per event. State kept while reading is
per open slice, per sequence and per name: never per packet.

This module has the reader itself: the read loop, packet dispatch, sequences and clocks, and the ftrace bundles
on the upb path. Its parts: atrace.py (ATrace print events into slices), track_events.py, gpu_events.py (render
stages, GPU counters) and scanner_path.py (the same walk driven by the optional C scanner).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.internal import api_implementation
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import FtraceEvent, FtraceStats, TracePacket

from devlab.trace import fastscan
from devlab.trace.atrace import ATRACE_REORDER_NS, AtraceSlices
from devlab.trace.clocks import ClockConverter
from devlab.trace.framing import PacketStream
from devlab.trace.gpu_events import GpuEvents, gpu_counter_unit
from devlab.trace.records import Record, RecordList, RecordSink
from devlab.trace.scanner_path import ScannerPath
from devlab.trace.sequences import SEQ_INCREMENTAL_STATE_CLEARED, SequenceState
from devlab.trace.track_events import TrackEvents

__all__ = ["TraceReader", "gpu_counter_unit", "protobuf_backend"]

_EVENT_KIND = FtraceEvent.WhichOneof


def protobuf_backend() -> str:
    """'upb' (fast, what we expect), 'cpp' or 'python' (~100x slower: traces of any size become painful)."""
    return api_implementation.Type()


class TraceReader(ScannerPath, GpuEvents):
    """`for record in TraceReader(path).records(): ...`, or `TraceReader(path).read_into(sink)` to have each
    finding sent to a RecordSink (the summary's fast path); packet count and time span are on the reader after."""

    def __init__(self, path: Path, *, fast: bool | None = None) -> None:
        self.path = Path(path)
        # the C scanner for ftrace bundles and GPU stages where built (None: unless DEVLAB_TRACE_SCANNER=python)
        self.fast = fastscan.wanted() if fast is None else fast and fastscan.available()
        self.packets = 0
        self.unknown_packets = 0          # packets of types newer than the installed protos
        self.undated_packets = 0          # stamped with a clock the trace never defined
        self.trace_stats = None           # the last trace_stats packet (the service's cumulative counters)
        self.ftrace_start = None          # the first START_OF_TRACE ftrace_stats (kernel buffers' counters)
        self.ftrace_end = None            # the last END_OF_TRACE ftrace_stats
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self._stream = PacketStream(self.path)
        self._clocks = ClockConverter()
        self._sequences: dict[int, SequenceState] = {}
        self._atrace = AtraceSlices(self.fast)
        self._prints = self._atrace.pending                               # (ts, tid, buf) not yet released
        self._track_events = TrackEvents()
        self._gpu_counters: dict[int, tuple[str, str]] = {}               # counter id -> (name, unit)
        self._gpu_legacy_stages: dict[int, str] = {}
        self._gpu_legacy_queues: dict[int, str] = {}
        self._sink: RecordSink = RecordList()

    @property
    def bytes_read(self) -> int:
        return self._stream.bytes_read

    def _span(self, ts: int) -> None:
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def records(self) -> Iterator[Record]:
        sink = RecordList()
        for _ in self._read(sink):
            yield from sink.items
            sink.items.clear()

    def read_into(self, sink: RecordSink) -> None:
        """Read the whole trace, sending every finding to `sink` (the same findings `records()` yields)."""
        for _ in self._read(sink):
            pass

    def _read(self, sink: RecordSink) -> Iterator[None]:
        """Walk the trace batch by batch, pausing after each so `records()` can hand out what the batch found."""
        # the parts that report on their own (ATrace prints, track events) report to the same sink
        self._sink = self._atrace.sink = self._track_events.sink = sink
        batches = self._scanned_batches() if self.fast else self._decoded_batches()
        for _ in batches:
            if self._prints and self.last_ts is not None:
                self._atrace.release(self.last_ts - ATRACE_REORDER_NS)
            yield None
        self._atrace.release(None)
        self._atrace.report_unended()
        self._track_events.report_unended()
        yield None

    def _decoded_batches(self) -> Iterator[None]:
        """Every packet through upb, batch by batch."""
        for batch in self._stream.batches():
            self._packets(batch.packet)
            yield None

    def _packets(self, packets) -> None:
        self.packets += len(packets)
        packet_kind = TracePacket.WhichOneof
        ftrace = self._ftrace
        render_stage = self._render_stage
        for packet in packets:
            kind = packet_kind(packet, "data")
            if kind == "ftrace_events":
                ftrace(packet.ftrace_events)
            elif kind == "gpu_render_stage_event" and not packet.HasField("interned_data"):
                # the bulk of a GPU trace: one packet per GPU job, names already interned on its sequence
                render_stage(packet)
            else:
                self._packet(packet, kind)

    def _sequence(self, packet: TracePacket) -> SequenceState:
        seq_id = packet.trusted_packet_sequence_id
        seq = self._sequences.get(seq_id)
        if seq is None or packet.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED:
            seq = self._sequences[seq_id] = SequenceState()
            self._clocks.clear_sequence(seq_id)
        if packet.HasField("trace_packet_defaults"):
            defaults = packet.trace_packet_defaults
            seq.clock_id = defaults.timestamp_clock_id
            if defaults.track_event_defaults.HasField("track_uuid"):
                seq.default_track = defaults.track_event_defaults.track_uuid
        if packet.HasField("interned_data"):
            interned = packet.interned_data
            for entry in interned.event_names:
                seq.event_names[entry.iid] = entry.name
            for spec in interned.gpu_specifications:
                seq.gpu_specs[spec.iid] = spec.name
        return seq

    def _timestamp(self, packet: TracePacket, seq: SequenceState, kind: str | None) -> int:
        """The packet's time on the primary clock (0 when it has none), widening the trace's span."""
        clock = packet.timestamp_clock_id if packet.HasField("timestamp_clock_id") else seq.clock_id
        return self._time(packet.trusted_packet_sequence_id, packet.timestamp, clock, kind)

    def _time(self, seq_id: int, ts: int, clock: int, kind: str | None) -> int:
        if clock:  # an incremental clock's delta of 0 is a real time, so convert before testing ts
            converted = self._clocks.to_primary(seq_id, clock, ts)
            if converted is None:
                if kind is not None and kind not in ("track_descriptor", "trace_config"):
                    self.undated_packets += 1
                ts = 0
            else:
                ts = converted
        if ts:
            self._span(ts)
        return ts

    def _packet(self, packet: TracePacket, kind: str | None) -> None:
        seq = self._sequence(packet)
        if kind == "clock_snapshot":
            self._clocks.snapshot(packet.trusted_packet_sequence_id, packet.clock_snapshot)
            return
        ts = self._timestamp(packet, seq, kind)
        sink = self._sink
        if kind == "track_event":
            self._track_events.event(packet.track_event, seq, ts)
        elif kind == "gpu_render_stage_event":
            self._stage(packet.gpu_render_stage_event, seq, ts)
        elif kind == "gpu_counter_event":
            self._gpu_counter(packet.gpu_counter_event, ts)
        elif kind == "track_descriptor":
            self._track_events.descriptor(packet.track_descriptor)
        elif kind == "process_tree":
            for proc in packet.process_tree.processes:
                if proc.cmdline:
                    sink.process(proc.pid, proc.cmdline[0])
            for thread in packet.process_tree.threads:
                sink.thread(thread.tid, thread.tgid or None, thread.name)
        elif kind == "trace_config":
            config = packet.trace_config
            sink.config(tuple(ds.config.name for ds in config.data_sources), config.duration_ms,
                        text_format.MessageToString(config))
        elif kind == "trace_stats":
            self.trace_stats = packet.trace_stats
        elif kind == "ftrace_stats":
            if packet.ftrace_stats.phase == FtraceStats.END_OF_TRACE:
                self.ftrace_end = packet.ftrace_stats
            elif packet.ftrace_stats.phase == FtraceStats.START_OF_TRACE and self.ftrace_start is None:
                self.ftrace_start = packet.ftrace_stats
        elif kind is None:
            self.unknown_packets += 1

    # --- ftrace -------------------------------------------------------------------------------------------------
    def _ftrace(self, bundle) -> None:
        # The hottest loop of a phone trace: one pass over the bundle, locals only, and nothing touched on the
        # events whose type we do not use.
        cpu = bundle.cpu
        events = bundle.event
        sink = self._sink
        if events:
            self._span(events[0].timestamp)
            self._span(events[len(events) - 1].timestamp)
            prints = self._prints
            for event, kind in zip(events, map(_EVENT_KIND, events, repeat("event"))):
                if kind == "print":
                    prints.append((event.timestamp, event.pid, event.print.buf))
                elif kind == "sched_switch":
                    sw = event.sched_switch
                    sink.sched(cpu, event.timestamp, sw.prev_pid, sw.next_pid, sw.next_comm)
                elif kind == "cpu_frequency":
                    freq = event.cpu_frequency
                    sink.counter(f"cpufreq.cpu{freq.cpu_id}", "kHz", event.timestamp, float(freq.state))
                elif kind == "gpu_frequency":
                    freq = event.gpu_frequency
                    name = "gpufreq" if freq.gpu_id == 0 else f"gpufreq.gpu{freq.gpu_id}"
                    sink.counter(name, "kHz", event.timestamp, float(freq.state))
                elif kind == "thermal_temperature":      # millidegrees C of the zone named by its type
                    thermal = event.thermal_temperature
                    sink.counter(f"temp.{thermal.thermal_zone}", "\u00b0C", event.timestamp, thermal.temp / 1000.0)
        if bundle.HasField("compact_sched"):
            self._compact_sched(cpu, bundle.compact_sched)

    def _compact_sched(self, cpu: int, compact) -> None:
        # Timestamps are delta-encoded within the bundle; comms are indices into the bundle's intern table.
        ts = 0
        table = list(compact.intern_table)
        sched = self._sink.sched
        timestamps = []
        for delta, pid, comm in zip(compact.switch_timestamp, compact.switch_next_pid,
                                    compact.switch_next_comm_index):
            ts += delta
            timestamps.append(ts)
            sched(cpu, ts, None, pid, table[comm] if comm < len(table) else "")
        if timestamps:
            self._span(min(timestamps))
            self._span(max(timestamps))
