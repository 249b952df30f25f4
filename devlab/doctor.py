"""`devlab doctor --device X`: the preflight to run first on a new phone. Each check reads what `devlab run` will
rely on and says ok, warn (a run works, with less) or fail (a run cannot work), with the fix.

Checks: adb features, Android / SDK, the tracing service (perfetto's version, its data sources, leftover
sessions), whether `setprop debug.tflite.trace` sticks, that /data/local/tmp runs executables, free space, the
benchmark_model (found, an Android build, its flags from `--help`), thermal status, battery / charging / battery
saver, screen and stay-awake, CPU governors. A check that cannot be made is itself a row (fail or warn): the
doctor never stops at the first problem.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Literal

from devlab.devices.adb import DEVICE_ROOT, AdbDevice
from devlab.devices.base import DeviceInfo
from devlab.devices.device_state import TRACE_HEADROOM, PhoneState, read_phone_state
from devlab.errors import DevlabError
from devlab.provenance import MEASURED, SIMULATED

Status = Literal["ok", "warn", "fail"]
TRACE_PROP = "debug.tflite.trace"
GPU_SOURCES = ("gpu.counters", "gpu.renderstages")   # the GPU data sources a kernel-level trace needs
PERFETTO_SDK = 28   # perfetto's traced ships from Android 9 (P); on 9 and 10 it must be enabled
_EXEC_CHECK = f"{DEVICE_ROOT}/doctor-exec-check.sh"
_SEVERE = ("severe", "critical", "emergency", "shutdown")


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    value: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorReport:
    device: DeviceInfo
    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        return any(check.status == "fail" for check in self.checks)

    def to_json(self) -> dict[str, object]:
        # every value is read from the phone now: measured, or simulated on the simulated phone
        return {"device": asdict(self.device), "source": SIMULATED if self.device.simulated else MEASURED,
                "ok": not self.failed, "checks": [asdict(c) for c in self.checks]}


def run_doctor(device: AdbDevice, benchmark_model: str | None = None,
               config_table: dict[str, str] | None = None) -> DoctorReport:
    checks: list[Check] = []

    def guarded(name: str, check: Callable[[], list[Check]]) -> None:
        try:
            checks.extend(check())
        except DevlabError as exc:
            checks.append(Check(name, "fail", exc.problem, exc.fix or ""))

    guarded("adb features", lambda: [_features(device)])
    checks.append(_android(device.info))
    state: list[PhoneState] = []
    guarded("device state", lambda: state.append(read_phone_state(device, "/data/local/tmp")) or [])
    if state:
        checks.extend(_state_checks(state[0]))
    with tempfile.TemporaryDirectory(prefix="devlab-doctor-") as scratch:
        guarded("perfetto", lambda: _perfetto(device, Path(scratch)))
        guarded("/data/local/tmp exec", lambda: [_exec_check(device, Path(scratch))])
    guarded(f"setprop {TRACE_PROP}", lambda: [_trace_prop(device)])
    guarded("benchmark_model", lambda: _benchmark_model(device, benchmark_model, config_table))
    return DoctorReport(device.info, tuple(checks))


# ---- the checks ------------------------------------------------------------------------------------------------
def _features(device: AdbDevice) -> Check:
    features = device.features()
    listed = ",".join(sorted(features)) or "none"
    if "shell_v2" not in features:
        return Check("adb features", "warn", listed, "adbd before Android 7: devlab uses shell v1 (exit codes from "
                     "an echo, stderr mixed into stdout, no kill by pid at a timeout)")
    if "stat_v2" not in features:
        return Check("adb features", "warn", listed, "adbd before Android 8: files of 4 GiB or more cannot be "
                     "size-checked after a push (STAT v1 sizes are 32-bit)")
    return Check("adb features", "ok", listed)


def _android(info: DeviceInfo) -> Check:
    value = f"Android {info.android_version or '?'} (SDK {info.sdk or '?'}), {info.model}, ABI {info.abi or '?'}"
    sdk = int(info.sdk) if info.sdk.isdigit() else None
    if sdk is not None and sdk < PERFETTO_SDK:
        return Check("Android", "warn", value, "no perfetto before Android 9: run with --no-trace")
    if sdk is not None and sdk < 30:
        return Check("Android", "warn", value, "perfetto's services are off by default on Android 9 and 10: "
                     "`adb shell setprop persist.traced.enable 1`")
    return Check("Android", "ok", value)


def _state_checks(state: PhoneState) -> list[Check]:
    checks: list[Check] = []
    temps = ", ".join(f"{t.name} {t.celsius:.1f}°C" for t in state.temperatures if t.kind in ("gpu", "skin"))
    thermal = f"{state.thermal_status or 'unknown'}" + (f" ({temps})" if temps else "")
    if state.thermal_status in _SEVERE:
        checks.append(Check("thermal", "fail", thermal, "the phone is throttling hard: let it cool (off the "
                            "charger, screen off) until `dumpsys thermalservice` says Thermal Status: 0"))
    elif state.thermal_status in (None, "none"):
        checks.append(Check("thermal", "ok" if state.thermal_status else "warn", thermal,
                            "" if state.thermal_status else "dumpsys thermalservice gave no status"))
    else:
        checks.append(Check("thermal", "warn", thermal, "timings will be slower than a cool phone's: let it cool "
                            "until Thermal Status: 0"))
    level = "?" if state.battery_level is None else f"{state.battery_level}%"
    power = {True: "charging", False: "not charging", None: "charging unknown"}[state.charging]
    battery = f"{level}, {power}, battery saver {'on' if state.battery_saver else 'off'}"
    if state.battery_saver:
        checks.append(Check("battery", "warn", battery, "battery saver lowers CPU/GPU performance: "
                            "`adb shell settings put global low_power 0`"))
    elif state.charging is False and state.battery_level is not None and state.battery_level < 20:
        checks.append(Check("battery", "warn", battery, "a low battery may throttle: plug the phone in"))
    else:
        checks.append(Check("battery", "ok", battery))
    screen = (f"screen {'on' if state.screen_awake else 'off' if state.screen_awake is False else 'unknown'}, "
              f"stay awake {'on' if state.stay_awake else 'off' if state.stay_awake is False else 'unknown'}")
    checks.append(Check("screen", "ok" if state.screen_awake and state.stay_awake else "warn", screen,
                        "" if state.screen_awake and state.stay_awake else
                        "keep it on while plugged in: `adb shell svc power stayon usb`"))
    governors = ", ".join(f"{p} {g}" for p, g in sorted(state.cpu_governors.items())) or "not readable"
    checks.append(Check("CPU governors", "warn" if "powersave" in governors else "ok", governors,
                        "powersave caps CPU clocks" if "powersave" in governors else ""))
    free = state.data_free_bytes
    shown = "unknown" if free is None else f"{free / 2**30:.1f} GiB free on /data"
    if free is None:
        checks.append(Check("free space", "warn", shown, "`df /data/local/tmp` gave nothing readable"))
    elif free < TRACE_HEADROOM:
        checks.append(Check("free space", "fail", shown, "free space: devlab needs the variants plus "
                            f"{TRACE_HEADROOM // 2**20} MiB for traces and logs"))
    else:
        checks.append(Check("free space", "ok" if free >= 2**30 else "warn", shown,
                            "" if free >= 2**30 else "less than 1 GiB: big models or traces may not fit"))
    return checks


def _perfetto(device: AdbDevice, scratch: Path) -> list[Check]:
    from devlab.trace.service_query import query_service
    state = query_service(device, scratch / "service-state.pb")
    version = state.version or "unknown"
    if state.data_sources is None:
        detail = "; ".join(state.problems) or "perfetto --query-raw / --query said nothing readable"
        return [Check("perfetto", "warn", f"{version}: data sources unknown ({detail})",
                      "check `adb shell perfetto --query`; without it devlab runs with --no-trace")]
    sources = sorted(set(state.data_sources))
    # vendor GPU producers register suffixed names (gpu.counters.adreno; devlab/trace/config.py)
    gpu = [name for name in sources if any(name == base or name.startswith(base + ".") for base in GPU_SOURCES)]
    missing = [base for base in GPU_SOURCES if not any(n == base or n.startswith(base + ".") for n in gpu)]
    value = f"{version}: {len(sources)} data sources" + (f", GPU: {', '.join(gpu)}" if gpu else "")
    checks = [Check("perfetto", "warn" if missing else "ok", value,
                    f"no {', '.join(missing)}: the trace has no per-kernel GPU timing (the GPU vendor's producer "
                    f"is missing or off)" if missing else "")]
    if state.sessions:
        names = f" ({', '.join(state.session_names)})" if state.session_names else ""
        checks.append(Check("tracing sessions", "warn", f"{state.sessions} already running{names}",
                            "a leftover session (a crashed run?) shares the buffers: stop it "
                            "(`adb shell killall perfetto` needs root; rebooting the phone ends it)"))
    else:
        checks.append(Check("tracing sessions", "ok" if state.sessions == 0 else "warn",
                            "none running" if state.sessions == 0 else "unknown"))
    return checks


def _exec_check(device: AdbDevice, scratch: Path) -> Check:
    script = scratch / "exec-check.sh"
    script.write_text("#!/system/bin/sh\necho devlab-exec-ok\n")
    device.push(script, _EXEC_CHECK, mode=0o755)
    ran = device.shell([_EXEC_CHECK], timeout=30)
    device.shell(["rm", "-f", _EXEC_CHECK], timeout=30)
    if ran.ok and "devlab-exec-ok" in ran.stdout:
        return Check("/data/local/tmp exec", "ok", f"{DEVICE_ROOT} runs executables")
    detail = (ran.stderr or ran.stdout).strip().splitlines()
    return Check("/data/local/tmp exec", "fail", f"exit {ran.exit_code}" + (f": {detail[-1]}" if detail else ""),
                 "benchmark_model must run from /data/local/tmp: check the shell user's access (SELinux, noexec)")


def _trace_prop(device: AdbDevice) -> Check:
    before = device.shell(["getprop", TRACE_PROP]).stdout.strip()
    device.shell(["setprop", TRACE_PROP, "1"])
    now = device.shell(["getprop", TRACE_PROP]).stdout.strip()
    device.shell(["setprop", TRACE_PROP, before or "0"])
    if now == "1":
        return Check(f"setprop {TRACE_PROP}", "ok", "sticks (restored to " + (before or "0") + ")")
    return Check(f"setprop {TRACE_PROP}", "warn", f"set to 1, reads back {now or 'empty'}",
                 "TFLite's ATrace slices need it: without them a trace has no per-op timeline")


def _benchmark_model(device: AdbDevice, flag_path: str | None, config_table: dict[str, str] | None) -> list[Check]:
    from devlab.bench.phone_tool import prepare_benchmark_tool
    # finds it, checks it is an Android build, pushes it (hash cached) and reads its flags from `--help`
    tool = prepare_benchmark_tool(device, flag_path, config_table)
    origin = f"{tool.device_path} ({tool.origin})"
    dialect = tool.dialect
    if dialect is None:
        return [Check("benchmark_model", "warn", f"{origin}: flags unknown", f"run `{tool.device_path} --help` on "
                      "the phone and check it lists --graph")]
    value = f"{origin}: {dialect.kind} tool, {len(dialect.flags)} flags"
    if dialect.kind == "classic" and not dialect.takes("op_profiling_output_file"):
        return [Check("benchmark_model", "warn", value, "an old build without --op_profiling_output_file: "
                      "op profiles come from its stdout tables")]
    if not dialect.takes("use_gpu") and dialect.kind == "classic":
        return [Check("benchmark_model", "fail", value, "this build has no --use_gpu: build it with the GPU "
                      "delegate")]
    return [Check("benchmark_model", "ok", value)]
