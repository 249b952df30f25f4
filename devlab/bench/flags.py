"""Options for one benchmark_model invocation, validated, and the argv that runs it in the tool's own dialect.

The argv is a list, never a shell string: the device layer quotes it. Flags the user did not set are left out so
the binary's own defaults apply (and the run records what it was actually asked). `tool_argv` spells each option
in the dialect of the binary in hand (devlab/bench/tool_dialect.py: classic TFLite tool or LiteRT's CompiledModel
tool) and refuses, before the run, a flag the binary's `--help` does not list: a tool that warns `Unconsumed
cmdline flags` and runs with its defaults would otherwise measure something else than asked.

classic                                  LiteRT (benchmark_litert_model, v2.2.0 and later)
--use_gpu=true                           --use_gpu=true
--gpu_precision_loss_allowed=true|false  --gpu-precision=fp16|fp32
--gpu_backend=cl|gl                      (OpenCL is the Android default) | --gpu_backend=opengl
--require_full_delegation=true           --require_full_delegation=true --use_cpu=false (with use_cpu: abort)
--enable_op_profiling=true [+ mode/file] --use_profiler=true
--delegate_serialize_dir + _token        --gpu_serialization_dir + --gpu_model_cache_key (after v2.2.0 only)
--result_file_path                       --result_file_path
--export_model_runtime_info=true + file  --model_runtime_info_output_file
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from devlab.bench.tool_dialect import ToolDialect
from devlab.errors import ToolError, UsageError

GpuPrecision = Literal["fp16", "fp32"]
GpuBackend = Literal["cl", "gl"]
ProfilingMode = Literal["stdout", "csv", "proto"]

_TASKSET_MASK = re.compile(r"^(?:0x)?[0-9a-fA-F]+$")
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class BenchmarkOptions:
    graph: str                                  # path of the .tflite on the target
    num_runs: int | None = None
    warmup_runs: int | None = None
    min_secs: float | None = None
    max_secs: float | None = None
    warmup_min_secs: float | None = None
    num_threads: int | None = None
    use_gpu: bool = False
    gpu_precision: GpuPrecision | None = None   # fp16 -> --gpu_precision_loss_allowed=true
    gpu_backend: GpuBackend | None = None       # None: the delegate tries OpenCL, then OpenGL
    require_full_delegation: bool = False
    enable_op_profiling: bool = False
    op_profiling_output_mode: ProfilingMode | None = None
    op_profiling_output_file: str | None = None
    delegate_serialize_dir: str | None = None
    delegate_serialize_token: str | None = None
    report_peak_memory_footprint: bool = False
    taskset_mask: str | None = None             # e.g. "f0": pins the run to the big cores
    result_file_path: str | None = None         # BenchmarkResult proto, on the device
    runtime_info_file: str | None = None        # ModelRuntimeDetails proto, on the device
    # --check-outputs (classic only): (input name, shape, value file on the device) in the model's input order,
    # and the file the tool writes every output's raw bytes to (devlab.numerics.phone_outputs)
    input_value_files: tuple[tuple[str, tuple[int, ...], str], ...] = ()
    output_filepath: str | None = None

    def __post_init__(self) -> None:
        validate(self)


def _fail(problem: str, fix: str) -> None:
    raise UsageError(problem, fix, stage="benchmark options")


def validate(options: BenchmarkOptions) -> None:
    if not options.graph or "\n" in options.graph or "\x00" in options.graph:
        _fail(f"graph path {options.graph!r} is empty or holds a newline/NUL", "pass the model's path on the device")
    for name in ("num_runs", "warmup_runs"):
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            _fail(f"{name} must be a whole number >= 0, got {value!r}", f"pass e.g. --{name.replace('_', '-')} 50")
    if options.num_threads is not None and (isinstance(options.num_threads, bool) or
                                            not isinstance(options.num_threads, int) or
                                            options.num_threads == 0 or options.num_threads < -1):
        _fail(f"num_threads must be -1 (the tool's default) or >= 1, got {options.num_threads!r}",
              "pass --threads 4, or leave it out")
    for name in ("min_secs", "max_secs", "warmup_min_secs"):
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0
                                  or value != value or value == float("inf")):
            _fail(f"{name} must be a finite number of seconds >= 0, got {value!r}",
                  f"pass e.g. --{name.replace('_', '-')} 1.0")
    if options.min_secs is not None and options.max_secs is not None and options.max_secs < options.min_secs:
        _fail(f"max_secs ({options.max_secs}) is below min_secs ({options.min_secs})", "raise --max-secs")
    if options.gpu_precision not in (None, "fp16", "fp32"):
        _fail(f"gpu precision {options.gpu_precision!r} is not fp16 or fp32", "pass --gpu-precision fp16|fp32")
    if options.gpu_backend not in (None, "cl", "gl"):
        _fail(f"gpu backend {options.gpu_backend!r} is not cl or gl", "pass --gpu-backend cl|gl")
    if not options.use_gpu and (options.gpu_precision or options.gpu_backend):
        _fail("GPU precision/backend given without the GPU delegate", "add --gpu, or drop the GPU options")
    if options.op_profiling_output_mode not in (None, "stdout", "csv", "proto"):
        _fail(f"op profiling mode {options.op_profiling_output_mode!r} is unknown", "use stdout, csv or proto")
    if (options.op_profiling_output_mode or options.op_profiling_output_file) and not options.enable_op_profiling:
        _fail("op profiling output set without op profiling", "set enable_op_profiling=True")
    if options.op_profiling_output_mode in ("csv", "proto") and not options.op_profiling_output_file:
        _fail(f"op profiling mode {options.op_profiling_output_mode} needs an output file",
              "set op_profiling_output_file to a path on the device")
    if bool(options.delegate_serialize_dir) != bool(options.delegate_serialize_token):
        _fail("delegate serialization needs both a directory and a token",
              "pass both --delegate-serialize-dir and --delegate-serialize-token (the model's hash works)")
    folder = options.delegate_serialize_dir
    if folder and (not folder.startswith("/") or "\n" in folder or "\x00" in folder):
        _fail(f"delegate serialize dir {folder!r} is not an absolute device path on one line",
              "pass e.g. --delegate-serialize-dir /data/local/tmp/devlab/gpu-cache")
    for name, shape, path in options.input_value_files:
        if not name or "," in name or not path.startswith("/") or any(c in path for c in ",:\n\x00"):
            _fail(f"input value file {name!r}:{path!r} cannot be passed to benchmark_model",
                  "use input names without ',' and absolute device paths without ',' or ':'")
    for name in ("result_file_path", "runtime_info_file", "output_filepath"):
        target = getattr(options, name)
        if target is not None and (not target.startswith("/") or "\n" in target or "\x00" in target):
            _fail(f"{name} {target!r} is not an absolute device path on one line",
                  "pass e.g. /data/local/tmp/devlab/out/results.pb")
    if options.delegate_serialize_token and not _TOKEN.match(options.delegate_serialize_token):
        _fail(f"serialize token {options.delegate_serialize_token!r} has characters other than A-Z a-z 0-9 _ . -",
              "use the model's sha256 as the token")
    if options.taskset_mask is not None and (not _TASKSET_MASK.match(options.taskset_mask)
                                             or int(options.taskset_mask, 16) == 0):
        _fail(f"taskset mask {options.taskset_mask!r} is not a non-zero hex CPU mask",
              "pass e.g. --taskset f0 for CPUs 4-7")


def _flag(name: str, value: object) -> str:
    if isinstance(value, bool):
        return f"--{name}={'true' if value else 'false'}"
    return f"--{name}={value}"


def _classic_pairs(options: BenchmarkOptions) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    if options.use_gpu:
        pairs.append(("use_gpu", True))
        if options.gpu_precision:
            pairs.append(("gpu_precision_loss_allowed", options.gpu_precision == "fp16"))
        if options.gpu_backend:
            pairs.append(("gpu_backend", options.gpu_backend))
    if options.require_full_delegation:
        pairs.append(("require_full_delegation", True))
    if options.enable_op_profiling:
        pairs.append(("enable_op_profiling", True))
        if options.op_profiling_output_mode:
            pairs.append(("op_profiling_output_mode", options.op_profiling_output_mode))
        if options.op_profiling_output_file:
            pairs.append(("op_profiling_output_file", options.op_profiling_output_file))
    if options.delegate_serialize_dir:
        pairs += [("delegate_serialize_dir", options.delegate_serialize_dir),
                  ("delegate_serialize_token", options.delegate_serialize_token)]
    if options.result_file_path:
        pairs.append(("result_file_path", options.result_file_path))
    if options.runtime_info_file:
        pairs += [("export_model_runtime_info", True), ("model_runtime_info_output_file", options.runtime_info_file)]
    return pairs + _output_pairs(options)


def _output_pairs(options: BenchmarkOptions) -> list[tuple[str, object]]:
    """benchmark_tflite_model.cc: --input_layer / --input_layer_shape name the inputs in order (a value file is
    looked up by its name there; ':' in a name is escaped as '::'), --output_filepath is OutputSaver's file.
    LiteRT's tool has none of these flags: asked of it, the dialect check refuses them before the run."""
    pairs: list[tuple[str, object]] = []
    files = options.input_value_files
    if files:
        pairs += [("input_layer", ",".join(name for name, _, _ in files)),
                  ("input_layer_shape", ":".join(",".join(str(d) for d in shape) for _, shape, _ in files)),
                  ("input_layer_value_files", ",".join(f"{name.replace(':', '::')}:{path}"
                                                       for name, _, path in files))]
    if options.output_filepath:
        pairs.append(("output_filepath", options.output_filepath))
    return pairs


