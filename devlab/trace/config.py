"""Perfetto TraceConfig text protos: build one for ML profiling, read a user's, parse `perfetto --query`.

Every config we hand to a phone has been parsed by perfetto's own TraceConfig proto first, so a typo fails here
with the parser's message instead of on the device (where perfetto may just record nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import text_format
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TraceConfig

from devlab.errors import ConfigError

# Generic data-source names; vendor GPU producers register suffixed variants (gpu.counters.adreno).
FTRACE = "linux.ftrace"
PROCESS_STATS = "linux.process_stats"
GPU_COUNTERS = "gpu.counters"
GPU_RENDERSTAGES = "gpu.renderstages"


@dataclass(frozen=True)
class TraceOptions:
    """What to record. Defaults follow specs/perfetto.md's ML-profiling config."""

    duration_ms: int = 30_000
    ring_buffer_kb: int = 65_536          # buffer 0: ftrace, GPU
    stats_buffer_kb: int = 4_096          # buffer 1: process stats (DISCARD: never overwrites names)
    sched_switch: bool = True
    cpu_frequency: bool = True
    gpu_frequency: bool = True
    gpu_mem_total: bool = True
    thermal_temperature: bool = True              # each thermal zone's temperature as the kernel updates it
    ftrace_print: bool = True
    extra_ftrace_events: tuple[str, ...] = ()     # e.g. "kgsl/*" on Adreno, "mali/*" on Mali
    atrace_categories: tuple[str, ...] = ("gfx",)
    atrace_apps: tuple[str, ...] = ("*",)         # "*" lets native binaries' ATrace sections (TFLite ops) through
    gpu_counters: bool = True
    gpu_counter_period_ns: int = 1_000_000
    gpu_counter_ids: tuple[int, ...] = ()         # ids are device-specific (see the descriptor in a trace)
    gpu_renderstages: bool = True
    process_stats: bool = True


@dataclass(frozen=True)
class BuiltConfig:
    """A validated config plus what was asked for and what the device offered."""

    text: str
    asked: tuple[str, ...]                 # generic data-source names we wanted
    offered: tuple[str, ...] | None        # what `perfetto --query` listed; None when not queried
    used: tuple[str, ...]                  # exact names written into the config
    missing: tuple[str, ...]               # asked for but not offered (left out of the config)


def parse_config(text: str, *, origin: str = "trace config") -> TraceConfig:
    """Parse a text-proto TraceConfig with perfetto's real proto; ConfigError with the parser's message."""
    config = TraceConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ConfigError(f"{origin} is not a valid perfetto TraceConfig: {exc}",
                          "fix the text proto (field names follow perfetto's trace_config.proto)") from exc
    return config


