"""Record a Perfetto trace of one benchmark run on a phone, through the Device protocol.

Why a pushed config file and `-c <file> --txt` rather than `-c -` on stdin: Device.shell(argv) has no stdin, and
argv is quoted by the device layer, so a device-side `< file` redirect cannot be expressed. The file goes to
/data/misc/perfetto-configs/, the directory perfetto may read configs from (Android 12+). On Android 11 and older
SELinux may refuse that path; the error then says so.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from devlab.devices.base import Device, ShellResult
from devlab.errors import DevlabError, ToolError
from devlab.trace.config import TraceOptions, build_config, parse_query_output
from devlab.trace.analysis import analyze
from devlab.trace.summary import TraceSummary

TRACE_PROP = "debug.tflite.trace"
CONFIG_DIR = "/data/misc/perfetto-configs"
TRACE_DIR = "/data/misc/perfetto-traces"
STOP_WAIT_S = 10.0
# We stop perfetto with SIGTERM once the benchmark is done; duration_ms is only a safety cap, so it must be longer
# than any benchmark (perfetto would otherwise stop by itself in the middle of the run).
RECORD_CAP_MS = 600_000


@dataclass(frozen=True)
class TraceRecording:
    asked: tuple[str, ...]              # data sources we wanted (generic names)
    offered: tuple[str, ...] | None     # what `perfetto --query` listed (None when the query failed)
    used: tuple[str, ...]               # exact names in the config sent
    arrived: tuple[str, ...]            # kinds of data present in the pulled trace
    path: Path | None                   # the trace in the run folder (None when nothing came back)
    summary: TraceSummary | None
    benchmark: ShellResult | None
    errors: tuple[str, ...]


def arrived_kinds(summary: TraceSummary) -> tuple[str, ...]:
    """What actually arrived, in the words of the config: atrace slices, sched, frequencies, GPU data."""
    names = {c.name for c in summary.counters}
    kinds = []
    if summary.slices:
        kinds.append("atrace")
    if summary.sched.switches:
        kinds.append("sched")
    if any(n.startswith("cpufreq.") for n in names):
        kinds.append("cpufreq")
    if any(n.startswith("gpufreq") for n in names):
        kinds.append("gpufreq")
    if any(c.unit != "kHz" for c in summary.counters):
        kinds.append("counters")
    if summary.gpu_render_stages:
        kinds.append("gpu.renderstages")
    if summary.processes:
        kinds.append("process_names")
    return tuple(kinds)


def _check(result: ShellResult, what: str, fix: str, device: str) -> ShellResult:
    if not result.ok:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ToolError(f"{what} failed (exit {result.exit_code}): {detail[-1] if detail else 'no output'}", fix,
                        device=device, stage="trace")
    return result


def record_trace(device: Device, benchmark_argv: list[str], run_dir: Path, *, name: str = "trace",
                 options: TraceOptions = TraceOptions(duration_ms=RECORD_CAP_MS),
                 benchmark_timeout: float | None = None, config_dir: Path | None = None) -> TraceRecording:
    """setprop debug.tflite.trace 1, start perfetto in the background, run the benchmark, stop perfetto (SIGTERM
    flushes), restore the property to its previous value whatever happens, pull the trace into
    run_dir/<name>.perfetto-trace. The config sent is kept as config_dir/<name>.pbtxt (default: run_dir)."""
    label = device.info.alias or device.info.serial
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ToolError(f"trace name {name!r} is not a plain file name", "use letters, digits, '.', '_', '-'",
                        device=label, stage="trace")
    errors: list[str] = []
    query = device.shell(["perfetto", "--query"], timeout=30)
    offered = parse_query_output(query.stdout) if query.ok else None
    if offered is None:
        errors.append(f"perfetto --query failed (exit {query.exit_code}); config uses generic data-source names")
    built = build_config(options, offered)
    if built.missing:
        errors.append(f"not offered by the device: {', '.join(built.missing)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_dir = run_dir if config_dir is None else config_dir
    config_dir.mkdir(parents=True, exist_ok=True)
    local_config = config_dir / f"{name}.pbtxt"
    local_config.write_text(built.text, encoding="utf-8")
    remote_config = f"{CONFIG_DIR}/{name}.pbtxt"
    remote_trace = f"{TRACE_DIR}/{name}.perfetto-trace"
    _check(device.shell(["mkdir", "-p", CONFIG_DIR, TRACE_DIR]), "mkdir of the perfetto folders",
           "check the device's /data/misc permissions", label)
    device.push(local_config, remote_config)
    # a trace left by an earlier run must never be pulled as this run's, should perfetto write nothing
    device.shell(["rm", "-f", remote_trace])
    previous = device.shell(["getprop", TRACE_PROP]).stdout.strip()
    pid: int | None = None
    bench: ShellResult | None = None
    try:
        _check(device.shell(["setprop", TRACE_PROP, "1"]), f"setprop {TRACE_PROP} 1",
               "the shell user must be allowed to set debug.* properties", label)
        started = _check(device.shell(["perfetto", "--background", "-c", remote_config, "--txt", "-o",
                                       remote_trace]), "starting perfetto",
                         "on Android 11 and older perfetto may not read configs from "
                         f"{CONFIG_DIR}; enable tracing with `setprop persist.traced.enable 1`", label)
        numbers = re.findall(r"^\s*(\d+)\s*$", started.stdout, re.MULTILINE)
        if not numbers:
            raise ToolError("perfetto --background printed no pid", "check the device's perfetto version",
                            device=label, stage="trace")
        pid = int(numbers[-1])
        bench = device.shell(benchmark_argv, timeout=benchmark_timeout)
        if not bench.ok:
            errors.append(f"benchmark exited {bench.exit_code} while tracing")
    finally:
        try:
            if pid is not None:
                _stop(device, pid, errors)
        finally:
            # back to exactly what it was ("" when it was unset): a user's own setting survives our run
            reset = device.shell(["setprop", TRACE_PROP, previous])
            if not reset.ok:
                errors.append(f"could not restore {TRACE_PROP} to {previous!r}: reset it by hand")
    local_trace = run_dir / f"{name}.perfetto-trace"
    try:
        device.pull(remote_trace, local_trace)
        summary = analyze(local_trace)
    except DevlabError as exc:
        errors.append(exc.one_line())
        return TraceRecording(built.asked, offered, built.used, (), None, None, bench, tuple(errors))
    errors.extend(f"trace: {e}" for e in summary.errors)
    return TraceRecording(built.asked, offered, built.used, arrived_kinds(summary), local_trace, summary, bench,
                          tuple(errors))


def _stop(device: Device, pid: int, errors: list[str]) -> None:
    """SIGTERM makes perfetto flush and write the file; wait until the process is gone."""
    device.shell(["kill", str(pid)])
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        if not device.shell(["kill", "-0", str(pid)]).ok:
            return
        time.sleep(0.1)
    errors.append(f"perfetto (pid {pid}) still running {STOP_WAIT_S:.0f} s after SIGTERM; the trace may be partial")
