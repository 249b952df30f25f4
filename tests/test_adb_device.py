"""AdbDevice and the adb server layer, through the real adb server (adbutils' binary) and the simulated phone."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from devlab.devices.adb import AdbDevice
from devlab.devices.adb_server import AdbServer, ServerSpec, bundled_adb
from devlab.devices.resolve import AdbOptions, list_devices, resolve_device
from devlab.errors import DeviceError, DeviceNotFound
from devlab.sim import faults
from sim_fixtures import adb_server, free_port, sim_phone, start_phone, stop_phone  # noqa: F401  (fixtures)

HOSTILE = "/data/local/tmp/devlab/we ird/it's \"q\"; $(touch pwned) `id` & x.bin"


@pytest.fixture()
def env(adb_server, tmp_path, monkeypatch):
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(adb_server.port))
    monkeypatch.setenv("DEVLAB_HOME", str(tmp_path / "home"))   # no stray `devlab sim start` phones
    monkeypatch.chdir(tmp_path)


def _device(phone) -> AdbDevice:
    server = AdbServer(ServerSpec("127.0.0.1", phone.adb.port, bundled_adb()))
    device = AdbDevice(server, phone.serial)
    device.read_info()
    return device


def test_listing_shows_the_simulated_phone_as_s23(env, sim_phone):
    infos = {info.serial: info for info in list_devices(include_host=False)}
    info = infos[sim_phone.serial]
    assert (info.alias, info.model, info.simulated) == ("s23", "SM-S918B", True)
    assert (info.board, info.soc, info.gpu, info.abi) == ("kalama", "SM8550", "Adreno (TM) 740", "arm64-v8a")
    assert (info.android_version, info.sdk) == ("14", "34")
    assert info.battery_level == 87 and info.battery_temp_c == 31.0 and info.thermal_status == "none"
    assert info.extra["egl"] == "adreno" and "s23u" in info.extra["aliases"].split(",")


def test_resolution_by_alias_and_serial(env, sim_phone):
    assert resolve_device("s23").serial == sim_phone.serial
    assert resolve_device("s23u").info.alias == "s23u"
    assert resolve_device(sim_phone.serial).info.model == "SM-S918B"


def test_unknown_device_lists_what_is_attached(env, sim_phone):
    with pytest.raises(DeviceNotFound) as caught:
        resolve_device("pixel8")
    assert sim_phone.serial in caught.value.problem and "SM-S918B" in caught.value.problem
    with pytest.raises(DeviceNotFound) as caught:
        resolve_device("no-such-phone")
    assert sim_phone.serial in caught.value.problem and "s23" in (caught.value.fix or "")


def test_shell_quotes_every_argument_and_keeps_exit_codes(sim_phone):
    device = _device(sim_phone)
    args = ["a b", "it's", '"q"', "$(touch pwned)", "`id`", ";", "&&", "|", "$HOME", "*"]
    result = device.shell(["echo", *args])
    assert result.ok and result.stdout == " ".join(args) + "\n"
    assert device.shell(["false"]).exit_code == 1
    assert device.shell(["sh-not-here"]).exit_code == 127
    assert not any("pwned" in names for _, _, names in os.walk(sim_phone.root))
    with pytest.raises(TypeError):
        device.shell("echo hi")  # type: ignore[arg-type]


def test_push_pull_and_the_hash_cache(sim_phone, tmp_path):
    device = _device(sim_phone)
    local = tmp_path / "model one.bin"
    local.write_bytes(os.urandom(300_000))
    first = device.push(local, "/data/local/tmp/devlab/cache/model.bin")
    assert (first.bytes_sent, first.cached) == (300_000, False)
    second = device.push(local, "/data/local/tmp/devlab/cache/model.bin")
    assert (second.bytes_sent, second.cached, second.sha256) == (0, True, first.sha256)
    local.write_bytes(os.urandom(300_000))   # same size, other content: sent again
    third = device.push(local, "/data/local/tmp/devlab/cache/model.bin")
    assert third.bytes_sent == 300_000 and third.sha256 != first.sha256
    back = tmp_path / "back.bin"
    device.pull("/data/local/tmp/devlab/cache/model.bin", back)
    assert back.read_bytes() == local.read_bytes()


def test_hostile_device_paths_are_never_interpreted(sim_phone, tmp_path):
    device = _device(sim_phone)
    local = tmp_path / "it's; $(x) \"q\".bin"
    local.write_bytes(b"payload\n" * 1000)
    assert device.push(local, HOSTILE).bytes_sent == 8000
    assert (sim_phone.root / HOSTILE.lstrip("/")).read_bytes() == local.read_bytes()
    assert device.remote_sha256(HOSTILE) == device.push(local, HOSTILE).sha256
    assert device.shell(["cat", HOSTILE]).stdout == local.read_text()
    device.pull(HOSTILE, tmp_path / "pulled; $(y)")
    assert (tmp_path / "pulled; $(y)").read_bytes() == local.read_bytes()
    assert not any("pwned" in names for _, _, names in os.walk(sim_phone.root))


def test_missing_remote_file_is_a_clear_error(sim_phone, tmp_path):
    with pytest.raises(DeviceError) as caught:
        _device(sim_phone).pull("/data/local/tmp/nothing-here", tmp_path / "x")
    assert caught.value.stage == "pull nothing-here" and caught.value.device == sim_phone.serial


def test_device_dropping_mid_push_names_device_and_stage(adb_server, tmp_path):
    phone = start_phone(adb_server, tmp_path / "root")
    try:
        device = _device(phone)
        local = tmp_path / "big.bin"
        local.write_bytes(os.urandom(4 << 20))
        phone.server.device.setprop(faults.DROP_AFTER_BYTES, "1000000")
        with pytest.raises(DeviceError) as caught:
            device.push(local, "/data/local/tmp/devlab/big.bin")
        assert caught.value.device == phone.serial and caught.value.stage == "push big.bin"
        assert "connection lost" in caught.value.problem
    finally:
        stop_phone(phone)


def test_killed_local_server_is_restarted_once():
    server = AdbServer(ServerSpec("127.0.0.1", free_port(), bundled_adb()))
    try:
        assert server.call(lambda client: client.server_version(), stage="t") > 0   # started on first use
        subprocess.run([str(bundled_adb()), "-P", str(server.spec.port), "kill-server"], timeout=30, check=True)
        assert not server.answers()
        assert server.call(lambda client: client.server_version(), stage="t") > 0
    finally:
        subprocess.run([str(bundled_adb()), "-P", str(server.spec.port), "kill-server"], timeout=30)


def test_remote_server_that_does_not_answer_is_an_error_not_a_local_start(env):
    port = free_port()
    with pytest.raises(DeviceError) as caught:
        list_devices(AdbOptions(servers=(f"localhost:{port}",)), include_host=False)
    assert f"localhost:{port}" in caught.value.problem
    assert not AdbServer(ServerSpec("127.0.0.1", port, None)).answers()


def test_missing_adb_binary_is_a_clear_error(tmp_path):
    server = AdbServer(ServerSpec("127.0.0.1", free_port(), tmp_path / "no-adb"))
    with pytest.raises(DeviceError) as caught:
        server.ensure_running()
    assert "no-adb" in caught.value.problem and "DEVLAB_ADB" in (caught.value.fix or "")
