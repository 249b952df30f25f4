"""`devlab farm`: one model on many phones at once, into one merged run folder.

Per device, in its own thread: resolve it (local or behind a remote adb server), take its lease, then run its steps
(every variant x accelerator, shuffled per round with a seed) with a cooldown between steps and a thermal gate
before each; the battery temperature before and after every step, and when the step ran (seconds since the farm
began, one clock for all devices), go into the step's record. Each device writes
its own run folder under <farm run>/devices/<device>/ (run.json + report.html, readable by compare and gate);
farm.json at the top holds the per-device table. A device that fails, at any point, costs only its own results.
With `check_outputs` (devlab.toml's [farm] or --check-outputs) every step's row also gets its `numerics` block, as
`devlab run --check-outputs` gives it: one OutputCheck (inputs, fp32 reference outputs) made before any phone work
and shared read-only by the device threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devlab.bench.phone_tool import PhoneBenchOptions, prepare_benchmark_tool
from devlab.bench.phone_plan import run_manifest_on_phone
from devlab.build.pipeline import Manifest
from devlab.devices.resolve import AdbOptions, resolve_device
from devlab.errors import DevlabError, UsageError
from devlab.farm.concurrent import run_each
from devlab.devices.leases import DeviceLease
from devlab.farm.schedule import Step, interleaved_steps
from devlab.farm.thermal import battery_temp_c, wait_until_cool
from devlab.fsutil import atomic_write_json, path_slug
from devlab.numerics.check import OutputCheck
from devlab.numerics.metrics import worst_rel_error
from devlab.report.farm_html import write_farm_report
from devlab.report.html import write_report
from devlab.report.run_record import RunRecord, VariantRun, new_run_dir, utc_now_iso

FARM_JSON = "farm.json"
StepCallback = Callable[[str, Step, VariantRun], None]   # (device name, step, its result)


@dataclass(frozen=True)
class FarmRequest:
    devices: tuple[str, ...]
    model: str
    variants: str | None = None
    out_root: Path = Path("traces")
    build_root: Path = Path(".")
    adb_servers: tuple[str, ...] = ()
    bench: PhoneBenchOptions = field(default_factory=PhoneBenchOptions)
    rounds: int = 1
    cooldown_s: float = 0.0
    max_temp_c: float | None = None
    thermal_timeout_s: float = 300.0
    lease_timeout_s: float = 0.0
    seed: int = 0
    check_outputs: bool = False       # each row's outputs vs the fp32 reference on the host CPU (devlab.numerics)
    inputs: Path | None = None        # the .npz for that check (else devlab's seeded random inputs)

    def validate(self) -> None:
        if not self.devices or any(not d.strip() for d in self.devices):
            raise UsageError("no devices to run on", "pass --devices s23,pixel8 (aliases or serials)")
        if len(set(self.devices)) != len(self.devices):
            raise UsageError("a device is named twice in --devices", "name each phone once")
        if self.rounds < 1 or self.cooldown_s < 0 or self.lease_timeout_s < 0 or self.thermal_timeout_s < 0:
            raise UsageError("--rounds must be >= 1 and the waits >= 0", "fix the option values")


@dataclass(frozen=True)
class DeviceResult:
    name: str                        # as given in --devices
    serial: str | None
    run_dir: Path | None
    record: dict[str, Any] | None    # the device's run.json
    error: str | None                # the device failed as a whole (unreachable, leased, dropped before any step)

    @property
    def failed_variants(self) -> list[dict[str, Any]]:
        return [v for v in (self.record or {}).get("variants", []) if v["status"] != "ok"]


@dataclass(frozen=True)
class FarmOutcome:
    run_dir: Path
    devices: tuple[DeviceResult, ...]

    @property
    def ok(self) -> bool:
        return all(d.error is None and not d.failed_variants for d in self.devices)


class _DeviceRun:
    """One device's whole job, run in its own thread."""

    def __init__(self, request: FarmRequest, manifest: Manifest, farm_dir: Path, on_step: StepCallback,
                 check: OutputCheck | None = None) -> None:
        self.request, self.manifest, self.farm_dir, self.on_step = request, manifest, farm_dir, on_step
        self.check = check
        self.started = time.monotonic()   # step times are stored as seconds since the farm began, on one clock

    def __call__(self, name: str) -> DeviceResult:
        device = resolve_device(name, AdbOptions(servers=self.request.adb_servers))
        if device.info.kind != "adb":
            raise UsageError(f"{name} is not a phone", "devlab farm runs phones; use devlab run --device host")
        with DeviceLease(device.info.serial, self.request.lease_timeout_s) as lease:
            # Named by serial, not by time: phones of one model share an alias, and threads start together.
            slug = path_slug(f"{device.info.alias or 'phone'}-{device.info.serial}", fallback="phone")
            device_dir = self.farm_dir / "devices" / slug
            device_dir.mkdir(parents=True)
            tool = prepare_benchmark_tool(device)
            seed = self.request.seed + sum(map(ord, device.info.serial))   # a different, reproducible order per phone
            steps = interleaved_steps([v.name for v in self.manifest.variants], list(self.request.bench.accelerators),
                                      self.request.rounds, seed)
            runs, notes = self._steps(name, device, tool, steps, device_dir)
            notes.append(f"farm: lease waited {lease.waited_s:.1f} s; order seed {seed}")
        record = RunRecord(
            run_id=f"{self.farm_dir.name}-{device_dir.name}", created=utc_now_iso(), device=device.info, model=self.manifest.model.to_json(),
            tools={**_tools(), "benchmark_model": tool.to_json()}, settings=self._settings(seed),
            variants=tuple(runs), build={v.name: v.to_json() for v in self.manifest.variants}, notes=tuple(notes))
        record.write(device_dir)
        data = record.to_json()
        write_report(device_dir, data)
        return DeviceResult(name, device.info.serial, device_dir, data, None)

    def _steps(self, name: str, device, tool, steps: list[Step], device_dir: Path
               ) -> tuple[list[VariantRun], list[str]]:
        runs: list[VariantRun] = []
        notes: list[str] = []
        for step in steps:
            if step.index and self.request.cooldown_s:
                time.sleep(self.request.cooldown_s)
            variant = self.manifest.variant(step.variant)
            step_start = time.monotonic() - self.started
            try:
                gate = wait_until_cool(device, self.request.max_temp_c, self.request.thermal_timeout_s)
                one = replace(self.manifest, variants=(variant,))
                options = replace(self.request.bench, accelerators=(step.accelerator,))
                results, step_notes = run_manifest_on_phone(device, one, options, device_dir, tool,
                                                            check=self.check)
                after = battery_temp_c(device)
                thermal = {"before_c": gate.before_c, "after_c": after, "waited_s": gate.waited_s,
                           "cooled_below_max": gate.cooled, "max_c": self.request.max_temp_c,
                           "source": "simulated" if device.info.simulated else "measured"}
            except DevlabError as exc:   # the phone dropped between runs: this step fails, the next ones try again
                results, step_notes, thermal = [_failed(variant, step, exc.one_line())], [], None
            except Exception as exc:     # a bug below us: keep the steps done so far, fail this one loudly
                results, step_notes, thermal = [_failed(variant, step, f"internal error: {type(exc).__name__}: "
                                                                       f"{exc}")], [], None
            notes += [n for n in step_notes if n not in notes]
            for result in results:
                extra = {**result.extra, "farm_step": {
                    "order": step.index, "round": step.round, "start_s": round(step_start, 3),
                    "end_s": round(time.monotonic() - self.started, 3)}}
                if thermal is not None:
                    extra["thermal"] = thermal
                result = replace(result, extra=extra)
                runs.append(result)
                self.on_step(name, step, result)
        return runs, notes

    def _settings(self, seed: int) -> dict[str, Any]:
        r = self.request
        return {"farm": {"devices": list(r.devices), "rounds": r.rounds, "cooldown_s": r.cooldown_s,
                         "max_temp_c": r.max_temp_c, "thermal_timeout_s": r.thermal_timeout_s, "seed": r.seed,
                         "order_seed": seed},
                "variants": [v.name for v in self.manifest.variants], "accelerators": list(r.bench.accelerators),
                "num_runs": r.bench.num_runs, "warmup_runs": r.bench.warmup_runs, "min_secs": r.bench.min_secs,
                "num_threads": r.bench.num_threads, "seed": r.seed, "check_outputs": self.check is not None,
                **({"inputs": str(r.inputs)} if self.check is not None and r.inputs else {})}


