"""TraceSummary: a trace boiled down to aggregates while streaming (bounded memory), and the SummaryBuilder that
every backend feeds (devlab/trace/analysis.py picks the backend).

`TraceSummary.to_json()` is a public contract (`devlab trace analyze --json`): packets, duration_ms, processes,
threads, slices, counters, gpu_render_stages, errors, plus sched, config, backend, status, lost_data and
refused (what the phone would not record).

`status`: "empty" (no packets: a file pulled before perfetto wrote it, or a recorder that wrote nothing),
"incomplete" (trace_stats reports lost data: devlab/trace/trace_stats.py) or "complete".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devlab.bench.stats import percentile
from devlab.trace import fastscan
from devlab.trace.records import (ConfigSeen, CounterSample, GpuStage, Problem, ProcessName, Record, SchedSwitch,
                                  Slice, ThreadName)

SAMPLE_CAP = 2048     # per name: exact percentiles up to this many samples, a uniform thinning beyond
FOLD_EVERY = 4096     # values waiting per name before they are folded into the aggregates
MAX_ERRORS = 50
NS_PER_MS = 1e6


class _Thinned:
    """Keeps every k-th value, doubling k whenever the buffer fills: bounded, time-ordered, evenly spread.
    Values arrive in runs (`extend`), so the per-value work is C-level slicing, not a Python call each."""

    __slots__ = ("values", "stride", "seen")

    def __init__(self) -> None:
        self.values: list = []
        self.stride = 1
        self.seen = 0

    def extend(self, items: list) -> None:
        """The same as adding items one by one: keep those whose overall index is a multiple of the stride."""
        i = -self.seen % self.stride  # first position in items whose overall index is a multiple of the stride
        n = len(items)
        while i < n:
            room = SAMPLE_CAP - len(self.values)
            taken = items[i:i + room * self.stride:self.stride]
            self.values.extend(taken)
            i += len(taken) * self.stride
            if len(self.values) >= SAMPLE_CAP:
                self.values = self.values[::2]
                self.stride *= 2
                i += -(self.seen + i) % self.stride
        self.seen += n


class _DurationStats:
    """Durations of one name. New values wait in `pending` (a list append per event) and are folded into
    count/total/max/samples in runs of FOLD_EVERY with C-level sum/max/slicing."""

    __slots__ = ("count", "total", "max", "samples", "pending")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.max = 0
        self.samples = _Thinned()
        self.pending: list[int] = []

    def fold(self) -> None:
        pending = self.pending
        if pending:
            self.count += len(pending)
            self.total += sum(pending)
            self.max = max(self.max, max(pending))
            self.samples.extend(pending)
            self.pending = []


class _CounterStats:
    __slots__ = ("unit", "count", "total", "min", "max", "samples", "pending")

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.count = 0
        self.total = 0.0
        self.min = float("inf")
        self.max = float("-inf")
        self.samples = _Thinned()
        self.pending: list[tuple[int, float]] = []      # (ts, value)

    def fold(self) -> None:
        pending = self.pending
        if pending:
            values = [v for _, v in pending]
            self.count += len(values)
            self.total += sum(values)
            self.min = min(self.min, min(values))
            self.max = max(self.max, max(values))
            self.samples.extend(pending)
            self.pending = []


@dataclass(frozen=True)
class DurationAggregate:
    name: str
    count: int
    total_ms: float
    mean_ms: float
    max_ms: float
    p50_ms: float | None
    p90_ms: float | None
    # durations in trace order, every one up to SAMPLE_CAP, evenly thinned beyond (for distributions)
    samples_ms: tuple[float, ...] = field(repr=False, default=())


@dataclass(frozen=True)
class CounterAggregate:
    name: str
    unit: str
    samples: int
    min: float
    mean: float
    max: float
    series: tuple[tuple[int, float], ...] = field(repr=False, default=())  # thinned (ts_ns, value), for throttling


@dataclass(frozen=True)
class ThreadSched:
    tid: int
    comm: str
    switches_in: int
    running_ms: float


@dataclass(frozen=True)
class SchedSummary:
    switches: int
    cpus: tuple[int, ...]
    top_threads: tuple[ThreadSched, ...]     # by running time


@dataclass(frozen=True)
class TraceSummary:
    path: str
    backend: str                       # "builtin (protobuf upb + C scanner)", "builtin (protobuf upb)", "trace_processor"
    packets: int | None               # None where the backend does not count packets (trace_processor)
    unknown_packets: int | None
    duration_ms: float | None
    data_sources: tuple[str, ...]      # from the trace_config packet
    processes: tuple[tuple[int, str], ...]
    threads: tuple[tuple[int | None, int, str], ...]     # (pid, tid, name)
    slices: tuple[DurationAggregate, ...]
    counters: tuple[CounterAggregate, ...]
    gpu_render_stages: tuple[DurationAggregate, ...]
    sched: SchedSummary
    errors: tuple[str, ...]
    lost_data: tuple[str, ...] = ()    # what trace_stats says was lost (built-in reader)
    refused: tuple[str, ...] = ()      # ftrace events / atrace categories the phone refused (built-in reader)

    @property
    def status(self) -> str:
        if self.packets == 0:
            return "empty"
        return "incomplete" if self.lost_data else "complete"

    def slice(self, name: str) -> DurationAggregate | None:
        return next((s for s in self.slices if s.name == name), None)

    def counter(self, name: str) -> CounterAggregate | None:
        return next((c for c in self.counters if c.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "backend": self.backend,
            "packets": self.packets,
            "unknown_packets": self.unknown_packets,
            "duration_ms": self.duration_ms,
            "data_sources": list(self.data_sources),
            "processes": [{"pid": pid, "name": name} for pid, name in self.processes],
            "threads": [{"pid": pid, "tid": tid, "name": name} for pid, tid, name in self.threads],
            "slices": [_duration_json(s) for s in self.slices],
            "counters": [{"name": c.name, "unit": c.unit, "samples": c.samples, "min": c.min, "mean": c.mean,
                          "max": c.max} for c in self.counters],
            "gpu_render_stages": [_duration_json(s) for s in self.gpu_render_stages],
            "sched": {"switches": self.sched.switches, "cpus": list(self.sched.cpus),
                      "top_threads": [{"tid": t.tid, "comm": t.comm, "switches_in": t.switches_in,
                                       "running_ms": t.running_ms} for t in self.sched.top_threads]},
            "errors": list(self.errors),
            "status": self.status,
            "lost_data": list(self.lost_data),
            "refused": list(self.refused),
        }


def _duration_json(agg: DurationAggregate) -> dict[str, Any]:
    return {"name": agg.name, "count": agg.count, "total_ms": agg.total_ms, "mean_ms": agg.mean_ms,
            "max_ms": agg.max_ms, "p50_ms": agg.p50_ms, "p90_ms": agg.p90_ms}


def _durations(stats: dict[str, _DurationStats]) -> tuple[DurationAggregate, ...]:
    out = []
    for name, s in stats.items():
        s.fold()
        ordered = sorted(s.samples.values)
        p50, p90 = (percentile(ordered, q) / NS_PER_MS if ordered else None for q in (50, 90))
        out.append(DurationAggregate(name, s.count, s.total / NS_PER_MS, s.total / s.count / NS_PER_MS,
                                     s.max / NS_PER_MS, p50, p90, tuple(v / NS_PER_MS for v in s.samples.values)))
    return tuple(sorted(out, key=lambda a: (-a.total_ms, a.name)))


class SummaryBuilder:
    """Folds findings into aggregates. Shared by every backend so they produce the same summary: the built-in
    reader calls the RecordSink methods directly (no record objects), other backends `add` records."""

    def __init__(self) -> None:
        self.slices: dict[str, _DurationStats] = {}
        self.stages: dict[str, _DurationStats] = {}
        self.counters: dict[str, _CounterStats] = {}
        self.processes: dict[int, str] = {}
        self.threads: dict[int, tuple[int | None, str]] = {}
        self._problems: dict[str, list] = {}            # kind -> [first message, count]
        self.data_sources: tuple[str, ...] = ()
        self.switches = 0
        self._running: dict[int, list] = {}          # tid -> [comm, switches_in, running_ns]
        self._on_cpu: dict[int, tuple[int, int]] = {}  # cpu -> (since ts, tid)

    def add_all(self, records: Iterable[Record]) -> None:
        for record in records:
            self.add(record)

    def add(self, record: Record) -> None:
        kind = type(record)
        if kind is Slice:
            self.slice(record.name, record.ts_ns, record.dur_ns, record.pid, record.tid, record.depth)
        elif kind is GpuStage:
            self.gpu_stage(record.name, record.ts_ns, record.dur_ns, record.hw_queue, record.context,
                           record.submission_id)
        elif kind is CounterSample:
            self.counter(record.name, record.unit, record.ts_ns, record.value)
        elif kind is SchedSwitch:
            self.sched(record.cpu, record.ts_ns, record.prev_tid, record.next_tid, record.next_comm)
        elif kind is ProcessName:
            self.process(record.pid, record.name)
        elif kind is ThreadName:
            self.thread(record.tid, record.pid, record.name)
        elif kind is ConfigSeen:
            self.config(record.data_sources, record.duration_ms, record.text)
        elif kind is Problem:
            self.problem(record.kind, record.message)

    # --- RecordSink ---------------------------------------------------------------------------------------------
    def slice(self, name: str, ts_ns: int, dur_ns: int, pid: int | None, tid: int | None, depth: int) -> None:
        _add_duration(self.slices, name, dur_ns)

    def gpu_stage(self, name: str, ts_ns: int, dur_ns: int, hw_queue: str | None, context: int,
                  submission_id: int) -> None:
        _add_duration(self.stages, name, dur_ns)

    # the C scanner's bulk form of slice / gpu_stage: one name's durations, in trace order
    def slice_durations(self, name: str, durations: list[int]) -> None:
        _add_durations(self.slices, name, durations)

    def gpu_stage_durations(self, name: str, durations: list[int]) -> None:
        _add_durations(self.stages, name, durations)

    def counter(self, name: str, unit: str, ts_ns: int, value: float) -> None:
        stats = self.counters.get(name)
        if stats is None:
            stats = self.counters[name] = _CounterStats(unit)
        pending = stats.pending
        pending.append((ts_ns, value))
        if len(pending) >= FOLD_EVERY:
            stats.fold()

    def sched(self, cpu: int, ts_ns: int, prev_tid: int | None, next_tid: int, next_comm: str) -> None:
        self.sched_switches([(cpu, ts_ns, prev_tid, next_tid, next_comm)])

    def sched_switches(self, switches: list[tuple[int, int, int | None, int, str]]) -> None:
        """`sched` for a run of (cpu, ts_ns, prev_tid, next_tid, next_comm), in trace order (the C scanner's)."""
        self.switches += len(switches)
        on_cpu, running = self._on_cpu, self._running
        if fastscan.wanted() and len(switches) > 1:
            fastscan.SCANNER.sched_fold(switches, on_cpu, running)  # type: ignore[union-attr]
            return
        for cpu, ts_ns, _, next_tid, next_comm in switches:
            previous = on_cpu.get(cpu)
            if previous is not None:
                entry = running.get(previous[1])
                if entry is not None:
                    entry[2] += ts_ns - previous[0]
            entry = running.get(next_tid)
            if entry is None:
                entry = running[next_tid] = [next_comm, 0, 0]
            entry[0] = next_comm
            entry[1] += 1
            on_cpu[cpu] = (ts_ns, next_tid)

    def process(self, pid: int, name: str) -> None:
        self.processes[pid] = name

    def thread(self, tid: int, pid: int | None, name: str) -> None:
        self.threads[tid] = (pid, name)

    def config(self, data_sources: tuple[str, ...], duration_ms: int, text: str) -> None:
        self.data_sources = data_sources

    def problem(self, kind: str, message: str) -> None:
        self.error(message, kind)

    def error(self, message: str, kind: str | None = None) -> None:
        """Keep the first message of each kind and count the repeats (a ring-buffer trace can hold thousands)."""
        key = kind or message
        if key in self._problems:
            self._problems[key][1] += 1
        elif len(self._problems) < MAX_ERRORS:
            self._problems[key] = [message, 1]

    @property
    def errors(self) -> list[str]:
        return [msg if n == 1 else f"{msg} (and {n - 1} more like it)" for msg, n in self._problems.values()]

    def build(self, *, path: Path, backend: str, packets: int | None, unknown_packets: int | None,
              duration_ns: int | None, lost_data: tuple[str, ...] = (), refused: tuple[str, ...] = ()
              ) -> TraceSummary:
        for stats in self.counters.values():
            stats.fold()
        counters = tuple(CounterAggregate(name, c.unit, c.count, c.min, c.total / c.count, c.max,
                                          tuple(c.samples.values))
                         for name, c in sorted(self.counters.items()))
        # tid 0 is the idle task (swapper/N): it is not a thread anyone asked about
        busy = sorted(((tid, e) for tid, e in self._running.items() if tid != 0), key=lambda t: -t[1][2])[:20]
        sched = SchedSummary(self.switches, tuple(sorted(self._on_cpu)),
                             tuple(ThreadSched(tid, e[0], e[1], e[2] / NS_PER_MS) for tid, e in busy))
        return TraceSummary(
            path=str(path), backend=backend, packets=packets, unknown_packets=unknown_packets,
            duration_ms=None if duration_ns is None else duration_ns / NS_PER_MS,
            data_sources=self.data_sources,
            processes=tuple(sorted(self.processes.items())),
            threads=tuple(sorted(((pid, tid, name) for tid, (pid, name) in self.threads.items()),
                                 key=lambda t: t[1])),
            slices=_durations(self.slices), counters=counters, gpu_render_stages=_durations(self.stages),
            sched=sched, errors=tuple(self.errors), lost_data=lost_data, refused=refused)


def _add_duration(table: dict[str, "_DurationStats"], name: str, dur_ns: int) -> None:
    """The hot path of slices and GPU stages alike: buffer the duration, fold in bulk every FOLD_EVERY."""
    stats = table.get(name)
    if stats is None:
        stats = table[name] = _DurationStats()
    pending = stats.pending
    pending.append(dur_ns)
    if len(pending) >= FOLD_EVERY:
        stats.fold()


def _add_durations(table: dict[str, "_DurationStats"], name: str, durations: list[int]) -> None:
    """`_add_duration` for a run of durations (folding in different chunks gives the same aggregates)."""
    stats = table.get(name)
    if stats is None:
        stats = table[name] = _DurationStats()
    stats.pending.extend(durations)
    if len(stats.pending) >= FOLD_EVERY:
        stats.fold()
