"""Real-GPU measurement of the zoo's fp32 / fp16 / gpu variants with LiteRT's GPU accelerator.

Two steps, because the GPU machine has no TensorFlow:
  build    (here, with TF):  python benchmarks/gpu_bench.py build models/build/gpu
           converts every zoo model's variants and writes <model>__<variant>.tflite plus predictions.json
           (devlab's gpu_compat plan for each file).
  measure  (GPU machine, no TF):  python benchmarks/gpu_bench.py measure models/build/gpu OUT.json
           runs each file with LiteRT CompiledModel on GPU|CPU (GpuOptions(benchmark_mode=True)) and on CPU
           (devlab.bench.host_runtime), keeps what the runtime said (is_fully_accelerated, delegate log lines),
           and prints per variant: predicted ops on GPU/CPU, runtime verdict, latency stats.
Every latency here is `measured` on the machine that ran `measure`; predictions are `estimated`.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# variant name -> (rewrite recipes, quantization). `gpu-fp32` separates the rewrites' effect from fp16's.
VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    "fp32": ((), "none"),
    "fp16": ((), "fp16"),
    "gpu-fp32": (("groupnorm-4d", "gelu-builtin", "attention-4d", "upsample-resize"), "none"),
    "gpu": (("groupnorm-4d", "gelu-builtin", "attention-4d", "upsample-resize"), "fp16"),
}
# Extra bench-only size: the default sd-unet is tiny for a data-center GPU; this one has SD-like widths per pixel.
MEDIUM_UNET = "sd-unet-m"

_LOG_KEEP = re.compile(r"(GPU|gpu|delegate|Delegate|accelerat|adapter|Adapter|operations|not supported|"
                       r"Not supported|partition|WebGpu|Vulkan|fallback|CPU)")


def build(out_dir: Path, models: list[str]) -> None:
    from devlab.build.convert import convert_keras
    from devlab.build.gpu_compat import plan_gpu_delegation
    from devlab.build.rewrites import graph_options_for
    from devlab.build.tflite_graph import read_tflite
    from devlab.zoo import get_zoo_model

    out_dir.mkdir(parents=True, exist_ok=True)
    predictions: dict[str, object] = {}
    for model_name in models:
        for variant, (recipes, quantization) in VARIANTS.items():
            if model_name == "mobilenet-v2" and variant == "gpu-fp32":
                continue  # no graph rewrite applies: identical to fp32
            options = graph_options_for(recipes)
            if model_name == MEDIUM_UNET:
                from devlab.zoo.sd_unet import UNetConfig, build_sd_unet
                keras_model = build_sd_unet(options, 0, UNetConfig(resolution=64, widths=(128, 256)))
            else:
                keras_model = get_zoo_model(model_name).build(options, 0)
            data = convert_keras(keras_model, quantization).data
            path = out_dir / f"{model_name}__{variant}.tflite"
            path.write_bytes(data)
            plan = plan_gpu_delegation(read_tflite(data))
            predictions[path.name] = {"model": model_name, "variant": variant, "recipes": list(recipes),
                                      "quantization": quantization, "ops": plan.ops_on_gpu + plan.ops_on_cpu,
                                      **plan.to_json()}
            print(f"{path.name}: {len(data)} bytes, predicted {plan.ops_on_gpu} GPU / {plan.ops_on_cpu} CPU",
                  flush=True)
    (out_dir / "predictions.json").write_text(json.dumps(predictions, indent=1))


def measure(model_dir: Path, out_file: Path) -> None:
    from devlab.bench.host_runtime import HostBenchOptions, run_host_benchmark
    from devlab.errors import DevlabError

    predictions = json.loads((model_dir / "predictions.json").read_text())
    options = HostBenchOptions(num_runs=20, warmup_runs=3, min_secs=1.0, max_secs=8.0, max_runs=200)
    rows = []
    for name, predicted in predictions.items():
        row: dict[str, object] = {"file": name, "model": predicted["model"], "variant": predicted["variant"],
                                  "predicted": {k: predicted[k] for k in ("ops", "ops_on_gpu", "ops_on_cpu",
                                                                          "applied", "partitions", "cpu_ops")}}
        for accelerator in ("gpu", "cpu"):
            try:
                result = run_host_benchmark(model_dir / name, accelerator, options)
            except DevlabError as exc:
                row[accelerator] = {"error": exc.one_line()}
                print(f"{name} {accelerator}: {exc.one_line()}", flush=True)
                continue
            latency = asdict(result.latency)
            latency.pop("samples_ms")
            row[accelerator] = {"fully_accelerated": result.fully_accelerated, "init_ms": result.init_ms,
                                "first_run_ms": result.first_run_ms, "threads": result.threads,
                                "latency": latency, "samples_ms": list(result.latency.samples_ms),
                                "log_lines": _delegate_lines(result.native_log)}
            print(f"{name} {accelerator}: median {result.latency.median_ms:.3f} ms, min {result.latency.min_ms:.3f}"
                  f" (n={result.latency.count}), fully_accelerated={result.fully_accelerated}", flush=True)
        gpu = row.get("gpu", {})
        if isinstance(gpu, dict) and "log_lines" in gpu:
            # is_fully_accelerated() said True for graphs the delegate split (seen on sd-block fp32), so the
            # runtime's partition line is the evidence; no such line means the whole graph went to the GPU.
            split = _runtime_split(gpu["log_lines"])
            if split is None and not gpu["fully_accelerated"]:
                # LiteRT logs the partition line once per process: without it there is no evidence.
                row["prediction_agrees"] = None
            else:
                runtime_gpu, runtime_cpu = split if split else (predicted["ops"], 0)
                gpu["runtime_ops_on_gpu"], gpu["runtime_ops_on_cpu"] = runtime_gpu, runtime_cpu
                row["prediction_agrees"] = (runtime_gpu, runtime_cpu) == (predicted["ops_on_gpu"],
                                                                          predicted["ops_on_cpu"])
        rows.append(row)
    out_file.write_text(json.dumps({"source": "measured", "rows": rows}, indent=1))
    print_table(rows)


_SPLIT = re.compile(r"(\d+) operations will run on the GPU, and the remaining (\d+) operations will run on the CPU")


def _runtime_split(lines: list[str]) -> tuple[int, int] | None:
    for line in lines:
        match = _SPLIT.search(line)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def _delegate_lines(log: str, limit: int = 80) -> list[str]:
    lines: list[str] = []
    in_list = False  # the unsupported-op list sits between these two lines and matches no keyword
    for raw in log.splitlines():
        line = raw.strip()
        if "Following operations are not supported" in line:
            in_list = True
        elif _SPLIT.search(line):
            in_list = False
        if in_list or _LOG_KEEP.search(line):
            lines.append(line)
    seen: list[str] = []
    for line in lines:  # identical lines repeat per run; keep each once
        if line not in seen:
            seen.append(line)
    return seen[:limit]


def print_table(rows: list[dict]) -> None:
    print(f"{'file':34} {'pred GPU/CPU':>13} {'runtime GPU/CPU':>15} {'is_fully_acc':>12} {'agree':>5} {'GPU median ms':>13} "
          f"{'CPU median ms':>13}")
    for row in rows:
        pred = row["predicted"]
        gpu, cpu = row.get("gpu", {}), row.get("cpu", {})
        runtime = f"{gpu.get('runtime_ops_on_gpu', '-')}/{gpu.get('runtime_ops_on_cpu', '-')}"
        print(f"{row['file']:34} {pred['ops_on_gpu']:>6}/{pred['ops_on_cpu']:<6} {runtime:>15} "
              f"{str(gpu.get('fully_accelerated', gpu.get('error', '-')))[:12]:>12} "
              f"{str(row.get('prediction_agrees', '-')):>5} "
              f"{_median(gpu):>13} {_median(cpu):>13}")


def _median(result: dict) -> str:
    latency = result.get("latency") if isinstance(result, dict) else None
    return f"{latency['median_ms']:.3f}" if latency else "-"


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "build":
        models = argv[2:] or ["sd-block", "sd-unet", "clip-text", "mobilenet-v2", MEDIUM_UNET]
        build(Path(argv[1]), models)
        return 0
    if len(argv) == 3 and argv[0] == "measure":
        measure(Path(argv[1]), Path(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
