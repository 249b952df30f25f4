"""Thermal gating: before a run, wait until the phone reports a battery temperature below a threshold.

The battery temperature (`dumpsys battery`, tenths of a degree) is what every Android phone reports without root;
SoC zones need root or vary by vendor. Each reading is recorded with the step, so a hot run can be told apart later.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from devlab.devices.adb_info import parse_battery
from devlab.devices.base import Device

POLL_S = 2.0


@dataclass(frozen=True)
class ThermalWait:
    before_c: float | None        # the reading the run started at
    waited_s: float
    cooled: bool | None           # None: no threshold, or the phone reports no temperature
    readings: int


def battery_temp_c(device: Device) -> float | None:
    result = device.shell(["dumpsys", "battery"], timeout=30)
    if not result.ok:
        return None
    return parse_battery(result.stdout)[1]


def wait_until_cool(device: Device, max_c: float | None, timeout_s: float, *, poll_s: float = POLL_S,
                    sleep: Callable[[float], None] = time.sleep) -> ThermalWait:
    started = time.monotonic()
    reading = battery_temp_c(device)
    readings = 1
    if max_c is None or reading is None:
        return ThermalWait(reading, 0.0, None, readings)
    while reading is not None and reading >= max_c and time.monotonic() - started < timeout_s:
        sleep(min(poll_s, max(0.0, timeout_s - (time.monotonic() - started))))
        reading = battery_temp_c(device)
        readings += 1
    cooled = reading is not None and reading < max_c
    return ThermalWait(reading, round(time.monotonic() - started, 3), cooled, readings)
