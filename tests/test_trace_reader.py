from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket

from devlab.errors import ParseError
from devlab.trace.config import build_config, parse_config
from devlab.trace.reader import TraceReader, protobuf_backend
from devlab.trace.records import CounterSample, GpuStage, Slice
from devlab.trace.analysis import analyze
from devlab.trace.writer import TraceWriter

TRACES = "traces"
MS = 1_000_000


def test_backend_is_upb() -> None:
    assert protobuf_backend() == "upb"
    assert analyze.__module__ == "devlab.trace.analysis"


def _write_known_trace(path: Path) -> None:
    """Two inferences of a model with a delegate slice, a CPU op, GPU stages and a GPU frequency ramp."""
    with open(path, "wb") as out:
        w = TraceWriter(out, bundle_events=3)  # small bundles: events of one slice land in different packets
        w.trace_config(parse_config(build_config().text))
        w.process(4242, "/data/local/tmp/benchmark_model", {4243: "benchmark_model"})
        w.sched_switch(1, 999 * MS, (0, "swapper/1"), (4243, "benchmark_model"))
        w.cpu_frequency(1, 999 * MS, 1_800_000)
        for i, base in enumerate((1_000 * MS, 1_010 * MS)):
            w.atrace_begin(1, base, 4242, 4243, "Invoke")
            w.atrace_begin(1, base + 1 * MS, 4242, 4243, "TfLiteGpuDelegateV2@3/0")
            w.atrace_end(1, base + 5 * MS, 4242, 4243)
            w.atrace_begin(1, base + 5 * MS, 4242, 4243, "SOFTMAX@4/0")
            w.atrace_end(1, base + 5 * MS + 500_000, 4242, 4243)
            w.atrace_end(1, base + 6 * MS, 4242, 4243)
            w.gpu_render_stage(base + 1 * MS, 2 * MS, "convolution_2d 0 -> relu 1", submission_id=i)
            w.gpu_render_stage(base + 3 * MS, (1 + i) * MS, "fully_connected 2", submission_id=i)
            w.gpu_frequency(base, 585_000 - i * 100_000)
        w.sched_switch(1, 1_020 * MS, (4243, "benchmark_model"), (0, "swapper/1"))
        w.flush()


def test_known_trace_exact_records(tmp_path: Path) -> None:
    path = tmp_path / "known.perfetto-trace"
    _write_known_trace(path)
    records = list(TraceReader(path).records())
    slices = [r for r in records if isinstance(r, Slice)]
    assert Slice("TfLiteGpuDelegateV2@3/0", 1_001 * MS, 4 * MS, 4242, 4243, 1) in slices
    assert Slice("Invoke", 1_010 * MS, 6 * MS, 4242, 4243, 0) in slices
    assert Slice("SOFTMAX@4/0", 1_015 * MS, 500_000, 4242, 4243, 1) in slices
    assert len(slices) == 6
    stages = [r for r in records if isinstance(r, GpuStage)]
    assert stages[0] == GpuStage("convolution_2d 0 -> relu 1", 1_001 * MS, 2 * MS, "Compute queue", 1, 0)
    assert [s.dur_ns for s in stages if s.name == "fully_connected 2"] == [1 * MS, 2 * MS]
    freq = [r for r in records if isinstance(r, CounterSample) and r.name == "gpufreq"]
    assert [(f.value, f.unit) for f in freq] == [(585_000.0, "kHz"), (485_000.0, "kHz")]


