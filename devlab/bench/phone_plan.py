"""The measurement plan on a phone (DESIGN.md): per variant, push the .tflite, a clean latency run, an op-profile
run whose CSV is pulled, and a trace run (Perfetto, `debug.tflite.trace=1`) whose trace is pulled into the run
folder; parse them, keep the raw logs, attribute the clean latency to kernels from all three.

Why three runs: the GPU delegate runs the graph twice per inference when a profiler is attached, so latency comes
from the clean run only, the op-profile run gives shares, and the trace run gives the timeline (CPU-fallback op
slices, the delegate slice, GPU kernels, GPU frequency). Op profiling replaces the ATrace profiler, so the last two
cannot share a run. On a simulated phone every number is `simulated`, never `measured`. One variant failing never
loses the others, and a failed op-profile or trace run never loses the clean timing.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Literal

from devlab.bench.flags import BenchmarkOptions, GpuBackend, GpuPrecision, classic_argv
from devlab.bench.log_parser import parse_benchmark_log
from devlab.bench.log_result import BenchmarkRun
from devlab.bench.op_profile import OpProfile, parse_op_profile_csv
from devlab.bench.stats import LatencyStats
from devlab.build.pipeline import BuiltVariant, Manifest
from devlab.devices.adb import DEVICE_ROOT, AdbDevice
from devlab.devices.base import ShellResult
from devlab.errors import DevlabError, ToolError
from devlab.fsutil import atomic_write_text
from devlab.provenance import ESTIMATED, MEASURED, OP_PROFILE, SIMULATED, TRACE, Source
from devlab.report.run_record import ResultHook, Timing, VariantRows, VariantRun
from devlab.trace.attribution import attribute
from devlab.trace.record import TraceRecording, record_trace
from devlab.trace.summary import TraceSummary

PhoneAccelerator = Literal["gpu", "cpu"]
Progress = Callable[[str, str], None]   # (variant, accelerator)
BINARY_ON_DEVICE = f"{DEVICE_ROOT}/bin/benchmark_model"


@dataclass(frozen=True)
class PhoneBenchOptions:
    accelerators: tuple[PhoneAccelerator, ...] = ("gpu",)
    gpu_precision: GpuPrecision | None = None
    gpu_backend: GpuBackend | None = None
    num_runs: int | None = None
    warmup_runs: int | None = None
    min_secs: float | None = None
    max_secs: float | None = None
    num_threads: int | None = None
    taskset_mask: str | None = None
    require_full_delegation: bool = False
    delegate_serialize_dir: str | None = None     # a folder on the device
    op_profile: bool = True
    trace: bool = True                            # the trace run (Perfetto + debug.tflite.trace=1)
    timeout_s: float = 900.0                      # per benchmark_model invocation

    def benchmark_options(self, graph: str, accelerator: PhoneAccelerator, token: str) -> BenchmarkOptions:
        """The clean run's options (validated on creation)."""
        gpu = accelerator == "gpu"
        return BenchmarkOptions(
            graph=graph, num_runs=self.num_runs, warmup_runs=self.warmup_runs, min_secs=self.min_secs,
            max_secs=self.max_secs, num_threads=self.num_threads, use_gpu=gpu,
            gpu_precision=self.gpu_precision if gpu else None, gpu_backend=self.gpu_backend if gpu else None,
            require_full_delegation=self.require_full_delegation and gpu,
            delegate_serialize_dir=self.delegate_serialize_dir if gpu else None,
            delegate_serialize_token=token if gpu and self.delegate_serialize_dir else None,
            taskset_mask=self.taskset_mask)


