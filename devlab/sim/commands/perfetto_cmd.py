"""The simulated phone's `perfetto` binary: `--query`, `--query-raw`, and recording a real protobuf trace.

    perfetto --query | --query-raw
    perfetto -c - --txt -o /data/misc/perfetto-traces/x.perfetto-trace [--background | --background-wait]
    perfetto -c /data/misc/perfetto-configs/x.cfg --txt -o ... [--background | --background-wait]

Behaviour a recorder must cope with, as perfetto_cmd.cc has it (docs/sim-fidelity.md cites each):
- the process runs in the `perfetto` SELinux domain: the shell user may SIGTERM it but not `kill -0` / `kill -9`
  it (commands/basic.py), and waits for it through /proc/<pid>;
- `--background` prints the pid and returns at once, BEFORE the data sources have started: what happens in the
  first DATA_SOURCE_START_S is not recorded; `--background-wait` (v22+, the profile's perfetto_version) returns once
  they have started, exit code 0 (an older perfetto refuses the option with a usage error);
- the output file is created empty at start and written only on stop (SIGTERM/SIGINT or duration_ms), after the
  data sources' flush (FLUSH_S); the process exits only after that, so the file is final once /proc/<pid> is gone;
- `--query` prints the text-proto form before v24, tables after; `--query-raw` the binary TracingServiceState.
The trace holds what the config asks for, a buffer that fills loses data and trace_stats says so
(devlab/sim/perfetto_service.py).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from google.protobuf.message import DecodeError
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TraceConfig

from devlab.sim import faults
from devlab.sim import perfetto_service as service
from devlab.sim.commands import CommandContext, register
from devlab.sim.power_source import power_frames
from devlab.trace.config import parse_config
from devlab.errors import ConfigError

PERFETTO_VERSION_PROP = "ro.devlab.perfetto_version"
# Wall seconds, not simulated ones: daemon IPC, independent of the benchmark's time scale.
DATA_SOURCE_START_S = 0.3      # from the session's start until every data source is recording
FLUSH_S = 0.4                  # from SIGTERM until the trace file is written and the process exits
PERFETTO_WRITABLE = "/data/misc/perfetto-traces/"   # perfetto_traces_data_file (sepolicy private/file_contexts)
_USAGE = "Usage: perfetto\n  --background     -d      : Exits immediately and continues in the background.\n"


def _parse_args(argv: list[str], version: int) -> dict[str, object]:
    opts: dict[str, object] = {"txt": False, "background": False, "wait": False, "query": None, "config": None,
                               "out": None}
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--query", "--query-raw"):
            opts["query"] = arg
        elif arg == "--txt":
            opts["txt"] = True
        elif arg in ("--background", "-d"):
            opts["background"] = True
        elif arg in ("--background-wait", "-D") and version >= service.BACKGROUND_WAIT_SINCE:
            opts["background"] = opts["wait"] = True
        elif arg in ("-c", "--config"):
            opts["config"] = next(args, None)
        elif arg in ("-o", "--out"):
            opts["out"] = next(args, None)
        else:   # getopt_long's message, then perfetto prints its usage and exits 1
            raise ConfigError(f"unrecognized option '{arg}'" if arg.startswith("--") else
                              f"invalid option -- '{arg.lstrip('-')}'", "")
    return opts


def _read_config(ctx: CommandContext, opts: dict[str, object]) -> TraceConfig | str:
    """The config, or the error message perfetto prints."""
    raw = ctx.read_stdin() if opts["config"] == "-" else None
    if raw is None:
        try:
            raw = ctx.fs.resolve(str(opts["config"]), ctx.cwd).read_bytes()
        except OSError:
            return f"Could not open {opts['config']}"
    try:
        if opts["txt"]:
            return parse_config(raw.decode("utf-8", "replace"), origin="config")
        return TraceConfig.FromString(raw)
    except (ConfigError, DecodeError) as exc:
        return f"The trace config is invalid: {exc}"


class _Discarded:
    """Where the output of a file descriptor perfetto may not use goes: at exec, SELinux replaces it with
    /dev/null, so writes 'succeed' and nothing arrives."""

    def write(self, data: bytes | str) -> None:
        pass


def _writable_stdout(ctx: CommandContext):
    """perfetto runs in its own domain: it may write to the shell's pipes and pty (sepolicy private/perfetto.te:
    `allow perfetto shell:fifo_file { ... write }`, `devpts:chr_file`, adbd's socket) and to files in
    /data/misc/perfetto-traces, but not to a shell redirect into /data/local/tmp (shell_data_file): `perfetto
    --query-raw > /data/local/tmp/x` leaves x empty, `perfetto --query-raw | cat > /data/local/tmp/x` works."""
    handle = getattr(ctx.stdout, "handle", None)         # a redirect to a file (the simulated shell's FileOut)
    name = getattr(handle, "name", None)
    if not isinstance(name, str):
        return ctx.stdout
    device_path = ctx.fs.to_device(Path(name))
    return ctx.stdout if device_path.startswith(PERFETTO_WRITABLE) else _Discarded()


@register("perfetto")
def perfetto(ctx: CommandContext) -> int:
    ctx.stdout = _writable_stdout(ctx)
    offered = service.offered_data_sources(ctx.getprop("ro.hardware.egl"))
    version = int(ctx.getprop(PERFETTO_VERSION_PROP) or service.TABLE_QUERY_SINCE)
    try:
        opts = _parse_args(ctx.argv, version)
    except ConfigError as exc:
        ctx.error(exc.problem)
        ctx.stderr.write(_USAGE)
        return 1
    if opts["query"] is not None:
        state = service.service_state(ctx.device, offered, version)
        ctx.stdout.write(state.SerializeToString() if opts["query"] == "--query-raw"
                         else service.query_text(state, version))
        return 0
    if opts["config"] is None or opts["out"] is None:
        return ctx.error("both -c <config> and -o <file> are needed (this simulator does not record to dropbox)")
    config = _read_config(ctx, opts)
    if isinstance(config, str):
        return ctx.error(config)
    try:
        target = ctx.fs.resolve(str(opts["out"]), ctx.cwd)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")     # opened (and truncated) at start; the trace is written on stop
    except OSError as exc:
        return ctx.error(f"Failed to open {opts['out']}: {exc.strerror}")
    recording_from = time.monotonic_ns() + int(DATA_SOURCE_START_S * 1e9)
    # duration_ms is traced's own wall-clock timer: not scaled like the simulated benchmark's time, so a recorder
    # that sizes its cap for a real phone gets the same cap here
    limit_s = config.duration_ms / 1000 if config.duration_ms else None
    started = threading.Event()
    session = service.open_session(ctx.device, config)

    def record(stop: threading.Event) -> int:
        try:
            if not stop.wait(DATA_SOURCE_START_S):
                started.set()
                stop.wait(None if limit_s is None else max(0.0, limit_s - DATA_SOURCE_START_S))
            stopping = time.monotonic_ns()   # polling data sources (android.power) take no sample after this
            time.sleep(FLUSH_S)     # the data sources flush, then traced hands the buffers over
            stopped = time.monotonic_ns()
            events = ctx.device.timeline.between(recording_from, stopped)
            power = power_frames(ctx.device, config, offered, recording_from, stopping)
            with open(target, "wb") as out:
                refused = tuple(e for e in ctx.device.getprop(faults.FTRACE_REFUSED).split(",") if e)
                service.write_trace(out, config, events, offered, power, ctx.device.trace_clock_ns,
                                    service.thermal_samples(ctx.device, recording_from, stopping), refused)
        finally:
            started.set()
            service.close_session(ctx.device, session)
        return 0

    if not opts["background"]:
        return record(ctx.cancelled)
    pid = ctx.spawn_job("perfetto", record, domain="perfetto")
    ctx.stdout.write(f"{pid}\n")
    if opts["wait"]:
        started.wait(DATA_SOURCE_START_S + 30)   # perfetto waits up to 30 s for the acknowledgement
    return 0
