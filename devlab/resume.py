"""`devlab run --resume RUN`: finish a run that a dropped phone, a hang or a kill left incomplete.

Re-reads RUN/run.json, keeps every (variant, accelerator) whose status is ok, and runs the rest (failed, or never
reached) on the same device (by serial) with the settings the run recorded, into the same run folder. The merged
run.json replaces the old one atomically, so a resume that dies half-way leaves the previous record intact.

Why the variants are taken from the run's own build entries when their files are still there with the same
sha256: a resumed row must measure the very model bytes the kept rows measured; a rebuild is only the fallback
(from another working folder, say), and a rebuild that produces other bytes is said in the notes.

A run made with `--check-outputs` (settings.check_outputs) checks its resumed rows too, against the same reference
variant, with the same inputs: the recorded inputs file (or `--inputs`), else the same seeded random inputs. The
kept rows' `numerics.inputs_sha256` is the proof: inputs that hash otherwise are refused before anything runs, since
rows checked on other inputs would sit side by side in one record as if comparable.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from devlab.build.pipeline import BuiltVariant, Manifest
from devlab.build.sources import ModelSource
from devlab.devices.resolve import AdbOptions
from devlab.errors import UsageError
from devlab.fsutil import atomic_write_json, sha256_file
from devlab.numerics.check import REFERENCE_VARIANTS, OutputCheck
from devlab.progress import NoProgress, ProgressSink
from devlab.report.run_record import PARTIAL_NOTE, RUN_JSON, VariantRun, load_run, utc_now_iso

Pair = tuple[str, str]   # (variant, accelerator)


@dataclass(frozen=True)
class ResumeOutcome:
    run_dir: Path
    data: dict[str, Any]          # the merged run.json
    rerun: tuple[Pair, ...]       # what this resume ran (empty: the run was already complete)


def pending(data: dict[str, Any]) -> list[Pair]:
    """The planned (variant, accelerator) pairs that have no ok row, in plan order (variants outer)."""
    settings = data.get("settings") or {}
    ok = {(v["variant"], v["accelerator"]) for v in data.get("variants", []) if v.get("status") == "ok"}
    return [(variant, accelerator) for variant in settings.get("variants", [])
            for accelerator in settings.get("accelerators", []) if (variant, accelerator) not in ok]


def resume_run(run_dir: Path, progress: ProgressSink = NoProgress(), adb: AdbOptions = AdbOptions(),
               lease_timeout_s: float = 0.0, inputs: Path | None = None) -> ResumeOutcome:
    """`inputs`: the --check-outputs .npz to use instead of the one the run recorded (the same content only)."""
    from devlab.config import load_config
    from devlab.devices.adb import AdbDevice
    from devlab.devices.resolve import resolve_device
    from devlab.devices.leases import DeviceLease
    from devlab.report.html import write_report
    run_dir = Path(run_dir)
    data = load_run(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    checked = bool((data.get("settings") or {}).get("check_outputs"))
    if inputs is not None and not checked:
        raise UsageError(f"{run_dir} was run without --check-outputs: --inputs has nothing to check on resume",
                         "resume without --inputs, or start a new run with --check-outputs --inputs", stage="resume")
    todo = pending(data)
    if not todo:
        return ResumeOutcome(run_dir, data, ())
    recorded = data["device"]
    on_host = recorded.get("kind") == "host"
    config = None if on_host else load_config()
    device = resolve_device("host" if on_host else recorded["serial"], adb, config)
    if not on_host and device.info.model != recorded.get("model"):
        raise UsageError(f"{recorded['serial']} is now a {device.info.model}, the run was on a {recorded.get('model')}",
                         "resume on the phone the run started on", device=recorded["serial"], stage="resume")
    notes: list[str] = []
    if on_host and not device.has_gpu and any(a == "gpu" for _, a in todo):
        todo = [(v, a) for v, a in todo if a != "gpu"]   # the first run skipped them for the same reason
        notes.append("resume: GPU runs skipped again: no GPU adapter that LiteRT can use on this machine")
        if not todo:
            return ResumeOutcome(run_dir, data, ())
    names = {v for v, _ in todo}
    if checked:   # the reference variants too: a resumed row is checked against the reference the kept rows had
        names |= _reference_names(data)
    manifest = _manifest(data, sorted(names), notes)
    check = _output_check(data, manifest, inputs, notes) if checked else None
    lease = DeviceLease(device.info.serial, lease_timeout_s) if isinstance(device, AdbDevice) else nullcontext()
    with lease:
        fresh = _measure(device, data, manifest, todo, run_dir, progress, notes, check)
    merged = _merge(data, fresh, todo)
    kept_notes = [n for n in data.get("notes", []) if n != PARTIAL_NOTE]   # the record is complete now
    merged["notes"] = [*kept_notes, *(n for n in notes if n not in kept_notes),
                       f"resumed {utc_now_iso()}: re-ran " + ", ".join(f"{v} on {a}" for v, a in todo)]
    atomic_write_json(run_dir / RUN_JSON, merged)
    write_report(run_dir, merged)
    return ResumeOutcome(run_dir, merged, tuple(todo))


def _measure(device, data: dict[str, Any], manifest: Manifest, todo: list[Pair], run_dir: Path,
             progress: ProgressSink, notes: list[str], check: OutputCheck | None = None) -> list[VariantRun]:
    """The pending pairs, grouped by accelerator so each plan call runs just the variants missing on it."""
    from devlab.devices.adb import AdbDevice
    settings = data["settings"]
    progress.start("bench", len(todo))
    step = lambda variant, accelerator: progress.step("bench", f"{variant} on {accelerator}")  # noqa: E731
    results: list[VariantRun] = []
    for accelerator in dict.fromkeys(a for _, a in todo):
        names = {v for v, a in todo if a == accelerator}
        subset = replace(manifest, variants=tuple(v for v in manifest.variants if v.name in names))
        if isinstance(device, AdbDevice):
            from devlab.bench.phone_tool import prepare_benchmark_tool
            from devlab.bench.phone_plan import run_manifest_on_phone
            options = _phone_options(settings.get("phone") or {}, accelerator)
            recorded_tool = (data.get("tools") or {}).get("benchmark_model") or {}
            tool = prepare_benchmark_tool(device, recorded_tool.get("local_path"))
            runs, more = run_manifest_on_phone(device, subset, options, run_dir, tool, progress=step, check=check)
        else:
            from devlab.bench.host_plan import run_manifest_on_host
            from devlab.bench.host_runtime import HostBenchOptions
            bench = HostBenchOptions(**{f.name: settings[f.name] for f in fields(HostBenchOptions)
                                        if f.name in settings})
            missing = None if device.has_gpu else "no GPU adapter that LiteRT can use on this machine"
            runs, more = run_manifest_on_host(subset, [accelerator], bench, run_dir, progress=step,  # type: ignore
                                              gpu_missing_reason=missing, check=check)
        results += runs
        notes += [n for n in more if n not in notes]
    return results


def _reference_names(data: dict[str, Any]) -> set[str]:
    """The variants the run's output check could take as its reference, and those its rows name as theirs."""
    planned = set((data.get("settings") or {}).get("variants") or [])
    named = {((row.get("numerics") or {}).get("reference") or {}).get("variant") for row in data.get("variants", [])}
    return (planned & set(REFERENCE_VARIANTS)) | (planned & {n for n in named if n})


