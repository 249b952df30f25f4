"""Benchmark: our streaming `analyze` vs raw protobuf decoding of the same generated trace (not a test).

    PYTHONPATH=. .venv/bin/python benchmarks/trace_reader_bench.py [--size-mb 100] [--keep PATH] [--repeat 3]

Generates a trace with perfetto's real protos (ATrace slices of a benchmark thread, sched switches, GPU frequency,
GPU render stages), then, each in a fresh subprocess so peak RSS is per task: raw decode (`Trace.ParseFromString`
of the whole file, upb) and `devlab.trace.analysis.analyze`, alternating, `--repeat` times each, timing only the
work (imports come first); the fastest run of each counts. Prints speeds, the ratio (goal >= 0.5x raw) and peak
memory against the file size (goal <= 2x).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MS = 1_000_000
KERNELS = ("convolution_2d 0 -> relu 1", "depthwise_convolution 2", "convolution_2d 3", "add 4", "mean 5",
           "fully_connected 6", "softmax 7")

_CHILD = r"""
import json, resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
# imports first, so both sides time only the work on the file
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
from devlab.trace.analysis import analyze
start = time.perf_counter()
if mode == "raw":
    with open(path, "rb") as f:
        trace = Trace.FromString(f.read())
    n = len(trace.packet)
elif mode == "raw-stream":
    # the bounded-memory way to decode: a fresh TracePacket per length-delimited record (perfetto.md)
    import mmap
    from google.protobuf.internal.decoder import _DecodeVarint32
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket
    n = 0
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos, end = 0, len(data)
        while pos < end:
            tag, pos = _DecodeVarint32(data, pos)
            length, pos = _DecodeVarint32(data, pos)
            if tag == 0x0A:
                TracePacket.FromString(data[pos:pos + length])
                n += 1
            pos += length
else:
    n = analyze(path).packets
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "packets": n,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(path: Path, size_mb: float) -> None:
    from devlab.trace.config import build_config, parse_config
    from devlab.trace.writer import TraceWriter
    target = size_mb * 1e6
    with open(path, "wb") as out:
        w = TraceWriter(out, bundle_events=256)
        w.trace_config(parse_config(build_config().text))
        w.process(5000, "/data/local/tmp/benchmark_model", {5000: "benchmark_model"})
        t = 1_000 * MS
        run = 0
        while out.tell() < target:
            w.sched_switch(4, t, (0, "swapper/4"), (5000, "benchmark_model"))
            w.gpu_frequency(t, 585_000 if run % 50 < 40 else 490_000)
            w.atrace_begin(4, t, 5000, 5000, "Invoke")
            for node in range(8):
                w.atrace_begin(4, t + node * 100_000, 5000, 5000, f"CONV_2D@{node}/0")
                w.atrace_end(4, t + node * 100_000 + 90_000, 5000, 5000)
            w.atrace_begin(4, t + MS, 5000, 5000, "TfLiteGpuDelegateV2@8/0")
            for i, label in enumerate(KERNELS):
                w.gpu_render_stage(t + MS + i * 200_000, 150_000 + 1_000 * (run % 7), label, submission_id=run)
            w.atrace_end(4, t + 3 * MS, 5000, 5000)
            w.atrace_end(4, t + 3 * MS + 50_000, 5000, 5000)
            w.sched_switch(4, t + 3 * MS + 60_000, (5000, "benchmark_model"), (0, "swapper/4"))
            t += 4 * MS
            run += 1
        w.flush()


def measure(mode: str, path: Path) -> dict[str, float]:
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path)], capture_output=True, text=True,
                            env={"PYTHONPATH": str(repo)}, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--keep", type=Path, default=None, help="write the generated trace here and keep it")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each, alternating; the fastest of each counts (shared machines are noisy)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench.perfetto-trace"
        started = time.perf_counter()
        generate(path, args.size_mb)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {size_mb:.1f} MB in {time.perf_counter() - started:.1f} s: {path}")
        runs: dict[str, list[dict[str, float]]] = {"raw": [], "raw-stream": [], "analyze": []}
        for _ in range(max(1, args.repeat)):
            for mode in runs:
                runs[mode].append(measure(mode, path))
        best = {mode: min(results, key=lambda r: r["seconds"]) for mode, results in runs.items()}
        print(f"fastest of {args.repeat} runs each; all seconds: "
              + ", ".join(f"{mode} {[round(r['seconds'], 2) for r in results]}" for mode, results in runs.items()))
        labels = {"raw": "raw decode, whole file in one message", "raw-stream": "raw decode, packet by packet",
                  "analyze": "devlab analyze (streaming)"}
        speed = {mode: size_mb / best[mode]["seconds"] for mode in runs}
        for mode, result in best.items():
            print(f"{labels[mode]:38s}: {result['seconds']:.2f} s  {speed[mode]:7.1f} MB/s  "
                  f"peak RSS {result['peak_rss_mb']:.0f} MB  ({result['packets']} packets)")
        memory = best["analyze"]["peak_rss_mb"] / size_mb
        for mode in ("raw", "raw-stream"):
            ratio = speed["analyze"] / speed[mode]
            print(f"speed ratio analyze / {labels[mode]} = {ratio:.2f}x "
                  f"(goal >= 0.5x: {'met' if ratio >= 0.5 else 'NOT met'})")
        print(f"analyze peak RSS / file size = {memory:.2f}x (goal <= 2x: {'met' if memory <= 2 else 'NOT met'}; "
              "RSS includes the Python interpreter and imports)")


if __name__ == "__main__":
    main()
