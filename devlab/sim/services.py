"""adb services of the simulated phone: shell (v1, v2), exec, sync (v1 requests, and STA2 / LST2 / LIS2 of the
`stat_v2` / `ls_v2` features: AOSP packages/modules/adb file_sync_protocol.h and daemon/file_sync_service.cpp
`do_stat_v2`, `do_list<v2>`)."""

from __future__ import annotations

import os
import shlex
import struct
import threading
from typing import Callable

from devlab.sim import adb_protocol as P
from devlab.sim.commands.display_input import screen_rgba
from devlab.sim.reverse import run_reverse
from devlab.sim.streams import Stream, StreamReader
from devlab.sim.shell import Shell
from devlab.sim.state import DeviceState, data_free_bytes

Handler = Callable[[Stream, DeviceState], None]
_U32 = struct.Struct("<I")
_SYNC_CHUNK = 64 * 1024


def find_service(service: str, legacy_shell: bool = False) -> Handler | None:
    """The handler of an adb service; `legacy_shell`: adbd as before Android 7 (only `shell:`, on a pty)."""
    if service.startswith("shell") and ":" in service:
        options, _, command = service.partition(":")
        if options.split(",")[0] != "shell" or (legacy_shell and options != "shell"):
            return None
        v2 = "v2" in options.split(",")[1:]
        return lambda stream, device: run_shell(stream, device, command, v2, pty=legacy_shell)
    if service.startswith("exec:"):
        return lambda stream, device: run_shell(stream, device, service[5:], False, raw_stdin=True)
    if service == "sync:":
        return run_sync
    if service.startswith(("abb:", "abb_exec:")) and not legacy_shell:
        # daemon/abb_service.cpp: the arguments are NUL-separated; abb answers in shell-protocol packets, abb_exec
        # raw (adb install streams the APK to `abb_exec:package\0install\0-S\0SIZE`)
        kind, _, packed = service.partition(":")
        line = " ".join(shlex.quote(arg) for arg in ["cmd", *packed.split("\0")])
        return lambda stream, device: run_shell(stream, device, line, kind == "abb", raw_stdin=kind == "abb_exec")
    if service == "framebuffer:":
        return run_framebuffer
    if service.startswith("reverse:"):
        return lambda stream, device: run_reverse(stream, device, service[len("reverse:"):])
    return None


