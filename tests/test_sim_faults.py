"""Fault injection on the simulated phone, observed through the real adb server."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from devlab.sim import faults
from sim_fixtures import adb_server, start_phone, stop_phone  # noqa: F401  (fixtures)


@pytest.fixture()
def phone(adb_server, tmp_path):
    phone = start_phone(adb_server, tmp_path / "root")
    yield phone
    stop_phone(phone)


def test_drop_mid_push_fails_the_push_then_recovers(phone, tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(4 * 1024 * 1024))
    assert phone.device().shell2(["setprop", faults.DROP_AFTER_BYTES, "1000000"], v2=True).returncode == 0
    pushed = phone.adb.run("-s", phone.serial, "push", str(blob), "/data/local/tmp/blob.bin")
    assert pushed.returncode != 0
    on_phone = phone.root / "data/local/tmp/blob.bin"
    assert not on_phone.exists() or on_phone.stat().st_size < blob.stat().st_size
    assert phone.server.device.getprop(faults.DROP_AFTER_BYTES) == ""  # fired once, cleared
    phone.connect()
    assert phone.adb.run("-s", phone.serial, "push", str(blob), "/data/local/tmp/blob.bin").returncode == 0
    assert on_phone.read_bytes() == blob.read_bytes()


def test_hung_command_blocks_until_cleared(phone):
    phone.server.device.setprop(faults.HANG, "benchmark_model")
    with pytest.raises(subprocess.TimeoutExpired):
        phone.shell("benchmark_model", "--graph=/x.tflite", timeout=1.5)
    assert phone.shell("echo", "still", "answering").stdout.strip() == "still answering"
    phone.server.device.setprop(faults.HANG, "")
    result = phone.shell("benchmark_model", "--graph=/x.tflite", timeout=10)
    assert result.returncode == 1 and "Could not open '/x.tflite'." in result.stderr   # TFLite logs errors to stderr


def test_offline_then_back(phone, tmp_path):
    control = tmp_path / "faults"
    phone.server.control_file = control
    phone.server.start_control_polling()
    control.write_text("offline=1\n")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and f"{phone.serial}\tdevice" in phone.adb.run("devices").stdout:
        time.sleep(0.2)
    assert f"{phone.serial}\tdevice" not in phone.adb.run("devices").stdout
    assert phone.shell("true", timeout=15).returncode != 0
    control.write_text("offline=\n")
    time.sleep(0.5)
    phone.connect()
    assert phone.shell("getprop", "ro.product.model").stdout.strip() == "SM-S918B"
