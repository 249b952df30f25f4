"""Recording through the Device protocol against the simulated phone (real adb server, real protos)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import FtraceStats, TracePacket

from devlab.devices.adb import AdbDevice
from devlab.devices.resolve import resolve_device
from devlab.trace import record
from devlab.trace.analysis import analyze
from devlab.trace.config import TraceOptions
from devlab.trace.record import RECORD_CAP_MS, TRACE_PROP, record_trace
from devlab.trace.writer import TraceWriter
from sim_fixtures import adb_server, sim_phone, start_phone, stop_phone  # noqa: F401  (fixtures)


@pytest.fixture()
def device(adb_server, sim_phone, monkeypatch) -> AdbDevice:  # noqa: F811
    """The project's AdbDevice for the simulated phone, resolved like `--device <serial>`."""
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    found = resolve_device(sim_phone.serial)
    assert isinstance(found, AdbDevice)
    return found


def test_sim_perfetto_query_and_bad_config(sim_phone) -> None:  # noqa: F811
    query = sim_phone.shell("perfetto", "--query")
    assert "gpu.counters.adreno" in query.stdout and "linux.ftrace" in query.stdout
    sim_phone.shell("mkdir", "-p", "/data/local/tmp")
    sim_phone.shell("echo 'duration_msx: 5' > /data/local/tmp/bad.pbtxt")
    bad = sim_phone.shell("perfetto", "-c", "/data/local/tmp/bad.pbtxt", "--txt", "-o", "/data/local/tmp/x.pt")
    assert bad.returncode != 0 and "duration_msx" in bad.stderr


def test_record_a_simulated_gpu_run(device: AdbDevice, sim_phone, real_fixtures: Path,  # noqa: F811
                                    tmp_path: Path) -> None:
    model = real_fixtures / "models" / "poco_x3" / "mnv3_seg_float.tflite"
    device.push(model, "/data/local/tmp/mnv3.tflite")
    argv = ["/system/bin/benchmark_model", "--graph=/data/local/tmp/mnv3.tflite", "--use_gpu=true",
            "--num_runs=5", "--warmup_runs=1", "--min_secs=0", "--warmup_min_secs=0"]
    recording = record_trace(device, argv, tmp_path, name="mnv3-gpu")
    assert recording.benchmark is not None and recording.benchmark.ok, recording.benchmark
    assert recording.offered is not None and "gpu.renderstages.adreno" in recording.used
    assert recording.path == tmp_path / "mnv3-gpu.perfetto-trace" and recording.path.stat().st_size > 0
    assert {"atrace", "sched", "gpufreq", "gpu.renderstages"} <= set(recording.arrived), (
        recording.summary.to_json() if recording.summary else None, recording.benchmark.stdout[:3000])
    summary = recording.summary
    invoke = summary.slice("Invoke@0/0")            # TFLite's ATrace name for the main graph's Invoke
    assert invoke is not None and invoke.count == 6   # 1 warm-up + 5 timed: none lost at the start
    assert recording.status == "complete" and recording.incomplete == ()
    assert recording.started_with == "--background-wait" and recording.leftover_sessions == 0
    assert any(s.name.startswith("TfLiteGpuDelegateV2@") for s in summary.slices)
    assert summary.gpu_render_stages and all(" " in s.name for s in summary.gpu_render_stages)
    assert summary.data_sources[0] == "linux.ftrace"
    assert sim_phone.shell("getprop", TRACE_PROP).stdout.strip() == "0"   # restored
    assert recording.errors == ()


def test_property_is_restored_when_the_benchmark_fails(device: AdbDevice, sim_phone,  # noqa: F811
                                                       tmp_path: Path) -> None:
    assert device.shell(["setprop", TRACE_PROP, ""]).ok      # unset before: unset after, not "0"
    recording = record_trace(device, ["/system/bin/benchmark_model", "--graph=/nope.tflite"], tmp_path,
                             name="fails")
    assert recording.benchmark is not None and not recording.benchmark.ok
    assert any("benchmark exited" in e for e in recording.errors)
    assert sim_phone.shell("getprop", TRACE_PROP).stdout.strip() == ""
    sim_phone.shell("setprop", TRACE_PROP, "0")


