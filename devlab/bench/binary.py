"""Find the user's benchmark_model for a device ABI, check it is an ELF for that ABI, and hash it.

devlab ships no benchmark_model (no prebuilt can be downloaded here): the user supplies one. Lookup order:
the `--benchmark-model PATH` flag, then env DEVLAB_BENCHMARK_MODEL, then the per-ABI mapping of devlab.toml's
`[benchmark_model]` table (the caller loads devlab.toml and passes the table).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devlab.errors import UsageError
from devlab.fsutil import sha256_file

ENV_VAR = "DEVLAB_BENCHMARK_MODEL"
Origin = Literal["flag", "env", "devlab.toml"]

# ABI -> (ELF class: 1 = 32-bit, 2 = 64-bit; e_machine; readable name)
_ABI_ELF: dict[str, tuple[int, int, str]] = {
    "arm64-v8a": (2, 183, "AArch64"),
    "armeabi-v7a": (1, 40, "ARM"),
    "x86_64": (2, 62, "x86-64"),
    "x86": (1, 3, "x86"),
}
_MACHINE_NAMES = {183: "AArch64", 40: "ARM", 62: "x86-64", 3: "x86", 243: "RISC-V"}
_NIGHTLY = {"arm64-v8a": "android_aarch64_benchmark_model", "armeabi-v7a": "android_arm_benchmark_model",
            "x86_64": "linux_x86-64_benchmark_model", "x86": "android_x86_benchmark_model"}


@dataclass(frozen=True)
class BenchmarkBinary:
    path: Path
    sha256: str
    abi: str
    origin: Origin
    machine: str       # ELF machine as read from the file


def _where_to_get(abi: str) -> str:
    prebuilt = _NIGHTLY.get(abi, "android_aarch64_benchmark_model")
    return (f"get the TFLite nightly prebuilt `{prebuilt}` (tensorflow-nightly-public .../lite/tools/nightly/latest/) "
            f"or build //tensorflow/lite/tools/benchmark:benchmark_model with bazel (--config=android_arm64), "
            f"then pass --benchmark-model PATH, set {ENV_VAR}=PATH, or add `[benchmark_model] {abi} = \"PATH\"` "
            f"to devlab.toml")


def locate_benchmark_model(abi: str, *, flag_path: str | os.PathLike[str] | None = None,
                           config: Mapping[str, str] | None = None,
                           env: Mapping[str, str] | None = None) -> BenchmarkBinary:
    """The binary to push for a device of `abi`, checked and hashed. Raises UsageError with where to get one."""
    environ = os.environ if env is None else env
    candidates: list[tuple[Origin, str]] = []
    if flag_path:
        candidates.append(("flag", os.fspath(flag_path)))
    elif environ.get(ENV_VAR):
        candidates.append(("env", environ[ENV_VAR]))
    elif config and config.get(abi):
        candidates.append(("devlab.toml", str(config[abi])))
    if not candidates:
        raise UsageError(f"no benchmark_model binary for ABI {abi}", _where_to_get(abi), stage="benchmark_model")
    origin, raw = candidates[0]
    path = Path(raw).expanduser()
    if not path.is_file():
        raise UsageError(f"benchmark_model from {origin} not found: {path}", _where_to_get(abi),
                         stage="benchmark_model")
    machine = check_elf(path, abi)
    return BenchmarkBinary(path=path, sha256=sha256_file(path), abi=abi, origin=origin, machine=machine)


def check_elf(path: Path, abi: str) -> str:
    """The ELF machine name; UsageError when the file is no ELF or is built for another architecture."""
    try:
        with path.open("rb") as handle:
            header = handle.read(20)
    except OSError as exc:
        raise UsageError(f"cannot read benchmark_model {path}: {exc.strerror}", "check the path and its permissions",
                         stage="benchmark_model") from exc
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise UsageError(f"{path} is not an ELF executable (a script, an APK or a download error page?)",
                         _where_to_get(abi), stage="benchmark_model")
    elf_class, data = header[4], header[5]
    machine_id = int.from_bytes(header[18:20], "little" if data == 1 else "big")
    machine = _MACHINE_NAMES.get(machine_id, f"e_machine {machine_id}")
    bits = {1: "32-bit", 2: "64-bit"}.get(elf_class, "unknown-class")
    expected = _ABI_ELF.get(abi)
    if expected is None:
        raise UsageError(f"unknown device ABI {abi!r}", f"use one of {', '.join(_ABI_ELF)}", stage="benchmark_model")
    want_class, want_machine, want_name = expected
    if (elf_class, machine_id) != (want_class, want_machine):
        raise UsageError(f"{path} is a {bits} {machine} binary, but the device ABI {abi} needs "
                         f"{'64' if want_class == 2 else '32'}-bit {want_name}", _where_to_get(abi),
                         stage="benchmark_model")
    return machine
