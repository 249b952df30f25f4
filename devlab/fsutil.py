"""File helpers: atomic writes (no half-written run.json, manifest or report after a kill) and hashing."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The writer's pid is in the temporary name so that a later write can sweep what a killed writer left behind.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one, never a mix
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _sweep_dead_writers(path)


def _sweep_dead_writers(path: Path) -> None:
    """Remove `.<name>.<pid>.*.tmp` files of writers that no longer run (killed mid-write)."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid_text = leftover.name[len(path.name) + 2:].split(".", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            try:
                leftover.unlink()
            except OSError:
                pass


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists (someone else's counts as alive: not ours to judge)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any) -> None:
    # Compact on purpose: with `indent` json falls back to its pure-Python encoder, ~10x slower, and run.json is
    # rewritten after every variant (and once per phone in a farm). `python -m json.tool run.json` pretty-prints.
    atomic_write_text(path, json.dumps(value, separators=(",", ":"), allow_nan=False) + "\n")


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON object a child process wrote, or {} when it never wrote one (it died first) or left it half-written."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def path_slug(text: str, *, fallback: str, max_len: int | None = None) -> str:
    """A file-name-safe form of user or device text (spaces, quotes, shell characters, `..` become harmless)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")[:max_len] or fallback