def test_known_trace_summary(tmp_path: Path) -> None:
    path = tmp_path / "known.perfetto-trace"
    _write_known_trace(path)
    summary = analyze(path)
    data = summary.to_json()
    assert data["packets"] == summary.packets > 5
    assert data["duration_ms"] == pytest.approx(1_020 - 999)
    assert {"pid": 4242, "name": "/data/local/tmp/benchmark_model"} in data["processes"]
    assert {"pid": 4242, "tid": 4243, "name": "benchmark_model"} in data["threads"]
    invoke = summary.slice("Invoke")
    assert (invoke.count, invoke.total_ms, invoke.mean_ms, invoke.max_ms) == (2, 12.0, 6.0, 6.0)
    stages = {s["name"]: s for s in data["gpu_render_stages"]}
    assert stages["fully_connected 2"]["total_ms"] == pytest.approx(3.0)
    assert stages["fully_connected 2"]["max_ms"] == pytest.approx(2.0)
    assert stages["convolution_2d 0 -> relu 1"]["count"] == 2
    gpufreq = summary.counter("gpufreq")
    assert (gpufreq.samples, gpufreq.min, gpufreq.mean, gpufreq.max) == (2, 485_000, 535_000, 585_000)
    assert data["sched"]["switches"] == 2
    assert data["sched"]["top_threads"][0] == {"tid": 4243, "comm": "benchmark_model", "switches_in": 1,
                                               "running_ms": pytest.approx(21.0)}
    assert data["data_sources"] == ["linux.ftrace", "linux.process_stats", "gpu.counters", "gpu.renderstages"]
    assert data["errors"] == []


def test_unmatched_atrace_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "unmatched.perfetto-trace"
    with open(path, "wb") as out:
        w = TraceWriter(out)
        w.atrace_end(0, 5 * MS, 1, 2)
        w.atrace_begin(0, 6 * MS, 1, 2, "Invoke")
        w.flush()
    errors = analyze(path).errors
    assert any("end without begin" in e for e in errors) and any("'Invoke'" in e and "never ended" in e
                                                                  for e in errors)


def test_gzip_and_empty(tmp_path: Path) -> None:
    plain = tmp_path / "known.perfetto-trace"
    _write_known_trace(plain)
    zipped = tmp_path / "known.perfetto-trace.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert analyze(zipped).to_json()["slices"] == analyze(plain).to_json()["slices"]
    empty = tmp_path / "empty.perfetto-trace"
    empty.write_bytes(b"")
    summary = analyze(empty)
    assert (summary.packets, summary.duration_ms, summary.slices, summary.errors) == (0, None, (), ())


def test_truncated_and_corrupt_traces_give_a_clear_error(tmp_path: Path, real_fixtures: Path) -> None:
    data = (real_fixtures / TRACES / "msperf_test_trace.perfetto-trace").read_bytes()
    cut = tmp_path / "cut.perfetto-trace"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(ParseError) as info:
        analyze(cut)
    assert "truncated" in info.value.problem and "SIGTERM" in info.value.fix
    junk = tmp_path / "junk.perfetto-trace"
    junk.write_bytes(b"\xff" * 64)
    with pytest.raises(ParseError) as info:
        analyze(junk)
    assert "corrupt at byte 0" in info.value.problem
    # A well-framed packet whose payload is garbage: the reader names its offset.
    good = TracePacket(timestamp=1).SerializeToString()
    bad_payload = b"\x0a\x05\xff\xff\xff\xff\xff"
    broken = tmp_path / "broken.perfetto-trace"
    broken.write_bytes(b"\x0a" + bytes([len(good)]) + good + b"\x0a" + bytes([len(bad_payload)]) + bad_payload)
    with pytest.raises(ParseError) as info:
        analyze(broken)
    assert f"corrupt at byte {2 + len(good)}" in info.value.problem
    cut_gz = tmp_path / "cut.gz"
    cut_gz.write_bytes(gzip.compress(data)[:5000])
    with pytest.raises(ParseError):
        analyze(cut_gz)


# --- every real trace -------------------------------------------------------------------------------------------
def test_galaxy_s21_adreno_gpu_counters(real_fixtures: Path) -> None:
    data = analyze(real_fixtures / TRACES / "msperf_androidGpu.pftrace").to_json()
    assert data["packets"] == 5790
    assert data["data_sources"] == ["gpu.counters"]
    counters = {c["name"]: c for c in data["counters"]}
    # counter ids 141 and 106 named by the Adreno descriptor in the first gpu_counter_event packet
    assert set(counters) == {"% Linear Filtered", "% Vertex Fetch Stall"}
    assert counters["% Linear Filtered"]["samples"] == 5782 and counters["% Linear Filtered"]["unit"] == "percent"
    assert counters["% Vertex Fetch Stall"]["samples"] == 5782
    assert 0 <= counters["% Linear Filtered"]["min"] <= counters["% Linear Filtered"]["max"] <= 100
    assert data["duration_ms"] == pytest.approx(6555.6, abs=1)
    assert data["errors"] == []


