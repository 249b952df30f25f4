"""Which benchmark_model a binary is, and which flags it takes: asked once per sha256 with `--help`, then cached.

Two tools share the name (../shared/specs/benchmark_model.md): the classic TFLite tool
(`tflite/tools/benchmark/benchmark_tflite_model.cc`) and LiteRT's CompiledModel tool
(`litert/tools/benchmark_litert_model.{h,cc}`, shipped as `benchmark_model` in LiteRT's release binaries). Both
print TFLite's Flags::Usage on `--help` (`tflite/tools/command_line_flags.cc`): `usage: <argv0> <flags>`, `Flags:`,
then one row per flag, `\t--<name>=<default>\t<type>\toptional\t<help>`. LiteRT's main prints
`NPU Vendor Flags from LiteRT:` before it. Neither prints a version; a version known from `devlab tools fetch`
is recorded instead. Old builds that lack a flag are caught here, before any run (issue 11, defect 4).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devlab.devices.leases import devlab_home
from devlab.errors import ToolError
from devlab.fsutil import atomic_write_json

ToolKind = Literal["classic", "litert"]
_FLAG_ROW = re.compile(r"^\t--(?P<name>[A-Za-z0-9_\-]+)=\S*\s+(?:int32|int64|float|bool|string)\s+(?:optional|required)")
_LITERT_BANNER = "NPU Vendor Flags from LiteRT"
CACHE_VERSION = 1


@dataclass(frozen=True)
class ToolDialect:
    kind: ToolKind
    flags: tuple[str, ...]          # every flag name the binary's --help lists, in its order
    version: str | None = None

    def takes(self, name: str) -> bool:
        return name in self.flags

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "version": self.version, "flags": list(self.flags)}


def read_help(text: str, version: str | None = None) -> ToolDialect:
    """The dialect a `--help` output describes; ToolError when it lists no flags (not a benchmark_model)."""
    flags = tuple(dict.fromkeys(m.group("name") for m in map(_FLAG_ROW.match, text.splitlines()) if m))
    if not flags or "graph" not in flags:
        tail = " | ".join(line.strip() for line in text.strip().splitlines()[-2:]) or "no output"
        raise ToolError(f"benchmark_model --help listed no flags (is it a benchmark_model?): {tail[:200]}",
                        "check the binary runs on the phone: adb shell <path> --help", stage="benchmark_model")
    litert = _LITERT_BANNER in text or "use_npu" in flags or "gpu-precision" in flags
    return ToolDialect(kind="litert" if litert else "classic", flags=flags, version=version)


def cache_path(sha256: str, root: Path | None = None) -> Path:
    return (root or devlab_home() / "cache" / "benchmark_model") / f"{sha256}.dialect.json"


def load_cached(sha256: str | None, root: Path | None = None) -> ToolDialect | None:
    if not sha256:
        return None
    try:
        data = json.loads(cache_path(sha256, root).read_text())
        if data.get("cache_version") != CACHE_VERSION:
            return None
        return ToolDialect(kind=data["kind"], flags=tuple(data["flags"]), version=data.get("version"))
    except (OSError, ValueError, KeyError, TypeError):
        return None        # a missing or damaged entry is asked again, never trusted


def store(sha256: str, dialect: ToolDialect, root: Path | None = None) -> None:
    path = cache_path(sha256, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"cache_version": CACHE_VERSION, **dialect.to_json()})


def probe(device, binary: str, sha256: str | None, version: str | None = None,
          timeout: float = 60.0) -> tuple[ToolDialect, bool]:
    """(dialect, from_cache). Runs `<binary> --help` on the device unless this sha256 was asked before."""
    cached = load_cached(sha256)
    if cached is not None:
        return (cached if version is None or cached.version == version else
                ToolDialect(cached.kind, cached.flags, version)), True
    result = device.shell([binary, "--help"], timeout=timeout)
    dialect = read_help(result.stdout + "\n" + result.stderr, version)
    if sha256:
        store(sha256, dialect)
    return dialect, False
