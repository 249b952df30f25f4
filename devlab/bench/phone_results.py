"""What a phone run's benchmark_model gave, turned into devlab's records: timing from the tool's BenchmarkResult (or
its log), GPU delegation from ModelRuntimeDetails, the failure line, and the refusal of a run whose tool ignored
flags. Used by the phone plan (devlab/bench/phone_plan.py).
"""

from __future__ import annotations

from devlab.bench.log_result import BenchmarkRun, Delegation
from devlab.bench.results_proto import BenchmarkResult, SubgraphDelegation
from devlab.bench.stats import LatencyStats
from devlab.errors import ToolError
from devlab.provenance import Source
from devlab.report.run_record import Timing


def timing_from_result(result: BenchmarkResult, run: BenchmarkRun, source: Source) -> Timing:
    """The tool's BenchmarkResult proto first: mean, median, p5, p95, min, max, std, init and first inference."""
    lat = result.latency
    count = int(result.misc.get("num_runs") or (run.inference.count if run.inference else 0))
    if lat("avg_ms") is None or count < 1:
        raise ToolError("the result file has no inference latency", "see the clean log in the run folder",
                        stage="parse")
    latency = LatencyStats(source=source, count=count, mean_ms=float(lat("avg_ms")), median_ms=lat("median_ms"),
                           p90_ms=None, min_ms=lat("min_ms"), max_ms=lat("max_ms"), std_ms=lat("stddev_ms"),
                           samples_ms=(), p5_ms=lat("p5_ms"), p95_ms=lat("p95_ms"))
    return Timing(source, lat("init_ms"), lat("first_inference_ms"), latency)


def delegation_from_runtime(subgraphs: tuple[SubgraphDelegation, ...]) -> Delegation:
    """GPU delegation as the runtime applied it (ModelRuntimeDetails), summed over subgraphs."""
    gpu_names = ("LITERT_CL", "TfLiteGpuDelegateV2", "LITERT_GL", "LITERT_WEBGPU")
    on_gpu = sum(len(r) for sg in subgraphs for d, _, r in sg.delegates if d in gpu_names)
    total = sum(sg.nodes - len(sg.delegates) for sg in subgraphs)
    partitions = sum(1 for sg in subgraphs for d, _, _ in sg.delegates if d in gpu_names)
    applied = "full" if on_gpu == total and total else ("partial" if on_gpu else "none")
    return Delegation(delegate="gpu", applied=applied, ops_on_delegate=on_gpu, ops_on_cpu=total - on_gpu,
                      partitions=partitions)


def timing_from_log(run: BenchmarkRun, source: Source) -> Timing:
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


def failure(run: BenchmarkRun, exit_code: int, what: str) -> str:
    # the parser's most specific error line (`Disallowed CPU fallback detected.`), not `Benchmarking failed.`
    reason = run.failure_reason or (run.errors[-1] if run.errors else f"exit {exit_code}, status {run.status}")
    return f"{what}: {reason}"


def refuse_unconsumed(log: str, name: str, device: str) -> None:
    """A flag the tool ignored means the run measured something else than asked: an error naming the flag."""
    for line in log.splitlines():
        _, found, flags = line.partition("Unconsumed cmdline flags:")
        if found:
            raise ToolError(f"benchmark_model ignored {flags.strip()} in the {name} run (Unconsumed cmdline flags)",
                            "this build does not take that flag: use a newer benchmark_model (devlab tools fetch "
                            "benchmark_model) or leave out the option", device=device, stage=name)
