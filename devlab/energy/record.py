"""The energy run of one variant on a phone: Perfetto with `android.power` only (battery counters, and the power
rails where the phone has an on-device power monitor) over an idle window, then over a clean benchmark run of the
same flags; both traces land in the run folder and devlab/energy/energy.py turns them into mJ per inference.

Why this shape (DESIGN.md, "More runs in the plan"):
- No TFLite profiler is attached (`debug.tflite.trace` stays as it is, no op profiling), so the run stays clean.
- The idle window comes first and is as long as the run is expected to take (the clean run's wall time, scaled by
  how much longer ENERGY_MIN_SECS makes this one, read from the clean run's own log): the same number of polls
  under the same conditions, before the run has heated the phone.
- Each window is its own tracing session, so each trace is its window: no clock shared with the host is needed.
- The config lists only counters every perfetto with android.power knows (CHARGE, CAPACITY_PERCENT, CURRENT, as
  perfetto's docs sample config has them); the voltage comes from `dumpsys battery` (BatteryService's `voltage:` in
  mV). battery_poll_ms is POLL_MS, perfetto's minimum (android_power_data_source.cc kMinPollIntervalMs).
Starting and stopping perfetto follows devlab/trace/record.py (--background-wait with its fallback, SIGTERM, wait
on /proc/PID).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from devlab.bench.log_parser import parse_benchmark_log
from devlab.bench.log_result import BenchmarkRun
from devlab.devices.base import Device, ShellResult
from devlab.devices.device_state import parse_charging
from devlab.energy.energy import Context, RunShare, energy_per_inference
from devlab.energy.power_trace import PowerData, read_power
from devlab.errors import DevlabError, ToolError
from devlab.trace.config import parse_config, resolve_name
from devlab.trace.record import CONFIG_DIR, RECORD_CAP_MS, TRACE_DIR, start_perfetto, stop_perfetto
from devlab.trace.service_query import query_service

POWER = "android.power"
POLL_MS = 100
ENERGY_MIN_SECS = 10.0     # the energy run's minimum timed duration: 100 polls at POLL_MS
_VOLTAGE = re.compile(r"^\s*voltage:\s*(\d+)\s*$", re.MULTILINE)


def power_config(rails: bool, poll_ms: int = POLL_MS) -> str:
    text = ("buffers { size_kb: 8192 fill_policy: RING_BUFFER }\n"
            "data_sources {\n  config {\n    name: \"android.power\"\n    target_buffer: 0\n"
            f"    android_power_config {{\n      battery_poll_ms: {poll_ms}\n"
            f"      collect_power_rails: {'true' if rails else 'false'}\n"
            "      battery_counters: BATTERY_COUNTER_CHARGE\n"
            "      battery_counters: BATTERY_COUNTER_CAPACITY_PERCENT\n"
            "      battery_counters: BATTERY_COUNTER_CURRENT\n    }\n  }\n}\n"
            f"duration_ms: {RECORD_CAP_MS}\n")
    parse_config(text, origin="generated power config")
    return text


@dataclass(frozen=True)
class Window:
    path: Path
    power: PowerData
    wall_s: float
    benchmark: ShellResult | None


def _record(device: Device, label: str, remote_config: str, run_dir: Path, name: str,
            action: Callable[[], ShellResult | None], errors: list[str]) -> Window:
    remote_trace = f"{TRACE_DIR}/{name}.perfetto-trace"
    device.shell(["rm", "-f", remote_trace])
    pid, _ = start_perfetto(device, ["-c", remote_config, "--txt", "-o", remote_trace], label, errors)
    started = time.monotonic()
    try:
        result = action()
    finally:
        wall = time.monotonic() - started
        if not stop_perfetto(device, pid, errors):
            errors.append(f"{name}: perfetto had not exited when the trace was pulled")
    local = run_dir / f"{name}.perfetto-trace"
    device.pull(remote_trace, local)
    return Window(local, read_power(local), wall, result)


def expected_ratio(clean: BenchmarkRun, min_secs: float) -> float:
    """How much longer than the clean run the energy run should take, from the clean run's own log."""
    init = (clean.init_us or 0.0) / 1e3
    warm = _total_ms(clean.warmup)
    runs = _total_ms(clean.inference)
    if init + warm + runs <= 0:
        return 1.0
    return (init + warm + max(runs, min_secs * 1000.0)) / (init + warm + runs)


