"""`svc power stayon true|false|usb|ac|wireless` (frameworks/base cmds/svc PowerCommand.java): sets the 'keep awake
while plugged in' setting, Settings.Global stay_on_while_plugged_in, to a mask of BatteryManager.BATTERY_PLUGGED_*
(AC 1, USB 2, WIRELESS 4; true = 7, false = 0), which `dumpsys power` and devlab's doctor read. Other svc
commands (wifi, data, usb, reboot, ...) are not simulated."""

from __future__ import annotations

from devlab.sim.commands import CommandContext, register

_STAY_ON = {"true": 7, "false": 0, "usb": 2, "ac": 1, "wireless": 4}
_HELP = ("Control the power manager\n\nusage: svc power stayon [true|false|usb|ac|wireless]\n"
         "         Set the 'keep awake while plugged in' setting.\n")


@register("svc")
def svc(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    if args[:2] == ["power", "stayon"] and len(args) == 3 and args[2] in _STAY_ON:
        ctx.device.settings["global"]["stay_on_while_plugged_in"] = str(_STAY_ON[args[2]])
        return 0
    if args[:1] == ["power"]:
        ctx.stderr.write(_HELP)   # PowerCommand.run: bad arguments print the long help
        return 1
    return ctx.error(f"the simulated phone has no svc command '{args[0] if args else ''}' "
                     "(only svc power stayon)")
