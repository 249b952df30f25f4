"""The records a trace reader yields: plain frozen values, whichever backend read the trace."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Slice:
    """A finished slice on one thread (ATrace B/E, async S/F, or track_event begin/end). ts/dur in ns."""

    name: str
    ts_ns: int
    dur_ns: int
    pid: int | None
    tid: int | None
    depth: int


@dataclass(frozen=True, slots=True)
class CounterSample:
    name: str          # "cpufreq.cpu0", "gpufreq", a GPU counter's descriptor name, a track_event counter track
    unit: str          # "kHz", "percent", "/second", "" when the trace does not say
    ts_ns: int
    value: float


@dataclass(frozen=True, slots=True)
class GpuStage:
    """One gpu_render_stage_event: a GPU job (kernel / render pass) with its interned stage name."""

    name: str
    ts_ns: int
    dur_ns: int
    hw_queue: str | None
    context: int
    submission_id: int


@dataclass(frozen=True, slots=True)
class ProcessName:
    pid: int
    name: str


@dataclass(frozen=True, slots=True)
class ThreadName:
    tid: int
    pid: int | None
    name: str


@dataclass(frozen=True, slots=True)
class SchedSwitch:
    cpu: int
    ts_ns: int
    prev_tid: int | None      # None in the compact form, which leaves it implied by the previous switch
    next_tid: int
    next_comm: str


@dataclass(frozen=True, slots=True)
class ConfigSeen:
    """The trace_config packet: what the trace was recorded with."""

    data_sources: tuple[str, ...]
    duration_ms: int
    text: str


@dataclass(frozen=True, slots=True)
class Problem:
    """Something in the trace we could not make sense of, but which does not stop reading."""

    kind: str          # groups repeats: "atrace-unmatched-end", "track-event-unended", ...
    message: str       # the first occurrence, in words


Record = Slice | CounterSample | GpuStage | ProcessName | ThreadName | SchedSwitch | ConfigSeen | Problem
