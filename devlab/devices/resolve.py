"""`--device` resolution: `host` for this machine; phones by serial or alias (see devices/adb.py)."""

from __future__ import annotations

from devlab.devices.host import HOST_SERIAL, HostDevice
from devlab.errors import DeviceNotFound


def resolve_device(name: str):
    if name in (HOST_SERIAL, "local"):
        return HostDevice()
    raise DeviceNotFound(f"no device '{name}' is attached", "run `devlab devices` to list devices, or use --device host")


def list_devices() -> list:
    return [HostDevice().info]
