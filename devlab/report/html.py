"""report.html: a self-contained page per run folder (inline CSS, JS and SVG; nothing fetched from the network).

Built from run.json alone (the public contract), so `devlab report RUN` rebuilds it for any run folder. Every number
carries its provenance badge; a run on the simulated phone says so at the top, in red.

Kernel tables are read in the shape `dataclasses.asdict(devlab.trace.attribution.KernelTable)` plus `source`
(see `kernels_json` there); GPU frequency over time is drawn when `kernels.gpu_frequency.series` holds
`[seconds, kHz]` pairs, and summarised (min/mean/max) when only those are known.
"""

from __future__ import annotations

from html import escape
from importlib.resources import files
from pathlib import Path
from typing import Any

from devlab import __version__
from devlab.fsutil import atomic_write_text
from devlab.numerics.metrics import worst_rel_error
from devlab.report.delegation_map import delegation_section
from devlab.report.energy_html import energy_section, sustained_section
from devlab.report.headline import BREAKDOWN_PARTS, Headline, breakdowns, headlines
from devlab.report.html_parts import num, src, table
from devlab.report.invoke_html import invoke_section
from devlab.report.run_record import load_run
from devlab.report.svg import Distribution, distributions_svg, series_svg
from devlab.report.thermal_html import temperatures_section

REPORT_HTML = "report.html"
TRACE_SUFFIXES = (".perfetto-trace", ".pftrace", ".trace", ".perfetto", ".pb")
ARTIFACT_SUFFIXES = TRACE_SUFFIXES + (".log", ".txt", ".csv", ".json", ".xml")


def write_report(run_dir: Path, record: dict[str, Any] | None = None) -> Path:
    """Render run_dir/report.html atomically from run_dir/run.json (or the record given) and return its path."""
    data = record if record is not None else load_run(run_dir)
    path = run_dir / REPORT_HTML
    atomic_write_text(path, render_report(data, run_dir))
    return path


def render_report(record: dict[str, Any], run_dir: Path | None = None) -> str:
    device = record["device"]
    name = f"{record['model']['name']} on {device.get('alias') or device['serial']}"
    body = [
        f"<h1>{escape(name)}</h1>",
        f'<p class="sub">run <code>{escape(record["run_id"])}</code> · created {escape(record["created"])} · '
        f'devlab {escape(record.get("devlab_version", "?"))}</p>',
    ]
    if device.get("simulated"):
        body.append('<div class="banner simulated" id="simulated-banner">SIMULATED phone: every timing on this '
                    'page comes from the simulator\'s cost model, not from a phone.</div>')
    body += [f'<div class="banner note">{escape(note)}</div>' for note in record.get("notes", [])]
    body += headline_section(record)
    body += _latency_section(record)
    body += energy_section(record) + sustained_section(record)   # phones with --energy / --sustained
    body += _kernels_section(record)
    body += delegation_section(record)
    body += _environment_section(record)
    body += _artifacts_section(record, run_dir)
    body.append(f"<footer>written by devlab {escape(__version__)} from run.json (schema "
                f"{record['schema_version']}). Sources: measured = timed on the target; op-profile / trace = from a "
                f"profiled run; estimated = derived by devlab; simulated = the simulated phone's cost model.</footer>")
    return page(name, "\n".join(body))


def page(title: str, body: str) -> str:
    assets = files("devlab.report") / "assets"
    css = (assets / "report.css").read_text(encoding="utf-8")
    js = (assets / "report.js").read_text(encoding="utf-8")
    # The CSP forbids every network fetch: the page must work offline and must not phone home.
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>devlab: {escape(title)}</title>"
            f"<style>{css}</style></head>\n<body>\n{body}\n<script>{js}</script>\n</body></html>\n")


def headline_section(record: dict[str, Any]) -> list[str]:
    cards = [_headline_card(h) for h in headlines(record)]
    if not cards:
        return ['<p class="sub" id="headline">No variant was measured in this run.</p>']
    return ['<section class="headline" id="headline">', *cards, "</section>"]