def test_galaxy_s20_cpu_frequency_and_scheduling(real_fixtures: Path) -> None:
    summary = analyze(real_fixtures / TRACES / "msperf_test_trace.perfetto-trace")
    data = summary.to_json()
    assert data["packets"] == 1901
    assert data["sched"]["switches"] == 15267
    assert data["sched"]["cpus"] == [0, 1, 2, 3, 6]
    cpu0 = summary.counter("cpufreq.cpu0")
    assert (cpu0.samples, cpu0.unit, cpu0.min, cpu0.max) == (39, "kHz", 691_200, 1_804_800)
    cpu6 = summary.counter("cpufreq.cpu6")
    assert (cpu6.samples, cpu6.min, cpu6.max) == (4, 710_400, 2_419_200)
    assert sum(c.samples for c in summary.counters if c.name.startswith("cpufreq.")) == 168
    assert summary.counter("cpufreq.cpu4").samples == 4
    assert max(c.max for c in summary.counters) == 2_419_200
    top = data["sched"]["top_threads"]
    assert top[0]["comm"] == "dhd_rpm_state_t" and top[0]["running_ms"] == pytest.approx(319.486, abs=0.01)
    assert {"pid": 20855, "tid": 20855, "name": "TraceLogApiTest"} in data["threads"]
    assert summary.slice("Hello Trace").count == 1   # the SDK's one TYPE_INSTANT event, interned name
    assert data["duration_ms"] == pytest.approx(15783, abs=20)


def test_pixel_tablet_newer_fields_and_other_clock(real_fixtures: Path) -> None:
    data = analyze(real_fixtures / TRACES / "aosp_winscope_input_events_pixeltablet.perfetto-trace").to_json()
    assert (data["packets"], data["unknown_packets"]) == (50, 38)
    assert data["data_sources"] == ["android.input.inputevent"]
    # packets stamped on MONOTONIC are moved onto BOOTTIME via the clock snapshot: seconds, not 157294 s
    assert data["duration_ms"] < 10_000
    assert data["errors"] == []


def test_metadata_only_and_process_stats_traces(real_fixtures: Path) -> None:
    empty = analyze(real_fixtures / TRACES / "aosp_winscope_no_winscope_traces_pixel6.perfetto-trace").to_json()
    assert (empty["packets"], empty["slices"], empty["counters"], empty["errors"]) == (12, [], [], [])
    memory = analyze(real_fixtures / TRACES / "msperf_androidBasicMemory.pftrace").to_json()
    assert memory["packets"] == 100
    names = {p["name"] for p in memory["processes"]}
    assert "/system/bin/gpuservice" in names and "/apex/com.android.adbd/bin/adbd" in names
    assert memory["duration_ms"] == pytest.approx(11128, abs=10)


def test_gzip_chrome_track_events(real_fixtures: Path) -> None:
    summary = analyze(real_fixtures / TRACES / "msperf_chrome.pftrace")
    assert summary.packets == 293_610
    assert {"org.chromium.trace_event"} <= set(summary.data_sources)
    assert len(summary.slices) > 100
    task = summary.slice("RunNormalPriorityTask")
    # Chrome stamps with an incremental microsecond clock: durations must come out in ms, not absolute times
    assert task.count > 1000 and 0 < task.mean_ms < 10 and task.max_ms < 5_000
    assert summary.duration_ms == pytest.approx(40_731.5, abs=1)
    assert any(name == "CrBrowserMain" for _, _, name in summary.threads)


