"""Built-in streaming trace reader on perfetto's generated protos (no trace_processor binary needed).

It walks the packets once and yields records: slices (ATrace print events and track_event), counters
(cpu/gpu frequency, GPU counters, track_event counters), GPU render stages, process/thread names, sched switches
and the trace_config. State kept while reading is per open slice, per sequence and per name: never per packet.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.internal import api_implementation
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (CounterDescriptor, GpuCounterDescriptor,
                                                               TracePacket)

from devlab.trace.clocks import ClockConverter
from devlab.trace.framing import PacketStream
from devlab.trace.records import (ConfigSeen, CounterSample, GpuStage, Problem, ProcessName, Record,
                                  SchedSwitch, Slice, ThreadName)

SEQ_INCREMENTAL_STATE_CLEARED = 1
# ftrace is drained per CPU, so one thread's B on CPU 2 and E on CPU 5 can arrive in either order. Print events
# wait in a heap until nothing older can still come (perfetto drains every CPU at least this often).
ATRACE_REORDER_NS = 5_000_000_000
TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER = 1, 2, 3, 4
_COUNTER_UNITS = {CounterDescriptor.UNIT_TIME_NS: "ns", CounterDescriptor.UNIT_COUNT: "count",
                  CounterDescriptor.UNIT_SIZE_BYTES: "bytes"}


def protobuf_backend() -> str:
    """'upb' (fast, what we expect), 'cpp' or 'python' (~100x slower: traces of any size become painful)."""
    return api_implementation.Type()


def gpu_counter_unit(spec) -> str:
    """'percent', '/second', 'byte/second' ... from a GpuCounterSpec's numerator and denominator units."""
    name = GpuCounterDescriptor.MeasureUnit.Name
    numerator = "*".join(name(u).lower() for u in spec.numerator_units if u)
    denominator = "*".join(name(u).lower() for u in spec.denominator_units if u)
    return f"{numerator}/{denominator}" if denominator else numerator


@dataclass
class _Track:
    pid: int | None = None
    tid: int | None = None
    name: str = ""
    unit: str = ""
    multiplier: int = 1
    incremental: bool = False
    last_value: float = 0.0
    stack: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class _Sequence:
    event_names: dict[int, str] = field(default_factory=dict)
    gpu_specs: dict[int, str] = field(default_factory=dict)
    default_track: int | None = None
    clock_id: int = 0


