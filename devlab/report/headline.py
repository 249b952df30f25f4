"""The answer a reader wants before scrolling: per accelerator, the fastest variant, its speed-up over the
reference variant (fp32, or `as-is` for a .tflite) with a 95 % interval, how much of it runs on the GPU, and its
energy and numerics status where the run recorded them. Also the per-variant time breakdown (GPU kernels / CPU
fallback / CPU<->GPU copies + sync / unattributed) drawn as one stacked bar each.

Computed from run.json alone at render time, like the rest of the report. The speed-up interval is a percentile
bootstrap of the median ratio when both rows kept their per-run samples (host runs), otherwise a normal
approximation on the means (phone rows: benchmark_model prints count/mean/std, not samples); the method is said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from devlab.report.compare import bootstrap_ratio_ci, welch_relative_interval

REFERENCE_VARIANTS = ("fp32", "as-is")
CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0   # the page must be the same every time it is rebuilt from the same run.json

# Attribution row kinds (devlab.trace.attribution.RowKind) -> the four parts of a variant's stacked bar.
BREAKDOWN_PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GPU kernels", ("gpu_kernel", "gpu_delegate")),
    ("CPU fallback", ("cpu_op",)),
    ("CPU<->GPU copies + sync", ("copy_sync",)),
    ("unattributed", ("unattributed",)),
)


@dataclass(frozen=True)
class SpeedupInterval:
    speedup: float              # reference time / fastest time (> 1: faster)
    low: float | None           # 95 % interval of the speed-up; None when the rows cannot give one
    high: float | None
    method: str                 # "bootstrap-median" or "welch-mean"


@dataclass(frozen=True)
class Headline:
    accelerator: str
    fastest: str
    fastest_ms: float
    statistic: str              # "median" or "mean": what fastest_ms and the speed-up compare
    timing_source: str          # measured / simulated: where the time came from
    reference: str | None       # the variant the speed-up is against; None when the run has none
    speedup: SpeedupInterval | None
    gpu_ops: tuple[int, int] | None    # (ops on the GPU, all ops)
    gpu_ops_source: str | None         # reported (by the runtime) or estimated (devlab's predictor)
    energy_mj: float | None
    energy_source: str | None
    numerics: str | None               # ok / exceeded / unavailable, where a numerics check ran
    energy_status: str | None = None   # ok / untrusted / unavailable (devlab.energy), where an energy run ran


@dataclass(frozen=True)
class Breakdown:
    label: str                  # "<variant> on <accelerator>"
    parts: tuple[tuple[str, float], ...]   # (part name, ms per inference), BREAKDOWN_PARTS order
    source: str | None          # the kernel table's provenance

    @property
    def total_ms(self) -> float:
        return sum(ms for _, ms in self.parts)


def headlines(record: dict[str, Any]) -> list[Headline]:
    """One headline per accelerator that has at least one measured (ok) variant, in the order they first appear."""
    out = []
    for accelerator in dict.fromkeys(v["accelerator"] for v in record["variants"]):
        rows = [v for v in record["variants"] if v["accelerator"] == accelerator and _has_timing(v)]
        if rows:
            out.append(_headline(record, accelerator, rows))
    return out


def breakdowns(record: dict[str, Any]) -> list[Breakdown]:
    out = []
    for v in record["variants"]:
        kernels = v.get("kernels") or {}
        if not kernels.get("rows"):
            continue
        totals = {name: 0.0 for name, _ in BREAKDOWN_PARTS}
        for row in kernels["rows"]:
            for name, kinds in BREAKDOWN_PARTS:
                if row.get("kind") in kinds:
                    totals[name] += float(row.get("ms_per_inference") or 0.0)
        out.append(Breakdown(f"{v['variant']} on {v['accelerator']}", tuple(totals.items()), kernels.get("source")))
    return out


def _has_timing(variant: dict[str, Any]) -> bool:
    return variant.get("status") == "ok" and bool((variant.get("timing") or {}).get("latency_ms"))


def _headline(record: dict[str, Any], accelerator: str, rows: list[dict[str, Any]]) -> Headline:
    with_samples = all(_samples(v).size >= 2 for v in rows)
    statistic = "median" if with_samples else "mean"
    fastest = min(rows, key=lambda v: _typical(v, statistic))
    reference = next((v for name in REFERENCE_VARIANTS for v in rows if v["variant"] == name), None)
    speedup = None
    if reference is not None and reference is not fastest:
        speedup = _speedup(reference, fastest, with_samples)
    gpu_ops, gpu_source = _gpu_ops(record, fastest)
    energy = fastest.get("energy") or (fastest.get("extra") or {}).get("energy") or {}
    numerics = fastest.get("numerics") or (fastest.get("extra") or {}).get("numerics") or {}
    return Headline(
        accelerator=accelerator, fastest=fastest["variant"], fastest_ms=_typical(fastest, statistic),
        statistic=statistic, timing_source=fastest["timing"]["source"],
        reference=None if reference is None else reference["variant"], speedup=speedup,
        gpu_ops=gpu_ops, gpu_ops_source=gpu_source,
        energy_mj=energy.get("mj_per_inference"), energy_source=energy.get("source"),
        numerics=numerics.get("status"), energy_status=energy.get("status"))


def _samples(variant: dict[str, Any]) -> np.ndarray:
    return np.asarray(variant["timing"]["latency_ms"].get("samples_ms") or [], dtype=float)


def _typical(variant: dict[str, Any], statistic: str) -> float:
    latency = variant["timing"]["latency_ms"]
    if statistic == "median":
        return float(np.median(_samples(variant)))
    return float(latency["mean_ms"])


def _speedup(reference: dict[str, Any], fastest: dict[str, Any], with_samples: bool) -> SpeedupInterval:
    """reference / fastest, with the interval of the time ratio turned round into a speed-up interval."""
    if with_samples:
        ref, fast = _samples(reference), _samples(fastest)
        low, high = bootstrap_ratio_ci(ref, fast, CONFIDENCE, BOOTSTRAP_SEED)
        return SpeedupInterval(float(np.median(ref) / np.median(fast)), *_inverted(low, high), "bootstrap-median")
    ref_lat, fast_lat = reference["timing"]["latency_ms"], fastest["timing"]["latency_ms"]
    point = float(ref_lat["mean_ms"]) / float(fast_lat["mean_ms"])
    try:
        stats = [(int(lat["count"]), float(lat["mean_ms"]), float(lat["std_ms"])) for lat in (ref_lat, fast_lat)]
    except (KeyError, TypeError, ValueError):
        return SpeedupInterval(point, None, None, "welch-mean")
    if min(n for n, _, _ in stats) < 2:
        return SpeedupInterval(point, None, None, "welch-mean")
    low, high = welch_relative_interval(stats[0], stats[1], CONFIDENCE)
    return SpeedupInterval(point, *_inverted(low, high), "welch-mean")


def _inverted(low: float, high: float) -> tuple[float | None, float | None]:
    """An interval of t_fast / t_ref - 1 as an interval of t_ref / t_fast; unbounded when it reaches -100 %."""
    return (1.0 / (1.0 + high) if high > -1.0 else None, 1.0 / (1.0 + low) if low > -1.0 else None)


def _gpu_ops(record: dict[str, Any], variant: dict[str, Any]) -> tuple[tuple[int, int] | None, str | None]:
    """The runtime's own count where it printed one, else devlab's prediction from the build manifest."""
    reported = (variant.get("delegation") or {}).get("reported") or {}
    on_gpu, on_cpu = reported.get("ops_on_delegate"), reported.get("ops_on_cpu")
    if isinstance(on_gpu, int) and isinstance(on_cpu, int) and on_gpu + on_cpu > 0:
        return (on_gpu, on_gpu + on_cpu), reported.get("source") or "reported"
    predicted = ((record.get("build") or {}).get(variant["variant"]) or {}).get("delegation") or {}
    if isinstance(predicted.get("ops_on_gpu"), int) and isinstance(predicted.get("ops_on_cpu"), int):
        total = predicted["ops_on_gpu"] + predicted["ops_on_cpu"]
        if total > 0:
            return (predicted["ops_on_gpu"], total), predicted.get("source") or "estimated"
    return None, None
