"""report.html: a phone's per-inference latency, from the trace run's `Invoke@…/0` slices.

A phone's clean run prints a mean and a spread per run of benchmark_model, not each inference; the trace run has a
slice per inference (TFLite's ATrace profiler). Those are a profiled run's (ATrace on, the GPU delegate's
profiling pass, warm-ups included), so this section says so and shows the clean mean beside them, never in place of
it. Read from `kernels.invoke_latency` (devlab.trace.attribution.InvokeLatency) in run.json.
"""

from __future__ import annotations

from html import escape
from typing import Any

from devlab.report.html_parts import num, src, table
from devlab.report.svg import Distribution, distributions_svg, series_svg

HEADERS = ["variant", "Invokes", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms", "source", "clean mean ms",
           "profiled / clean"]


def _label(variant: dict[str, Any]) -> str:
    return f"{variant['variant']} on {variant['accelerator']}"


def _samples(latency: dict[str, Any]) -> tuple[float, ...]:
    return tuple(float(x) for x in latency.get("samples_ms") or ())


def _key(variant: dict[str, Any]) -> str:
    """The row's DOM key: a variant runs on more than one accelerator."""
    return escape(f"{variant['variant']}-{variant['accelerator']}")


def invoke_section(record: dict[str, Any]) -> list[str]:
    """The section, or nothing when no variant was traced."""
    traced = [(v, v["kernels"]["invoke_latency"]) for v in record["variants"]
              if (v.get("kernels") or {}).get("invoke_latency")]
    if not traced:
        return []
    rows, dists, orders = [], [], []
    for variant, inv in traced:
        clean = (variant["kernels"] or {}).get("clean_mean_ms")
        ratio = None if not clean else inv["mean_ms"] / clean
        rows.append(f'<tr class="invoke-row" data-variant="{_key(variant)}" '
                    f'data-count="{inv["count"]}"><td>{escape(_label(variant))}</td>{num(inv["count"])}'
                    f'{num(inv["mean_ms"])}{num(inv["p50_ms"])}{num(inv["p90_ms"])}{num(inv["p99_ms"])}'
                    f'{num(inv["max_ms"])}<td>{src(inv.get("source"))}</td>{num(clean)}'
                    f'{num(ratio, 2, "x")}</tr>')
        samples = _samples(inv)
        dists.append(Distribution(_label(variant), samples, inv.get("source") or "trace"))
        thinned = len(samples) < inv["count"]
        points = [(float(i + 1), ms) for i, ms in enumerate(samples)]
        svg = series_svg(points, x_unit="Invoke, in run order" + (" (evenly thinned)" if thinned else ""),
                         y_unit="ms", title=f"{_label(variant)}: each Invoke of the trace run, ms")
        if svg:
            orders.append(f'<div class="invoke-order" data-variant="{_key(variant)}" '
                          f'data-points="{len(points)}"><h4>{escape(_label(variant))}</h4>{svg}</div>')
    run = escape(traced[0][1].get("run") or "trace run")
    out = ['<section id="invokes"><h3>Per-inference latency on the phone</h3>',
           f'<p class="sub">Each main-graph <code>Invoke</code> of the {run}, from its ATrace slices. A profiled run '
           "is slower than the clean run (the clean mean is beside it); read it for the spread, the warm-up and any "
           "drift, not for the latency.</p>",
           table(HEADERS, rows)]
    chart = distributions_svg(dists)
    if chart:
        out += ['<p class="sub">Every Invoke is a dot; the box spans p25 to p75, the black line is the median.</p>',
                chart]
    if orders:
        out.append('<details class="invoke-orders" open><summary>In run order</summary>' + "".join(orders)
                   + "</details>")
    out.append("</section>")
    return out


def _traced(record: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {_key(v): (v, v["kernels"]["invoke_latency"]) for v in record["variants"]
            if (v.get("kernels") or {}).get("invoke_latency")}


def invoke_comparison(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """`compare --html`: the two runs' per-inference distributions side by side, per variant traced in both."""
    base, cand = _traced(baseline), _traced(candidate)
    common = [key for key in base if key in cand]
    if not common:
        return []
    rows, dists = [], []
    for key in common:
        (variant, b), (_, c) = base[key], cand[key]
        label = _label(variant)
        rows.append(f'<tr class="invoke-delta" data-variant="{key}"><td>{escape(label)}</td>'
                    f'{num(b["p50_ms"])}{num(c["p50_ms"])}{num(c["p50_ms"] - b["p50_ms"])}'
                    f'{num(b["p90_ms"])}{num(c["p90_ms"])}{num(b["max_ms"])}{num(c["max_ms"])}'
                    f'<td>{src(b.get("source"))} → {src(c.get("source"))}</td></tr>')
        dists += [Distribution(f"{label}, baseline", _samples(b), b.get("source") or "trace"),
                  Distribution(f"{label}, candidate", _samples(c), c.get("source") or "trace")]
    out = ['<h2 id="invokes">Per-inference latency on the phone: baseline vs candidate</h2>',
           '<p class="sub">Each main-graph <code>Invoke</code> of each run\'s trace run (a profiled run: read it for '
           "a shift in the whole distribution or only in its tail, not for the latency; the verdicts above come from "
           "the clean runs).</p>",
           table(["variant", "baseline p50 ms", "candidate p50 ms", "p50 delta ms", "baseline p90 ms",
                  "candidate p90 ms", "baseline max ms", "candidate max ms", "sources"], rows)]
    chart = distributions_svg(dists)
    return out + ([chart] if chart else [])


def farm_invokes(records: dict[str, dict[str, Any] | None]) -> list[str]:
    """The farm's report: every phone's trace run side by side — per-inference distribution per variant, with the
    GPU clock and the hottest thermal zone of the same run."""
    rows, dists = [], []
    for device, record in records.items():
        for key, (variant, inv) in _traced(record or {"variants": []}).items():
            kernels = variant["kernels"]
            freq = kernels.get("gpu_frequency") or {}
            hottest = (kernels.get("temperatures") or [None])[0]
            label = f"{_label(variant)} · {device}"
            rows.append(f'<tr class="farm-invokes" data-device="{escape(device)}" data-variant="{key}">'
                        f'<td>{escape(device)}</td><td>{escape(_label(variant))}</td>{num(inv["count"])}'
                        f'{num(inv["p50_ms"])}{num(inv["p90_ms"])}{num(inv["max_ms"])}'
                        f'{num(kernels.get("clean_mean_ms"))}'
                        f'{num(None if freq.get("mean_khz") is None else freq["mean_khz"] / 1000, 0)}'
                        f'<td>{"-" if hottest is None else escape(hottest["zone"])}</td>'
                        f'{num(None if hottest is None else hottest["max_c"], 1)}<td>{src(inv.get("source"))}</td></tr>')
            dists.append(Distribution(label, _samples(inv), inv.get("source") or "trace"))
    if not rows:
        return []
    out = ['<h2 id="invokes">Every phone\'s trace run</h2>',
           '<p class="sub">Each main-graph <code>Invoke</code> of each phone\'s trace run (a profiled run: its spread '
           "and warm-up, not the latency; the clean mean is beside it), with the GPU clock and the hottest thermal "
           "zone over the same run.</p>",
           table(["device", "variant", "Invokes", "p50 ms", "p90 ms", "max ms", "clean mean ms", "GPU MHz (mean)",
                  "hottest zone", "its max °C", "source"], rows)]
    chart = distributions_svg(dists)
    return out + ([chart] if chart else [])
