"""Kernel attribution: where every millisecond of a clean inference went, kernel by kernel.

Shares come from a profiled run (op profile, else the trace's ATrace slices and GPU render stages) and are scaled to
the clean run's mean latency: profiled runs are inflated (the GPU delegate runs the graph once more on a profiling
queue), so their absolute numbers are not the phone's. The rows always sum to the clean mean; the scaled numbers
are `estimated`. Explicit rows: CPU-fallback ops, CPU<->GPU copies and sync (delegate wall time minus GPU kernel
time) and `unattributed` (profiled inference time no op row covers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from devlab.bench.op_profile import OpProfile
from devlab.bench.stats import percentile
from devlab.build.gpu_compat import DelegationPlan
from devlab.build.tflite_graph import TfliteGraph
from devlab.errors import ParseError, UsageError
from devlab.provenance import ESTIMATED, OP_PROFILE, SIMULATED, TRACE, Source
from devlab.trace.atrace import (CPU_DELEGATES, TFLITE_RUNTIME_TAGS, is_gpu_delegate, is_main_invoke,
                                 tflite_slice_name)
from devlab.trace.summary import CounterAggregate, DurationAggregate, TraceSummary

Unit = Literal["GPU", "CPU", "-"]
RowKind = Literal["gpu_kernel", "gpu_delegate", "cpu_op", "copy_sync", "unattributed"]
SUM_TOLERANCE = 0.01
THROTTLE_RATIO = 0.85
TEMP_PREFIX = "temp."     # the trace reader's counter per thermal zone (thermal/thermal_temperature), in °C
COPY_SYNC = "CPU<->GPU copies + sync"
UNATTRIBUTED = "unattributed"
_LABEL_IDS = re.compile(r" (\d+)(?= ->|$)")


@dataclass(frozen=True)
class KernelRow:
    kernel: str                               # GPU kernel label, TFLite op slice, or an explicit row name
    ops: tuple[tuple[int, str], ...]          # TFLite (node index, op type) it implements
    unit: Unit
    kind: RowKind
    calls_per_inference: float | None
    ms_per_inference: float                   # scaled to the clean latency: these sum to clean_mean_ms
    mean_ms: float | None                     # per call
    p50_ms: float | None                      # per call, where a distribution is known (trace)
    p90_ms: float | None
    share: float                              # of the inference, 0..1
    source: Source                            # always `estimated`: a profiled share times the clean latency
    basis: Source                             # where the share came from: op-profile or trace


@dataclass(frozen=True)
class GpuFrequency:
    min_khz: float
    mean_khz: float
    max_khz: float
    samples: int
    throttled: bool | None      # None when too few samples to tell
    source: Source = TRACE
    series: tuple[tuple[float, float], ...] = ()     # (seconds since the first sample, kHz), thinned evenly


@dataclass(frozen=True)
class ZoneTemperature:
    """One thermal zone over the trace run, from the kernel's `thermal/thermal_temperature` events."""

    zone: str                   # the zone's type, as the kernel names it (`gpuss-0`, `BIG`, `skin-therm`)
    min_c: float
    mean_c: float
    max_c: float
    samples: int
    series: tuple[tuple[float, float], ...]     # (seconds since the run's first zone reading, °C), thinned evenly
    source: Source = TRACE


@dataclass(frozen=True)
class InvokeLatency:
    """Per-inference latency of the trace run: its main-graph `Invoke@…/0` slices in the order they ran (every one
    up to the summary's sample cap, evenly thinned beyond). The trace run is a profiled run (ATrace on; the GPU
    delegate's profiling pass; its warm-ups included), so this is the spread and shape of the phone's inferences,
    not the clean latency: the report says so wherever it shows it."""

    count: int                  # Invokes in the trace
    mean_ms: float              # exact, over all of them
    max_ms: float               # exact
    min_ms: float               # over the samples
    p50_ms: float
    p90_ms: float
    p99_ms: float
    samples_ms: tuple[float, ...]
    run: str = "trace run (profiled: ATrace on, warm-ups included)"
    source: Source = TRACE


