"""Rich table of a Comparison for the terminal (compare and gate print the same one)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from devlab.report.compare import Comparison
from devlab.report.run_match import ALLOW_FLAG

TOP_KERNELS = 8


def print_comparison(console: Console, comparison: Comparison) -> None:
    """What was compared anyway, the warnings, then the table."""
    for difference in comparison.differences:
        console.print(f"compared anyway ({ALLOW_FLAG}): {difference}", style="bold yellow", markup=False,
                      soft_wrap=True)
    for warning in comparison.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    console.print(comparison_table(comparison))


def comparison_table(comparison: Comparison) -> Table:
    table = Table(title=f"{comparison.candidate_run} vs baseline {comparison.baseline_run} — "
                        f"{comparison.statistic}, {int(comparison.confidence * 100)} % interval "
                        f"({comparison.method}, seed {comparison.seed})", title_justify="left")
    for column in ("variant", "base ms", "cand ms", "delta ms", "delta %", "interval %", "verdict", "sources"):
        table.add_column(column, justify="right" if ("ms" in column or "%" in column) else "left")
    for d in comparison.variants:
        interval = "-" if d.ci_low_pct is None else f"[{d.ci_low_pct:+.1f}, {d.ci_high_pct:+.1f}]"
        style = {"slower": "bold red", "faster": "green"}.get(d.verdict, "")
        named = d.verdict in ("slower", "faster")     # significant and at least the margin
        verdict = d.verdict + ("*" if named else "") + (f" ({d.note})" if d.note else "")
        table.add_row(d.key, _ms(d.baseline_median_ms), _ms(d.candidate_median_ms), _signed(d.delta_ms),
                      _pct(d.delta_pct), interval, f"[{style}]{_escape(verdict)}[/]" if style else _escape(verdict),
                      f"{d.baseline_source or '-'} / {d.candidate_source or '-'}")
    table.caption = (f"* significant (the interval excludes 0) and at least the ±{comparison.equivalence_margin_pct:g} % "
                     "equivalence margin")
    if comparison.differences:
        table.caption += f"; DIFFERENT models or devices compared anyway ({ALLOW_FLAG})"
    if comparison.kernels:
        ranked = sorted(comparison.kernels, key=lambda k: -abs(k.delta_ms or 0))[:TOP_KERNELS]
        for k in ranked:
            table.add_row(f"  {k.variant}/{k.accelerator} · {_escape(k.kernel)}", _ms(k.baseline_ms),
                          _ms(k.candidate_ms), _signed(k.delta_ms), _pct(k.delta_pct), "-", "kernel (no interval)",
                          k.source)
    return table


def _escape(text: str) -> str:
    return text.replace("[", r"\[")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"