def _output_check(data: dict[str, Any], manifest: Manifest, inputs: Path | None, notes: list[str]) -> OutputCheck:
    """The run's output check again: its inputs (`inputs`, else the recorded file, else the seeded random ones),
    checked against the sha256 the kept rows recorded, before anything runs."""
    settings = data["settings"]
    recorded_path = settings.get("inputs")
    if inputs is None and recorded_path:
        inputs = Path(recorded_path)
        if not inputs.is_file():
            raise UsageError(f"the run checked outputs on --inputs {recorded_path}, which is not there now",
                             "pass --inputs with that file (the same content) to resume", stage="resume")
    seed = int(settings.get("seed", 0))
    given = f"the inputs in {inputs}" if inputs is not None else f"devlab's seeded random inputs (seed {seed})"
    limits = {((row.get("numerics") or {}).get("tolerance") or {}).get("max_rel_error")
              for row in data.get("variants", [])} - {None}
    check = OutputCheck(manifest, seed, inputs, **({"max_rel_error": limits.pop()} if len(limits) == 1 else {}))
    check.prepare_all()
    recorded = {row["variant"]: row["numerics"]["inputs_sha256"] for row in data.get("variants", [])
                if (row.get("numerics") or {}).get("inputs_sha256")}
    matched = []
    for variant in manifest.variants:
        before, now = recorded.get(variant.name), check.for_variant(variant).inputs_sha256
        if before and before != now:
            raise UsageError(f"{given} hash to inputs sha256 {now} for {variant.name}, but the run checked its rows "
                             f"on inputs sha256 {before}", "pass --inputs with the file the run used (the same "
                             "content), or start a new run with these inputs", stage="resume")
        if before:
            matched.append(variant.name)
    if not matched and inputs is not None and not recorded_path:   # nothing to compare: the settings decide
        raise UsageError(f"the run checked outputs on devlab's seeded random inputs (seed {seed}), not on --inputs "
                         f"{inputs}", "resume without --inputs, or start a new run with these inputs", stage="resume")
    proof = f" (the same inputs sha256 as the kept rows of {', '.join(matched)})" if matched else ""
    notes.append(f"resume: the resumed rows' outputs checked too, on {given}{proof}")
    return check