def load_config(path: Path) -> TraceConfig:
    """Read and validate a user-supplied text config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read trace config {path}: {exc.strerror}",
                          "pass an existing text-proto TraceConfig file") from exc
    return parse_config(text, origin=str(path))


_TEXT_PROTO_NAME = re.compile(r'^\s*name:\s*"([^"]+)"')


def parse_query_output(output: str) -> tuple[str, ...] | None:
    """Data-source names from `perfetto --query`, in order, deduplicated; None when the text holds none (an output
    we cannot read means "unknown", never "the device offers nothing").

    perfetto v24+ prints a DATA SOURCES REGISTERED table (NAME first on each line); older builds (Android 12/12L)
    print the service state as a text proto, each source as `data_sources: { ... descriptor: { name: "..." } }`
    (perfetto src/perfetto_cmd/perfetto_cmd.cc, PrintServiceState). Scripts should prefer `--query-raw`
    (devlab/trace/service_query.py); this reads what a user saved by hand.
    """
    names: list[str] = []
    in_section = False
    proto_depth, in_descriptor = 0, False
    for raw in output.splitlines():
        line = raw.strip()
        # the text-proto form: names inside data_sources { descriptor { ... } }, not producers' names
        if re.match(r"^data_sources\s*:?\s*\{", line):
            proto_depth, in_descriptor = 1, False
            continue
        if proto_depth:
            if re.match(r"^(ds_)?descriptor\s*:?\s*\{", line):
                in_descriptor = True
            match = _TEXT_PROTO_NAME.match(line)
            # only the descriptor's own name (depth 2), not a track_event category's deeper down
            if match and in_descriptor and proto_depth == 2 and match.group(1) not in names:
                names.append(match.group(1))
            proto_depth += line.count("{") - line.count("}")
            continue
        if re.match(r"(?i)^(registered\s+)?data\s+sources(\s+registered)?\s*:?\s*$", line):
            in_section = True
            continue
        if not in_section or not line or set(line) <= set("= "):
            continue
        if line.isupper() and line.endswith(":"):
            in_section = False          # the next section of the service state
            continue
        token = line.split()[0]
        if token == "NAME" or not re.fullmatch(r"[A-Za-z][\w.\-:]*", token):
            continue
        if token not in names:
            names.append(token)
    return tuple(names) or None


def resolve_name(generic: str, offered: tuple[str, ...] | None) -> str | None:
    """The exact data-source name to use for `generic`: itself, a vendor-suffixed variant, or None if absent."""
    if offered is None or generic in offered:
        return generic
    variants = sorted(name for name in offered if name.startswith(generic + "."))
    return variants[0] if variants else None


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ftrace_block(options: TraceOptions, name: str) -> str:
    events = [event for flag, event in (
        (options.sched_switch, "sched/sched_switch"),
        (options.cpu_frequency, "power/cpu_frequency"),
        (options.gpu_frequency, "power/gpu_frequency"),
        (options.gpu_mem_total, "gpu_mem/gpu_mem_total"),
        (options.thermal_temperature, "thermal/thermal_temperature"),
        (options.ftrace_print, "ftrace/print"),
    ) if flag] + list(options.extra_ftrace_events)
    body = [f"ftrace_events: {_quote(e)}" for e in events]
    body += [f"atrace_categories: {_quote(c)}" for c in options.atrace_categories]
    body += [f"atrace_apps: {_quote(a)}" for a in options.atrace_apps]
    inner = "\n      ".join(body)
    return (f"data_sources {{\n  config {{\n    name: {_quote(name)}\n    target_buffer: 0\n"
            f"    ftrace_config {{\n      {inner}\n    }}\n  }}\n}}")


def _source_block(generic: str, name: str, options: TraceOptions) -> str:
    if generic == FTRACE:
        return _ftrace_block(options, name)
    if generic == PROCESS_STATS:
        extra = "    process_stats_config { scan_all_processes_on_start: true }\n"
        buffer = 1
    elif generic == GPU_COUNTERS:
        ids = "".join(f" counter_ids: {i}" for i in options.gpu_counter_ids)
        extra = f"    gpu_counter_config {{ counter_period_ns: {options.gpu_counter_period_ns}{ids} }}\n"
        buffer = 0
    else:
        extra, buffer = "", 0
    return f"data_sources {{\n  config {{\n    name: {_quote(name)}\n    target_buffer: {buffer}\n{extra}  }}\n}}"


def build_config(options: TraceOptions = TraceOptions(),
                 offered: tuple[str, ...] | None = None) -> BuiltConfig:
    """A validated text-proto TraceConfig for `options`, using the exact names in `offered` when given."""
    if options.duration_ms <= 0 or options.ring_buffer_kb <= 0 or options.stats_buffer_kb <= 0:
        raise ConfigError("duration and buffer sizes must be positive",
                          "pass --duration-ms and buffer sizes greater than 0")
    wanted_ftrace = any((options.sched_switch, options.cpu_frequency, options.gpu_frequency,
                         options.gpu_mem_total, options.thermal_temperature, options.ftrace_print,
                         options.extra_ftrace_events,
                         options.atrace_categories))
    asked = tuple(generic for generic, flag in ((FTRACE, wanted_ftrace),
                                                 (PROCESS_STATS, options.process_stats),
                                                 (GPU_COUNTERS, options.gpu_counters),
                                                 (GPU_RENDERSTAGES, options.gpu_renderstages)) if flag)
    used: list[str] = []
    missing: list[str] = []
    blocks = [f"buffers {{ size_kb: {options.ring_buffer_kb} fill_policy: RING_BUFFER }}",
              f"buffers {{ size_kb: {options.stats_buffer_kb} fill_policy: DISCARD }}"]
    for generic in asked:
        name = resolve_name(generic, offered)
        if name is None:
            missing.append(generic)
            continue
        used.append(name)
        blocks.append(_source_block(generic, name, options))
    blocks.append(f"duration_ms: {options.duration_ms}")
    text = "\n".join(blocks) + "\n"
    parse_config(text, origin="generated trace config")  # our own output must parse too
    return BuiltConfig(text=text, asked=asked, offered=offered, used=tuple(used), missing=tuple(missing))


def data_source_names(config: TraceConfig) -> tuple[str, ...]:
    """The data-source names a parsed config asks for."""
    return tuple(ds.config.name for ds in config.data_sources)
