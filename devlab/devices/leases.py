"""One lease per device: a lock file per serial under $DEVLAB_HOME/leases (default ~/.devlab/leases).

Two devlab processes (two CI jobs on one runner) must never drive one phone at once: their timings would be each
other's noise. fcntl.flock locks die with the process that holds them, so a crashed job never leaves a stale lease.
"""

from __future__ import annotations

import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from devlab.errors import DeviceError
from devlab.fsutil import path_slug

POLL_S = 0.1


def devlab_home() -> Path:
    return Path(os.environ.get("DEVLAB_HOME") or Path.home() / ".devlab").expanduser()


def lease_path(serial: str, root: Path | None = None) -> Path:
    safe = path_slug(serial, fallback="device")
    return (root or devlab_home() / "leases") / f"{safe}.lock"


@dataclass
class DeviceLease:
    """`with DeviceLease(serial, timeout_s):` waits up to timeout_s for the device, else fails naming the holder."""

    serial: str
    timeout_s: float = 0.0
    root: Path | None = None
    waited_s: float = 0.0

    def __post_init__(self) -> None:
        self.path = lease_path(self.serial, self.root)
        self._fd: int | None = None

    def __enter__(self) -> "DeviceLease":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        started = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() - started >= self.timeout_s:
                    holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "another devlab process"
                    os.close(fd)
                    raise DeviceError(f"is leased by {holder}; waited {self.timeout_s:g} s",
                                      "wait for that run to finish, or pass a longer --lease-timeout",
                                      device=self.serial, stage="lease") from None
                time.sleep(POLL_S)
        self.waited_s = time.monotonic() - started
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