@dataclass(frozen=True)
class KernelTable:
    rows: tuple[KernelRow, ...]
    clean_mean_ms: float
    clean_source: Source           # measured on a phone, or simulated
    profiled_ms: float             # per-inference total of the profiled run the shares came from
    scale: float                   # clean / profiled
    basis: Source
    gpu_frequency: GpuFrequency | None
    top_kernels: tuple[str, ...]
    notes: tuple[str, ...]
    inputs: tuple[str, ...] = ()   # what it was built from: clean run, op-profile, trace, model graph
    invoke_latency: InvokeLatency | None = None     # the trace run's per-inference distribution, where traced
    temperatures: tuple[ZoneTemperature, ...] = ()  # each thermal zone over the trace run, where the kernel traced it

    def total_ms(self) -> float:
        return sum(row.ms_per_inference for row in self.rows)


@dataclass(frozen=True)
class _Measured:
    """A profiled row before scaling."""

    kernel: str
    ops: tuple[tuple[int, str], ...]
    unit: Unit
    kind: RowKind
    calls: float | None
    ms: float                      # per inference, profiled
    p50: float | None = None       # per call, profiled
    p90: float | None = None


def _op_type(graph: TfliteGraph | None, node: int, fallback: str) -> str:
    if graph is not None and 0 <= node < len(graph.ops):
        return graph.ops[node].op
    return fallback


def kernel_ops(label: str, plan: DelegationPlan | None, graph: TfliteGraph | None,
               notes: list[str]) -> tuple[tuple[int, str], ...]:
    """TFLite nodes of a GPU kernel label. CONTRACT: an id in the label is the position of the TFLite node in the
    delegated partition's execution order (0-based), so node = plan.delegated[id]."""
    ids = [int(n) for n in _LABEL_IDS.findall(label)]
    if plan is None:
        return ()
    ops = []
    for kernel_id in ids:
        if kernel_id < len(plan.delegated):
            node = plan.delegated[kernel_id]
            ops.append((node, _op_type(graph, node, "?")))
        else:
            notes.append(f"kernel {label!r}: id {kernel_id} is outside the delegated partition "
                         f"({len(plan.delegated)} nodes)")
    return tuple(ops)


def _delegated_ops(plan: DelegationPlan | None, graph: TfliteGraph | None) -> tuple[tuple[int, str], ...]:
    if plan is None:
        return ()
    return tuple((node, _op_type(graph, node, "?")) for node in plan.delegated)


def _split_delegate(kernels: list[_Measured], delegate_ms: float, delegate_calls: float | None,
                    plan: DelegationPlan | None, graph: TfliteGraph | None, label: str, profiling_pass: bool,
                    notes: list[str]) -> tuple[list[_Measured], float]:
    """GPU kernel rows plus the copy/sync row (delegate wall time minus kernel time), or one delegate row; and the
    profiled time that belongs to no clean inference (the delegate's profiling pass), to take out of the total."""
    if not kernels:
        notes.append("no per-kernel GPU rows: the delegate partition is one row (op profiling with a delegate that "
                     "reports kernels, or a trace with GPU render stages, splits it)")
        return [_Measured(label, _delegated_ops(plan, graph), "GPU", "gpu_delegate", delegate_calls, delegate_ms)], 0.0
    kernel_ms = sum(k.ms for k in kernels)
    extra_pass = 0.0
    if profiling_pass and delegate_ms >= 2 * kernel_ms > 0:
        # With a profiler attached the OpenCL delegate runs every kernel once more on a profiling queue
        # (gpu_delegate.md): its wall time holds the kernels twice, a clean inference once.
        extra_pass = kernel_ms
        notes.append(f"the delegate's profiled wall time ({delegate_ms:.3f} ms) holds a second pass of its kernels "
                     f"({kernel_ms:.3f} ms, the profiling queue): taken out before scaling; "
                     "copies+sync = wall time - 2 x kernel time")
    elif kernel_ms > delegate_ms > 0:
        # Kernel times come from the profiling queue and can exceed the node's wall time: fit them into it.
        fit = delegate_ms / kernel_ms
        notes.append(f"GPU kernel times ({kernel_ms:.3f} ms) exceed the delegate's wall time ({delegate_ms:.3f} ms);"
                     f" kernels scaled by {fit:.3f} and copies+sync set to 0")
        kernels = [_Measured(k.kernel, k.ops, k.unit, k.kind, k.calls, k.ms * fit,
                             None if k.p50 is None else k.p50 * fit, None if k.p90 is None else k.p90 * fit)
                   for k in kernels]
        kernel_ms = delegate_ms
    if delegate_ms <= 0:
        notes.append("no delegate wall time: copies+sync cannot be separated from kernel time")
        return kernels, 0.0
    return kernels + [_Measured(COPY_SYNC, (), "-", "copy_sync", None, delegate_ms - kernel_ms - extra_pass)], \
        extra_pass


