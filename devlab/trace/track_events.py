"""track_event packets: track descriptors (name, owning process/thread, counter unit) and the slices, instants and
counters recorded on those tracks, sent to a RecordSink."""

from __future__ import annotations

from dataclasses import dataclass, field

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import CounterDescriptor

from devlab.trace.records import RecordList, RecordSink
from devlab.trace.sequences import SequenceState

TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER = 1, 2, 3, 4
_COUNTER_UNITS = {CounterDescriptor.UNIT_TIME_NS: "ns", CounterDescriptor.UNIT_COUNT: "count",
                  CounterDescriptor.UNIT_SIZE_BYTES: "bytes"}


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


class TrackEvents:
    """The tracks seen so far (by uuid) and their open slices; findings go to `sink`."""

    def __init__(self) -> None:
        self.sink: RecordSink = RecordList()
        self._tracks: dict[int, _Track] = {}

    def report_unended(self) -> None:
        """A problem for each slice still open (call once the trace is read)."""
        for uuid, track in self._tracks.items():
            for name, _ in track.stack:
                self.sink.problem("track-event-unended", f"track_event slice {name!r} on track {uuid} never ended")

    def descriptor(self, desc) -> None:
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
                self.sink.thread(desc.thread.tid, desc.thread.pid, desc.thread.thread_name)
        elif desc.HasField("process"):
            track.pid = desc.process.pid
            name = desc.process.process_name or (desc.process.cmdline[0] if desc.process.cmdline else "")
            if name:
                self.sink.process(desc.process.pid, name)
        if desc.HasField("counter"):
            counter = desc.counter
            track.unit = counter.unit_name or _COUNTER_UNITS.get(counter.unit, "")
            track.multiplier = counter.unit_multiplier or 1
            track.incremental = counter.is_incremental

    def event(self, event, seq: SequenceState, ts: int) -> None:
        uuid = event.track_uuid if event.HasField("track_uuid") else seq.default_track
        if uuid is None:
            uuid = 0  # legacy: the sequence's thread; kept apart from every described track
        track = self._tracks.get(uuid)
        if track is None:
            track = self._tracks[uuid] = _Track()
        kind = event.type
        sink = self.sink
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
