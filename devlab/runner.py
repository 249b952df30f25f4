"""`devlab run`: build the variants, measure them on the chosen device, write the run folder.

The flow is one direction (DESIGN.md): build -> deploy -> measure -> parse -> attribute -> report. This module
only sequences it; each step lives in its own module.
"""

from __future__ import annotations

import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devlab.bench.host_runtime import Accelerator, HostBenchOptions
from devlab.bench.phone_tool import BenchmarkTool, PhoneBenchOptions
from devlab.build.input_shapes import RequestedShape
from devlab.build.pipeline import Manifest, build_notes, build_variants, default_build_dir
from devlab.build.sources import ModelSource, resolve_model
from devlab.build.variants import parse_variants
from devlab.devices.resolve import AdbOptions
from devlab.errors import Interrupted
from devlab.progress import NoProgress, ProgressSink
from devlab.versions import package_version
from devlab.report.html import write_report
from devlab.report.run_record import PARTIAL_NOTE, ResultHook, RunRecord, VariantRun, new_run_dir, utc_now_iso



@dataclass(frozen=True)
class RunRequest:
    model: str
    device: str = "host"
    variants: str | None = None
    out_root: Path = Path("traces")
    build_root: Path = Path(".")
    bench: HostBenchOptions = field(default_factory=HostBenchOptions)
    accelerators: tuple[Accelerator, ...] = ("cpu", "gpu")
    seed: int = 0
    phone: PhoneBenchOptions = field(default_factory=PhoneBenchOptions)   # used when the device is a phone
    adb: AdbOptions = field(default_factory=AdbOptions)
    benchmark_model: str | None = None     # --benchmark-model (else env, else devlab.toml)
    lease_timeout_s: float = 0.0           # wait this long for a phone another devlab process holds, then fail
    constant_weights: bool = False         # timing-only variants (devlab.build.constant_weights)
    input_shapes: tuple[RequestedShape, ...] = ()   # --input-shape (devlab.build.input_shapes)
    check_outputs: bool = False            # --check-outputs: each row's outputs vs the fp32 reference (numerics)
    inputs: Path | None = None             # --inputs file.npz for --check-outputs (else seeded random inputs)


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    record: RunRecord


CONSTANT_WEIGHTS_RUN_NOTE = ("timing only: the variants were built with constant weights (--constant-weights); "
                             "latencies are real, outputs are meaningless")


def build_for_request(request: RunRequest, progress: ProgressSink) -> tuple[ModelSource, Manifest]:
    source = resolve_model(request.model)
    specs = parse_variants(request.variants, source.kind)
    progress.start("build", len(specs))
    manifest = build_variants(source, specs, default_build_dir(request.build_root, source), seed=request.seed,
                              constant_weights=request.constant_weights, input_shapes=request.input_shapes,
                              progress=lambda name: progress.step("build", name))
    return source, manifest


def run(request: RunRequest, progress: ProgressSink = NoProgress()) -> RunOutcome:
    from devlab.config import load_config
    from devlab.devices.adb import AdbDevice
    from devlab.devices.resolve import resolve_device
    source = resolve_model(request.model)
    specs = parse_variants(request.variants, source.kind)   # validate before any device work
    config = load_config() if request.device not in ("host", "local") else None
    device = resolve_device(request.device, request.adb, config)
    if not isinstance(device, AdbDevice):
        return _run_on(device, source, specs, config, request, progress)
    from devlab.devices.leases import DeviceLease
    with DeviceLease(device.info.serial, request.lease_timeout_s):   # two devlab processes never share a phone
        return _run_on(device, source, specs, config, request, progress)


