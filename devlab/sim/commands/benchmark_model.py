"""The simulated phone's `benchmark_model`, at /system/bin/benchmark_model, in the build the profile names
(prop `ro.devlab.benchmark_tool`: `litert` = LiteRT 2.2.0's CompiledModel `benchmark_litert_model`, shipped as
`benchmark_model`; `classic` = TFLite's Interpreter tool; `classic-legacy` = an old classic build without
`--op_profiling_output_mode/_file`). Flags and usage: devlab/sim/bench_flags.py; every line printed below comes
from the tools' sources (docs/sim-fidelity.md, "benchmark_model: the two tool builds", cites each).

Where lines go: TFLITE_LOG INFO/WARN -> stdout, ERROR -> stderr (`tflite/tools/logging.h`); the TFLite runtime's
minimal logger and LiteRT's LITERT_LOG -> stderr, the latter as `INFO: [<file>:<line>] <message>`
(`litert/c/internal/litert_logging.{h,cc}`), line numbers those of the v2.2.0 sources.

It reads the .tflite from the sandbox (devlab.build.tflite_graph), decides the GPU partition like the delegate
(devlab.build.gpu_compat), times every op with the profile's cost model (devlab/sim/costmodel.py; noise seeded from
the model's sha256 and the flags, so a rerun prints the same numbers), really takes that long (times the phone's
time scale), and prints what the tool prints.

CONTRACT with attribution: a GPU kernel row is `Delegate/<label>:<i>` with `<i>` the dispatch index in a run and
`<label>` = `<gpu op type> <id>[ -> <op> <id>]...`, where `<id>` is the POSITION of the TFLite node inside the
delegated partition's execution order, 0-based (DelegationPlan.delegated[id] is the TFLite node).

Profiled runs (op profiling, or ATrace via `debug.tflite.trace=1`) run the GPU graph once more per inference, as the
OpenCL delegate does, so they are slower. With `debug.tflite.trace=1` (and no op profiling, which replaces ATrace)
each run appends SimEvents to the phone's timeline: `Invoke@0/0`, `<OP>@<node>/0`, `<delegate>@<node>/0`,
one `gpu_stage` per kernel (label as above) and a `gpufreq` counter sample per run; timestamps and durations are
wall time (simulated time times the time scale), and the simulated perfetto writes them on the phone's trace clock
(DeviceState.trace_clock_ns), so a traced Invoke lasts the simulated time the log reports.
"""

from __future__ import annotations

import hashlib
import random
import time

from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.tflite_graph import TfliteGraph, read_tflite
from devlab.errors import ModelError
from devlab.sim.bench_cache import program_cache
from devlab.sim.bench_flags import BenchFlags, parse_flags, usage
from devlab.numerics.model_io import read_model_io
from devlab.sim.bench_litert import CC, FAILED, LiteRtTool
from devlab.sim.bench_numerics import ABORT, Fatal, ToolFailure, model_outputs, read_value_files
from devlab.sim.bench_tables import Row, csv_section, stats_text, stdout_section
from devlab.sim.commands.logcat import write_log
from devlab.sim.commands import CommandContext, register
from devlab.sim.costmodel import CostPlan, boundary_tensors, plan_costs
from devlab.sim.power import power_model
from devlab.sim.profiles import BENCHMARK_TOOL_PROP
from devlab.sim.timeline import SimEvent, atrace_name

# BenchmarkModel::LogParams (shared by both tools; LiteRT 2.2.0 does not override it): echoed only when set
_BASE_ECHO = (("Min num runs", "num_runs"), ("Min runs duration (seconds)", "min_secs"),
              ("Max runs duration (seconds)", "max_secs"), ("Inter-run delay (seconds)", "run_delay"),
              ("Number of prorated runs per second", "run_frequency"), ("Num threads", "num_threads"),
              ("Use caching", "use_caching"), ("Benchmark name", "benchmark_name"),
              ("Output prefix", "output_prefix"), ("Min warmup runs", "warmup_runs"),
              ("Min warmup runs duration (seconds)", "warmup_min_secs"), ("Run w/o invoking kernels", "dry_run"),
              ("Report the peak memory footprint", "report_peak_memory_footprint"),
              ("Memory footprint check interval (ms)", "memory_footprint_check_interval_ms"))
