"""TraceReader's path through the optional C scanner (devlab/trace/_fastscan.c, loaded by fastscan.py): the
scanner reads the plain ftrace bundles and GPU stages itself, and hands back every other packet for upb.

`ScannerPath` is mixed into TraceReader so the scanner's findings go straight to the reader's sink and methods,
with no layer in between; the reader state it uses is declared below and set up by the reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import FtraceEventBundle

from devlab.trace import fastscan
from devlab.trace.clocks import ClockConverter
from devlab.trace.framing import PacketStream
from devlab.trace.records import RecordSink
from devlab.trace.sequences import SequenceState


class ScannerPath:
    """`_scanned_batches()`: the trace batch by batch through the C scanner, findings in trace order."""

    # the reader's state and methods these use (TraceReader sets them up)
    packets: int
    _stream: PacketStream
    _clocks: ClockConverter
    _sink: RecordSink
    _sequences: dict[int, SequenceState]
    _prints: list[tuple[int, int, str]]
    _span: Callable[[int], None]
    _packets: Callable[[object], None]
    _time: Callable[[int, int, int, str | None], int]
    _compact_sched: Callable[[int, object], None]
    _stage_values: Callable[..., None]

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
            seq = self._sequences[seq_id] = SequenceState()
            self._clocks.clear_sequence(seq_id)
        if seq.clock_id:
            ts = self._time(seq_id, ts, seq.clock_id, "gpu_render_stage_event")
        elif ts:
            self._span(ts)
        self._stage_values(seq, ts, duration, name, stage_iid, stage_id, queue_iid, queue_id, context, submission_id)
