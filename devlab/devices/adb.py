"""A phone over adb (a real one, one behind a remote adb server, or the simulated phone): the Device protocol.

- shell(argv): every argument is quoted here (shlex.quote) and the command runs over shell v2, so the exit code is
  the command's own. A pre-joined string is refused: callers never build shell text. Phones whose adbd lacks the
  `shell_v2` feature (Android < 7) get shell v1: the exit code comes from an `echo` of `$?` with a per-call marker
  appended to the command, the pty's CRLF line ends are undone, and stderr arrives inside stdout.
- Over shell v2 the command line is `echo $$; exec <argv>`: the command keeps the pid the shell printed, and one
  still running at its timeout (a hung benchmark_model) is killed by that pid, because adbd's SIGHUP on the closed
  stream reaches that one process only and does not end one that ignores it.
- push(local, remote): content-hash cached. When the device already holds a file of the same size, its
  `sha256sum` is compared with ours; equal means nothing is sent (bytes_sent = 0).
- Every call has a timeout; a device that drops mid-transfer is a DeviceError naming the device and the stage.
"""

from __future__ import annotations

import os
import posixpath
import re
import secrets
import shlex
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import adbutils
from adbutils._adb import AdbConnection

from devlab.devices.adb_info import device_info, parse_getprop
from devlab.devices.adb_server import AdbServer
from devlab.devices.adb_sync import (RemoteRefused, RemoteStat, TransportLost, shell_v1, shell_v2, sync_recv,
                                     sync_send, sync_stat)
from devlab.devices.base import DeviceInfo, PushResult, ShellResult
from devlab.errors import DeviceError, UsageError
from devlab.fsutil import sha256_file

DEVICE_ROOT = "/data/local/tmp/devlab"
SHELL_TIMEOUT_S = 60.0      # default for one shell command
STALL_TIMEOUT_S = 30.0      # a transfer that moves no byte for this long is dead
KILL_TIMEOUT_S = 15.0       # for killing what a timed-out command left running
_FIX_LOST = ("check the cable and `adb devices`, then rerun: files that arrived whole are not sent again")

# (path, size, mtime_ns) -> sha256: a file pushed to several phones, or twice, is hashed once per process
_local_digests: dict[tuple[str, int, int], str] = {}


