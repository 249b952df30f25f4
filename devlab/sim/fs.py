"""The phone's filesystem: a sandboxed host folder that plays `/`.

Every device path is resolved inside the root: `..` stops at `/`, absolute paths are taken from the root, and
symlinks are followed *as device paths* (an absolute target means the sandbox root), so no path can name a host
file outside the sandbox. /data/local/tmp exists and is writable, as on a phone.

/proc/<pid> exists while a simulated process runs (DeviceState adds and removes it) and always for init (pid 1):
on a phone the shell user may search every process's /proc entry (sepolicy public/shell.te: `allow shell
domain:dir { search open read getattr }`), so `test -d /proc/PID` is how a shell script waits for a process it may
not signal with `kill -0` (docs/sim-fidelity.md).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat as stat_module
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from devlab.errors import UsageError

_MAX_LINKS = 40
# /data/misc/perfetto-{traces,configs}: made at boot by perfetto's perfetto.rc (`mkdir ... 0773 root shell`)
STANDARD_DIRS = ("data/local/tmp", "sdcard", "system/bin", "proc", "sys/class/thermal", "dev",
                 "data/misc/perfetto-traces", "data/misc/perfetto-configs")
INIT_PID = 1


def _affinity_lines(mask: int) -> str:
    """The two status lines of an affinity mask, as Linux prints them: `Cpus_allowed:\tff`, `Cpus_allowed_list:\t0-7`."""
    cpus = [cpu for cpu in range(64) if mask >> cpu & 1]
    ranges: list[str] = []
    for cpu in cpus:
        if ranges and int(ranges[-1].split("-")[-1]) == cpu - 1:
            ranges[-1] = f"{ranges[-1].split('-')[0]}-{cpu}"
        else:
            ranges.append(str(cpu))
    return f"Cpus_allowed:\t{mask:x}\nCpus_allowed_list:\t{','.join(ranges)}\n"


class SandboxError(OSError):
    """A device path that cannot be resolved (symlink loop); reported like ELOOP by commands."""


class FsSandbox:
    def __init__(self, root: Path | str | None = None) -> None:
        if root is None:
            root = tempfile.mkdtemp(prefix="devlab-sim-")
        self.root = Path(root).resolve()
        self.all_cpus = 0xFF                 # the phone's CPUs as an affinity mask (DeviceState sets the profile's)
        self._acting = threading.local()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for sub in STANDARD_DIRS:
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot use {root} as the simulated phone's filesystem: {exc.strerror}",
                             "pass --root with a writable folder") from exc
        # a root used before keeps the /proc entries of processes that died with that phone: none runs now
        for entry in (self.root / "proc").iterdir():
            if entry.name.isdigit():
                shutil.rmtree(entry, ignore_errors=True)
        self.add_process(INIT_PID, "/system/bin/init", "init", uid=0)

    # --- /proc ----------------------------------------------------------------------------------------------------
    def _proc(self, pid: int) -> Path:
        return self.root / "proc" / str(pid)

    def add_process(self, pid: int, name: str, domain: str, uid: int = 2000, cpus: int | None = None) -> None:
        """/proc/<pid> with the few files tools read: cmdline, status (Name, Pid, Uid, Cpus_allowed[_list]) and
        attr/current. `cpus`: the affinity mask (default: every CPU of the phone)."""
        folder = self._proc(pid)
        (folder / "attr").mkdir(parents=True, exist_ok=True)
        (folder / "cmdline").write_bytes(name.encode() + b"\0")
        mask = self.all_cpus if cpus is None else cpus
        (folder / "status").write_text(f"Name:\t{name.rsplit('/', 1)[-1][:15]}\nPid:\t{pid}\n"
                                       f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n{_affinity_lines(mask)}")
        (folder / "attr" / "current").write_text(f"u:r:{domain}:s0\0")

    def set_affinity(self, pid: int, cpus: int) -> None:
        """sched_setaffinity: the mask /proc/<pid>/status shows from now on."""
        status = self._proc(pid) / "status"
        try:
            kept = [line for line in status.read_text().splitlines(keepends=True)
                    if not line.startswith("Cpus_allowed")]
        except OSError:
            return
        status.write_text("".join(kept) + _affinity_lines(cpus))

    def affinity(self, pid: int) -> int:
        """The affinity mask of a running process (every CPU when it has no /proc entry)."""
        try:
            for line in (self._proc(pid) / "status").read_text().splitlines():
                if line.startswith("Cpus_allowed:"):
                    return int(line.split()[1], 16)
        except (OSError, ValueError, IndexError):
            pass
        return self.all_cpus

    @contextmanager
    def acting_as(self, pid: int) -> Iterator[None]:
        """While a simulated process runs on this thread, /proc/self names its /proc/<pid> (the kernel's per-task
        /proc/self link)."""
        previous = getattr(self._acting, "pid", None)
        self._acting.pid = pid
        try:
            yield
        finally:
            self._acting.pid = previous

    def current_pid(self) -> int | None:
        return getattr(self._acting, "pid", None)

    def remove_process(self, pid: int) -> None:
        shutil.rmtree(self._proc(pid), ignore_errors=True)

    def process_exists(self, pid: int) -> bool:
        return self._proc(pid).is_dir()

    def device_path(self, path: str, cwd: str = "/") -> str:
        """Normalise a device path (relative to cwd) without touching the disk; never climbs above `/`."""
        joined = posixpath.join(cwd, path) if path else cwd
        parts: list[str] = []
        for part in joined.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/" + "/".join(parts)

    def resolve(self, path: str, cwd: str = "/", follow_last: bool = True) -> Path:
        """The host path for a device path; symlinks are re-rooted inside the sandbox."""
        pending = self.device_path(path, cwd).split("/")[1:]
        if pending[:2] == ["proc", "self"] and self.current_pid() is not None:
            pending[1] = str(self.current_pid())
        done: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if not part:
                continue
            host = self.root.joinpath(*done, part)
            if host.is_symlink() and (pending or follow_last):
                links += 1
                if links > _MAX_LINKS:
                    raise SandboxError(40, "Too many levels of symbolic links", path)
                target = os.readlink(host)
                base = "/" + "/".join(done)
                rest = self.device_path(target, base).split("/")[1:]
                pending = rest + pending
                done = []
                continue
            done.append(part)
        return self.root.joinpath(*done)

    def to_device(self, host: Path) -> str:
        """The device path of a host path inside the sandbox."""
        relative = Path(host).resolve().relative_to(self.root)
        return "/" + relative.as_posix() if str(relative) != "." else "/"

    def glob(self, pattern: str, cwd: str = "/") -> list[str]:
        """Expand `*`, `?` and `[..]` in a device path, component by component, inside the sandbox."""
        import fnmatch
        absolute = pattern.startswith("/")
        candidates = ["/" if absolute else cwd]
        for part in [p for p in pattern.split("/") if p]:
            grown: list[str] = []
            for base in candidates:
                if any(ch in part for ch in "*?["):
                    host = self.resolve(base)
                    if host.is_dir():
                        names = sorted(n for n in os.listdir(host) if not n.startswith(".") or part.startswith("."))
                        grown.extend(posixpath.join(base, n) for n in fnmatch.filter(names, part))
                else:
                    candidate = posixpath.join(base, part)
                    if self.resolve(candidate).exists() or self.resolve(candidate).is_symlink():
                        grown.append(candidate)
            candidates = grown
        if not absolute:
            return [posixpath.relpath(c, cwd) for c in candidates]
        return candidates

    def stat_triplet(self, path: str) -> tuple[int, int, int]:
        """(mode, size, mtime) for the sync STAT/LIST replies; zeros when missing, as adbd does."""
        try:
            st = os.stat(self.resolve(path))
        except OSError:
            return 0, 0, 0
        return st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF, int(st.st_mtime) & 0xFFFFFFFF

    @staticmethod
    def is_dir_mode(mode: int) -> bool:
        return stat_module.S_ISDIR(mode)
