"""`devlab doctor --device X` through the installed script, against simulated phones reached through the real adb
server: every row ok / warn / fail with its fix, exit 1 on a fail, `--json` on stdout."""

from __future__ import annotations

import json

import pytest

from cli_helpers import run_devlab
from devlab.sim import faults
from sim_fixtures import start_phone, stop_phone
from test_adb_device import elf64_aarch64

pytestmark = pytest.mark.timeout(180)


@pytest.fixture()
def phone_with(adb_server, tmp_path):
    started = []

    def start(**props: str):
        phone = start_phone(adb_server, tmp_path / f"root{len(started)}", fault_props=props)
        started.append(phone)
        return phone

    yield start
    for phone in started:
        stop_phone(phone)


def _doctor(phone, env, tmp_path, *extra: str):
    result = run_devlab("doctor", "--device", phone.serial, "--json", *extra, cwd=tmp_path, env=env, timeout=150)
    report = json.loads(result.stdout)
    return result, report, {check["name"]: check for check in report["checks"]}


def test_a_healthy_s23_passes_with_every_row_explained(cli_env, phone_with, tmp_path):
    phone = phone_with()
    result, report, rows = _doctor(phone, cli_env, tmp_path)
    assert result.exit_code == 0, result.stderr
    assert report["ok"] is True and report["device"]["model"] == "SM-S918B" and report["source"] == "simulated"
    assert {c["status"] for c in report["checks"]} <= {"ok", "warn"}
    assert all(c["fix"] for c in report["checks"] if c["status"] != "ok")      # every warning says what to do
    assert {"shell_v2", "stat_v2", "ls_v2"} <= set(rows["adb features"]["value"].split(","))
    assert rows["Android"]["value"].startswith("Android 14 (SDK 34)")
    assert "gpu.counters" in rows["perfetto"]["value"] and "gpu.renderstages" in rows["perfetto"]["value"]
    assert rows["tracing sessions"]["status"] == "ok"
    assert rows["setprop debug.tflite.trace"]["status"] == "ok"
    assert rows["/data/local/tmp exec"]["status"] == "ok"
    assert rows["benchmark_model"]["status"] == "ok" and "flags" in rows["benchmark_model"]["value"]
    assert rows["thermal"]["status"] == "ok" and "skin-therm 33.5°C" in rows["thermal"]["value"]
    assert rows["screen"]["status"] == "warn" and "svc power stayon" in rows["screen"]["fix"]   # a fresh phone
    assert "doctor: s23" in result.stderr and "SIMULATED" in result.stderr                      # the table


def test_a_hot_full_phone_fails_and_says_why(cli_env, phone_with, tmp_path):
    phone = phone_with(**{faults.THERMAL_STATUS: "4", faults.DATA_FREE: str(50 * 2**20), faults.UNPLUGGED: "1"})
    assert phone.shell("settings", "put", "global", "low_power", "1").returncode == 0
    result, report, rows = _doctor(phone, cli_env, tmp_path)
    assert result.exit_code == 1 and report["ok"] is False
    assert rows["thermal"]["status"] == "fail" and rows["thermal"]["value"].startswith("critical")
    assert rows["free space"]["status"] == "fail" and "0.0 GiB free" in rows["free space"]["value"]
    assert rows["battery"]["status"] == "warn" and "not charging, battery saver on" in rows["battery"]["value"]
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error:") and "2 check(s) failed: thermal, free space" in line


def test_a_glibc_benchmark_model_and_an_old_adbd_are_caught(cli_env, phone_with, tmp_path):
    phone = phone_with(**{"ro.devlab.simulated": "0", faults.NO_SHELL_V2: "1"})
    glibc = elf64_aarch64(tmp_path / "benchmark_model", "/lib/ld-linux-aarch64.so.1")
    result, report, rows = _doctor(phone, cli_env, tmp_path, "--benchmark-model", str(glibc))
    assert result.exit_code == 1
    assert rows["benchmark_model"]["status"] == "fail"
    assert "/lib/ld-linux-aarch64.so.1" in rows["benchmark_model"]["value"]
    assert rows["adb features"]["status"] == "warn" and "shell v1" in rows["adb features"]["fix"]


def test_doctor_on_the_host_is_a_usage_error(cli_env, tmp_path):
    result = run_devlab("doctor", "--device", "host", cwd=tmp_path, env=cli_env, timeout=60)
    assert result.exit_code == 2 and result.stderr.strip().startswith("error:") and "checks a phone" in result.stderr
