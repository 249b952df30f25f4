"""Did the timed runs start before the device settled? A run whose first timed inferences are much slower than the
rest (a GPU still raising its clocks after the warm-up, caches still filling) measured two regimes: its mean and
its small-run medians describe neither. devlab never drops those samples; it says how many and how much slower, so
the reader can trust the numbers or rerun with a longer warm-up.

Found on the lent H200: SD 1.4's text encoder ran its first 8 timed runs at 26 ms and every later one at 8.6 ms
after a 2-run warm-up (docs/gpu-results.md), so a 5-run measurement reported 25.5 ms for an 8.6 ms model.
"""

from __future__ import annotations

from dataclasses import dataclass

from devlab.bench.stats import percentile

MIN_SAMPLES = 10        # fewer timed runs cannot show a start and a rest
SLOW_FACTOR = 1.25      # a leading run this much slower than the settled median is still settling
MIN_LEADING = 3         # one or two slow runs are noise (a page fault, a preemption), not a regime
MIN_RATIO = 1.5         # ... and the leading runs' median must be this much slower to be said


@dataclass(frozen=True)
class SettleIn:
    leading_runs: int           # timed runs at the start that were still settling
    leading_median_ms: float
    settled_median_ms: float    # the median of the second half of the timed runs

    @property
    def ratio(self) -> float:
        return self.leading_median_ms / self.settled_median_ms

    def to_json(self) -> dict[str, float | int]:
        return {"leading_runs": self.leading_runs, "leading_median_ms": round(self.leading_median_ms, 4),
                "settled_median_ms": round(self.settled_median_ms, 4), "ratio": round(self.ratio, 3)}

    def note(self, total_runs: int) -> str:
        return (f"the first {self.leading_runs} of {total_runs} timed runs were {self.ratio:.1f}x slower than the "
                f"rest (median {self.leading_median_ms:.3f} against {self.settled_median_ms:.3f} ms): the device "
                "was still settling after the warm-up; the statistics include them — rerun with a longer warm-up "
                "(--warmup-secs) for the settled latency")


def settle_in(samples_ms: tuple[float, ...] | list[float]) -> SettleIn | None:
    """The leading slow runs of a timed series (in run order), or None when it started settled."""
    if len(samples_ms) < MIN_SAMPLES:
        return None
    settled = percentile(sorted(samples_ms[len(samples_ms) // 2:]), 50)
    if settled <= 0:
        return None
    leading = 0
    while leading < len(samples_ms) // 2 and samples_ms[leading] > SLOW_FACTOR * settled:
        leading += 1
    if leading < MIN_LEADING:
        return None
    leading_median = percentile(sorted(samples_ms[:leading]), 50)
    if leading_median < MIN_RATIO * settled:
        return None
    return SettleIn(leading, leading_median, settled)
