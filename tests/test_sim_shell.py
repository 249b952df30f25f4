"""The simulated phone's shell and sandbox, run directly (no adb): parsing, expansion, redirection, jobs."""

from __future__ import annotations

import os
import time

import pytest

from devlab.sim.fs import FsSandbox
from devlab.sim.profiles import S23, get_profile
from devlab.sim.setup import populate
from devlab.sim.shell import BufferOut, Shell
from devlab.sim.state import DeviceState
from devlab.errors import UsageError


@pytest.fixture()
def device(tmp_path):
    state = DeviceState(S23, FsSandbox(tmp_path / "root"), time_scale=0.001)
    populate(state)
    return state


def run(device, line: str, shell: Shell | None = None) -> tuple[int, str, str]:
    out, err = BufferOut(), BufferOut()
    status = (shell or Shell(device)).run(line, out, err)
    return status, out.data.decode(), err.data.decode()


@pytest.mark.parametrize("line, expected", [
    ("echo 'a  b' \"c $X\" d\\ e", "a  b c 1 d e\n"),
    ("echo '$X' \"\\$X\"", "$X $X\n"),
    ("false; echo $?", "1\n"),
    ("false && echo no || echo yes", "yes\n"),
    ("true || echo no; echo done", "done\n"),
    ("Y=2; echo $Y${Y}", "22\n"),
    ("Z=3 sh_var=4 echo ok", "ok\n"),
    ("echo a # comment", "a\n"),
    ("echo one | grep -c x || echo none", "none\n"),
])
def test_shell_syntax(device, line, expected):
    shell = Shell(device, env={"X": "1"})
    assert run(device, line, shell)[1] == expected


def test_exit_stops_the_line(device):
    assert run(device, "exit 7; echo unreachable") == (7, "", "")


def test_unknown_command_is_127(device):
    status, _, err = run(device, "nope arg")
    assert status == 127 and err == "/system/bin/sh: nope: inaccessible or not found\n"


def test_redirections_stay_in_the_sandbox(device):
    assert run(device, "echo hi > /data/local/tmp/f; echo more >> /data/local/tmp/f; nope 2> /data/local/tmp/e")[0] == 127
    root = device.fs.root
    assert (root / "data/local/tmp/f").read_text() == "hi\nmore\n"
    assert "inaccessible" in (root / "data/local/tmp/e").read_text()
    assert run(device, "cat < /data/local/tmp/f")[1] == "hi\nmore\n"
    assert run(device, "nope 2>&1")[1].startswith("/system/bin/sh: nope")
    assert run(device, "echo x > /../../../outside")[0] == 0
    assert (root / "outside").read_text() == "x\n"


def test_symlinks_resolve_inside_the_sandbox(device, tmp_path):
    root = device.fs.root
    os.symlink("/etc", root / "data/local/tmp/etc_link")
    os.symlink("../../../../../../..", root / "data/local/tmp/up")
    assert device.fs.resolve("/data/local/tmp/etc_link/passwd") == root / "etc/passwd"
    assert device.fs.resolve("/data/local/tmp/up/x") == root / "x"
    assert run(device, "cat /data/local/tmp/etc_link/passwd")[0] == 1


def test_globs_and_test(device):
    assert run(device, "cat /sys/class/thermal/thermal_zone*/type")[1].splitlines()[:2] == ["cpu-0-0-0", "cpu-1-0-0"]
    assert run(device, "test -d /data/local/tmp && [ -x /system/bin/benchmark_model ] && echo ok")[1] == "ok\n"
    assert run(device, "test -e /nothing")[0] == 1


def test_taskset_runs_the_rest(device):
    assert run(device, "taskset f0 echo pinned")[1] == "pinned\n"
    assert run(device, "taskset zz echo pinned")[0] == 1


def test_background_job_and_kill(device):
    shell = Shell(device)
    assert run(device, "sleep 30 &", shell)[0] == 0
    pid = shell.env["!"]
    assert run(device, f"kill -0 {pid}")[0] == 0
    assert run(device, f"kill {pid}")[0] == 0
    deadline = time.monotonic() + 5
    while device.job(int(pid)) is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert device.job(int(pid)) is None
    assert run(device, f"kill {pid}")[0] == 1


def test_setprop_getprop_and_readonly(device):
    assert run(device, "setprop debug.x 5 && getprop debug.x")[1] == "5\n"
    assert run(device, "setprop ro.product.model X")[0] == 1
    assert run(device, "getprop ro.product.model")[1] == "SM-S918B\n"


def test_profiles():
    pixel = get_profile("pixel8")
    assert pixel.prop("ro.hardware.egl") == "mali" and "Mali-G715" in pixel.gles
    assert pixel.prop("ro.devlab.simulated") == "1"
    with pytest.raises(UsageError):
        get_profile("nokia3310")