def _headline_card(h: Headline) -> str:
    lines = [f'<div class="acc">{escape(h.accelerator)}: fastest variant</div>',
             f'<div class="big">{escape(h.fastest)} · <span class="ms">{h.fastest_ms:.3f}</span> ms '
             f'{src(h.timing_source)}</div>']
    if h.speedup is None:
        lines.append(f'<div>{"the reference variant itself" if h.reference == h.fastest else "no fp32 / as-is variant to compare with"}</div>')
    else:
        s = h.speedup
        interval = ("no interval (too few runs)" if s.low is None or s.high is None
                    else f"95 %: {s.low:.2f}× – {s.high:.2f}×")
        how = "bootstrap of the medians" if s.method == "bootstrap-median" else "normal approximation on the means"
        lines.append(f'<div class="speedup">{s.speedup:.2f}× vs {escape(str(h.reference))} '
                     f'<span class="sub">({interval}, {how})</span></div>')
    if h.gpu_ops is not None and h.accelerator == "gpu":
        on_gpu, total = h.gpu_ops
        lines.append(f'<div>{100 * on_gpu / total:.0f} % of ops on the GPU ({on_gpu}/{total}) '
                     f'{src(h.gpu_ops_source)}</div>')
    energy = "not recorded" if h.energy_mj is None else f"{h.energy_mj:.3f} mJ / inference {src(h.energy_source)}"
    if h.energy_status not in (None, "ok"):   # an untrusted or missing energy number is never shown plain
        energy = (f'<span class="status {escape(h.energy_status)}">{escape(h.energy_status)}</span>'
                  + ("" if h.energy_mj is None else f" ({energy})") + ' (see <a href="#energy">Energy</a>)')
    lines.append(f'<div class="energy">energy: {energy}</div>')
    lines.append(f"<div>numerics: {escape(h.numerics or 'not checked')}</div>")
    return (f'<div class="card" id="headline-{escape(h.accelerator)}" data-fastest="{escape(h.fastest)}">'
            + "".join(lines) + "</div>")


_SEGMENT_CLASS = {"GPU kernels": "gpu", "CPU fallback": "cpu", "CPU<->GPU copies + sync": "copy",
                  "unattributed": "unattributed"}


def breakdown_section(record: dict[str, Any]) -> list[str]:
    rows = breakdowns(record)
    if not rows:
        return []
    longest = max(b.total_ms for b in rows) or 1.0
    legend = "".join(f'<span><i class="seg {_SEGMENT_CLASS[name]}"></i>{escape(name)}</span>'
                     for name, _ in BREAKDOWN_PARTS)
    out = ['<h3 id="breakdown">Where each variant\'s time goes</h3>', f'<p class="legend">{legend}</p>']
    for b in rows:
        segments = "".join(
            f'<div class="seg {_SEGMENT_CLASS[name]}" style="width:{100 * ms / b.total_ms if b.total_ms else 0:.2f}%" '
            f'title="{escape(name)}: {ms:.3f} ms" data-part="{escape(name)}" data-ms="{ms:.6f}"></div>'
            for name, ms in b.parts if ms > 0)
        out.append(f'<div class="stack-row"><span class="stack-label">{escape(b.label)}</span>'
                   f'<div class="stack" style="width:{60 * b.total_ms / longest:.2f}%">{segments}</div>'
                   f'<span class="num">{b.total_ms:.3f} ms {src(b.source)}</span></div>')
    return out


def _variant_label(variant: dict[str, Any]) -> str:
    return f"{variant['variant']} on {variant['accelerator']}"


def _latency_section(record: dict[str, Any]) -> list[str]:
    rows, dists = [], []
    # a phone's GPU rows: init with the GPU program cache, cold (first launch) and warm (devlab.bench.gpu_cache)
    cache = any("init_cold_ms" in (v.get("timing") or {}) for v in record["variants"])
    for v in record["variants"]:
        timing = v.get("timing")
        label = escape(_variant_label(v))
        if not timing:
            rows.append(f'<tr id="latency-{escape(v["variant"])}-{escape(v["accelerator"])}"><td>{label}</td>'
                        f'<td>{escape(v["status"])}</td><td colspan="{12 if cache else 10}" class="error">'
                        f'{escape(v.get("error") or "")}</td></tr>')
            continue
        lat = timing["latency_ms"]
        rows.append(f'<tr id="latency-{escape(v["variant"])}-{escape(v["accelerator"])}"><td>{label}</td>'
                    f'<td>{escape(v["status"])}</td>{num(lat["mean_ms"])}{num(lat["median_ms"])}{num(lat["p90_ms"])}'
                    f'{num(lat["min_ms"])}{num(lat["max_ms"])}{num(lat["std_ms"])}{num(lat["count"])}'
                    f'{num(timing.get("init_ms"))}{_cache_cells(v) if cache else ""}<td>{src(timing["source"])}</td>'
                    f'{_numerics_cell(v)}</tr>')
        dists.append(Distribution(_variant_label(v), tuple(lat.get("samples_ms") or ()), timing["source"]))
    out = ["<h2 id=\"latency\">Latency per variant</h2>",
           table(["variant", "status", "mean ms", "median ms", "p90 ms", "min ms", "max ms", "std ms", "runs",
                  "init ms", *(["cold init ms", "warm init ms"] if cache else []), "source", "numerics"], rows)]
    chart = distributions_svg(dists)
    if chart:
        out += ["<h3>Distribution of the timed runs</h3>",
                '<p class="sub">Every timed run is a dot; the box spans p25 to p75, the black line is the median.</p>',
                chart]
    return out + invoke_section(record)


