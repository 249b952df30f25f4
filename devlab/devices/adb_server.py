"""The adb servers devlab talks to: the local one (started on first use) and remote ones (`--adb-server host:port`).

The local server is the binary shipped inside the adbutils wheel unless the user names another (`--adb PATH` or
env DEVLAB_ADB), on port ANDROID_ADB_SERVER_PORT (default 5037). A remote server is only ever connected to, never
started: its phones are plugged into another machine.

Why our own connection class: adbutils, when a connection fails, silently runs `adb start-server` on the default
port, which would start a local server when a remote one is down and hide the real problem. Here a local server
that is absent (or was killed) is restarted once; a remote one that does not answer is a clear DeviceError.
A restarted server has forgotten the phones reached with `adb connect host:port` (network phones, simulated ones):
every such phone devlab has talked to through it is connected again, under the lock, before any call is retried,
so a killed server costs nothing (several phones at once in a farm too). A phone that cannot be reconnected gets
that reason as its error.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

import adbutils
from adbutils._adb import AdbConnection
from adbutils.errors import AdbConnectionError   # not re-exported at the package top level (adbutils 2.x)

from devlab.errors import DeviceError, UsageError

ENV_ADB = "DEVLAB_ADB"
ENV_PORT = "ANDROID_ADB_SERVER_PORT"
DEFAULT_PORT = 5037
LOCAL_HOSTS = ("127.0.0.1", "localhost")
START_TIMEOUT_S = 30.0
RECONNECT_TIMEOUT_S = 10.0
_NETWORK_SERIAL = re.compile(r"^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$")   # what `adb connect` lists
T = TypeVar("T")


def is_network_serial(serial: str) -> bool:
    """A phone the server knows only because someone ran `adb connect` (USB phones come back by themselves)."""
    return bool(_NETWORK_SERIAL.match(serial))


def bundled_adb() -> Path:
    """The adb binary inside the adbutils wheel."""
    return Path(adbutils.__file__).parent / "binaries" / "adb"


def local_port(env: dict[str, str] | None = None) -> int:
    environ = os.environ if env is None else env
    raw = environ.get(ENV_PORT, "").strip()
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise UsageError(f"{ENV_PORT}={raw!r} is not a TCP port", f"set {ENV_PORT} to a number like 5037, or unset it")
    return int(raw)


def parse_server_address(text: str) -> tuple[str, int]:
    """`host:port` -> (host, port); UsageError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"adb server {text!r} is not host:port", "pass e.g. --adb-server 127.0.0.1:5037")
    return host, int(port)


class _Connection(AdbConnection):
    """An adbutils connection that never starts a server behind our back."""

    def _safe_connect(self):  # type: ignore[no-untyped-def]
        return self._create_socket()


class _Client(adbutils.AdbClient):
    def make_connection(self, timeout: float | None = None) -> AdbConnection:
        connection = _Connection(self.host, self.port)
        if timeout:
            connection.conn.settimeout(timeout)
        return connection


@dataclass(frozen=True)
class ServerSpec:
    host: str
    port: int
    binary: Path | None     # set for the local server we may start; None for a remote one

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def local(self) -> bool:
        return self.binary is not None


