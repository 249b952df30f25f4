"""The measurement plan on a phone (DESIGN.md): per variant, push the .tflite, a clean latency run, an op-profile
run whose CSV is pulled, and a trace run (Perfetto, `debug.tflite.trace=1`) whose trace is pulled into the run
folder; parse them, keep the raw logs, attribute the clean latency to kernels from all three.

Why three runs: the GPU delegate runs the graph twice per inference when a profiler is attached, so latency comes
from the clean run only, the op-profile run gives shares, and the trace run gives the timeline (CPU-fallback op
slices, the delegate slice, GPU kernels, GPU frequency). Op profiling replaces the ATrace profiler, so the last two
cannot share a run. On a simulated phone every number is `simulated`, never `measured`. One variant failing never
loses the others, and a failed op-profile or trace run never loses the clean timing.

A GPU variant also gets two short runs for the GPU delegate's program cache, cold then warm (devlab/bench/gpu_cache.py).
Between one variant's runs devlab waits `cooldown_s` (the previous run's heat), then reads the thermal status: a run
that starts above `none` says so in the row's notes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from devlab.bench.flags import BenchmarkOptions
from devlab.bench.gpu_cache import INIT_MS_NOTE, clear_caches, measure_cache, with_cache_timing
from devlab.bench.litert_profile import read_litert_profile
from devlab.bench.log_parser import parse_benchmark_log
from devlab.bench.log_result import BenchmarkRun, Delegation
from devlab.bench.phone_results import (delegation_from_runtime, failure, refuse_unconsumed, timing_from_log,
                                        timing_from_result)
from devlab.bench.phone_tool import BenchmarkTool, PhoneAccelerator, PhoneBenchOptions
from devlab.bench.results_proto import decode_benchmark_result, decode_runtime_info
from devlab.bench.op_profile import OpProfile, parse_op_profile_csv
from devlab.build.pipeline import BuiltVariant, Manifest
from devlab.devices.adb import DEVICE_ROOT, AdbDevice
from devlab.devices.adb_info import parse_thermal_status
from devlab.devices.base import ShellResult
from devlab.errors import DevlabError, ToolError
from devlab.numerics.check import OutputCheck
from devlab.fsutil import atomic_write_text
from devlab.provenance import ESTIMATED, MEASURED, OP_PROFILE, SIMULATED, TRACE, Source
from devlab.report.run_record import ResultHook, Timing, VariantRows, VariantRun
from devlab.trace.attribution import attribute
from devlab.trace.record import TraceRecording, record_trace
from devlab.trace.summary import TraceSummary

Progress = Callable[[str, str], None]   # (variant, accelerator)


class _VariantBench:
    """One variant on one accelerator: the runs, their logs, and the record."""

    check: OutputCheck | None = None   # --check-outputs (devlab.numerics)

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
        self.notes: list[str] = []     # the row's own notes (extra.notes)
        self.runs_started = 0

    def invoke(self, options: BenchmarkOptions, name: str) -> tuple[BenchmarkRun, int]:
        argv = self.tool.argv(options)
        started = time.monotonic()
        result = self.device.shell(argv, timeout=self.options.timeout_s)
        self._wall(name, started)
        run = self._keep_log(name, result)
        refuse_unconsumed(result.stdout + "\n" + result.stderr, name, self.device.label)
        return run, result.exit_code

    def structured(self, remote: str, kind: str) -> bytes | None:
        """Pull one of the tool's proto outputs into logs/; None when the tool did not write it."""
        local = self.run_dir / "logs" / f"{self.stem}-{kind}"
        try:
            self.device.pull(remote, local)
        except DevlabError as exc:
            self.extra[f"{kind}_error"] = exc.one_line()
            return None
        self.logs[kind] = local.relative_to(self.run_dir).as_posix()
        return local.read_bytes()

    def clean_run(self, clean: BenchmarkOptions) -> tuple[BenchmarkRun, Timing, Delegation | None]:
        """The clean run; its BenchmarkResult / ModelRuntimeDetails where the tool writes them (text is the check
        and the fallback)."""
        dialect = self.tool.dialect
        out = f"{DEVICE_ROOT}/out"
        asked = replace(clean, result_file_path=f"{out}/{self.stem}.results.pb"
                        if dialect is not None and dialect.takes("result_file_path") else None,
                        runtime_info_file=f"{out}/{self.stem}.runtime_info.pb"
                        if dialect is not None and dialect.takes("model_runtime_info_output_file")
                        and (dialect.kind == "litert" or dialect.takes("export_model_runtime_info")) else None)
        if asked.result_file_path or asked.runtime_info_file:
            self.device.mkdir(out)
            self.device.shell(["rm", "-f", *(p for p in (asked.result_file_path, asked.runtime_info_file) if p)],
                              timeout=30)
        run, code = self.invoke(asked, "clean")
        if code != 0 or run.status == "failed":
            raise ToolError(failure(run, code, "clean run failed"), "see the clean log in the run folder",
                            device=self.device.label, stage="clean run")
        timing: Timing | None = None
        if asked.result_file_path:
            data = self.structured(asked.result_file_path, "results.pb")
            if data is not None:
                timing = timing_from_result(decode_benchmark_result(data, self.logs["results.pb"]), run,
                                             self.source)
                self._check_against_text(timing, run)
        if timing is None:
            if run.status != "ok":
                raise ToolError(failure(run, code, "clean run failed"), "see the clean log in the run folder",
                                device=self.device.label, stage="clean run")
            timing = timing_from_log(run, self.source)
        delegation = None
        if asked.runtime_info_file:
            data = self.structured(asked.runtime_info_file, "runtime_info.pb")
            if data is not None:
                subgraphs = decode_runtime_info(data, self.logs["runtime_info.pb"])
                self.extra["delegation_subgraphs"] = {"source": self.source,
                                                      "subgraphs": [sg.to_json() for sg in subgraphs]}
                if self.accelerator == "gpu":
                    delegation = delegation_from_runtime(subgraphs)
        return run, timing, delegation

    def _check_against_text(self, timing: Timing, run: BenchmarkRun) -> None:
        """The log's own average must agree with the proto's (the tool prints 2 decimals in ms, or us)."""
        text_avg = run.inference.avg_us / 1000.0 if run.inference and run.inference.avg_us is not None else None
        if text_avg is None:
            self.extra["text_check"] = "the log's inference average was not read; the result file stands alone"
        elif abs(text_avg - timing.latency.mean_ms) > max(0.011, 0.001 * timing.latency.mean_ms):
            self.extra["text_check"] = (f"result file mean {timing.latency.mean_ms:.3f} ms vs log {text_avg:.3f} ms: "
                                        f"they disagree")
        else:
            self.extra["text_check"] = "ok"

    def pace(self, name: str) -> None:
        """Before each of this variant's runs: the cooldown after the one before, then the thermal status."""
        if self.runs_started and self.options.cooldown_s > 0:
            time.sleep(self.options.cooldown_s)
        self.runs_started += 1
        try:
            status = parse_thermal_status(self.device.shell(["dumpsys", "thermalservice"], timeout=30).stdout)
        except DevlabError:
            status = None
        if status not in (None, "none"):
            self.notes.append(f"thermal status {status} before the {name} run: the phone was already throttling "
                              f"or warm, so its numbers may be slower")

    def _wall(self, name: str, started: float) -> None:
        self.extra["benchmark_wall_s"][name] = round(time.monotonic() - started, 4)  # type: ignore[index]

    def _keep_log(self, name: str, result: ShellResult) -> BenchmarkRun:
        log_name = f"logs/{self.stem}-{name}.log"
        atomic_write_text(self.run_dir / log_name, result.stdout + (("\n" + result.stderr) if result.stderr else ""))
        self.logs[name] = log_name
        return parse_benchmark_log(result.stdout + "\n" + result.stderr, may_be_truncated=False).result

    def op_profile(self, clean: BenchmarkOptions) -> OpProfile:
        dialect = self.tool.dialect
        if dialect is not None and dialect.kind == "litert":
            return self._litert_op_profile(clean)
        if dialect is not None and not dialect.takes("op_profiling_output_file"):
            # old classic builds (issue 11, defect 4): no CSV output; the stdout tables hold the same rows
            run, code = self.invoke(replace(clean, enable_op_profiling=True), "op-profile")
            if code != 0 or run.status != "ok":
                raise ToolError(failure(run, code, "op-profile run failed"),
                                "see the op-profile log in the run folder", device=self.device.label,
                                stage="op-profile")
            self.extra["op_profile_from"] = "stdout tables (this build has no --op_profiling_output_file)"
            if run.op_profile is None:
                raise ToolError("the op-profile run printed no profiling tables", "see the op-profile log",
                                device=self.device.label, stage="op-profile")
            return run.op_profile
        remote_csv = f"{DEVICE_ROOT}/out/{self.stem}.op_profile.csv"
        self.device.mkdir(f"{DEVICE_ROOT}/out")
        self.device.shell(["rm", "-f", remote_csv], timeout=30)
        options = replace(clean, enable_op_profiling=True, op_profiling_output_mode="csv",
                          op_profiling_output_file=remote_csv)
        run, code = self.invoke(options, "op-profile")
        if code != 0 or run.status != "ok":
            raise ToolError(failure(run, code, "op-profile run failed"), "see the op-profile log in the run folder",
                            device=self.device.label, stage="op-profile")
        local_csv = f"logs/{self.stem}-op-profile.csv"
        self.device.pull(remote_csv, self.run_dir / local_csv)
        self.logs["op_profile_csv"] = local_csv
        return parse_op_profile_csv((self.run_dir / local_csv).read_text(encoding="utf-8", errors="replace"))

    def _litert_op_profile(self, clean: BenchmarkOptions) -> OpProfile:
        """LiteRT has no op-profile file: `--use_profiler=true` prints its summary on stderr at the end."""
        started = time.monotonic()
        result = self.device.shell(self.tool.argv(replace(clean, enable_op_profiling=True)),
                                   timeout=self.options.timeout_s)
        self._wall("op-profile", started)
        run = self._keep_log("op-profile", result)
        refuse_unconsumed(result.stdout + "\n" + result.stderr, "op-profile", self.device.label)
        if result.exit_code != 0 or run.status == "failed":
            raise ToolError(failure(run, result.exit_code, "op-profile run failed"),
                            "see the op-profile log in the run folder", device=self.device.label, stage="op-profile")
        profile = read_litert_profile(result.stderr)
        if profile is None or not profile.run_rows():
            raise ToolError("the --use_profiler run printed no profile summary", "see the op-profile log",
                            device=self.device.label, stage="op-profile")
        self.extra["op_profile_from"] = "LiteRT --use_profiler summary (every profiled run, warm-up included)"
        return profile

    def trace_run(self, clean: BenchmarkOptions) -> TraceSummary | None:
        """The clean run's flags once more under Perfetto with ATrace on; the trace lands in the run folder as
        <trace_name>.perfetto-trace. What was asked for, offered and what arrived go into extra["trace"]."""
        started = time.monotonic()
        recording = _record(self.device, self.tool, self.options, self.run_dir, self.trace_name, clean)
        self._wall("trace-run", started)
        self.logs["trace_config"] = f"logs/{self.trace_name}.pbtxt"
        if recording.benchmark is not None:
            self._keep_log("trace-run", recording.benchmark)
            refuse_unconsumed(recording.benchmark.stdout + "\n" + recording.benchmark.stderr, "trace run",
                               self.device.label)
        if recording.path is not None:
            self.logs["trace"] = recording.path.relative_to(self.run_dir).as_posix()
        self.extra["trace"] = {"source": TRACE, **recording.to_json()}
        if recording.summary is not None and recording.summary.refused:
            self.notes.append("the phone would not record " + "; ".join(recording.summary.refused)
                              + " (what devlab reads from those is absent from this run)")
        if recording.benchmark is not None and not recording.benchmark.ok:
            raise ToolError(f"trace run failed: benchmark_model exited {recording.benchmark.exit_code}",
                            "see the trace log in the run folder", device=self.device.label, stage="trace run")
        if recording.summary is None or recording.status == "empty":
            raise ToolError("trace run brought back no trace: " + "; ".join(recording.errors[-1:]),
                            "see extra.trace.errors in run.json", device=self.device.label, stage="trace run")
        return recording.summary

    def energy_run(self, clean: BenchmarkOptions, clean_run: BenchmarkRun) -> dict[str, object]:
        """Idle window, then the clean flags again (at least ENERGY_MIN_SECS) under android.power only."""
        from devlab.energy.record import ENERGY_MIN_SECS, energy_or_error, expected_ratio, measure_energy
        min_secs = max(clean.min_secs or 0.0, ENERGY_MIN_SECS)
        options = replace(clean, min_secs=min_secs, max_secs=max(clean.max_secs or 0.0, 3 * min_secs))
        # the clean run's time on the phone: its wall time less one adb round trip (a shell that does nothing)
        probe = time.monotonic()
        self.device.shell(["true"], timeout=30)
        overhead = time.monotonic() - probe
        wall = max(0.0, self.extra["benchmark_wall_s"].get("clean", 1.0) - overhead)   # type: ignore[union-attr]
        source = SIMULATED if self.device.info.simulated else TRACE
        started = time.monotonic()
        block, bench = energy_or_error(lambda: measure_energy(
            self.device, self.tool.argv(options), self.run_dir, f"{self.trace_name}-energy",
            wall * expected_ratio(clean_run, min_secs) + overhead, source, self.options.timeout_s), source)
        self._wall("energy", started)
        if bench is not None:
            self._keep_log("energy", bench)
        return block

    def sustained_run(self, clean: BenchmarkOptions) -> dict[str, object]:
        from devlab.sustained.run import run_sustained
        started = time.monotonic()
        try:
            return run_sustained(self.device, self.tool.argv, clean, float(self.options.sustained_s or 0),
                                 self.options.timeout_s, self.source, self._keep_log)
        except DevlabError as exc:
            return {"source": self.source, "error": exc.one_line(), "points": []}
        finally:
            self._wall("sustained", started)

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
            if self.tool.dialect is not None and self.tool.dialect.kind == "litert" and clean.delegate_serialize_dir \
                    and not self.tool.dialect.takes("gpu_serialization_dir"):
                # LiteRT builds up to 2.2.0 have no GPU program cache flag: run without it, and say so
                self.extra["delegate_serialize_dir"] = ("this LiteRT build has no --gpu_serialization_dir: runs "
                                                        "without the cache")
                clean = replace(clean, delegate_serialize_dir=None, delegate_serialize_token=None)
            self.pace("clean")
            run, timing, runtime_delegation = self.clean_run(clean)
        except DevlabError as exc:
            return VariantRun(status="failed", error=exc.one_line(), logs=self.logs, extra=self._extra(), **base)
        reported = None
        if self.accelerator == "gpu":
            delegation = runtime_delegation or run.delegation
            reported = {"source": self.source, **asdict(delegation)}
        if self.options.energy:   # right after the clean run, before the profiled runs heat the phone
            self.pace("energy")
            self.extra["energy"] = self.energy_run(clean, run)
        if self.accelerator == "gpu":   # cold and warm init with the program cache; the clean timing stays as it is
            cache = measure_cache(self.device, self.tool.dialect, clean, self.variant.sha256, self.source,
                                  self.invoke, self.pace)
            self.extra["gpu_cache"] = cache
            timing = with_cache_timing(timing, cache)
        profile: OpProfile | None = None
        trace: TraceSummary | None = None
        # A failed op-profile or trace run costs only what it would have added: the clean timing stands, and the
        # row says why the rest is missing.
        if self.options.op_profile:
            try:
                self.pace("op-profile")
                profile = self.op_profile(clean)
                self.extra["op_profile"] = {"source": OP_PROFILE, "rows": [asdict(r) for r in profile.run_rows()]}
            except DevlabError as exc:
                self.extra["op_profile_error"] = exc.one_line()
        if self.options.trace:
            try:
                self.pace("trace")
                trace = self.trace_run(clean)
            except DevlabError as exc:
                self.extra["trace_error"] = exc.one_line()
        kernels = None
        if (profile is not None and profile.run_rows()) or trace is not None:
            try:
                kernels = self.kernels(timing, profile, trace)
            except DevlabError as exc:
                self.extra["attribution_error"] = exc.one_line()
        numerics = None
        # one more short run (1 run, no warm-up): the runs above stay clean; never timed, so no cooldown before it
        if self.check is not None:
            from devlab.numerics.phone_outputs import check_on_phone
            numerics, log_name = check_on_phone(self.check, self.variant, self.device, self.tool, clean, self.stem,
                                                self.run_dir, self.options.timeout_s, self.source)
            if log_name is not None:
                self.logs["outputs"] = log_name
        if self.options.sustained_s:   # last: it heats the phone on purpose
            self.pace("sustained")
            self.extra["sustained"] = self.sustained_run(clean)
        return VariantRun(status="ok", timing=timing, delegation_reported=reported, kernels=kernels, logs=self.logs,
                          extra=self._extra(), numerics=numerics, **base)

    def _extra(self) -> dict[str, object]:
        return {**self.extra, "notes": list(self.notes)} if self.notes else self.extra


