"""Recording through the Device protocol against the simulated phone (real adb server, real protos)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devlab.devices.adb import AdbDevice
from devlab.devices.resolve import resolve_device
from devlab.trace.record import TRACE_PROP, record_trace
from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)


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
    invoke = summary.slice("Invoke")
    assert invoke is not None and invoke.count >= 5
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
