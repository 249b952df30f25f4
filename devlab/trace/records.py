"""The records a trace reader yields: plain frozen values, whichever backend read the trace."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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


class RecordSink(Protocol):
    """Where a reader sends what it finds. `TraceReader.records()` turns the calls into the records above;
    `SummaryBuilder` folds them into aggregates directly, so analysing a trace builds no object per event."""

    def slice(self, name: str, ts_ns: int, dur_ns: int, pid: int | None, tid: int | None, depth: int) -> None: ...

    def counter(self, name: str, unit: str, ts_ns: int, value: float) -> None: ...

    def gpu_stage(self, name: str, ts_ns: int, dur_ns: int, hw_queue: str | None, context: int,
                  submission_id: int) -> None: ...

    def sched(self, cpu: int, ts_ns: int, prev_tid: int | None, next_tid: int, next_comm: str) -> None: ...

    def process(self, pid: int, name: str) -> None: ...

    def thread(self, tid: int, pid: int | None, name: str) -> None: ...

    def config(self, data_sources: tuple[str, ...], duration_ms: int, text: str) -> None: ...

    def problem(self, kind: str, message: str) -> None: ...


class RecordList:
    """A RecordSink that keeps each call as a record, for `TraceReader.records()` to hand out and clear."""

    def __init__(self) -> None:
        self.items: list[Record] = []

    def slice(self, name: str, ts_ns: int, dur_ns: int, pid: int | None, tid: int | None, depth: int) -> None:
        self.items.append(Slice(name, ts_ns, dur_ns, pid, tid, depth))

    def counter(self, name: str, unit: str, ts_ns: int, value: float) -> None:
        self.items.append(CounterSample(name, unit, ts_ns, value))

    def gpu_stage(self, name: str, ts_ns: int, dur_ns: int, hw_queue: str | None, context: int,
                  submission_id: int) -> None:
        self.items.append(GpuStage(name, ts_ns, dur_ns, hw_queue, context, submission_id))

    def sched(self, cpu: int, ts_ns: int, prev_tid: int | None, next_tid: int, next_comm: str) -> None:
        self.items.append(SchedSwitch(cpu, ts_ns, prev_tid, next_tid, next_comm))

    def process(self, pid: int, name: str) -> None:
        self.items.append(ProcessName(pid, name))

    def thread(self, tid: int, pid: int | None, name: str) -> None:
        self.items.append(ThreadName(tid, pid, name))

    def config(self, data_sources: tuple[str, ...], duration_ms: int, text: str) -> None:
        self.items.append(ConfigSeen(data_sources, duration_ms, text))

    def problem(self, kind: str, message: str) -> None:
        self.items.append(Problem(kind, message))
