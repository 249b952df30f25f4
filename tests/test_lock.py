"""The environment the tests run in is exactly requirements.lock: every locked package at its locked version and
nothing else beside devlab and pip. A fresh machine running `make` gets what CI tested (docs/dependencies.md)."""

from __future__ import annotations

import re
from importlib import metadata

from cli_helpers import REPO

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()   # PEP 503


def _locked() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        match = _PIN.match(line)
        if match:
            pins[_normalized(match.group(1))] = match.group(2)
    return pins


def test_the_lock_pins_every_package_with_hashes():
    text = (REPO / "requirements.lock").read_text()
    pins = _locked()
    assert {"adbutils", "typer", "tensorflow-cpu", "ai-edge-litert", "perfetto", "pytest"} <= set(pins)
    assert text.count("--hash=sha256:") >= len(pins)   # pip --require-hashes refuses an unhashed pin


def test_installed_versions_equal_the_lock():
    pins = _locked()
    installed = {_normalized(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {name: (pinned, installed.get(name)) for name, pinned in pins.items() if installed.get(name) != pinned}
    assert not wrong, f"installed differs from requirements.lock (locked, installed): {wrong} — run `make clean test`"
    extra = set(installed) - set(pins) - {"devlab", "pip"}
    assert not extra, f"installed but not in requirements.lock: {sorted(extra)} — run `make clean test`"
