"""Rows of one run record that measured the same (variant, accelerator) several times, merged into one row.

`devlab farm --rounds N` runs every variant N times, interleaved with the others, so a device's run.json holds N
rows per (variant, accelerator). compare and gate judge a variant, not a round: the rounds' per-run samples are
pooled, and where a row has no samples (benchmark_model prints none on phones) the rounds' counts, means and
standard deviations are combined exactly into those of all their runs together. Failed rounds are left out of the
numbers and counted in a note; a variant whose every round failed stays a failed row.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from devlab.bench.stats import percentile


def merge_rounds(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (variant, accelerator), in first-seen order; rows that occur once are returned unchanged."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in variants:
        groups.setdefault((row["variant"], row["accelerator"]), []).append(row)
    return [rows[0] if len(rows) == 1 else _merged(rows) for rows in groups.values()]


def _merged(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r.get("status") == "ok" and _latency(r)]
    if not ok:
        return rows[-1]
    merged = copy.deepcopy(ok[0])
    latencies = [_latency(r) for r in ok]
    merged["timing"]["latency_ms"] = _pooled(latencies)
    failed = len(rows) - len(ok)
    note = f"{len(rows)} rounds merged" if not failed else \
        f"merged {len(ok)} of {len(rows)} rounds ({failed} failed, left out)"
    merged["extra"] = {**(merged.get("extra") or {}), "rounds_merged": len(ok), "rounds_failed": failed}
    merged["kernels"] = _mean_kernels([r.get("kernels") for r in ok])
    merged["merge_note"] = note
    return merged


def _latency(row: dict[str, Any]) -> dict[str, Any]:
    return (row.get("timing") or {}).get("latency_ms") or {}


def _pooled(latencies: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(latencies[0])
    samples = [s for lat in latencies for s in (lat.get("samples_ms") or [])]
    out["samples_ms"] = samples
    counts = [_number(lat.get("count")) for lat in latencies]
    means = [_number(lat.get("mean_ms")) for lat in latencies]
    stds = [_number(lat.get("std_ms")) for lat in latencies]
    total = sum(c for c in counts if c is not None) if None not in counts else None
    out["count"] = int(total) if total is not None else (len(samples) or None)
    if total and None not in means:
        mean = sum(c * m for c, m in zip(counts, means)) / total  # type: ignore[operator]
        out["mean_ms"] = mean
        if None not in stds and total > 1:
            # within-round spread plus the spread of the round means around the pooled mean
            spread = sum((c - 1) * s ** 2 + c * (m - mean) ** 2  # type: ignore[operator]
                         for c, m, s in zip(counts, means, stds))
            out["std_ms"] = math.sqrt(spread / (total - 1))
        else:
            out["std_ms"] = None
    else:
        out["mean_ms"] = out["std_ms"] = None
    for name, pick in (("min_ms", min), ("max_ms", max)):
        values = [v for v in (_number(lat.get(name)) for lat in latencies) if v is not None]
        out[name] = pick(values) if values else None
    if samples:
        ordered = sorted(samples)
        out["median_ms"] = percentile(ordered, 50)
        out["p90_ms"] = percentile(ordered, 90)
    else:   # medians of rounds do not combine into the median of all runs: nothing is invented
        out["median_ms"] = out["p90_ms"] = None
    return out


def _mean_kernels(tables: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Each kernel's ms per inference averaged over the rounds that attributed it."""
    present = [t for t in tables if t and t.get("rows")]
    if not present:
        return None
    merged = copy.deepcopy(present[0])
    by_kernel: dict[str, list[float]] = {}
    for table in present:
        for row in table["rows"]:
            if row.get("ms_per_inference") is not None:
                by_kernel.setdefault(row["kernel"], []).append(float(row["ms_per_inference"]))
    for row in merged["rows"]:
        values = by_kernel.get(row["kernel"])
        if values:
            row["ms_per_inference"] = sum(values) / len(values)
    if len(present) > 1 and merged.get("invoke_latency"):
        # per-inference samples are one trace run's: they are not averaged, so say which round they are
        merged["invoke_latency"]["run"] += f" (round 1 of {len(present)})"
    return merged


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