# BenchmarkTfLiteModel::LogParams and the delegate providers' LogParams (classic only)
_CLASSIC_ECHO = (("Graph", "graph"), ("Require full delegation", "require_full_delegation"),
                 ("Enable op profiling", "enable_op_profiling"),
                 ("Op profiling output mode.", "op_profiling_output_mode"),
                 ("Op profiling output file.", "op_profiling_output_file"),
                 ("Max initial profiling buffer entries", "max_profiling_buffer_entries"),
                 ("CSV File to export profiling data to", "profiling_output_csv_file"),
                 ("Enable Model Runtime Info Export", "export_model_runtime_info"),
                 ("Proto File to export model runtime info to", "model_runtime_info_output_file"),
                 ("File path to save the benchmark result in binary proto format", "result_file_path"),
                 ("#threads used for CPU inference", "num_threads"),
                 ("Max number of delegated partitions", "max_delegated_partitions"),
                 ("Directory for delegate serialization", "delegate_serialize_dir"),
                 ("Model-specific token/key for delegate serialization.", "delegate_serialize_token"),
                 ("Use gpu", "use_gpu"), ("Allow lower precision in gpu", "gpu_precision_loss_allowed"),
                 ("GPU backend", "gpu_backend"))
_FAILED = FAILED


class _Log:
    """Each line also goes to logcat with tag `tflite`: the tool's TFLITE_LOG (tflite/tools/logging.h
    LoggingWrapper, `__android_log_print(..., "tflite", ...)` on Android) and the runtime's minimal logger
    (tflite/minimal_logging_android.cc: INFO->I, WARNING->W, ERROR->E, others->D)."""

    def __init__(self, ctx: CommandContext) -> None:
        self.ctx = ctx

    def _logcat(self, priority: str, text: str) -> None:
        write_log(self.ctx.device, priority, "tflite", text, self.ctx.fs.current_pid() or 0)

    def info(self, text: str) -> None:
        self.ctx.stdout.write(f"INFO: {text}\n")
        self._logcat("I", text)

    def warn(self, text: str) -> None:
        self.ctx.stdout.write(f"WARN: {text}\n")
        self._logcat("W", text)

    def error(self, text: str) -> int:
        self.ctx.stderr.write(f"ERROR: {text}\n")
        self._logcat("E", text)
        return 1

    def raw(self, text: str, err: bool = False) -> None:
        """A continuation line of a multi-line message (stderr when the message is an ERROR)."""
        (self.ctx.stderr if err else self.ctx.stdout).write(text + "\n")

    def runtime(self, severity: str, text: str) -> None:
        """The TFLite runtime's minimal logger (stderr), e.g. `VERBOSE: Replacing ...`."""
        self.ctx.stderr.write(f"{severity}: {text}\n")
        self._logcat({"INFO": "I", "WARNING": "W", "ERROR": "E"}.get(severity, "D"), text)

    def litert(self, where: str, line: int, text: str, severity: str = "INFO") -> None:
        self.ctx.stderr.write(f"{severity}: [{where}:{line}] {text}\n")


def _echo_value(flags: BenchFlags, name: str) -> str:
    value = flags.text(name)
    return {"true": "1", "false": "0"}.get(value, value)