BENCH = ["/system/bin/benchmark_model", "--graph=/data/local/tmp/mnv3.tflite", "--use_gpu=true", "--num_runs=5",
         "--warmup_runs=1", "--min_secs=0", "--warmup_min_secs=0"]


@pytest.fixture(scope="module")
def a12_phone(adb_server, tmp_path_factory):  # noqa: F811
    """A second simulated phone: Pixel 6 on Android 12, whose perfetto predates --background-wait (v22) and prints
    `--query` as a text proto (tables came in v24)."""
    phone = start_phone(adb_server, tmp_path_factory.mktemp("a12"), profile="pixel6-a12")
    yield phone
    stop_phone(phone)


@pytest.fixture()
def a12(adb_server, a12_phone, monkeypatch, real_fixtures) -> AdbDevice:  # noqa: F811
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    found = resolve_device(a12_phone.serial)
    assert isinstance(found, AdbDevice)
    found.push(real_fixtures / "models" / "poco_x3" / "mnv3_seg_float.tflite", "/data/local/tmp/mnv3.tflite")
    return found


def test_shell_user_may_stop_perfetto_but_not_probe_it(a12_phone) -> None:  # noqa: F811
    """The issue's shell-level session, through the real adb server: `kill -0` is denied on perfetto (no signull
    for the shell user, AOSP private/shell.te) and on init; SIGTERM works; /proc/PID says when it has exited."""
    phone = a12_phone
    started = phone.shell('echo "duration_ms: 20000" > /data/misc/perfetto-configs/x.cfg; perfetto --background '
                          '--txt -c /data/misc/perfetto-configs/x.cfg -o /data/misc/perfetto-traces/x.pftrace')
    assert started.returncode == 0 and started.stdout.strip().isdigit(), started
    pid = started.stdout.strip()
    probe = phone.shell(f"kill -0 {pid}")
    assert probe.returncode != 0 and "not permitted" in probe.stderr
    assert phone.shell(f"kill -9 {pid}").returncode != 0          # no sigkill either
    assert phone.shell("kill -0 1").returncode != 0
    assert phone.shell(f"test -d /proc/{pid}").returncode == 0     # running
    assert phone.shell(f"kill {pid}").returncode == 0
    deadline = time.monotonic() + 10
    while phone.shell(f"test -d /proc/{pid}").returncode == 0:
        assert time.monotonic() < deadline, "perfetto never exited after SIGTERM"
        time.sleep(0.05)
    trace = analyze(Path(phone.root) / "data/misc/perfetto-traces/x.pftrace")
    assert trace.packets and trace.status == "complete"               # written before it exited


def test_android12_perfetto(a12: AdbDevice, a12_phone, tmp_path: Path) -> None:  # noqa: F811
    """Defects 3 and 5 on Android 12: the text-proto `--query` must not turn into a config with no data sources,
    and without --background-wait the start of the benchmark must still be in the trace."""
    assert a12_phone.shell("perfetto", "--query").stdout.count("data_sources: {") == 8     # the old text form
    assert a12_phone.shell("perfetto", "--background-wait", "-o", "x").returncode != 0    # an unknown option
    recording = record_trace(a12, BENCH, tmp_path, name="a12")
    assert recording.offered is not None and "gpu.renderstages.mali" in recording.offered
    assert recording.used == ("linux.ftrace", "linux.process_stats", "gpu.counters.mali", "gpu.renderstages.mali")
    assert recording.started_with == "--background" and recording.status == "complete", recording
    assert recording.summary.slice("Invoke@0/0").count == 6        # 1 warm-up + 5 timed, the first included
    assert (tmp_path / "a12.service-state.pb").stat().st_size > 0   # what the phone said, kept
    assert recording.errors == ()


