"""Compare two runs: per-variant latency deltas with seeded bootstrap confidence intervals, per-kernel deltas.

The statistic is the median of the per-run samples (robust to the odd slow run a phone throws in). The interval is a
percentile bootstrap of `median(B) / median(A) - 1`, resampling each run's samples with a seeded generator, so the
same inputs and seed always give the same verdict. A delta is significant when its interval excludes 0.

Kernel rows carry no per-run samples (they are one profiled share scaled to the clean mean), so their deltas have
no interval and are never marked significant; they point at where a significant variant delta came from.

Runs that kept no per-run samples (benchmark_model's classic output prints only count/mean/std) are compared on
their means with a Welch normal-approximation interval of `mean(B) / mean(A) - 1`; the row says so (`method`).

A run that measured a variant several times (`devlab farm --rounds N`) is compared once per variant: its rounds are
merged first (devlab/report/rounds.py) and the row's note says how many.

Significant is not the same as worth saying: with hundreds of runs an interval can exclude 0 for a 0.5 % shift that
no user would notice and that a reboot of the phone undoes. A change is called "slower" or "faster" only when it is
significant AND its point estimate is at least the equivalence margin (default 2 %); a significant change smaller
than that is "no change", and its note says it was significant and how small. The margin is an option.

Two runs of different models, graphs or device models are refused (devlab/report/run_match.py) unless forced; a
forced comparison carries the differences, so the output says what was compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from devlab.errors import UsageError
from devlab.report.rounds import merge_rounds
from devlab.report.run_match import refuse_unless_allowed, same_graph_other_bytes

BOOTSTRAP_RESAMPLES = 4000
MIN_SAMPLES = 3
# A judgement, not a measurement: a shift under 2 % is not worth a headline or a CI failure, and projects that
# need finer resolution pass --equivalence-margin (docs/ci-example.md).
DEFAULT_EQUIVALENCE_MARGIN = 0.02
WELCH_NOTE = "no per-run samples: means compared (Welch); the ms columns are means"
Verdict = Literal["slower", "faster", "no change", "not comparable"]
# model and simulated are not here: another device model is refused, not warned about (run_match.py)
DEVICE_FIELDS = ("serial", "soc", "gpu", "android_version")


@dataclass(frozen=True)
class VariantDelta:
    variant: str
    accelerator: str
    baseline_median_ms: float | None
    candidate_median_ms: float | None
    delta_ms: float | None
    delta_pct: float | None               # candidate / baseline - 1, in percent
    ci_low_pct: float | None
    ci_high_pct: float | None
    significant: bool | None              # None: not comparable (missing, failed or too few samples)
    verdict: Verdict
    baseline_runs: int
    candidate_runs: int
    baseline_source: str | None
    candidate_source: str | None
    method: str = "bootstrap-median"     # or "welch-mean" when the run kept only count/mean/std
    note: str | None = None

    @property
    def key(self) -> str:
        return f"{self.variant}/{self.accelerator}"


@dataclass(frozen=True)
class KernelDelta:
    variant: str
    accelerator: str
    kernel: str
    baseline_ms: float | None
    candidate_ms: float | None
    delta_ms: float | None
    delta_pct: float | None
    source: str                            # the rows' own source (estimated): no per-run samples, no interval


@dataclass(frozen=True)
class Comparison:
    baseline_run: str
    candidate_run: str
    baseline_device: str
    candidate_device: str
    statistic: str
    method: str
    confidence: float
    seed: int
    variants: tuple[VariantDelta, ...]
    kernels: tuple[KernelDelta, ...]
    warnings: tuple[str, ...]
    equivalence_margin_pct: float = DEFAULT_EQUIVALENCE_MARGIN * 100
    allow_different_models: bool = False
    differences: tuple[str, ...] = ()      # what makes the runs different things, compared anyway when allowed

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["variants"] = [{**asdict(v), "key": v.key} for v in self.variants]
        return data


def bootstrap_ratio_ci(baseline: np.ndarray, candidate: np.ndarray, confidence: float,
                       seed: int) -> tuple[float, float]:
    """Percentile bootstrap interval of median(candidate) / median(baseline) - 1."""
    rng = np.random.default_rng(seed)
    a = np.median(baseline[rng.integers(0, len(baseline), (BOOTSTRAP_RESAMPLES, len(baseline)))], axis=1)
    b = np.median(candidate[rng.integers(0, len(candidate), (BOOTSTRAP_RESAMPLES, len(candidate)))], axis=1)
    ratios = b / a - 1.0
    tail = (1.0 - confidence) / 2
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return float(low), float(high)


def parse_fraction(text: str, option: str, upper: float) -> float:
    """'5%' -> 0.05, '0.05' -> 0.05; a usage error naming `option` otherwise."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a number", "write it as 5% or 0.05") from None
    if not 0 <= value < upper:
        raise UsageError(f"{option} {text!r} is out of range", f"use a value from 0% to below {upper * 100:g}%")
    return value


