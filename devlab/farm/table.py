"""The per-device table of a farm run for the terminal."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from devlab.farm.farm import FarmOutcome, farm_json


def farm_table(outcome: FarmOutcome) -> Table:
    data = farm_json(outcome)
    keys = []
    for row in data["devices"]:
        keys += [f"{c['variant']}/{c['accelerator']}" for c in row["variants"]
                 if f"{c['variant']}/{c['accelerator']}" not in keys]
    table = Table(title=f"farm {data['run_id']}: ms per inference (median, else mean) per device", title_justify="left")
    for column in ["device", "model", "status", *keys]:
        table.add_column(column, justify="right" if "/" in column else "left")
    for row in data["devices"]:
        cells = {f"{c['variant']}/{c['accelerator']}": c for c in row["variants"]}
        values = []
        for key in keys:
            cell = cells.get(key)
            if cell is None:
                values.append("-")
            elif cell["status"] != "ok":
                values.append(f"[red]{cell['status']}[/]")
            else:
                ms = cell["median_ms"] if cell["median_ms"] is not None else cell["mean_ms"]
                numerics = cell.get("numerics") or {}
                check = {"ok": ", numerics ok", "exceeded": ", [red]numerics exceeded[/]",
                         "unavailable": ", numerics unavailable"}.get(numerics.get("status"), "")
                values.append(("-" if ms is None else f"{ms:.3f} ({cell['source']})") + check)
        name = row["device"] + (" [sim]" if row["simulated"] else "")
        status = row["status"] if not row["error"] else f"failed: {row['error'][:60]}"
        table.add_row(escape(name), escape(row["model"] or "-"), escape(status), *values)
    return table
