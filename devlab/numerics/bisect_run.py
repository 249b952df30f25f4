"""`devlab numerics bisect` on a device: build the variant, pick where its probe runs (this machine's CPU or GPU
through LiteRT's CompiledModel in a child process; a phone through benchmark_model's value files and output file),
run the bisect, keep the probe, its logs and bisect.json in a folder under --out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from devlab.errors import ToolError
from devlab.fsutil import atomic_write_json
from devlab.numerics.bisect import BisectResult, RunProbe, bisect
from devlab.numerics.model_io import ModelIo, load_inputs, random_inputs, read_model_io
from devlab.provenance import MEASURED, SIMULATED


@dataclass(frozen=True)
class BisectRequest:
    model: str
    variant: str | None = None
    device: str = "host"
    accelerator: str = "gpu"
    inputs: Path | None = None
    seed: int = 0
    gpu_precision: str | None = None
    timeout_s: float = 900.0
    benchmark_model: str | None = None
    out_root: Path = Path("traces")


@dataclass(frozen=True)
class BisectOutcome:
    folder: Path
    result: BisectResult


def run_bisect(request: BisectRequest) -> BisectOutcome:
    from devlab.build.sources import resolve_model
    from devlab.build.variants import parse_variant
    from devlab.config import load_config
    from devlab.devices.adb import AdbDevice
    from devlab.devices.resolve import AdbOptions, resolve_device
    from devlab.progress import NoProgress
    from devlab.report.run_record import new_run_dir
    from devlab.runner import RunRequest, build_for_request

    source = resolve_model(request.model)   # model, variant and device are checked before any build
    variant_name = request.variant or ("as-is" if source.kind == "tflite" else "gpu")
    parse_variant(variant_name, source.kind)
    config = load_config() if request.device not in ("host", "local") else None
    target = resolve_device(request.device, AdbOptions(), config)
    phone = isinstance(target, AdbDevice)
    tool = None
    if phone:
        from devlab.bench.phone_tool import prepare_benchmark_tool
        from devlab.numerics.phone_outputs import why_unavailable
        tool = prepare_benchmark_tool(target, request.benchmark_model, config.benchmark_model if config else None)
        reason = why_unavailable(tool.dialect)
        if reason is not None:
            raise ToolError(reason, "pass --benchmark-model with a classic TFLite benchmark_model build",
                            device=target.label, stage="numerics bisect")
    else:
        from devlab.bench.host_plan import require_accelerators
        require_accelerators(target.has_gpu, (request.accelerator,))  # type: ignore[arg-type]
    _, manifest = build_for_request(RunRequest(model=request.model, device=request.device, variants=variant_name,
                                               seed=request.seed), NoProgress())
    variant = manifest.variants[0]
    data = variant.path.read_bytes()
    io = read_model_io(data)
    feeds = load_inputs(request.inputs, io) if request.inputs else random_inputs(io, request.seed)
    label = f"--inputs {request.inputs.name}" if request.inputs else f"devlab.random_inputs seed {request.seed}"
    folder = new_run_dir(request.out_root, target.info.alias or target.info.serial, f"{source.name}-bisect")
    if phone:
        run_probe = _phone_runner(target, tool, request, folder, manifest.model.name, variant.name)
        source_label = SIMULATED if target.info.simulated else MEASURED
    else:
        run_probe = _host_runner(request.accelerator, folder, request.gpu_precision == "fp32")
        source_label = MEASURED
    result = bisect(data, variant.name, target.info.alias or target.info.serial, request.accelerator, source_label,
                    feeds, label, run_probe, on_gpu_fp16=request.gpu_precision != "fp32")
    atomic_write_json(folder / "bisect.json", result.to_json())
    return BisectOutcome(folder, result)


def _host_runner(accelerator: str, folder: Path, enforce_f32: bool) -> RunProbe:
    from devlab.numerics.host_outputs import outputs_on_host

    def run(probe: bytes, io: ModelIo, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        path = folder / "probe.tflite"
        path.write_bytes(probe)
        return outputs_on_host(path, accelerator, feeds, folder / "logs" / "probe-outputs.log",  # type: ignore
                               enforce_f32=enforce_f32)
    return run


def _phone_runner(device, tool, request: BisectRequest, folder: Path, model_name: str, variant: str) -> RunProbe:
    from devlab.bench.phone_tool import PhoneBenchOptions
    from devlab.devices.adb import DEVICE_ROOT
    from devlab.numerics.phone_outputs import outputs_on_phone

    def run(probe: bytes, io: ModelIo, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        local = folder / "probe.tflite"
        local.write_bytes(probe)
        remote = f"{DEVICE_ROOT}/models/{model_name}/{variant}-probe.tflite"
        device.push(local, remote)
        options = PhoneBenchOptions(accelerators=(request.accelerator,),  # type: ignore[arg-type]
                                    gpu_precision=request.gpu_precision, timeout_s=request.timeout_s)  # type: ignore
        clean = options.benchmark_options(remote, request.accelerator, "probe")  # type: ignore[arg-type]
        (folder / "logs").mkdir(parents=True, exist_ok=True)
        outputs, _ = outputs_on_phone(device, tool.argv, clean, io, feeds, f"{variant}-probe",
                                      folder / "logs" / "probe-outputs.log", request.timeout_s)
        return outputs
    return run