def compare_runs(baseline: dict[str, Any], candidate: dict[str, Any], *, confidence: float = 0.95,
                 seed: int = 0, equivalence_margin: float = DEFAULT_EQUIVALENCE_MARGIN,
                 allow_different_models: bool = False) -> Comparison:
    if not 0.5 <= confidence < 1.0:
        raise UsageError(f"confidence {confidence} is not a confidence level", "use a value like 0.95 or 0.99")
    differences = refuse_unless_allowed(baseline, candidate, allow_different_models)
    warnings = mismatch_warnings(baseline, candidate) + same_graph_other_bytes(baseline, candidate)
    base = {_key(v): v for v in merge_rounds(baseline["variants"])}
    cand = {_key(v): v for v in merge_rounds(candidate["variants"])}
    deltas, kernels = [], []
    for key in list(base) + [k for k in cand if k not in base]:
        delta = _variant_delta(key, base.get(key), cand.get(key), confidence, seed, equivalence_margin)
        deltas.append(_with_merge_notes(delta, base.get(key), cand.get(key)))
        if key in base and key in cand:
            kernels += _kernel_deltas(key, base[key].get("kernels"), cand[key].get("kernels"))
    return Comparison(
        baseline_run=baseline["run_id"], candidate_run=candidate["run_id"],
        baseline_device=_device_name(baseline), candidate_device=_device_name(candidate),
        statistic="median of per-run samples", method=f"percentile bootstrap, {BOOTSTRAP_RESAMPLES} resamples",
        confidence=confidence, seed=seed, variants=tuple(deltas), kernels=tuple(kernels), warnings=tuple(warnings),
        equivalence_margin_pct=equivalence_margin * 100, allow_different_models=allow_different_models,
        differences=differences)


