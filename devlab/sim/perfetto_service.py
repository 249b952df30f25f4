"""What the simulated phone's tracing service (traced) knows: its data sources, the tracing sessions running, the
service state `perfetto --query` / `--query-raw` print, and the trace a session writes (buffers that fill up, and
the trace_stats packet that says so).

Version rules (perfetto's src/perfetto_cmd/perfetto_cmd.cc and CHANGELOG, docs/sim-fidelity.md): `--query` printed a
text proto (`producers: {...}`, `data_sources: { descriptor: { name: ... } }`) before v24, the human tables
(DATA SOURCES REGISTERED, TRACING SESSIONS) from v24; `--query-raw` prints the binary TracingServiceState on every
version. The per-session list (`tracing_sessions`) exists from v24; older services only count sessions.
"""

from __future__ import annotations

import io
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.internal.decoder import _DecodeVarint32
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (FtraceStats, TraceConfig, TracePacket, TraceStats,
                                                               TracingServiceState)

from devlab.sim.power import power_model
from devlab.sim.state import DeviceState
from devlab.sim.timeline import SimEvent
from devlab.trace.writer import TRUSTED_SEQUENCE, TraceWriter

TABLE_QUERY_SINCE = 24          # `perfetto --query` prints tables (and lists sessions) from v24
BACKGROUND_WAIT_SINCE = 22      # `--background-wait` from v22
CHUNK_BYTES = 4096              # traced's shared-memory chunk: buffers fill and overwrite chunk by chunk
BENCH_CPU = 4                   # the simulated benchmark thread stays on one big core
SHELL_UID = 2000
# **guess**: how often the thermal core updates a zone. Device trees set a polling delay per zone (and a shorter
# passive delay past a trip); 250 ms of simulated time gives a trace run a handful of readings per zone.
THERMAL_POLL_MS = 250
_SERVICE_PRODUCER = 1
_VENDOR_PRODUCER = 2


def offered_data_sources(egl: str) -> tuple[str, ...]:
    """What this phone's producers register: traced_probes' sources plus the vendor GPU producer's."""
    base = ("linux.ftrace", "linux.process_stats", "linux.sys_stats", "android.power", "android.log",
            "track_event")
    vendor = egl or "gpu"
    return base + (f"gpu.counters.{vendor}", f"gpu.renderstages.{vendor}")


@dataclass(frozen=True, eq=False)
class Session:
    config: TraceConfig
    started_ns: int                # time.time_ns() when it started (start_realtime_ns)


_SESSIONS: "weakref.WeakKeyDictionary[object, list[Session]]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def open_session(device: object, config: TraceConfig) -> Session:
    """A tracing session on `device`'s service, listed by --query until `close_session`."""
    session = Session(config, time.time_ns())
    with _LOCK:
        _SESSIONS.setdefault(device, []).append(session)
    return session


def close_session(device: object, session: Session) -> None:
    with _LOCK:
        running = _SESSIONS.get(device, [])
        if session in running:
            running.remove(session)


def sessions(device: object) -> list[Session]:
    with _LOCK:
        return list(_SESSIONS.get(device, []))


def service_state(device: object, sources: tuple[str, ...], version: int) -> TracingServiceState:
    """The TracingServiceState traced answers a shell-user consumer with."""
    state = TracingServiceState(tracing_service_version=f"Perfetto v{version}.0 (simulated)")
    state.producers.add(id=_SERVICE_PRODUCER, name="perfetto.traced_probes", uid=0, pid=612)
    state.producers.add(id=_VENDOR_PRODUCER, name="vendor.gpu.producer", uid=1000, pid=1377)
    for name in sources:
        state.data_sources.add(producer_id=_VENDOR_PRODUCER if name.startswith("gpu.") else _SERVICE_PRODUCER
                               ).ds_descriptor.name = name
    running = sessions(device)
    state.num_sessions = state.num_sessions_started = len(running)
    if version >= TABLE_QUERY_SINCE:
        state.supports_tracing_sessions = True
        for number, session in enumerate(running, start=1):
            state.tracing_sessions.add(
                id=number, consumer_uid=SHELL_UID, state="STARTED", is_started=True,
                unique_session_name=session.config.unique_session_name,
                buffer_size_kb=[b.size_kb for b in session.config.buffers], duration_ms=session.config.duration_ms,
                num_data_sources=len(session.config.data_sources), start_realtime_ns=session.started_ns)
    return state


