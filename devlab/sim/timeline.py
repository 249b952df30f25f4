"""Timestamped events a simulated run leaves behind, for the simulated `perfetto` to record.

Timestamps are `time.monotonic_ns()` wall times of the simulated phone's process, so a recorder selects the events
that fall inside its own recording window. Kinds:
- "slice": an ATrace slice (`Invoke`, `CONV_2D@12/0`, `TfLiteGpuDelegateV2@30/0`), `depth` is the nesting level;
- "gpu_stage": one GPU kernel dispatch, named like the op-profile label (`convolution_2d 3 -> relu 4`);
- "counter": a sample (`gpufreq` in Hz, in `value`), `dur_ns` 0.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["slice", "gpu_stage", "counter"]


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
