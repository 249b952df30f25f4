"""Faults on the phone path, through the real adb server and the simulated phone's fault injection: a benchmark
that hangs, a phone that goes offline mid-trace, one that drops mid-push, an adb server killed mid-run; then
`devlab run --resume` finishing what the fault left. Every test is bounded by a timeout."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from cli_helpers import run_devlab
from devlab.bench.phone_tool import PhoneBenchOptions
from devlab.devices.resolve import resolve_device
from devlab.resume import pending, resume_run
from devlab.runner import RunRequest, run
from devlab.sim import faults
from sim_fixtures import ADB_BINARY, AdbServer, free_port, start_phone, stop_phone

pytestmark = pytest.mark.timeout(120)   # pytest-timeout: no fault may hang the suite

MODEL = "models/poco_x3/mnv3_seg_float.tflite"
VARIANTS = "as-is,int8-dynamic"


@pytest.fixture()
def env(cli_env) -> dict[str, str]:
    return cli_env


@pytest.fixture()
def phone(adb_server, tmp_path):
    started = start_phone(adb_server, tmp_path / "root")
    yield started
    stop_phone(started)


class _OnVariant:
    """Progress sink that runs `arm` when the plan reaches variant number `at` (after that variant's push, before its
    runs): at=2 strikes once the first variant is finished; at=1 arms a fault the second push will cross."""

    def __init__(self, arm, at: int = 2) -> None:
        self.arm, self.at, self.seen = arm, at, 0

    def start(self, stage: str, total: int) -> None:
        return None

    def step(self, stage: str, what: str) -> None:
        if stage == "bench":
            self.seen += 1
            if self.seen == self.at:
                self.arm()


def _request(real_fixtures: Path, tmp_path: Path, serial: str, **options) -> RunRequest:
    return RunRequest(model=str(real_fixtures / MODEL), device=serial, variants=VARIANTS,
                      out_root=tmp_path / "traces", build_root=tmp_path,
                      phone=PhoneBenchOptions(num_runs=3, warmup_runs=1, min_secs=0.05, **options))


def test_hung_benchmark_fails_at_the_timeout_names_device_and_stage_and_resume_finishes(env, phone, tmp_path,
                                                                                       real_fixtures):
    hang = lambda: phone.server.device.setprop(faults.HANG, "benchmark_model")  # noqa: E731
    started = time.monotonic()
    outcome = run(_request(real_fixtures, tmp_path, phone.serial, timeout_s=2.0, trace=False), _OnVariant(hang))
    elapsed = time.monotonic() - started
    first, second = outcome.record.variants
    assert first.status == "ok" and first.timing is not None
    assert second.status == "failed" and second.timing is None
    assert second.error.startswith(f"s23 ({phone.serial}): shell benchmark_model: ") and "limit 2 s" in second.error
    # the hung process did not die with the closed stream (adbd's SIGHUP): devlab killed it by the pid it recorded
    assert "killed it on the device (pid " in second.error
    assert not [job for job in phone.server.device.jobs() if job.name.endswith("benchmark_model")]
    assert elapsed < 40, f"a 2 s benchmark timeout held the run for {elapsed:.0f} s"
    on_disk = json.loads((outcome.run_dir / "run.json").read_text())
    assert [v["status"] for v in on_disk["variants"]] == ["ok", "failed"]
    assert pending(on_disk) == [("int8-dynamic", "gpu")]

    phone.server.device.setprop(faults.HANG, "")
    resumed = resume_run(outcome.run_dir)
    assert resumed.rerun == (("int8-dynamic", "gpu"),)
    merged = json.loads((outcome.run_dir / "run.json").read_text())
    assert [v["status"] for v in merged["variants"]] == ["ok", "ok"]
    assert merged["variants"][0] == on_disk["variants"][0]        # the finished variant is kept as it was
    assert merged["variants"][1]["timing"]["source"] == "simulated"
    assert merged["settings"] == on_disk["settings"] and merged["run_id"] == on_disk["run_id"]
    assert any(n.startswith("resumed ") and "int8-dynamic on gpu" in n for n in merged["notes"])
    assert pending(merged) == [] and resume_run(outcome.run_dir).rerun == ()   # nothing left: nothing re-run


def test_phone_going_offline_mid_trace_keeps_the_clean_timing_and_fails_the_rest(env, phone, tmp_path, real_fixtures):
    fired: list[str] = []

    def offline_when_tracing(key: str, value: str) -> None:
        if key == "debug.tflite.trace" and value == "1" and not fired:
            fired.append(key)
            phone.server.device.setprop(faults.OFFLINE, "1")

    phone.server.device.on_prop_change.append(offline_when_tracing)
    started = time.monotonic()
    outcome = run(_request(real_fixtures, tmp_path, phone.serial, timeout_s=20.0, op_profile=False))
    assert time.monotonic() - started < 60
    first, second = outcome.record.variants
    assert fired
    # the trace run died with the phone; the clean run before it stands, and the row says why the trace is missing
    assert first.status == "ok" and first.timing is not None and first.kernels is None
    assert phone.serial in first.extra["trace_error"]
    assert second.status == "failed" and phone.serial in second.error and "push int8-dynamic.tflite" in second.error

    phone.server.device.on_prop_change.remove(offline_when_tracing)
    phone.server.device.setprop(faults.OFFLINE, "")
    phone.connect()
    resumed = resume_run(outcome.run_dir)
    assert resumed.rerun == (("int8-dynamic", "gpu"),)
    assert [v["status"] for v in resumed.data["variants"]] == ["ok", "ok"]
    assert resumed.data["variants"][1]["logs"]["trace"].endswith(".perfetto-trace")


def test_resume_through_the_cli_after_a_drop_mid_push(env, phone, tmp_path, real_fixtures):
    drop = lambda: phone.server.device.setprop(faults.DROP_AFTER_BYTES, "400000")  # noqa: E731
    outcome = run(_request(real_fixtures, tmp_path, phone.serial, trace=False), _OnVariant(drop, at=1))
    assert [v.status for v in outcome.record.variants] == ["ok", "failed"]
    before = json.loads((outcome.run_dir / "run.json").read_text())
    phone.connect()
    result = run_devlab("run", "--resume", str(outcome.run_dir), "--json", cwd=tmp_path, env=env, timeout=120)
    assert result.exit_code == 0, result.stderr
    merged = json.loads(result.stdout)
    assert merged == json.loads((outcome.run_dir / "run.json").read_text())
    assert [v["status"] for v in merged["variants"]] == ["ok", "ok"]
    assert merged["variants"][0] == before["variants"][0]
    assert merged["variants"][1]["extra"]["push_bytes_sent"] == merged["variants"][1]["model"]["bytes"]
    assert (outcome.run_dir / "report.html").is_file()
    assert not list(outcome.run_dir.glob(".run.json.*.tmp"))


def test_resume_of_a_folder_without_run_json_is_a_usage_error(env, tmp_path):
    result = run_devlab("run", "--resume", str(tmp_path), cwd=tmp_path, env=env, timeout=60)
    assert result.exit_code == 2
    assert f"no run record at {tmp_path / 'run.json'}" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture()
def own_adb(tmp_path, monkeypatch):
    """A private local adb server for this process and test: killing it must not touch other tests' server."""
    own = AdbServer(port=free_port(), binary=ADB_BINARY)
    assert own.run("start-server", timeout=60).returncode == 0
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(own.port))
    monkeypatch.setenv("DEVLAB_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    yield own
    own.run("kill-server", timeout=30)


def _kill_server(own: AdbServer) -> None:
    subprocess.run([str(ADB_BINARY), "-P", str(own.port), "kill-server"], timeout=30)


def test_adb_server_killed_mid_run_is_restarted_and_the_phone_reconnected(own_adb, tmp_path, real_fixtures):
    victim = start_phone(own_adb, tmp_path / "root")
    try:
        outcome = run(_request(real_fixtures, tmp_path, victim.serial, trace=False),
                      _OnVariant(lambda: _kill_server(own_adb)))
        # devlab restarted the server and `adb connect`ed the phone again: the run lost nothing
        assert [v.status for v in outcome.record.variants] == ["ok", "ok"], [v.error for v in outcome.record.variants]
        assert victim.serial in own_adb.run("devices", timeout=30).stdout
    finally:
        victim.server.stop()


def test_a_killed_server_brings_back_every_phone_of_a_farm(own_adb, tmp_path):
    # two threads' phones behind one local server: whichever notices the kill first restarts it, and both phones
    # must come back, not only that thread's
    phones = [start_phone(own_adb, tmp_path / f"root{i}") for i in range(2)]
    try:
        devices = [resolve_device(phone.serial) for phone in phones]
        assert all(d.shell(["true"]).ok for d in devices)
        assert own_adb.run("kill-server", timeout=30).returncode == 0
        assert devices[0].shell(["getprop", "ro.product.model"]).stdout.strip() == "SM-S918B"
        assert devices[1].shell(["getprop", "ro.product.model"]).stdout.strip() == "SM-S918B"
    finally:
        for phone in phones:
            phone.server.stop()


def test_adb_server_killed_while_the_phone_is_gone_is_a_clear_error(own_adb, tmp_path, real_fixtures):
    victim = start_phone(own_adb, tmp_path / "root")

    def kill_both() -> None:
        victim.server.stop()
        _kill_server(own_adb)
    try:
        outcome = run(_request(real_fixtures, tmp_path, victim.serial, trace=False), _OnVariant(kill_both))
        first, second = outcome.record.variants
        assert first.status == "ok" and second.status == "failed"
        assert second.error.startswith(f"s23 ({victim.serial}): ")
        assert f"the restarted adb server at 127.0.0.1:{own_adb.port}" in second.error
        assert f"adb connect {victim.serial}" in second.error
        assert own_adb.run("version", timeout=30).returncode == 0   # the server itself was brought back
        assert (outcome.run_dir / "run.json").is_file()
    finally:
        victim.server.stop()   # idempotent: kill_both may already have stopped it


def test_absent_adb_binary_is_one_clear_line(tmp_path):
    env = {"ANDROID_ADB_SERVER_PORT": str(free_port()), "DEVLAB_HOME": str(tmp_path / "home")}
    result = run_devlab("devices", "--adb", str(tmp_path / "no adb"), cwd=tmp_path, env=env, timeout=60)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "adb binary" in result.stderr and "no adb" in result.stderr and "DEVLAB_ADB" in result.stderr


def test_a_timed_out_command_is_killed_on_the_phone_not_left_running(phone):
    """adbd answers a closed shell stream with SIGHUP to the pid it forked (shell_service.cpp), which a hung
    process survives; a child of that sh never even gets it. devlab runs every command as `echo $$; exec ...` and
    kills that pid at the timeout, so nothing it started keeps the phone's GPU or CPU busy."""
    from devlab.devices.adb import AdbDevice
    from devlab.devices.adb_server import AdbServer, ServerSpec, bundled_adb
    from devlab.errors import DeviceError
    device = AdbDevice(AdbServer(ServerSpec("127.0.0.1", phone.adb.port, bundled_adb())), phone.serial)
    state = phone.server.device
    state.setprop(faults.HANG, "benchmark_model")
    try:
        with pytest.raises(DeviceError) as caught:
            device.shell(["benchmark_model", "--graph=/data/local/tmp/m.tflite"], timeout=1.0)
        pid = int(caught.value.problem.split("killed it on the device (pid ")[1].rstrip(")"))
        deadline = time.monotonic() + 5
        while state.job(pid) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert state.job(pid) is None and not device.shell(["test", "-d", f"/proc/{pid}"]).ok
        # the rule the phone holds: without devlab's exec and kill, the closed stream leaves it running
        adb = phone.adb.client().device(phone.serial)
        with pytest.raises(Exception):
            adb.shell(["benchmark_model", "--graph=x"], timeout=1.0)
        time.sleep(0.3)
        assert [job.name for job in state.jobs()].count("benchmark_model") == 1
    finally:
        state.setprop(faults.HANG, "")
