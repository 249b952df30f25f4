"""Phones whose adbd predates shell protocol v2 (Android < 7): the simulated phone's `no_shell_v2` fault makes it
answer like one (no `shell_v2` feature, `shell,v2` refused, output through a pty), and devlab still gets exit codes,
clean output and safe quoting through the real adb server."""

from __future__ import annotations

import json
import shutil

import pytest

from cli_helpers import run_devlab
from devlab.devices.adb import AdbDevice, _split_v1
from devlab.devices.adb_server import AdbServer, ServerSpec, bundled_adb
from devlab.sim import faults
from sim_fixtures import adb_server, start_phone, stop_phone  # noqa: F401  (fixtures)

MODEL = "models/poco_x3/mnv3_seg_float.tflite"


@pytest.fixture(scope="module")
def old_phone(adb_server, tmp_path_factory):
    phone = start_phone(adb_server, tmp_path_factory.mktemp("old"), fault_props={faults.NO_SHELL_V2: "1"})
    yield phone
    stop_phone(phone)


def _device(phone) -> AdbDevice:
    return AdbDevice(AdbServer(ServerSpec("127.0.0.1", phone.adb.port, bundled_adb())), phone.serial)


def test_the_adb_server_sees_no_shell_v2_and_its_own_client_falls_back(old_phone):
    assert "shell_v2" not in old_phone.device().get_features().split(",")
    done = old_phone.shell("echo", "hello")          # the real adb client, itself on v1 now
    assert done.stdout.replace("\r\n", "\n") == "hello\n"


def test_shell_v1_keeps_exit_codes_and_undoes_the_pty_line_ends(old_phone):
    device = _device(old_phone)
    assert device.speaks_shell_v2() is False
    result = device.shell(["ls", "/data/local/tmp", "/no/such/dir"])
    assert result.exit_code == 1 and "\r" not in result.stdout
    assert "/no/such/dir" in result.stdout and result.stderr == ""   # v1 mixes stderr into stdout
    lines = device.shell(["getprop"]).stdout
    assert lines.count("\n") > 10 and "\r" not in lines
    assert device.shell(["true"]).exit_code == 0
    assert device.shell(["getprop", "ro.product.model"]).stdout.strip() == "SM-S918B"


def test_shell_v1_quotes_hostile_arguments(old_phone):
    device = _device(old_phone)
    hostile = "a b; touch /data/local/tmp/pwned1 $(touch /data/local/tmp/pwned2) `id` 'q' \"d\""
    result = device.shell(["echo", hostile])
    assert result.ok and result.stdout == hostile + "\n"
    assert not device.shell(["ls", "/data/local/tmp/pwned1"]).ok
    assert not device.shell(["ls", "/data/local/tmp/pwned2"]).ok


def test_a_cut_off_v1_stream_is_not_an_exit_code():
    assert _split_v1(b"partial output", "__devlab_exit_ab__") == (255, b"partial output", b"")
    assert _split_v1(b"x\r\ny\r\n__devlab_exit_ab__0\r\n", "__devlab_exit_ab__") == (0, b"x\ny\n", b"")
    # an earlier line that merely looks like the marker does not end the output
    assert _split_v1(b"__devlab_exit_ab__7\nmore\n__devlab_exit_ab__1\n", "__devlab_exit_ab__")[0] == 1


def test_devlab_run_on_a_pre_7_phone(cli_env, old_phone, tmp_path, real_fixtures):
    model = tmp_path / "m.tflite"
    shutil.copyfile(real_fixtures / MODEL, model)
    result = run_devlab("run", "--device", old_phone.serial, "--model", str(model), "--variants", "as-is",
                        "--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--json", cwd=tmp_path, env=cli_env,
                        timeout=300)
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)["variants"]
    assert row["status"] == "ok", row["error"]
    assert row["timing"]["source"] == "simulated" and row["timing"]["latency_ms"]["mean_ms"] > 0
    assert row["kernels"] and row["kernels"]["rows"]        # the op-profile and trace runs worked too
