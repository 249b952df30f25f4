"""Latency statistics from per-run samples. The samples are kept: compare and gate resample them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from devlab.provenance import Source


@dataclass(frozen=True)
class LatencyStats:
    source: Source
    count: int
    mean_ms: float
    # None when the tool printed a summary without it (benchmark_model gives no per-run samples): never invented
    median_ms: float | None
    p90_ms: float | None
    min_ms: float | None
    max_ms: float | None
    std_ms: float | None
    samples_ms: tuple[float, ...]
    # the 5th / 95th percentiles where the tool reports them (benchmark_model's BenchmarkResult), else None
    p5_ms: float | None = None
    p95_ms: float | None = None

    @classmethod
    def from_samples(cls, samples_ms: list[float] | tuple[float, ...], source: Source) -> "LatencyStats":
        if not samples_ms:
            raise ValueError("no samples: a latency needs at least one timed run")
        ordered = sorted(samples_ms)
        count = len(ordered)
        mean = sum(ordered) / count
        variance = sum((s - mean) ** 2 for s in ordered) / count
        return cls(source=source, count=count, mean_ms=mean, median_ms=percentile(ordered, 50),
                   p90_ms=percentile(ordered, 90), min_ms=ordered[0], max_ms=ordered[-1],
                   std_ms=math.sqrt(variance), samples_ms=tuple(samples_ms))


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on an already sorted list."""
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
