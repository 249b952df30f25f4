"""A sustained run on a phone (`devlab run --sustained 10m`): the variant runs back to back for the duration as a
series of short clean benchmark_model runs (no profiler attached), and after each one devlab reads what the phone
says about its heat: the thermal status and the thermal HAL's temperatures (`dumpsys thermalservice`,
ThermalManagerService's dump) and the GPU's current frequency (devfreq `cur_freq`, Linux's sysfs-class-devfreq ABI).

Time axis: the sum of the runs' own durations as the tool reports them (init, warm-up and timed runs), so the
series does not depend on adb's latency between points (those gaps, a few tens of ms each, are left out; the host's
wall time is kept per point too). Before the first point the phone cools: devlab waits until the thermal status is
`none`, up to COOLDOWN_S (MLPerf Mobile's 5-minute wait between runs), and records what it started from.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from devlab.bench.flags import BenchmarkOptions
from devlab.bench.log_parser import parse_benchmark_log
from devlab.devices.adb_info import parse_thermal_status
from devlab.devices.base import Device, ShellResult
from devlab.devices.device_state import parse_hal_temperatures
from devlab.errors import ToolError
from devlab.sustained.series import Point, summarize

POINT_SECS = 5.0         # each point's minimum timed duration (benchmark time)
COOLDOWN_S = 300.0       # MLPerf Mobile: "with a 5 min wait in between"
POLL_S = 2.0
DEVFREQ = "/sys/class/devfreq"
_GPU_DEVFREQ_HINTS = ("kgsl", "mali", "gpu", "g3d")


def read_thermal(device: Device) -> tuple[str | None, dict[str, float]]:
    text = device.shell(["dumpsys", "thermalservice"], timeout=30).stdout
    hottest: dict[str, float] = {}
    for temp in parse_hal_temperatures(text):
        hottest[temp.kind] = max(hottest.get(temp.kind, temp.celsius), temp.celsius)
    return parse_thermal_status(text), hottest


def gpu_devfreq(device: Device) -> str | None:
    """The GPU's devfreq node (its name holds kgsl / mali / gpu / g3d), or None when the shell cannot list it."""
    listing = device.shell(["ls", DEVFREQ], timeout=30)
    if not listing.ok:
        return None
    names = [n for n in listing.stdout.split() if any(h in n.lower() for h in _GPU_DEVFREQ_HINTS)]
    return f"{DEVFREQ}/{sorted(names)[0]}/cur_freq" if names else None


def read_freq(device: Device, node: str | None) -> int | None:
    if node is None:
        return None
    result = device.shell(["cat", node], timeout=30)
    text = result.stdout.strip()
    return int(text) if result.ok and text.isdigit() else None


def cool_down(device: Device, timeout_s: float = COOLDOWN_S, sleep: Callable[[float], None] = time.sleep
              ) -> dict[str, object]:
    started = time.monotonic()
    status, temps = read_thermal(device)
    while status not in (None, "none") and time.monotonic() - started < timeout_s:
        sleep(min(POLL_S, max(0.0, timeout_s - (time.monotonic() - started))))
        status, temps = read_thermal(device)
    return {"waited_s": round(time.monotonic() - started, 3), "status": status, "temperatures_c": temps,
            "cooled": status in (None, "none")}


def run_sustained(device: Device, argv_for: Callable[[BenchmarkOptions], list[str]], clean: BenchmarkOptions,
                  duration_s: float, timeout: float | None, source: str,
                  keep_log: Callable[[str, ShellResult], None]) -> dict[str, object]:
    """The `sustained` block of one variant (run.json)."""
    label = device.info.alias or device.info.serial
    cooldown = cool_down(device)
    node = gpu_devfreq(device)
    options = replace(clean, num_runs=1, min_secs=POINT_SECS, max_secs=max(POINT_SECS * 4, clean.max_secs or 0))
    points: list[Point] = []
    started, covered = time.monotonic(), 0.0
    while covered < duration_s:
        result = device.shell(argv_for(options), timeout=timeout)
        run = parse_benchmark_log(result.stdout + "\n" + result.stderr, may_be_truncated=False).result
        if not result.ok or run.inference is None or run.inference.avg_us is None:
            keep_log(f"sustained-{len(points)}", result)
            raise ToolError(f"sustained point {len(points)} failed (benchmark_model exited {result.exit_code})",
                            "see the sustained log in the run folder", device=label, stage="sustained")
        covered += ((run.init_us or 0.0) + sum(s.count * (s.avg_us or 0.0) for s in (run.warmup, run.inference)
                                               if s is not None)) / 1e6
        status, temps = read_thermal(device)
        points.append(Point(round(covered, 4), round(time.monotonic() - started, 4), run.inference.avg_us / 1e3,
                            run.inference.count, read_freq(device, node), status, temps))
        if len(points) == 1:
            keep_log("sustained-first", result)
    keep_log("sustained-last", result)
    return {"source": source, "temperatures_source": source, "point_secs": POINT_SECS, "cooldown": cooldown,
            "gpu_freq_node": node, "points": [p.to_json() for p in points], **summarize(points, duration_s),
            "rules": "MLPerf Mobile: 60 s minimum run, 5 min wait between runs (mobile_inference_rules.adoc)"}
