"""`devlab tools fetch benchmark_model`: LiteRT's official prebuilt benchmark_model into devlab's cache.

Google publishes it at `https://storage.googleapis.com/litert/binaries/<version>/<platform>/benchmark_model`
(the same objects as `gs://litert/binaries/2.2.0/android_arm64/benchmark_model`, which Google's LiteRT CLI pushes to
phones). A mirror takes the same layout: `--base-url` or env DEVLAB_TOOLS_BASE_URL. The download goes to a temporary
file next to its place, is checked to be an ELF for the ABI, hashed, and only then moved in; its sha256, size, URL
and version are recorded beside it, so a run can name the binary it used. Nothing else is downloaded.
Note: the GPU accelerator of that release is a separate library (libLiteRtClGlAccelerator.so) in the same folder.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from devlab.bench.binary import check_elf
from devlab.devices.leases import devlab_home
from devlab.errors import DevlabError, UsageError
from devlab.fsutil import atomic_write_json, sha256_file

BASE_URL = "https://storage.googleapis.com/litert/binaries"
ENV_BASE_URL = "DEVLAB_TOOLS_BASE_URL"
PLATFORMS = {"arm64-v8a": "android_arm64"}     # the ABIs LiteRT publishes a benchmark_model for
TOOLS = ("benchmark_model",)
_VERSION = re.compile(r"^(?:latest|\d+\.\d+\.\d+(?:[.-]?[A-Za-z0-9]+)*)$")


@dataclass(frozen=True)
class FetchedTool:
    tool: str
    version: str
    abi: str
    url: str
    path: str
    sha256: str
    bytes: int
    fetched: str


def tools_dir() -> Path:
    return devlab_home() / "cache" / "tools"


def _folder(tool: str, version: str, abi: str) -> Path:
    return tools_dir() / tool / version / abi


def fetch(tool: str, version: str, abi: str, base_url: str | None = None, timeout: float = 60.0) -> FetchedTool:
    if tool not in TOOLS:
        raise UsageError(f"devlab fetches no tool named {tool!r}", f"use one of: {', '.join(TOOLS)}")
    if not _VERSION.match(version):
        raise UsageError(f"version {version!r} is not a release number", "pass e.g. --version 2.2.0")
    if abi not in PLATFORMS:
        raise UsageError(f"LiteRT publishes no {tool} for ABI {abi}", f"use --abi {', '.join(PLATFORMS)}")
    base = (base_url or os.environ.get(ENV_BASE_URL) or BASE_URL).rstrip("/")
    url = f"{base}/{version}/{PLATFORMS[abi]}/{tool}"
    folder = _folder(tool, version, abi)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{tool}.{os.getpid()}.part"
    try:
        _download(url, partial, timeout)
        check_elf(partial, abi)
        partial.chmod(0o755)
        target = folder / tool
        digest, size = sha256_file(partial), partial.stat().st_size
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    record = FetchedTool(tool=tool, version=version, abi=abi, url=url, path=str(target), sha256=digest, bytes=size,
                         fetched=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    atomic_write_json(folder / "fetched.json", asdict(record))
    return record


def _download(url: str, into: Path, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, into.open("wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DevlabError(f"download of {url} failed: HTTP {exc.code} {exc.reason}",
                          "check --version (e.g. 2.2.0) and --abi; a mirror is set with --base-url or "
                          f"{ENV_BASE_URL}", stage="tools fetch") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise DevlabError(f"cannot download {url}: {reason}",
                          f"no network? fetch it elsewhere and pass --benchmark-model PATH, or point --base-url / "
                          f"{ENV_BASE_URL} at a mirror", stage="tools fetch") from None


def fetched(tool: str, abi: str) -> FetchedTool | None:
    """The newest fetched copy for this ABI whose file still hashes to what was recorded, or None."""
    root = tools_dir() / tool
    found: list[FetchedTool] = []
    for meta in root.glob(f"*/{abi}/fetched.json") if root.is_dir() else ():
        try:
            record = FetchedTool(**json.loads(meta.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if Path(record.path).is_file():
            found.append(record)
    found.sort(key=lambda r: [int(p) if p.isdigit() else -1 for p in re.split(r"[.-]", r.version)])
    for record in reversed(found):
        if sha256_file(Path(record.path)) == record.sha256:
            return record
    return None