def _cache_cells(v: dict[str, Any]) -> str:
    """Cold and warm init, each with its source badge; a missing one says why (extra.gpu_cache) on hover."""
    timing, block = v["timing"], (v.get("extra") or {}).get("gpu_cache") or {}
    cells = []
    for key, part in (("init_cold_ms", "cold"), ("init_warm_ms", "warm")):
        value = timing.get(key)
        if value is None:
            why = (block.get(part) or {}).get("reason") or block.get("reason") or block.get("error") or ""
            cells.append(f'<td class="num" data-v="" title="{escape(why)}">-</td>')
        else:
            cells.append(f'<td class="num" data-v="{value}">{value:.3f} {src(timing["source"])}</td>')
    return "".join(cells)


def _numerics_cell(v: dict[str, Any]) -> str:
    """--check-outputs: status and worst output relative error vs the fp32 reference; exceeded rows in red."""
    numerics = v.get("numerics")
    if not numerics:
        return '<td class="numerics">not checked</td>'
    status = str(numerics.get("status"))
    if status == "unavailable":
        return f'<td class="numerics unavailable" title="{escape(str(numerics.get("reason", "")))}">unavailable</td>'
    worst = worst_rel_error(numerics)
    figure = "non-finite" if worst == float("inf") else f"{worst:.2g}"
    return (f'<td class="numerics {escape(status)}" title="worst relative error of an output vs the fp32 reference">'
            f'{escape(status)} · {figure} {src(str(numerics.get("source")))}</td>')


def _kernels_section(record: dict[str, Any]) -> list[str]:
    with_kernels = [v for v in record["variants"] if v.get("kernels")]
    if not with_kernels:
        return ["<h2 id=\"kernels\">Kernels</h2>",
                '<p class="sub">No kernel attribution in this run: it needs an op-profile run or a trace '
                "(phones: <code>devlab run --device PHONE</code>).</p>"]
    out = ["<h2 id=\"kernels\">Kernels: where the latency went</h2>", *breakdown_section(record)]
    for v in with_kernels:
        out += _kernel_table(v)
    return out


KERNEL_HEADERS = ["kernel / op", "unit", "kind", "calls", "ms / inference", "share", "", "source", "TFLite ops"]
KERNEL_ROWS_SHOWN = 15


def _kernel_table(variant: dict[str, Any]) -> list[str]:
    k = variant["kernels"]
    rows_data = sorted(k.get("rows", []), key=lambda r: -(r.get("ms_per_inference") or 0))
    peak = max((r.get("ms_per_inference") or 0 for r in rows_data), default=0) or 1.0
    rows = []
    for r in rows_data:
        ms = r.get("ms_per_inference")
        unit = r.get("unit") or "-"
        width = 100 * (ms or 0) / peak
        ops = ", ".join(f"{op}@{node}" for node, op in (r.get("ops") or [])[:6])
        ops += " …" if len(r.get("ops") or []) > 6 else ""
        share = r.get("share")
        rows.append(f'<tr><td>{escape(r.get("kernel", ""))}</td><td>{escape(unit)}</td><td>{escape(r.get("kind", ""))}'
                    f'</td>{num(r.get("calls_per_inference"), 2)}{num(ms)}'
                    f'{num(None if share is None else 100 * share, 1, " %")}'
                    f'<td class="barcell"><div class="bar {escape(unit if unit in ("GPU", "CPU") else "other")}" '
                    f'style="width:{width:.1f}%"></div></td><td>{src(r.get("source"))} from {src(r.get("basis"))}'
                    f'</td><td>{escape(ops)}</td></tr>')
    clean = k.get("clean_mean_ms")
    out = [f"<h3 id=\"kernels-{escape(variant['variant'])}-{escape(variant['accelerator'])}\">"
           f"{escape(_variant_label(variant))}</h3>",
           f'<p class="sub">Shares from the {escape(str(k.get("basis")))} run, scaled to the clean mean '
           f'{"-" if clean is None else f"{clean:.3f}"} ms {src(k.get("clean_source"))} '
           f'(scale {k.get("scale") if k.get("scale") is None else round(k["scale"], 4)}); rows sum to the clean '
           f'mean. Table {src(k.get("source"))}.</p>',
           table(KERNEL_HEADERS, rows[:KERNEL_ROWS_SHOWN])]
    if len(rows) > KERNEL_ROWS_SHOWN:
        # a graph split by the CPU fallback has a row per stray op: keep the page readable, lose nothing
        rest = rows_data[KERNEL_ROWS_SHOWN:]
        rest_ms = sum(r.get("ms_per_inference") or 0 for r in rest)
        rest_share = sum(r.get("share") or 0 for r in rest)
        out.append(f'<details class="more-kernels"><summary>{len(rest)} more rows: {rest_ms:.3f} ms, '
                   f'{100 * rest_share:.1f} % of the inference</summary>'
                   f'{table(KERNEL_HEADERS, rows[KERNEL_ROWS_SHOWN:])}</details>')
    out += [f'<div class="banner note">{escape(note)}</div>' for note in k.get("notes", [])]
    out += _gpu_frequency(k.get("gpu_frequency"))
    out += temperatures_section(k.get("temperatures"), ((variant.get("extra") or {}).get("trace") or {}).get("refused"))
    return out


