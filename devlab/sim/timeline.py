"""Timestamped events a simulated run leaves behind, for the simulated `perfetto` to record.

Timestamps are `time.monotonic_ns()` wall times of the simulated phone's process, so a recorder selects the events
that fall inside its own recording window. Kinds:
- "slice": an ATrace slice of TFLite's ATrace profiler, `depth` is the nesting level. Its name is ALWAYS
  `<tag>@<metadata1>/<metadata2>` (`Invoke@0/0`, `CONV_2D@12/0`, `TfLiteGpuDelegateV2@30/0`): atrace_profiler.cc
  builds every section name with `absl::StrCat(tag, "@", event_metadata1, "/", event_metadata2)` whatever the
  event type (tensorflow/lite/profiling/atrace_profiler.cc); `atrace_name` makes one, `check_atrace_name` refuses
  anything else, so the simulated perfetto can never record a name a phone would not;
- "gpu_stage": one GPU kernel dispatch, named like the op-profile label (`convolution_2d 3 -> relu 4`);
- "counter": a sample (`gpufreq` in Hz, in `value`), `dur_ns` 0.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["slice", "gpu_stage", "counter"]
_ATRACE_NAME = re.compile(r"[^@]+@-?\d+/-?\d+")


def atrace_name(tag: str, metadata1: int, metadata2: int) -> str:
    """The section name TFLite's ATrace profiler gives an event: `Invoke@0/0`, `CONV_2D@12/0`."""
    return f"{tag}@{metadata1}/{metadata2}"


def check_atrace_name(name: str) -> str:
    """`name` if TFLite's ATrace profiler could have written it; ValueError otherwise (a simulator bug)."""
    if not _ATRACE_NAME.fullmatch(name):
        raise ValueError(f"ATrace slice {name!r} is not named <tag>@<metadata1>/<metadata2> as TFLite names them")
    return name


@dataclass(frozen=True)
class SimEvent:
    kind: EventKind
    name: str
    ts_ns: int
    dur_ns: int
    pid: int
    tid: int
    value: float | None = None
    depth: int = 0


class Timeline:
    """A bounded, thread-safe event list; the oldest events go first when it is full."""

    def __init__(self, max_events: int = 2_000_000) -> None:
        self._events: list[SimEvent] = []
        self._lock = threading.Lock()
        self._max = max_events

    def extend(self, events: list[SimEvent]) -> None:
        for event in events:
            if event.kind == "slice":
                check_atrace_name(event.name)
        with self._lock:
            self._events.extend(events)
            overflow = len(self._events) - self._max
            if overflow > 0:
                del self._events[:overflow]

    def between(self, start_ns: int, end_ns: int) -> list[SimEvent]:
        """Events that start inside [start_ns, end_ns], in timestamp order."""
        with self._lock:
            chosen = [e for e in self._events if start_ns <= e.ts_ns <= end_ns]
        return sorted(chosen, key=lambda e: (e.ts_ns, e.depth))

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
