"""`devlab doctor --device X`: the preflight for a new phone (devlab/doctor.py), one table or `--json`; exit 1 when a
check fails."""

from __future__ import annotations

from typing import Optional

import typer
from rich.table import Table

from devlab.cli.app import app
from devlab.cli.common import console, emit_json

_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red"}


@app.command("doctor")
def doctor_command(
    device: str = typer.Option(..., "--device", "-d", help="The phone: serial, alias (s23) or devlab.toml name."),
    benchmark_model: Optional[str] = typer.Option(None, "--benchmark-model",
                                                  help="benchmark_model binary to check (else env, devlab.toml)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    adb_server: list[str] = typer.Option([], "--adb-server", help="More adb servers, host:port (repeatable)."),
    adb: Optional[str] = typer.Option(None, "--adb", help="adb binary for the local server (default: adbutils')."),
) -> None:
    """Check a phone before the first run: adb, Android, perfetto, free space, benchmark_model, thermal, battery."""
    from devlab.config import load_config
    from devlab.devices.adb import AdbDevice
    from devlab.devices.resolve import AdbOptions, resolve_device
    from devlab.doctor import run_doctor
    from devlab.errors import DeviceError, UsageError
    config = load_config()
    phone = resolve_device(device, AdbOptions(servers=tuple(adb_server), adb_binary=adb), config)
    if not isinstance(phone, AdbDevice):
        raise UsageError(f"`devlab doctor` checks a phone, not {device!r}", "pass --device with a phone's serial or "
                         "alias (`devlab devices` lists them)")
    report = run_doctor(phone, benchmark_model, config.benchmark_model)
    if json_out:
        emit_json(report.to_json())
    label = f"{phone.info.alias} ({phone.serial})" if phone.info.alias else phone.serial
    table = Table(title=f"doctor: {label}" + (" — SIMULATED phone" if phone.info.simulated else ""),
                  title_justify="left")
    for column in ("check", "status", "value", "fix"):
        table.add_column(column, overflow="fold")
    for check in report.checks:
        table.add_row(check.name, f"[{_STYLE[check.status]}]{check.status}[/]", check.value, check.fix)
    console.print(table)
    failed = [c.name for c in report.checks if c.status == "fail"]
    if failed:
        raise DeviceError(f"{len(failed)} check(s) failed: {', '.join(failed)}", "see the fix column above",
                          device=label, stage="doctor")
