"""Find the user's benchmark_model for a device ABI, check it is an ELF for that ABI, and hash it.

devlab ships no benchmark_model (no prebuilt can be downloaded here): the user supplies one. Lookup order:
the `--benchmark-model PATH` flag, then env DEVLAB_BENCHMARK_MODEL, then the per-ABI mapping of devlab.toml's
`[benchmark_model]` table (the caller loads devlab.toml and passes the table), then the newest copy
`devlab tools fetch benchmark_model` put in devlab's cache (devlab/bench/fetch.py).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from devlab.errors import UsageError
from devlab.fsutil import sha256_file

ENV_VAR = "DEVLAB_BENCHMARK_MODEL"
Origin = Literal["flag", "env", "devlab.toml", "devlab tools fetch"]

# ABI -> (ELF class: 1 = 32-bit, 2 = 64-bit; e_machine; readable name)
_ABI_ELF: dict[str, tuple[int, int, str]] = {
    "arm64-v8a": (2, 183, "AArch64"),
    "armeabi-v7a": (1, 40, "ARM"),
    "x86_64": (2, 62, "x86-64"),
    "x86": (1, 3, "x86"),
}
_MACHINE_NAMES = {183: "AArch64", 40: "ARM", 62: "x86-64", 3: "x86", 243: "RISC-V"}
# The program interpreters (PT_INTERP) of Android executables: clang's Linux::getDynamicLinker gives an Android
# target /system/bin/linker64 (64-bit) or /system/bin/linker (32-bit), or linker_hwasan64 for HWASan builds. A
# glibc build names /lib/ld-linux-aarch64.so.1, which no phone has: execve fails and the shell says "not found".
ANDROID_LINKERS = {2: ("/system/bin/linker64", "/system/bin/linker_hwasan64"), 1: ("/system/bin/linker",)}
_PT_INTERP = 3
# The prebuilts TFLite publishes (tensorflow/lite/tools/benchmark/README.md, "nightly pre-built binaries"): only
# Android arm and aarch64 builds; the linux_* ones are host (glibc) builds, so x86 / x86_64 phones get no prebuilt.
_NIGHTLY = {"arm64-v8a": "android_aarch64_benchmark_model", "armeabi-v7a": "android_arm_benchmark_model"}
_BAZEL_CONFIG = {"arm64-v8a": "android_arm64", "armeabi-v7a": "android_arm", "x86_64": "android_x86_64",
                 "x86": "android_x86"}


@dataclass(frozen=True)
class BenchmarkBinary:
    path: Path
    sha256: str
    abi: str
    origin: Origin
    machine: str       # ELF machine as read from the file
    version: str | None = None   # known only for a release binary `devlab tools fetch` downloaded


def _where_to_get(abi: str) -> str:
    config = _BAZEL_CONFIG.get(abi, "android_arm64")
    prebuilt = _NIGHTLY.get(abi)
    get = (f"get the TFLite nightly prebuilt `{prebuilt}` (tensorflow-nightly-public .../lite/tools/nightly/latest/), "
           if prebuilt else f"TFLite publishes no prebuilt for {abi}: ")
    return (f"{get}run `devlab tools fetch benchmark_model --abi {abi}`, or build "
            f"//tensorflow/lite/tools/benchmark:benchmark_model with bazel (--config={config}), "
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
    if not candidates and env is None:
        from devlab.bench.fetch import fetched
        record = fetched("benchmark_model", abi)
        if record is not None:
            path = Path(record.path)
            return BenchmarkBinary(path=path, sha256=record.sha256, abi=abi, origin="devlab tools fetch",
                                   machine=check_elf(path, abi), version=record.version)
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
    """The ELF machine name; UsageError when the file is no ELF, is built for another architecture, or is not an
    Android executable (its program interpreter is not the bionic linker, e.g. a glibc Linux build)."""
    try:
        with path.open("rb") as handle:
            header = handle.read(64)
            elf_class, data = (header[4], header[5]) if len(header) >= 6 else (0, 0)
            interpreter = elf_interpreter(handle, header) if len(header) >= 52 else None
    except OSError as exc:
        raise UsageError(f"cannot read benchmark_model {path}: {exc.strerror}", "check the path and its permissions",
                         stage="benchmark_model") from exc
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise UsageError(f"{path} is not an ELF executable (a script, an APK or a download error page?)",
                         _where_to_get(abi), stage="benchmark_model")
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
    linkers = ANDROID_LINKERS[want_class]
    if interpreter is not None and interpreter not in linkers:
        raise UsageError(f"{path} is a {machine} build for another system: it asks for the program interpreter "
                         f"{interpreter}, but Android runs only static binaries or ones linked against bionic "
                         f"({linkers[0]}); a phone would refuse to start it (exit 127, \"not found\")",
                         _where_to_get(abi), stage="benchmark_model")
    return machine


# (offset of e_phoff, its format, offset of e_phentsize/e_phnum, program header format, indexes of p_type,
#  p_offset, p_filesz in it) for ELF32 and ELF64 (the System V gABI layouts)
_LAYOUT = {1: (28, "I", 42, "IIIIII", (0, 1, 4)), 2: (32, "Q", 54, "IIQQQQ", (0, 2, 5))}


def elf_interpreter(handle: BinaryIO, header: bytes) -> str | None:
    """The PT_INTERP string of an ELF whose first 64 bytes are `header` (None for a static binary), read from its
    program headers."""
    elf_class, data = header[4], header[5]
    if elf_class not in _LAYOUT or len(header) < 52:
        return None
    order = "<" if data == 1 else ">"
    phoff_at, phoff_format, counts_at, entry_format, (i_type, i_offset, i_size) = _LAYOUT[elf_class]
    (phoff,) = struct.unpack_from(order + phoff_format, header, phoff_at)
    phentsize, phnum = struct.unpack_from(order + "HH", header, counts_at)
    entry = struct.Struct(order + entry_format)
    if phentsize < entry.size or phnum > 4096:
        return None
    handle.seek(phoff)
    table = handle.read(phentsize * phnum)
    for start in range(0, len(table) - entry.size + 1, phentsize):
        fields = entry.unpack_from(table, start)
        if fields[i_type] == _PT_INTERP and 0 < fields[i_size] <= 4096:
            handle.seek(fields[i_offset])
            return handle.read(fields[i_size]).split(b"\0", 1)[0].decode("utf-8", "replace")
    return None