def _from_op_profile(profile: OpProfile, plan: DelegationPlan | None, graph: TfliteGraph | None,
                     profiling_pass: bool, notes: list[str]) -> tuple[list[_Measured], float]:
    rows = [row for row in profile.run_rows() if row.subgraph in (None, 0)]
    kernels = [_Measured(row.kernel_label or row.name, kernel_ops(row.kernel_label or "", plan, graph, notes),
                         "GPU", "gpu_kernel", row.times_called, row.avg_ms)
               for row in rows if row.is_gpu_kernel]
    delegates = [row for row in rows if row.is_delegate_node]
    cpu_ops = [row for row in rows if not row.is_gpu_kernel and not row.is_delegate_node
               and not row.name.startswith("Delegate/")]
    measured = [_Measured(f"{row.node_type}@{row.node_index}" if row.node_index is not None else row.name,
                          ((row.node_index, row.node_type),) if row.node_index is not None else (),
                          "CPU", "cpu_op", row.times_called, row.avg_ms) for row in cpu_ops]
    if delegates:
        delegate_ms = sum(row.avg_ms for row in delegates)
        label = delegates[0].node_type if len(delegates) == 1 else f"{len(delegates)} delegate partitions"
        split, extra_pass = _split_delegate(kernels, delegate_ms, delegates[0].times_called, plan, graph, label,
                                            profiling_pass, notes)
        measured = split + measured
    else:
        measured, extra_pass = kernels + measured, 0.0
    node_ms = sum(row.avg_ms for row in delegates) + sum(row.avg_ms for row in cpu_ops)
    timings = profile.run_timings()
    total = timings.avg_us / 1000 if timings is not None and timings.avg_us is not None else node_ms
    if timings is None:
        notes.append("op profile has no Timings line: the profiled inference is taken as the sum of its op rows")
    return measured, max(total, node_ms) - extra_pass


def _op_slices(trace: TraceSummary, graph: TfliteGraph | None, notes: list[str]
               ) -> list[tuple[str, int, DurationAggregate]]:
    """(op tag, node index, aggregate) of the main graph's op slices. TFLite names every ATrace event
    `<tag>@<m1>/<m2>`, ops and the rest alike (`Invoke@0/0`, `AllocateTensors@0/0`), so a slice is an op when its
    tag is not one of the runtime's own, and, with the model at hand, when the model's node m1 is that op (a
    delegate kernel's node is the delegate)."""
    found = []
    for agg in trace.slices:
        name = tflite_slice_name(agg.name)
        if name.metadata1 is None or name.metadata2 != 0 or name.tag in TFLITE_RUNTIME_TAGS:
            continue
        node = name.metadata1
        # a delegate's kernel node is added after the model's own nodes (Subgraph::ReplaceNodeSubsetsWithDelegate-
        # Kernels), so it is never one of them
        is_delegate = is_gpu_delegate(name.tag) or name.tag in CPU_DELEGATES
        if graph is not None and not is_delegate and 0 <= node < len(graph.ops) and \
                graph.ops[node].op not in (name.tag, f"CUSTOM:{name.tag}"):
            notes.append(f"ATrace slice {agg.name!r} is not node {node} of the model ({graph.ops[node].op}): "
                         "left out")
            continue
        found.append((name.tag, node, agg))
    return found


def _from_trace(trace: TraceSummary, plan: DelegationPlan | None, graph: TfliteGraph | None,
                profiling_pass: bool, notes: list[str]) -> tuple[list[_Measured], float]:
    invokes = [agg for agg in trace.slices if is_main_invoke(agg.name)]
    runs = sum(agg.count for agg in invokes)
    if runs == 0:
        raise UsageError("the trace has no `Invoke@…/0` slices (TFLite's main-graph Invoke) to attribute",
                         "record with `setprop debug.tflite.trace 1` and atrace_apps \"*\" (devlab trace config)")
    invoke_mean_ms = sum(agg.total_ms for agg in invokes) / runs
    cpu_ops: list[_Measured] = []
    delegate_ms, delegate_calls, label = 0.0, None, "TfLiteGpuDelegateV2"
    for op, node, agg in _op_slices(trace, graph, notes):
        if is_gpu_delegate(op):
            delegate_ms += agg.total_ms / runs
            delegate_calls, label = agg.count / runs, op
        else:     # a CPU-fallback op, or the XNNPACK partition that runs the CPU's share (no model node of its own)
            ops = () if op in CPU_DELEGATES else ((node, _op_type(graph, node, op)),)
            cpu_ops.append(_Measured(f"{op}@{node}", ops, "CPU", "cpu_op", agg.count / runs, agg.total_ms / runs,
                                     agg.p50_ms, agg.p90_ms))
    kernels = [_Measured(stage.name, kernel_ops(stage.name, plan, graph, notes), "GPU", "gpu_kernel",
                         stage.count / runs, stage.total_ms / runs, stage.p50_ms, stage.p90_ms)
               for stage in trace.gpu_render_stages]
    split, extra_pass = (_split_delegate(kernels, delegate_ms, delegate_calls, plan, graph, label, profiling_pass,
                                         notes) if delegate_ms > 0 or kernels else ([], 0.0))
    return split + cpu_ops, invoke_mean_ms - extra_pass


