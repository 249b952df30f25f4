"""Put packet timestamps on one clock (the trace's primary clock, BOOTTIME unless the trace says otherwise).

Packets may carry `timestamp_clock_id`: another builtin clock (converted with the latest clock_snapshot), or a
sequence-scoped clock (ids 64..127, defined by a clock_snapshot on that sequence), possibly incremental (each
timestamp is a delta from the previous one on that sequence, as Chrome writes them) and in units other than ns.
"""

from __future__ import annotations

from dataclasses import dataclass

BOOTTIME = 6
FIRST_SEQUENCE_CLOCK = 64


@dataclass
class _SequenceClock:
    value: int           # last absolute value, in the clock's own units
    multiplier_ns: int
    incremental: bool
    offset_ns: int       # add to value * multiplier_ns to get primary-clock ns


class ClockConverter:
    def __init__(self) -> None:
        self.primary = BOOTTIME
        self._offsets: dict[int, int] = {}                        # builtin clock id -> ns to add
        self._sequence: dict[tuple[int, int], _SequenceClock] = {}  # (sequence id, clock id)

    def snapshot(self, sequence_id: int, snapshot) -> None:  # snapshot: perfetto ClockSnapshot
        if snapshot.HasField("primary_trace_clock"):
            self.primary = snapshot.primary_trace_clock
        clocks = {c.clock_id: c for c in snapshot.clocks}
        anchor = clocks.get(self.primary)
        if anchor is None:
            return
        anchor_ns = anchor.timestamp * (anchor.unit_multiplier_ns or 1)
        for clock_id, clock in clocks.items():
            multiplier = clock.unit_multiplier_ns or 1
            offset = anchor_ns - clock.timestamp * multiplier
            if clock_id >= FIRST_SEQUENCE_CLOCK:
                self._sequence[(sequence_id, clock_id)] = _SequenceClock(
                    clock.timestamp, multiplier, clock.is_incremental, offset)
            elif clock_id != self.primary:
                self._offsets[clock_id] = offset

    def to_primary(self, sequence_id: int, clock_id: int, timestamp: int) -> int | None:
        """The timestamp in primary-clock ns, or None when the clock was never defined."""
        if clock_id == self.primary or clock_id == 0:
            return timestamp
        if clock_id >= FIRST_SEQUENCE_CLOCK:
            clock = self._sequence.get((sequence_id, clock_id))
            if clock is None:
                return None
            clock.value = clock.value + timestamp if clock.incremental else timestamp
            return clock.value * clock.multiplier_ns + clock.offset_ns
        offset = self._offsets.get(clock_id)
        return None if offset is None else timestamp + offset

    def clear_sequence(self, sequence_id: int) -> None:
        """Incremental state was cleared on this sequence: its clocks must be redefined before use."""
        for key in [k for k in self._sequence if k[0] == sequence_id]:
            del self._sequence[key]