def _litert_pairs(options: BenchmarkOptions) -> list[tuple[str, object]]:
    pairs: list[tuple[str, object]] = []
    if options.use_gpu:
        pairs.append(("use_gpu", True))
        if options.gpu_precision:
            pairs.append(("gpu-precision", options.gpu_precision))
        if options.gpu_backend == "gl":
            pairs.append(("gpu_backend", "opengl"))   # "cl": OpenCL is what the tool uses on Android anyway
    if options.require_full_delegation:
        # CreateCompiledModelOptions aborts when full delegation is asked with the CPU accelerator on (default)
        pairs += [("require_full_delegation", True), ("use_cpu", False)]
    if options.enable_op_profiling:
        if options.op_profiling_output_mode not in (None, "stdout"):
            raise UsageError(f"LiteRT's benchmark_model has no op-profiling {options.op_profiling_output_mode} "
                             f"output (its --use_profiler prints a summary)", "use op_profiling_output_mode=stdout",
                             stage="benchmark options")
        pairs.append(("use_profiler", True))
    if options.delegate_serialize_dir:
        pairs += [("gpu_serialization_dir", options.delegate_serialize_dir),
                  ("gpu_model_cache_key", options.delegate_serialize_token)]
    if options.result_file_path:
        pairs.append(("result_file_path", options.result_file_path))
    if options.runtime_info_file:
        pairs.append(("model_runtime_info_output_file", options.runtime_info_file))
    return pairs + _output_pairs(options)


