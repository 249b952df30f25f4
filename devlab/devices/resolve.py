"""`--device` resolution and `devlab devices`: `host`, an exact serial, an alias from devlab.toml, a built-in alias.

Built-in aliases match ro.product.model with fnmatch. `s23` means the whole Galaxy S23 family (S23 SM-S911*, S23+
SM-S916*, S23 Ultra SM-S918*): people say "the S23" for any of them, and with one S23 on the desk it is the one
meant; `s23u` / `s23p` / `s23base` pick one model when several are attached. An alias that matches several attached
phones is an error that lists them, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatchcase

from devlab.config import Config, DeviceAlias, load_config
from devlab.devices.adb import AdbDevice
from devlab.devices.adb_server import LOCAL_HOSTS, AdbServer, server_specs, shared_server
from devlab.devices.base import DeviceInfo
from devlab.devices.host import HOST_SERIAL, HostDevice
from devlab.errors import DeviceError, DeviceNotFound

BUILTIN_ALIASES: dict[str, tuple[str, ...]] = {
    "s23": ("SM-S911*", "SM-S916*", "SM-S918*"),
    "s23base": ("SM-S911*",),
    "s23p": ("SM-S916*",),
    "s23u": ("SM-S918*",),
    "s24": ("SM-S921*", "SM-S926*", "SM-S928*"),
    "s24u": ("SM-S928*",),
    "pixel7": ("Pixel 7",),
    "pixel7pro": ("Pixel 7 Pro",),
    "pixel8": ("Pixel 8",),
    "pixel8pro": ("Pixel 8 Pro",),
}


@dataclass(frozen=True)
class AdbOptions:
    """Where to look for phones: extra adb servers and the adb binary for the local one."""

    servers: tuple[str, ...] = ()
    adb_binary: str | None = None


@dataclass(frozen=True)
class Attached:
    server: AdbServer
    serial: str
    state: str            # device | offline | unauthorized | ...
    model: str            # "" unless the phone is ready

    def describe(self) -> str:
        where = "" if self.server.spec.local else f" via {self.server.address}"
        return f"{self.serial} ({self.model or self.state}){where}"


def _aliases(config: Config) -> list[DeviceAlias]:
    """devlab.toml aliases first (they override built-ins of the same name), then the built-ins."""
    own = list(config.devices)
    names = {a.name for a in own}
    for name, patterns in BUILTIN_ALIASES.items():
        if name not in names:
            own.extend(DeviceAlias(name, pattern, None) for pattern in patterns)
    return own


def _matches(alias: DeviceAlias, phone: Attached) -> bool:
    if alias.serial is not None and alias.serial != phone.serial:
        return False
    return alias.model is None or fnmatchcase(phone.model, alias.model)


def aliases_of(phone: Attached, config: Config) -> list[str]:
    found: list[str] = []
    for alias in _aliases(config):
        if alias.name not in found and _matches(alias, phone):
            found.append(alias.name)
    return found


def adb_servers(options: AdbOptions, config: Config) -> list[AdbServer]:
    return [shared_server(spec)
            for spec in server_specs(tuple(options.servers) + config.adb_servers, options.adb_binary)]


def connect_simulated_phones(server: AdbServer) -> None:
    """`adb connect` every simulated phone `devlab sim start` recorded, so that it is listed like a phone."""
    from devlab.sim import daemon
    for record in daemon.running():
        if record.host in LOCAL_HOSTS:
            server.call(lambda client: client.connect(f"{record.host}:{record.port}", timeout=5), stage="adb connect")


def attached(servers: list[AdbServer]) -> list[Attached]:
    phones: list[Attached] = []
    for server in servers:
        if server.spec.local:
            connect_simulated_phones(server)
        for item in server.call(lambda client: client.list(), stage="list devices"):
            model = ""
            if item.state == "device":
                model = AdbDevice(server, item.serial).shell(["getprop", "ro.product.model"], timeout=15).stdout.strip()
            phones.append(Attached(server, item.serial, item.state, model))
    return phones


def _not_found(problem: str, phones: list[Attached], fix: str) -> DeviceNotFound:
    listing = "; ".join(p.describe() for p in phones) or "no phone"
    return DeviceNotFound(f"{problem}; attached: {listing}", fix, stage="resolve device")


def _open(phone: Attached, config: Config, name: str) -> AdbDevice:
    if phone.state != "device":
        raise DeviceError(f"{phone.serial} is {phone.state}", "unlock the phone and accept the USB debugging prompt, "
                          "or reconnect it", device=name, stage="resolve device")
    names = aliases_of(phone, config)
    alias = name if name in names else (names[0] if names else None)
    device = AdbDevice(phone.server, phone.serial)
    device.read_info(alias=alias)
    if len(names) > 1:
        device.info = replace(device.info, extra={**device.info.extra, "aliases": ",".join(names)})
    return device


def resolve_device(name: str, options: AdbOptions = AdbOptions(), config: Config | None = None):
    """The Device `--device NAME` means: HostDevice for `host`, else an AdbDevice with its info read."""
    if name in (HOST_SERIAL, "local"):
        return HostDevice()
    config = config or load_config()
    phones = attached(adb_servers(options, config))
    exact = [p for p in phones if p.serial == name]
    if len(exact) == 1:
        return _open(exact[0], config, name)
    if len(exact) > 1:
        raise _not_found(f"serial {name!r} is attached to several adb servers", exact, "drop one --adb-server")
    rules = [a for a in _aliases(config) if a.name == name]
    if not rules:
        known = ", ".join(sorted({a.name for a in _aliases(config)}))
        raise _not_found(f"no device {name!r} (not a serial, not an alias)", phones,
                         f"pass a serial from `devlab devices`, an alias ({known}), or --device host")
    ready = [p for p in phones if p.state == "device" and any(_matches(rule, p) for rule in rules)]
    if not ready:
        patterns = ", ".join(r.model or r.serial or "" for r in rules)
        raise _not_found(f"no attached phone matches {name!r} ({patterns})", phones,
                         "plug the phone in (or `adb connect` it), or pass a serial")
    if len(ready) > 1:
        raise _not_found(f"{name!r} matches {len(ready)} phones", ready, "pass one of their serials to --device")
    return _open(ready[0], config, name)


def list_devices(options: AdbOptions = AdbOptions(), config: Config | None = None,
                 include_host: bool = True) -> list[DeviceInfo]:
    """This machine, then every ready phone on every adb server, with its identity read now."""
    config = config or load_config()
    infos = [HostDevice().info] if include_host else []
    for phone in attached(adb_servers(options, config)):
        if phone.state == "device":
            infos.append(_open(phone, config, phone.serial).info)
        else:
            infos.append(DeviceInfo(serial=phone.serial, kind="adb", model="", extra={"state": phone.state}))
    return infos
