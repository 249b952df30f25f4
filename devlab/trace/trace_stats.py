"""What a trace's `trace_stats` packet says was lost. traced writes it into every trace (cumulative; the last one
counts), with per-buffer counters defined in perfetto's protos/perfetto/common/trace_stats.proto:
chunks_overwritten ("overwritten before they have been read (i.e. loss of data)": a RING_BUFFER that wrapped, so the
start of the recording is gone), chunks_discarded (a DISCARD buffer that filled: the end is gone),
trace_writer_packet_loss (a producer's shared memory ran out), abi_violations and patches_failed (corrupt chunks),
and failed flushes (data sources that never handed over their last data). Any of these makes a trace incomplete.

The kernel's per-CPU ftrace buffers lose events on their own before traced_probes reads them: `ftrace_stats`
packets (protos/perfetto/trace/ftrace/ftrace_stats.proto) carry each CPU's cumulative `overrun` (overwrite mode),
`dropped_events` (no-overwrite mode) and `commit_overrun`, once at START_OF_TRACE and again at END_OF_TRACE: the
difference is what this trace lost.

The START_OF_TRACE `ftrace_stats` also says what the phone refused of the config (perfetto's
src/traced/probes/ftrace/ftrace_stats.cc writes its setup errors there; trace_processor reads them from that phase):
`unknown_ftrace_events` ("requested by the config but not present on device"), `failed_ftrace_events` ("present on
device, but which we failed to enable due to permissions ...") and `atrace_errors`. A refused event is not a loss
(the trace is complete without it), but whatever devlab reads from it is absent for that reason, and says so.
"""

from __future__ import annotations

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import FtraceStats, TraceStats

_BUFFER_LOSSES = (
    ("chunks_overwritten", "chunks overwritten before they were read (the ring buffer wrapped: the start is lost)"),
    ("chunks_discarded", "chunks discarded (the buffer filled: the end is lost)"),
    ("trace_writer_packet_loss", "packet losses in producers' shared memory"),
    ("abi_violations", "shared-memory ABI violations"),
    ("patches_failed", "failed chunk patches"),
)


def lost_data(stats: TraceStats | None, ftrace_start: FtraceStats | None = None,
              ftrace_end: FtraceStats | None = None) -> tuple[str, ...]:
    """One line per kind of loss the stats report; () when nothing was lost (or there are no stats)."""
    lines = list(_ftrace_lost(ftrace_start, ftrace_end))
    if stats is None:
        return tuple(lines)
    for index, buffer in enumerate(stats.buffer_stats):
        for field, what in _BUFFER_LOSSES:
            count = getattr(buffer, field)
            if count:
                size = f" of {buffer.buffer_size // 1024} KB" if buffer.buffer_size else ""
                lines.append(f"buffer {index}{size}: {count} {what}")
    if stats.flushes_failed:
        lines.append(f"{stats.flushes_failed} of {stats.flushes_requested} flushes failed (data sources did not "
                     "hand over their last data)")
    if stats.final_flush_outcome == TraceStats.FINAL_FLUSH_FAILED:
        lines.append("the final flush failed: the end of the recording may be missing")
    if stats.chunks_discarded:
        lines.append(f"{stats.chunks_discarded} chunks discarded by the service before reaching a buffer")
    return tuple(lines)


def _ftrace_losses(stats: FtraceStats) -> dict[int, int]:
    return {c.cpu: c.overrun + c.dropped_events + c.commit_overrun for c in stats.cpu_stats}


def _ftrace_lost(start: FtraceStats | None, end: FtraceStats | None) -> tuple[str, ...]:
    """One line per CPU whose kernel ftrace buffer lost events between the start and the end of the trace (none
    known without both)."""
    if start is None or end is None:
        return ()
    before = _ftrace_losses(start)
    lines = []
    for cpu, after in sorted(_ftrace_losses(end).items()):
        lost = after - before.get(cpu, after)
        if lost > 0:
            lines.append(f"ftrace CPU {cpu}: {lost} events lost in the kernel buffer (overrun)")
    return tuple(lines)


def refused(ftrace_start: FtraceStats | None) -> tuple[str, ...]:
    """One line per ftrace event or atrace category the phone refused at the start of the trace."""
    if ftrace_start is None:
        return ()
    lines = [f"{event}: not on this kernel (unknown ftrace event)" for event in ftrace_start.unknown_ftrace_events]
    lines += [f"{event}: failed to enable (permissions, or a conflicting option)"
              for event in ftrace_start.failed_ftrace_events]
    if ftrace_start.atrace_errors:
        lines.append(f"atrace: {ftrace_start.atrace_errors.strip()}")
    return tuple(lines)
