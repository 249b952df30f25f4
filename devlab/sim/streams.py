"""One adb stream of the simulated phone (OPEN ... CLSE inside a connection), as its service sees it: blocking
`read`/`write` with the protocol's flow control (our WRTE waits for the host's OKAY), and `StreamReader` for exact
reads across WRTE boundaries."""

from __future__ import annotations

import queue
import threading
from typing import Protocol

from devlab.sim import adb_protocol as P


class Connection(Protocol):
    """What a stream needs of the adb connection that owns it (devlab/sim/server.py's Connection)."""

    max_payload: int

    def send(self, data: bytes) -> None: ...
    def send_parts(self, header: bytes, payload: memoryview) -> None: ...
    def count_payload(self, size: int) -> None: ...
    def forget(self, local_id: int) -> None: ...


class StreamClosed(Exception):
    pass


class Stream:
    def __init__(self, conn: Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.inbox: "queue.Queue[bytes | None]" = queue.Queue()
        self.acked = threading.Event()
        self.acked.set()
        self.closed = threading.Event()  # set when either side closed it or the connection died
        self.opened = threading.Event()  # a stream the phone opened (reverse): the host's OKAY came back

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        step = self.conn.max_payload
        for start in range(0, len(view), step):
            while not self.acked.wait(0.5):
                if self.closed.is_set():
                    raise StreamClosed()
            if self.closed.is_set():
                raise StreamClosed()
            self.acked.clear()
            chunk = view[start:start + step]
            self.conn.count_payload(len(chunk))
            self.conn.send_parts(P.pack_header(P.A_WRTE, self.local_id, self.remote_id, len(chunk)), chunk)

    def read(self) -> bytes:
        """Next chunk the host wrote; b"" once the stream is closed."""
        item = self.inbox.get()
        if item is None:
            self.inbox.put(None)  # keep EOF visible to later readers
            return b""
        return item

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.conn.forget(self.local_id)
            try:
                self.conn.send(P.pack_message(P.A_CLSE, self.local_id, self.remote_id))
            except OSError:
                pass
        self.inbox.put(None)

    def peer_closed(self) -> None:
        self.closed.set()
        self.acked.set()
        self.inbox.put(None)


class StreamReader:
    """Exact-size reads over a stream's WRTE chunks (the sync protocol is length-prefixed)."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = self.stream.read()
            if not chunk:
                raise StreamClosed()
            self.buffer += chunk
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data
