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
from pathlib import Path

from devlab.errors import UsageError

_MAX_LINKS = 40
# /data/misc/perfetto-{traces,configs}: made at boot by perfetto's perfetto.rc (`mkdir ... 0773 root shell`)
STANDARD_DIRS = ("data/local/tmp", "sdcard", "system/bin", "proc", "sys/class/thermal", "dev",
                 "data/misc/perfetto-traces", "data/misc/perfetto-configs")
INIT_PID = 1


class SandboxError(OSError):
    """A device path that cannot be resolved (symlink loop); reported like ELOOP by commands."""


class FsSandbox:
    def __init__(self, root: Path | str | None = None) -> None:
        if root is None:
            root = tempfile.mkdtemp(prefix="devlab-sim-")
        self.root = Path(root).resolve()
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

    def add_process(self, pid: int, name: str, domain: str, uid: int = 2000) -> None:
        """/proc/<pid> with the few files tools read: cmdline, status (Name, Pid, Uid) and attr/current."""
        folder = self._proc(pid)
        (folder / "attr").mkdir(parents=True, exist_ok=True)
        (folder / "cmdline").write_bytes(name.encode() + b"\0")
        (folder / "status").write_text(f"Name:\t{name.rsplit('/', 1)[-1][:15]}\nPid:\t{pid}\n"
                                       f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        (folder / "attr" / "current").write_text(f"u:r:{domain}:s0\0")

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
