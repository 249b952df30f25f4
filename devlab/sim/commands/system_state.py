"""`settings` and `df`: what a shell user reads about a phone's settings and storage (the stay-awake and battery
saver switches, free space on /data)."""

from __future__ import annotations

from devlab.sim.commands import CommandContext, register
from devlab.sim.state import data_free_bytes

_DATA_TOTAL_KB = 226_000_000   # a 256 GB phone's /data partition, in 1K blocks (df's unit)


@register("settings")
def settings(ctx: CommandContext) -> int:
    """`settings get|put|delete <global|system|secure> <key> [value]` (frameworks/base SettingsService's shell
    command; an unset key reads as `null`)."""
    args = ctx.argv[1:]
    if len(args) < 3 or args[0] not in ("get", "put", "delete") or args[1] not in ctx.device.settings:
        ctx.stderr.write("usage:  settings [--user <USER_ID> | current] get namespace key\n"
                         "        settings [--user <USER_ID> | current] put namespace key value\n")
        return 255
    verb, table = args[0], ctx.device.settings[args[1]]
    if verb == "get":
        ctx.stdout.write(table.get(args[2], "null") + "\n")
    elif verb == "put":
        if len(args) < 4:
            return ctx.error("put needs a value", 255)
        table[args[2]] = args[3]
    else:
        table.pop(args[2], None)
        ctx.stdout.write("Deleted 1 rows\n")
    return 0


@register("df")
def df(ctx: CommandContext) -> int:
    """toybox df in 1K blocks; every path under /data is on the one /data filesystem."""
    paths = [a for a in ctx.argv[1:] if not a.startswith("-")] or ["/data"]
    ctx.stdout.write("Filesystem       1K-blocks     Used Available Use% Mounted on\n")
    for path in paths:
        if not ctx.fs.resolve(path, ctx.cwd).exists():
            return ctx.error(f"{path}: No such file or directory")
        free_kb = data_free_bytes(ctx.device) // 1024
        used_kb = max(0, _DATA_TOTAL_KB - free_kb)
        ctx.stdout.write(f"/dev/block/dm-45 {_DATA_TOTAL_KB:>9} {used_kb:>8} {free_kb:>9} "
                         f"{100 * used_kb // _DATA_TOTAL_KB:>3}% /data\n")
    return 0