@dataclass(frozen=True)
class BenchmarkTool:
    """The benchmark_model that runs on the device, and where it came from."""

    device_path: str
    sha256: str | None
    origin: str                  # flag | env | devlab.toml | simulated phone
    local_path: str | None = None
    bytes_sent: int | None = None

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def prepare_benchmark_tool(device: AdbDevice, flag_path: str | None = None,
                           config_table: dict[str, str] | None = None) -> BenchmarkTool:
    """The simulated phone's own binary (its profile names it), else the user's, pushed with the hash cache."""
    simulated_binary = device.info.extra.get("benchmark_model") if device.info.simulated else None
    if simulated_binary:
        return BenchmarkTool(simulated_binary, device.remote_sha256(simulated_binary), "simulated phone")
    from devlab.bench.binary import locate_benchmark_model
    abi = device.info.abi or "arm64-v8a"
    binary = locate_benchmark_model(abi, flag_path=flag_path, config=config_table)
    pushed = device.push(binary.path, BINARY_ON_DEVICE, mode=0o755)
    return BenchmarkTool(BINARY_ON_DEVICE, binary.sha256, binary.origin, str(binary.path), pushed.bytes_sent)


def _timing(run: BenchmarkRun, source: Source) -> Timing:
    stats = run.inference
    if stats is None or stats.avg_us is None or stats.count < 1:
        raise ToolError("the log has no inference stats line (count=... avg=...)",
                        "see the raw log in the run folder", stage="parse")

    def ms(us: float | None) -> float | None:
        return None if us is None else us / 1000.0

    # benchmark_model prints a summary, not per-run samples: what it does not print stays None
    latency = LatencyStats(source=source, count=stats.count, mean_ms=stats.avg_us / 1000.0,
                           median_ms=ms(stats.median_us), p90_ms=None, min_ms=ms(stats.min_us),
                           max_ms=ms(stats.max_us), std_ms=ms(stats.std_us), samples_ms=())
    return Timing(source, ms(run.init_us), ms(run.first_inference_us), latency)


def _failure(run: BenchmarkRun, exit_code: int, what: str) -> str:
    reason = run.errors[-1] if run.errors else f"exit {exit_code}, status {run.status}"
    return f"{what}: {reason}"