def _failed(variant, step: Step, error: str) -> VariantRun:
    return VariantRun(variant=variant.name, accelerator=step.accelerator, status="failed",
                      model_sha256=variant.sha256, model_bytes=variant.bytes, error=error)


def run_farm(request: FarmRequest, manifest: Manifest,
             on_step: StepCallback = lambda name, step, result: None) -> FarmOutcome:
    """Every device at once; returns when all are done (or failed). The manifest is built once, before."""
    request.validate()
    check = None
    if request.check_outputs or request.inputs is not None:   # a bad .npz fails here, before any phone is touched
        check = OutputCheck(manifest, request.seed, request.inputs)
        check.prepare_all()
    farm_dir = new_run_dir(request.out_root, "farm", manifest.model.name)
    outcomes = run_each(_DeviceRun(request, manifest, farm_dir, on_step, check), list(request.devices))
    devices = tuple(o.value if o.value is not None else DeviceResult(o.item, None, None, None, o.error)
                    for o in outcomes)
    outcome = FarmOutcome(farm_dir, devices)
    summary = farm_json(outcome)
    atomic_write_json(farm_dir / FARM_JSON, summary)
    write_farm_report(farm_dir, summary, {d.name: d.record for d in devices})
    return outcome


def farm_json(outcome: FarmOutcome) -> dict[str, Any]:
    """The merged view: one row per device, one cell per variant (median or mean, with its source)."""
    rows = []
    for d in outcome.devices:
        record = d.record or {}
        device = record.get("device", {})
        rows.append({
            "device": d.name, "serial": d.serial, "model": device.get("model"), "simulated": device.get("simulated"),
            "status": "failed" if d.error else ("partial" if d.failed_variants else "ok"), "error": d.error,
            "run_dir": None if d.run_dir is None else d.run_dir.relative_to(outcome.run_dir).as_posix(),
            "variants": [_cell(v) for v in record.get("variants", [])],
        })
    return {"farm_schema_version": 1, "run_id": outcome.run_dir.name, "created": utc_now_iso(),
            "ok": outcome.ok, "devices": rows}