def _trace_spread(measured: list[_Measured], trace: TraceSummary, notes: list[str]) -> list[_Measured]:
    """Per-call p50/p90 for op-profile rows, from the trace's distribution of the same GPU kernel (render stage),
    CPU-fallback op or delegate slice: the op profile prints means only, so the trace's p50/mean and p90/mean
    ratios are carried over to the row's mean."""
    stages = {stage.name: stage for stage in trace.gpu_render_stages}
    slices = {}
    for op, node, agg in _op_slices(trace, None, []):
        slices[f"{op}@{node}"] = agg
        slices.setdefault(op, agg)     # the delegate row is named by its op type alone
    out, spread = [], 0
    for m in measured:
        agg = stages.get(m.kernel) if m.kind == "gpu_kernel" else (
            slices.get(m.kernel) if m.kind in ("cpu_op", "gpu_delegate") else None)
        if agg is None or not m.calls or agg.mean_ms <= 0 or agg.p50_ms is None or agg.p90_ms is None:
            out.append(m)
            continue
        mean = m.ms / m.calls
        out.append(_Measured(m.kernel, m.ops, m.unit, m.kind, m.calls, m.ms, mean * agg.p50_ms / agg.mean_ms,
                             mean * agg.p90_ms / agg.mean_ms))
        spread += 1
    if spread:
        notes.append(f"p50/p90 of {spread} rows: the trace run's distribution of the same kernel or op, scaled to "
                     "the row's mean (the op profile prints means only)")
    return out


