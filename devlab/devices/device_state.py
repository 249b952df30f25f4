"""The state of a phone that changes what a benchmark measures, read over `adb shell` as the shell user before and
after a run: screen and stay-awake, battery saver, charging, CPU governors, thermal status and the thermal HAL's
temperatures, free space on /data.

Parsing is pure text -> values (what a phone does not report stays None); `read_phone_state` is the only part
that talks to a device. The sources of every line are in docs/sim-fidelity.md ("adb daemon and sync protocol").
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from devlab.devices.adb_info import parse_battery, parse_thermal_status
from devlab.errors import DeviceError
from devlab.provenance import MEASURED, SIMULATED

if TYPE_CHECKING:
    from devlab.devices.adb import AdbDevice

CPUFREQ = "/sys/devices/system/cpu/cpufreq"
TRACE_HEADROOM = 256 * 2**20      # room kept for the traces, CSVs and logs a run writes on the phone
# android.os.Temperature TYPE_*: what the thermal HAL says a sensor measures
_TEMPERATURE_TYPES = {0: "cpu", 1: "gpu", 2: "battery", 3: "skin", 4: "usb_port", 5: "power_amplifier", 9: "npu"}
_HAL_SECTION = re.compile(r"^Current temperatures from HAL:\s*$(?P<body>.*?)(?=^\S|\Z)", re.MULTILINE | re.DOTALL)
_TEMPERATURE = re.compile(r"Temperature\{mValue=(?P<value>-?[\d.]+), mType=(?P<type>-?\d+), mName=(?P<name>[^,}]+)")
_POWER_FIELD = re.compile(r"^\s*(?P<key>mWakefulness|mStayOn|mIsPowered)=(?P<value>\S+)\s*$", re.MULTILINE)
_BATTERY_POWERED = re.compile(r"^\s*(?:AC|USB|Wireless|Dock) powered:\s*true\s*$", re.MULTILINE | re.IGNORECASE)
_BATTERY_STATUS = re.compile(r"^\s*status:\s*(?P<value>\d+)\s*$", re.MULTILINE)
_BATTERY_STATUS_CHARGING, _BATTERY_STATUS_FULL = 2, 5     # android.os.BatteryManager BATTERY_STATUS_*
_CPUS_ALLOWED = re.compile(r"^Cpus_allowed_list:\s*(?P<cpus>\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Temperature:
    name: str
    kind: str          # cpu | gpu | battery | skin | ... (the HAL's type), "other" when unknown
    celsius: float


@dataclass(frozen=True)
class PhoneState:
    read_at: str                         # UTC, ISO 8601
    source: str                          # measured (a phone) | simulated (the simulated phone)
    screen_awake: bool | None            # dumpsys power: mWakefulness=Awake
    stay_awake: bool | None              # dumpsys power: mStayOn (Developer options "Stay awake" while plugged in)
    battery_saver: bool | None           # settings get global low_power
    powered: bool | None                 # dumpsys battery: AC / USB / wireless powered
    charging: bool | None                # dumpsys battery: status 2 (charging) or 5 (full, still plugged)
    battery_level: int | None
    battery_temp_c: float | None
    cpu_governors: dict[str, str]        # cpufreq policy -> scaling_governor, where readable
    thermal_status: str | None           # none ... shutdown (dumpsys thermalservice)
    temperatures: tuple[Temperature, ...]   # the thermal HAL's current temperatures
    data_free_bytes: int | None          # df of the folder devlab writes to
    # the CPUs a process launched like benchmark_model may run on (`[taskset MASK] cat /proc/self/status`: the
    # mask as the kernel applied it, cut by the shell's cpuset), and the mask devlab asked for
    benchmark_cpus: str | None = None
    taskset_mask: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "temperatures": [asdict(t) for t in self.temperatures]}

    def hottest(self, kind: str) -> float | None:
        values = [t.celsius for t in self.temperatures if t.kind == kind]
        return max(values) if values else None


# ---- parsing ---------------------------------------------------------------------------------------------------
def parse_power(text: str) -> tuple[bool | None, bool | None]:
    """(screen awake, stay-awake holding it on) from `dumpsys power`."""
    fields = {m.group("key"): m.group("value") for m in _POWER_FIELD.finditer(text)}
    awake = None if "mWakefulness" not in fields else fields["mWakefulness"] == "Awake"
    stay = None if "mStayOn" not in fields else fields["mStayOn"] == "true"
    return awake, stay


def parse_charging(text: str) -> tuple[bool | None, bool | None]:
    """(powered, charging) from `dumpsys battery`."""
    status = _BATTERY_STATUS.search(text)
    if status is None and "powered:" not in text:
        return None, None
    powered = bool(_BATTERY_POWERED.search(text))
    charging = None if status is None else int(status.group("value")) in (_BATTERY_STATUS_CHARGING,
                                                                           _BATTERY_STATUS_FULL)
    return powered, charging


def parse_hal_temperatures(text: str) -> tuple[Temperature, ...]:
    """The `Current temperatures from HAL:` block of `dumpsys thermalservice` (the cached block above it can be
    stale: it holds the last temperatures that crossed a threshold)."""
    section = _HAL_SECTION.search(text)
    if section is None:
        return ()
    return tuple(Temperature(m.group("name").strip(), _TEMPERATURE_TYPES.get(int(m.group("type")), "other"),
                             float(m.group("value")))
                 for m in _TEMPERATURE.finditer(section.group("body")))


def parse_df_available(text: str) -> int | None:
    """Available bytes from toybox `df` (1K blocks: Filesystem 1K-blocks Used Available Use% Mounted on)."""
    lines = [line.split() for line in text.strip().splitlines()]
    if len(lines) < 2 or len(lines[0]) < 4 or not lines[0][1].lower().startswith("1k"):
        return None
    row = lines[-1]
    return int(row[3]) * 1024 if len(row) >= 4 and row[3].isdigit() else None


def parse_cpus_allowed(status: str) -> str | None:
    """`Cpus_allowed_list` of a /proc/<pid>/status (Linux fs/proc/array.c task_cpus_allowed)."""
    match = _CPUS_ALLOWED.search(status)
    return match.group("cpus") if match else None


def mask_cpus(mask: str) -> str:
    """A hex taskset mask as a CPU list in /proc's form: f0 -> 4-7."""
    bits = int(mask, 16)
    cpus = [cpu for cpu in range(bits.bit_length()) if bits >> cpu & 1]
    ranges: list[list[int]] = []
    for cpu in cpus:
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def _setting_on(text: str) -> bool | None:
    value = text.strip()
    return None if value in ("", "null") or not value.lstrip("-").isdigit() else int(value) != 0


