"""`adb reverse` on the simulated phone: adbd's `reverse:` service and the listeners it installs.

AOSP packages/modules/adb: daemon/services.cpp hands `reverse:<request>` to adb.cpp `handle_forward_request` with the
connection's transport; on the device it answers one OKAY (the host adds its own first), `FAIL<len><message>` for
`bad forward: ...` / `cannot rebind existing socket` / `listener '...' not found`, the resolved port after the OKAY
for `tcp:0`, and `list-forward` as one length-prefixed string of `<serial> <local> <remote>\\n` lines where a
reverse entry has no serial: `(reverse)` (adb_listeners.cpp format_listeners). A listener dies with its transport
(listener_disconnect).

The phone's network is not the host's: a listener is bound in the simulated phone's own port space, so
`tcp:8080` on the phone and the host's server on 8080 do not clash. A program on the phone reaches it through
`nc localhost PORT` (commands/net_cmd.py): adbd then OPENs the listener's `connect_to` (e.g. `tcp:8080`) to the host,
and the adb server connects it on the host, as on a phone.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

from devlab.sim.state import DeviceState
from devlab.sim.streams import Stream

_FIRST_DYNAMIC_PORT = 40000   # what `tcp:0` resolves to first (the kernel's ephemeral range on a phone)


@dataclass
class Listener:
    local: str            # tcp:PORT on the phone
    connect_to: str       # what adbd opens on the host when a phone program connects
    connection: object    # devlab.sim.server.Connection that installed it


class ReverseTable:
    def __init__(self) -> None:
        self.listeners: dict[str, Listener] = {}
        self.lock = threading.Lock()
        self._next_port = _FIRST_DYNAMIC_PORT

    def install(self, local: str, connect_to: str, connection: object, no_rebind: bool) -> tuple[str | None, int]:
        """(error message or None, the port `tcp:0` resolved to or 0)."""
        with self.lock:
            resolved = 0
            if local == "tcp:0":
                while f"tcp:{self._next_port}" in self.listeners:
                    self._next_port += 1
                resolved = self._next_port
                local = f"tcp:{resolved}"
            elif not (local.startswith("tcp:") and local[4:].isdigit()) and not local.startswith(
                    ("localabstract:", "localreserved:", "localfilesystem:")):
                return f"cannot bind listener: unknown local portname '{local}'", 0
            if local in self.listeners and no_rebind:
                return "cannot rebind existing socket", 0
            self.listeners[local] = Listener(local, connect_to, connection)
            return None, resolved

    def remove(self, local: str, connection: object) -> bool:
        with self.lock:
            listener = self.listeners.get(local)
            if listener is None or listener.connection is not connection:
                return False
            del self.listeners[local]
            return True

    def remove_all(self, connection: object) -> None:
        with self.lock:
            for key in [k for k, v in self.listeners.items() if v.connection is connection]:
                del self.listeners[key]

    def lookup(self, local: str) -> Listener | None:
        with self.lock:
            listener = self.listeners.get(local)
        if listener is not None and not getattr(listener.connection, "alive", True):
            self.remove_all(listener.connection)   # the transport is gone: so is its listener
            return None
        return listener

    def format(self, connection: object) -> str:
        with self.lock:
            return "".join(f"(reverse) {l.local} {l.connect_to}\n" for l in self.listeners.values()
                           if l.connection is connection)


_TABLES: "weakref.WeakKeyDictionary[DeviceState, ReverseTable]" = weakref.WeakKeyDictionary()
_TABLES_LOCK = threading.Lock()


def table_of(device: DeviceState) -> ReverseTable:
    with _TABLES_LOCK:
        return _TABLES.setdefault(device, ReverseTable())


def _protocol_string(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):04x}".encode() + data


def run_reverse(stream: Stream, device: DeviceState, request: str) -> None:
    """`reverse:<request>` (handle_forward_request on the device side)."""
    table, connection = table_of(device), stream.conn
    if request == "list-forward":
        stream.write(_protocol_string(table.format(connection)))
        return
    if request == "killforward-all":
        table.remove_all(connection)
        stream.write(b"OKAY")
        return
    if request.startswith("killforward:"):
        local = request[len("killforward:"):]
        if not local or ";" in local:
            stream.write(b"FAIL" + _protocol_string(f"bad killforward: {local}"))
        elif table.remove(local, connection):
            stream.write(b"OKAY")
        else:
            stream.write(b"FAIL" + _protocol_string(f"listener '{local}' not found"))
        return
    if request.startswith("forward:"):
        spec = request[len("forward:"):]
        no_rebind = spec.startswith("norebind:")
        spec = spec.removeprefix("norebind:")
        pieces = spec.split(";")
        if len(pieces) != 2 or not pieces[0] or not pieces[1] or pieces[1].startswith("*"):
            stream.write(b"FAIL" + _protocol_string(f"bad forward: {spec}"))
            return
        error, resolved = table.install(pieces[0], pieces[1], connection, no_rebind)
        if error is not None:
            stream.write(b"FAIL" + _protocol_string(error))
            return
        stream.write(b"OKAY" + (_protocol_string(str(resolved)) if resolved else b""))
        return
    stream.write(b"FAIL" + _protocol_string(f"unknown reverse request: {request}"))
