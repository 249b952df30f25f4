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


def _wait_gone(device, pid: int) -> None:
    deadline = time.monotonic() + 10
    while device.fs.process_exists(pid):
        assert time.monotonic() < deadline, f"/proc/{pid} never went away"
        time.sleep(0.02)


def test_what_the_shell_user_may_signal(device):
    """AOSP sepolicy: the shell domain holds every process permission on itself (public/domain.te), only `signal`
    on perfetto (private/shell.te: no signull for `kill -0`, no sigkill for `kill -9`), nothing on init."""
    shell = Shell(device)
    assert run(device, "sleep 30 &", shell)[0] == 0
    own = int(shell.env["!"])
    status, out, _ = run(device, "perfetto --background --txt -c /data/misc/perfetto-configs/x.cfg -o /t.pf")
    assert status == 1      # no config yet
    run(device, 'echo "duration_ms: 60000" > /data/misc/perfetto-configs/x.cfg')
    status, out, _ = run(device, "perfetto --background --txt -c /data/misc/perfetto-configs/x.cfg -o /t.pf")
    traced = int(out)
    assert status == 0 and device.job(traced).domain == "perfetto"
    assert (device.fs.root / f"proc/{traced}/attr/current").read_text() == "u:r:perfetto:s0\0"
    assert run(device, f"kill -0 {own}")[0] == 0
    for denied in (f"kill -0 {traced}", f"kill -9 {traced}", f"kill -s KILL {traced}", "kill -0 1", "kill 1"):
        status, _, err = run(device, denied)
        assert status == 1 and "Operation not permitted" in err, denied
    assert run(device, "test -d /proc/1 && test -d /proc/%d && echo both" % traced)[1] == "both\n"
    assert (device.fs.root / "t.pf").read_bytes() == b""          # opened at start, written on stop
    assert run(device, f"kill -INT {traced}")[0] == 0 and run(device, f"kill -9 {own}")[0] == 0
    _wait_gone(device, traced)
    _wait_gone(device, own)
    assert (device.fs.root / "t.pf").stat().st_size > 0
    status, _, err = run(device, f"kill -0 {traced}")
    assert status == 1 and "No such process" in err


def test_sh_c_runs_a_child_shell(device):
    shell = Shell(device)
    status, out, _ = run(device, "sh -c 'echo $$ > /data/local/tmp/o; cat /data/local/tmp/o'", shell)
    assert status == 0 and out.strip().isdigit() and out.strip() != shell.env["$"]     # its own process
    assert run(device, "sh -x")[0] == 2


@pytest.mark.parametrize("profile, version", [("pixel6-a12", 20), ("s23", 38)])
def test_perfetto_query_forms(tmp_path, profile, version):
    """perfetto_cmd.cc: `--query` printed a text proto before v24, tables from v24 (with TRACING SESSIONS);
    `--query-raw` is a TracingServiceState on both; `--background-wait` exists from v22."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracingServiceState
    state = DeviceState(get_profile(profile), FsSandbox(tmp_path / "root"), time_scale=0.001)
    populate(state)
    text = run(state, "perfetto --query")[1]
    assert ("data_sources: {" in text) == (version < 24) and ("TRACING SESSIONS:" in text) == (version >= 24)
    # perfetto's domain may write to the shell's pipe, not to a file in /data/local/tmp (sepolicy perfetto.te)
    assert run(state, "perfetto --query-raw > /data/local/tmp/q.pb")[0] == 0
    assert (state.fs.root / "data/local/tmp/q.pb").read_bytes() == b""
    run(state, "sh -c 'perfetto --query-raw | cat > /data/local/tmp/q.pb'")
    raw = TracingServiceState.FromString((state.fs.root / "data/local/tmp/q.pb").read_bytes())
    assert raw.tracing_service_version == f"Perfetto v{version}.0 (simulated)" and raw.num_sessions == 0
    assert any(ds.ds_descriptor.name.startswith("gpu.renderstages.") for ds in raw.data_sources)
    waited = run(state, "perfetto --background-wait --txt -c /nope -o /x")
    assert ("unrecognized option '--background-wait'" in waited[2]) == (version < 22)


def test_the_timeline_refuses_atrace_names_tflite_never_writes(device):
    """tensorflow/lite/profiling/atrace_profiler.cc names every event `<tag>@<m1>/<m2>`: a bare `Invoke` is a
    simulator bug, not something a phone's trace could hold."""
    from devlab.sim.timeline import SimEvent, atrace_name
    assert atrace_name("Invoke", 0, 0) == "Invoke@0/0"
    device.timeline.extend([SimEvent("slice", "CONV_2D@12/0", 1, 1, 1, 1)])
    with pytest.raises(ValueError):
        device.timeline.extend([SimEvent("slice", "Invoke", 1, 1, 1, 1)])
