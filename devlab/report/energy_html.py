"""report.html's "Energy" and "Sustained performance" sections, from run.json rows' `extra.energy` and
`extra.sustained` blocks (devlab/energy, devlab/sustained). Untrusted or unavailable energy is shown as such, in
red, with its reasons: never as a plain number.
"""

from __future__ import annotations

from html import escape
from typing import Any

from devlab.report.html_parts import num, src, table
from devlab.report.svg import series_svg

_BAR_W, _BAR_LEFT, _BAR_H = 900, 250, 26


def _label(row: dict[str, Any]) -> str:
    return f"{row['variant']} on {row['accelerator']}"


def energy_section(record: dict[str, Any]) -> list[str]:
    rows = [v for v in record.get("variants", []) if (v.get("extra") or {}).get("energy")]
    if not rows:
        return []
    cells, warnings = [], []
    for row in rows:
        energy = row["extra"]["energy"]
        status = energy.get("status", "unavailable")
        moved = ", ".join(f"{r['rail']} ({r['subsystem']})" for r in energy.get("rails", []) if r.get("moved"))
        cells.append(
            f'<tr class="energy-{escape(status)}" data-variant="{escape(row["variant"])}">'
            f"<td>{escape(_label(row))}</td>"
            f'{num(energy.get("mj_per_inference"), 3)}<td>{src(energy.get("source"))}</td>'
            f'<td class="status {escape(status)}">{escape(status)}</td><td>{escape(energy.get("method", "-"))}</td>'
            f'{num(energy.get("run_power_mw"), 1)}{num(energy.get("idle_power_mw"), 1)}'
            f'{num(energy.get("excess_power_mw"), 1)}<td>{escape(moved or "-")}</td></tr>')
        warnings += [f"{_label(row)}: {w}" for w in energy.get("warnings", [])]
    parts = ['<section id="energy"><h2>Energy per inference</h2>',
             '<p class="sub">Perfetto android.power around a clean run (no profiler attached), minus an idle window '
             "of the same length recorded before it: rails that moved where the phone has a power monitor, else "
             "the battery's current x voltage. mJ = excess power x the run's mean latency.</p>",
             table(["variant", "mJ / inference", "source", "status", "method", "run mW", "idle mW", "excess mW",
                    "rails that moved"], cells, cls="energy"),
             _energy_bars(rows)]
    parts += [f'<div class="banner note energy-warning">{escape(w)}</div>' for w in warnings]
    parts.append("</section>")
    return parts


def _energy_bars(rows: list[dict[str, Any]]) -> str:
    """One horizontal bar per variant with a trusted number; untrusted ones are drawn hatched and labelled."""
    values = [(r, r["extra"]["energy"].get("mj_per_inference")) for r in rows]
    values = [(r, v) for r, v in values if isinstance(v, (int, float))]
    if not values:
        return ""
    top = max(v for _, v in values) or 1.0
    height = _BAR_H * len(values) + 12
    parts = [f'<svg class="chart energy-bars" role="img" viewBox="0 0 {_BAR_W} {height}" width="{_BAR_W}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg"><title>mJ per inference</title>']
    for i, (row, value) in enumerate(values):
        energy = row["extra"]["energy"]
        y = 6 + i * _BAR_H
        width = (value / top) * (_BAR_W - _BAR_LEFT - 120)
        trusted = energy.get("status") == "ok"
        parts.append(f'<text class="label" x="{_BAR_LEFT - 8}" y="{y + 16}" text-anchor="end">'
                     f'{escape(_label(row))}</text>'
                     f'<rect class="ebar{"" if trusted else " untrusted"}" fill="{"#3a8f5c" if trusted else "#c0392b"}" '
                     f'x="{_BAR_LEFT}" y="{y + 2}" '
                     f'width="{max(width, 1):.1f}" height="{_BAR_H - 8}" data-mj="{value}">'
                     f'<title>{value:.3f} mJ ({escape(energy.get("source", "?"))})</title></rect>'
                     f'<text class="tick" x="{_BAR_LEFT + width + 6:.1f}" y="{y + 16}">{value:.3f} mJ'
                     f'{"" if trusted else " (" + escape(energy.get("status", "")) + ")"}</text>')
    parts.append("</svg>")
    return "".join(parts)


def sustained_section(record: dict[str, Any]) -> list[str]:
    rows = [v for v in record.get("variants", []) if (v.get("extra") or {}).get("sustained")]
    if not rows:
        return []
    parts = ['<section id="sustained"><h2>Sustained performance</h2>',
             '<p class="sub">The variant back to back for the duration as short clean runs (MLPerf Mobile: runs of '
             "at least 60 s, 5 minutes' wait between runs; devlab waits for thermal status none first). "
             "sustained/peak = the first minute's median latency over the last minute's (1.0 = no slowdown); a phone "
             "that throttles within the first minute shows it against the first points (the cool phone).</p>"]
    for row in rows:
        block = row["extra"]["sustained"]
        points = block.get("points", [])
        label = _label(row)
        parts.append(f'<h3>{escape(label)}</h3>')
        if block.get("error"):
            parts.append(f'<div class="banner note">{escape(block["error"])}</div>')
        cooldown = block.get("cooldown") or {}
        if cooldown.get("cooled") is False:
            parts.append(f'<div class="banner note sustained-warm">started warm: thermal status '
                         f'{escape(str(cooldown.get("status")))} after waiting {cooldown.get("waited_s", 0):.0f} s '
                         "for the phone to cool</div>")
        ratio = block.get("sustained_to_peak")
        parts.append(
            f'<div class="sustained-summary" data-variant="{escape(row["variant"])}" '
            f'data-ratio="{"" if ratio is None else ratio}">'
            f'sustained/peak <b>{"-" if ratio is None else f"{ratio:.3f}"}</b> {src(block.get("source"))} '
            f'(last minute vs the first points: {_ratio(block.get("sustained_to_start"))}) · '
            f'throttling from {_seconds(block.get("throttling_onset_s"))} · slowdown from '
            f'{_seconds(block.get("slowdown_onset_s"))} · worst thermal status '
            f'{escape(str(block.get("max_thermal_status") or "-"))} · {len(points)} points over '
            f'{_seconds(block.get("covered_s"))}</div>')
        curves = [("latency", [(p["t_s"], p["latency_ms"]) for p in points], "ms per inference"),
                  ("gpu-freq", [(p["t_s"], p["gpu_freq_hz"] / 1e6) for p in points if p.get("gpu_freq_hz")],
                   "GPU MHz"),
                  *((kind, [(p["t_s"], p["temperatures_c"][kind]) for p in points
                            if kind in (p.get("temperatures_c") or {})], f"{kind} °C") for kind in ("skin", "gpu"))]
        for name, series, unit in curves:
            svg = series_svg(series, x_unit="s (benchmark time)", y_unit=unit, title=f"{label}: {unit} over time")
            if svg:
                parts.append(f'<div class="sustained-plot" data-curve="{name}" data-points="{len(series)}">{svg}'
                             "</div>")
    parts.append("</section>")
    return parts


def _ratio(value: Any) -> str:
    return "-" if value is None else f"{float(value):.3f}"


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.0f} s"
