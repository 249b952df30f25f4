"""The measurement plan on this machine: each variant on each available accelerator, logs kept in the run folder.

LiteRT's Python API has no profiler hook, so a host run is a clean latency run only; the variant's predicted
delegation comes from the build, and what the runtime reported (fully accelerated or not, its log) is kept.
Each (variant, accelerator) runs in its own child process (devlab.bench.host_child): a native crash or a model
the runtime refuses fails that row with one line, its log is kept, and the next row goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from devlab.bench.host_child import run_in_child
from devlab.bench.host_runtime import NO_GPU_REASON, Accelerator, GpuUnavailable, HostBenchOptions
from devlab.bench.settling import settle_in
from devlab.build.pipeline import Manifest
from devlab.errors import DevlabError, DeviceError
from devlab.numerics.check import OutputCheck
from devlab.numerics.host_outputs import check_on_host
from devlab.provenance import MEASURED
from devlab.report.run_record import ResultHook, Timing, VariantRows, VariantRun
from devlab.trace.host_trace import GRANULARITY, HostTrack, write_host_trace

HOST_TRACE = "host.perfetto-trace"

Progress = Callable[[str, str], None]   # (variant, accelerator)


def require_accelerators(has_gpu: bool, accelerators: tuple[Accelerator, ...] | list[Accelerator]) -> None:
    """`--accelerator gpu` asks for GPU numbers only: with no GPU adapter there is nothing to measure, so the run
    stops before the build (exit 1). With `all`, GPU runs are skipped with one note and CPU goes on."""
    if "gpu" in accelerators and "cpu" not in accelerators and not has_gpu:
        raise DeviceError(f"--accelerator gpu: {NO_GPU_REASON}",
                          "run on a machine with a Vulkan-capable GPU, or pass --accelerator cpu (or all)",
                          device="host")


def run_manifest_on_host(manifest: Manifest, accelerators: list[Accelerator], options: HostBenchOptions,
                         run_dir: Path, progress: Progress = lambda v, a: None,
                         gpu_missing_reason: str | None = None,
                         on_result: ResultHook = lambda result: None,
                         check: OutputCheck | None = None) -> tuple[list[VariantRun], list[str]]:
    """Returns the per-variant results and notes (e.g. 'no GPU on this machine'), never raising for one variant.
    With `gpu_missing_reason` set (the device probe found no adapter) GPU runs are not attempted: said once.
    `on_result` sees each row as soon as it is final (the runner saves run.json after each)."""
    results = VariantRows(on_result)

    notes: list[str] = []
    tracks: list[HostTrack] = []
    if gpu_missing_reason and "gpu" in accelerators:
        accelerators = [a for a in accelerators if a != "gpu"]
        notes.append(f"GPU runs skipped: {gpu_missing_reason}")
    for variant in manifest.variants:
        for accelerator in accelerators:
            progress(variant.name, accelerator)
            base = dict(variant=variant.name, accelerator=accelerator, model_sha256=variant.sha256,
                        model_bytes=variant.bytes, delegation_predicted=variant.delegation if accelerator == "gpu"
                        else None)
            if accelerator == "gpu" and gpu_missing_reason:
                results.add(VariantRun(status="skipped", error=gpu_missing_reason, **base))
                continue
            log_name = f"logs/{variant.name}-{accelerator}.log"
            try:
                result = run_in_child(variant.path, accelerator, options, run_dir / log_name)
            except GpuUnavailable as exc:
                gpu_missing_reason = exc.problem
                notes.append(f"GPU runs skipped: {exc.problem}")
                results.add(VariantRun(status="skipped", error=exc.problem, logs={"runtime": log_name}, **base))
                continue
            except DevlabError as exc:   # a crash, a refusal or a hang: this row fails, the others go on
                results.add(VariantRun(status="failed", error=exc.one_line(), logs={"runtime": log_name}, **base))
                continue
            tracks.append(HostTrack(f"{variant.name} on {accelerator}", result.run_spans_ns))
            reported = {"source": MEASURED, "fully_accelerated": result.fully_accelerated,
                        "accelerator": accelerator} if accelerator == "gpu" else None
            logs = {"runtime": log_name, "trace": HOST_TRACE}
            numerics = None
            if check is not None:   # one more short run in its own child: the timed runs stay clean
                numerics, logs["outputs"] = check_on_host(check, variant, accelerator, options, run_dir)
            extra: dict = {"threads": result.threads}
            settling = settle_in(result.latency.samples_ms)
            if settling is not None:   # measured two regimes: said on the row and in the run's notes
                extra["settling"] = {"source": MEASURED, **settling.to_json()}   # from the timed runs
                notes.append(f"{variant.name} on {accelerator}: {settling.note(result.latency.count)}")
            results.add(VariantRun(
                status="ok",
                timing=Timing(MEASURED, result.init_ms, result.first_run_ms, result.latency),
                delegation_reported=reported, logs=logs, extra=extra, numerics=numerics,
                **base,
            ))
    if tracks:
        write_host_trace(run_dir / HOST_TRACE, tracks)
        notes.append(f"host trace {HOST_TRACE}: {GRANULARITY} slices (LiteRT's Python API exposes no per-op "
                     "profiler; per-op timing comes from a phone's op-profile run)")
    return results.rows, notes