# --- the summary's fast path ------------------------------------------------------------------------------------
def _write_busy_trace(path: Path, runs: int) -> None:
    """Enough of every kind (ATrace slices and counters, sched, cpu/gpu frequency, GPU stages) that the
    aggregates fold many times and the percentile samples get thinned."""
    with open(path, "wb") as out:
        w = TraceWriter(out, bundle_events=50)
        w.trace_config(parse_config(build_config().text))
        w.process(5000, "/data/local/tmp/benchmark_model", {5000: "benchmark_model", 5001: "gpu_worker"})
        t = 1_000 * MS
        for run in range(runs):
            w.sched_switch(4, t, (0, "swapper/4"), (5000, "benchmark_model"))
            w.cpu_frequency(4, t, 1_800_000 + 100_000 * (run % 3))
            w.gpu_frequency(t, 585_000 if run % 50 < 40 else 490_000)
            w.atrace_begin(4, t, 5000, 5000, "Invoke")
            for node in range(3):
                w.atrace_begin(4, t + node * 100_000, 5000, 5000, f"CONV_2D@{node}/0")
                w.atrace_end(4, t + node * 100_000 + 90_000 + run % 17, 5000, 5000)
            w.atrace_counter(4, t + 400_000, 5000, 5000, "queue depth", run % 5)
            w.atrace_begin(5, t + 450_000, 5000, 5001, "upload")  # another CPU and thread
            w.atrace_end(5, t + 480_000, 5000, 5001)
            for i in range(2):
                w.gpu_render_stage(t + MS + i * 200_000, 150_000 + 1_000 * (run % 7) + i, f"kernel {i}",
                                   submission_id=run)
            w.atrace_end(4, t + 3 * MS, 5000, 5000)
            w.sched_switch(4, t + 3 * MS + 60_000, (5000, "benchmark_model"), (0, "swapper/4"))
            t += 4 * MS
        w.atrace_end(4, t, 5000, 4999)  # an end without a begin: an error in both paths
        w.flush()


def test_fast_path_agrees_with_record_path(tmp_path: Path) -> None:
    from devlab.trace.summary import SummaryBuilder
    path = tmp_path / "busy.perfetto-trace"
    _write_busy_trace(path, runs=5000)
    fast = analyze(path)
    reader = TraceReader(path)
    builder = SummaryBuilder()
    builder.add_all(reader.records())   # one record object per event, folded one by one
    slow = builder.build(path=path, backend=fast.backend, packets=reader.packets,
                         unknown_packets=reader.unknown_packets, duration_ns=reader.last_ts - reader.first_ts)
    assert fast.to_json() == slow.to_json()
    assert [c.series for c in fast.counters] == [c.series for c in slow.counters]
    data = fast.to_json()
    slices = {s["name"]: s for s in data["slices"]}
    assert slices["Invoke"]["count"] == slices["upload"]["count"] == slices["CONV_2D@2/0"]["count"] == 5000
    assert slices["Invoke"]["mean_ms"] == pytest.approx(3.0)
    assert slices["CONV_2D@0/0"]["max_ms"] == pytest.approx(0.090016)
    stages = {s["name"]: s for s in data["gpu_render_stages"]}
    assert stages["kernel 1"]["count"] == 5000 and stages["kernel 1"]["max_ms"] == pytest.approx(0.156001)
    counters = {c["name"]: c for c in data["counters"]}
    assert (counters["gpufreq"]["samples"], counters["gpufreq"]["min"], counters["gpufreq"]["max"]) == \
        (5000, 490_000, 585_000)
    assert counters["queue depth"]["mean"] == pytest.approx(2.0)
    assert counters["cpufreq.cpu4"]["samples"] == 5000
    assert data["sched"]["switches"] == 10_000
    assert len(data["errors"]) == 1 and "end without begin" in data["errors"][0]


def test_bulk_thinning_equals_one_by_one() -> None:
    """`_Thinned.extend` keeps exactly what adding one value at a time (its documented rule) keeps."""
    import random

    from devlab.trace.summary import SAMPLE_CAP, _Thinned
    rng = random.Random(7)
    values = [rng.randrange(1_000_000) for _ in range(SAMPLE_CAP * 9 + 123)]
    kept, stride = [], 1
    for seen, value in enumerate(values):   # the rule: every stride-th value; halve and double when full
        if seen % stride == 0:
            kept.append(value)
            if len(kept) >= SAMPLE_CAP:
                kept, stride = kept[::2], stride * 2
    thinned = _Thinned()
    pos = 0
    while pos < len(values):
        size = rng.choice((1, 7, 100, 4096, 10_000))
        thinned.extend(values[pos:pos + size])
        pos += size
    assert (thinned.values, thinned.stride, thinned.seen) == (kept, stride, len(values))
