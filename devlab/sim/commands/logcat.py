"""The simulated phone's main log buffer, `log` and `logcat`.

`log [-p PRIORITY] [-t TAG] [MESSAGE...]` (toybox toys/android/log.c) writes one entry (or one per stdin line);
`logcat` (system/logging/logcat/logcat.cpp) reads it: -d dumps and exits (without it logcat keeps following until
the stream closes), -c clears, -v brief|time|threadtime (the default), -s and TAG:LEVEL filters
(`*:S` silences the rest, a bare TAG means TAG:V). Programs of the phone (the simulated benchmark_model, tag
`tflite`, as TFLite's logging_internal writes on Android) write through `write_log`."""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass

from devlab.sim.commands import CommandContext, register
from devlab.sim.state import DeviceState

PRIORITIES = "VDIWEF"   # verbose .. fatal; S (silent) is only a filter level
# A real phone's log is never quiet for long (system_server, vendor daemons): clients that read `logcat` until they
# stop it only get control back when the next line comes (adbutils' logcat copier blocks in readline). While a
# follower waits, the simulated phone writes one line under this tag after QUIET_SECONDS without any entry
# (a modelling choice, documented in docs/sim-fidelity.md; filter it out with `devlab.sim:S`).
BACKGROUND_TAG = "devlab.sim"
QUIET_SECONDS = 1.0
INIT_PID = 1


@dataclass(frozen=True)
class LogEntry:
    seconds: float
    pid: int
    priority: str
    tag: str
    message: str


class LogBuffer:
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []
        self.changed = threading.Condition()

    def append(self, entry: LogEntry) -> None:
        with self.changed:
            self.entries.append(entry)
            self.changed.notify_all()


_BUFFERS: "weakref.WeakKeyDictionary[DeviceState, LogBuffer]" = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def buffer_of(device: DeviceState) -> LogBuffer:
    with _LOCK:
        return _BUFFERS.setdefault(device, LogBuffer())


def write_log(device: DeviceState, priority: str, tag: str, message: str, pid: int = 0) -> None:
    """One entry per line of `message` (liblog splits nothing; logcat shows one line per entry, so we do)."""
    for line in message.splitlines() or [""]:
        _write_entry(device, priority.upper(), tag, line, pid)


@register("log")
def log(ctx: CommandContext) -> int:
    """toybox log.c: -p one of d e f i s v w (default i), -t TAG (default `log`); the arguments joined by spaces
    (cut at 1024 bytes with an error line) or, with none, one entry per stdin line."""
    args = ctx.argv[1:]
    priority, tag = "I", "log"
    while args and args[0] in ("-p", "-t") and len(args) > 1:
        option, value = args[0], args[1]
        args = args[2:]
        if option == "-p":
            if len(value) != 1 or value.lower() not in "defisvw":
                return ctx.error(f"bad -p '{value}'")
            priority = value.upper()
        else:
            tag = value
    pid = ctx.fs.current_pid() or 0
    if not args:
        for line in ctx.read_stdin().decode(errors="replace").splitlines():
            _write_entry(ctx.device, priority, tag, line, pid)
        return 0
    message = " ".join(args)
    status = 0
    if len(message.encode()) >= 1024:
        message = message.encode()[:1024].decode(errors="ignore")
        status = ctx.error("log cut at 1024 bytes")
    _write_entry(ctx.device, priority, tag, message, pid)
    return status


def _write_entry(device: DeviceState, priority: str, tag: str, message: str, pid: int) -> None:
    if priority != "S":   # SILENT is a filter level, never a message's (**guess**: liblog drops such a write)
        buffer_of(device).append(LogEntry(time.time(), pid, priority, tag, message))


def _format(entry: LogEntry, style: str) -> str:
    stamp = time.strftime("%m-%d %H:%M:%S", time.gmtime(entry.seconds)) + f".{int(entry.seconds * 1000) % 1000:03d}"
    if style == "brief":
        return f"{entry.priority}/{entry.tag:<8}({entry.pid:5}): {entry.message}\n"
    if style == "time":
        return f"{stamp} {entry.priority}/{entry.tag:<8}({entry.pid:5}): {entry.message}\n"
    return f"{stamp} {entry.pid:5} {entry.pid:5} {entry.priority} {entry.tag:<8}: {entry.message}\n"


def _visible(entry: LogEntry, filters: dict[str, str]) -> bool:
    level = filters.get(entry.tag, filters.get("*", "V"))
    return level != "S" and PRIORITIES.index(entry.priority) >= PRIORITIES.index(level)


@register("logcat")
def logcat(ctx: CommandContext) -> int:
    args = ctx.argv[1:]
    dump, style, filters = False, "threadtime", {}
    while args:
        arg = args.pop(0)
        if arg == "-d":
            dump = True
        elif arg in ("-c", "--clear"):
            with buffer_of(ctx.device).changed:
                buffer_of(ctx.device).entries.clear()
            return 0
        elif arg == "-v" and args:
            style = args.pop(0)
            if style not in ("brief", "time", "threadtime"):
                return ctx.error(f"Unknown format '{style}'")   # the simulated logcat knows these three
        elif arg == "-s":
            filters["*"] = "S"
        elif arg == "-b" and args:
            args.pop(0)   # one buffer here: main
        elif arg.startswith("-"):
            return ctx.error(f"unknown option {arg}")
        else:
            tag, _, level = arg.partition(":")
            level = (level or "V").upper()
            if level not in PRIORITIES + "S":
                return ctx.error(f"Invalid filter expression '{arg}'")
            filters[tag] = level
    buffer = buffer_of(ctx.device)
    shown = 0
    while True:
        with buffer.changed:
            fresh = buffer.entries[shown:]
            shown = len(buffer.entries)
        ctx.stdout.write("".join(_format(e, style) for e in fresh if _visible(e, filters)))
        if dump:
            return 0
        with buffer.changed:   # follow: wait for more until the stream closes
            if len(buffer.entries) == shown:
                buffer.changed.wait(0.2)
            quiet = not buffer.entries or time.time() - buffer.entries[-1].seconds >= QUIET_SECONDS
        if quiet:   # a phone's system services log all the time; readers rely on lines arriving (see QUIET_SECONDS)
            write_log(ctx.device, "D", BACKGROUND_TAG, "background log line (simulated)", INIT_PID)
        if ctx.cancelled.is_set() or ctx.output_closed():
            return 0