def _cell(variant: dict[str, Any]) -> dict[str, Any]:
    timing = variant.get("timing") or {}
    latency = timing.get("latency_ms") or {}
    return {"variant": variant["variant"], "accelerator": variant["accelerator"], "status": variant["status"],
            "error": variant.get("error"), "median_ms": latency.get("median_ms"), "mean_ms": latency.get("mean_ms"),
            "source": timing.get("source"), "thermal": (variant.get("extra") or {}).get("thermal"),
            "order": ((variant.get("extra") or {}).get("farm_step") or {}).get("order"),
            "numerics": _numerics_cell(variant.get("numerics"))}


def _numerics_cell(numerics: dict[str, Any] | None) -> dict[str, Any] | None:
    """The row's output check in short: its status, the worst output relative error (None where an output was not
    finite or nothing was compared), and where the outputs came from; None when the row was not checked."""
    if not numerics:
        return None
    worst = worst_rel_error(numerics) if numerics.get("outputs") else None
    return {"status": numerics["status"], "source": numerics.get("source"),
            "worst_rel_error": worst if worst is not None and worst != float("inf") else None,
            "non_finite": worst == float("inf"), "reason": numerics.get("reason")}


def _tools() -> dict[str, Any]:
    from devlab.runner import tool_versions
    return tool_versions()

