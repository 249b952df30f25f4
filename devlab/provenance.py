"""Where a number came from. Every number devlab prints or stores carries one of these."""

from __future__ import annotations

from typing import Literal

Source = Literal["measured", "op-profile", "trace", "simulated", "estimated"]

MEASURED: Source = "measured"      # timed on the real target (phone or this machine's runtime)
OP_PROFILE: Source = "op-profile"  # from benchmark_model's op-profiling run (inflated; shares only)
TRACE: Source = "trace"            # from a Perfetto trace
SIMULATED: Source = "simulated"    # from the simulated phone's cost model: never a phone's number
ESTIMATED: Source = "estimated"    # derived by devlab (e.g. a share scaled to the clean latency)

ALL_SOURCES: tuple[Source, ...] = (MEASURED, OP_PROFILE, TRACE, SIMULATED, ESTIMATED)