def mismatch_warnings(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """What makes the two runs not the same experiment: another device, another tool build, other settings."""
    warnings = []
    dev_a, dev_b = baseline["device"], candidate["device"]
    differing = [f for f in DEVICE_FIELDS if dev_a.get(f) != dev_b.get(f)]
    if differing:
        warnings.append("different devices (" + ", ".join(f"{f}: {dev_a.get(f)!r} vs {dev_b.get(f)!r}"
                                                          for f in differing) + "): deltas mix device and change")
    tools_a, tools_b = baseline.get("tools", {}), candidate.get("tools", {})
    for tool in sorted(set(tools_a) | set(tools_b)):
        if tools_a.get(tool) != tools_b.get(tool):
            kind = "benchmark binary" if "benchmark" in tool else "tool"
            warnings.append(f"different {kind} {tool}: {_short(tools_a.get(tool))} vs {_short(tools_b.get(tool))}")
    settings_a, settings_b = baseline.get("settings", {}), candidate.get("settings", {})
    for name in ("num_threads", "warmup_runs", "accelerators", "constant_weights"):   # timing-only builds
        if settings_a.get(name) != settings_b.get(name):
            warnings.append(f"different setting {name}: {settings_a.get(name)!r} vs {settings_b.get(name)!r}")
    return warnings


def _variant_delta(key: tuple[str, str], a: dict[str, Any] | None, b: dict[str, Any] | None, confidence: float,
                   seed: int, margin: float) -> VariantDelta:
    variant, accelerator = key
    samples_a, samples_b = _samples(a), _samples(b)
    med_a = float(np.median(samples_a)) if len(samples_a) else None
    med_b = float(np.median(samples_b)) if len(samples_b) else None
    common = dict(variant=variant, accelerator=accelerator, baseline_median_ms=med_a, candidate_median_ms=med_b,
                  baseline_runs=len(samples_a), candidate_runs=len(samples_b),
                  baseline_source=_timing_source(a), candidate_source=_timing_source(b))
    if a is not None and b is not None and (len(samples_a) < MIN_SAMPLES or len(samples_b) < MIN_SAMPLES):
        welch = _welch_delta(common, a, b, confidence, margin)
        if welch is not None:
            return welch
    problem = _not_comparable(a, b, samples_a, samples_b)
    if problem or med_a is None or med_b is None or med_a <= 0:
        delta = None if med_a is None or med_b is None else med_b - med_a
        pct = None if delta is None or not med_a else 100 * delta / med_a
        return VariantDelta(**common, delta_ms=delta, delta_pct=pct, ci_low_pct=None, ci_high_pct=None,
                            significant=None, verdict="not comparable", note=problem or "no latency")
    low, high = bootstrap_ratio_ci(samples_a, samples_b, confidence, seed)
    ratio = med_b / med_a - 1
    significant, verdict, note = _verdict(low, high, ratio, margin)
    if common["baseline_source"] != common["candidate_source"]:
        note = _join(note, f"sources differ: {common['baseline_source']} vs {common['candidate_source']}")
    return VariantDelta(**common, delta_ms=med_b - med_a, delta_pct=100 * ratio,
                        ci_low_pct=100 * low, ci_high_pct=100 * high, significant=significant, verdict=verdict,
                        note=note)


def _verdict(low: float, high: float, ratio: float, margin: float) -> tuple[bool, Verdict, str | None]:
    """(significant, verdict, note): a change is named only when significant and at least the margin."""
    significant = low > 0 or high < 0
    if not significant:
        return False, "no change", None
    if abs(ratio) < margin:
        return True, "no change", (f"significant but {100 * ratio:+.1f} % is within the "
                                   f"±{100 * margin:g} % equivalence margin")
    return True, ("slower" if low > 0 else "faster"), None


def _join(first: str | None, second: str | None) -> str | None:
    return "; ".join(part for part in (first, second) if part) or None


def welch_relative_interval(baseline: tuple[int, float, float], candidate: tuple[int, float, float],
                            confidence: float) -> tuple[float, float]:
    """Normal-approximation interval of mean(candidate) / mean(baseline) - 1 from (count, mean, std) of each."""
    (n_a, m_a, s_a), (n_b, m_b, s_b) = baseline, candidate
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    half = z * (s_a ** 2 / n_a + s_b ** 2 / n_b) ** 0.5
    return (m_b - m_a - half) / m_a, (m_b - m_a + half) / m_a


def _welch_delta(common: dict[str, Any], a: dict[str, Any], b: dict[str, Any],
                 confidence: float, margin: float) -> VariantDelta | None:
    """Means and standard deviations only: a normal-approximation interval of the relative mean difference."""
    lat_a, lat_b = _latency(a), _latency(b)
    try:
        n_a, n_b = int(lat_a["count"]), int(lat_b["count"])
        m_a, m_b = float(lat_a["mean_ms"]), float(lat_b["mean_ms"])
        s_a, s_b = float(lat_a["std_ms"]), float(lat_b["std_ms"])
    except (KeyError, TypeError, ValueError):
        return None
    if a["status"] != "ok" or b["status"] != "ok" or n_a < 2 or n_b < 2 or m_a <= 0:
        return None
    low, high = welch_relative_interval((n_a, m_a, s_a), (n_b, m_b, s_b), confidence)
    significant, verdict, note = _verdict(low, high, m_b / m_a - 1, margin)
    return VariantDelta(**{**common, "baseline_median_ms": m_a, "candidate_median_ms": m_b,
                           "baseline_runs": n_a, "candidate_runs": n_b},
                        delta_ms=m_b - m_a, delta_pct=100 * (m_b / m_a - 1), ci_low_pct=100 * low,
                        ci_high_pct=100 * high, significant=significant, verdict=verdict, method="welch-mean",
                        note=_join(WELCH_NOTE, note))


def _with_merge_notes(delta: VariantDelta, a: dict[str, Any] | None, b: dict[str, Any] | None) -> VariantDelta:
    said = [f"{side}: {row['merge_note']}" for side, row in (("baseline", a), ("candidate", b))
            if row is not None and row.get("merge_note")]
    if not said:
        return delta
    return replace(delta, note="; ".join(([delta.note] if delta.note else []) + said))


def _latency(variant: dict[str, Any]) -> dict[str, Any]:
    return (variant.get("timing") or {}).get("latency_ms") or {}


def _not_comparable(a: dict[str, Any] | None, b: dict[str, Any] | None, samples_a: np.ndarray,
                    samples_b: np.ndarray) -> str | None:
    if a is None:
        return "only in the candidate"
    if b is None:
        return "missing from the candidate"
    for name, v in (("baseline", a), ("candidate", b)):
        if v["status"] != "ok":
            return f"{name} {v['status']}: {v.get('error') or ''}".strip()
    if len(samples_a) < MIN_SAMPLES or len(samples_b) < MIN_SAMPLES:
        return f"too few runs for an interval ({len(samples_a)} and {len(samples_b)}; need {MIN_SAMPLES})"
    return None


def _kernel_deltas(key: tuple[str, str], a: dict[str, Any] | None, b: dict[str, Any] | None) -> list[KernelDelta]:
    if not a or not b:
        return []
    rows_a = {r["kernel"]: r for r in a.get("rows", [])}
    rows_b = {r["kernel"]: r for r in b.get("rows", [])}
    out = []
    for kernel in list(rows_a) + [k for k in rows_b if k not in rows_a]:
        ms_a = (rows_a.get(kernel) or {}).get("ms_per_inference")
        ms_b = (rows_b.get(kernel) or {}).get("ms_per_inference")
        delta = None if ms_a is None or ms_b is None else ms_b - ms_a
        pct = None if delta is None or not ms_a else 100 * delta / ms_a
        source = (rows_a.get(kernel) or rows_b.get(kernel) or {}).get("source", "estimated")
        out.append(KernelDelta(key[0], key[1], kernel, ms_a, ms_b, delta, pct, source))
    return out


def _key(variant: dict[str, Any]) -> tuple[str, str]:
    return variant["variant"], variant["accelerator"]


def _samples(variant: dict[str, Any] | None) -> np.ndarray:
    return np.asarray(_latency(variant or {}).get("samples_ms") or [], dtype=float)


def _timing_source(variant: dict[str, Any] | None) -> str | None:
    return ((variant or {}).get("timing") or {}).get("source")


def _device_name(record: dict[str, Any]) -> str:
    device = record["device"]
    name = f"{device.get('alias') or device['serial']} ({device.get('model', '?')})"
    return name + " [simulated]" if device.get("simulated") else name


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."