def _phone_options(recorded: dict[str, Any], accelerator: str):
    from devlab.bench.phone_tool import PhoneBenchOptions
    known = {f.name for f in fields(PhoneBenchOptions)}
    values = {k: v for k, v in recorded.items() if k in known}
    return PhoneBenchOptions(**{**values, "accelerators": (accelerator,)})


def _manifest(data: dict[str, Any], names: list[str], notes: list[str]) -> Manifest:
    """The run's own built files when they are still there unchanged; else a rebuild of the same variants."""
    build = data.get("build") or {}
    model = data["model"]
    source = ModelSource(model["name"], model["type"], Path(model["path"]) if model.get("path") else None,
                         model.get("sha256"))
    kept = [_built(build.get(name) or {}) for name in names]
    if all(v is not None for v in kept):
        return Manifest(source, kept[0].path.parent, tuple(kept))   # type: ignore[union-attr]
    from devlab.build.input_shapes import parse_input_shapes
    from devlab.build.pipeline import build_variants, default_build_dir
    from devlab.build.sources import resolve_model
    from devlab.build.variants import parse_variants
    if source.path is not None:
        source = resolve_model(str(source.path))
    specs = [s for s in parse_variants(",".join(data["settings"]["variants"]), source.kind) if s.name in names]
    manifest = build_variants(source, specs, default_build_dir(Path("."), source),
                              seed=int(data["settings"].get("seed", 0)),
                              constant_weights=bool(data["settings"].get("constant_weights", False)),
                              input_shapes=parse_input_shapes(data["settings"].get("input_shapes") or []))
    for variant in manifest.variants:
        before = (build.get(variant.name) or {}).get("sha256")
        if before and before != variant.sha256:
            notes.append(f"resume: {variant.name} was rebuilt and differs from the run's first build "
                         f"(sha256 {before[:12]} -> {variant.sha256[:12]})")
    return manifest


def _built(entry: dict[str, Any]) -> BuiltVariant | None:
    path = Path(entry.get("path") or "")
    if not entry.get("sha256") or not path.is_file() or sha256_file(path) != entry["sha256"]:
        return None
    return BuiltVariant(name=entry["name"], path=path, sha256=entry["sha256"], bytes=int(entry["bytes"]),
                        op_histogram=entry.get("op_histogram") or {}, recipe=entry.get("recipe") or {},
                        delegation=entry.get("delegation") or {}, equivalence=entry.get("equivalence"),
                        cached=True, build_seconds=0.0, build_key=entry.get("build_key") or "")


def _merge(data: dict[str, Any], fresh: list[VariantRun], todo: list[Pair]) -> dict[str, Any]:
    """Plan order: each pair's fresh row if it was re-run, else its kept row; rows outside the plan stay at the end."""
    settings = data["settings"]
    old = {(v["variant"], v["accelerator"]): v for v in data.get("variants", [])}
    new = {(v.variant, v.accelerator): v.to_json() for v in fresh}
    plan = [(v, a) for v in settings.get("variants", []) for a in settings.get("accelerators", [])]
    rows = [new[p] if p in new else old[p] for p in plan if p in new or p in old]
    rows += [row for pair, row in old.items() if pair not in plan]
    return {**data, "variants": rows}
