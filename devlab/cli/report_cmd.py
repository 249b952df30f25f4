"""`devlab report`, `devlab compare` and `devlab gate`: render a run, compare two runs, decide a CI verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from devlab.cli.app import app
from devlab.cli.common import console, emit_json


@app.command("report")
def report_command(
    run_dir: Path = typer.Argument(..., help="A run folder (holding run.json)."),
    model_explorer: Optional[Path] = typer.Option(
        None, "--model-explorer", help="Also write a Model Explorer node-data JSON (per-node latency overlay)."),
    variant: Optional[str] = typer.Option(None, "--variant", help="With --model-explorer: which variant (default: "
                                                                  "the first with a kernel table)."),
    json_out: bool = typer.Option(False, "--json", help="Print what was written as JSON on stdout."),
) -> None:
    """Rebuild RUN/report.html from RUN/run.json (self-contained, opens offline)."""
    from devlab.report.html import write_report
    from devlab.report.run_record import load_run

    record = load_run(run_dir)
    written = {"report": write_report(run_dir, record)}
    if model_explorer is not None:
        from devlab.report.model_explorer import write_node_data
        overlay = write_node_data(record, model_explorer, variant=variant)
        written["model_explorer"] = overlay.path
        console.print(f"model explorer overlay: {overlay.path} ({overlay.nodes} nodes of graph "
                      f"'{overlay.graph_id}', variant {overlay.variant})", markup=False)
    if json_out:
        emit_json({key: str(path) for key, path in written.items()})
    console.print(f"report: {written['report']}", markup=False)


@app.command("compare")
def compare_command(
    run_a: Path = typer.Argument(..., help="Baseline run folder."),
    run_b: Optional[Path] = typer.Argument(None, help="Candidate run folder (default: the newest run under --out of "
                                                      "the baseline's model and device model)."),
    out: Path = typer.Option(Path("traces"), "--out", help="Runs root searched for the default candidate."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level of the intervals."),
    equivalence_margin: str = typer.Option(
        "2%", "--equivalence-margin", help="Smaller changes are 'no change' even when significant, e.g. 2% or 0.02."),
    allow_different_models: bool = typer.Option(
        False, "--allow-different-models", help="Compare runs of different models, graphs or device models anyway "
                                                "(the output says so)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (same seed, same intervals)."),
    json_out: bool = typer.Option(False, "--json", help="Print the comparison as JSON on stdout."),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Also write the comparison as a self-contained "
                                                                "HTML page (opens offline)."),
) -> None:
    """Per-variant and per-kernel deltas of RUN_B against RUN_A, with bootstrap confidence intervals."""
    from devlab.report.compare import compare_runs, parse_fraction
    from devlab.report.compare_console import print_comparison
    from devlab.report.run_record import load_run

    margin = parse_fraction(equivalence_margin, "--equivalence-margin", upper=1.0)
    baseline = load_run(run_a)
    candidate_dir, picked = _candidate(run_a, baseline, run_b, out)
    candidate = load_run(candidate_dir)
    comparison = compare_runs(baseline, candidate, confidence=confidence, seed=seed,
                              equivalence_margin=margin, allow_different_models=allow_different_models)
    print_comparison(console, comparison)
    if html_out is not None:
        from devlab.fsutil import atomic_write_text
        from devlab.report.compare_html import render_comparison
        atomic_write_text(html_out, render_comparison(comparison, baseline, candidate))
        console.print(f"comparison page: {html_out}", markup=False)
    if json_out:
        emit_json({**comparison.to_json(), "candidate": _candidate_json(candidate_dir, picked)})


@app.command("gate")
def gate_command(
    baseline: Path = typer.Option(..., "--baseline", help="Baseline run folder."),
    candidate: Optional[Path] = typer.Option(None, "--candidate", help="Candidate run folder (default: the newest run "
                                             "under --out of the baseline's model and device model)."),
    out: Path = typer.Option(Path("traces"), "--out", help="Runs root searched for the default candidate."),
    max_regression: str = typer.Option("5%", "--max-regression", help="Allowed slowdown, e.g. 5% or 0.05."),
    equivalence_margin: str = typer.Option(
        "2%", "--equivalence-margin", help="Smaller changes are 'no change' even when significant (never wider than "
                                           "--max-regression)."),
    allow_different_models: bool = typer.Option(
        False, "--allow-different-models", help="Gate runs of different models, graphs or device models anyway "
                                                "(the output says so)."),
    confidence: float = typer.Option(0.95, "--confidence"),
    seed: int = typer.Option(0, "--seed"),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write a JUnit XML verdict (one case per device x "
                                                               "variant)."),
    max_numerics_error: Optional[str] = typer.Option(
        None, "--max-numerics-error", help="Also fail a candidate row whose outputs differ from the fp32 reference "
        "by more than this relative error, e.g. 0.01 or 1% (needs a run with --check-outputs)."),
    json_out: bool = typer.Option(False, "--json", help="Print the verdict as JSON on stdout."),
) -> None:
    """Exit 3 when any variant of the candidate is significantly slower than the baseline by more than allowed."""
    from devlab.errors import GateFailed
    from devlab.report.compare import parse_fraction
    from devlab.report.compare_console import print_comparison
    from devlab.report.gate import evaluate_gate, parse_threshold
    from devlab.report.junit import gate_suite, write_junit
    from devlab.report.run_record import load_run

    threshold = parse_threshold(max_regression)
    from devlab.numerics.metrics import parse_error_limit
    numerics_limit = parse_error_limit(max_numerics_error) if max_numerics_error is not None else None
    margin = parse_fraction(equivalence_margin, "--equivalence-margin", upper=1.0)
    baseline_record = load_run(baseline)
    candidate_dir, picked = _candidate(baseline, baseline_record, candidate, out)
    verdict = evaluate_gate(baseline_record, load_run(candidate_dir), threshold, confidence=confidence, seed=seed,
                            equivalence_margin=margin, allow_different_models=allow_different_models,
                            max_numerics_error=numerics_limit)
    print_comparison(console, verdict.comparison)
    if junit is not None:
        write_junit(junit, [gate_suite(verdict)])
        console.print(f"junit: {junit}", markup=False)
    if json_out:
        emit_json({**verdict.to_json(), "candidate": _candidate_json(candidate_dir, picked)})
    if not verdict.passed:
        raise GateFailed(verdict.summary(), "look at the failed variants above (devlab compare BASELINE "
                                            "CANDIDATE shows every delta, devlab numerics bisect finds the op "
                                            "behind an output error), or raise --max-regression / "
                                            "--max-numerics-error",
                         stage="gate")
    console.print(f"gate passed: {verdict.summary()}", markup=False)


def _candidate(baseline: Path, record: dict[str, Any], given: Optional[Path], root: Path) -> tuple[Path, str | None]:
    """The candidate run folder and, when devlab picked it, the line that says which and why (printed here)."""
    if given is not None:
        return given, None
    from devlab.report.run_match import pick_candidate
    pick = pick_candidate(baseline if baseline.is_dir() else baseline.parent, record, root)
    console.print(pick.said, markup=False, soft_wrap=True)   # one line in a CI log, however long the path
    return pick.path, pick.said


def _candidate_json(path: Path, picked: str | None) -> dict[str, Any]:
    return {"path": str(path), "picked": picked is not None, "why": picked}