@register("benchmark_model")
def benchmark_model(ctx: CommandContext) -> int:
    log = _Log(ctx)
    tool = ctx.getprop(BENCHMARK_TOOL_PROP) or "classic"
    asked_help = any(a in ("--help", "-h") for a in ctx.argv[1:])
    if tool == "litert" and asked_help:
        ctx.stdout.write("\n  NPU Vendor Flags from LiteRT:\n\n")   # (vendor Abseil flags: not simulated)
    log.info("STARTING!")
    flags = parse_flags(ctx.argv[1:], tool)
    for error in flags.errors:
        log.error(error)
    if flags.errors or flags.help:
        log.error(usage(ctx.argv[0], tool))
        if tool == "litert" and asked_help:
            return 0      # LiteRT's main: "If help was requested ... return EXIT_SUCCESS"
        return log.error(_FAILED)
    if flags.unknown:
        log.warn(f"Unconsumed cmdline flags: {' '.join(flags.unknown)}")
    log.info("Log parameter values verbosely: [0]")
    echo = _BASE_ECHO if tool == "litert" else _BASE_ECHO + _CLASSIC_ECHO
    for label, name in echo:
        if flags.has(name) and name in flags.set_on_cmdline:
            log.info(f"{label}: [{_echo_value(flags, name)}]")
    path = flags.text("graph")
    if tool == "litert":
        log.litert(CC, 271, f"Loading model from: {path}")
    elif not path:
        log.error("Please specify the name of your TF Lite input file with --graph")
        return log.error(_FAILED)
    host = ctx.fs.resolve(path, ctx.cwd) if path else None
    if host is None or not host.is_file():
        if tool != "litert":
            log.error(f"Could not open '{path}'.")
            log.error(f"Failed to mmap model {path}")
        return log.error(_FAILED)
    data = host.read_bytes()
    try:
        graph = read_tflite(data)
    except ModelError:
        if tool != "litert":
            identifier = data[4:8].decode("latin-1") if len(data) >= 8 else ""
            log.error(f"Model provided has model identifier '{identifier}', should be 'TFL3'")
            log.error(f"Failed to mmap model {path}")
        return log.error(_FAILED)
    if tool != "litert":
        log.info(f"Loaded model {path}")
    return _Run(ctx, log, flags, graph, data).execute()


