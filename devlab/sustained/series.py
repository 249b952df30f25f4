"""What a sustained run's points say: the latency-vs-time series, when throttling set in, and the sustained/peak
ratio (pure functions over the points; devlab/sustained/run.py takes them on the phone).

MLPerf Mobile's run rules (mlcommons/mobile_open rules/mobile_inference_rules.adoc, v4.0) are the anchor: a
single-stream performance run lasts at least 60 s, and a result is replicated "with a 5 min wait in between" runs.
So the ratio compares the first and the last MINUTE_S of the series (a run shorter than 2 x MINUTE_S cannot have
both), and the run starts only once the phone has cooled (run.py: COOLDOWN_S).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass

from devlab.devices.adb_info import THERMAL_NAMES
from devlab.errors import UsageError

MINUTE_S = 60.0
START_POINTS = 3         # the cool phone: the median of the first points is the slowdown's baseline
SLOWDOWN = 1.05          # a point this much slower than that baseline counts as slowed down
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(text: str) -> float:
    """'10m', '90s', '1h', '2m30s' -> seconds; at least 2 minutes (the first and the last minute are compared)."""
    match = _DURATION.match(text.strip().lower()) if text.strip() else None
    if not match or not any(match.groups()):
        raise UsageError(f"--sustained {text!r} is not a duration", "pass e.g. --sustained 10m, 600s or 1h")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total < 2 * MINUTE_S:
        raise UsageError(f"--sustained {text} is shorter than 2 minutes: the sustained/peak ratio compares the first "
                         "and the last minute (MLPerf Mobile's minimum run is 60 s)", "pass --sustained 2m or more")
    return total


@dataclass(frozen=True)
class Point:
    t_s: float                    # benchmark time at the end of this point (sum of the runs' own durations)
    wall_s: float                 # host wall time since the series started
    latency_ms: float             # the point's mean inference latency
    runs: int
    gpu_freq_hz: int | None       # the GPU's devfreq cur_freq after the point (None: not readable)
    thermal_status: str | None    # dumpsys thermalservice after the point
    temperatures_c: dict[str, float]   # thermal HAL: hottest cpu / gpu / skin / battery sensor

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(points: list[Point], duration_s: float) -> dict[str, object]:
    """Onset, first/last-minute medians and the sustained/peak ratio."""
    if not points:
        return {"sustained_to_peak": None, "throttling_onset_s": None, "slowdown_onset_s": None}
    end = points[-1].t_s
    first = [p.latency_ms for p in points if p.t_s <= MINUTE_S] or [points[0].latency_ms]
    last = [p.latency_ms for p in points if p.t_s >= end - MINUTE_S]
    first_median, last_median = _median(first), _median(last)
    start_median = _median([p.latency_ms for p in points[:START_POINTS]])
    base_freq = points[0].gpu_freq_hz
    throttled = next((p.t_s for p in points if (p.thermal_status not in (None, "none"))
                      or (base_freq and p.gpu_freq_hz and p.gpu_freq_hz < base_freq)), None)
    # the first point that, with the next one, runs SLOWDOWN slower than the cool phone's first points
    slowed = next((point.t_s for index, point in enumerate(points[START_POINTS:], START_POINTS)
                   if start_median and all(p.latency_ms > SLOWDOWN * start_median for p in points[index:index + 2])),
                  None)
    return {
        "first_minute_median_ms": first_median, "last_minute_median_ms": last_median,
        "start_median_ms": start_median,
        # speed ratios: 1.0 = held its speed, 0.7 = the last minute ran at 70 % of the first minute's speed (as
        # asked: a phone that throttles within the first minute shows it in sustained_to_start, not here)
        "sustained_to_peak": round(first_median / last_median, 4) if first_median and last_median else None,
        "sustained_to_start": round(start_median / last_median, 4) if start_median and last_median else None,
        "throttling_onset_s": throttled, "slowdown_onset_s": slowed,
        "covered_s": round(end, 3), "duration_s": duration_s,
        "peak_gpu_freq_hz": max((p.gpu_freq_hz for p in points if p.gpu_freq_hz), default=None),
        "last_gpu_freq_hz": points[-1].gpu_freq_hz,
        "max_thermal_status": _worst([p.thermal_status for p in points]),
    }


_ORDER = THERMAL_NAMES


def _worst(statuses: list[str | None]) -> str | None:
    known = [s for s in statuses if s in _ORDER]
    return max(known, key=_ORDER.index) if known else None