class AdbServer:
    """One adb server. `call(fn)` runs fn(client), (re)starting a local server once when it does not answer."""

    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.client: adbutils.AdbClient = _Client(host=spec.host, port=spec.port)
        self._lock = threading.Lock()
        self._checked = False
        self._network_serials: set[str] = set()      # phones reached through `adb connect`, to bring back
        self._lost: dict[str, DeviceError] = {}      # serial -> why the restarted server could not get it back

    @property
    def address(self) -> str:
        return self.spec.address

    def answers(self) -> bool:
        try:
            with socket.create_connection((self.spec.host, self.spec.port), timeout=1.0):
                return True
        except OSError:
            return False

    def ensure_running(self) -> None:
        with self._lock:
            if self._checked and self.answers():
                return
            if not self.answers():
                killed = self._checked   # it answered before: someone killed it, and it forgot network phones
                self._start()
                if killed:
                    self._reconnect_all()
            self._checked = True

    def _start(self) -> None:
        if not self.spec.local:
            raise DeviceError(f"the adb server at {self.address} does not answer",
                              "start `adb start-server` on that machine (and forward its port), or drop --adb-server",
                              stage="adb server")
        binary = self.spec.binary
        assert binary is not None
        if not binary.is_file() or not os.access(binary, os.X_OK):
            raise DeviceError(f"adb binary {binary} is missing or not executable",
                              f"pass --adb PATH or set {ENV_ADB} to a working adb", stage="adb server")
        try:
            done = subprocess.run([str(binary), "-P", str(self.spec.port), "start-server"], capture_output=True,
                                  text=True, timeout=START_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DeviceError(f"could not start the adb server on port {self.spec.port}: {exc}",
                              "run `adb kill-server` and try again", stage="adb server") from None
        if done.returncode != 0 or not self.answers():
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise DeviceError(f"adb server on port {self.spec.port} did not start"
                              + (f": {detail[-1]}" if detail else ""),
                              f"check `{binary} -P {self.spec.port} start-server` by hand", stage="adb server")

    def call(self, fn: Callable[[adbutils.AdbClient], T], *, stage: str, device: str | None = None,
             serial: str | None = None) -> T:
        """fn(client); a connection refused by a local server restarts it once (and reconnects network phones),
        then retries. `serial`: the phone fn talks to, remembered if it is a network phone."""
        if serial and is_network_serial(serial) and serial not in self._network_serials:
            with self._lock:
                self._network_serials.add(serial)
        self.ensure_running()
        self._raise_if_lost(serial, device, stage)
        try:
            return fn(self.client)
        except AdbConnectionError:
            if not self.spec.local:
                raise DeviceError(f"lost the adb server at {self.address}", "check that it still runs there",
                                  device=device, stage=stage) from None
        self.ensure_running()   # the server was killed: one restart, then the error is the caller's
        self._raise_if_lost(serial, device, stage)
        try:
            return fn(self.client)
        except AdbConnectionError as exc:
            raise DeviceError(f"the adb server at {self.address} fails after a restart: {exc}",
                              "run `adb kill-server`, then retry", device=device, stage=stage) from None

    def _raise_if_lost(self, serial: str | None, device: str | None, stage: str) -> None:
        lost = self._lost.get(serial) if serial else None
        if lost is not None:
            raise DeviceError(lost.problem, lost.fix, device=device or serial, stage=stage)

    def _reconnect_all(self) -> None:
        """After a restart (under the lock): `adb connect` every network phone we had, each waited for."""
        self._lost.clear()
        for serial in sorted(self._network_serials):
            try:
                self._reconnect(serial)
            except DeviceError as exc:
                self._lost[serial] = exc

    def _reconnect(self, serial: str) -> None:
        """`adb connect serial`, then wait until the server lists it as ready (it is `offline` for a moment)."""
        fix = f"run `adb connect {serial}`, then rerun"
        try:
            reply = str(self.client.connect(serial, timeout=RECONNECT_TIMEOUT_S)).strip()
            if reply.startswith(("failed", "cannot", "unable")):   # adb answers OKAY with the failure as text
                raise DeviceError(f"the restarted adb server at {self.address} could not reconnect it: {reply}", fix)
            deadline = time.monotonic() + RECONNECT_TIMEOUT_S
            while time.monotonic() < deadline:
                if any(d.serial == serial and d.state == "device" for d in self.client.list()):
                    return
                time.sleep(0.1)
        except (adbutils.AdbError, OSError) as exc:
            raise DeviceError(f"the restarted adb server at {self.address} could not reconnect it: {exc}",
                              fix) from None
        raise DeviceError(f"the restarted adb server at {self.address} did not get it back within "
                          f"{RECONNECT_TIMEOUT_S:.0f} s", fix)


_shared: dict[ServerSpec, AdbServer] = {}
_shared_lock = threading.Lock()


def shared_server(spec: ServerSpec) -> AdbServer:
    """One AdbServer per address in a process: the threads of a farm then share what a restart must restore
    (which network phones to reconnect), instead of each bringing back only its own."""
    with _shared_lock:
        if spec not in _shared:
            _shared[spec] = AdbServer(spec)
        return _shared[spec]


def server_specs(remote: list[str] | tuple[str, ...] = (), adb_binary: str | os.PathLike[str] | None = None,
                 env: dict[str, str] | None = None) -> list[ServerSpec]:
    """The local server, then every remote one (duplicates of the local address dropped)."""
    environ = os.environ if env is None else env
    binary = Path(adb_binary or environ.get(ENV_ADB) or bundled_adb()).expanduser()
    specs = [ServerSpec("127.0.0.1", local_port(environ), binary)]
    for text in remote:
        host, port = parse_server_address(text)
        spec = ServerSpec(host, port, None)
        if (host in LOCAL_HOSTS and port == specs[0].port) or any(s.address == spec.address for s in specs):
            continue
        specs.append(spec)
    return specs
