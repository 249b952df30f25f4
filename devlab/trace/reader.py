"""Built-in streaming trace reader on perfetto's generated protos (no trace_processor binary needed).

It walks the packets once, batch by batch, and reports what it finds to a RecordSink: slices (ATrace print events
and track_event), counters (cpu/gpu frequency, GPU counters, track_event counters), GPU render stages,
process/thread names, sched switches and the trace_config. `records()` turns those reports into record objects;
the summary takes them directly, so analysing a trace builds no object per event. State kept while reading is per open slice, per sequence and per name: never per packet.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.internal import api_implementation
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (CounterDescriptor, FtraceEvent, FtraceEventBundle,
                                                               GpuCounterDescriptor, TracePacket)

from devlab.trace import fastscan
from devlab.trace.clocks import ClockConverter
from devlab.trace.framing import PacketStream
from devlab.trace.records import Record, RecordList, RecordSink

SEQ_INCREMENTAL_STATE_CLEARED = 1
# ftrace is drained per CPU, so one thread's B on CPU 2 and E on CPU 5 can arrive in either order. Print events
# wait (sorted after each batch) until nothing older can still come (perfetto drains every CPU at least this often).
ATRACE_REORDER_NS = 5_000_000_000
LINE_CACHE = 4096    # distinct ATrace begin/end lines kept parsed (op names: a model has hundreds, not thousands)
_TS = itemgetter(0)
TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER = 1, 2, 3, 4
_EVENT_KIND = FtraceEvent.WhichOneof
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


_END = ("end", None)      # _atrace_line's answer for an end line
_OTHER = ("other", None)  # ... and for any other line (counters, async slices, not ATrace at all)


def _atrace_line(buf: str) -> tuple[str, int | None]:
    """Classify an ATrace print: (name, pid) for "B|pid|name", _END for "E|pid" or "E", else _OTHER."""
    line = buf.rstrip("\n")
    if line == "E" or line[:2] == "E|":
        return _END
    if line[:2] == "B|":
        parts = line.split("|", 2)
        if len(parts) == 3:
            return parts[2], int(parts[1]) if parts[1].isdigit() else None
    return _OTHER


class TraceReader:
    """`for record in TraceReader(path).records(): ...`, or `TraceReader(path).read_into(sink)` to have each
    finding sent to a RecordSink (the summary's fast path); packet count and time span are on the reader after."""

    def __init__(self, path: Path, *, fast: bool | None = None) -> None:
        self.path = Path(path)
        # the C scanner for ftrace bundles and GPU stages where built (None: unless DEVLAB_TRACE_SCANNER=python)
        self.fast = fastscan.wanted() if fast is None else fast and fastscan.available()
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
        self._prints: list[tuple[int, int, str]] = []                      # (ts, tid, buf) not yet released
        self._lines: dict[str, tuple[str, int | None]] = {}               # print buf -> _atrace_line(buf)
        self._async: dict[tuple[int, str, str], int] = {}                 # (pid, name, cookie) -> begin ts
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
        self._sink = sink
        batches = self._scanned_batches() if self.fast else self._decoded_batches()
        for _ in batches:
            if self._prints and self.last_ts is not None:
                self._release_prints(self.last_ts - ATRACE_REORDER_NS)
            yield None
        self._release_prints(None)
        for tid, stack in self._atrace.items():
            for name, _, _ in stack:
                sink.problem("atrace-unended", f"ATrace slice {name!r} on thread {tid} never ended")
        for uuid, track in self._tracks.items():
            for name, _ in track.stack:
                sink.problem("track-event-unended", f"track_event slice {name!r} on track {uuid} never ended")
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

    def _scanned_batches(self) -> Iterator[None]:
        """The C scanner reads the plain ftrace bundles and GPU stages; each packet it leaves (anything unusual)
        is decoded with upb in its place, so findings arrive in the same order as on the upb path."""
        scan = fastscan.SCANNER.scan  # type: ignore[union-attr]
        prints = self._prints
        direct: list[tuple] = []
        stream = self._stream
        bulk = getattr(self._sink, "gpu_stage_durations", None)
        bulk_sched = getattr(self._sink, "sched_switches", None)
        groups: dict[str, list[int]] = {}
        scheds: list[tuple] = []
        for base, buf, first, last in stream.regions():
            pos = first
            while True:
                if bulk is None:
                    stop, fallback_end, handled, low, high = scan(buf, pos, last, prints, direct)
                else:
                    # stages go straight into per-name durations where their sequence needs no clock conversion
                    names = {seq_id: seq.gpu_specs for seq_id, seq in self._sequences.items() if not seq.clock_id}
                    stop, fallback_end, handled, low, high = scan(buf, pos, last, prints, direct, names, groups,
                                                                  scheds)
                    for name, durations in groups.items():
                        bulk(name, durations)
                    groups.clear()
                self.packets += handled
                if low is not None:
                    self._span(low)
                    self._span(high)
                if bulk is not None:
                    self._summarized(direct, scheds, bulk_sched)
                    scheds.clear()
                    direct.clear()
                elif direct:
                    self._scanned(direct)
                    direct.clear()
                if fallback_end < 0:
                    break
                self._packets(stream.decode_range(buf, base, stop, fallback_end).packet)
                pos = fallback_end
            yield None

    def _scanned(self, found: list[tuple]) -> None:
        """The scanner's findings in trace order: sched switches (5 values), counters (4), compact sched (2: cpu
        and its bytes) and GPU stages (10)."""
        sink = self._sink
        sched, counter, stage = sink.sched, sink.counter, self._scanned_stage
        for item in found:
            size = len(item)
            if size == 5:
                sched(*item)
            elif size == 4:
                counter(*item)
            elif size == 10:
                stage(*item)
            else:
                self._compact_sched(item[0], FtraceEventBundle.CompactSched.FromString(item[1]))

    def _summarized(self, found: list[tuple], scheds: list[tuple], bulk_sched) -> None:
        """The scanner's findings for a sink that takes them in bulk: counters (4 values) and, in their order
        among the sched switches, compact sched bundles (3: position in `scheds`, cpu, bytes)."""
        counter = self._sink.counter
        done = 0
        for item in found:
            if len(item) == 4:
                counter(*item)
            else:
                at, cpu, raw = item
                bulk_sched(scheds[done:at])
                self._compact_sched(cpu, FtraceEventBundle.CompactSched.FromString(raw))
                done = at
        if done < len(scheds):
            bulk_sched(scheds[done:] if done else scheds)

    def _scanned_stage(self, seq_id: int, ts: int, duration: int, name: str, stage_iid: int | None, stage_id: int,
                       queue_iid: int | None, queue_id: int, context: int, submission_id: int) -> None:
        """A GPU stage the scanner read: a packet with no interned data, defaults, clock id or cleared state."""
        seq = self._sequences.get(seq_id)
        if seq is None:
            seq = self._sequences[seq_id] = _Sequence()
            self._clocks.clear_sequence(seq_id)
        if seq.clock_id:
            ts = self._time(seq_id, ts, seq.clock_id, "gpu_render_stage_event")
        elif ts:
            self._span(ts)
        self._stage_values(seq, ts, duration, name, stage_iid, stage_id, queue_iid, queue_id, context, submission_id)

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

    def _timestamp(self, packet: TracePacket, seq: _Sequence, kind: str | None) -> int:
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
            self._track_event(packet.track_event, seq, ts)
        elif kind == "gpu_render_stage_event":
            self._stage(packet.gpu_render_stage_event, seq, ts)
        elif kind == "gpu_counter_event":
            self._gpu_counter(packet.gpu_counter_event, ts)
        elif kind == "track_descriptor":
            self._track_descriptor(packet.track_descriptor)
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
        if bundle.HasField("compact_sched"):
            self._compact_sched(cpu, bundle.compact_sched)

    def _release_prints(self, before: int | None) -> None:
        """Turn the waiting print events older than `before` (all when None) into slices, oldest first."""
        prints = self._prints
        if not prints:
            return
        # ftrace drains each CPU in order, so this merges a few sorted runs; the sort is stable, so prints of the
        # same timestamp keep their arrival order
        if not (self.fast and fastscan.SCANNER.sorted_by_ts(prints)):  # type: ignore[union-attr]
            prints.sort(key=_TS)
        cut = len(prints) if before is None else bisect.bisect_left(prints, before, key=_TS)
        if cut == 0:
            return
        ready = prints[:cut]
        del prints[:cut]
        bulk = getattr(self._sink, "slice_durations", None) if self.fast else None
        if bulk is None:
            for ts, tid, buf in ready:
                self._print(ts, tid, buf)
            return
        # The C loop takes the begin/end lines already parsed; it stops at anything else, which goes the Python
        # way after the durations so far are handed over (so each name's durations keep their order).
        release = fastscan.SCANNER.release  # type: ignore[union-attr]
        groups: dict[str, list[int]] = {}
        i, count = 0, len(ready)
        while i < count:
            i = release(ready, i, self._atrace, self._lines, _END, groups)
            for name, durations in groups.items():
                bulk(name, durations)
            groups.clear()
            if i < count:
                self._print(*ready[i])
                i += 1

    def _print(self, ts: int, tid: int, buf: str) -> None:
        """One ATrace print event, in time order: begin pushes, end pops and emits a slice."""
        stacks = self._atrace
        lines = self._lines
        line = lines.get(buf)
        if line is None:
            line = _atrace_line(buf)
            if line is not _OTHER:
                # the same few begin/end lines recur all through a trace: parse each once
                if len(lines) >= LINE_CACHE:
                    lines.clear()
                lines[buf] = line
        if line is _END:
            stack = stacks.get(tid)
            if stack:
                name, start, pid = stack.pop()
                self._sink.slice(name, start, ts - start, pid, tid, len(stack))
            else:
                self._sink.problem("atrace-unmatched-end",
                                   f"ATrace end without begin on thread {tid} at {ts} ns")
        elif line is _OTHER:
            self._atrace_other(buf.rstrip("\n"), ts)
        else:
            stack = stacks.get(tid)
            if stack is None:
                stack = stacks[tid] = []
            stack.append((line[0], ts, line[1]))

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

    def _atrace_other(self, buf: str, ts: int) -> None:
        """The rarer ATrace lines: counters and async slices (begin/end are handled inline)."""
        if len(buf) < 1 or (len(buf) > 1 and buf[1] != "|"):
            return
        kind = buf[0]
        sink = self._sink
        if kind == "C":
            parts = buf.split("|")
            if len(parts) >= 4:
                try:
                    value = float(parts[3])
                except ValueError:
                    sink.problem("atrace-bad-counter",
                                 f"ATrace counter {parts[2]!r} has a non-numeric value {parts[3]!r}")
                    return
                sink.counter(parts[2], "", ts, value)
        elif kind in "SF":
            parts = buf.split("|")
            if len(parts) >= 4 and parts[1].isdigit():
                key = (int(parts[1]), parts[2], parts[3])
                if kind == "S":
                    self._async[key] = ts
                elif key in self._async:
                    begin = self._async.pop(key)
                    sink.slice(parts[2], begin, ts - begin, key[0], None, 0)

    # --- track_event ---------------------------------------------------------------------------------------------
    def _track_descriptor(self, desc) -> None:
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
                self._sink.thread(desc.thread.tid, desc.thread.pid, desc.thread.thread_name)
        elif desc.HasField("process"):
            track.pid = desc.process.pid
            name = desc.process.process_name or (desc.process.cmdline[0] if desc.process.cmdline else "")
            if name:
                self._sink.process(desc.process.pid, name)
        if desc.HasField("counter"):
            counter = desc.counter
            track.unit = counter.unit_name or _COUNTER_UNITS.get(counter.unit, "")
            track.multiplier = counter.unit_multiplier or 1
            track.incremental = counter.is_incremental

    def _track_event(self, event, seq: _Sequence, ts: int) -> None:
        uuid = event.track_uuid if event.HasField("track_uuid") else seq.default_track
        if uuid is None:
            uuid = 0  # legacy: the sequence's thread; kept apart from every described track
        track = self._tracks.get(uuid)
        if track is None:
            track = self._tracks[uuid] = _Track()
        kind = event.type
        sink = self._sink
        if kind == TYPE_SLICE_BEGIN or kind == TYPE_INSTANT:
            name = event.name if event.HasField("name") else seq.event_names.get(event.name_iid, "")
            if kind == TYPE_INSTANT:
                sink.slice(name, ts, 0, track.pid, track.tid, len(track.stack))
            else:
                track.stack.append((name, ts))
        elif kind == TYPE_SLICE_END:
            if not track.stack:
                sink.problem("track-event-unmatched-end", f"track_event end without begin on track {uuid} at {ts} ns")
                return
            name, begin = track.stack.pop()
            sink.slice(name, begin, ts - begin, track.pid, track.tid, len(track.stack))
        elif kind == TYPE_COUNTER:
            raw = event.double_counter_value if event.HasField("double_counter_value") else event.counter_value
            value = raw * track.multiplier
            if track.incremental:
                track.last_value += value
                value = track.last_value
            sink.counter(track.name or f"track {uuid}", track.unit, ts, float(value))

    # --- GPU ----------------------------------------------------------------------------------------------------
    def _render_stage(self, packet: TracePacket) -> None:
        """A gpu_render_stage_event packet without interned data: the common case, checked with as few field
        reads as possible; anything unusual about its sequence or clock goes the general way."""
        seq = self._sequences.get(packet.trusted_packet_sequence_id)
        if (seq is None or seq.clock_id or packet.sequence_flags & SEQ_INCREMENTAL_STATE_CLEARED
                or packet.HasField("timestamp_clock_id") or packet.HasField("trace_packet_defaults")):
            self._packet(packet, "gpu_render_stage_event")
            return
        ts = packet.timestamp
        if ts:
            if self.first_ts is None or ts < self.first_ts:
                self.first_ts = ts
            if self.last_ts is None or ts > self.last_ts:
                self.last_ts = ts
        self._stage(packet.gpu_render_stage_event, seq, ts)

    def _stage(self, stage, seq: _Sequence, ts: int) -> None:
        if stage.HasField("specifications"):  # the pre-interning form carries its names inline
            for i, spec in enumerate(stage.specifications.stage):
                self._gpu_legacy_stages[i] = spec.name
            for i, spec in enumerate(stage.specifications.hw_queue):
                self._gpu_legacy_queues[i] = spec.name
        self._stage_values(seq, ts, stage.duration, stage.name,
                           stage.stage_iid if stage.HasField("stage_iid") else None, stage.stage_id,
                           stage.hw_queue_iid if stage.HasField("hw_queue_iid") else None, stage.hw_queue_id,
                           stage.context, stage.submission_id)

    def _stage_values(self, seq: _Sequence, ts: int, duration: int, name: str, stage_iid: int | None,
                      stage_id: int, queue_iid: int | None, queue_id: int, context: int, submission_id: int) -> None:
        if not name:
            found = (seq.gpu_specs.get(stage_iid) if stage_iid is not None
                     else self._gpu_legacy_stages.get(stage_id))
            name = found if found is not None else f"stage {stage_iid if stage_iid is not None else stage_id}"
        if queue_iid is not None:
            queue: str | None = seq.gpu_specs.get(queue_iid)
        else:
            queue = self._gpu_legacy_queues.get(queue_id)
        self._sink.gpu_stage(name, ts, duration, queue, context, submission_id)
        end = ts + duration
        if self.last_ts is None or end > self.last_ts or end < self.first_ts:  # type: ignore[operator]
            self._span(end)

    def _gpu_counter(self, event, ts: int) -> None:
        if event.HasField("counter_descriptor"):
            for spec in event.counter_descriptor.specs:
                self._gpu_counters[spec.counter_id] = (spec.name, gpu_counter_unit(spec))
        counter_sample = self._sink.counter
        for counter in event.counters:
            name, unit = self._gpu_counters.get(counter.counter_id, (f"gpu counter {counter.counter_id}", ""))
            value = counter.double_value if counter.HasField("double_value") else counter.int_value
            counter_sample(name, unit, ts, float(value))
