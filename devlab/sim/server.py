"""The simulated phone's adb endpoint: a threaded TCP server playing the device side of the adb protocol.

One reader thread per connection parses messages; every stream's service runs in its own thread, so several
streams and connections proceed at once (a long benchmark_model does not block a push). Host WRTEs are
acknowledged as soon as they are queued (the host keeps at most one in flight per stream); our WRTEs wait for the
host's OKAY before the next one, as the protocol requires.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from devlab.errors import UsageError
from devlab.sim import adb_protocol as P
from devlab.sim import faults
from devlab.sim.fs import FsSandbox
from devlab.sim.profiles import Profile
from devlab.sim.reverse import table_of
from devlab.sim.services import find_service
from devlab.sim.state import DeviceState, default_time_scale
from devlab.sim.streams import Stream, StreamClosed

RESERVED_PORTS = range(5555, 5586)  # the adb server probes these as emulators (spec)


class Connection:
    def __init__(self, server: "SimServer", sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.max_payload = P.DEVICE_MAX_DATA
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        self._next_id = 1
        self.alive = True

    def send(self, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(data)

    def send_parts(self, header: bytes, payload: memoryview) -> None:
        with self._send_lock:  # two sendalls under one lock: no copy of the payload to glue the header on
            self.sock.sendall(header)
            self.sock.sendall(payload)

    def count_payload(self, size: int) -> None:
        if self.server.spend_drop_budget(size):
            self.drop()

    def forget(self, local_id: int) -> None:
        with self._lock:
            self._streams.pop(local_id, None)

    def drop(self) -> None:
        """Abrupt close (fault injection, offline, server stop): every stream sees its end."""
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.peer_closed()

    def serve(self) -> None:
        reader = self.sock.makefile("rb", buffering=1 << 20)
        try:
            while self.alive:
                raw = reader.read(P.HEADER_SIZE)
                if len(raw) < P.HEADER_SIZE:
                    break
                header = P.unpack_header(raw)
                if not header.valid:
                    break
                data = reader.read(header.data_length) if header.data_length else b""
                if len(data) < header.data_length:
                    break
                self._handle(header, data)
        except (OSError, ValueError):
            pass
        finally:
            if self.alive:
                self.drop()
            self.server.connection_ended(self)

    def _handle(self, header: P.Header, data: bytes) -> None:
        if header.command == P.A_CNXN:
            self.max_payload = max(4096, min(P.DEVICE_MAX_DATA, header.arg1 or P.DEVICE_MAX_DATA))
            self.send(P.pack_message(P.A_CNXN, P.A_VERSION, P.DEVICE_MAX_DATA, self.server.banner()))
        elif header.command == P.A_OPEN:
            self._open(header.arg0, data.rstrip(b"\0").decode(errors="replace"))
        elif header.command == P.A_OKAY:
            stream = self._stream(header.arg1)
            if stream is not None:
                if not stream.remote_id:   # the host accepted a stream the phone opened (open_to_host)
                    stream.remote_id = header.arg0
                    stream.opened.set()
                stream.acked.set()
        elif header.command == P.A_WRTE:
            stream = self._stream(header.arg1)
            if stream is None:
                return  # ignore packets for unknown ids (spec)
            self.count_payload(len(data))
            if not self.alive:
                return
            stream.inbox.put(data)
            self.send(P.pack_message(P.A_OKAY, stream.local_id, stream.remote_id))
        elif header.command == P.A_CLSE:
            stream = self._stream(header.arg1)
            if stream is not None:
                self.forget(stream.local_id)
                stream.peer_closed()  # never answer a CLSE (spec)

    def _stream(self, local_id: int) -> Stream | None:
        with self._lock:
            return self._streams.get(local_id)

    def open_to_host(self, service: str, timeout: float = 10.0) -> Stream | None:
        """OPEN a stream to the host (an `adb reverse` connection: adbd opens the listener's `connect_to`, e.g.
        `tcp:8080`, on the host side); None when the host refuses it (CLSE) or does not answer."""
        with self._lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, 0)
            self._streams[local_id] = stream
        self.send(P.pack_message(P.A_OPEN, local_id, 0, service.encode() + b"\0"))
        deadline = time.monotonic() + timeout
        while not stream.opened.wait(0.05):
            if stream.closed.is_set() or time.monotonic() > deadline:
                self.forget(local_id)
                return None
        return stream

    def _open(self, remote_id: int, service: str) -> None:
        handler = find_service(service, legacy_shell=self.server.legacy_shell)
        if handler is None:
            self.send(P.pack_message(P.A_CLSE, 0, remote_id))  # refuse: CLSE without OKAY (spec)
            return
        with self._lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, remote_id)
            self._streams[local_id] = stream
        self.send(P.pack_message(P.A_OKAY, local_id, remote_id))

        def run() -> None:
            try:
                handler(stream, self.server.device)
            except (StreamClosed, OSError):
                pass
            finally:
                stream.close()

        threading.Thread(target=run, name=f"sim-stream-{local_id}", daemon=True).start()


class SimServer:
    def __init__(self, profile: Profile, port: int, host: str = "127.0.0.1", root: Path | str | None = None,
                 time_scale: float | None = None, fault_props: dict[str, str] | None = None,
                 control_file: Path | None = None) -> None:
        if port in RESERVED_PORTS:
            raise UsageError(f"port {port} is in 5555-5585, which the adb server probes as emulators",
                             "pick another port, e.g. 15555")
        self.profile = profile
        self.host = host
        self.port = port
        self.device = DeviceState(profile, FsSandbox(root),
                                  default_time_scale() if time_scale is None else time_scale)
        self.control_file = control_file
        self._control_mtime: float | None = None
        self._connections: set[Connection] = set()
        self._lock = threading.Lock()
        self._drop_budget: int | None = None
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self.device.on_prop_change.append(self._prop_changed)
        from devlab.sim.setup import populate
        populate(self.device)
        for key, value in (fault_props or {}).items():
            self.device.setprop(key, value)

    @property
    def legacy_shell(self) -> bool:
        return faults.is_set(self.device.getprop(faults.NO_SHELL_V2))

    def banner(self) -> bytes:
        props = self.profile
        features = () if self.legacy_shell else P.DEVICE_FEATURES
        return P.banner(props.prop("ro.product.name"), props.prop("ro.product.model"), props.prop("ro.product.device"),
                        features)

    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    # --- lifecycle ------------------------------------------------------------------------------------------------
    def start(self) -> "SimServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
        except OSError as exc:
            listener.close()
            raise UsageError(f"cannot listen on {self.host}:{self.port}: {exc.strerror}",
                             "pick a free port (devlab sim list shows running phones)") from exc
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept_loop, name="sim-accept", daemon=True).start()
        if self.control_file is not None:
            self.start_control_polling()
        return self

    def start_control_polling(self) -> None:
        """Watch `control_file` for fault assignments (devlab/sim/faults.py)."""
        threading.Thread(target=self._poll_control_file, name="sim-control", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            # close() alone does not wake a thread blocked in accept(), which would take one more connection
            # (adb's reconnect) and bring a stopped phone back; shutdown() does.
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
        self.close_all()
        self.device.stop_all_jobs(timeout=2.0)

    def wait(self) -> None:
        self._stopping.wait()

    def close_all(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.drop()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            if self._stopping.is_set():
                sock.close()
                return
            if self.device.getprop(faults.OFFLINE) not in ("", "0"):
                sock.close()
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, sock)
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=conn.serve, name="sim-conn", daemon=True).start()

    def connection_ended(self, conn: Connection) -> None:
        with self._lock:
            self._connections.discard(conn)
        table_of(self.device).remove_all(conn)   # its `adb reverse` listeners go with it (listener_disconnect)

    # --- faults ---------------------------------------------------------------------------------------------------
    def _prop_changed(self, key: str, value: str) -> None:
        if key == faults.DROP_AFTER_BYTES:
            with self._lock:
                self._drop_budget = int(value) if value.strip().isdigit() else None
        elif key == faults.OFFLINE and value not in ("", "0"):
            # close from another thread: the setprop may itself be running on one of these connections
            threading.Thread(target=self.close_all, daemon=True).start()

    def spend_drop_budget(self, size: int) -> bool:
        """True when this payload crosses the drop_after_bytes budget (the fault then clears itself)."""
        with self._lock:
            if self._drop_budget is None:
                return False
            self._drop_budget -= size
            fire = self._drop_budget < 0
            if fire:
                self._drop_budget = None
        if fire:
            self.device.setprop(faults.DROP_AFTER_BYTES, "")
        return fire

    def _poll_control_file(self) -> None:
        assert self.control_file is not None
        while not self._stopping.wait(0.2):
            try:
                mtime = self.control_file.stat().st_mtime
                if mtime == self._control_mtime:
                    continue
                self._control_mtime = mtime
                props = faults.read_control_file(self.control_file.read_text())
            except (OSError, ValueError):
                continue
            for key in faults.KNOWN:
                prop = faults.PREFIX + key
                if props.get(prop, "") != self.device.getprop(prop):
                    self.device.setprop(prop, props.get(prop, ""))


def wait_for_port(host: str, port: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False