def _total_ms(stats) -> float:
    return 0.0 if stats is None or stats.avg_us is None else stats.count * stats.avg_us / 1e3


def measure_energy(device: Device, argv: list[str], run_dir: Path, name: str, idle_s: float, source: str,
                   timeout: float | None) -> tuple[dict[str, object], ShellResult | None]:
    """The `energy` block of one variant, and the energy run's benchmark output (its log is the caller's)."""
    label = device.info.alias or device.info.serial
    errors: list[str] = []
    state = query_service(device, run_dir / "logs" / f"{name}.service-state.pb")
    if state.data_sources is not None and resolve_name(POWER, state.data_sources) is None:
        return {"source": source, "status": "unavailable", "mj_per_inference": None,
                "warnings": [f"this phone's tracing service offers no {POWER} data source: no energy can be "
                             "recorded"]}, None
    battery = device.shell(["dumpsys", "battery"], timeout=30).stdout
    _, charging = parse_charging(battery)
    volts = _VOLTAGE.search(battery)
    config = run_dir / "logs" / f"{name}.pbtxt"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(power_config(rails=True), encoding="utf-8")
    remote_config = f"{CONFIG_DIR}/{name}.pbtxt"
    device.shell(["mkdir", "-p", CONFIG_DIR, TRACE_DIR])
    device.push(config, remote_config)
    idle = _record(device, label, remote_config, run_dir, f"{name}-idle", lambda: time.sleep(idle_s) or None,
                   errors)
    active = _record(device, label, remote_config, run_dir, name,
                     lambda: device.shell(argv, timeout=timeout), errors)
    bench = active.benchmark
    if bench is None or not bench.ok:
        raise ToolError(f"energy run failed: benchmark_model exited {bench.exit_code if bench else '?'}",
                        "see the energy log in the run folder", device=label, stage="energy run")
    run = parse_benchmark_log(bench.stdout + "\n" + bench.stderr, may_be_truncated=False).result
    if run.inference is None or run.inference.avg_us is None:
        raise ToolError("the energy run's log has no inference timings", "see the energy log in the run folder",
                        device=label, stage="energy run")
    share = RunShare(init_ms=(run.init_us or 0.0) / 1e3, inference_ms=_total_ms(run.warmup) + _total_ms(run.inference),
                     mean_latency_ms=run.inference.avg_us / 1e3,
                     inferences=sum(s.count for s in (run.warmup, run.inference) if s is not None))
    block = energy_per_inference(idle.power, active.power, share,
                                 Context(source, charging, float(volts.group(1)) if volts else None))
    block["window_s"] = {"idle": round(idle.wall_s, 3), "run": round(active.wall_s, 3)}
    block["traces"] = {"idle": idle.path.relative_to(run_dir).as_posix(),
                       "run": active.path.relative_to(run_dir).as_posix()}
    if errors:
        block["warnings"] = list(block.get("warnings", [])) + errors   # type: ignore[arg-type]
    return block, bench


def energy_or_error(fn: Callable[[], tuple[dict[str, object], ShellResult | None]], source: str
                    ) -> tuple[dict[str, object], ShellResult | None]:
    """A failed energy run costs only the energy block: it says why."""
    try:
        return fn()
    except DevlabError as exc:
        return {"source": source, "status": "unavailable", "mj_per_inference": None,
                "warnings": [exc.one_line()]}, None
