"""The Device protocol: what every target offers, nothing more (see DESIGN.md, Devices)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class DeviceInfo:
    serial: str
    kind: str                      # "host" | "adb"
    model: str                     # SM-S918B, or the host CPU model
    alias: str | None = None       # s23, pixel8, host
    manufacturer: str = ""
    board: str = ""                # ro.board.platform / SoC
    soc: str = ""
    gpu: str = ""                  # "Adreno (TM) 740", or the host GPU adapter ("" when none)
    abi: str = ""
    android_version: str = ""
    sdk: str = ""
    simulated: bool = False
    battery_level: int | None = None
    battery_temp_c: float | None = None
    thermal_status: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShellResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class PushResult:
    local: str
    remote: str
    sha256: str
    bytes_total: int
    bytes_sent: int        # 0 when the content-hash cache says the device already has it
    cached: bool


@runtime_checkable
class Device(Protocol):
    info: DeviceInfo

    def push(self, local: Path, remote: str) -> PushResult: ...

    def pull(self, remote: str, local: Path) -> None: ...

    def shell(self, argv: list[str], timeout: float | None = None) -> ShellResult: ...
