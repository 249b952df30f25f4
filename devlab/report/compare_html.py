"""`devlab compare A B --html PAGE`: the comparison as a self-contained page, with the same parts as a run's
report.html: each run's headline, the per-variant deltas with their intervals and verdicts, each run's time
breakdown as stacked bars, phones' per-inference distributions side by side, and the per-kernel deltas (top rows, the rest folded). Built from the Comparison and the
two run.json records only; nothing is fetched."""

from __future__ import annotations

from html import escape
from typing import Any

from devlab.report.compare import Comparison, KernelDelta, VariantDelta
from devlab.report.html import breakdown_section, headline_section, page
from devlab.report.html_parts import num, src, table
from devlab.report.invoke_html import invoke_comparison

KERNEL_ROWS_SHOWN = 15
_VERDICT_CLASS = {"slower": "error", "faster": "better"}


def render_comparison(comparison: Comparison, baseline: dict[str, Any], candidate: dict[str, Any]) -> str:
    title = f"{comparison.candidate_run} vs {comparison.baseline_run}"
    body = [f"<h1>{escape(title)}</h1>",
            f'<p class="sub">baseline <code>{escape(comparison.baseline_run)}</code> on '
            f'{escape(comparison.baseline_device)} · candidate <code>{escape(comparison.candidate_run)}</code> on '
            f'{escape(comparison.candidate_device)} · {escape(comparison.statistic)}, {escape(comparison.method)}, '
            f'{100 * comparison.confidence:g} % intervals, changes under {comparison.equivalence_margin_pct:g} % '
            f'are "no change"</p>']
    if any((r.get("device") or {}).get("simulated") for r in (baseline, candidate)):
        body.append('<div class="banner simulated" id="simulated-banner">SIMULATED phone in this comparison: its '
                    "timings come from the simulator's cost model, not from a phone.</div>")
    if comparison.allow_different_models:
        body += [f'<div class="banner note">compared anyway (--allow-different-models): {escape(d)}</div>'
                 for d in comparison.differences]
    body += [f'<div class="banner note">warning: {escape(w)}</div>' for w in comparison.warnings]
    for label, record in (("baseline", baseline), ("candidate", candidate)):
        body += [f'<h2 id="headline-{label}">{label}: {escape(record["run_id"])}</h2>', *headline_section(record)]
    body += ['<h2 id="deltas">Per variant</h2>', _variant_table(comparison.variants)]
    for label, record in (("baseline", baseline), ("candidate", candidate)):
        bars = breakdown_section(record)
        if bars:
            body += [f'<h2 id="breakdown-{label}">{label}: where the time goes</h2>', *bars[1:]]
    body += invoke_comparison(baseline, candidate)
    body += _kernel_section(comparison.kernels)
    return page(title, "\n".join(body))


def _variant_table(deltas: tuple[VariantDelta, ...]) -> str:
    rows = []
    for d in deltas:
        interval = ("-" if d.ci_low_pct is None or d.ci_high_pct is None
                    else f"{d.ci_low_pct:+.1f} % … {d.ci_high_pct:+.1f} %")
        verdict = escape(d.verdict) + ("*" if d.significant else "")
        rows.append(f'<tr id="delta-{escape(d.variant)}-{escape(d.accelerator)}"><td>{escape(d.key)}</td>'
                    f'{num(d.baseline_median_ms)}{num(d.candidate_median_ms)}{num(d.delta_ms)}'
                    f'{num(d.delta_pct, 1, " %")}<td class="num">{escape(interval)}</td>'
                    f'<td class="{_VERDICT_CLASS.get(d.verdict, "")}">{verdict}</td><td>{escape(d.method)}</td>'
                    f'<td>{src(d.baseline_source)} → {src(d.candidate_source)}</td>'
                    f'<td>{escape(d.note or "")}</td></tr>')
    return table(["variant", "baseline ms", "candidate ms", "delta ms", "delta", "interval", "verdict", "method",
                  "sources", "note"], rows) or '<p class="sub">No variant in common.</p>'


def _kernel_section(kernels: tuple[KernelDelta, ...]) -> list[str]:
    if not kernels:
        return ['<h2 id="kernel-deltas">Per kernel</h2>',
                '<p class="sub">No kernel tables in common (phones: op-profile or trace runs).</p>']
    ranked = sorted(kernels, key=lambda k: -abs(k.delta_ms or 0.0))
    rows = [f'<tr><td>{escape(k.variant)}/{escape(k.accelerator)}</td><td>{escape(k.kernel)}</td>'
            f'{num(k.baseline_ms)}{num(k.candidate_ms)}{num(k.delta_ms)}{num(k.delta_pct, 1, " %")}'
            f'<td>{src(k.source)}</td></tr>' for k in ranked]
    headers = ["variant", "kernel / op", "baseline ms", "candidate ms", "delta ms", "delta", "source"]
    out = ['<h2 id="kernel-deltas">Per kernel (largest changes first; no intervals: op profiles print means)</h2>',
           table(headers, rows[:KERNEL_ROWS_SHOWN])]
    if len(rows) > KERNEL_ROWS_SHOWN:
        out.append(f'<details class="more-kernels"><summary>{len(rows) - KERNEL_ROWS_SHOWN} more rows</summary>'
                   f'{table(headers, rows[KERNEL_ROWS_SHOWN:])}</details>')
    return out
