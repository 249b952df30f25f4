"""Commands of the simulated phone's shell, and the registry other modules extend.

Adding a command (e.g. devlab/sim/commands/perfetto_cmd.py)::

    from devlab.sim.commands import CommandContext, register

    @register("perfetto")
    def perfetto(ctx: CommandContext) -> int:
        ctx.stdout.write("text or bytes\\n")        # stdout / stderr accept str (utf-8) or bytes
        config = ctx.read_stdin()                   # all of stdin (blocks until the host closes it; b"" for v1)
        host_path = ctx.fs.resolve(ctx.argv[1], ctx.cwd)   # device path -> host path inside the sandbox
        ctx.getprop("debug.tflite.trace"); ctx.setprop("k", "v")
        events = ctx.device.timeline.between(t0_ns, t1_ns)  # SimEvents left by simulated runs (devlab.sim.timeline)
        pid = ctx.spawn_job("perfetto", lambda stop: record_until(stop))   # background; `kill <pid>` sets stop
        if not ctx.sleep(1.5): ...                  # False when the stream was closed meanwhile (give up)
        return 0                                     # the exit status

Every module in this package is imported when the registry is first used (`lookup`, `names`), so a new module
only has to exist. `register(name, *aliases)` raises if a name is taken twice. A command gets a `CommandContext`
and returns its exit status; it must never touch host paths except through `ctx.fs` (the sandbox).
Background jobs get a `threading.Event` that `kill <pid>` (SIGTERM-like) sets; they should finish cleanly
(flush files) and return; `kill -9` also sets it, `kill -0 <pid>` tells whether the job is still alive, where the
job's SELinux domain lets the shell user send it that signal (commands/basic.py SIGNAL_PERMISSIONS: a job spawned
with domain="perfetto" takes SIGTERM but refuses `kill -0` and `kill -9`, as on a phone).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from dataclasses import dataclass, field
from typing import Callable, Protocol

from devlab.sim.fs import FsSandbox
from devlab.sim.state import DeviceState


class Output(Protocol):
    def write(self, data: bytes | str) -> None: ...


@dataclass
class CommandContext:
    argv: list[str]
    stdout: Output
    stderr: Output
    env: dict[str, str]
    cwd: str
    device: DeviceState
    cancelled: threading.Event
    stdin_reader: Callable[[], bytes] = field(default=lambda: b"")
    # runs another argv through the shell's command lookup with this context's streams (taskset, nice, exec);
    # an optional dict adds environment variables for it (env NAME=VALUE CMD)
    run_argv: Callable[..., int] | None = None

    @property
    def fs(self) -> FsSandbox:
        return self.device.fs

    def read_stdin(self) -> bytes:
        return self.stdin_reader()

    def getprop(self, key: str, default: str = "") -> str:
        return self.device.getprop(key, default)

    def setprop(self, key: str, value: str) -> None:
        self.device.setprop(key, value)

    def spawn_job(self, name: str, target: Callable[[threading.Event], int], domain: str = "shell") -> int:
        return self.device.spawn_job(name, target, domain).pid

    def sleep(self, seconds: float) -> bool:
        """Sleep `seconds` of real time; False (early) when the stream closed or the command was cancelled."""
        return not self.cancelled.wait(max(0.0, seconds))

    def output_closed(self) -> bool:
        """Whether stdout's reader went away (the adb stream closed): a program that only waits for something to
        write (logcat following) ends, as its next write would fail on a phone."""
        closed = getattr(self.stdout, "closed", None)
        return bool(closed()) if callable(closed) else False

    def error(self, message: str, code: int = 1) -> int:
        """Print `<argv0>: <message>` on stderr and return `code` (toybox style)."""
        self.stderr.write(f"{self.argv[0].rsplit('/', 1)[-1]}: {message}\n")
        return code


CommandFn = Callable[[CommandContext], int]

_REGISTRY: dict[str, CommandFn] = {}
_loaded = False
_load_lock = threading.Lock()


def register(name: str, *aliases: str) -> Callable[[CommandFn], CommandFn]:
    def decorate(fn: CommandFn) -> CommandFn:
        for key in (name, *aliases):
            if key in _REGISTRY and _REGISTRY[key] is not fn:
                raise ValueError(f"simulated command {key!r} is registered twice")
            _REGISTRY[key] = fn
        return fn
    return decorate


def _load_all() -> None:
    global _loaded
    with _load_lock:
        if _loaded:
            return
        for module in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True


def lookup(name: str) -> CommandFn | None:
    _load_all()
    return _REGISTRY.get(name)


def names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)
