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

    @property
    def passed(self) -> bool:
        return not self.failures

    def failure_for(self, delta: VariantDelta) -> GateFailure | None:
        return next((f for f in self.failures if f.key == delta.key), None)

    def summary(self) -> str:
        if self.passed:
            return (f"no variant regressed by more than {self.max_regression * 100:g} % "
                    f"({len(self.comparison.variants)} compared)")
        return "; ".join(f.reason for f in self.failures)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "max_regression_pct": self.max_regression * 100,
                "failures": [asdict(f) for f in self.failures], "summary": self.summary(),
                "comparison": self.comparison.to_json()}


def parse_threshold(text: str) -> float:
    """'5%' -> 0.05, '0.05' -> 0.05."""
    return parse_fraction(text, "--max-regression", upper=10.0)


def evaluate_gate(baseline: dict[str, Any], candidate: dict[str, Any], max_regression: float, *,
                  confidence: float = 0.95, seed: int = 0, equivalence_margin: float = DEFAULT_EQUIVALENCE_MARGIN,
                  allow_different_models: bool = False) -> GateVerdict:
    comparison = compare_runs(baseline, candidate, confidence=confidence, seed=seed,
                              equivalence_margin=min(equivalence_margin, max_regression),
                              allow_different_models=allow_different_models)
    failures = [failure for delta in comparison.variants
                if (failure := _judge(delta, max_regression, comparison)) is not None]
    return GateVerdict(comparison, max_regression, tuple(failures))


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
