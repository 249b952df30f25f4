"""Real-GPU measurement of the zoo's fp32 / fp16 / gpu variants with LiteRT's GPU accelerator.

Two steps, because the GPU machine has no TensorFlow:
  build    (here, with TF):  python benchmarks/gpu_bench.py build models/build/gpu
           converts every zoo model's variants and writes <model>__<variant>.tflite plus predictions.json
           (devlab's gpu_compat plan for each file).
  build-full (here):  python benchmarks/gpu_bench.py build-full models/build/gpu-full fp32|gpu-fp32|gpu
           the full-size SD 1.4 UNet (SD14_FULL, constant weights, one variant per process), gzip-compressed,
           measured on the GPU only.
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

from devlab.build.rewrites import GPU_RECIPE  # noqa: E402 (after the sys.path line)

# The `gpu` recipe's graph rewrites (everything but the converter-level fp16).
GPU_REWRITES = tuple(name for name in GPU_RECIPE if name != "fp16")
# variant name -> (rewrite recipes, quantization). `gpu-fp32` separates the rewrites' effect from fp16's.
VARIANTS: dict[str, tuple[tuple[str, ...], str]] = {
    "fp32": ((), "none"),
    "fp16": ((), "fp16"),
    "gpu-fp32": (GPU_REWRITES, "none"),
    "gpu": (GPU_REWRITES, "fp16"),
}
# Full-size SD 1.4 UNet (SD14_FULL, constant weights): GPU only, a few runs (the naive one is seconds per run).
FULL_UNET = "sd14-full"
FULL_VARIANTS = ("fp32", "gpu-fp32", "gpu")
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
            converted = convert_keras(keras_model, quantization)
            data = converted.data
            path = out_dir / f"{model_name}__{variant}.tflite"
            path.write_bytes(data)
            plan = plan_gpu_delegation(read_tflite(data))
            predictions[path.name] = {"model": model_name, "variant": variant, "recipes": list(recipes),
                                      "quantization": quantization,
                                      "fixups": [entry["name"] for entry in converted.fixups],
                                      "ops": plan.ops_on_gpu + plan.ops_on_cpu, **plan.to_json()}
            print(f"{path.name}: {len(data)} bytes, predicted {plan.ops_on_gpu} GPU / {plan.ops_on_cpu} CPU",
                  flush=True)
            # Written after every file: a build cut short still leaves a usable predictions.json.
            (out_dir / "predictions.json").write_text(json.dumps(predictions, indent=1))


def build_full(out_dir: Path, variant: str) -> None:
    """One variant of the full-size SD 1.4 UNet with constant weights, written gzip-compressed (constant weights
    shrink ~1000x) with its prediction in predictions-<model>__<variant>.json. Converted through
    devlab.build.constant_weights (weights stay splat constants until the flatbuffer is written: peak ~11 GB for
    fp32, ~18 GB for the fp16 `gpu` variant on this machine); one variant per process."""
    import gzip

    from devlab.build.constant_weights import convert_keras_constant_weights
    from devlab.build.gpu_compat import plan_gpu_delegation
    from devlab.build.rewrites import graph_options_for
    from devlab.build.tflite_graph import read_tflite
    from devlab.zoo.sd_unet import SD14_FULL, build_sd_unet

    recipes, quantization = VARIANTS[variant]
    keras_model = build_sd_unet(graph_options_for(recipes), None, SD14_FULL)
    params = int(keras_model.count_params())
    data = convert_keras_constant_weights(keras_model, quantization).data
    del keras_model
    name = f"{FULL_UNET}__{variant}.tflite"
    plan = plan_gpu_delegation(read_tflite(data))
    out_dir.mkdir(parents=True, exist_ok=True)
    with gzip.open(out_dir / f"{name}.gz", "wb", compresslevel=1) as handle:
        handle.write(data)
    prediction = {name: {"model": FULL_UNET, "variant": variant, "recipes": list(recipes), "quantization": quantization,
                         "parameters": params, "bytes": len(data), "gpu_only": True,
                         "ops": plan.ops_on_gpu + plan.ops_on_cpu, **plan.to_json()}}
    (out_dir / f"predictions-{name}.json").write_text(json.dumps(prediction, indent=1))
    print(f"{name}.gz: {(out_dir / f'{name}.gz').stat().st_size} bytes compressed", flush=True)
    print(f"{name}: {params} parameters, {len(data)} bytes, predicted {plan.ops_on_gpu} GPU / {plan.ops_on_cpu} CPU",
          flush=True)


def _load_predictions(model_dir: Path) -> dict[str, dict]:
    """predictions.json plus the full-size ones; gzip-compressed models are unpacked next to themselves."""
    import gzip
    import shutil

    predictions: dict[str, dict] = {}
    for path in sorted(model_dir.glob("predictions*.json")):
        predictions.update(json.loads(path.read_text()))
    for name in predictions:
        packed = model_dir / f"{name}.gz"
        if packed.is_file() and not (model_dir / name).is_file():
            with gzip.open(packed, "rb") as source, open(model_dir / name, "wb") as target:
                shutil.copyfileobj(source, target, 64 << 20)
    return predictions


def measure(model_dir: Path, out_file: Path) -> None:
    from devlab.bench.host_runtime import HostBenchOptions, run_host_benchmark
    from devlab.errors import DevlabError

    predictions = _load_predictions(model_dir)
    small = HostBenchOptions(num_runs=20, warmup_runs=3, min_secs=1.0, max_secs=6.0, max_runs=200)
    big = HostBenchOptions(num_runs=5, warmup_runs=1, min_secs=0.0, max_secs=30.0, max_runs=10)
    rows = []
    for name, predicted in predictions.items():
        row: dict[str, object] = {"file": name, "model": predicted["model"], "variant": predicted["variant"],
                                  "predicted": {k: predicted[k] for k in ("ops", "ops_on_gpu", "ops_on_cpu",
                                                                          "applied", "partitions", "cpu_ops")}}
        gpu_only = bool(predicted.get("gpu_only"))
        native_logs: dict[str, str] = {}
        options = big if gpu_only else small
        for accelerator in ("gpu",) if gpu_only else ("gpu", "cpu"):
            try:
                result = run_host_benchmark(model_dir / name, accelerator, options)
            except (DevlabError, RuntimeError) as exc:  # RuntimeError: LiteRT's own "Failed to invoke"
                message = exc.one_line() if isinstance(exc, DevlabError) else f"RuntimeError: {exc}"
                row[accelerator] = {"error": message}
                print(f"{name} {accelerator}: {message}", flush=True)
                continue
            latency = asdict(result.latency)
            latency.pop("samples_ms")
            row[accelerator] = {"fully_accelerated": result.fully_accelerated, "init_ms": result.init_ms,
                                "first_run_ms": result.first_run_ms, "threads": result.threads,
                                "latency": latency, "samples_ms": list(result.latency.samples_ms),
                                "log_lines": _delegate_lines(result.native_log)}
            native_logs[accelerator] = result.native_log
            print(f"{name} {accelerator}: median {result.latency.median_ms:.3f} ms, min {result.latency.min_ms:.3f}"
                  f" (n={result.latency.count}), fully_accelerated={result.fully_accelerated}", flush=True)
        gpu = row.get("gpu", {})
        if isinstance(gpu, dict) and "log_lines" in gpu:
            # is_fully_accelerated() said True for graphs the delegate split (seen on sd-block fp32), so the
            # runtime's partition line is the evidence; no such line means the whole graph went to the GPU.
            # Searched in the whole log: the kept lines stop at 80, and a long unsupported-op list fills them.
            split = _runtime_split(native_logs["gpu"].splitlines())
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
        # MEDIUM_UNET only on request: its fp32 file (61 MB of random weights) alone fills the 64 MiB that
        # travels to the GPU machine.
        models = argv[2:] or ["sd-block", "sd-unet", "clip-text", "mobilenet-v2"]
        build(Path(argv[1]), models)
        return 0
    if len(argv) == 3 and argv[0] == "build-full" and argv[2] in FULL_VARIANTS:
        build_full(Path(argv[1]), argv[2])
        return 0
    if len(argv) == 3 and argv[0] == "measure":
        measure(Path(argv[1]), Path(argv[2]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