def test_a_leftover_session_is_reported_before_recording(device: AdbDevice, sim_phone,  # noqa: F811
                                                          tmp_path: Path) -> None:
    leftover = sim_phone.shell('echo "duration_ms: 600000 unique_session_name: \\"crashed-run\\"" > '
                               '/data/misc/perfetto-configs/old.cfg; perfetto --background --txt -c '
                               '/data/misc/perfetto-configs/old.cfg -o /data/misc/perfetto-traces/old.pftrace')
    pid = int(leftover.stdout.strip())
    try:
        recording = record_trace(device, ["true"], tmp_path, name="after-crash")
    finally:
        assert sim_phone.shell(f"kill {pid}").returncode == 0
    assert recording.leftover_sessions == 1
    assert any("1 tracing session(s) already running" in e and "crashed-run" in e for e in recording.errors)


def test_a_ring_buffer_that_wrapped_makes_the_trace_incomplete(device: AdbDevice, sim_phone,  # noqa: F811
                                                               tmp_path: Path, real_fixtures: Path) -> None:
    device.push(real_fixtures / "models" / "poco_x3" / "mnv3_seg_float.tflite", "/data/local/tmp/mnv3.tflite")
    recording = record_trace(device, BENCH, tmp_path, name="small-buffer",
                             options=TraceOptions(duration_ms=RECORD_CAP_MS, ring_buffer_kb=4))
    assert recording.status == "incomplete" and recording.summary.packets > 0
    assert any("chunks overwritten" in reason for reason in recording.incomplete), recording.incomplete
    assert recording.to_json()["status"] == "incomplete"


def test_without_a_settle_time_old_perfetto_misses_the_start(a12: AdbDevice, tmp_path: Path,  # noqa: F811
                                                             monkeypatch) -> None:
    """Why devlab waits after a plain --background: perfetto returns before its data sources have started, so a
    benchmark started at once loses its first invocations, and the recording must say so (not pass as complete)."""
    monkeypatch.setattr(record, "START_SETTLE_S", 0.0)
    recording = record_trace(a12, BENCH, tmp_path, name="no-settle")
    assert recording.started_with == "--background" and recording.status == "incomplete"
    assert any("for the 6 invocations the benchmark reports" in r and "are missing" in r
               for r in recording.incomplete), recording.incomplete


def test_a_trace_pulled_before_perfetto_wrote_it_is_empty(device: AdbDevice, sim_phone, tmp_path: Path,  # noqa: F811
                                                            monkeypatch) -> None:
    """perfetto writes its file only after the flush that SIGTERM starts: pulled before it exits, the file holds no
    packets, and the recording must say so (an error, status `empty`), never pass it on as a trace."""
    monkeypatch.setattr(record, "STOP_WAIT_S", 0.0)
    recording = record_trace(device, ["true"], tmp_path, name="too-early")
    assert recording.status == "empty" and recording.summary.packets == 0
    assert any("still running" in e for e in recording.errors) and any("no packets" in e for e in recording.errors)
    assert any("had not exited" in r for r in recording.incomplete)


def test_an_empty_trace_is_empty_not_complete(tmp_path: Path) -> None:
    (tmp_path / "empty.perfetto-trace").write_bytes(b"")
    summary = analyze(tmp_path / "empty.perfetto-trace")
    assert summary.packets == 0 and summary.status == "empty" and summary.to_json()["status"] == "empty"


def test_ftrace_overruns_make_a_trace_incomplete(tmp_path: Path) -> None:
    """ftrace_stats (protos/perfetto/trace/ftrace/ftrace_stats.proto): each CPU's kernel-buffer overrun at the start
    and at the end of the trace; the difference is what this trace lost."""
    path = tmp_path / "overrun.perfetto-trace"
    with open(path, "wb") as out:
        writer = TraceWriter(out)
        for phase, overrun in ((FtraceStats.START_OF_TRACE, 5), (FtraceStats.END_OF_TRACE, 42)):
            packet = TracePacket(trusted_packet_sequence_id=1)
            packet.ftrace_stats.phase = phase
            packet.ftrace_stats.cpu_stats.add(cpu=4, overrun=overrun)
            packet.ftrace_stats.cpu_stats.add(cpu=5, overrun=7)
            writer.write(packet)
    summary = analyze(path)
    assert summary.status == "incomplete"
    assert summary.lost_data == ("ftrace CPU 4: 37 events lost in the kernel buffer (overrun)",)
