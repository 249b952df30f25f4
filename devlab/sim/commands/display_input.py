"""`wm size|density`, `input tap|swipe|text|keyevent`, `screencap [-p] [FILE]` and the window / input dumps, from
the simulated phone's display (devlab/sim/framework.py).

wm: frameworks/base WindowManagerShellCommand.java (`Physical size: WxH`, `Override size: ...`, `Physical density:
N`); input: InputShellCommand.java (events injected; the simulated phone records them for `dumpsys input`);
screencap: frameworks/base cmds/screencap/screencap.cpp (-p: PNG, else the raw header w, h, format (1 =
RGBA_8888), [dataspace from Android 10: 1 = COLORSPACE_SRGB] then the pixels). The screen is one flat colour: no app draws here."""

from __future__ import annotations

import struct
import zlib

from devlab.sim.commands import CommandContext, register
from devlab.sim.framework import HOME_ACTIVITY, framework_of

_PIXEL = bytes((0x20, 0x40, 0x60, 0xFF))   # RGBA of the simulated screen
_KEYCODES = {"KEYCODE_HOME": 3, "KEYCODE_BACK": 4, "KEYCODE_POWER": 26, "KEYCODE_ENTER": 66,
             "KEYCODE_WAKEUP": 224, "KEYCODE_MENU": 82}


def screen_rgba(ctx_device) -> tuple[int, int, bytes]:
    width, height = framework_of(ctx_device).size()
    return width, height, _PIXEL * (width * height)


def png(width: int, height: int, rgba: bytes) -> bytes:
    """A PNG (RFC 2083): IHDR 8-bit RGBA, one IDAT of filter-0 rows, IEND."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    stride = width * 4
    rows = b"".join(b"\0" + rgba[y * stride:(y + 1) * stride] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


@register("screencap")
def screencap(ctx: CommandContext) -> int:
    args = [a for a in ctx.argv[1:] if a not in ("-p",)]
    as_png = "-p" in ctx.argv[1:] or (args and args[-1].endswith(".png"))
    width, height, rgba = screen_rgba(ctx.device)
    sdk = int(ctx.getprop("ro.build.version.sdk", "34") or 34)
    data = png(width, height, rgba) if as_png else (
        struct.pack("<IIII" if sdk >= 29 else "<III", width, height, 1, *([1] if sdk >= 29 else [])) + rgba)
    if args:
        try:
            ctx.fs.resolve(args[-1], ctx.cwd).write_bytes(data)
        except OSError as exc:
            return ctx.error(f"Error opening file: {args[-1]} ({exc.strerror})")
    else:
        ctx.stdout.write(data)
    return 0


@register("wm")
def wm(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    framework = framework_of(ctx.device)
    if args[:1] == ["size"]:
        if len(args) == 1:
            ctx.stdout.write(f"Physical size: {framework.width}x{framework.height}\n")
            if framework.override_size:
                ctx.stdout.write("Override size: {}x{}\n".format(*framework.override_size))
        elif args[1] == "reset":
            framework.override_size = None
        else:
            w, _, h = args[1].partition("x")
            if not (w.isdigit() and h.isdigit()):
                ctx.stderr.write(f"Error: bad size {args[1]}\n")
                return 255
            framework.override_size = (int(w), int(h))
        return 0
    if args[:1] == ["density"]:
        if len(args) == 1:
            ctx.stdout.write(f"Physical density: {framework.density}\n")
            if framework.override_density:
                ctx.stdout.write(f"Override density: {framework.override_density}\n")
        elif args[1] == "reset":
            framework.override_density = None
        elif args[1].isdigit():
            framework.override_density = int(args[1])
        else:
            ctx.stderr.write(f"Error: bad number {args[1]}\n")
            return 255
        return 0
    ctx.stderr.write(f"Unknown command: {args[0] if args else ''}\n")
    return 255


@register("input")
def input_cmd(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    source = "touchscreen"
    if args and args[0] in ("touchscreen", "keyboard", "mouse", "touchpad", "stylus", "dpad", "gamepad"):
        source, args = args[0], args[1:]
    framework = framework_of(ctx.device)
    numbers = [a for a in args[1:] if a.lstrip("-").isdigit()]
    if args[:1] == ["tap"] and len(numbers) == 2:
        x, y = map(int, numbers)   # off the screen too: injected, it lands nowhere (as on a phone)
        framework.record(source, "tap", f"x={x} y={y}")
        return 0
    if args[:1] == ["swipe"] and len(numbers) in (4, 5):
        framework.record(source, "swipe", " ".join(numbers))
        return 0
    if args[:1] == ["text"] and len(args) == 2:
        framework.record("keyboard", "text", args[1].replace("%s", " "))
        return 0
    if args[:1] == ["keyevent"] and len(args) >= 2:
        for key in args[1:]:
            code = int(key) if key.isdigit() else _KEYCODES.get(key)
            if code is None:
                ctx.stderr.write(f"Error: Unknown keycode: {key}\n")   # InputShellCommand: unknown name
                return 1
            framework.record("keyboard", "keyevent", str(code))
            if code == 3:   # HOME brings the launcher to the front
                framework.focused = HOME_ACTIVITY
        return 0
    ctx.stderr.write("Usage: input [<source>] <command> [<arg>...]\n")
    return 1


def dump_window(ctx: CommandContext) -> str:
    """The lines tools grep in `dumpsys window`: mCurrentFocus, mFocusedApp, the display's size and density."""
    framework = framework_of(ctx.device)
    width, height = framework.size()
    focus = framework.focused
    return ("WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
            f"  mCurrentFocus=Window{{1a2b3c u0 {focus}}}\n"
            f"  mFocusedApp=ActivityRecord{{4d5e6f u0 {focus} t12}}\n"
            f"  cur={width}x{height} app={width}x{height}\n"
            f"  mInitialDisplayWidth={framework.width} mInitialDisplayHeight={framework.height} "
            f"mInitialDisplayDensity={framework.density}\n")


def dump_input(ctx: CommandContext) -> str:
    """`dumpsys input`: the simulated phone lists the events `input` injected (a real one lists its event hub and
    dispatcher state; the recent events are the part tests read)."""
    framework = framework_of(ctx.device)
    with framework.lock:
        events = list(framework.events)
    lines = ["INPUT MANAGER (dumpsys input)", "", "Input Dispatcher State:", f"  RecentQueue: length={len(events)}"]
    lines += [f"    {e.source}: {e.action} {e.detail}" for e in events]
    return "\n".join(lines) + "\n"
