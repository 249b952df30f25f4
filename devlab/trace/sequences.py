"""What the reader keeps per trusted packet sequence: interned names, packet defaults and the sequence's clock."""

from __future__ import annotations

from dataclasses import dataclass, field

SEQ_INCREMENTAL_STATE_CLEARED = 1


@dataclass
class SequenceState:
    event_names: dict[int, str] = field(default_factory=dict)
    gpu_specs: dict[int, str] = field(default_factory=dict)
    default_track: int | None = None
    clock_id: int = 0