def _gpu_frequency(freq: dict[str, Any] | None) -> list[str]:
    if not freq:
        return ['<p class="sub">GPU frequency: not recorded in this run (needs a trace with the gpufreq counter).</p>']
    mhz = {key: None if freq.get(key) is None else freq[key] / 1000 for key in ("min_khz", "mean_khz", "max_khz")}
    throttled = freq.get("throttled")
    verdict = "unknown (too few samples)" if throttled is None else ("yes" if throttled else "no")
    out = ["<h3>GPU frequency over the run</h3>",
           table(["min MHz", "mean MHz", "max MHz", "samples", "throttled", "source"],
                 [f'<tr>{num(mhz["min_khz"], 0)}{num(mhz["mean_khz"], 0)}{num(mhz["max_khz"], 0)}'
                  f'{num(freq.get("samples"))}<td>{escape(verdict)}</td><td>{src(freq.get("source"))}</td></tr>'],
                 sortable=False)]
    series = [(float(t), float(khz) / 1000) for t, khz in freq.get("series") or []]
    chart = series_svg(series, x_unit="seconds", y_unit="MHz", title="GPU frequency, MHz")
    out.append(chart or '<p class="sub">No per-sample series stored: min/mean/max only.</p>')
    return out


def _environment_section(record: dict[str, Any]) -> list[str]:
    device = record["device"]
    shown = ["serial", "alias", "kind", "model", "manufacturer", "soc", "board", "gpu", "abi", "android_version",
             "sdk", "simulated", "battery_level", "battery_temp_c", "thermal_status"]
    device_rows = [f"<tr><th>{escape(key)}</th><td>{escape(str(device.get(key)))}</td></tr>"
                   for key in shown if device.get(key) not in (None, "")]
    device_rows += [f"<tr><th>{escape(key)}</th><td>{escape(str(value))}</td></tr>"
                    for key, value in (device.get("extra") or {}).items()]
    tool_rows = [f"<tr><th>{escape(key)}</th><td><code>{escape(_flat(value))}</code></td></tr>"
                 for key, value in record.get("tools", {}).items()]
    setting_rows = [f"<tr><th>{escape(key)}</th><td>{escape(_flat(value))}</td></tr>"
                    for key, value in record.get("settings", {}).items()]
    return ["<h2 id=\"environment\">Device, tools and settings</h2>",
            "<h3>Device</h3>", table(["field", "value"], device_rows, sortable=False, cls="kv"),
            "<h3>Tool revisions</h3>", table(["tool", "revision"], tool_rows, sortable=False, cls="kv"),
            "<h3>Settings</h3>", table(["setting", "value"], setting_rows, sortable=False, cls="kv")]


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(_flat(v) for v in value)
    return str(value)


def _artifacts_section(record: dict[str, Any], run_dir: Path | None) -> list[str]:
    """Links (relative to the run folder) to every log and trace, so the page and its raw data travel together."""
    linked: dict[str, str] = {}
    for v in record["variants"]:
        for name, rel in (v.get("logs") or {}).items():
            linked[rel] = f"{_variant_label(v)}: {name}"
    if run_dir is not None and run_dir.is_dir():
        for path in sorted(run_dir.rglob("*")):
            rel = path.relative_to(run_dir).as_posix()
            if path.is_file() and path.name.endswith(ARTIFACT_SUFFIXES) and rel not in linked \
                    and path.name not in (REPORT_HTML,):
                linked[rel] = "trace" if path.name.endswith(TRACE_SUFFIXES) else "file"
    rows = [f'<tr><td><a href="{escape(rel)}">{escape(rel)}</a></td><td>{escape(what)}</td>'
            f'<td>{"open in ui.perfetto.dev (drag the file in)" if rel.endswith(TRACE_SUFFIXES) else ""}</td></tr>'
            for rel, what in sorted(linked.items())]
    return ["<h2 id=\"artifacts\">Traces and raw logs</h2>",
            table(["file", "what", ""], rows) or '<p class="sub">No files besides run.json.</p>']