class _Run(LiteRtTool):
    def __init__(self, ctx: CommandContext, log: _Log, flags: BenchFlags, graph: TfliteGraph, data: bytes) -> None:
        self.ctx, self.log, self.flags, self.graph = ctx, log, flags, graph
        self.cost = ctx.device.profile.cost
        self.scale = ctx.device.time_scale
        self.data = data
        self.sha = hashlib.sha256(data).hexdigest()
        self.model_mb = len(data) / 1e6  # the tool divides by 1e6 ("3.79893" for 3798928 bytes)
        self.rng = random.Random(f"{self.sha}|{flags.echo_key()}")
        self.litert = flags.tool == "litert"
        # classic --enable_op_profiling; LiteRT --use_profiler: both make the GPU delegate profile each dispatch,
        # a second pass over its kernels (ml_drift_delegate/delegate/delegate_kernel.cc, Dispatch -> ctx_->Profile)
        self.profiling = flags.flag("use_profiler") if self.litert else (
            flags.has("enable_op_profiling") and flags.flag("enable_op_profiling"))
        self.tracing = ctx.getprop("debug.tflite.trace") == "1" and not self.profiling
        threads = int(flags.number("num_threads"))
        self.threads = min(self.cost.max_cpu_threads, threads if threads > 0 else self.cost.max_cpu_threads)
        self.pid = ctx.device.new_pid()
        self.delegate_node = len(graph.ops)
        self.delegate_name = "LITERT_CL" if self.litert else "TfLiteGpuDelegateV2"
        self.power = power_model(ctx.device)   # load, heat and throttling (devlab/sim/power.py)
        self.freq_factor = 1.0                  # the GPU clock factor of the current phase
        self.cache_state = "off"                # the GPU program cache (devlab/sim/bench_cache.py)

    # -- phases ---------------------------------------------------------------------------------------------------
    def execute(self) -> int:
        if self.litert:
            problem = self._litert_options()
            if problem is not None:
                return problem
        try:   # benchmark_tflite_model.cc ValidateParams -> PopulateInputLayerInfo (devlab/sim/bench_numerics.py)
            feeds = None if self.litert or not self.flags.text("input_layer_value_files") else read_value_files(
                self.flags.text("input_layer"), self.flags.text("input_layer_shape"),
                self.flags.text("input_layer_value_files"), read_model_io(self.data),
                lambda path: self.ctx.fs.resolve(path, self.ctx.cwd), self.log.warn)
        except Fatal as exc:
            self.ctx.stderr.write(f"FATAL: {exc}\n")
            return ABORT
        except ToolFailure as exc:
            self.log.error(str(exc))
            return self.log.error(_FAILED)
        plan = None
        if self.flags.flag("use_gpu"):
            plan = self._delegate_litert() if self.litert else self._delegate()
            if plan is None:
                return 1
        delegated = set(plan.delegated) if plan else set()
        for node in self.graph.ops:
            if node.index not in delegated and node.op.startswith("CUSTOM:"):
                name = node.op.split(":", 1)[1]
                self.log.error(f"Encountered unresolved custom op: {name}.")
                self.log.raw("See instructions: https://www.tensorflow.org/lite/guide/ops_custom", err=True)
                self.log.error(f"Node number {node.index} ({name}) failed to prepare.")
                self.log.error("Failed to allocate tensors!")
                return self.log.error(_FAILED)
        if self.litert:
            self._xnnpack(plan)
            fp16 = self.flags.text("gpu-precision") != "fp32"
        else:
            fp16 = self.flags.flag("gpu_precision_loss_allowed")
        costs = plan_costs(self.graph, plan, self.cost, self.threads, fp16)
        init_ms = self._init_ms(costs, plan is not None)
        self.power.busy_for(init_ms * 1000, gpu=0.0, cpu=1.0)     # the delegate compiles its programs on a CPU core
        if not self._sleep_ms(init_ms):
            return 130
        self.log.info(f"The input model file size (MB): {self.model_mb:g}")
        self.log.info(f"Initialized session in {init_ms:.3f}ms.")
        if self.litert and self.flags.text("model_runtime_info_output_file"):
            self._runtime_info(plan)
        base_us = costs.total_us + (costs.gpu_us if (self.profiling or self.tracing) else 0.0)
        warmup = self._phase(base_us, int(self.flags.number("warmup_runs")), self.flags.number("warmup_min_secs"),
                             costs, first=True)
        if warmup is None:
            return 130
        runs = self._phase(base_us, int(self.flags.number("num_runs")), self.flags.number("min_secs"), costs)
        if runs is None:
            return 130
        init_mb, overall_mb = self._footprint(costs, plan is not None)
        peak_mb = overall_mb + 3.1 if self.flags.flag("report_peak_memory_footprint") else None
        if self.litert:
            self._litert_results(init_ms, warmup, runs, init_mb, overall_mb, peak_mb)
        else:
            self.log.info(f"Inference timings in us: Init: {int(init_ms * 1000)}, "
                          f"First inference: {int(warmup[0][0])}, "
                          f"Warmup (avg): {sum(w for w, _ in warmup) / len(warmup):g}, "
                          f"Inference (avg): {sum(r for r, _ in runs) / len(runs):g}")
            self._memory(init_mb, overall_mb, peak_mb)
        if not self.litert and self.flags.text("output_filepath"):   # OutputSaver::OnBenchmarkEnd
            self._save_outputs(feeds, set(plan.delegated) if plan else None, fp16)
        if self.flags.has("result_file_path") and self.flags.text("result_file_path"):
            self._result_file(init_ms, warmup, runs, init_mb, overall_mb, peak_mb)
        if self.profiling and self.litert:
            self._litert_profile(costs, warmup + runs)
        elif self.profiling:
            self._profile(init_ms, costs, runs)
        return 0

    def _save_outputs(self, feeds, delegated: set[int] | None, fp16: bool) -> None:
        target = self.ctx.fs.resolve(self.flags.text("output_filepath"), self.ctx.cwd)
        try:   # std::ofstream that is not good(): nothing written, nothing said
            target.write_bytes(model_outputs(self.data, feeds, delegated, fp16, seed=0))
        except (OSError, ModelError):   # (a string tensor: the simulated tool writes no outputs for it)
            pass

    def _delegate(self):
        """The GPU delegate's own lines go through the runtime's minimal logger (stderr + logcat), the tool's through
        TFLITE_LOG (stdout): delegate.cc TFLITE_LOG_PROD(_ONCE) vs benchmark_tflite_model.cc TFLITE_LOG."""
        log, graph = self.log, self.graph
        plan = plan_gpu_delegation(graph, max(1, int(self.flags.number("max_delegated_partitions"))))
        log.runtime("INFO", "Created TensorFlow Lite delegate for GPU.")
        log.info("GPU delegate created.")
        rejected = [v for v in plan.verdicts if not v.on_gpu]
        if rejected:
            log.error("Following operations are not supported by GPU delegate:")
            seen: set[tuple[str, str]] = set()
            for verdict in rejected:
                key = (verdict.op, verdict.reason or "Operation is not supported.")
                if key not in seen:
                    seen.add(key)
                    log.raw(f"{key[0]}: {key[1]}", err=True)
            log.raw(f"{plan.ops_on_gpu} operations will run on the GPU, and the remaining {plan.ops_on_cpu} "
                    f"operations will run on the CPU.", err=True)
        if plan.delegated:
            inside = set(plan.delegated)
            flips = sum(1 for a, b in zip(graph.ops, graph.ops[1:]) if (a.index in inside) != (b.index in inside))
            log.runtime("VERBOSE", f"Replacing {len(plan.delegated)} out of {len(graph.ops)} node(s) with delegate "
                                   f"(TfLiteGpuDelegateV2) node, yielding {flips + 1} partitions for subgraph 0 "
                                   f"(main).")
            if not self._initialize_gpu_api(plan):
                log.runtime("INFO", "Created 0 GPU delegate kernels.")
                log.error("Failed to apply GPU delegate.")
                log.error(_FAILED)
                return None
            log.runtime("INFO", "Created 1 GPU delegate kernels.")
        if plan.applied == "full":
            log.info("Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.")
        elif plan.applied == "partial":
            log.info("Explicitly applied GPU delegate, and the model graph will be partially executed by the "
                     "delegate w/ 1 delegate kernels.")
        else:
            log.info("Though GPU delegate is explicitly applied, the model graph will not be executed by the delegate.")
        if plan.applied != "full" and self.flags.flag("require_full_delegation"):
            log.error("Disallowed CPU fallback detected.")
            log.error(_FAILED)
            return None
        return plan

    def _initialize_gpu_api(self, plan) -> bool:
        """delegate.cc DelegateKernelCore::Setup: OpenCL (with the program cache), else OpenGL when asked for or
        when OpenCL failed; with --gpu_backend=cl a failed OpenCL init fails the delegate."""
        backend = self.flags.text("gpu_backend")
        if backend != "gl":
            self.cache_state = program_cache(self.ctx.fs, self.ctx.cwd, self.flags, self.graph, plan, self.sha,
                                             self.log.runtime)
            if self.cache_state != "save_failed":
                self.log.runtime("INFO", "Initialized OpenCL-based API" +
                                 (" from serialized data." if self.cache_state == "read" else "."))
                return True
            if backend == "cl":
                self.log.runtime("ERROR", "TfLiteGpuDelegate Init: Failed to save serialized data")
                return False
            self.log.runtime("ERROR", "Failed to save serialized data")
            self.log.runtime("ERROR", "Falling back to OpenGL")
        self.log.runtime("INFO", "Initialized OpenGL-based API.")
        return True

    def _init_ms(self, costs: CostPlan, gpu: bool) -> float:
        init = 4.0 + 1.5 * self.model_mb
        if gpu and costs.kernels:
            compile_ms = self.cost.gpu_init_ms + self.cost.gpu_init_per_kernel_ms * len(costs.kernels)
            if self.cache_state == "read":   # programs loaded, not compiled
                compile_ms *= self.cost.serialized_init_factor
            init += compile_ms
        return init * (1.0 + self.cost.noise_rel * self.rng.uniform(-1, 1))

    def _sleep_ms(self, ms: float) -> bool:
        return self.ctx.sleep(ms / 1000.0 * self.scale)

    def _phase(self, base_us: float, min_runs: int, min_secs: float, costs: CostPlan,
               first: bool = False) -> list[tuple[float, float]] | None:
        """Runs until both minimums are met (or max_secs); [(run_us, noise factor)], after really waiting."""
        max_us = self.flags.number("max_secs") * 1e6
        self.log.info(f"Running benchmark for at least {min_runs} iterations and at least {min_secs:g} seconds but "
                      f"terminate if exceeding {self.flags.number('max_secs'):g} seconds.")
        # a phone the thermal governor throttles runs slower: its GPU at the allowed clock, the CPU half as cut
        gpu_part = costs.gpu_us * (2.0 if (self.profiling or self.tracing) else 1.0)
        base_us, self.freq_factor = self.power.throttled_us(base_us, gpu_part)
        runs: list[tuple[float, float]] = []
        elapsed = 0.0
        while (len(runs) < max(1, min_runs) or elapsed < min_secs * 1e6) and elapsed < max_us:
            factor = max(0.5, 1.0 + self.cost.noise_rel * self.rng.gauss(0.0, 1.0))
            if first and not runs:
                factor *= 1.35  # first inference: cold caches and lazy GPU buffer uploads
            runs.append((base_us * factor, factor))
            elapsed += base_us * factor
        start_ns = time.monotonic_ns()
        self.power.busy_for(elapsed, gpu=gpu_part / base_us if base_us else 0.0,
                            cpu=1.0 - gpu_part / base_us if base_us else 1.0)
        if not self._sleep_ms(elapsed / 1000.0):
            return None
        if self.tracing:
            self._trace(start_ns, runs, costs)
        self.log.info(stats_text([r for r, _ in runs]))
        self.log.raw("")
        return runs

    def _footprint(self, costs: CostPlan, gpu: bool) -> tuple[float, float]:
        activations_mb = sum(t.buffer_bytes == 0 and not t.is_constant and 4 * max(1, _elems(t.shape)) or 0
                             for t in self.graph.tensors) / (1 << 20)
        init_mb = 2.5 + self.model_mb + (28.0 if gpu and costs.kernels else 0.0)
        return init_mb, init_mb + activations_mb

    def _memory(self, init_mb: float, overall_mb: float, peak_mb: float | None) -> None:
        self.log.info("Note: as the benchmark tool itself affects memory footprint, the following is only "
                      "APPROXIMATE to the actual memory footprint of the model at runtime. Take the information "
                      "at your discretion.")
        self.log.info(f"Memory footprint delta from the start of the tool (MB): init={init_mb:g} "
                      f"overall={overall_mb:g}")
        if peak_mb:
            self.log.info(f"Overall peak memory footprint (MB) via periodic monitoring: {peak_mb:g}")

    # -- execution plan shared by op profiles and traces --------------------------------------------------------
    def _items(self, costs: CostPlan) -> list[tuple[str, int, float]]:
        """(kind "cpu"|"gpu", node, us) in execution order; the delegate sits where its first node was."""
        items: list[tuple[str, int, float]] = []
        inside = set(costs.delegated)
        placed = False
        gpu_us = costs.gpu_us * (2.0 if (self.profiling or self.tracing) else 1.0) + costs.copy_us
        for node in self.graph.ops:
            if node.index in inside:
                if not placed:
                    items.append(("gpu", self.delegate_node, gpu_us))
                    placed = True
            else:
                items.append(("cpu", node.index, costs.cpu_us[node.index]))
        return items

    def _name(self, tensors) -> str:
        return ", ".join(self.graph.tensor(t).name for t in tensors if t >= 0)

    def _profile(self, init_ms: float, costs: CostPlan, runs: list[tuple[float, float]]) -> None:
        f0 = runs[0][1]
        mean_f = sum(f for _, f in runs) / len(runs)
        init_rows = []
        if costs.kernels:
            init_rows.append(Row("ModifyGraphWithDelegate", "ModifyGraphWithDelegate/0", init_ms * 0.97,
                                 init_ms * 0.97, mem_kb=28.0 * 1024))
        init_rows.append(Row("AllocateTensors", "AllocateTensors/0", 0.03, 0.02, times_called=2 if costs.kernels else 1))
        rows: list[Row] = []
        outputs = [t for t in boundary_tensors(self.graph, costs.delegated) if any(
            t in self.graph.ops[n].outputs for n in costs.delegated)]
        for kind, node, us in self._items(costs):
            if kind == "cpu":
                op = self.graph.ops[node]
                rows.append(Row(op.op, f"[{self._name(op.outputs)}]:{node}", us * f0 / 1000, us * mean_f / 1000))
                continue
            rows.append(Row("TfLiteGpuDelegateV2", f"[{self._name(outputs)}]:{node}", us * f0 / 1000,
                            us * mean_f / 1000))
            for i, kernel in enumerate(costs.kernels):
                rows.append(Row(kernel.label, f"Delegate/{kernel.label}:{i}", kernel.us * f0 / 1000,
                                kernel.us * mean_f / 1000))
        totals = [sum(us for _, _, us in self._items(costs)) * f for _, f in runs]
        init_heading, run_heading = ("Profiling Info for Benchmark Initialization:",
                                     "Operator-wise Profiling Info for Regular Benchmark Runs:")
        # old builds: --profiling_output_csv_file (CSV when set); newer: --op_profiling_output_mode/_file
        legacy = not self.flags.has("op_profiling_output_mode")
        csv = bool(self.flags.text("profiling_output_csv_file")) if legacy else \
            self.flags.text("op_profiling_output_mode") == "csv"
        section = csv_section if csv else stdout_section
        lines = section(init_heading, init_rows, [init_ms * 1000]) + section(run_heading, rows, totals)
        target = self.flags.text("profiling_output_csv_file" if legacy else "op_profiling_output_file")
        if target:
            host = self.ctx.fs.resolve(target, self.ctx.cwd)
            try:
                host.write_text("\n".join(lines) + "\n")
            except OSError as exc:
                self.log.error(f"Failed to open {target} for writing: {exc.strerror}")
            return
        for line in lines:
            self.log.raw(line)

    def _trace(self, start_ns: int, runs: list[tuple[float, float]], costs: CostPlan) -> None:
        events: list[SimEvent] = []
        items = self._items(costs)
        ns = 1000.0 * self.scale  # simulated us -> wall ns
        gpu_hz = self.power.gpu_freq_hz(self.freq_factor)   # the clock the governor allowed
        t = float(start_ns)
        pid = self.pid
        for run_us, factor in runs:
            events.append(SimEvent("slice", atrace_name("Invoke", 0, 0), int(t), int(run_us * ns), pid, pid, None, 0))
            events.append(SimEvent("counter", "gpufreq", int(t), 0, pid, 0, float(gpu_hz), 0))
            cursor = t
            for kind, node, us in items:
                dur = us * factor * ns
                name = f"{self.graph.ops[node].op}@{node}/0" if kind == "cpu" else f"{self.delegate_name}@{node}/0"
                events.append(SimEvent("slice", name, int(cursor), int(dur), pid, pid, None, 1))
                if kind == "gpu":
                    gpu_cursor = cursor + costs.copy_us * factor * ns / 2
                    for kernel in costs.kernels:
                        kdur = kernel.us * factor * ns
                        events.append(SimEvent("gpu_stage", kernel.label, int(gpu_cursor), int(kdur), pid, 0, None, 0))
                        gpu_cursor += kdur
                cursor += dur
            t += run_us * ns
        self.ctx.device.timeline.extend(events)


def _elems(shape: tuple[int, ...]) -> int:
    total = 1
    for d in shape:
        total *= max(1, d)
    return total
