"""devlab.toml: the project config, found in the working folder or any parent.

```toml
[devices.lab-s23]          # an alias for --device
model = "SM-S918*"         # fnmatch against ro.product.model
serial = "R5CW..."         # and/or an exact serial

[benchmark_model]          # the user's benchmark_model per device ABI (relative paths: from this file's folder)
arm64-v8a = "tools/android_aarch64_benchmark_model"

[adb]
servers = ["127.0.0.1:5038"]   # more adb servers (phones plugged into other machines, ports forwarded)

[farm]                     # the runs `devlab farm` starts on every phone
check_outputs = true       # each row's outputs vs the fp32 reference (as `devlab run --check-outputs`)
inputs = "inputs.npz"      # the inputs for that check (relative paths: from this file's folder); implies the check
```
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from devlab.errors import ConfigError

CONFIG_NAME = "devlab.toml"
_TOP_LEVEL = ("devices", "benchmark_model", "adb", "farm")


@dataclass(frozen=True)
class DeviceAlias:
    name: str
    model: str | None      # fnmatch pattern against ro.product.model
    serial: str | None


@dataclass(frozen=True)
class FarmSettings:
    """`[farm]`: what `devlab farm` runs on every phone besides the timing (its flags override these)."""
    check_outputs: bool = False
    inputs: Path | None = None     # absolute (a relative path in the file is from the file's folder)
    config_path: Path | None = None

    def inputs_file(self) -> Path | None:
        """The inputs .npz, checked here and not at load time: a missing file must not break other commands."""
        if self.inputs is not None and not self.inputs.is_file():
            raise _fail(self.config_path or Path("devlab.toml"), "farm.inputs", f"names {self.inputs}, which is not "
                        "a file", 'write inputs = "path/to/inputs.npz" (relative to this file\'s folder), '
                        "an .npz written with numpy.savez")
        return self.inputs


@dataclass(frozen=True)
class Config:
    path: Path | None
    devices: tuple[DeviceAlias, ...] = ()
    benchmark_model: dict[str, str] | None = None   # ABI -> absolute path
    adb_servers: tuple[str, ...] = ()
    farm: FarmSettings = FarmSettings()


def find_config(start: Path | None = None) -> Path | None:
    folder = (start or Path.cwd()).resolve()
    for candidate in (folder, *folder.parents):
        path = candidate / CONFIG_NAME
        if path.is_file():
            return path
    return None


def load_config(path: Path | None = None, start: Path | None = None) -> Config:
    """The config at `path`, else the one found from `start` (default: cwd) upwards, else an empty Config."""
    path = path or find_config(start)
    if path is None:
        return Config(path=None)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text", "save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}", "fix the line named above") from None
    return _parse(path, data)


def _fail(path: Path, key: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{path}: [{key}] {problem}", fix)


def _table(path: Path, data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise _fail(path, key, "must be a table", f"write it as `[{key}]` with keys below it")
    return value


def _parse(path: Path, data: dict[str, Any]) -> Config:
    unknown = sorted(set(data) - set(_TOP_LEVEL))
    if unknown:
        raise _fail(path, unknown[0], "is not a devlab setting", f"use only {', '.join(_TOP_LEVEL)}")
    aliases = []
    for name, entry in _table(path, data, "devices").items():
        key = f"devices.{name}"
        if not isinstance(entry, dict):
            raise _fail(path, key, "must be a table", f'write `[{key}]` then `model = "SM-S918*"`')
        extra = sorted(set(entry) - {"model", "serial"})
        if extra:
            raise _fail(path, f"{key}.{extra[0]}", "is not a device setting", "use model and/or serial")
        for field in ("model", "serial"):
            if field in entry and (not isinstance(entry[field], str) or not entry[field].strip()):
                raise _fail(path, f"{key}.{field}", "must be a non-empty string", f'write {field} = "..."')
        if "model" not in entry and "serial" not in entry:
            raise _fail(path, key, "names neither model nor serial", 'add model = "SM-S918*" or serial = "..."')
        aliases.append(DeviceAlias(name, entry.get("model"), entry.get("serial")))
    binaries: dict[str, str] = {}
    for abi, raw in _table(path, data, "benchmark_model").items():
        if not isinstance(raw, str) or not raw.strip():
            raise _fail(path, f"benchmark_model.{abi}", "must be a path string", f'write {abi} = "path/to/binary"')
        binary = Path(raw).expanduser()
        binaries[abi] = str(binary if binary.is_absolute() else path.parent / binary)
    adb = _table(path, data, "adb")
    extra = sorted(set(adb) - {"servers"})
    if extra:
        raise _fail(path, f"adb.{extra[0]}", "is not an adb setting", "use servers")
    servers = adb.get("servers", [])
    if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
        raise _fail(path, "adb.servers", "must be a list of \"host:port\" strings", 'write servers = ["host:5037"]')
    return Config(path=path, devices=tuple(aliases), benchmark_model=binaries or None, adb_servers=tuple(servers),
                  farm=_farm(path, _table(path, data, "farm")))


def _farm(path: Path, farm: dict[str, Any]) -> FarmSettings:
    extra = sorted(set(farm) - {"check_outputs", "inputs"})
    if extra:
        raise _fail(path, f"farm.{extra[0]}", "is not a farm setting", "use check_outputs and/or inputs")
    check = farm.get("check_outputs", False)
    if not isinstance(check, bool):
        raise _fail(path, "farm.check_outputs", f"must be true or false (got {check!r})",
                    "write check_outputs = true (no quotes)")
    raw = farm.get("inputs")
    if raw is not None and (not isinstance(raw, str) or not raw.strip()):
        raise _fail(path, "farm.inputs", "must be a path string", 'write inputs = "path/to/inputs.npz"')
    inputs = None
    if raw is not None:
        given = Path(raw).expanduser()
        inputs = given if given.is_absolute() else path.parent / given
    return FarmSettings(check_outputs=check or inputs is not None, inputs=inputs, config_path=path)