class TraceReader:
    """`for record in TraceReader(path).records(): ...`; packet count and time span are on the reader after."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.packets = 0
        self.unknown_packets = 0          # packets of types newer than the installed protos
        self.undated_packets = 0          # stamped with a clock the trace never defined
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self._stream = PacketStream(self.path)
        self._clocks = ClockConverter()
        self._sequences: dict[int, _Sequence] = {}
        self._tracks: dict[int, _Track] = {}
        self._atrace: dict[int, list[tuple[str, int, int | None]]] = {}   # tid -> open (name, ts, pid)
        self._prints: list[tuple[int, int, int, str]] = []                 # heap of (ts, order, tid, buf)
        self._print_order = 0
        self._async: dict[tuple[int, str, str], int] = {}                 # (pid, name, cookie) -> begin ts
        self._gpu_counters: dict[int, tuple[str, str]] = {}               # counter id -> (name, unit)
        self._gpu_legacy_stages: dict[int, str] = {}
        self._gpu_legacy_queues: dict[int, str] = {}

    @property
    def bytes_read(self) -> int:
        return self._stream.bytes_read

    def _span(self, ts: int) -> None:
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def records(self) -> Iterator[Record]:
        for _, packet in self._stream:
            self.packets += 1
            yield from self._packet(packet)
        yield from self._release_prints(None)
        for tid, stack in self._atrace.items():
            for name, _, _ in stack:
                yield Problem("atrace-unended", f"ATrace slice {name!r} on thread {tid} never ended")
        for uuid, track in self._tracks.items():
            for name, _ in track.stack:
                yield Problem("track-event-unended", f"track_event slice {name!r} on track {uuid} never ended")

    def _sequence(self, packet: TracePacket) -> _Sequence:
        seq_id = packet.trusted_packet_sequence_id
        seq = self._sequences.get(seq_id)
        if seq is None or packet.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED:
            seq = self._sequences[seq_id] = _Sequence()
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

    def _packet(self, packet: TracePacket) -> Iterator[Record]:
        kind = packet.WhichOneof("data")
        if kind == "ftrace_events":
            yield from self._ftrace(packet.ftrace_events)
            return
        seq = self._sequence(packet)
        if kind == "clock_snapshot":
            self._clocks.snapshot(packet.trusted_packet_sequence_id, packet.clock_snapshot)
            return
        ts = packet.timestamp
        clock = packet.timestamp_clock_id if packet.HasField("timestamp_clock_id") else seq.clock_id
        if clock:  # an incremental clock's delta of 0 is a real time, so convert before testing ts
            converted = self._clocks.to_primary(packet.trusted_packet_sequence_id, clock, ts)
            if converted is None:
                if kind is not None and kind not in ("track_descriptor", "trace_config"):
                    self.undated_packets += 1
                ts = 0
            else:
                ts = converted
        if ts:
            self._span(ts)
        if kind == "track_event":
            yield from self._track_event(packet.track_event, seq, ts)
        elif kind == "gpu_render_stage_event":
            yield from self._render_stage(packet.gpu_render_stage_event, seq, ts)
        elif kind == "gpu_counter_event":
            yield from self._gpu_counter(packet.gpu_counter_event, ts)
        elif kind == "track_descriptor":
            yield from self._track_descriptor(packet.track_descriptor)
        elif kind == "process_tree":
            for proc in packet.process_tree.processes:
                if proc.cmdline:
                    yield ProcessName(proc.pid, proc.cmdline[0])
            for thread in packet.process_tree.threads:
                yield ThreadName(thread.tid, thread.tgid or None, thread.name)
        elif kind == "trace_config":
            config = packet.trace_config
            yield ConfigSeen(tuple(ds.config.name for ds in config.data_sources), config.duration_ms,
                             text_format.MessageToString(config))
        elif kind is None:
            self.unknown_packets += 1

    # --- ftrace -------------------------------------------------------------------------------------------------
    def _ftrace(self, bundle) -> Iterator[Record]:
        cpu = bundle.cpu
        events = bundle.event
        if events:
            self._span(events[0].timestamp)
            self._span(events[len(events) - 1].timestamp)
        for event in events:
            kind = event.WhichOneof("event")
            if kind == "print":
                self._print_order += 1  # keeps same-timestamp prints in arrival order
                heapq.heappush(self._prints, (event.timestamp, self._print_order, event.pid, event.print.buf))
            elif kind == "sched_switch":
                sw = event.sched_switch
                yield SchedSwitch(cpu, event.timestamp, sw.prev_pid, sw.next_pid, sw.next_comm)
            elif kind == "cpu_frequency":
                freq = event.cpu_frequency
                yield CounterSample(f"cpufreq.cpu{freq.cpu_id}", "kHz", event.timestamp, float(freq.state))
            elif kind == "gpu_frequency":
                freq = event.gpu_frequency
                name = "gpufreq" if freq.gpu_id == 0 else f"gpufreq.gpu{freq.gpu_id}"
                yield CounterSample(name, "kHz", event.timestamp, float(freq.state))
        if bundle.HasField("compact_sched"):
            yield from self._compact_sched(cpu, bundle.compact_sched)
        if self._prints and self.last_ts is not None:
            yield from self._release_prints(self.last_ts - ATRACE_REORDER_NS)

    def _release_prints(self, before: int | None) -> Iterator[Record]:
        prints = self._prints
        while prints and (before is None or prints[0][0] < before):
            ts, _, tid, buf = heapq.heappop(prints)
            yield from self._atrace_line(buf, ts, tid)

    def _compact_sched(self, cpu: int, compact) -> Iterator[Record]:
        # Timestamps are delta-encoded within the bundle; comms are indices into the bundle's intern table.
        ts = 0
        table = compact.intern_table
        for delta, pid, comm in zip(compact.switch_timestamp, compact.switch_next_pid,
                                    compact.switch_next_comm_index):
            ts += delta
            self._span(ts)
            yield SchedSwitch(cpu, ts, None, pid, table[comm] if comm < len(table) else "")

    def _atrace_line(self, buf: str, ts: int, tid: int) -> Iterator[Record]:
        # ATrace writes "B|pid|name", "E|pid" (or "E"), "C|pid|name|value", "S|pid|name|cookie", "F|pid|name|cookie".
        buf = buf.rstrip("\n")
        if len(buf) < 1 or (len(buf) > 1 and buf[1] != "|"):
            return
        kind = buf[0]
        if kind == "B":
            parts = buf.split("|", 2)
            if len(parts) == 3:
                pid = int(parts[1]) if parts[1].isdigit() else None
                self._atrace.setdefault(tid, []).append((parts[2], ts, pid))
        elif kind == "E":
            stack = self._atrace.get(tid)
            if not stack:
                yield Problem("atrace-unmatched-end", f"ATrace end without begin on thread {tid} at {ts} ns")
                return
            name, begin, pid = stack.pop()
            yield Slice(name, begin, ts - begin, pid, tid, len(stack))
        elif kind == "C":
            parts = buf.split("|")
            if len(parts) >= 4:
                try:
                    yield CounterSample(parts[2], "", ts, float(parts[3]))
                except ValueError:
                    yield Problem("atrace-bad-counter", f"ATrace counter {parts[2]!r} has a non-numeric value {parts[3]!r}")
        elif kind in "SF":
            parts = buf.split("|")
            if len(parts) >= 4 and parts[1].isdigit():
                key = (int(parts[1]), parts[2], parts[3])
                if kind == "S":
                    self._async[key] = ts
                elif key in self._async:
                    begin = self._async.pop(key)
                    yield Slice(parts[2], begin, ts - begin, key[0], None, 0)

    # --- track_event ---------------------------------------------------------------------------------------------
    def _track_descriptor(self, desc) -> Iterator[Record]:
        track = self._tracks.get(desc.uuid)
        if track is None:
            track = self._tracks[desc.uuid] = _Track()
        track.name = desc.name or desc.static_name or desc.atrace_name or track.name
        parent = self._tracks.get(desc.parent_uuid) if desc.parent_uuid else None
        if parent is not None:
            track.pid = track.pid if track.pid is not None else parent.pid
            track.tid = track.tid if track.tid is not None else parent.tid
        if desc.HasField("thread"):
            track.pid, track.tid = desc.thread.pid, desc.thread.tid
            if desc.thread.thread_name:
                yield ThreadName(desc.thread.tid, desc.thread.pid, desc.thread.thread_name)
        elif desc.HasField("process"):
            track.pid = desc.process.pid
            name = desc.process.process_name or (desc.process.cmdline[0] if desc.process.cmdline else "")
            if name:
                yield ProcessName(desc.process.pid, name)
        if desc.HasField("counter"):
            counter = desc.counter
            track.unit = counter.unit_name or _COUNTER_UNITS.get(counter.unit, "")
            track.multiplier = counter.unit_multiplier or 1
            track.incremental = counter.is_incremental

    def _track_event(self, event, seq: _Sequence, ts: int) -> Iterator[Record]:
        uuid = event.track_uuid if event.HasField("track_uuid") else seq.default_track
        if uuid is None:
            uuid = 0  # legacy: the sequence's thread; kept apart from every described track
        track = self._tracks.get(uuid)
        if track is None:
            track = self._tracks[uuid] = _Track()
        kind = event.type
        if kind == TYPE_SLICE_BEGIN or kind == TYPE_INSTANT:
            name = event.name if event.HasField("name") else seq.event_names.get(event.name_iid, "")
            if kind == TYPE_INSTANT:
                yield Slice(name, ts, 0, track.pid, track.tid, len(track.stack))
            else:
                track.stack.append((name, ts))
        elif kind == TYPE_SLICE_END:
            if not track.stack:
                yield Problem("track-event-unmatched-end", f"track_event end without begin on track {uuid} at {ts} ns")
                return
            name, begin = track.stack.pop()
            yield Slice(name, begin, ts - begin, track.pid, track.tid, len(track.stack))
        elif kind == TYPE_COUNTER:
            raw = event.double_counter_value if event.HasField("double_counter_value") else event.counter_value
            value = raw * track.multiplier
            if track.incremental:
                track.last_value += value
                value = track.last_value
            yield CounterSample(track.name or f"track {uuid}", track.unit, ts, float(value))

    # --- GPU ----------------------------------------------------------------------------------------------------
    def _render_stage(self, stage, seq: _Sequence, ts: int) -> Iterator[Record]:
        if stage.HasField("specifications"):  # the pre-interning form carries its names inline
            for i, spec in enumerate(stage.specifications.stage):
                self._gpu_legacy_stages[i] = spec.name
            for i, spec in enumerate(stage.specifications.hw_queue):
                self._gpu_legacy_queues[i] = spec.name
        if stage.name:
            name = stage.name
        elif stage.HasField("stage_iid"):
            name = seq.gpu_specs.get(stage.stage_iid, f"stage {stage.stage_iid}")
        else:
            name = self._gpu_legacy_stages.get(stage.stage_id, f"stage {stage.stage_id}")
        if stage.HasField("hw_queue_iid"):
            queue: str | None = seq.gpu_specs.get(stage.hw_queue_iid)
        else:
            queue = self._gpu_legacy_queues.get(stage.hw_queue_id)
        yield GpuStage(name, ts, stage.duration, queue, stage.context, stage.submission_id)
        self._span(ts + stage.duration)

    def _gpu_counter(self, event, ts: int) -> Iterator[Record]:
        if event.HasField("counter_descriptor"):
            for spec in event.counter_descriptor.specs:
                self._gpu_counters[spec.counter_id] = (spec.name, gpu_counter_unit(spec))
        for counter in event.counters:
            name, unit = self._gpu_counters.get(counter.counter_id, (f"gpu counter {counter.counter_id}", ""))
            value = counter.double_value if counter.HasField("double_value") else counter.int_value
            yield CounterSample(name, unit, ts, float(value))
