"""report.html: each thermal zone's temperature over a phone's trace run (`kernels.temperatures` in run.json, from
the kernel's `thermal/thermal_temperature` ftrace events; devlab.trace.attribution.ZoneTemperature)."""

from __future__ import annotations

from html import escape
from typing import Any

from devlab.report.html_parts import num, src, table
from devlab.report.svg import lines_svg

ZONES_DRAWN = 6     # the hottest zones get a line each; the table lists every zone
THERMAL_EVENT = "thermal/thermal_temperature"


def temperatures_section(zones: list[dict[str, Any]] | None, refused: list[str] | None = None) -> list[str]:
    """The zones' table and lines; without zones, why not (the phone's own refusal where the trace says it)."""
    if not zones:
        why = next((line for line in refused or [] if line.startswith(THERMAL_EVENT)), None)
        if why is not None:
            return [f'<p class="sub temperatures-refused">Temperatures: not recorded: the phone refused {escape(why)}.'
                    "</p>"]
        return ['<p class="sub">Temperatures: not recorded in this run (needs a trace with the kernel\'s '
                f"{THERMAL_EVENT} events).</p>"]
    rows = [f'<tr class="zone" data-zone="{escape(z["zone"])}"><td>{escape(z["zone"])}</td>{num(z.get("min_c"), 1)}'
            f'{num(z.get("mean_c"), 1)}{num(z.get("max_c"), 1)}'
            f'{num(None if z.get("max_c") is None else z["max_c"] - z["min_c"], 1)}{num(z.get("samples"))}'
            f'<td>{src(z.get("source"))}</td></tr>' for z in zones]
    drawn = [(z["zone"], [(float(t), float(c)) for t, c in z.get("series") or []]) for z in zones[:ZONES_DRAWN]]
    chart = lines_svg(drawn, x_unit="seconds", y_unit="°C", title="Thermal zones over the trace run, °C",
                      y_from_zero=False)
    return ['<div class="temperatures"><h3>Temperatures over the run</h3>',
            table(["zone", "min °C", "mean °C", "max °C", "rise °C", "readings", "source"], rows, sortable=False),
            chart or '<p class="sub">Too few readings per zone to draw.</p>', "</div>"]
