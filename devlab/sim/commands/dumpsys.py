"""`dumpsys battery | thermalservice | SurfaceFlinger | power`, from the profile and the phone's faults and settings
(the lines tools grep for, as the services print them in AOSP frameworks/base and frameworks/native)."""

from __future__ import annotations

from devlab.sim import faults
from devlab.sim.commands import CommandContext, register
from devlab.sim.commands.display_input import dump_input, dump_window
from devlab.sim.power import power_model
from devlab.sim.power_source import charging

def _plugged(ctx: CommandContext) -> bool:
    return not faults.is_set(ctx.getprop(faults.UNPLUGGED))


def _battery(ctx: CommandContext) -> str:
    """BatteryService.dumpInternal's lines; status 2 = BATTERY_STATUS_CHARGING, 3 = DISCHARGING, 4 = NOT_CHARGING
    (plugged in, not charging: the `charging=0` fault)."""
    p = ctx.device.profile
    usb = "true" if _plugged(ctx) else "false"
    status = 2 if charging(ctx.device) else 4 if _plugged(ctx) else 3
    return ("Current Battery Service state:\n  AC powered: false\n"
            f"  USB powered: {usb}\n  Wireless powered: false\n"
            "  Max charging current: 500000\n  Max charging voltage: 5000000\n  Charge counter: 3612000\n"
            f"  status: {status}\n  health: 2\n  present: true\n  level: {p.battery_level}\n"
            f"  scale: 100\n  voltage: {p.battery_voltage_mv}\n  temperature: {p.battery_temp_dc}\n"
            "  technology: Li-ion\n")


def thermal_status(ctx: CommandContext) -> int:
    """The `thermal_status` fault's status (a phone that is already throttling), else the profile's or what the
    power model's heat has brought it to (devlab/sim/power.py), whichever is higher."""
    forced = ctx.getprop(faults.THERMAL_STATUS)
    if forced.isdigit():
        return int(forced)
    return max(ctx.device.profile.thermal_status, power_model(ctx.device).status())


def _thermal(ctx: CommandContext) -> str:
    """ThermalManagerService.dump: the status, the cached temperatures, then the HAL's current ones (the profile's
    idle temperatures plus the power model's heat)."""
    status = thermal_status(ctx)
    temps = [f"\tTemperature{{mValue={celsius:.1f}, mType={kind}, mName={name}, mStatus={status}}}"
             for name, kind, celsius in power_model(ctx.device).temperatures()]
    lines = ["IsStatusOverride: false", "ThermalEventListeners:", "\tcallbacks: 1", "ThermalStatusListeners:",
             "\tcallbacks: 1", f"Thermal Status: {status}", "Cached temperatures:", *temps, "HAL Ready: true",
             "HAL connection:", "\tThermalHAL AIDL 1  connected: yes", "Current temperatures from HAL:", *temps,
             "Current cooling devices from HAL:"]
    return "\n".join(lines) + "\n"


def _power(ctx: CommandContext) -> str:
    """PowerManagerService.dumpInternal's lines that say whether the screen is on and kept on: mWakefulness,
    mIsPowered, mStayOn (the stay-awake developer option while plugged in) and its setting."""
    plugged = _plugged(ctx)
    stay_setting = int(ctx.device.settings["global"].get("stay_on_while_plugged_in", "0") or 0)
    stay_on = plugged and stay_setting != 0
    awake = stay_on or not faults.is_set(ctx.getprop(faults.SCREEN_OFF))
    return ("POWER MANAGER (dumpsys power)\n\nPower Manager State:\n"
            f"  mDirty=0x0\n  mWakefulness={'Awake' if awake else 'Asleep'}\n  mWakefulnessChanging=false\n"
            f"  mIsPowered={str(plugged).lower()}\n  mPlugType={2 if plugged else 0}\n"
            f"  mBatteryLevel={ctx.device.profile.battery_level}\n  mStayOn={str(stay_on).lower()}\n"
            "\nSettings and Configuration:\n"
            f"  mStayOnWhilePluggedInSetting={stay_setting}\n")


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


_SERVICES = {"battery": _battery, "thermalservice": _thermal, "SurfaceFlinger": _surfaceflinger, "power": _power,
             "window": dump_window, "input": dump_input}   # the last two: commands/display_input.py (issue 12)


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
