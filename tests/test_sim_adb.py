"""The simulated phone through the real adb server (binary from the adbutils wheel): protocol-level behaviour."""

from __future__ import annotations

import hashlib
import os
import shlex

import pytest
from adbutils.errors import AdbError

from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)


def test_devices_listing_shows_the_profile(sim_phone):
    listing = sim_phone.adb.run("devices", "-l").stdout
    line = next(l for l in listing.splitlines() if l.startswith(sim_phone.serial))
    assert "\tdevice" in line or " device " in line
    assert "model:SM_S918B" in line and "device:dm3q" in line
    serials = [d.serial for d in sim_phone.adb.client().device_list()]
    assert sim_phone.serial in serials


def test_getprop_through_adbutils(sim_phone):
    d = sim_phone.device()
    assert d.getprop("ro.product.model") == "SM-S918B"
    assert d.getprop("ro.board.platform") == "kalama"
    assert d.getprop("ro.hardware.egl") == "adreno"
    assert d.getprop("ro.devlab.simulated") == "1"
    assert d.shell("getprop ro.build.version.sdk") == "34"


def test_shell_v2_exit_codes(sim_phone):
    d = sim_phone.device()
    assert d.shell2("true", v2=True).returncode == 0
    assert d.shell2("false", v2=True).returncode == 1
    assert d.shell2("exit 42", v2=True).returncode == 42
    missing = d.shell2("frobnicate --now", v2=True)
    assert missing.returncode == 127
    assert "frobnicate: inaccessible or not found" in missing.stderr and missing.stdout == ""
    assert d.shell2("false || echo fallback", v2=True).output.strip() == "fallback"
    assert sim_phone.shell("exit 3").returncode == 3  # the adb binary passes v2 exit codes on


def test_shell_v1_exit_code_marker(sim_phone):
    # adbutils' v1 path appends `; echo X4EXIT:$?` and parses it back
    result = sim_phone.device()._shell_v1("false")
    assert result.returncode == 1


def test_quoting_of_hostile_arguments(sim_phone):
    args = ["echo", "a  b", "it's", "$(id)", "x;y", "`uname`", "&&", "$HOME", 'q"q']
    out = sim_phone.device().shell2(args).output
    assert out.rstrip("\n") == " ".join(args[1:])


def test_push_pull_byte_identical(sim_phone, tmp_path):
    payload = os.urandom(6 * 1024 * 1024 + 123)
    local = tmp_path / "blob.bin"
    local.write_bytes(payload)
    pushed = sim_phone.adb.run("-s", sim_phone.serial, "push", str(local), "/data/local/tmp/x/blob.bin")
    assert pushed.returncode == 0, pushed.stderr
    on_phone = sim_phone.device().shell2(["sha256sum", "/data/local/tmp/x/blob.bin"]).output.split()[0]
    assert on_phone == hashlib.sha256(payload).hexdigest()
    back = tmp_path / "back.bin"
    pulled = sim_phone.adb.run("-s", sim_phone.serial, "pull", "/data/local/tmp/x/blob.bin", str(back))
    assert pulled.returncode == 0, pulled.stderr
    assert back.read_bytes() == payload
    again = tmp_path / "again.bin"
    sim_phone.device().sync.pull("/data/local/tmp/x/blob.bin", again)
    assert again.read_bytes() == payload


def test_sync_stat_and_list(sim_phone):
    d = sim_phone.device()
    d.sync.push(b"hello", "/data/local/tmp/listed.txt")
    info = d.sync.stat("/data/local/tmp/listed.txt")
    assert info.size == 5
    names = [entry.path for entry in d.sync.list("/data/local/tmp")]
    assert "listed.txt" in names
    assert d.sync.stat("/data/local/tmp/absent").mode == 0


def test_hostile_file_names(sim_phone, tmp_path):
    d = sim_phone.device()
    name = "/data/local/tmp/we ird 'q' \"d\";$(touch pwned)&.bin"
    d.sync.push(b"payload", name)
    assert d.shell2(["cat", name]).output == "payload"
    assert d.shell2(["ls", "/data/local/tmp"]).output.count("we ird") == 1
    assert d.shell2("test -e " + shlex.quote(name)).returncode == 0
    assert d.shell2(["rm", name]).returncode == 0
    assert d.shell2("test -e " + shlex.quote(name)).returncode == 1
    assert not list(sim_phone.root.rglob("pwned"))


def test_paths_cannot_escape_the_sandbox(sim_phone, tmp_path):
    d = sim_phone.device()
    d.sync.push(b"inside", "/../../../../data/local/tmp/../../../escape.txt")
    assert (sim_phone.root / "escape.txt").read_bytes() == b"inside"
    assert d.shell2("cat /../../etc/hostname").returncode == 1  # the sandbox has no /etc/hostname


def test_unknown_service_is_refused(sim_phone):
    conn = sim_phone.device().open_transport()
    conn.send_command("frobnicate:")
    with pytest.raises(AdbError):
        conn.check_okay()
    conn.close()


def test_dumpsys_lines_tools_read(sim_phone):
    d = sim_phone.device()
    assert "Adreno (TM) 740" in d.shell("dumpsys SurfaceFlinger | grep GLES")
    assert "level: 87" in d.shell("dumpsys battery")
    assert "Thermal Status: 0" in d.shell("dumpsys thermalservice")
    assert d.shell("cat /sys/class/thermal/thermal_zone0/temp").strip().isdigit()


def test_redirection_and_env(sim_phone):
    d = sim_phone.device()
    assert d.shell2("echo one > /data/local/tmp/r.txt && echo two >> /data/local/tmp/r.txt").returncode == 0
    assert d.shell("cat < /data/local/tmp/r.txt") == "one\ntwo"
    assert d.shell("export A=1; B=2 echo $A; echo $?") == "1\n0"
    assert d.shell2("nosuch 2>&1").output.startswith("/system/bin/sh: nosuch")


def test_stat_v2_and_ls_v2_carry_64_bit_sizes_to_the_real_adb_client(sim_phone):
    """The phone advertises stat_v2 / ls_v2 as adbd does since Android 8, and answers them as the adb binary
    expects: `adb ls` (LIS2) shows a 5 GiB file's whole size (STAT v1's 32-bit field would say 1 GiB + 7), and a pull
    of a missing file reports STA2's errno."""
    assert {"stat_v2", "ls_v2"} <= set(sim_phone.adb.run("-s", sim_phone.serial, "features").stdout.split())
    big = sim_phone.root / "data/local/tmp/sparse5g.bin"
    big.write_bytes(b"x")
    os.truncate(big, 5 * 2**30 + 7)          # sparse: nothing near 5 GiB is written
    try:
        listing = sim_phone.adb.run("-s", sim_phone.serial, "ls", "/data/local/tmp").stdout
        row = next(line.split() for line in listing.splitlines() if line.endswith(" sparse5g.bin"))
        assert int(row[1], 16) == 5 * 2**30 + 7
        missing = sim_phone.adb.run("-s", sim_phone.serial, "pull", "/data/local/tmp/absent.bin", "/dev/null")
        assert missing.returncode == 1 and "No such file or directory" in missing.stderr
    finally:
        big.unlink()
