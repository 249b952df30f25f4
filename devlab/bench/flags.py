"""Options for one classic benchmark_model invocation, validated, and the argv that runs it.

The argv is a list, never a shell string: the device layer quotes it. Flags the user did not set are left out so
the binary's own defaults apply (and the run records what it was actually asked).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from devlab.errors import UsageError

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


def classic_argv(binary: str, options: BenchmarkOptions) -> list[str]:
    """argv for the classic tool; a taskset mask becomes a `taskset <mask>` prefix. (Options validate on creation.)"""
    argv: list[str] = ["taskset", options.taskset_mask] if options.taskset_mask else []
    argv += [binary, _flag("graph", options.graph)]
    for name in ("num_runs", "warmup_runs", "min_secs", "max_secs", "warmup_min_secs", "num_threads"):
        value = getattr(options, name)
        if value is not None:
            argv.append(_flag(name, value))
    if options.use_gpu:
        argv.append(_flag("use_gpu", True))
        if options.gpu_precision:
            argv.append(_flag("gpu_precision_loss_allowed", options.gpu_precision == "fp16"))
        if options.gpu_backend:
            argv.append(_flag("gpu_backend", options.gpu_backend))
    if options.require_full_delegation:
        argv.append(_flag("require_full_delegation", True))
    if options.enable_op_profiling:
        argv.append(_flag("enable_op_profiling", True))
        if options.op_profiling_output_mode:
            argv.append(_flag("op_profiling_output_mode", options.op_profiling_output_mode))
        if options.op_profiling_output_file:
            argv.append(_flag("op_profiling_output_file", options.op_profiling_output_file))
    if options.delegate_serialize_dir:
        argv.append(_flag("delegate_serialize_dir", options.delegate_serialize_dir))
        argv.append(_flag("delegate_serialize_token", options.delegate_serialize_token))
    if options.report_peak_memory_footprint:
        argv.append(_flag("report_peak_memory_footprint", True))
    return argv