def local_sha256(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _local_digests:
        _local_digests[key] = sha256_file(path)
    return _local_digests[key]


def check_remote_path(remote: str) -> str:
    if not remote.startswith("/") or "\x00" in remote or "\n" in remote:
        raise UsageError(f"device path {remote!r} is not an absolute path on one line",
                         f"use a path under {DEVICE_ROOT}")
    return posixpath.normpath(remote)


def _split_pid(raw: bytes) -> tuple[int | None, bytes]:
    """(pid, the rest) from output that starts with the `echo $$` line devlab put before the command."""
    first, newline, rest = raw.partition(b"\n")
    if newline and first.strip().isdigit():
        return int(first.strip()), rest
    return None, raw


def _split_v1(raw: bytes, marker: str) -> tuple[int, bytes, bytes]:
    """(exit code, output, b"") from a v1 stream ending in `<marker><code>`; an absent marker means the command
    was cut off (exit code 255, as adb itself reports a lost shell)."""
    text = raw.replace(b"\r\n", b"\n")   # pre-7 adbd runs commands on a pty, which turns \n into \r\n
    found = re.search(re.escape(marker.encode()) + rb"(\d+)\n?$", text)
    if found is None:
        return 255, text, b""
    return int(found.group(1)), text[:found.start()], b""


def _same_size(remote: RemoteStat, size: int) -> bool:
    """STAT v1 carries the size modulo 2^32 (a phone without `stat_v2`, Android < 8): only that much can be
    compared there; STA2's size is the whole 64-bit one."""
    return remote.size == (size if remote.size_bits == 64 else size & 0xFFFFFFFF)


class AdbDevice:
    """Implements the Device protocol through an adb server (adbutils for the transport)."""

    def __init__(self, server: AdbServer, serial: str, info: DeviceInfo | None = None) -> None:
        self.server = server
        self.serial = serial
        self._dirs_made: set[str] = set()
        self._features: frozenset[str] | None = None    # adbd's features (shell_v2, stat_v2, ...), asked once
        self.info: DeviceInfo = info or DeviceInfo(serial=serial, kind="adb", model="")

    @property
    def label(self) -> str:
        """How errors name the device: the alias the user typed and the serial that identifies it."""
        return f"{self.info.alias} ({self.serial})" if self.info.alias else self.serial

    # ---- identity ------------------------------------------------------------------------------------------------
    def getprops(self) -> dict[str, str]:
        return parse_getprop(self._checked(["getprop"], "getprop").stdout)

    def read_info(self, alias: str | None = None) -> DeviceInfo:
        """Identity, battery and thermal state, read now; also stored in `self.info`."""
        props = self.getprops()
        dumps = {name: self.shell(["dumpsys", name], timeout=30).stdout
                 for name in ("battery", "thermalservice", "SurfaceFlinger")}
        self.info = device_info(self.serial, props, battery=dumps["battery"], thermal=dumps["thermalservice"],
                                surfaceflinger=dumps["SurfaceFlinger"], alias=alias, server=self.server.address)
        return self.info

    # ---- transport -----------------------------------------------------------------------------------------------
    def _open(self, stage: str, timeout: float) -> AdbConnection:
        return self._call(lambda client: client.device(self.serial).open_transport(timeout=timeout), stage, timeout)

    def _call(self, fn, stage: str, timeout: float | None = None):
        """fn(client) through the server, its adb errors as one-line DeviceErrors naming this phone and the stage
        (`timeout`: the limit fn was given, said when it ran out)."""
        try:
            return self.server.call(fn, stage=stage, device=self.label, serial=self.serial)
        except adbutils.AdbTimeout as exc:
            if timeout is None:
                raise self._unreachable(exc, stage) from None
            raise DeviceError(f"adb server at {self.server.address} did not answer within {timeout:.0f} s",
                              "check `adb devices`", device=self.label, stage=stage) from None
        except adbutils.AdbError as exc:
            raise self._unreachable(exc, stage) from None

    def _unreachable(self, exc: Exception, stage: str) -> DeviceError:
        return DeviceError(f"not reachable through the adb server at {self.server.address} ({exc})",
                           "run `devlab devices` to see what is attached", device=self.label, stage=stage)

    def _sync(self, stage: str) -> AdbConnection:
        conn = self._open(stage, STALL_TIMEOUT_S)
        try:
            conn.send_command("sync:")
            conn.check_okay()
        except (adbutils.AdbError, OSError) as exc:
            conn.close()
            raise DeviceError(f"sync service refused: {exc}", _FIX_LOST, device=self.label, stage=stage) from None
        return conn

    # ---- shell ---------------------------------------------------------------------------------------------------
    def shell(self, argv: list[str], timeout: float | None = None) -> ShellResult:
        if isinstance(argv, (str, bytes)) or not argv:
            raise TypeError("AdbDevice.shell takes a non-empty argv list; it quotes every argument itself")
        command = " ".join(shlex.quote(str(arg)) for arg in argv)
        limit = SHELL_TIMEOUT_S if timeout is None else timeout
        stage = f"shell {posixpath.basename(str(argv[0]))}"
        v2 = self.speaks_shell_v2(stage)
        conn = self._open(stage, min(limit, STALL_TIMEOUT_S))
        lost: TransportLost | None = None
        try:
            if v2:
                # The command takes over the shell's pid (`exec`), printed first: when the stream closes adbd sends
                # SIGHUP to that one pid only (shell_service.cpp), which a hung or SIGHUP-deaf process survives, so
                # on a timeout devlab kills it by that pid.
                conn.send_command(f"shell,v2,raw:echo $$; exec {command}")
                conn.check_okay()
                code, out, err = shell_v2(conn.conn, time.monotonic() + limit)
                out = _split_pid(out)[1]
            else:
                # shell v1 (Android < 7) runs on a pty, whose hangup signals the whole foreground process group
                marker = f"__devlab_exit_{secrets.token_hex(4)}__"
                conn.send_command(f"shell:{command}; echo {marker}$?")
                conn.check_okay()
                code, out, err = _split_v1(shell_v1(conn.conn, time.monotonic() + limit), marker)
        except TransportLost as exc:
            lost = exc
        except (adbutils.AdbError, OSError) as exc:
            raise DeviceError(f"shell refused: {exc}", "check `adb devices`", device=self.label, stage=stage) from None
        finally:
            conn.close()
        if lost is not None:
            timed_out = "timeout" in str(lost)
            pid = _split_pid(lost.partial)[0] if v2 and timed_out else None
            left = self._kill_left_behind(pid) if pid is not None else ""
            raise DeviceError(f"`{argv[0]}` stopped: {lost} (limit {limit:g} s){left}",
                              "raise the timeout, or check the device is not hung" if timed_out else _FIX_LOST,
                              device=self.label, stage=stage)
        return ShellResult(tuple(str(a) for a in argv), code, out.decode("utf-8", "replace"),
                           err.decode("utf-8", "replace"))

    def _kill_left_behind(self, pid: int) -> str:
        """SIGKILL what a timed-out command left running on the phone (it runs as the shell user, like us); the
        outcome as a clause of the timeout's error."""
        try:
            killed = self.shell(["kill", "-9", str(pid)], timeout=KILL_TIMEOUT_S)
        except DeviceError as exc:
            return f"; could not kill it on the device (pid {pid}): {exc.problem}"
        if killed.ok:
            return f"; killed it on the device (pid {pid})"
        if "no such process" in (killed.stderr + killed.stdout).lower():
            return f"; it had ended on the device (pid {pid})"
        detail = (killed.stderr or killed.stdout).strip().splitlines()
        return f"; could not kill it on the device (pid {pid})" + (f": {detail[-1]}" if detail else "")

    def features(self, stage: str = "features") -> frozenset[str]:
        """The features this phone's adbd advertises (asked once per AdbDevice)."""
        if self._features is None:
            listed = self._call(lambda client: client.device(self.serial).get_features(), stage)
            self._features = frozenset(name.strip() for name in str(listed).split(",") if name.strip())
        return self._features

    def speaks_shell_v2(self, stage: str = "features") -> bool:
        """Whether this phone's adbd has the `shell_v2` feature (Android 7+)."""
        return "shell_v2" in self.features(stage)

    def _checked(self, argv: list[str], stage: str, timeout: float | None = None) -> ShellResult:
        result = self.shell(argv, timeout)
        if not result.ok:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise DeviceError(f"`{shlex.join(argv)}` exited {result.exit_code}" + (f": {detail[-1]}" if detail else ""),
                              "check the device's storage and permissions", device=self.label, stage=stage)
        return result

    def remote_sha256(self, remote: str) -> str | None:
        result = self.shell(["sha256sum", remote], timeout=120)
        token = result.stdout.split(maxsplit=1)[0] if result.ok and result.stdout.strip() else ""
        return token.lower() if len(token) == 64 else None

    def mkdir(self, remote_dir: str) -> None:
        if remote_dir not in self._dirs_made:
            self._checked(["mkdir", "-p", remote_dir], "mkdir")
            self._dirs_made.add(remote_dir)

    # ---- files ---------------------------------------------------------------------------------------------------
    def stat(self, remote: str) -> RemoteStat:
        """The device's stat of `remote` over sync: a 64-bit size when the phone has `stat_v2`, else STAT v1's."""
        remote = check_remote_path(remote)
        stage = f"stat {posixpath.basename(remote)}"
        v2 = "stat_v2" in self.features(stage)
        conn = self._sync(stage)
        try:
            return sync_stat(conn.conn, remote, v2)
        except TransportLost as exc:
            raise DeviceError(f"connection lost: {exc}", _FIX_LOST, device=self.label, stage=stage) from None
        finally:
            conn.close()

    def push(self, local: Path, remote: str, mode: int = 0o644) -> PushResult:
        remote = check_remote_path(remote)
        local = Path(local)
        stage = f"push {posixpath.basename(remote)}"
        try:
            size = local.stat().st_size
        except OSError as exc:
            raise UsageError(f"cannot read {local}: {exc.strerror}", "check the path", stage=stage) from None
        v2 = "stat_v2" in self.features(stage)
        conn = self._sync(stage)
        # hash here while the device hashes (or while we send): the digest is needed either way, for the cache
        pool = ThreadPoolExecutor(max_workers=1)
        ours = pool.submit(local_sha256, local)
        try:
            before = sync_stat(conn.conn, remote, v2)
            if before.is_file and _same_size(before, size) and self.remote_sha256(remote) == ours.result():
                return PushResult(str(local), remote, ours.result(), size, 0, True)
            self.mkdir(posixpath.dirname(remote))
            with local.open("rb") as source:
                sent = sync_send(conn.conn, source, remote, mode)
            after = sync_stat(conn.conn, remote, v2)
        except TransportLost as exc:
            raise DeviceError(f"connection lost after handing over {exc.done} of {size} bytes: {exc}", _FIX_LOST,
                              device=self.label, stage=stage) from None
        except RemoteRefused as exc:
            raise DeviceError(f"the device refused {remote}: {exc}", "check the path and free space on the device",
                              device=self.label, stage=stage) from None
        finally:
            conn.close()
            pool.shutdown(wait=True)
        if not _same_size(after, size):
            raise DeviceError(f"{remote} holds {after.size} bytes after sending {size}", _FIX_LOST,
                              device=self.label, stage=stage)
        digest = ours.result()
        return PushResult(str(local), remote, digest, size, sent, False)

    def pull(self, remote: str, local: Path) -> None:
        remote = check_remote_path(remote)
        local = Path(local)
        stage = f"pull {posixpath.basename(remote)}"
        local.parent.mkdir(parents=True, exist_ok=True)
        partial = local.with_name(local.name + ".part")
        conn = self._sync(stage)
        try:
            sync_recv(conn.conn, remote, partial)
        except TransportLost as exc:
            partial.unlink(missing_ok=True)
            raise DeviceError(f"connection lost after {exc.done} bytes: {exc}", _FIX_LOST, device=self.label,
                              stage=stage) from None
        except RemoteRefused as exc:
            partial.unlink(missing_ok=True)
            raise DeviceError(f"cannot read {remote}: {exc}", "check that the file exists on the device",
                              device=self.label, stage=stage) from None
        finally:
            conn.close()
        os.replace(partial, local)