# ------------------------------------------------------------------------------------------------------------ shell
class _Out:
    def __init__(self, stream: Stream, packet_id: int | None, pty: bool = False) -> None:
        self.stream, self.packet_id, self.pty = stream, packet_id, pty

    def closed(self) -> bool:
        """The host went away: the program's next write fails (EPIPE / SIGPIPE on a phone)."""
        return self.stream.closed.is_set()

    def write(self, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        if not raw:
            return
        if self.pty:   # a pty's line discipline (onlcr) sends every \n as \r\n
            raw = raw.replace(b"\n", b"\r\n")
        if self.packet_id is None:
            self.stream.write(raw)
            return
        for start in range(0, len(raw), self.stream.conn.max_payload - 5):
            self.stream.write(P.shell_packet(self.packet_id, raw[start:start + self.stream.conn.max_payload - 5]))


class _V2Stdin:
    """Host stdin for shell v2, read lazily: only commands that read stdin wait for close-stdin."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()
        self.data = bytearray()
        self.eof = False

    def read_all(self) -> bytes:
        while not self.eof:
            chunk = self.stream.read()
            if not chunk:
                break
            self.buffer += chunk
            for packet_id, payload in P.parse_shell_packets(self.buffer):
                if packet_id == P.SHELL_STDIN:
                    self.data += payload
                elif packet_id == P.SHELL_CLOSE_STDIN:
                    self.eof = True
        self.eof = True
        return bytes(self.data)


class _RawStdin:
    """exec:'s stdin: the stream's bytes as the host writes them (adb install's streamed APK: `cmd package install
    -S SIZE` reads exactly SIZE bytes and answers while the host still holds the stream open)."""

    def __init__(self, stream: Stream) -> None:
        self.reader = StreamReader(stream)

    def read_exact(self, size: int) -> bytes:
        return self.reader.read_exact(size)

    def __call__(self) -> bytes:
        data = bytearray(self.reader.buffer)
        self.reader.buffer.clear()
        while chunk := self.reader.stream.read():
            data += chunk
        return bytes(data)


def run_framebuffer(stream: Stream, device: DeviceState) -> None:
    """adbd's framebuffer: service (daemon/framebuffer_service.cpp): screencap's raw RGBA_8888 output behind the
    fbinfo header of DDMS_RAWIMAGE_VERSION 2: version, bpp, colorSpace, size, width, height, then offset/length of
    red, blue, green, alpha."""
    width, height, rgba = screen_rgba(device)
    # colorSpace 1 = COLORSPACE_SRGB (screencap.cpp dataSpaceToInt of the display's V0_SRGB dataspace)
    stream.write(struct.pack("<14I", 2, 32, 1, width * height * 4, width, height, 0, 8, 16, 8, 8, 8, 24, 8))
    stream.write(rgba)


def run_shell(stream: Stream, device: DeviceState, command: str, v2: bool, pty: bool = False,
              raw_stdin: bool = False) -> None:
    """adbd's shell service: a `sh` process (pid = its $$) runs the command. When the stream closes before it ends,
    adbd sends SIGHUP to that one pid (shell v2: daemon/shell_service.cpp PassDataStreams, `kill(pid_, SIGHUP)`):
    a program the sh `exec`ed holds that pid and gets it, a child the sh started does not and runs on. Shell v1 runs
    on a pty, whose hangup reaches the whole session (StartSubprocess: "PTYs automatically send SIGHUP")."""
    stdout = _Out(stream, P.SHELL_STDOUT if v2 else None, pty)
    stderr = _Out(stream, P.SHELL_STDERR if v2 else None, pty)
    shell = Shell(device)
    pid = int(shell.env["$"])
    sh = shell.process = device.start_process("sh", pid=pid, stop=shell.cancelled, session=pid)

    def hang_up() -> None:
        stream.closed.wait()
        if v2:
            sh.hangup()
        else:
            device.hangup_session(sh.pid)

    threading.Thread(target=hang_up, name=f"sim-hup-{sh.pid}", daemon=True).start()
    status = 1
    try:
        if v2:
            stdin = _V2Stdin(stream)
            status = shell.run(command, stdout, stderr, stdin.read_all) if command.strip() else _interactive(
                shell, stream, stdout, stderr)
            stream.write(P.shell_packet(P.SHELL_EXIT, bytes([status & 0xFF])))
        elif command.strip():
            status = shell.run(command, stdout, stderr, _RawStdin(stream)) if raw_stdin else \
                shell.run(command, stdout, stderr)
        else:
            status = _interactive(shell, stream, stdout, stderr)
    finally:
        device.end_process(sh, status)


def _interactive(shell: Shell, stream: Stream, stdout: _Out, stderr: _Out) -> int:
    """`adb shell` with no command: run each line the host types (v1 raw bytes or v2 stdin packets)."""
    status, pending, packets = 0, bytearray(), bytearray()
    v2 = stdout.packet_id is not None
    while True:
        chunk = stream.read()
        if not chunk:
            return status
        if v2:
            packets += chunk
            for packet_id, payload in P.parse_shell_packets(packets):
                if packet_id == P.SHELL_STDIN:
                    pending += payload
                elif packet_id == P.SHELL_CLOSE_STDIN:
                    return status
        else:
            pending += chunk
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending = bytearray(rest)
            status = shell.run(line.decode(errors="replace"), stdout, stderr)
            shell.env["?"] = str(status)


# ------------------------------------------------------------------------------------------------------------- sync
def _fail(stream: Stream, message: str) -> None:
    data = message.encode()
    stream.write(b"FAIL" + _U32.pack(len(data)) + data)


def run_sync(stream: Stream, device: DeviceState) -> None:
    reader = StreamReader(stream)
    while True:
        header = reader.read_exact(8)
        request, length = header[:4], _U32.unpack(header[4:])[0]
        if request == b"QUIT":
            return
        path = reader.read_exact(length).decode(errors="replace")
        if request == b"STAT":
            stream.write(b"STAT" + struct.pack("<3I", *device.fs.stat_triplet(path)))
        elif request in (b"STA2", b"LST2"):
            stream.write(_stat_v2(request, device, path))
        elif request == b"LIST":
            _list(stream, device, path)
        elif request == b"LIS2":
            _list_v2(stream, device, path)
        elif request == b"SEND":
            _send(stream, reader, device, path)
        elif request == b"RECV":
            _recv(stream, device, path)
        else:
            _fail(stream, f"unknown sync request {request!r}")
            return


def _list(stream: Stream, device: DeviceState, path: str) -> None:
    out = bytearray()
    host = device.fs.resolve(path)
    names = [".", ".."] + sorted(os.listdir(host)) if host.is_dir() else []
    for name in names:
        mode, size, mtime = device.fs.stat_triplet(path.rstrip("/") + "/" + name) if name not in (".", "..") \
            else device.fs.stat_triplet(path)
        encoded = name.encode(errors="surrogateescape")
        out += b"DENT" + struct.pack("<4I", mode, size, mtime, len(encoded)) + encoded
    out += b"DONE" + bytes(16)
    stream.write(bytes(out))


# sync_stat_v2 / sync_dent_v2 after the id: error, dev, ino, mode, nlink, uid, gid, size (64-bit), atime, mtime,
# ctime (dent_v2 then has namelen and the name)
_STAT_V2 = struct.Struct("<IQQIIIIQqqq")


def _stat_fields(st: os.stat_result | None, error: int = 0) -> bytes:
    if st is None:
        return _STAT_V2.pack(error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    # files are the shell user's (uid/gid 2000), as what the shell user pushes is on a phone
    return _STAT_V2.pack(0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, 2000, 2000, st.st_size,
                         int(st.st_atime), int(st.st_mtime), int(st.st_ctime))


def _host_stat(device: DeviceState, path: str, follow: bool) -> tuple[os.stat_result | None, int]:
    try:
        host = device.fs.resolve(path, follow_last=follow)
        return (os.stat(host) if follow else os.lstat(host)), 0
    except OSError as exc:
        return None, exc.errno or 2


def _stat_v2(request: bytes, device: DeviceState, path: str) -> bytes:
    """STA2 is stat(), LST2 lstat(); a failure answers the errno with every other field zero."""
    st, error = _host_stat(device, path, follow=request == b"STA2")
    return request + _stat_fields(st, error)


def _list_v2(stream: Stream, device: DeviceState, path: str) -> None:
    out = bytearray()
    host = device.fs.resolve(path)
    names = [".", ".."] + sorted(os.listdir(host)) if host.is_dir() else []
    for name in names:
        st, error = _host_stat(device, path.rstrip("/") + "/" + name if name not in (".", "..") else path, False)
        encoded = name.encode(errors="surrogateescape")
        out += b"DNT2" + _stat_fields(st, error) + _U32.pack(len(encoded)) + encoded
    out += b"DONE" + bytes(_STAT_V2.size + 4)
    stream.write(bytes(out))


def _send(stream: Stream, reader: StreamReader, device: DeviceState, spec: str) -> None:
    path, _, mode_text = spec.rpartition(",")
    if not path:
        path, mode_text = spec, "33188"
    mode = int(mode_text) if mode_text.isdigit() else 0o100644
    error: str | None = None
    handle = None
    room: int | None = None   # bytes /data can still take (a file being replaced gives its own back)
    try:
        host = device.fs.resolve(path)
        if device.fs.device_path(path).startswith("/data/"):
            room = data_free_bytes(device) + (host.stat().st_size if host.is_file() else 0)
        host.parent.mkdir(parents=True, exist_ok=True)  # fixed_push_mkdir
        if host.is_dir():
            raise IsADirectoryError(21, "Is a directory")
        handle = open(host, "wb")
    except OSError as exc:
        error = f"couldn't create file: {exc.strerror or exc}"
    mtime = 0
    written = 0
    try:
        while True:
            header = reader.read_exact(8)
            request, value = header[:4], _U32.unpack(header[4:])[0]
            if request == b"DATA":
                data = reader.read_exact(value)
                written += len(data)
                if room is not None and written > room and error is None:
                    # adbd's handle_send_file_data: a failed write is "write failed: <strerror>", and the
                    # partial file is removed
                    error = "write failed: No space left on device"
                    handle.close()
                    handle = None
                    device.fs.resolve(path).unlink(missing_ok=True)
                if handle is not None:
                    handle.write(data)
            elif request == b"DONE":
                mtime = value
                break
            else:
                error = error or f"invalid data message {request!r}"
                break
    finally:
        if handle is not None:
            handle.close()
    if error is None:
        host = device.fs.resolve(path)
        os.chmod(host, mode & 0o777 or 0o644)
        if mtime:
            os.utime(host, (mtime, mtime))
        stream.write(b"OKAY" + bytes(4))
    else:
        _fail(stream, error)


def _recv(stream: Stream, device: DeviceState, path: str) -> None:
    host = device.fs.resolve(path)
    try:
        handle = open(host, "rb")
    except OSError as exc:
        _fail(stream, f"open failed: {exc.strerror or exc}")
        return
    per_write = 16  # DATA messages per stream.write (1 MiB); the stream splits it into WRTEs of max_payload
    with handle:
        while True:
            out = bytearray()
            for _ in range(per_write):
                data = handle.read(_SYNC_CHUNK)
                if not data:
                    break
                out += b"DATA" + _U32.pack(len(data)) + data
            if not out:
                break
            stream.write(bytes(out))
            if len(out) < per_write * (_SYNC_CHUNK + 8):
                break
    stream.write(b"DONE" + bytes(4))