class _VariantBench:
    """One variant on one accelerator: the runs, their logs, and the record."""

    def __init__(self, device: AdbDevice, tool: BenchmarkTool, options: PhoneBenchOptions, run_dir: Path,
                 variant: BuiltVariant, accelerator: PhoneAccelerator, remote: str) -> None:
        self.device, self.tool, self.options, self.run_dir = device, tool, options, run_dir
        self.variant, self.accelerator, self.remote = variant, accelerator, remote
        self.source: Source = SIMULATED if device.info.simulated else MEASURED
        self.stem = f"{variant.name}-{accelerator}"
        # traces/<run>/<variant>.perfetto-trace; the accelerator joins the name only when the plan has several
        self.trace_name = variant.name if len(options.accelerators) == 1 else self.stem
        self.logs: dict[str, str] = {}
        self.extra: dict[str, object] = {"benchmark_wall_s": {}}

    def invoke(self, options: BenchmarkOptions, name: str) -> tuple[BenchmarkRun, int]:
        argv = classic_argv(self.tool.device_path, options)
        started = time.monotonic()
        result = self.device.shell(argv, timeout=self.options.timeout_s)
        self._wall(name, started)
        return self._keep_log(name, result), result.exit_code

    def _wall(self, name: str, started: float) -> None:
        self.extra["benchmark_wall_s"][name] = round(time.monotonic() - started, 4)  # type: ignore[index]

    def _keep_log(self, name: str, result: ShellResult) -> BenchmarkRun:
        log_name = f"logs/{self.stem}-{name}.log"
        atomic_write_text(self.run_dir / log_name, result.stdout + (("\n" + result.stderr) if result.stderr else ""))
        self.logs[name] = log_name
        return parse_benchmark_log(result.stdout + "\n" + result.stderr, may_be_truncated=False).result

    def op_profile(self, clean: BenchmarkOptions) -> OpProfile:
        remote_csv = f"{DEVICE_ROOT}/out/{self.stem}.op_profile.csv"
        self.device.mkdir(f"{DEVICE_ROOT}/out")
        self.device.shell(["rm", "-f", remote_csv], timeout=30)
        options = replace(clean, enable_op_profiling=True, op_profiling_output_mode="csv",
                          op_profiling_output_file=remote_csv)
        run, code = self.invoke(options, "op-profile")
        if code != 0 or run.status != "ok":
            raise ToolError(_failure(run, code, "op-profile run failed"), "see the op-profile log in the run folder",
                            device=self.device.label, stage="op-profile")
        local_csv = f"logs/{self.stem}-op-profile.csv"
        self.device.pull(remote_csv, self.run_dir / local_csv)
        self.logs["op_profile_csv"] = local_csv
        return parse_op_profile_csv((self.run_dir / local_csv).read_text(encoding="utf-8", errors="replace"))

    def trace_run(self, clean: BenchmarkOptions) -> TraceSummary | None:
        """The clean run's flags once more under Perfetto with ATrace on; the trace lands in the run folder as
        <trace_name>.perfetto-trace. What was asked for, offered and what arrived go into extra["trace"]."""
        started = time.monotonic()
        recording = _record(self.device, self.tool, self.options, self.run_dir, self.trace_name, clean)
        self._wall("trace-run", started)
        self.logs["trace_config"] = f"logs/{self.trace_name}.pbtxt"
        if recording.benchmark is not None:
            self._keep_log("trace-run", recording.benchmark)
        if recording.path is not None:
            self.logs["trace"] = recording.path.relative_to(self.run_dir).as_posix()
        self.extra["trace"] = {
            "source": TRACE, "asked": list(recording.asked),
            "offered": None if recording.offered is None else list(recording.offered),
            "used": list(recording.used), "arrived": list(recording.arrived), "errors": list(recording.errors)}
        if recording.benchmark is not None and not recording.benchmark.ok:
            raise ToolError(f"trace run failed: benchmark_model exited {recording.benchmark.exit_code}",
                            "see the trace log in the run folder", device=self.device.label, stage="trace run")
        if recording.summary is None:
            raise ToolError("trace run brought back no trace: " + "; ".join(recording.errors[-1:]),
                            "see extra.trace.errors in run.json", device=self.device.label, stage="trace run")
        return recording.summary

    def kernels(self, timing: Timing, profile: OpProfile | None, trace: TraceSummary | None
                ) -> dict[str, object] | None:
        from devlab.build.gpu_compat import plan_gpu_delegation
        from devlab.build.tflite_graph import read_tflite
        graph = read_tflite(self.variant.path)
        plan = plan_gpu_delegation(graph) if self.accelerator == "gpu" else None
        # the GL backend has no profiling queue: only the OpenCL delegate runs its kernels twice when profiled
        table = attribute(timing.latency.mean_ms, timing.source, profile=profile, trace=trace, graph=graph,
                          plan=plan, profiling_pass=self.options.gpu_backend != "gl")
        return {"source": ESTIMATED, **asdict(table)}

    def run(self) -> VariantRun:
        base = dict(variant=self.variant.name, accelerator=self.accelerator, model_sha256=self.variant.sha256,
                    model_bytes=self.variant.bytes,
                    delegation_predicted=self.variant.delegation if self.accelerator == "gpu" else None)
        try:
            clean = self.options.benchmark_options(self.remote, self.accelerator, self.variant.sha256)
            run, code = self.invoke(clean, "clean")
            if code != 0 or run.status != "ok":
                raise ToolError(_failure(run, code, "clean run failed"), "see the clean log in the run folder",
                                device=self.device.label, stage="clean run")
            timing = _timing(run, self.source)
        except DevlabError as exc:
            return VariantRun(status="failed", error=exc.one_line(), logs=self.logs, extra=self.extra, **base)
        reported = {"source": self.source, **asdict(run.delegation)} if self.accelerator == "gpu" else None
        profile: OpProfile | None = None
        trace: TraceSummary | None = None
        # A failed op-profile or trace run costs only what it would have added: the clean timing stands, and the
        # row says why the rest is missing.
        if self.options.op_profile:
            try:
                profile = self.op_profile(clean)
                self.extra["op_profile"] = {"source": OP_PROFILE, "rows": [asdict(r) for r in profile.run_rows()]}
            except DevlabError as exc:
                self.extra["op_profile_error"] = exc.one_line()
        if self.options.trace:
            try:
                trace = self.trace_run(clean)
            except DevlabError as exc:
                self.extra["trace_error"] = exc.one_line()
        kernels = None
        if (profile is not None and profile.run_rows()) or trace is not None:
            try:
                kernels = self.kernels(timing, profile, trace)
            except DevlabError as exc:
                self.extra["attribution_error"] = exc.one_line()
        return VariantRun(status="ok", timing=timing, delegation_reported=reported, kernels=kernels, logs=self.logs,
                          extra=self.extra, **base)


