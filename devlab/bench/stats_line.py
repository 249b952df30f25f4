"""Numbers as benchmark_model prints them, and its `count=.. first=.. avg=..` statistics lines."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# A C++ stream number: fixed, scientific (`1.01013e+06`), or the non-finite spellings glibc prints.
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)(?:inity)?"
_NUMBER_RE = re.compile(rf"^(?:{NUMBER})$", re.IGNORECASE)
_STAT_PAIR = re.compile(rf"\b([a-z][a-z0-9_]*)=({NUMBER})(?=\s|$|\()", re.IGNORECASE)
_STATS_LINE = re.compile(r"^\s*count=\d")


def to_float(text: str) -> float | None:
    """A printed number, or None when it is not one or not finite (nan/inf carry no measurement)."""
    cleaned = text.strip()
    if not _NUMBER_RE.match(cleaned):
        return None
    value = float(cleaned)
    return value if math.isfinite(value) else None


def to_int(text: str) -> int | None:
    cleaned = text.strip()
    if not re.fullmatch(r"[-+]?\d+", cleaned):
        return None
    return int(cleaned)


@dataclass(frozen=True)
class StatsLine:
    """One statistics line. Fields the line does not print are None, never filled in."""

    count: int
    first_us: float | None = None
    curr_us: float | None = None
    min_us: float | None = None
    max_us: float | None = None
    avg_us: float | None = None
    std_us: float | None = None
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None
    all_same: bool = False


def parse_stats_line(text: str) -> StatsLine | None:
    """`count=110 first=8325 ... std=591`, `count=1 curr=1450776`, `count=3 curr=5(all same)` or `count=0`; builds
    whose Run() keeps a StatWithPercentiles (LiteRT's, and TFLite's since 2025) append ` p5=.. median=.. p95=..`."""
    if not _STATS_LINE.match(text):
        return None
    pairs: dict[str, str] = {}
    for key, value in _STAT_PAIR.findall(text):
        pairs.setdefault(key.lower(), value)
    count = to_int(pairs.get("count", ""))
    if count is None or count < 0:
        return None

    def field(name: str) -> float | None:
        return to_float(pairs[name]) if name in pairs else None

    min_us, max_us, avg_us = field("min"), field("max"), field("avg")
    curr = field("curr")
    # The tool prints only `count curr` when every sample was equal (Stat::OutputToStream): min, max and avg
    # are then that value by the format's own definition. std is not printed, so it stays None.
    all_same = "(all same)" in text or (count > 0 and "curr" in pairs and not ({"min", "max", "avg"} & pairs.keys()))
    if all_same and curr is not None:
        min_us = min_us if min_us is not None else curr
        max_us = max_us if max_us is not None else curr
        avg_us = avg_us if avg_us is not None else curr
    # StatWithPercentiles::percentile() returns int64's quiet_NaN, which is 0, when there are no samples
    # (xla/tsl/util/stats_calculator.h): `count=0 p5=0 median=0 p95=0` carries no percentile.
    p5, median, p95 = (field("p5"), field("median"), field("p95")) if count > 0 else (None, None, None)
    return StatsLine(count=count, first_us=field("first"), curr_us=curr, min_us=min_us, max_us=max_us,
                     avg_us=avg_us, std_us=field("std"), p5_us=p5, median_us=median, p95_us=p95,
                     all_same=all_same)
