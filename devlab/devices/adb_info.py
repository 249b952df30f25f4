"""A phone's identity from what tools read over adb: `getprop`, `dumpsys battery|thermalservice|SurfaceFlinger`.

Pure text -> values; nothing here talks to a device. A value the phone does not report stays empty / None.
"""

from __future__ import annotations

import re

from devlab.devices.base import DeviceInfo

_PROP_LINE = re.compile(r"^\[(?P<key>[^\]]+)\]: \[(?P<value>.*)\]\s*$")
_GLES_LINE = re.compile(r"^\s*GLES:\s*(?P<rest>.+?)\s*$", re.MULTILINE)
_RE_VULKAN = re.compile(r"-+RE Vulkan-+")
_BATTERY_FIELD = re.compile(r"^\s*(?P<key>level|temperature):\s*(?P<value>-?\d+)\s*$", re.MULTILINE)
_THERMAL_STATUS = re.compile(r"^\s*Thermal Status:\s*(?P<value>\d+)\s*$", re.MULTILINE)
# android.os.PowerManager THERMAL_STATUS_* in order
THERMAL_NAMES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")


def parse_getprop(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for line in text.splitlines():
        match = _PROP_LINE.match(line)
        if match:
            props[match.group("key")] = match.group("value")
    return props


def parse_gles(text: str) -> tuple[str, str] | None:
    """`GLES: Qualcomm, Adreno (TM) 740, OpenGL ES 3.2 V@...` -> (renderer, whole line); None without one."""
    match = _GLES_LINE.search(text)
    if not match:
        return None
    parts = [part.strip() for part in match.group("rest").split(",")]
    renderer = parts[1] if len(parts) >= 2 else parts[0]
    return renderer, match.group("rest")


def parse_battery(text: str) -> tuple[int | None, float | None]:
    """(level %, temperature °C); dumpsys prints the temperature in tenths of a degree."""
    fields = {m.group("key"): int(m.group("value")) for m in _BATTERY_FIELD.finditer(text)}
    level = fields.get("level")
    temp = fields.get("temperature")
    return level, None if temp is None else temp / 10.0


def parse_thermal_status(text: str) -> str | None:
    match = _THERMAL_STATUS.search(text)
    if not match:
        return None
    code = int(match.group("value"))
    return THERMAL_NAMES[code] if code < len(THERMAL_NAMES) else f"status {code}"


def gpu_label(gles: tuple[str, str] | None, egl: str) -> tuple[str, str]:
    """(label, where it came from). SurfaceFlinger's GL RenderEngines print `GLES: vendor, renderer, version`; its
    Vulkan RenderEngine (SkiaVkRenderEngine) prints a `RE Vulkan` block with no GPU name, so what is left is
    ro.hardware.egl, which names the driver family (adreno, mali), not the GPU: the label says so."""
    if gles:
        return gles[0], "SurfaceFlinger GLES"
    if egl:
        return f"{egl} (driver family; the GPU model is not reported)", "ro.hardware.egl"
    return "", ""


def device_info(serial: str, props: dict[str, str], *, battery: str = "", thermal: str = "",
                surfaceflinger: str = "", alias: str | None = None, server: str | None = None) -> DeviceInfo:
    gles = parse_gles(surfaceflinger)
    egl = props.get("ro.hardware.egl", "")
    level, temp_c = parse_battery(battery)
    gpu, gpu_source = gpu_label(gles, egl)
    extra = {key: value for key, value in (
        ("adb_server", server or ""), ("egl", egl), ("gles", gles[1] if gles else ""), ("gpu_source", gpu_source),
        ("render_engine", "vulkan" if _RE_VULKAN.search(surfaceflinger) else "gles" if gles else ""),
        ("soc_name", props.get("ro.devlab.soc_name", "")), ("soc_manufacturer", props.get("ro.soc.manufacturer", "")),
        ("device", props.get("ro.product.device", "")), ("abilist", props.get("ro.product.cpu.abilist", "")),
        ("benchmark_model", props.get("ro.devlab.benchmark_model", "")),
    ) if value}
    return DeviceInfo(
        serial=serial, kind="adb", model=props.get("ro.product.model", ""), alias=alias,
        manufacturer=props.get("ro.product.manufacturer", ""), board=props.get("ro.board.platform", ""),
        soc=props.get("ro.soc.model", ""),
        gpu=gpu, abi=props.get("ro.product.cpu.abi", ""),
        android_version=props.get("ro.build.version.release", ""), sdk=props.get("ro.build.version.sdk", ""),
        simulated=props.get("ro.devlab.simulated", "") == "1", battery_level=level, battery_temp_c=temp_c,
        thermal_status=parse_thermal_status(thermal), extra=extra,
    )
