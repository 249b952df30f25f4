"""Write real Perfetto traces with perfetto's generated protos, streaming to a file.

Used by the simulated phone's `perfetto` binary, by tests that need traces with known values, and by the reader
benchmark. It writes the forms a phone writes: ftrace bundles (print = ATrace, sched_switch, cpu/gpu frequency),
gpu_render_stage_event with interned stage specifications, process_tree, trace_config.
"""

from __future__ import annotations

from typing import BinaryIO

from google.protobuf.internal.encoder import _VarintBytes  # the same varint protobuf writes
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (FtraceEvent, InternedGpuRenderStageSpecification,
                                                               TraceConfig, TracePacket)

TRUSTED_SEQUENCE = 1
GPU_SEQUENCE = 2
SEQ_INCREMENTAL_STATE_CLEARED = 1
SEQ_NEEDS_INCREMENTAL_STATE = 2
_PACKET_TAG = b"\x0a"


class TraceWriter:
    """Append packets to an open binary file. ftrace events are buffered per CPU and written as bundles."""

    def __init__(self, out: BinaryIO, bundle_events: int = 64) -> None:
        self.out = out
        self.bundle_events = bundle_events
        self.packets = 0
        self._bundles: dict[int, list[FtraceEvent]] = {}
        self._stage_iids: dict[str, int] = {}
        self._queue_iid: int | None = None

    def write(self, packet: TracePacket) -> None:
        data = packet.SerializeToString()
        self.out.write(_PACKET_TAG + _VarintBytes(len(data)) + data)
        self.packets += 1

    def trace_config(self, config: TraceConfig) -> None:
        packet = TracePacket(trusted_packet_sequence_id=TRUSTED_SEQUENCE)
        packet.trace_config.CopyFrom(config)
        self.write(packet)

    def process(self, pid: int, cmdline: str, threads: dict[int, str] | None = None) -> None:
        packet = TracePacket(trusted_packet_sequence_id=TRUSTED_SEQUENCE)
        packet.process_tree.processes.add(pid=pid, ppid=1, cmdline=[cmdline])
        for tid, name in (threads or {}).items():
            packet.process_tree.threads.add(tid=tid, tgid=pid, name=name)
        self.write(packet)

    # --- ftrace --------------------------------------------------------------------------------------------------
    def _event(self, cpu: int, ts_ns: int, tid: int) -> FtraceEvent:
        # The caller fills the event in after this returns, so a full bundle is written before adding to it.
        if len(self._bundles.get(cpu, ())) >= self.bundle_events:
            self._flush_cpu(cpu)
        event = FtraceEvent(timestamp=ts_ns, pid=tid)
        self._bundles.setdefault(cpu, []).append(event)
        return event

    def atrace_begin(self, cpu: int, ts_ns: int, pid: int, tid: int, name: str) -> None:
        self._event(cpu, ts_ns, tid).print.buf = f"B|{pid}|{name}\n"

    def atrace_end(self, cpu: int, ts_ns: int, pid: int, tid: int) -> None:
        self._event(cpu, ts_ns, tid).print.buf = f"E|{pid}\n"

    def atrace_counter(self, cpu: int, ts_ns: int, pid: int, tid: int, name: str, value: float) -> None:
        self._event(cpu, ts_ns, tid).print.buf = f"C|{pid}|{name}|{value:g}\n"

    def sched_switch(self, cpu: int, ts_ns: int, prev: tuple[int, str], nxt: tuple[int, str]) -> None:
        sw = self._event(cpu, ts_ns, prev[0]).sched_switch
        sw.prev_pid, sw.prev_comm, sw.next_pid, sw.next_comm = prev[0], prev[1], nxt[0], nxt[1]
        sw.prev_state = 1  # S: the thread went to sleep

    def cpu_frequency(self, cpu: int, ts_ns: int, khz: int) -> None:
        freq = self._event(cpu, ts_ns, 0).cpu_frequency
        freq.cpu_id, freq.state = cpu, khz

    def gpu_frequency(self, ts_ns: int, khz: int, gpu_id: int = 0) -> None:
        freq = self._event(0, ts_ns, 0).gpu_frequency
        freq.gpu_id, freq.state = gpu_id, khz

    def thermal_temperature(self, ts_ns: int, zone: str, zone_id: int, millicelsius: int,
                            previous_millicelsius: int) -> None:
        thermal = self._event(0, ts_ns, 0).thermal_temperature
        thermal.thermal_zone, thermal.id = zone, zone_id
        thermal.temp, thermal.temp_prev = millicelsius, previous_millicelsius

    def _flush_cpu(self, cpu: int) -> None:
        events = self._bundles.pop(cpu, [])
        if not events:
            return
        packet = TracePacket(trusted_packet_sequence_id=TRUSTED_SEQUENCE)
        packet.ftrace_events.cpu = cpu
        packet.ftrace_events.event.extend(events)
        self.write(packet)

    # --- GPU -----------------------------------------------------------------------------------------------------
    def gpu_render_stage(self, ts_ns: int, dur_ns: int, name: str, *, context: int = 1, submission_id: int = 0,
                         event_id: int = 0) -> None:
        packet = TracePacket(timestamp=ts_ns, trusted_packet_sequence_id=GPU_SEQUENCE)
        if self._queue_iid is None:
            # First packet of the sequence: clear incremental state and intern the hardware queue.
            packet.sequence_flags = SEQ_INCREMENTAL_STATE_CLEARED
            self._queue_iid = 1
            packet.interned_data.gpu_specifications.add(
                iid=1, name="Compute queue", category=InternedGpuRenderStageSpecification.COMPUTE)
        else:
            packet.sequence_flags = SEQ_NEEDS_INCREMENTAL_STATE
        iid = self._stage_iids.get(name)
        if iid is None:
            iid = self._stage_iids[name] = len(self._stage_iids) + 2
            packet.interned_data.gpu_specifications.add(
                iid=iid, name=name, category=InternedGpuRenderStageSpecification.COMPUTE)
        stage = packet.gpu_render_stage_event
        stage.event_id, stage.duration, stage.context, stage.submission_id = event_id, dur_ns, context, submission_id
        stage.hw_queue_iid, stage.stage_iid = self._queue_iid, iid
        self.write(packet)

    def flush(self) -> None:
        """Write the buffered ftrace bundles (call before closing the file)."""
        for cpu in sorted(self._bundles):
            self._flush_cpu(cpu)
        self.out.flush()
