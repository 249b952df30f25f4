"""`devlab sim start/list/stop` as processes, and the reserved-port guard."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from devlab.cli.sim_cmd import app
from devlab.errors import UsageError
from sim_fixtures import adb_server, free_port  # noqa: F401  (fixtures)


def test_start_list_stop_in_the_background(tmp_path, monkeypatch, adb_server):
    monkeypatch.setenv("DEVLAB_HOME", str(tmp_path / "home"))
    port = free_port()
    runner = CliRunner()
    started = runner.invoke(app, ["start", "--profile", "pixel8", "--port", str(port), "--root", str(tmp_path / "r")])
    assert started.exit_code == 0, started.output
    serial = f"127.0.0.1:{port}"
    assert serial in started.stdout
    try:
        assert serial in runner.invoke(app, ["list"]).stdout
        assert "connected" in adb_server.run("connect", serial).stdout
        model = adb_server.run("-s", serial, "shell", "getprop", "ro.product.model")
        assert model.stdout.strip() == "Pixel 8"
    finally:
        adb_server.run("disconnect", serial)
        stopped = runner.invoke(app, ["stop", "--port", str(port)])
    assert stopped.exit_code == 0, stopped.output
    assert serial not in runner.invoke(app, ["list"]).stdout


@pytest.mark.parametrize("port", [5555, 5585])
def test_emulator_ports_are_refused(port):
    result = CliRunner().invoke(app, ["start", "--port", str(port)])
    assert isinstance(result.exception, UsageError)
    assert "5555-5585" in str(result.exception)
