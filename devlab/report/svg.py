"""Small inline SVG charts for report.html: latency distributions and a time series. No scripts, no network.

Charts are drawn here (not in the browser) so the page shows them with JavaScript off and a text dump of the DOM
(`chromium --dump-dom`) carries every number as a label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from devlab.bench.stats import percentile

_ROW_H = 34
_LEFT = 250
_RIGHT = 24
_WIDTH = 900


@dataclass(frozen=True)
class Distribution:
    label: str               # "fp32 on cpu"
    samples_ms: tuple[float, ...]
    source: str              # provenance of the samples


def _nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    span = max(high - low, 1e-9)
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 0.5:
        if value >= low - 1e-9:
            ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def distributions_svg(rows: list[Distribution]) -> str:
    """One row per variant on a shared ms axis: every sample as a dot, the p25-p75 box and the median."""
    rows = [r for r in rows if r.samples_ms]
    if not rows:
        return ""
    low = min(min(r.samples_ms) for r in rows)
    high = max(max(r.samples_ms) for r in rows)
    pad = (high - low) * 0.05 or max(high * 0.05, 0.001)
    low, high = max(0.0, low - pad), high + pad
    plot_w = _WIDTH - _LEFT - _RIGHT
    height = _ROW_H * len(rows) + 40

    def x(value: float) -> float:
        return _LEFT + (value - low) / (high - low) * plot_w

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>latency per run, ms</title>']
    for tick in _nice_ticks(low, high):
        tx = x(tick)
        parts.append(f'<line class="grid" x1="{tx:.1f}" y1="4" x2="{tx:.1f}" y2="{height - 26}"/>'
                     f'<text class="tick" x="{tx:.1f}" y="{height - 12}" text-anchor="middle">{_fmt(tick)}</text>')
    parts.append(f'<text class="tick" x="{_WIDTH - _RIGHT}" y="{height - 1}" text-anchor="end">ms per inference'
                 f'</text>')
    for i, row in enumerate(rows):
        mid = 4 + i * _ROW_H + _ROW_H / 2
        ordered = sorted(row.samples_ms)
        q1, med, q3 = percentile(ordered, 25), percentile(ordered, 50), percentile(ordered, 75)
        parts.append(f'<text class="label" x="{_LEFT - 8}" y="{mid + 4:.1f}" text-anchor="end">'
                     f'{escape(row.label)} ({escape(row.source)})</text>')
        parts.append(f'<rect class="box" x="{x(q1):.1f}" y="{mid - 9:.1f}" width="{max(x(q3) - x(q1), 1):.1f}" '
                     f'height="18"><title>p25 {q1:.3f} ms, p75 {q3:.3f} ms</title></rect>')
        for j, sample in enumerate(row.samples_ms):
            # A deterministic jitter (golden-ratio sequence) keeps equal samples apart without randomness.
            jitter = ((j * 0.618034) % 1.0 - 0.5) * 14
            parts.append(f'<circle class="dot" cx="{x(sample):.1f}" cy="{mid + jitter:.1f}" r="2.2">'
                         f'<title>run {j + 1}: {sample:.3f} ms</title></circle>')
        parts.append(f'<line class="median" x1="{x(med):.1f}" y1="{mid - 11:.1f}" x2="{x(med):.1f}" '
                     f'y2="{mid + 11:.1f}"><title>median {med:.3f} ms</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def series_svg(points: list[tuple[float, float]], *, x_unit: str, y_unit: str, title: str) -> str:
    """A line chart of (x, y) points, e.g. GPU frequency (MHz) over time (s)."""
    return lines_svg([("", points)], x_unit=x_unit, y_unit=y_unit, title=title)


def lines_svg(lines: list[tuple[str, list[tuple[float, float]]]], *, x_unit: str, y_unit: str, title: str,
              y_from_zero: bool = True) -> str:
    """Several named lines on shared axes (e.g. each thermal zone's °C over time), each labelled at its end;
    y_from_zero=False fits the y axis to the data (temperatures sit far from 0)."""
    lines = [(name, points) for name, points in lines if len(points) >= 2]
    if not lines:
        return ""
    xs = [x for _, points in lines for x, _ in points]
    ys = [y for _, points in lines for _, y in points]
    x_low, x_high = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    if y_from_zero:
        y_low, y_high = 0.0, max(ys) * 1.08 or 1.0
    else:
        pad = (max(ys) - min(ys)) * 0.1 or 0.5
        y_low, y_high = min(ys) - pad, max(ys) + pad
    named = any(name for name, _ in lines)
    right = _RIGHT + (90 if named else 0)
    left, width, height, top, bottom = 70, _WIDTH, 220, 10, 36
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(value: float) -> float:
        return left + (value - x_low) / (x_high - x_low) * plot_w

    def py(value: float) -> float:
        return top + plot_h - (value - y_low) / (y_high - y_low) * plot_h

    parts = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for tick in _nice_ticks(y_low, y_high, 4):
        parts.append(f'<line class="grid" x1="{left}" y1="{py(tick):.1f}" x2="{width - right}" y2="{py(tick):.1f}"/>'
                     f'<text class="tick" x="{left - 6}" y="{py(tick) + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    for tick in _nice_ticks(x_low, x_high, 6):
        parts.append(f'<text class="tick" x="{px(tick):.1f}" y="{height - 18}" text-anchor="middle">{_fmt(tick)}'
                     f'</text>')
    parts.append(f'<text class="tick" x="{width - right}" y="{height - 3}" text-anchor="end">{escape(x_unit)}</text>'
                 f'<text class="tick" x="4" y="{top + 8}">{escape(y_unit)}</text>')
    for index, (name, points) in enumerate(lines):
        path = " ".join(f"{'M' if i == 0 else 'L'}{px(a):.1f},{py(b):.1f}" for i, (a, b) in enumerate(points))
        attrs, label = (f' data-line="{escape(name)}"', f"<title>{escape(name)}</title>") if name else ("", "")
        colour = f" l{index % 6}" if index % 6 else ""
        parts.append(f'<path class="line{colour}" d="{path}"{attrs}>{label}</path>')
        if name:
            x_end, y_end = points[-1]
            parts.append(f'<text class="label" x="{px(x_end) + 4:.1f}" y="{py(y_end) + 4:.1f}">{escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
