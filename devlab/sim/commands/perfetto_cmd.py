"""The simulated phone's `perfetto` binary: `--query`, and recording a real protobuf trace of its window.

    perfetto --query
    perfetto -c - --txt -o /data/misc/perfetto-traces/x.perfetto-trace [--background]
    perfetto -c /data/local/tmp/cfg.pbtxt --txt -o ... [--background]

The config is validated with perfetto's TraceConfig proto (text with --txt, binary without). Recording lasts until
`kill <pid>` (background) or duration_ms (times the phone's time scale), then the trace is written with perfetto's
protos: the trace_config packet, ATrace slices of simulated benchmark_model runs as ftrace print events, a
sched_switch in/out per Invoke for the benchmark thread, a gpu_frequency counter and one gpu_render_stage_event per
GPU kernel (interned names like the op-profile labels). Only what the config asks for is written.
"""

from __future__ import annotations

import threading
import time

from google.protobuf.message import DecodeError
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TraceConfig

from devlab.errors import ConfigError
from devlab.sim.commands import CommandContext, register
from devlab.sim.timeline import SimEvent
from devlab.trace.config import parse_config
from devlab.trace.writer import TraceWriter

BENCH_CPU = 4          # the simulated benchmark thread stays on one big core


def offered_data_sources(egl: str) -> tuple[str, ...]:
    """What this phone's producers register: traced_probes' sources plus the vendor GPU producer's."""
    base = ("linux.ftrace", "linux.process_stats", "linux.sys_stats", "android.power", "android.log",
            "track_event")
    vendor = egl or "gpu"
    return base + (f"gpu.counters.{vendor}", f"gpu.renderstages.{vendor}")


def _query_text(sources: tuple[str, ...]) -> str:
    lines = ["Not meant for machine consumption. Use --query-raw for scripts.", "",
             "DATA SOURCES REGISTERED:", "",
             f"{'NAME':<40} {'PRODUCER':<30} DETAILS", f"{'===':<40} {'========':<30} ========"]
    for name in sources:
        producer = "2 /system/bin/traced_probes" if not name.startswith("gpu.") else "5 vendor.gpu.producer"
        lines.append(f"{name:<40} {producer:<30}")
    return "\n".join(lines) + "\n"


def _parse_args(argv: list[str]) -> dict[str, object]:
    opts: dict[str, object] = {"txt": False, "background": False, "query": False, "config": None, "out": None}
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--query", "--query-raw"):
            opts["query"] = True
        elif arg == "--txt":
            opts["txt"] = True
        elif arg in ("--background", "-d"):
            opts["background"] = True
        elif arg in ("-c", "--config"):
            opts["config"] = next(args, None)
        elif arg in ("-o", "--out"):
            opts["out"] = next(args, None)
        else:
            raise ConfigError(f"unknown option {arg}", "see perfetto --help")
    return opts


def _wants(config: TraceConfig, offered: tuple[str, ...]) -> dict[str, bool]:
    names = {ds.config.name for ds in config.data_sources if ds.config.name in offered}
    events: set[str] = set()
    apps: set[str] = set()
    for ds in config.data_sources:
        if ds.config.name == "linux.ftrace":
            events.update(ds.config.ftrace_config.ftrace_events)
            apps.update(ds.config.ftrace_config.atrace_apps)
    return {
        "atrace": "linux.ftrace" in names and ("ftrace/print" in events or bool(apps)) and "*" in apps,
        "sched": "linux.ftrace" in names and "sched/sched_switch" in events,
        "gpufreq": "linux.ftrace" in names and "power/gpu_frequency" in events,
        "stages": any(name.startswith("gpu.renderstages") for name in names),
    }


def write_trace(out, config: TraceConfig, events: list[SimEvent], wants: dict[str, bool]) -> int:
    """Write the trace of `events`; returns the packet count."""
    writer = TraceWriter(out)
    writer.trace_config(config)
    pids = sorted({e.pid for e in events if e.kind == "slice"})
    for pid in pids:
        writer.process(pid, "/data/local/tmp/benchmark_model", {pid: "benchmark_model"})
    timed: list[tuple[int, int, int, SimEvent]] = []
    for e in events:
        if e.kind == "slice":
            timed.append((e.ts_ns, 1, e.depth, e))                    # begins: outer first
            timed.append((e.ts_ns + e.dur_ns, 0, -e.depth, e))        # ends first at a shared instant, inner first
        else:
            timed.append((e.ts_ns, 2, 0, e))
    timed.sort(key=lambda item: item[:3])
    submission = 0
    for ts, phase, _, e in timed:
        if e.kind == "slice":
            is_invoke = e.name == "Invoke"
            if phase == 1:
                if is_invoke and wants["sched"]:
                    writer.sched_switch(BENCH_CPU, ts, (0, f"swapper/{BENCH_CPU}"), (e.tid, "benchmark_model"))
                if wants["atrace"]:
                    writer.atrace_begin(BENCH_CPU, ts, e.pid, e.tid, e.name)
            else:
                if wants["atrace"]:
                    writer.atrace_end(BENCH_CPU, ts, e.pid, e.tid)
                if is_invoke and wants["sched"]:
                    writer.sched_switch(BENCH_CPU, ts, (e.tid, "benchmark_model"), (0, f"swapper/{BENCH_CPU}"))
            if is_invoke and phase == 1:
                submission += 1
        elif e.kind == "counter" and e.name == "gpufreq" and wants["gpufreq"] and e.value is not None:
            writer.gpu_frequency(ts, int(e.value // 1000))     # the ftrace event carries kHz
        elif e.kind == "gpu_stage" and wants["stages"]:
            writer.gpu_render_stage(ts, e.dur_ns, e.name, submission_id=submission)
    writer.flush()
    return writer.packets


@register("perfetto")
def perfetto(ctx: CommandContext) -> int:
    offered = offered_data_sources(ctx.getprop("ro.hardware.egl"))
    try:
        opts = _parse_args(ctx.argv)
    except ConfigError as exc:
        return ctx.error(exc.problem)
    if opts["query"]:
        ctx.stdout.write(_query_text(offered))
        return 0
    if opts["config"] is None or opts["out"] is None:
        return ctx.error("both -c <config> and -o <file> are needed (this simulator does not record to dropbox)")
    raw = ctx.read_stdin() if opts["config"] == "-" else None
    if raw is None:
        try:
            raw = ctx.fs.resolve(str(opts["config"]), ctx.cwd).read_bytes()
        except OSError:
            return ctx.error(f"Could not open {opts['config']}")
    try:
        if opts["txt"]:
            config = parse_config(raw.decode("utf-8", "replace"), origin="config")
        else:
            config = TraceConfig.FromString(raw)
    except (ConfigError, DecodeError) as exc:
        return ctx.error(f"The trace config is invalid: {exc}")
    try:
        target = ctx.fs.resolve(str(opts["out"]), ctx.cwd)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    except OSError as exc:
        return ctx.error(f"Failed to open {opts['out']}: {exc.strerror}")
    wants = _wants(config, offered)
    start = time.monotonic_ns()
    limit_s = config.duration_ms / 1000 * ctx.device.time_scale if config.duration_ms else None

    def record(stop: threading.Event) -> int:
        stop.wait(limit_s)
        events = ctx.device.timeline.between(start, time.monotonic_ns())
        with open(target, "wb") as out:
            write_trace(out, config, events, wants)
        return 0

    if opts["background"]:
        pid = ctx.spawn_job("perfetto", record)
        ctx.stdout.write(f"{pid}\n")
        return 0
    return record(ctx.cancelled)
