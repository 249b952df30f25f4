"""`devlab devices`: what devlab can run on."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from devlab.cli.app import app
from devlab.cli.common import console, emit_json


@app.command("devices")
def devices_command(json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout.")) -> None:
    """List devices: this machine (host) and attached phones."""
    from devlab.devices.resolve import list_devices
    infos = list_devices()
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
        table.add_row(info.serial, info.alias or "-", info.model, info.soc or info.board,
                      info.gpu or "none (no GPU adapter)", info.abi, info.android_version or "-", battery,
                      info.thermal_status or "-", "yes" if info.simulated else "no")
    console.print(table)
