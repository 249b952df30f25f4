"""`devlab pipeline run`: build every component, then run the pipeline end to end on the host (one child process,
devlab.pipeline.host_run) or compose it from per-component runs on a phone (devlab.runner, one run per component).

A host figure is `measured`: one process ran the components in order and handed the tensors on. A phone figure is
`composed`: the sum over components of invocations x that component's median latency from its own run (each run's
timing source is kept: `simulated` on the simulated phone). It never says `measured`.
The run folder holds run.json with a `pipeline` section (schema: devlab/schemas/run.schema.json), and, on a phone,
each component's own run folder under components/.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devlab.bench.gpu_cache import component_inits
from devlab.bench.phone_tool import PhoneBenchOptions
from devlab.bench.stats import LatencyStats
from devlab.build.pipeline import BuiltVariant, Manifest, build_notes, build_variants, default_build_dir
from devlab.build.sources import resolve_model
from devlab.build.tflite_graph import read_tflite
from devlab.build.variants import parse_variants
from devlab.devices.resolve import AdbOptions
from devlab.errors import ToolError, UsageError
from devlab.fsutil import atomic_write_json
from devlab.pipeline.definition import PipelineDefinition
from devlab.progress import NoProgress, ProgressSink
from devlab.provenance import MEASURED
from devlab.report.run_record import RUN_JSON, RunRecord, Timing, VariantRun, new_run_dir, utc_now_iso

HOST_RUN_MODULE = "devlab.pipeline.host_run"
PHONE_MEMORY = {"source": None, "bytes": None,
                "what": "not measured: devlab's phone run path does not pass benchmark_model's "
                        "--report_peak_memory_footprint yet"}
HOST_RUN_BUDGET_S = 3600.0   # the full-size pipeline on a CPU takes minutes per UNet step
GPU_WARM_INIT = "none: ai-edge-litert's GpuOptions has no program cache (serialization) option"
CPU_WARM_INIT = "XNNPACK weight cache (CpuOptions.xnnpack_weight_cache_path), written by the cold load"


@dataclass(frozen=True)
class PipelineRequest:
    definition: PipelineDefinition
    device: str = "host"
    accelerator: str = "cpu"                 # host: cpu or gpu; a phone: gpu or cpu delegate
    out_root: Path = Path("traces")
    seed: int = 0
    threads: int = 0
    phone: PhoneBenchOptions = field(default_factory=PhoneBenchOptions)
    adb: AdbOptions = field(default_factory=AdbOptions)
    benchmark_model: str | None = None


@dataclass(frozen=True)
class PipelineOutcome:
    run_dir: Path
    data: dict[str, Any]


def build_components(definition: PipelineDefinition, seed: int,
                     progress: ProgressSink = NoProgress()) -> dict[str, tuple[Manifest, BuiltVariant]]:
    resolved = _resolve_components(definition)   # every name checked before anything is built
    built: dict[str, tuple[Manifest, BuiltVariant]] = {}
    progress.start("build", len(definition.components))
    for component, (source, specs) in zip(definition.components, resolved):
        manifest = build_variants(source, specs, default_build_dir(Path("."), source), seed=seed,
                                  constant_weights=definition.constant_weights)
        built[component.role] = (manifest, manifest.variant(specs[0].name))
        progress.step("build", f"{component.role}: {component.model} {component.variant}")
    check_wiring(definition, {role: variant for role, (_, variant) in built.items()})
    return built


def _resolve_components(definition: PipelineDefinition) -> list[tuple[Any, list[Any]]]:
    resolved = []
    for index, component in enumerate(definition.components):
        key = f"components[{index}].model"
        try:
            source = resolve_model(component.model)
            key = f"components[{index}].variant"
            specs = parse_variants(component.variant, source.kind)
        except UsageError as exc:
            raise UsageError(f"pipeline file {definition.path}: {key}: {exc.problem}", exc.fix) from None
        if len(specs) != 1:
            raise UsageError(f"pipeline file {definition.path}: components[{index}].variant names "
                             f"{len(specs)} variants", "name one variant per component, e.g. variant = \"gpu\"")
        resolved.append((source, specs))
    return resolved


def check_wiring(definition: PipelineDefinition, built: dict[str, BuiltVariant]) -> None:
    """The tensors handed on must fit: text encoder output = UNet context, UNet output = its latent = VAE input."""
    graphs = {role: read_tflite(variant.path) for role, variant in built.items()}
    index = {c.role: i for i, c in enumerate(definition.components)}

    def shape(role: str, tensor: int) -> tuple[int, ...]:
        return graphs[role].tensor(tensor).shape

    unet = graphs["unet"]
    unet_inputs = {len(shape("unet", t)): shape("unet", t) for t in unet.inputs}
    text_out = shape("text_encoder", graphs["text_encoder"].outputs[0])
    latent = unet_inputs.get(4)
    context = unet_inputs.get(3)
    if latent is None or context is None:
        raise UsageError(f"pipeline file {definition.path}: components[{index['unet']}].model takes no rank-4 latent "
                         f"and rank-3 context input", "name a UNet (latent, timestep, context inputs)")
    if context[1:] != text_out[1:]:
        raise UsageError(f"pipeline file {definition.path}: components[{index['text_encoder']}].model gives "
                         f"{list(text_out)} but the UNet takes a context of {list(context)}",
                         "pick a text encoder and a UNet of the same size")
    vae_in = shape("vae_decoder", graphs["vae_decoder"].inputs[0])
    if vae_in[1:] != latent[1:] or shape("unet", unet.outputs[0])[1:] != latent[1:]:
        raise UsageError(f"pipeline file {definition.path}: components[{index['vae_decoder']}].model takes "
                         f"{list(vae_in)} but the UNet's latent is {list(latent)}",
                         "pick a VAE decoder for the UNet's latent size")
    expected_batch = 2 if definition.unet_batch == 2 else 1
    if latent[0] != expected_batch:
        raise UsageError(f"pipeline file {definition.path}: unet_batch is {definition.unet_batch} but the UNet's "
                         f"latent batch is {latent[0]}", f"set unet_batch = {latent[0]}")


def run_pipeline(request: PipelineRequest, progress: ProgressSink = NoProgress()) -> PipelineOutcome:
    from devlab.devices.resolve import resolve_device
    on_host = request.device in ("host", "local")
    device = resolve_device(request.device, request.adb) if on_host else None
    if on_host:
        from devlab.bench.host_plan import require_accelerators
        require_accelerators(device.has_gpu, (request.accelerator,))
    built = build_components(request.definition, request.seed, progress)
    if on_host:
        return _run_on_host(request, device, built, progress)
    return _compose_on_phone(request, built, progress)


def _run_on_host(request: PipelineRequest, device, built, progress: ProgressSink) -> PipelineOutcome:
    definition = request.definition
    run_dir = new_run_dir(request.out_root, device.info.alias or device.info.serial, definition.name)
    plan = {"components": [{"role": c.role, "path": str(built[c.role][1].path.resolve())}
                           for c in definition.components],
            "steps": definition.steps, "guidance_scale": definition.guidance_scale, "seed": request.seed,
            "accelerator": request.accelerator, "threads": request.threads,
            "cache_dir": str((run_dir / "cache").resolve()), "image_path": str((run_dir / "image.npy").resolve())}
    atomic_write_json(run_dir / "pipeline-plan.json", plan)
    progress.start("pipeline", 1)
    result = _host_child(run_dir, plan)
    progress.step("pipeline", "end to end")
    rows, components = [], []
    for component, measured in zip(definition.components, result["components"]):
        manifest, variant = built[component.role]
        if len(measured["invocation_ms"]) != component.invocations:
            raise ToolError(f"the {component.role} ran {len(measured['invocation_ms'])} times, not "
                            f"{component.invocations}", "report this: the host run and the definition disagree")
        timing = Timing(MEASURED, measured["init_cold_ms"], measured["first_run_ms"],
                        LatencyStats.from_samples(measured["invocation_ms"], MEASURED))
        rows.append(_row(component, variant, request.accelerator, timing))
        components.append(_component_json(component, variant, timing, timing.latency.median_ms,
                                          measured["invocation_ms"], {
            "init_warm_ms": measured["init_warm_ms"],
            "warm_init": CPU_WARM_INIT if request.accelerator == "cpu" else GPU_WARM_INIT,
            "peak_memory": {"source": MEASURED, "what": "process peak RSS delta",
                            "load_bytes": measured["load_peak_rss_delta_bytes"],
                            "first_run_bytes": measured["run_peak_rss_delta_bytes"]},
            "fully_accelerated": measured["fully_accelerated"]}))
    invocations_ms = sum(sum(r["invocation_ms"]) for r in result["components"])
    section = {
        "definition": definition.to_json(), "mode": "end-to-end", "accelerator": request.accelerator,
        "end_to_end": {"source": MEASURED, "ms": result["end_to_end_ms"],
                       "what": "one process: text encoder x2, the UNet steps with guidance and DDIM updates, VAE "
                               "decoder; components loaded and prepared before (their init is apart)",
                       "invocations_ms": invocations_ms, "glue_ms": result["end_to_end_ms"] - invocations_ms,
                       "init_cold_ms": result["init_cold_ms"]},
        "components": _with_shares(components, invocations_ms),
        "peak_memory": {"source": MEASURED, "what": "process peak RSS delta over the whole run",
                        "bytes": result["peak_rss_delta_bytes"],
                        "end_to_end_loop_bytes": result["loop_peak_rss_delta_bytes"],
                        "method": result["rss_method"]},
        "image": {**result["image"], "path": "image.npy"},
    }
    notes = [] if result["image"]["finite"] else ["the decoded image holds NaN or inf values"]
    return _write(run_dir, request, device.info, built, rows, section, notes)


def _host_child(run_dir: Path, plan: dict[str, Any]) -> dict[str, Any]:
    result_path = run_dir / "pipeline-result.json"
    log_path = run_dir / "pipeline-host.log"
    argv = [sys.executable, "-m", HOST_RUN_MODULE, str(run_dir / "pipeline-plan.json"), str(result_path)]
    with log_path.open("wb") as log:
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                  timeout=HOST_RUN_BUDGET_S, check=False)
        except subprocess.TimeoutExpired:
            raise ToolError(f"the pipeline did not finish within {HOST_RUN_BUDGET_S:.0f} s; it was stopped",
                            f"see {log_path} for where it was") from None
    try:
        outcome = json.loads(result_path.read_text())
    except (OSError, ValueError):
        outcome = {}
    if "result" in outcome:
        return outcome["result"]
    if "failure" in outcome:
        raise ToolError(f"LiteRT failed during the pipeline run: {outcome['failure']}", f"see {log_path}",
                        stage="pipeline")
    raise ToolError(f"the pipeline process ended with code {done.returncode} before it finished",
                    f"see {log_path} (a crash in LiteRT, or the out-of-memory killer)", stage="pipeline")


def _compose_on_phone(request: PipelineRequest, built, progress: ProgressSink) -> PipelineOutcome:
    from devlab.runner import RunRequest, run
    definition = request.definition
    components_root = request.out_root / "components"
    rows, components, component_runs, sources = [], [], {}, []
    device_info = None
    for component in definition.components:
        component_request = RunRequest(model=component.model, device=request.device, variants=component.variant,
                                       out_root=components_root, accelerators=(request.accelerator,),
                                       seed=request.seed, phone=request.phone, adb=request.adb,
                                       benchmark_model=request.benchmark_model,
                                       constant_weights=definition.constant_weights)
        outcome = run(component_request, progress)
        device_info = outcome.record.device
        row = _timed_row(component, outcome, request.device)
        # the phone plan's cold and warm runs with the GPU program cache (devlab.bench.gpu_cache)
        cold_ms, warm_ms, warm_init = component_inits(row)
        component_runs[component.role] = str(outcome.run_dir.resolve())
        sources.append(row.timing.source)
        median = row.timing.latency.median_ms or row.timing.latency.mean_ms
        rows.append(replace(row, extra={**row.extra, "component": component.role, "model_name": component.model}))
        _, variant = built[component.role]
        components.append(_component_json(component, variant, row.timing, median, component.invocations, {
            "init_cold_ms": cold_ms, "init_warm_ms": warm_ms, "warm_init": warm_init,
            "run": str(outcome.run_dir.resolve()),
            "peak_memory": PHONE_MEMORY, "timing_source": row.timing.source}))
    total = sum(c["total_ms"] for c in components)
    section = {
        "definition": definition.to_json(), "mode": "composed", "accelerator": request.accelerator,
        "end_to_end": {"source": "composed", "ms": total, "components_sources": sorted(set(sources)),
                       "what": "sum over components of invocations x the component's median latency from its own "
                               "run: never measured end to end; no glue, no hand-over copies",
                       "invocations_ms": total, "glue_ms": None,
                       "init_cold_ms": sum(c["init_cold_ms"] or 0.0 for c in components)},
        "components": _with_shares(components, total),
        "component_runs": component_runs,
    }
    run_dir = new_run_dir(request.out_root, device_info.alias or device_info.serial, definition.name)
    return _write(run_dir, request, device_info, built, rows, section, [])


def _timed_row(component, outcome, device: str) -> VariantRun:
    row = next((r for r in outcome.record.variants if r.status == "ok"), None)
    if row is None or row.timing is None:
        reason = next((r.error for r in outcome.record.variants if r.error), "no timing")
        raise ToolError(f"the {component.role} ({component.model} {component.variant}) was not measured on "
                        f"{device}: {reason}", f"see {outcome.run_dir / RUN_JSON}", stage="pipeline")
    return row


def _row(component, variant: BuiltVariant, accelerator: str, timing: Timing) -> VariantRun:
    return VariantRun(variant=variant.name, accelerator=accelerator, status="ok", model_sha256=variant.sha256,
                      model_bytes=variant.bytes, timing=timing, delegation_predicted=variant.delegation,
                      extra={"component": component.role, "model_name": component.model})


def _component_json(component, variant: BuiltVariant, timing: Timing, median_ms: float,
                    invocations: list[float] | int, more: dict[str, Any]) -> dict[str, Any]:
    """`invocations`: the measured time of each (host), or how many ran, each at the median (composed)."""
    total = sum(invocations) if isinstance(invocations, list) else median_ms * invocations
    return {"role": component.role, "model": component.model, "variant": variant.name,
            "invocations": component.invocations, "sha256": variant.sha256, "timing_source": timing.source,
            "init_cold_ms": timing.init_ms, "first_run_ms": timing.first_run_ms,
            "median_ms": median_ms, "total_ms": total,
            "delegation_predicted": variant.delegation.get("applied"),
            "memory_plan": variant.memory, **more}


def _with_shares(components: list[dict[str, Any]], total: float) -> list[dict[str, Any]]:
    return [{**c, "share": c["total_ms"] / total if total else None} for c in components]


def _write(run_dir: Path, request: PipelineRequest, device_info, built, rows: list[VariantRun],
           section: dict[str, Any], notes: list[str]) -> PipelineOutcome:
    from devlab.runner import tool_versions
    definition = request.definition
    manifests = [manifest for manifest, _ in built.values()]
    record = RunRecord(
        run_id=run_dir.name, created=utc_now_iso(), device=device_info,
        model={"name": definition.name, "type": "pipeline", "file": str(definition.path)},
        tools=tool_versions(),
        settings={"accelerators": [request.accelerator], "seed": request.seed, "num_threads": request.threads,
                  "constant_weights": definition.constant_weights, "variants": [v.name for _, v in built.values()]},
        variants=tuple(rows),
        build={role: variant.to_json() for role, (_, variant) in built.items()},
        notes=tuple([note for m in manifests for note in build_notes(m)] + notes),
    )
    data = {**record.to_json(), "pipeline": section}
    atomic_write_json(run_dir / RUN_JSON, data)
    return PipelineOutcome(run_dir, data)
