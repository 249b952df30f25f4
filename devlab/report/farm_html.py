"""The farm's report.html: every phone side by side with the parts of a run's report — a table of each device x
variant (median or mean, with its source, and the output check's verdict where the farm ran one), every phone's
trace run (per-inference distribution, GPU clock, hottest thermal zone), then per device
its headline and its time breakdown as stacked bars, with a link to the device's own report. Built from farm.json
and the devices' run.json records only."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from devlab.fsutil import atomic_write_text
from devlab.report.html import REPORT_HTML, breakdown_section, headline_section, page
from devlab.report.html_parts import src, table
from devlab.report.invoke_html import farm_invokes


def write_farm_report(farm_dir: Path, farm: dict[str, Any], records: dict[str, dict[str, Any] | None]) -> Path:
    """farm_dir/report.html from farm.json's content and each device's run.json (by device name; None: failed)."""
    path = farm_dir / REPORT_HTML
    atomic_write_text(path, render_farm(farm, records))
    return path


def render_farm(farm: dict[str, Any], records: dict[str, dict[str, Any] | None]) -> str:
    devices = farm["devices"]
    title = f"farm {farm['run_id']}: {len(devices)} device(s)"
    body = [f"<h1>{escape(title)}</h1>",
            f'<p class="sub">created {escape(str(farm.get("created")))} · '
            f'{"every device ok" if farm.get("ok") else "some devices or variants failed"}</p>']
    if any(d.get("simulated") for d in devices):
        body.append('<div class="banner simulated" id="simulated-banner">SIMULATED phones in this farm: their '
                    "timings come from the simulator's cost model, not from phones.</div>")
    body += ['<h2 id="side-by-side">Side by side</h2>', _matrix(devices)]
    body += farm_invokes(records)
    for d in devices:
        name = escape(d["device"])
        link = (f' · <a href="{escape(d["run_dir"])}/{REPORT_HTML}">its report</a>' if d.get("run_dir") else "")
        body.append(f'<h2 id="device-{name}">{name} ({escape(str(d.get("model")))}): {escape(d["status"])}'
                    f'{link}</h2>')
        if d.get("error"):
            body.append(f'<p class="error">{escape(d["error"])}</p>')
        record = records.get(d["device"])
        if record:
            body += headline_section(record)
            body += breakdown_section(record)[1:]
    return page(title, "\n".join(body))


def _matrix(devices: list[dict[str, Any]]) -> str:
    keys = list(dict.fromkeys(f'{c["variant"]} on {c["accelerator"]}' for d in devices for c in d["variants"]))
    rows = []
    for d in devices:
        cells = {f'{c["variant"]} on {c["accelerator"]}': c for c in d["variants"]}
        out = [f'<td>{escape(d["device"])}</td>']
        for key in keys:
            cell = cells.get(key)
            if cell is None:
                out.append("<td>-</td>")
            elif cell["status"] != "ok":
                out.append(f'<td class="error" title="{escape(str(cell.get("error") or ""))}">'
                           f'{escape(cell["status"])}</td>')
            else:
                value = cell["median_ms"] if cell.get("median_ms") is not None else cell.get("mean_ms")
                shown = "-" if value is None else f"{value:.3f}"
                out.append(f'<td class="num" data-v="{value}">{shown} {src(cell.get("source"))}'
                           f'{_numerics(cell.get("numerics"))}</td>')
        rows.append(f'<tr id="farm-{escape(d["device"])}">{"".join(out)}</tr>')
    return table(["device", *[f"{k} (ms)" for k in keys]], rows) or '<p class="sub">No device ran.</p>'


def _numerics(numerics: dict[str, Any] | None) -> str:
    """farm.json's short form of a row's output check (devlab.farm.farm._numerics_cell); exceeded rows in red."""
    if not numerics:
        return ""
    status = str(numerics["status"])
    if status == "unavailable":
        return (f'<div class="numerics unavailable" title="{escape(str(numerics.get("reason") or ""))}">'
                "numerics unavailable</div>")
    worst = numerics.get("worst_rel_error")
    figure = "non-finite" if numerics.get("non_finite") else ("-" if worst is None else f"{worst:.2g}")
    return (f'<div class="numerics {escape(status)}" title="worst relative error of an output vs the fp32 '
            f'reference">numerics {escape(status)} · {figure}</div>')