def tool_argv(binary: str, options: BenchmarkOptions, dialect: ToolDialect | None = None) -> list[str]:
    """argv in the dialect of the binary; a taskset mask becomes a `taskset <mask>` prefix. With a dialect, a flag
    its --help does not list is a ToolError here, before anything runs. Without one: the classic tool, unchecked."""
    pairs: list[tuple[str, object]] = [("graph", options.graph)]
    for name in ("num_runs", "warmup_runs", "min_secs", "max_secs", "warmup_min_secs", "num_threads"):
        value = getattr(options, name)
        if value is not None:
            pairs.append((name, value))
    pairs += _litert_pairs(options) if dialect is not None and dialect.kind == "litert" else _classic_pairs(options)
    if options.report_peak_memory_footprint:
        pairs.append(("report_peak_memory_footprint", True))
    if dialect is not None:
        missing = [name for name, _ in pairs if not dialect.takes(name)]
        if missing:
            raise ToolError(f"this benchmark_model ({dialect.kind}{', ' + dialect.version if dialect.version else ''})"
                            f" does not take {', '.join('--' + m for m in missing)}",
                            "use a newer build (devlab tools fetch benchmark_model), or leave out the option that "
                            "needs it", stage="benchmark options")
    argv: list[str] = ["taskset", options.taskset_mask] if options.taskset_mask else []
    return argv + [binary] + [_flag(name, value) for name, value in pairs]


def classic_argv(binary: str, options: BenchmarkOptions) -> list[str]:
    """argv for the classic tool, unchecked (tool_argv without a dialect)."""
    return tool_argv(binary, options)
