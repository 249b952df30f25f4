"""The CI gate: does the candidate run regress against the baseline beyond what is allowed?

A variant fails the gate when its slowdown is significant (the bootstrap interval lies above 0) and its point
estimate exceeds the allowed regression; or when it ran in the baseline and failed or went missing in the candidate.
Noise alone (interval straddling 0) never fails the gate, however large the point estimate.

The comparison's equivalence margin is never wider than the allowed regression, so a slowdown the gate fails is
always one the table calls "slower". Runs of different models, graphs or device models are refused (exit 2) unless
forced, like compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from devlab.errors import UsageError
from devlab.numerics.metrics import worst_rel_error
from devlab.report.compare import DEFAULT_EQUIVALENCE_MARGIN, Comparison, VariantDelta, compare_runs, parse_fraction


@dataclass(frozen=True)
class GateFailure:
    key: str                 # variant/accelerator
    reason: str              # one line, shown in the console, the error and the JUnit failure
    delta_pct: float | None


@dataclass(frozen=True)
class GateVerdict:
    comparison: Comparison
    max_regression: float    # fraction, 0.05 = 5 %
    failures: tuple[GateFailure, ...]
    max_numerics_error: float | None = None   # --max-numerics-error: worst output relative error allowed
    numerics_judged: int = 0                  # candidate rows whose numerics were compared with it

    @property
    def passed(self) -> bool:
        return not self.failures

    def failure_for(self, delta: VariantDelta) -> GateFailure | None:
        return next((f for f in self.failures if f.key == delta.key), None)

    def summary(self) -> str:
        if self.passed:
            numerics = (f"; no output beyond {self.max_numerics_error:g} relative error ({self.numerics_judged} "
                        "checked)" if self.max_numerics_error is not None else "")
            return (f"no variant regressed by more than {self.max_regression * 100:g} % "
                    f"({len(self.comparison.variants)} compared){numerics}")
        return "; ".join(f.reason for f in self.failures)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "max_regression_pct": self.max_regression * 100,
                "max_numerics_error": self.max_numerics_error, "numerics_judged": self.numerics_judged,
                "failures": [asdict(f) for f in self.failures], "summary": self.summary(),
                "comparison": self.comparison.to_json()}


def parse_threshold(text: str) -> float:
    """'5%' -> 0.05, '0.05' -> 0.05."""
    return parse_fraction(text, "--max-regression", upper=10.0)


def evaluate_gate(baseline: dict[str, Any], candidate: dict[str, Any], max_regression: float, *,
                  confidence: float = 0.95, seed: int = 0, equivalence_margin: float = DEFAULT_EQUIVALENCE_MARGIN,
                  allow_different_models: bool = False, max_numerics_error: float | None = None) -> GateVerdict:
    comparison = compare_runs(baseline, candidate, confidence=confidence, seed=seed,
                              equivalence_margin=min(equivalence_margin, max_regression),
                              allow_different_models=allow_different_models)
    failures = [failure for delta in comparison.variants
                if (failure := _judge(delta, max_regression, comparison)) is not None]
    judged = 0
    if max_numerics_error is not None:
        numerics_failures, judged = _judge_numerics(candidate, max_numerics_error, comparison.candidate_device)
        failures += numerics_failures
    return GateVerdict(comparison, max_regression, tuple(failures), max_numerics_error, judged)


def _judge_numerics(candidate: dict[str, Any], limit: float, device: str) -> tuple[list[GateFailure], int]:
    """A candidate row whose worst output relative error (devlab.numerics) is beyond `limit`, or non-finite where
    the reference is finite, fails. A run that checked no outputs cannot pass a numerics gate (exit 2)."""
    rows = [row for row in candidate.get("variants", [])
            if (row.get("numerics") or {}).get("status") in ("ok", "exceeded")]
    if not rows:
        raise UsageError("--max-numerics-error: the candidate run has no output check (no row's numerics is ok or "
                         "exceeded)", "run the candidate with `devlab run --check-outputs` (classic benchmark_model "
                         "on phones), or leave out --max-numerics-error")
    failures = []
    for row in rows:
        worst = worst_rel_error(row["numerics"])
        if worst > limit:
            key = f"{row['variant']}/{row['accelerator']}"
            said = "non-finite outputs (fp16 overflow?)" if worst == float("inf") else f"{worst:.3g}"
            failures.append(GateFailure(key, f"{device} {key}: outputs differ from the fp32 reference by {said} "
                                             f"(worst relative error; {row['numerics']['source']}), allowed "
                                             f"{limit:g}", None))
    return failures, len(rows)


def _judge(delta: VariantDelta, max_regression: float, comparison: Comparison) -> GateFailure | None:
    device = comparison.candidate_device
    if delta.verdict == "not comparable":
        if delta.baseline_runs and delta.note and (delta.note.startswith("candidate ")
                                                   or delta.note == "missing from the candidate"):
            return GateFailure(delta.key, f"{device} {delta.key}: ran in the baseline but {delta.note}", None)
        return None
    if delta.verdict == "slower" and delta.delta_pct is not None and delta.delta_pct > max_regression * 100:
        return GateFailure(delta.key, f"{device} {delta.key}: {delta.delta_pct:+.1f} % slower ({'median' if delta.method.startswith('bootstrap') else 'mean'} "
                                      f"{delta.baseline_median_ms:.3f} -> {delta.candidate_median_ms:.3f} ms, "
                                      f"{comparison.confidence * 100:g} % interval [{delta.ci_low_pct:+.1f}, "
                                      f"{delta.ci_high_pct:+.1f}] %), allowed {max_regression * 100:g} %",
                           delta.delta_pct)
    return None
