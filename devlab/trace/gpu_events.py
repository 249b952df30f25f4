"""GPU packets for TraceReader: render stages (one per GPU job, the bulk of a GPU trace) and GPU counters.

`GpuEvents` is mixed into TraceReader rather than held by it, so the per-stage calls stay plain method calls on
the reader (no extra layer in the hot loop); the reader state it uses is declared below and set up by the reader.
"""

from __future__ import annotations

from collections.abc import Callable

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import GpuCounterDescriptor, TracePacket

from devlab.trace.records import RecordSink
from devlab.trace.sequences import SEQ_INCREMENTAL_STATE_CLEARED, SequenceState


def gpu_counter_unit(spec) -> str:
    """'percent', '/second', 'byte/second' ... from a GpuCounterSpec's numerator and denominator units."""
    name = GpuCounterDescriptor.MeasureUnit.Name
    numerator = "*".join(name(u).lower() for u in spec.numerator_units if u)
    denominator = "*".join(name(u).lower() for u in spec.denominator_units if u)
    return f"{numerator}/{denominator}" if denominator else numerator


class GpuEvents:
    """GPU render stages and counters, sent to the reader's sink."""

    # the reader's state and methods these use (TraceReader sets them up)
    first_ts: int | None
    last_ts: int | None
    _sink: RecordSink
    _sequences: dict[int, SequenceState]
    _gpu_counters: dict[int, tuple[str, str]]   # counter id -> (name, unit)
    _gpu_legacy_stages: dict[int, str]
    _gpu_legacy_queues: dict[int, str]
    _span: Callable[[int], None]
    _packet: Callable[[TracePacket, str | None], None]

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

    def _stage(self, stage, seq: SequenceState, ts: int) -> None:
        if stage.HasField("specifications"):  # the pre-interning form carries its names inline
            for i, spec in enumerate(stage.specifications.stage):
                self._gpu_legacy_stages[i] = spec.name
            for i, spec in enumerate(stage.specifications.hw_queue):
                self._gpu_legacy_queues[i] = spec.name
        self._stage_values(seq, ts, stage.duration, stage.name,
                           stage.stage_iid if stage.HasField("stage_iid") else None, stage.stage_id,
                           stage.hw_queue_iid if stage.HasField("hw_queue_iid") else None, stage.hw_queue_id,
                           stage.context, stage.submission_id)

    def _stage_values(self, seq: SequenceState, ts: int, duration: int, name: str, stage_iid: int | None,
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