def _record(device: AdbDevice, tool: BenchmarkTool, options: PhoneBenchOptions, run_dir: Path, name: str,
            clean: BenchmarkOptions) -> TraceRecording:
    """The clean run's flags under Perfetto: run_dir/<name>.perfetto-trace, the config in run_dir/logs."""
    return record_trace(device, classic_argv(tool.device_path, clean), run_dir, name=name,
                        benchmark_timeout=options.timeout_s, config_dir=run_dir / "logs")


def variant_remote_path(model_name: str, variant: BuiltVariant) -> str:
    return f"{DEVICE_ROOT}/models/{model_name}/{variant.name}.tflite"


def record_variant_trace(device: AdbDevice, tool: BenchmarkTool, options: PhoneBenchOptions, run_dir: Path,
                         model_name: str, variant: BuiltVariant, accelerator: PhoneAccelerator = "gpu"
                         ) -> TraceRecording:
    """Only the trace run of one variant (`devlab trace record`): push it (hash cached), record, pull."""
    remote = variant_remote_path(model_name, variant)
    device.push(variant.path, remote)
    clean = options.benchmark_options(remote, accelerator, variant.sha256)
    return _record(device, tool, options, run_dir, variant.name, clean)


def run_manifest_on_phone(device: AdbDevice, manifest: Manifest, options: PhoneBenchOptions, run_dir: Path,
                          tool: BenchmarkTool, progress: Progress = lambda v, a: None,
                          on_result: ResultHook = lambda result: None) -> tuple[list[VariantRun], list[str]]:
    """Every variant on every accelerator; a failure is recorded in its row and the others still run.
    `on_result` sees each row as soon as it is final (the runner saves run.json after each)."""
    results = VariantRows(on_result)

    notes: list[str] = []
    if device.info.simulated:
        notes.append("SIMULATED phone: every timing comes from the simulator's cost model, not from a phone")
    if options.delegate_serialize_dir and "gpu" in options.accelerators:
        # the GPU delegate writes its cache only into a folder that exists; a missing one silently costs the cache
        try:
            device.mkdir(options.delegate_serialize_dir)
        except DevlabError as exc:
            notes.append(f"GPU delegate cache folder not created, runs go on without it: {exc.one_line()}")
    for variant in manifest.variants:
        remote = variant_remote_path(manifest.model.name, variant)
        push_error: str | None = None
        pushed_bytes: int | None = None
        try:
            pushed_bytes = device.push(variant.path, remote).bytes_sent
        except DevlabError as exc:
            push_error = exc.one_line()
        for accelerator in options.accelerators:
            progress(variant.name, accelerator)
            if push_error is not None:
                results.add(VariantRun(variant=variant.name, accelerator=accelerator, status="failed",
                                          model_sha256=variant.sha256, model_bytes=variant.bytes, error=push_error))
                continue
            bench = _VariantBench(device, tool, options, run_dir, variant, accelerator, remote)
            bench.extra["push_bytes_sent"] = pushed_bytes
            try:
                results.add(bench.run())
            except DevlabError as exc:   # the device dropped mid-variant: record it, go on with the next
                results.add(VariantRun(variant=variant.name, accelerator=accelerator, status="failed",
                                          model_sha256=variant.sha256, model_bytes=variant.bytes,
                                          error=exc.one_line(), logs=bench.logs, extra=bench.extra))
    return results.rows, notes
