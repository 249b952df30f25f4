"""The optional C scanner for the hot packets of a trace (devlab/trace/_fastscan.c), configured from perfetto's
generated descriptors so no field number is hard-coded in C.

`available()` says whether it was built; without it the reader decodes every packet with upb, with the same
results, only slower. DEVLAB_TRACE_SCANNER=python turns it off (for comparing the two paths).
"""

from __future__ import annotations

import os
from types import ModuleType

from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import (CpuFrequencyFtraceEvent, FtraceEvent, FtraceEventBundle,
                                                               GpuFrequencyFtraceEvent, GpuRenderStageEvent,
                                                               PrintFtraceEvent, SchedSwitchFtraceEvent,
                                                               ThermalTemperatureFtraceEvent, TracePacket)

# (message, field, protobuf type) in the order of the C enum; the type is checked so a proto change that would
# make the C reading wrong disables the scanner instead.
_T_UINT64, _T_INT32, _T_UINT32, _T_STRING, _T_MESSAGE, _T_INT64 = 4, 5, 13, 9, 11, 3
FIELDS = (
    (TracePacket, "ftrace_events", _T_MESSAGE), (TracePacket, "gpu_render_stage_event", _T_MESSAGE),
    (TracePacket, "timestamp", _T_UINT64), (TracePacket, "trusted_packet_sequence_id", _T_UINT32),
    (TracePacket, "sequence_flags", _T_UINT32), (TracePacket, "timestamp_clock_id", _T_UINT32),
    (TracePacket, "trace_packet_defaults", _T_MESSAGE), (TracePacket, "interned_data", _T_MESSAGE),
    (FtraceEventBundle, "cpu", _T_UINT32), (FtraceEventBundle, "event", _T_MESSAGE),
    (FtraceEventBundle, "compact_sched", _T_MESSAGE),
    (FtraceEvent, "timestamp", _T_UINT64), (FtraceEvent, "pid", _T_UINT32), (FtraceEvent, "print", _T_MESSAGE),
    (FtraceEvent, "sched_switch", _T_MESSAGE), (FtraceEvent, "cpu_frequency", _T_MESSAGE),
    (FtraceEvent, "gpu_frequency", _T_MESSAGE), (FtraceEvent, "thermal_temperature", _T_MESSAGE),
    (PrintFtraceEvent, "buf", _T_STRING),
    (SchedSwitchFtraceEvent, "prev_pid", _T_INT32), (SchedSwitchFtraceEvent, "next_comm", _T_STRING),
    (SchedSwitchFtraceEvent, "next_pid", _T_INT32),
    (CpuFrequencyFtraceEvent, "state", _T_UINT32), (CpuFrequencyFtraceEvent, "cpu_id", _T_UINT32),
    (GpuFrequencyFtraceEvent, "gpu_id", _T_UINT32), (GpuFrequencyFtraceEvent, "state", _T_UINT32),
    (ThermalTemperatureFtraceEvent, "temp", _T_INT32), (ThermalTemperatureFtraceEvent, "thermal_zone", _T_STRING),
    (GpuRenderStageEvent, "duration", _T_UINT64), (GpuRenderStageEvent, "hw_queue_iid", _T_UINT64),
    (GpuRenderStageEvent, "stage_iid", _T_UINT64), (GpuRenderStageEvent, "context", _T_UINT64),
    (GpuRenderStageEvent, "submission_id", _T_UINT32), (GpuRenderStageEvent, "name", _T_STRING),
    (GpuRenderStageEvent, "specifications", _T_MESSAGE),
    (GpuRenderStageEvent, "hw_queue_id", _T_INT32), (GpuRenderStageEvent, "stage_id", _T_INT32),
)


def _numbers() -> tuple[int, ...] | None:
    """The field numbers for the C enum, or None when a field is missing or has changed type."""
    numbers = []
    for message, name, kind in FIELDS:
        desc = message.DESCRIPTOR.fields_by_name.get(name)
        if desc is None or desc.type != kind:
            return None
        numbers.append(desc.number)
    # the C code reads these as members of their oneofs; a proto where they are not would be read wrongly
    for message, oneof, members in ((TracePacket, "data", ("ftrace_events", "gpu_render_stage_event")),
                                    (FtraceEvent, "event", ("print", "sched_switch", "cpu_frequency",
                                                            "gpu_frequency", "thermal_temperature"))):
        if any(message.DESCRIPTOR.fields_by_name[m].containing_oneof is not message.DESCRIPTOR.oneofs_by_name[oneof]
               for m in members):
            return None
    return tuple(numbers)


def _oneof(message, name: str) -> tuple[int, ...]:
    return tuple(f.number for f in message.DESCRIPTOR.oneofs_by_name[name].fields)


def _load() -> ModuleType | None:
    try:
        from devlab.trace import _fastscan  # type: ignore[attr-defined]
    except ImportError:
        return None
    numbers = _numbers()
    if numbers is None:
        return None
    try:
        _fastscan.configure(numbers, _oneof(TracePacket, "data"), _oneof(FtraceEvent, "event"))
    except ValueError:      # a stale build of the scanner (another field list): the Python path reads alike
        return None
    return _fastscan


SCANNER = _load()


def available() -> bool:
    """Whether the C scanner is built and matches the installed protos."""
    return SCANNER is not None


def wanted() -> bool:
    """Whether readers should use it by default: built, and not turned off with DEVLAB_TRACE_SCANNER=python."""
    return SCANNER is not None and os.environ.get("DEVLAB_TRACE_SCANNER", "") != "python"