# ---- reading ---------------------------------------------------------------------------------------------------
def read_phone_state(device: AdbDevice, folder: str = "/data/local/tmp", taskset_mask: str | None = None
                     ) -> PhoneState:
    """Everything above, read now. A reading the shell user may not make (a vendor that hides cpufreq, an old
    Android without the thermal HAL) is left None / empty rather than failing the run. `taskset_mask`: the one the
    benchmark runs under, so the affinity probe is launched the same way."""
    def out(argv: list[str]) -> str:
        result = device.shell(argv, timeout=30)
        return result.stdout if result.ok else ""

    launcher = ["taskset", taskset_mask] if taskset_mask else []
    awake, stay = parse_power(out(["dumpsys", "power"]))
    battery = out(["dumpsys", "battery"])
    powered, charging = parse_charging(battery)
    level, battery_temp = parse_battery(battery)
    thermal = out(["dumpsys", "thermalservice"])
    governors: dict[str, str] = {}
    for policy in sorted(out(["ls", CPUFREQ]).split()):
        if policy.startswith("policy"):
            governor = out(["cat", posixpath.join(CPUFREQ, policy, "scaling_governor")]).strip()
            if governor:
                governors[policy] = governor
    return PhoneState(
        read_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        source=SIMULATED if device.info.simulated else MEASURED,
        screen_awake=awake, stay_awake=stay, battery_saver=_setting_on(out(["settings", "get", "global", "low_power"])),
        powered=powered, charging=charging, battery_level=level, battery_temp_c=battery_temp,
        cpu_governors=governors, thermal_status=parse_thermal_status(thermal),
        temperatures=parse_hal_temperatures(thermal), data_free_bytes=parse_df_available(out(["df", folder])),
        benchmark_cpus=parse_cpus_allowed(out([*launcher, "cat", "/proc/self/status"])), taskset_mask=taskset_mask)


# ---- checking --------------------------------------------------------------------------------------------------
def state_warnings(state: PhoneState) -> list[str]:
    """What in this state makes timings slower or noisier than the phone's normal, each with the fix."""
    warnings: list[str] = []
    if state.thermal_status not in (None, "none"):
        warnings.append(f"thermal status is {state.thermal_status}: the phone is throttling or close to it, so "
                        f"timings are slower than a cool phone's — let it cool until `dumpsys thermalservice` says "
                        f"Thermal Status: 0")
    if state.battery_saver:
        warnings.append("battery saver is on: it lowers CPU/GPU performance — turn it off "
                        "(`adb shell settings put global low_power 0`)")
    if state.screen_awake is False:
        warnings.append("the screen is off: a sleeping phone may cap clocks or suspend — wake it and turn on "
                        "Developer options > Stay awake (`adb shell svc power stayon usb`)")
    elif state.screen_awake and state.stay_awake is False:
        warnings.append("Stay awake is off: the screen may turn off mid-run — turn it on "
                        "(`adb shell svc power stayon usb`)")
    if state.taskset_mask and state.benchmark_cpus != mask_cpus(state.taskset_mask):
        warnings.append(f"taskset {state.taskset_mask} asks for CPUs {mask_cpus(state.taskset_mask)}, but a process "
                        f"launched that way may run on {state.benchmark_cpus or 'nothing (taskset failed)'}: the "
                        f"shell's cpuset limits it — pick a mask within those CPUs")
    slow = sorted(policy for policy, governor in state.cpu_governors.items() if governor == "powersave")
    if slow:
        warnings.append(f"CPU governor powersave on {', '.join(slow)}: CPU-side timings are capped")
    return warnings


def check_free_space(state: PhoneState, needed: int, what: str, device: str, folder: str) -> None:
    """DeviceError before any push when the phone cannot hold what the run writes."""
    if state.data_free_bytes is None or state.data_free_bytes >= needed:
        return
    raise DeviceError(f"only {_size(state.data_free_bytes)} free on {folder}; this run needs about {_size(needed)} "
                      f"({what})", "free space on the phone (e.g. `adb shell rm -r /data/local/tmp/devlab/models`) or "
                      "run fewer variants", device=device, stage="free space")


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
