"""The trace_processor backend: the same TraceSummary, read with the user's trace_processor_shell binary.

Our machines cannot download trace_processor and no package ships it, so this runs only when the user points at a
binary (`--trace-processor PATH` or DEVLAB_TRACE_PROCESSOR). Per-name aggregates come from SQL; percentiles from the
durations of each name, fed through the same SummaryBuilder as the built-in reader.
"""

from __future__ import annotations

from pathlib import Path

from devlab.errors import ToolError, UsageError
from devlab.trace.records import (CounterSample, GpuStage, ProcessName, SchedSwitch, Slice,
                                  ThreadName)
from devlab.trace.summary import SummaryBuilder, TraceSummary

_SLICES = """select s.name as name, s.ts as ts, s.dur as dur, s.depth as depth, t.tid as tid, p.pid as pid
from slice s left join thread_track tt on s.track_id = tt.id left join thread t using(utid)
left join process p using(upid) where s.dur >= 0 and s.name is not null
and s.id not in (select id from gpu_slice)"""
_STAGES = "select name, ts, dur, submission_id from gpu_slice where dur >= 0"
_COUNTERS = """select coalesce(t.name, '') as name, c.ts as ts, c.value as value from counter c
join counter_track t on c.track_id = t.id"""
_SCHED = "select s.cpu as cpu, s.ts as ts, t.tid as tid, coalesce(t.name, '') as comm from sched s join thread t using(utid)"


def analyze_with_trace_processor(path: Path, binary: Path) -> TraceSummary:
    if not binary.is_file():
        raise UsageError(f"no trace_processor binary at {binary}",
                         "pass --trace-processor PATH to a trace_processor_shell, or unset DEVLAB_TRACE_PROCESSOR")
    from perfetto.trace_processor import TraceProcessor, TraceProcessorConfig
    try:
        tp = TraceProcessor(trace=str(path), config=TraceProcessorConfig(bin_path=str(binary)))
    except Exception as exc:  # the API raises its own exception types for a bad binary or trace
        raise ToolError(f"trace_processor could not load {path.name}: {exc}",
                        "check the binary runs (`trace_processor_shell --version`) and the trace file") from exc
    builder = SummaryBuilder()
    try:
        for r in tp.query(_SLICES):
            builder.add(Slice(r.name, r.ts, r.dur, r.pid, r.tid, r.depth))
        for r in tp.query(_STAGES):
            builder.add(GpuStage(r.name or "", r.ts, r.dur, None, 0, r.submission_id or 0))
        for r in tp.query(_COUNTERS):
            builder.add(CounterSample(r.name, "", r.ts, float(r.value)))
        for r in tp.query(_SCHED):
            builder.add(SchedSwitch(r.cpu, r.ts, None, r.tid, r.comm))
        for r in tp.query("select pid, name from process where name is not null"):
            builder.add(ProcessName(r.pid, r.name))
        for r in tp.query("select t.tid as tid, p.pid as pid, t.name as name from thread t "
                          "left join process p using(upid) where t.name is not null"):
            builder.add(ThreadName(r.tid, r.pid, r.name))
        bounds = next(iter(tp.query("select start_ts, end_ts from trace_bounds")))
    finally:
        tp.close()
    return builder.build(path=path, backend="trace_processor", packets=None, unknown_packets=None,
                         duration_ns=bounds.end_ts - bounds.start_ts)
