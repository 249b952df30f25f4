"""Record a Perfetto trace of one benchmark run on a phone, through the Device protocol.

Why a pushed config file and `-c <file> --txt` rather than `-c -` on stdin: Device.shell(argv) has no stdin, and
argv is quoted by the device layer, so a device-side `< file` redirect cannot be expressed. The file goes to
/data/misc/perfetto-configs/, the directory perfetto may read configs from (Android 12+). On Android 11 and older
SELinux may refuse that path; the error then says so.

What a real phone demands (each rule cited in docs/sim-fidelity.md, and enforced by the simulated phone):
- Ask the service with `perfetto --query-raw` (devlab/trace/service_query.py): the text `--query` changed format.
  A session already running (a crashed earlier run's perfetto) is reported before recording.
- Start with `--background-wait` where perfetto has it (v22+): plain `--background` returns before the data sources
  have started, so the first invocations could be missing. An older perfetto refuses the option; then devlab uses
  `--background` and gives the data sources START_SETTLE_S to start, and says so.
- Stop with SIGTERM (`kill PID`: the shell user holds `signal` on perfetto) and wait until /proc/PID is gone: the
  file is final only once perfetto has exited, and `kill -0 PID` cannot tell (no `signull` for the shell user: it
  fails while perfetto runs).
- A trace with no packets is an error; one whose trace_stats reports lost data, or that holds fewer main-graph
  Invoke slices than the benchmark ran, is `incomplete`, and the recording says why.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from devlab.bench.log_parser import parse_benchmark_log
from devlab.devices.base import Device, ShellResult
from devlab.errors import DevlabError, ToolError
from devlab.trace.analysis import analyze
from devlab.trace.atrace import is_main_invoke
from devlab.trace.config import TraceOptions, build_config
from devlab.trace.service_query import ServiceState, query_service
from devlab.trace.summary import TraceSummary

TRACE_PROP = "debug.tflite.trace"
CONFIG_DIR = "/data/misc/perfetto-configs"
TRACE_DIR = "/data/misc/perfetto-traces"
STOP_WAIT_S = 30.0         # SIGTERM -> flush (perfetto's default flush timeout is 5 s) -> file written -> exit
POLL_S = 0.1
# Without --background-wait nothing says when the data sources have started; this is a generous settle time, not
# a measured one (traced_probes starts ftrace and atrace categories within a fraction of a second on a phone).
START_SETTLE_S = 2.0
# We stop perfetto with SIGTERM once the benchmark is done; duration_ms is only a safety cap, so it must be longer
# than any benchmark (perfetto would otherwise stop by itself in the middle of the run).
RECORD_CAP_MS = 600_000
BACKGROUND_WAIT = "--background-wait"


@dataclass(frozen=True)
class TraceRecording:
    asked: tuple[str, ...]              # data sources we wanted (generic names)
    offered: tuple[str, ...] | None     # what the service listed (None: unknown)
    used: tuple[str, ...]               # exact names in the config sent
    arrived: tuple[str, ...]            # kinds of data present in the pulled trace
    path: Path | None                   # the trace in the run folder (None when nothing came back)
    summary: TraceSummary | None
    benchmark: ShellResult | None
    errors: tuple[str, ...]
    status: str = "missing"             # complete | incomplete | empty | missing (nothing pulled)
    incomplete: tuple[str, ...] = ()    # why it is not complete
    started_with: str | None = None     # "--background-wait", or "--background" (+ START_SETTLE_S) on old perfetto
    leftover_sessions: int | None = None   # tracing sessions running before ours (None: unknown)

    def to_json(self) -> dict[str, object]:
        """What run.json keeps of the recording (extra.trace)."""
        return {"asked": list(self.asked), "offered": None if self.offered is None else list(self.offered),
                "used": list(self.used), "arrived": list(self.arrived), "status": self.status,
                "incomplete": list(self.incomplete), "started_with": self.started_with,
                "leftover_sessions": self.leftover_sessions, "errors": list(self.errors),
                # what the phone would not record (ftrace_stats setup errors): absent data, said, not a loss
                "refused": [] if self.summary is None else list(self.summary.refused)}


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


def leftover_message(state: ServiceState) -> str | None:
    """The warning for sessions already running before ours, or None."""
    if not state.sessions:
        return None
    names = f" ({', '.join(state.session_names)})" if state.session_names else ""
    return (f"{state.sessions} tracing session(s) already running on the device before this recording{names}: "
            "a crashed earlier run's perfetto keeps tracing until its duration_ms cap, sharing ftrace and the "
            "service's buffers with this one; stop it (`adb shell pidof perfetto`, then `adb shell kill <pid>`)")


def record_trace(device: Device, benchmark_argv: list[str], run_dir: Path, *, name: str = "trace",
                 options: TraceOptions = TraceOptions(duration_ms=RECORD_CAP_MS),
                 benchmark_timeout: float | None = None, config_dir: Path | None = None) -> TraceRecording:
    """setprop debug.tflite.trace 1, start perfetto in the background, run the benchmark, stop perfetto (SIGTERM
    flushes) and wait for it to exit, restore the property to its previous value whatever happens, pull the trace
    into run_dir/<name>.perfetto-trace and say whether it is complete. The config sent is kept as
    config_dir/<name>.pbtxt (default: run_dir), the service state as config_dir/<name>.service-state.pb."""
    label = device.info.alias or device.info.serial
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ToolError(f"trace name {name!r} is not a plain file name", "use letters, digits, '.', '_', '-'",
                        device=label, stage="trace")
    run_dir.mkdir(parents=True, exist_ok=True)
    config_dir = run_dir if config_dir is None else config_dir
    config_dir.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    state = query_service(device, config_dir / f"{name}.service-state.pb")
    offered = state.data_sources
    if offered is None:
        errors.append("the device's data sources are unknown (" + "; ".join(state.problems) +
                      "): the config uses generic data-source names")
    leftover = leftover_message(state)
    if leftover:
        errors.append(leftover)
    built = build_config(options, offered)
    if built.missing:
        errors.append(f"not offered by the device: {', '.join(built.missing)}")
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
    started_with: str | None = None
    bench: ShellResult | None = None
    exited = True
    try:
        _check(device.shell(["setprop", TRACE_PROP, "1"]), f"setprop {TRACE_PROP} 1",
               "the shell user must be allowed to set debug.* properties", label)
        pid, started_with = start_perfetto(device, ["-c", remote_config, "--txt", "-o", remote_trace], label, errors)
        bench = device.shell(benchmark_argv, timeout=benchmark_timeout)
        if not bench.ok:
            errors.append(f"benchmark exited {bench.exit_code} while tracing")
    finally:
        try:
            if pid is not None:
                exited = stop_perfetto(device, pid, errors)
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
        return TraceRecording(built.asked, offered, built.used, (), None, None, bench, tuple(errors),
                              started_with=started_with, leftover_sessions=state.sessions)
    errors.extend(f"trace: {e}" for e in summary.errors)
    incomplete = list(summary.lost_data) + _missing_invokes(summary, bench)
    if not exited:
        incomplete.append("perfetto had not exited when the trace was pulled: its end may be missing")
    status = summary.status if summary.status == "empty" or not incomplete else "incomplete"
    if status == "empty":
        errors.append(f"the trace perfetto wrote holds no packets ({local_trace.stat().st_size} bytes)")
    return TraceRecording(built.asked, offered, built.used, arrived_kinds(summary), local_trace, summary, bench,
                          tuple(errors), status, tuple(incomplete), started_with, state.sessions)


def _pid(result: ShellResult) -> int | None:
    numbers = re.findall(r"^\s*(\d+)\s*$", result.stdout, re.MULTILINE)
    return int(numbers[-1]) if numbers else None


def start_perfetto(device: Device, args: list[str], label: str, errors: list[str]) -> tuple[int, str]:
    """Start perfetto in the background; (pid, the option that did it)."""
    started = device.shell(["perfetto", BACKGROUND_WAIT, *args])
    pid = _pid(started)
    if started.ok and pid is not None:
        return pid, BACKGROUND_WAIT
    if pid is not None:
        # it daemonized but its data sources never acknowledged the start: nothing it records can be trusted
        stop_perfetto(device, pid, errors)
        detail = (started.stderr or started.stdout).strip().splitlines()
        raise ToolError(f"perfetto {BACKGROUND_WAIT} exited {started.exit_code}: the data sources did not start"
                        + (f" ({detail[-1]})" if detail else ""), "check `adb shell perfetto --query` and logcat",
                        device=label, stage="trace")
    if not re.search(r"unrecognized option|invalid option|unknown option", started.stderr + started.stdout):
        _check(started, "starting perfetto", "on Android 11 and older perfetto may not read configs from "
               f"{CONFIG_DIR}; enable tracing with `setprop persist.traced.enable 1`", label)
    # perfetto before v22 has no --background-wait: start plainly and give the data sources time to start
    fallback = _check(device.shell(["perfetto", "--background", *args]), "starting perfetto",
                      f"on Android 11 and older perfetto may not read configs from {CONFIG_DIR}; enable tracing "
                      "with `setprop persist.traced.enable 1`", label)
    pid = _pid(fallback)
    if pid is None:
        raise ToolError("perfetto --background printed no pid", "check the device's perfetto version",
                        device=label, stage="trace")
    time.sleep(START_SETTLE_S)
    return pid, "--background"


def stop_perfetto(device: Device, pid: int, errors: list[str]) -> bool:
    """SIGTERM makes perfetto flush and write the file; it is final once the process is gone, which the shell user
    sees through /proc/PID (`kill -0` is denied on perfetto's domain, alive or not). False if it never went."""
    device.shell(["kill", str(pid)])
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        if not device.shell(["test", "-d", f"/proc/{pid}"]).ok:
            return True
        time.sleep(POLL_S)
    errors.append(f"perfetto (pid {pid}) still running {STOP_WAIT_S:.0f} s after SIGTERM; the trace may be partial")
    return False


def _missing_invokes(summary: TraceSummary, bench: ShellResult | None) -> list[str]:
    """A reason when the trace holds fewer main-graph Invoke slices than the benchmark says it ran (warm-up and
    timed runs): the recording started late or lost its beginning."""
    if bench is None or not bench.ok:
        return []
    run = parse_benchmark_log(bench.stdout + "\n" + bench.stderr, may_be_truncated=False).result
    ran = sum(stats.count for stats in (run.warmup, run.inference) if stats is not None)
    traced = sum(s.count for s in summary.slices if is_main_invoke(s.name))
    if run.inference is None or traced >= ran:
        return []
    return [f"{traced} main-graph Invoke slices for the {ran} invocations the benchmark reports: the first "
            f"{ran - traced} are missing (recording started late or its start was overwritten)"]