def _run_on(device, source: ModelSource, specs, config, request: RunRequest, progress: ProgressSink) -> RunOutcome:
    from devlab.devices.adb import AdbDevice
    tool: BenchmarkTool | None = None
    if isinstance(device, AdbDevice):   # a missing benchmark_model fails here, before the build
        from devlab.bench.phone_tool import prepare_benchmark_tool
        tool = prepare_benchmark_tool(device, request.benchmark_model, config.benchmark_model if config else None)
    else:   # `--accelerator gpu` on a host without a GPU adapter fails here, before the build
        from devlab.bench.host_plan import require_accelerators
        require_accelerators(device.has_gpu, request.accelerators)
    _, manifest = build_for_request(request, progress)
    check = None
    if request.check_outputs:   # a bad .npz or a model with no float output fails here, before any device work
        from devlab.numerics.check import OutputCheck
        check = OutputCheck(manifest, request.seed, request.inputs)
        check.prepare_all()
    # a phone's state is checked before anything is pushed (free space) and kept with the run, before and after
    device_state: dict[str, object] = {}
    preflight_notes: list[str] = []
    if tool is not None:
        device_state["before"], preflight_notes = _phone_preflight(device, manifest, request.phone.taskset_mask)
    run_dir = new_run_dir(request.out_root, device.info.alias or device.info.serial, source.name)
    if tool is not None:
        settings = {**_settings(request, specs), "accelerators": list(request.phone.accelerators),
                    "phone": asdict(request.phone)}
        tools = {**tool_versions(), "benchmark_model": tool.to_json()}
    else:
        settings, tools = _settings(request, specs), tool_versions()

    def record_of(variants: list[VariantRun], notes: list[str]) -> RunRecord:
        return RunRecord(
            run_id=run_dir.name, created=utc_now_iso(), device=device.info, model=source.to_json(),
            tools=tools, settings=settings, variants=tuple(variants),
            build={v.name: v.to_json() for v in manifest.variants},
            notes=tuple(([CONSTANT_WEIGHTS_RUN_NOTE] if request.constant_weights else []) + build_notes(manifest)
                        + preflight_notes + notes),
            device_state=dict(device_state) or None,
        )

    finished: list[VariantRun] = []

    def save_partial(result: VariantRun) -> None:
        # run.json after every variant: a killed devlab leaves a record `--resume` can finish
        finished.append(result)
        record_of(finished, [PARTIAL_NOTE]).write(run_dir)

    try:
        if tool is not None:
            from devlab.bench.phone_plan import run_manifest_on_phone
            progress.start("bench", len(manifest.variants) * len(request.phone.accelerators))
            variants, notes = run_manifest_on_phone(device, manifest, request.phone, run_dir, tool,
                                                    progress=lambda v, a: progress.step("bench", f"{v} on {a}"),
                                                    on_result=save_partial, check=check)
        else:
            variants, notes = _measure(device, manifest, request, run_dir, progress, save_partial, check)
    except KeyboardInterrupt:
        record_of(finished, [PARTIAL_NOTE]).write(run_dir)   # also when no variant had finished yet
        raise Interrupted(f"interrupted after {len(finished)} finished variant run(s); they are kept in {run_dir}",
                          f"finish the rest with `devlab run --resume {run_dir}`") from None
    after = _phone_state_after(device, request.phone.taskset_mask) if tool is not None else None
    if after is not None:
        device_state["after"] = after
    record = record_of(variants, notes)
    record.write(run_dir)
    write_report(run_dir, record.to_json())
    return RunOutcome(run_dir, record)


def _phone_preflight(device, manifest: Manifest, taskset_mask: str | None) -> tuple[dict[str, object], list[str]]:
    """The phone's state before the run (a DeviceError when the variants will not fit on /data) and what in it
    makes timings slower or noisier, as run notes."""
    from devlab.bench.phone_plan import variant_remote_path
    from devlab.devices.adb import DEVICE_ROOT
    from devlab.devices.device_state import TRACE_HEADROOM, check_free_space, read_phone_state, state_warnings
    state = read_phone_state(device, "/data/local/tmp", taskset_mask)
    to_send = 0
    for variant in manifest.variants:   # what the hash cache will not send again needs no new room
        there = device.stat(variant_remote_path(manifest.model.name, variant))
        to_send += 0 if there.is_file and there.size == variant.bytes else variant.bytes
    check_free_space(state, to_send + TRACE_HEADROOM, f"{len(manifest.variants)} variant(s) to push, "
                     f"{to_send // 2**20} MiB, and {TRACE_HEADROOM // 2**20} MiB for traces and logs",
                     device.label, f"{DEVICE_ROOT} (/data)")
    return state.to_json(), [f"device state: {warning}" for warning in state_warnings(state)]


def _phone_state_after(device, taskset_mask: str | None) -> dict[str, object] | None:
    """The state after the run (thermal drift); a phone that dropped mid-run has none."""
    from devlab.devices.device_state import read_phone_state
    from devlab.errors import DevlabError
    try:
        return read_phone_state(device, "/data/local/tmp", taskset_mask).to_json()
    except DevlabError:
        return None


def _measure(device, manifest: Manifest, request: RunRequest, run_dir: Path, progress: ProgressSink,
             on_result: ResultHook, check=None) -> tuple[list[VariantRun], list[str]]:
    from devlab.bench.host_plan import run_manifest_on_host
    missing = None if device.has_gpu else "no GPU adapter that LiteRT can use on this machine (needs a Vulkan GPU)"
    accelerators = [a for a in request.accelerators if not (a == "gpu" and missing)] or ["cpu"]
    progress.start("bench", len(manifest.variants) * len(accelerators))
    return run_manifest_on_host(manifest, list(request.accelerators), request.bench, run_dir,
                                progress=lambda variant, acc: progress.step("bench", f"{variant} on {acc}"),
                                gpu_missing_reason=missing, on_result=on_result, check=check)


def _settings(request: RunRequest, specs) -> dict[str, object]:
    bench = request.bench
    return {"variants": [s.name for s in specs], "accelerators": list(request.accelerators),
            "num_runs": bench.num_runs, "warmup_runs": bench.warmup_runs, "warmup_min_secs": bench.warmup_min_secs,
            "min_secs": bench.min_secs,
            "max_secs": bench.max_secs, "num_threads": bench.num_threads, "seed": request.seed,
            "constant_weights": request.constant_weights, "check_outputs": request.check_outputs,
            **({"inputs": str(request.inputs)} if request.inputs else {}),
            "input_shapes": [shape.text for shape in request.input_shapes]}


def tool_versions() -> dict[str, object]:
    versions: dict[str, object] = {"python": platform.python_version()}
    for package in ("tensorflow", "tensorflow-cpu", "ai-edge-litert", "ai-edge-quantizer", "adbutils", "perfetto"):
        installed = package_version(package)
        if installed is not None:
            versions[package] = installed
    return versions
