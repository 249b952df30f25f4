"""`devlab devices`: what devlab can run on."""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import typer
from rich.table import Table

from devlab.cli.app import app
from devlab.cli.common import console, emit_json


@app.command("devices")
def devices_command(
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
    adb_server: list[str] = typer.Option([], "--adb-server", help="More adb servers, host:port (repeatable)."),
    adb: Optional[str] = typer.Option(None, "--adb", help="adb binary for the local server (default: adbutils')."),
) -> None:
    """List devices: this machine (host) and every phone on the adb servers (simulated ones say so)."""
    from devlab.devices.resolve import AdbOptions, list_devices
    infos = list_devices(AdbOptions(servers=tuple(adb_server), adb_binary=adb))
    if json_out:
        emit_json([asdict(info) for info in infos])
        return
    table = Table(title="devices", title_justify="left")
    for column in ("serial", "alias", "model", "SoC / board", "GPU", "ABI", "Android", "battery", "thermal",
                   "simulated"):
        table.add_column(column)
    for info in infos:
        battery = "-" if info.battery_level is None else f"{info.battery_level}%" + (
            f" {info.battery_temp_c:.1f}°C" if info.battery_temp_c is not None else "")
        soc = " / ".join(part for part in (info.soc, info.board) if part) or "-"
        table.add_row(info.serial, info.alias or "-", info.model or info.extra.get("state", "-"), soc,
                      info.gpu or "none (no GPU adapter)", info.abi, info.android_version or "-", battery,
                      info.thermal_status or "-", "yes" if info.simulated else "no")
    console.print(table)
