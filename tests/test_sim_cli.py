"""`devlab sim start/list/fault/stop` through the installed console script, the reserved-port guard, and `sim fault`
refusing a port with no phone on it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cli_helpers import run_devlab
from sim_fixtures import adb_server, free_port  # noqa: F401  (fixtures)


def _home(tmp_path: Path) -> dict[str, str]:
    return {"DEVLAB_HOME": str(tmp_path / "home")}


def _wait_for(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _answers(adb, serial: str) -> bool:
    adb.run("connect", serial, timeout=10)      # the adb server drops a phone that went offline: connect again
    return adb.run("-s", serial, "shell", "echo", "up", timeout=10).stdout.strip() == "up"


@pytest.mark.slow
def test_start_list_fault_stop_in_the_background(tmp_path, adb_server):  # noqa: F811
    env = _home(tmp_path)
    port = free_port()
    serial = f"127.0.0.1:{port}"
    started = run_devlab("sim", "start", "--profile", "pixel8", "--port", str(port), "--root", str(tmp_path / "r"),
                         env=env, timeout=60)
    assert started.exit_code == 0, started.stderr
    try:
        assert started.stdout.strip() == serial
        assert serial in run_devlab("sim", "list", env=env).stdout
        assert "connected" in adb_server.run("connect", serial).stdout
        model = adb_server.run("-s", serial, "shell", "getprop", "ro.product.model")
        assert model.stdout.strip() == "Pixel 8"
        offline = run_devlab("sim", "fault", "--port", str(port), "offline=1", env=env)
        assert offline.exit_code == 0, offline.stderr
        assert f"faults for port {port}: offline=1" in offline.stderr
        assert _wait_for(lambda: not _answers(adb_server, serial))
        cleared = run_devlab("sim", "fault", "--port", str(port), "offline=", env=env)
        assert cleared.exit_code == 0 and f"faults for port {port}: none" in cleared.stderr
        assert _wait_for(lambda: _answers(adb_server, serial))
    finally:
        adb_server.run("disconnect", serial)
        stopped = run_devlab("sim", "stop", "--port", str(port), env=env)
    assert stopped.exit_code == 0, stopped.stderr
    assert f"stopped {serial}" in stopped.stderr
    assert serial not in run_devlab("sim", "list", env=env).stdout


def test_fault_without_a_phone_on_that_port_is_a_usage_error(tmp_path):
    env = _home(tmp_path)
    port = free_port()
    result = run_devlab("sim", "fault", "--port", str(port), "offline=1", env=env)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.strip() == (f"error: no simulated phone is running on port {port} — start one with "
                                     f"`devlab sim start --port {port}` (`devlab sim list` shows the running ones)")
    # nothing was written that a phone started later on that port would pick up as an unasked fault
    assert not (tmp_path / "home" / "sim" / f"{port}.faults").exists()
    unknown = run_devlab("sim", "fault", "--port", str(port), "melt=1", env=env)
    assert unknown.exit_code == 2 and unknown.stderr.startswith("error: fault 'melt=1': expected one of")


@pytest.mark.parametrize("port", [5555, 5585])
def test_emulator_ports_are_refused(tmp_path, port):
    result = run_devlab("sim", "start", "--port", str(port), env=_home(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: port {port} is in 5555-5585")