def _record(device: AdbDevice, tool: BenchmarkTool, options: PhoneBenchOptions, run_dir: Path, name: str,
            clean: BenchmarkOptions) -> TraceRecording:
    """The clean run's flags under Perfetto: run_dir/<name>.perfetto-trace, the config in run_dir/logs."""
    return record_trace(device, tool.argv(clean), run_dir, name=name,
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
                          on_result: ResultHook = lambda result: None,
                          check: OutputCheck | None = None) -> tuple[list[VariantRun], list[str]]:
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
    if options.clear_cache:   # before anything is measured; each GPU variant's own folder is emptied anyway
        try:
            notes.append(clear_caches(device, options.delegate_serialize_dir if "gpu" in options.accelerators
                                      else None, [v.sha256 for v in manifest.variants]))
        except DevlabError as exc:
            notes.append(f"--clear-cache failed, runs go on: {exc.one_line()}")
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
            bench.check = check
            try:
                results.add(bench.run())
            except DevlabError as exc:   # the device dropped mid-variant: record it, go on with the next
                results.add(VariantRun(variant=variant.name, accelerator=accelerator, status="failed",
                                          model_sha256=variant.sha256, model_bytes=variant.bytes,
                                          error=exc.one_line(), logs=bench.logs, extra=bench._extra()))
    return results.rows, notes + _cache_notes(results.rows)


def _cache_notes(rows: list[VariantRun]) -> list[str]:
    """Which run `init ms` is, where cold / warm inits were measured; why not, where the tool cannot."""
    blocks = [row.extra.get("gpu_cache") for row in rows if isinstance(row.extra.get("gpu_cache"), dict)]
    notes = [INIT_MS_NOTE] if any(b.get("status") != "unsupported" for b in blocks) else []
    return notes + sorted({b["reason"] for b in blocks if b.get("status") == "unsupported"})
