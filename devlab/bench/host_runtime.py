"""Benchmark a .tflite on this machine with the LiteRT runtime (ai-edge-litert CompiledModel).

CPU (XNNPACK) always; GPU (LiteRT's WebGPU accelerator over Vulkan) where an adapter exists. GPU runs use
GpuOptions(benchmark_mode=True) so each run waits for the GPU: without it runs return before the GPU finishes and
the timings are fiction (../shared/specs/litert_host.md). Deliberately free of TensorFlow imports: this module runs
on GPU machines that have only the LiteRT wheel.

`measure` is the timed session itself and prints nothing of its own: devlab runs it in a child process
(devlab.bench.host_child), whose native output goes straight to the variant's log. `run_host_benchmark` runs the
same session in this process, capturing that output (benchmarks/ scripts use it).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from devlab.bench.runtime_errors import explain_runtime_error
from devlab.bench.stats import LatencyStats
from devlab.errors import DevlabError, ModelError, ToolError, UsageError
from devlab.native_output import captured_native_output
from devlab.provenance import MEASURED
from devlab.random_inputs import random_input

Accelerator = Literal["cpu", "gpu"]
# CompiledModel prepares ops and delegates on the first run, not at load: a custom op or an XNNPACK refusal
# surfaces as "Failed to allocate tensors" from the first run_by_index, which is the "prepare" stage here.
Stage = Literal["load", "prepare", "run"]
NO_GPU_MARKERS = ("No adapters found", "Failed to initialize WebGPU", "Couldn't load Vulkan",
                  "Failed to get or create delegate")
NO_GPU_REASON = "no GPU adapter that LiteRT can use on this machine (needs a Vulkan GPU)"


@dataclass(frozen=True)
class HostBenchOptions:
    num_runs: int = 20
    max_runs: int = 500            # keeps run.json small for sub-millisecond models that meet min_secs slowly
    warmup_runs: int = 2
    min_secs: float = 0.5
    max_secs: float = 20.0
    # benchmark_model's default (--warmup_min_secs 0.5): a GPU can take a few hundred ms after its first runs to
    # settle (devlab/bench/settling.py), and two warm-up runs of a fast model are over long before that
    warmup_min_secs: float = 0.5
    num_threads: int = 0           # 0: the runtime decides (the Python default of 1 thread would understate CPUs)
    seed: int = 0

    def validate(self) -> None:
        if self.num_runs < 1:
            raise UsageError(f"--runs must be at least 1 (got {self.num_runs})", "pass --runs 1 or more")
        if self.warmup_runs < 0:
            raise UsageError(f"--warmup must be 0 or more (got {self.warmup_runs})", "pass --warmup 0 or more")
        if self.max_secs <= 0 or self.min_secs < 0:
            raise UsageError("--min-secs must be >= 0 and --max-secs > 0", "fix the duration options")


@dataclass(frozen=True)
class Measurement:
    """What one timed session measured; crosses the child-process boundary as JSON (floats round-trip exactly)."""
    init_ms: float
    first_run_ms: float
    run_spans_ns: tuple[tuple[int, int], ...]   # (start, duration) of each timed run, monotonic clock
    fully_accelerated: bool


@dataclass(frozen=True)
class HostBenchResult:
    model: str
    accelerator: Accelerator
    threads: int
    init_ms: float
    first_run_ms: float
    latency: LatencyStats
    fully_accelerated: bool
    native_log: str                 # what LiteRT and its delegates printed while loading and running
    run_spans_ns: tuple[tuple[int, int], ...] = ()   # (start, duration) of each timed run, for the host trace


class GpuUnavailable(ToolError):
    """This machine has no GPU adapter LiteRT can use; reported once and the run goes on with CPU."""


class RuntimeFailure(Exception):
    """LiteRT raised at one stage of a session; the caller explains it together with the runtime's log."""

    def __init__(self, stage: Stage, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message


def measure(model_path: Path, accelerator: Accelerator, options: HostBenchOptions,
            on_stage: Callable[[Stage], None] = lambda stage: None) -> Measurement:
    """Load, prepare and time the model; raises RuntimeFailure naming the stage LiteRT refused at."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import CpuOptions, GpuOptions, HardwareAccelerator, Options

    if accelerator == "gpu":
        # GPU alone fails when any op is unsupported: allow CPU fallback and report the partition.
        runtime_options = Options(HardwareAccelerator.GPU | HardwareAccelerator.CPU,
                                  cpu_options=CpuOptions(num_threads=options.num_threads),
                                  gpu_options=GpuOptions(benchmark_mode=True))
    else:
        runtime_options = Options(HardwareAccelerator.CPU, cpu_options=CpuOptions(num_threads=options.num_threads))
    stage: Stage = "load"
    failure: str | None = None
    model = inputs = outputs = None
    try:
        on_stage(stage)
        start = time.perf_counter()
        model = CompiledModel.from_file(str(model_path), options=runtime_options)
        inputs, outputs = _buffers(model, options.seed)
        init_ms = (time.perf_counter() - start) * 1e3
        stage = "prepare"
        on_stage(stage)
        first_start = time.perf_counter()
        model.run_by_index(0, inputs, outputs)
        first_run_ms = (time.perf_counter() - first_start) * 1e3
        stage = "run"
        on_stage(stage)
        _timed_loop(model, inputs, outputs, options.warmup_runs, options.warmup_min_secs, options.max_secs,
                    max(options.max_runs, options.warmup_runs))
        spans = _timed_loop(model, inputs, outputs, options.num_runs, options.min_secs, options.max_secs,
                            max(options.max_runs, options.num_runs))
        fully_accelerated = bool(model.is_fully_accelerated())
    except Exception as exc:  # LiteRT raises RuntimeError / ValueError with its status text
        failure = str(exc)
    if failure is not None:
        # Raised outside the except block, references dropped first, so no traceback keeps the half-built
        # runtime alive: its teardown log lands where this session's output goes, not at interpreter exit.
        model = inputs = outputs = None
        gc.collect()
        raise RuntimeFailure(stage, failure)
    del model, inputs, outputs   # LiteRT logs its teardown: let it land in this session's output
    return Measurement(init_ms, first_run_ms, tuple(spans), fully_accelerated)


def result_of(model_path: Path, accelerator: Accelerator, options: HostBenchOptions, measured: Measurement,
              native_log: str) -> HostBenchResult:
    samples = [duration / 1e6 for _, duration in measured.run_spans_ns]
    return HostBenchResult(
        model=str(model_path), accelerator=accelerator, threads=options.num_threads, init_ms=measured.init_ms,
        first_run_ms=measured.first_run_ms, latency=LatencyStats.from_samples(samples, MEASURED),
        fully_accelerated=measured.fully_accelerated, native_log=native_log, run_spans_ns=measured.run_spans_ns,
    )


def runtime_error(model_path: Path, accelerator: Accelerator, stage: Stage, message: str, log: str) -> DevlabError:
    """The one-line error for a session LiteRT refused: the runtime's own reason with a fix."""
    text = f"{message}\n{log}"
    if accelerator == "gpu" and any(marker in text for marker in NO_GPU_MARKERS):
        return GpuUnavailable(NO_GPU_REASON, "run on a machine with a Vulkan-capable GPU, or use --accelerator cpu",
                              stage="load")
    reason, fix = explain_runtime_error(text)
    return ToolError(f"LiteRT could not {stage} {model_path.name} on {accelerator}: {reason}", fix,
                     stage=stage)


def check_model_file(model_path: Path, options: HostBenchOptions) -> None:
    options.validate()
    if not model_path.is_file():
        raise ModelError(f"model file {model_path} does not exist", "run `devlab build` first or check the path")


def run_host_benchmark(model_path: Path, accelerator: Accelerator, options: HostBenchOptions) -> HostBenchResult:
    """The session in this process: a native crash here ends the caller too (devlab runs it in a child)."""
    check_model_file(model_path, options)
    failure: RuntimeFailure | None = None
    with captured_native_output() as capture:
        try:
            measured = measure(model_path, accelerator, options)
        except RuntimeFailure as exc:
            failure = exc
    if failure is not None:
        raise runtime_error(model_path, accelerator, failure.stage, failure.message, capture.text)
    return result_of(model_path, accelerator, options, measured, capture.text)


def _timed_loop(model, inputs, outputs, min_runs: int, min_secs: float, max_secs: float,
                max_runs: int) -> list[tuple[int, int]]:
    """At least `min_runs` runs and `min_secs` seconds, stopping once `max_secs` is exceeded or `max_runs` done.
    Returns (start, duration) in nanoseconds of the monotonic clock per run."""
    samples: list[tuple[int, int]] = []
    loop_start = time.perf_counter()
    while True:
        elapsed = time.perf_counter() - loop_start
        if len(samples) >= min_runs and elapsed >= min_secs:
            break
        if samples and (elapsed > max_secs or len(samples) >= max_runs):
            break
        if min_runs == 0 and min_secs <= 0:
            break
        start = time.monotonic_ns()
        model.run_by_index(0, inputs, outputs)
        samples.append((start, time.monotonic_ns() - start))
    return samples


def _buffers(model, seed: int):
    signatures = model.get_signature_list()
    key = next(iter(signatures))
    details = model.get_input_tensor_details(key)
    inputs = model.create_input_buffers(0)
    outputs = model.create_output_buffers(0)
    rng = np.random.default_rng(seed)
    for buffer, name in zip(inputs, signatures[key]["inputs"]):
        spec = details[name]
        buffer.write(random_input(rng, tuple(spec["shape"]), np.dtype(spec["dtype"])))
    return inputs, outputs
