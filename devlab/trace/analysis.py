"""`analyze(path) -> TraceSummary`: the one entry point for reading a trace, whichever backend reads it.

Backends: the built-in streaming reader (devlab/trace/reader.py, with the optional C scanner) or, when the user has
one, a trace_processor binary (devlab/trace/tp_backend.py). Both feed the same SummaryBuilder, so the summary's
shape does not depend on the backend; its `backend` field says which one ran.
"""

from __future__ import annotations

import os
from pathlib import Path

from devlab.trace.reader import TraceReader, protobuf_backend
from devlab.trace.summary import SummaryBuilder, TraceSummary
from devlab.trace.trace_stats import lost_data, refused
from devlab.trace.tp_backend import analyze_with_trace_processor


def analyze(path: Path, *, trace_processor: str | None = None) -> TraceSummary:
    """Summarize a trace file. Uses trace_processor when a binary is given (argument or DEVLAB_TRACE_PROCESSOR),
    else the built-in streaming reader."""
    # "" asks for the built-in reader even when DEVLAB_TRACE_PROCESSOR is set
    binary = trace_processor if trace_processor is not None else os.environ.get("DEVLAB_TRACE_PROCESSOR")
    if binary:
        return analyze_with_trace_processor(Path(path), Path(binary))
    reader = TraceReader(Path(path))
    builder = SummaryBuilder()
    reader.read_into(builder)  # the fast path: findings go straight into the aggregates, no record objects
    span = None if reader.first_ts is None or reader.last_ts is None else reader.last_ts - reader.first_ts
    scanner = " + C scanner" if reader.fast else ""  # which path ran: the results are the same either way
    return builder.build(path=Path(path), backend=f"builtin (protobuf {protobuf_backend()}{scanner})",
                         packets=reader.packets, unknown_packets=reader.unknown_packets, duration_ns=span,
                         lost_data=lost_data(reader.trace_stats, reader.ftrace_start, reader.ftrace_end),
                         refused=refused(reader.ftrace_start))
