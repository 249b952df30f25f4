"""`dumpsys battery | thermalservice | SurfaceFlinger`, from the profile (the lines tools grep for)."""

from __future__ import annotations

from devlab.sim.commands import CommandContext, register

_THERMAL_NAMES = ("NONE", "LIGHT", "MODERATE", "SEVERE", "CRITICAL", "EMERGENCY", "SHUTDOWN")


def _battery(ctx: CommandContext) -> str:
    p = ctx.device.profile
    return ("Current Battery Service state:\n  AC powered: false\n  USB powered: true\n  Wireless powered: false\n"
            "  Max charging current: 500000\n  Max charging voltage: 5000000\n  Charge counter: 3612000\n"
            f"  status: 2\n  health: 2\n  present: true\n  level: {p.battery_level}\n  scale: 100\n"
            f"  voltage: {p.battery_voltage_mv}\n  temperature: {p.battery_temp_dc}\n  technology: Li-ion\n")


def _thermal(ctx: CommandContext) -> str:
    p = ctx.device.profile
    lines = ["IsStatusOverride: false", f"ThermalEventListeners:", "\tcallbacks: 1",
             f"Thermal Status: {p.thermal_status}", "Cached temperatures:"]
    for zone in p.thermal_zones:
        kind = 3 if "batt" in zone.type.lower() else 4 if "skin" in zone.type.lower() else 0
        lines.append(f"\tTemperature{{mValue={zone.temp_millic / 1000:.1f}, mType={kind}, mName={zone.type}, "
                     f"mStatus={p.thermal_status}}}")
    lines.append("HAL Ready: true")
    lines.append("HAL connection:")
    lines.append("\tThermalHAL AIDL 1  connected: yes")
    return "\n".join(lines) + "\n"


# SurfaceFlinger picks its RenderEngine from debug.renderengine.backend (frameworks/native
# libs/renderengine/RenderEngine.cpp); the Vulkan ones dump SkiaVkRenderEngine::appendBackendSpecificInfoToDump:
# a `RE Vulkan` block with extension names and no GPU name, and no `GLES:` line.
_VULKAN_BACKENDS = ("skiavk", "skiavkthreaded")


def _surfaceflinger(ctx: CommandContext) -> str:
    p = ctx.device.profile
    head = (f"Build configuration: [sf PRESENT_TIME_OFFSET=0 FORCE_HWC_FOR_RBG_TO_YUV=1]\n"
            f"Display 4619827259835644672 (HWC display 0): port=0 pnpId=QCM displayName=\"\"\n"
            f"RenderEngine supports protected context: yes\n")
    if ctx.getprop("debug.renderengine.backend") in _VULKAN_BACKENDS:
        return head + ("\n ------------RE Vulkan----------\n\n Vulkan device initialized: 1\n\n"
                       " Vulkan protected device initialized: 1\n\n Instance extensions:\n\n"
                       " VK_KHR_surface\n\n Device extensions:\n\n VK_KHR_swapchain\n")
    return head + f"\n ------------RE GLES------------\n{p.gles}\n"


_SERVICES = {"battery": _battery, "thermalservice": _thermal, "SurfaceFlinger": _surfaceflinger}


@register("dumpsys")
def dumpsys(ctx: CommandContext) -> int:
    if len(ctx.argv) < 2 or ctx.argv[1] == "-l":
        ctx.stdout.write("Currently running services:\n" + "".join(f"  {name}\n" for name in sorted(_SERVICES)))
        return 0
    service = _SERVICES.get(ctx.argv[1])
    if service is None:
        ctx.stderr.write(f"Can't find service: {ctx.argv[1]}\n")
        return 0  # dumpsys itself exits 0 here on Android
    ctx.stdout.write(service(ctx))
    return 0