def gpu_frequency(trace: TraceSummary | None, source: Source = TRACE) -> GpuFrequency | None:
    """The gpufreq counter's range, throttling verdict and series; source `simulated` for a simulated phone's."""
    counter: CounterAggregate | None = trace.counter("gpufreq") if trace is not None else None
    if counter is None or counter.samples == 0:
        return None
    values = [v for _, v in counter.series]
    throttled = None
    if len(values) >= 4:
        # Throttling: the run's last quarter sits well below the peak its first half reached.
        first_peak = max(values[: len(values) // 2])
        tail = values[-(len(values) // 4):]
        throttled = sum(tail) / len(tail) < THROTTLE_RATIO * first_peak
    start = counter.series[0][0] if counter.series else 0
    return GpuFrequency(counter.min, counter.mean, counter.max, counter.samples, throttled, source,
                        _seconds_since(start, counter.series))


def _seconds_since(start_ns: int, series: tuple[tuple[int, float], ...]) -> tuple[tuple[float, float], ...]:
    """A counter's (ts_ns, value) samples as (seconds since start_ns, value), for the report's time axes."""
    return tuple((round((ts - start_ns) / 1e9, 4), value) for ts, value in series)


def temperatures(trace: TraceSummary | None, source: Source = TRACE) -> tuple[ZoneTemperature, ...]:
    """Each thermal zone the trace has readings of (`temp.<zone>` counters), hottest first, on one time origin."""
    zones = [c for c in (trace.counters if trace is not None else ()) if c.name.startswith(TEMP_PREFIX) and c.samples]
    if not zones:
        return ()
    start = min(c.series[0][0] for c in zones if c.series) if any(c.series for c in zones) else 0
    out = [ZoneTemperature(c.name[len(TEMP_PREFIX):], c.min, c.mean, c.max, c.samples, _seconds_since(start, c.series),
                           source)
           for c in zones]
    return tuple(sorted(out, key=lambda z: (-z.max_c, z.zone)))


def invoke_latency(trace: TraceSummary | None, source: Source = TRACE) -> InvokeLatency | None:
    """The trace run's per-inference distribution from its main-graph Invoke slices (the name with the most);
    source `simulated` for a simulated phone's trace."""
    invokes = [agg for agg in trace.slices if is_main_invoke(agg.name)] if trace is not None else []
    if not invokes:
        return None
    agg = max(invokes, key=lambda a: a.count)
    samples = tuple(round(v, 4) for v in agg.samples_ms)
    if not samples:
        return None
    ordered = sorted(samples)
    return InvokeLatency(agg.count, agg.mean_ms, agg.max_ms, ordered[0], percentile(ordered, 50),
                         percentile(ordered, 90), percentile(ordered, 99), samples, source=source)


def attribute(clean_mean_ms: float, clean_source: Source, *, profile: OpProfile | None = None,
              trace: TraceSummary | None = None, graph: TfliteGraph | None = None,
              plan: DelegationPlan | None = None, top: int = 5, profiling_pass: bool = True) -> KernelTable:
    """The kernel table of one variant on one device. Needs an op profile or a trace with TFLite slices.

    With both, the op profile gives the shares and the trace gives per-call spreads and the GPU frequency.
    profiling_pass: the profiled runs' delegate ran its kernels twice (OpenCL with a profiler attached); that
    second pass is taken out where the delegate's wall time has room for it."""
    if clean_mean_ms <= 0:
        raise UsageError(f"clean latency {clean_mean_ms} ms is not a latency", "pass the clean run's mean in ms")
    notes: list[str] = []
    inputs = ["clean run"]
    if profile is not None and profile.run_rows():
        measured, profiled_ms = _from_op_profile(profile, plan, graph, profiling_pass, notes)
        basis: Source = OP_PROFILE
        inputs.append("op-profile")
        if trace is not None:
            measured = _trace_spread(measured, trace, notes)
            inputs.append("trace")
    elif trace is not None:
        measured, profiled_ms = _from_trace(trace, plan, graph, profiling_pass, notes)
        basis = TRACE
        inputs.append("trace")
    else:
        raise UsageError("nothing to attribute: no op-profile rows and no trace",
                         "run the op-profile run (--enable_op_profiling=true) or record a trace")
    if trace is not None and "trace" in inputs and trace.status != "complete":
        # an incomplete trace still has shares to give, but the table must say what they came from
        inputs[inputs.index("trace")] = f"trace ({trace.status})"
        notes.append(f"the trace is {trace.status}" + (f": {'; '.join(trace.lost_data)}" if trace.lost_data else "")
                     + " — its slices and GPU stages may miss part of the run")
    if graph is not None:
        inputs.append("model graph")
    covered = sum(m.ms for m in measured)
    profiled_ms = max(profiled_ms, covered)
    measured.append(_Measured(UNATTRIBUTED, (), "-", "unattributed", None, profiled_ms - covered))
    if profiled_ms <= 0:
        raise ParseError("the profiled run has no time in it", "check the op-profile / trace run's output")
    scale = clean_mean_ms / profiled_ms
    rows = []
    for m in measured:
        mean = m.ms / m.calls if m.calls else None
        rows.append(KernelRow(m.kernel, m.ops, m.unit, m.kind, m.calls, m.ms * scale,
                              None if mean is None else mean * scale,
                              None if m.p50 is None else m.p50 * scale, None if m.p90 is None else m.p90 * scale,
                              m.ms / profiled_ms, ESTIMATED, basis))
    total = sum(row.ms_per_inference for row in rows)
    if abs(total - clean_mean_ms) > SUM_TOLERANCE * clean_mean_ms:
        raise ParseError(f"kernel rows sum to {total:.3f} ms, not the clean mean {clean_mean_ms:.3f} ms",
                         "report this with the run folder: the attribution inputs disagree")
    ranked = sorted((r for r in rows if r.kind in ("gpu_kernel", "gpu_delegate", "cpu_op")),
                    key=lambda r: -r.ms_per_inference)
    # a simulated phone's trace is the simulator's: its numbers say so, as the clean run's do
    traced: Source = SIMULATED if clean_source == SIMULATED else TRACE
    return KernelTable(tuple(rows), clean_mean_ms, clean_source, profiled_ms, scale, basis,
                       gpu_frequency(trace, traced), tuple(r.kernel for r in ranked[:top]), tuple(notes),
                       tuple(inputs), invoke_latency(trace, traced), temperatures(trace, traced))
