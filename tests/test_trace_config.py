from __future__ import annotations

from pathlib import Path

import pytest

from devlab.errors import ConfigError
from devlab.trace.config import (TraceOptions, build_config, data_source_names, load_config, parse_config,
                                 parse_query_output)

# Shape of `perfetto --query` on Android 12+ (perfetto_cmd's service-state dump), abridged.
QUERY_NEW = """\
Not meant for machine consumption. Use --query-raw for scripts.

Service: perfetto.traced
Tracing sessions: 0 (started: 0)

PRODUCER PROCESSES CONNECTED:

ID     PID      UID      NAME                             SDK
==     ===      ===      ====                             ===
2      1120     1000     /system/bin/traced_probes        perfetto-v27.0
5      2231     1000     vendor.qti.hardware.display      unknown

DATA SOURCES REGISTERED:

NAME                                     PRODUCER                     DETAILS
===                                      ========                     ========
linux.ftrace                             2 /system/bin/traced_probes
linux.process_stats                      2 /system/bin/traced_probes
gpu.counters.adreno                      5 vendor.qti.hardware.display
gpu.renderstages.adreno                  5 vendor.qti.hardware.display
linux.ftrace                             3 other
"""

# `perfetto --query` before perfetto v24 (Android 12/12L): the service state as a text proto
# (src/perfetto_cmd/perfetto_cmd.cc at v23.0, PrintServiceState); a track_event source lists its categories.
QUERY_OLD = """\
Not meant for machine consumption. Use --query-raw for scripts.
producers: {
  id: 2
  name: "perfetto.traced_probes" 
  uid: 9999 
  sdk_version: "" 
}
data_sources: {
  producer_id: 2
  descriptor: {
    name: "linux.ftrace"
  }
}
data_sources: {
  producer_id: 2
  descriptor: {
    name: "linux.process_stats"
  }
}
data_sources: {
  producer_id: 7
  descriptor: {
    name: "track_event"
    track_event_descriptor: {
      available_categories: {
        name: "gfx"
        description: ""
      }
    }
  }
}
data_sources: {
  producer_id: 2
  descriptor: {
    name: "android.power"
  }
}
tracing_service_version: "Perfetto v20.0"
num_sessions: 0
num_sessions_started: 0
"""


def test_default_config_parses_and_uses_generic_names() -> None:
    built = build_config(TraceOptions(duration_ms=5000))
    config = parse_config(built.text)
    assert config.duration_ms == 5000
    assert [b.size_kb for b in config.buffers] == [65536, 4096]
    assert data_source_names(config) == ("linux.ftrace", "linux.process_stats", "gpu.counters", "gpu.renderstages")
    ftrace = config.data_sources[0].config.ftrace_config
    assert list(ftrace.ftrace_events) == ["sched/sched_switch", "power/cpu_frequency", "power/gpu_frequency",
                                          "gpu_mem/gpu_mem_total", "thermal/thermal_temperature", "ftrace/print"]
    assert list(ftrace.atrace_apps) == ["*"] and list(ftrace.atrace_categories) == ["gfx"]
    assert config.data_sources[1].config.target_buffer == 1
    assert config.data_sources[2].config.gpu_counter_config.counter_period_ns == 1_000_000
    assert built.offered is None and built.missing == ()


def test_query_output_is_parsed_in_both_dialects() -> None:
    assert parse_query_output(QUERY_NEW) == ("linux.ftrace", "linux.process_stats", "gpu.counters.adreno",
                                             "gpu.renderstages.adreno")
    assert parse_query_output(QUERY_OLD) == ("linux.ftrace", "linux.process_stats", "track_event", "android.power")
    # nothing readable is "unknown", not "the phone offers nothing": a config then keeps every generic source
    assert parse_query_output("") is None and parse_query_output("Service: perfetto v99\nsomething new\n") is None
    assert build_config(TraceOptions(), parse_query_output("something new")).used == (
        "linux.ftrace", "linux.process_stats", "gpu.counters", "gpu.renderstages")


def test_offered_vendor_names_are_used_and_missing_ones_reported() -> None:
    built = build_config(TraceOptions(gpu_counter_ids=(1, 3)), parse_query_output(QUERY_NEW))
    config = parse_config(built.text)
    assert data_source_names(config) == built.used == ("linux.ftrace", "linux.process_stats",
                                                       "gpu.counters.adreno", "gpu.renderstages.adreno")
    assert list(config.data_sources[2].config.gpu_counter_config.counter_ids) == [1, 3]
    old = build_config(TraceOptions(), parse_query_output(QUERY_OLD))
    assert old.missing == ("gpu.counters", "gpu.renderstages")
    assert old.asked == ("linux.ftrace", "linux.process_stats", "gpu.counters", "gpu.renderstages")
    assert data_source_names(parse_config(old.text)) == ("linux.ftrace", "linux.process_stats")


def test_invalid_config_gives_the_parser_message() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("buffers { size_kb: 10 }\nduration_msx: 3\n")
    assert "duration_msx" in info.value.problem
    with pytest.raises(ConfigError):
        build_config(TraceOptions(duration_ms=0))
    with pytest.raises(ConfigError):
        build_config(TraceOptions(extra_ftrace_events=("kgsl/\nbad",)))


def test_every_fixture_config_loads(real_fixtures: Path) -> None:
    paths = sorted((real_fixtures / "trace_configs").glob("*.textproto")) + \
        sorted((real_fixtures / "trace_configs").glob("*.cfg"))
    assert len(paths) == 11
    for path in paths:
        config = load_config(path)
        assert len(config.data_sources) >= 1, path
    gpu = load_config(real_fixtures / "trace_configs" / "embedded_msperf_androidGpu.textproto")
    assert data_source_names(gpu) == ("gpu.counters",)
    assert list(gpu.data_sources[0].config.gpu_counter_config.counter_ids) == [141, 106]


def test_trace_config_cli_reads_android12_query_and_says_when_it_reads_nothing(tmp_path: Path) -> None:
    from cli_helpers import run_devlab
    old = tmp_path / "a12-query.txt"
    old.write_text(QUERY_OLD)
    result = run_devlab("trace", "config", "--offered", str(old), timeout=120)
    assert result.exit_code == 0, result.stderr
    assert data_source_names(parse_config(result.stdout)) == ("linux.ftrace", "linux.process_stats")
    assert "not offered by the device: gpu.counters, gpu.renderstages" in result.stderr
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("perfetto: something we do not know\n")
    result = run_devlab("trace", "config", "--offered", str(garbage), timeout=120)
    assert result.exit_code == 0 and "no data sources found in" in result.stderr
    assert data_source_names(parse_config(result.stdout)) == ("linux.ftrace", "linux.process_stats", "gpu.counters",
                                                              "gpu.renderstages")