def query_text(state: TracingServiceState, version: int) -> str:
    """`perfetto --query` as that version prints it (perfetto_cmd.cc PrintServiceState)."""
    if version < TABLE_QUERY_SINCE:
        lines = ["Not meant for machine consumption. Use --query-raw for scripts."]
        for p in state.producers:
            lines += ["producers: {", f"  id: {p.id}", f"  name: \"{p.name}\" ", f"  uid: {p.uid} ",
                      f"  sdk_version: \"{p.sdk_version}\" ", "}"]
        for ds in state.data_sources:
            lines += ["data_sources: {", f"  producer_id: {ds.producer_id}", "  descriptor: {",
                      f"    name: \"{ds.ds_descriptor.name}\"", "  }", "}"]
        lines += [f"tracing_service_version: \"{state.tracing_service_version}\"",
                  f"num_sessions: {state.num_sessions}", f"num_sessions_started: {state.num_sessions_started}"]
        return "\n".join(lines) + "\n"
    producers = {p.id: p.name for p in state.producers}
    lines = ["Not meant for machine consumption. Use --query-raw for scripts.", "",
             f"Service: {state.tracing_service_version}",
             f"Tracing sessions: {state.num_sessions} (started: {state.num_sessions_started})", "", "",
             "PRODUCER PROCESSES CONNECTED:", "", f"{'ID':<6} {'PID':<8} {'UID':<8} {'FLAGS':<6} {'NAME':<42} SDK",
             f"{'==':<6} {'===':<8} {'===':<8} {'=====':<6} {'====':<42} ==="]
    lines += [f"{p.id:<6} {p.pid:<8} {p.uid:<8} {'':<6} {p.name:<42} {p.sdk_version}" for p in state.producers]
    lines += ["", "", "DATA SOURCES REGISTERED:", "", f"{'NAME':<40} {'PRODUCER':<28} DETAILS",
              f"{'===':<40} {'========':<28} ========"]
    lines += [f"{ds.ds_descriptor.name:<40} {producers.get(ds.producer_id, '?') + f' ({ds.producer_id})':<28} "
              for ds in state.data_sources]
    lines += ["", "", "TRACING SESSIONS:", "", "ID      UID     STATE      BUF (#) KB   DUR (s)   #DS  STARTED  NAME",
              "===     ===     =====      ==========   =======   ===  =======  ===="]
    for s in state.tracing_sessions:
        sec = (s.start_realtime_ns // 1_000_000_000) % 86400
        lines.append(f"{s.id:<7} {s.consumer_uid:<7} {s.state:<10} ({len(s.buffer_size_kb)}) "
                     f"{sum(s.buffer_size_kb):<8} {s.duration_ms // 1000:<9} {s.num_data_sources:<4} "
                     f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} {s.unique_session_name}")
    return "\n".join(lines) + "\n"


# --- the trace a session writes -----------------------------------------------------------------------------------
def ftrace_events(config: TraceConfig) -> list[str]:
    """The ftrace events the config asks for, in its order."""
    return [e for ds in config.data_sources if ds.config.name == "linux.ftrace"
            for e in ds.config.ftrace_config.ftrace_events]


def wants(config: TraceConfig, offered: tuple[str, ...], refused: tuple[str, ...] = ()) -> dict[str, bool]:
    """What of the simulated events the config asks for (and the device offers, and did not refuse)."""
    names = {ds.config.name for ds in config.data_sources if ds.config.name in offered}
    events = set(ftrace_events(config)) - set(refused)
    apps: set[str] = set()
    for ds in config.data_sources:
        if ds.config.name == "linux.ftrace":
            apps.update(ds.config.ftrace_config.atrace_apps)
    return {
        "atrace": "linux.ftrace" in names and ("ftrace/print" in events or bool(apps)) and "*" in apps,
        "sched": "linux.ftrace" in names and "sched/sched_switch" in events,
        "gpufreq": "linux.ftrace" in names and "power/gpu_frequency" in events,
        "thermal": "linux.ftrace" in names and "thermal/thermal_temperature" in events,
        "stages": any(name.startswith("gpu.renderstages") for name in names),
    }


@dataclass(frozen=True)
class ThermalSample:
    """One `thermal/thermal_temperature` ftrace event: the kernel's thermal core updating a zone."""

    ts_ns: int              # the simulator's wall time
    zone: str               # the zone's type (`gpuss-0`), as the event names it
    zone_id: int            # its thermal_zoneN index
    millicelsius: int
    previous: int           # the zone's previous reading (temp_prev)


def thermal_samples(device: DeviceState, start_ns: int, end_ns: int) -> list[ThermalSample]:
    """The thermal_temperature events between two wall times: every zone updated each THERMAL_POLL_MS of simulated
    time (its polling delay), reading the phone's heat model (devlab/sim/power.py)."""
    model = power_model(device)
    step = max(1, int(THERMAL_POLL_MS * 1e6 * (device.time_scale or 1.0)))
    previous: dict[str, int] = {}
    out = []
    for ts in range(start_ns, end_ns + 1, step):
        for zone_id, (zone, _, celsius) in enumerate(model.temperatures(ts)):
            millicelsius = int(round(celsius * 1000))
            out.append(ThermalSample(ts, zone, zone_id, millicelsius, previous.get(zone, millicelsius)))
            previous[zone] = millicelsius
    return out


def _event_packets(events: list[SimEvent], wanted: dict[str, bool], clock: Callable[[int], int],
                   thermal: list[ThermalSample] | tuple[ThermalSample, ...] = ()) -> list[bytes]:
    """The framed packets the producers would commit for `events` (and the kernel's thermal updates), in commit
    order. `clock` maps the simulator's wall nanoseconds to the phone's trace clock (DeviceState.trace_clock_ns)."""
    body = io.BytesIO()
    writer = TraceWriter(body)
    pids = sorted({e.pid for e in events if e.kind == "slice"})
    for pid in pids:
        writer.process(pid, "/data/local/tmp/benchmark_model", {pid: "benchmark_model"})
    timed: list[tuple[int, int, int, SimEvent]] = []
    for e in events:
        if e.kind == "slice":
            timed.append((clock(e.ts_ns), 1, e.depth, e))                 # begins: outer first
            timed.append((clock(e.ts_ns + e.dur_ns), 0, -e.depth, e))     # ends first at a shared instant, inner first
        else:
            timed.append((clock(e.ts_ns), 2, 0, e))
    if wanted["thermal"]:
        timed.extend((clock(t.ts_ns), 2, 0, t) for t in thermal)
    timed.sort(key=lambda item: item[:3])
    submission = 0
    for ts, phase, _, e in timed:
        if isinstance(e, ThermalSample):
            writer.thermal_temperature(ts, e.zone, e.zone_id, e.millicelsius, e.previous)
        elif e.kind == "slice":
            runs = e.depth == 0          # an outermost slice is one Invoke of the interpreter: the thread is on CPU
            if phase == 1:
                if runs and wanted["sched"]:
                    writer.sched_switch(BENCH_CPU, ts, (0, f"swapper/{BENCH_CPU}"), (e.tid, "benchmark_model"))
                if wanted["atrace"]:
                    writer.atrace_begin(BENCH_CPU, ts, e.pid, e.tid, e.name)
                if runs:
                    submission += 1
            else:
                if wanted["atrace"]:
                    writer.atrace_end(BENCH_CPU, ts, e.pid, e.tid)
                if runs and wanted["sched"]:
                    writer.sched_switch(BENCH_CPU, ts, (e.tid, "benchmark_model"), (0, f"swapper/{BENCH_CPU}"))
        elif e.kind == "counter" and e.name == "gpufreq" and wanted["gpufreq"] and e.value is not None:
            writer.gpu_frequency(ts, int(e.value // 1000))     # the ftrace event carries kHz
        elif e.kind == "gpu_stage" and wanted["stages"]:
            writer.gpu_render_stage(ts, clock(e.ts_ns + e.dur_ns) - ts, e.name, submission_id=submission)
    writer.flush()
    return _frames(body.getvalue())


def _frames(data: bytes) -> list[bytes]:
    frames, pos = [], 0
    while pos < len(data):
        size, start = _DecodeVarint32(data, pos + 1)      # after the 0x0a tag of TracePacket field 1
        frames.append(data[pos:start + size])
        pos = start + size
    return frames


def write_trace(out, config: TraceConfig, events: list[SimEvent], offered: tuple[str, ...],
                power: list[bytes] | tuple[bytes, ...] = (), clock: Callable[[int], int] = lambda ns: ns,
                thermal: list[ThermalSample] | tuple[ThermalSample, ...] = (), refused: tuple[str, ...] = ()) -> int:
    """The trace file of a session that saw `events`: trace_config, what fits in buffer 0, trace_stats. Returns
    the packet count. Every producer writes into the first buffer here (the config devlab builds puts ftrace and
    GPU data there); a RING_BUFFER that fills overwrites its oldest chunks, a DISCARD buffer drops what comes
    after, and trace_stats counts it (chunks_overwritten / chunks_discarded), as traced does. `power`: the
    android.power data source's framed packets (devlab/sim/power_source.py), kept after the events'. `clock`: the
    phone's trace clock for the events' wall times (DeviceState.trace_clock_ns); `thermal`: the kernel's thermal
    zone updates over the session (`thermal_samples`), written where the config asks for them; `refused`: ftrace
    events perfetto failed to enable (the `ftrace_refused` fault): never recorded, and listed in the START_OF_TRACE
    ftrace_stats' failed_ftrace_events, where traced_probes reports its setup errors."""
    failed = tuple(e for e in ftrace_events(config) if e in refused)
    frames = _event_packets(events, wants(config, offered, failed), clock, thermal) + list(power)
    size = config.buffers[0].size_kb * 1024 if config.buffers else 0
    ring = not config.buffers or config.buffers[0].fill_policy != TraceConfig.BufferConfig.DISCARD
    written = sum(len(f) for f in frames)
    kept, lost = frames, 0
    if size and written > size:
        # a ring buffer keeps the newest packets that fit, a DISCARD buffer the oldest
        total, chosen = 0, []
        for i in (range(len(frames) - 1, -1, -1) if ring else range(len(frames))):
            if total + len(frames[i]) > size:
                break
            total += len(frames[i])
            chosen.append(i)
        kept = [frames[i] for i in sorted(chosen)]
        lost = written - total
    stats = TraceStats(producers_connected=2, data_sources_registered=len(offered), tracing_sessions=1,
                       total_buffers=len(config.buffers), flushes_requested=1, flushes_succeeded=1,
                       final_flush_outcome=TraceStats.FINAL_FLUSH_SUCCEEDED)
    for index, buffer in enumerate(config.buffers):
        entry = stats.buffer_stats.add(buffer_size=buffer.size_kb * 1024)
        if index == 0:
            entry.bytes_written = written
            entry.chunks_written = -(-written // CHUNK_BYTES)
            lost_chunks = -(-lost // CHUNK_BYTES)
            if ring:
                entry.chunks_overwritten, entry.bytes_overwritten = lost_chunks, lost
            else:
                entry.chunks_discarded = lost_chunks
    header = TracePacket(trusted_packet_sequence_id=TRUSTED_SEQUENCE)
    header.trace_config.CopyFrom(config)
    footer = TracePacket(trusted_packet_sequence_id=TRUSTED_SEQUENCE, trace_stats=stats)
    writer = TraceWriter(out)
    writer.write(header)
    ftrace = "linux.ftrace" in {ds.config.name for ds in config.data_sources}
    if ftrace:      # traced_probes brackets the ftrace data with its kernel buffers' counters (no overrun here)
        writer.write(_ftrace_stats(FtraceStats.START_OF_TRACE, failed))
    for frame in kept:
        out.write(frame)
    if ftrace:
        writer.write(_ftrace_stats(FtraceStats.END_OF_TRACE))
    writer.write(footer)
    out.flush()
    return len(kept) + 2 + 2 * ftrace


def _ftrace_stats(phase: int, failed: tuple[str, ...] = ()) -> TracePacket:
    packet = TracePacket(trusted_packet_sequence_id=TRUSTED_SEQUENCE)
    packet.ftrace_stats.phase = phase
    packet.ftrace_stats.failed_ftrace_events.extend(failed)     # setup errors go with the START_OF_TRACE stats
    packet.ftrace_stats.cpu_stats.add(cpu=BENCH_CPU, overrun=0)
    return packet
