"""Benchmark: what running each host variant in a child process costs, and that its latency figures do not move
(not a test).

    PYTHONPATH=. .venv/bin/python benchmarks/host_child_bench.py [--rounds 5] [--min-secs 1] [--threads 1]

devlab runs every host benchmark in a child process (devlab.bench.host_child) so a LiteRT crash ends one variant,
not the run. For each model (LiteRT's add_10x10 test model, where fixed costs dominate, and the 403 KB torchaudio
conformer, ~0.1 s per CPU run here) it alternates, `--rounds` times: the in-process session
(`run_host_benchmark`, in this process, LiteRT already imported by a warm-up call, as the second variant of a run
finds it) and the same session through `run_in_child` (spawn + interpreter + imports + load). It prints, side by
side from the same run: wall time per variant call and the child's extra cost (ms and ratio), init (load) time, and
the median and minimum latency of each side with their ratios, which should stay ~1.00x: the timed loop runs
inside the child either way (the minimum is the steadier figure on a shared machine).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from devlab.bench.host_child import run_in_child
from devlab.bench.host_runtime import HostBenchOptions, HostBenchResult, run_host_benchmark

MODELS = ("litert/add_10x10.tflite", "litert/torchaudio_conformer.tflite")


def _timed(call) -> tuple[float, HostBenchResult]:
    start = time.perf_counter()
    result = call()
    return (time.perf_counter() - start) * 1e3, result


def _children_cpu_ms() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (usage.ru_utime + usage.ru_stime) * 1e3


def bench_model(path: Path, options: HostBenchOptions, rounds: int, log: Path) -> dict[str, list[float]]:
    run_host_benchmark(path, "cpu", options)   # warm-up: imports LiteRT in this process, as a run's 2nd variant
    figures: dict[str, list[float]] = {key: [] for key in
                                       ("wall_in", "wall_child", "cpu_child", "init_in", "init_child",
                                        "median_in", "median_child", "min_in", "min_child")}
    for _ in range(rounds):   # alternating, so drift on this shared machine hits both sides alike
        wall, result = _timed(lambda: run_host_benchmark(path, "cpu", options))
        figures["wall_in"].append(wall)
        figures["init_in"].append(result.init_ms)
        figures["median_in"].append(result.latency.median_ms or 0.0)
        figures["min_in"].append(result.latency.min_ms or 0.0)
        cpu_before = _children_cpu_ms()
        wall, result = _timed(lambda: run_in_child(path, "cpu", options, log))
        figures["cpu_child"].append(_children_cpu_ms() - cpu_before)
        figures["wall_child"].append(wall)
        figures["init_child"].append(result.init_ms)
        figures["median_child"].append(result.latency.median_ms or 0.0)
        figures["min_child"].append(result.latency.min_ms or 0.0)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--min-secs", type=float, default=1.0)
    # one thread by default: two XNNPACK threads on 2 shared cores make medians swing more than anything measured here
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fixtures", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" /
                        "fixtures" / "real" / "models")
    args = parser.parse_args()
    options = HostBenchOptions(num_runs=10, warmup_runs=2, min_secs=args.min_secs, max_secs=args.min_secs * 2,
                               num_threads=args.threads)
    print(f"{args.rounds} alternating rounds per model, CPU, {args.threads} thread(s), min_secs={args.min_secs}; "
          f"medians of the rounds")
    print(f"{'model':<28} {'wall in-proc':>12} {'wall child':>11} {'child cost':>11} {'ratio':>6} "
          f"{'child CPU':>10} {'init in/child ms':>17} {'median latency in/child ms':>27} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            f = bench_model(args.fixtures / name, options, args.rounds, Path(tmp) / "child.log")
            m = {key: statistics.median(values) for key, values in f.items()}
            print(f"{Path(name).name:<28} {m['wall_in']:>10.0f}ms {m['wall_child']:>9.0f}ms "
                  f"{m['wall_child'] - m['wall_in']:>9.0f}ms {m['wall_child'] / m['wall_in']:>5.2f}x "
                  f"{m['cpu_child']:>8.0f}ms {m['init_in']:>8.1f}/{m['init_child']:<8.1f} "
                  f"{m['median_in']:>13.4f}/{m['median_child']:<13.4f} {m['median_child'] / m['median_in']:>5.2f}x "
                  f"{m['min_in']:>11.4f}/{m['min_child']:<12.4f} {m['min_child'] / m['min_in']:>5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
