"""Fixtures: a real adb server (the binary in the adbutils wheel) on a non-default port, and a simulated phone
connected to it. Import them from conftest: `from tests.sim_fixtures import adb_server, sim_phone  # noqa: F401`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import adbutils
import pytest

from devlab.sim.profiles import get_profile
from devlab.sim.server import SimServer

ADB_BINARY = Path(adbutils.__file__).parent / "binaries" / "adb"
SIM_TIME_SCALE = 0.002  # simulated benchmark seconds -> real seconds, keeps benchmark tests short


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AdbServer:
    port: int
    binary: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ANDROID_ADB_SERVER_PORT": str(self.port)}

    def run(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.binary), "-P", str(self.port), *args], capture_output=True, text=True,
                              timeout=timeout, env=self.env)

    def client(self) -> adbutils.AdbClient:
        return adbutils.AdbClient(host="127.0.0.1", port=self.port)


@dataclass
class SimPhone:
    server: SimServer
    adb: AdbServer

    @property
    def serial(self) -> str:
        return self.server.serial

    @property
    def root(self) -> Path:
        return self.server.device.fs.root

    def device(self) -> adbutils.AdbDevice:
        return self.adb.client().device(self.serial)

    def shell(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return self.adb.run("-s", self.serial, "shell", *args, timeout=timeout)

    def connect(self, timeout: float = 15.0) -> None:
        """`adb connect` and wait until the server lists the phone as `device`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.adb.run("connect", self.serial, timeout=10)
            listing = self.adb.run("devices", timeout=10).stdout
            if f"{self.serial}\tdevice" in listing:
                return
            self.adb.run("disconnect", self.serial, timeout=10)
            time.sleep(0.2)
        raise AssertionError(f"the adb server never listed {self.serial} as a device: {listing!r}")


@pytest.fixture(scope="session")
def adb_server() -> AdbServer:
    server = AdbServer(port=free_port(), binary=ADB_BINARY)
    result = server.run("start-server", timeout=60)
    assert result.returncode == 0, result.stderr
    yield server
    server.run("kill-server", timeout=30)


def start_phone(adb: AdbServer, root: Path, profile: str = "s23", fault_props: dict[str, str] | None = None,
                benchmark_tool: str = "classic", time_scale: float = SIM_TIME_SCALE) -> SimPhone:
    """`benchmark_tool`: the phone tests written before LiteRT's build was simulated run the classic tool; tests of
    the LiteRT build (the simulated phone's default, devlab/sim/profiles.py) pass "litert"."""
    server = SimServer(get_profile(profile, benchmark_tool), free_port(), root=root, time_scale=time_scale,
                       fault_props=fault_props).start()
    phone = SimPhone(server=server, adb=adb)
    phone.connect()
    return phone


def stop_phone(phone: SimPhone) -> None:
    phone.adb.run("disconnect", phone.serial, timeout=10)
    phone.server.stop()


@pytest.fixture(scope="module")
def sim_phone(adb_server: AdbServer, tmp_path_factory: pytest.TempPathFactory) -> SimPhone:
    phone = start_phone(adb_server, tmp_path_factory.mktemp("phone"))
    yield phone
    stop_phone(phone)


@pytest.fixture()
def cli_env(adb_server: AdbServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for devlab commands that talk to the private adb server, with a private DEVLAB_HOME and no
    user benchmark_model; applied to this process too, and the test runs in its tmp folder."""
    env = {"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "DEVLAB_HOME": str(tmp_path / "home"),
           "DEVLAB_BENCHMARK_MODEL": ""}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    return env
