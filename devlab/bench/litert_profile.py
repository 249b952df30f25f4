"""LiteRT's `--use_profiler` summary (LiteRtProfileSummarizer, litert/runtime/profiler_summarizer.cc at v2.2.0),
read as an op profile.

Its tables have the classic tool's columns (plus `[start]`, space-padded), so the op-profile parser reads them once
two things are said in the classic tool's terms:
- a GPU dispatch row is `Delegate/<label>` named `[Delegate]:<i>` (the accelerator's DELEGATE_PROFILED events,
  ml_drift_delegate/delegate/tflite_profile.cc); the classic tool names the same row `<label>` /
  `Delegate/<label>:<i>`, which is what marks a GPU kernel row;
- its `Timings (microseconds): count=<nodes> curr=<total over every run>` is no per-run total (unlike the classic
  tool's), so it is dropped: the profiled inference is the sum of the rows.
The summarizer accumulates every profiled run, warm-up runs included: `[times called]` counts them all.
"""

from __future__ import annotations

import re

from devlab.bench.op_profile import OpProfile, parse_op_profile_tables

_DISPATCH = re.compile(r"^(?P<pad>\s*)Delegate/(?P<label>.+?)(?P<numbers>(?:\s+[-+0-9.e]+%?){7})\s+\[Delegate\]:(?P<i>\d+)\s*$")


def read_litert_profile(log: str) -> OpProfile | None:
    """The op profile in a `--use_profiler=true` run's output (stderr), or None when it printed none."""
    if "Run Order" not in log:
        return None
    lines = []
    for line in log.splitlines():
        match = _DISPATCH.match(line)
        if match:
            label, index = match.group("label"), match.group("i")
            line = f"{match.group('pad')}{label}{match.group('numbers')}   Delegate/{label}:{index}"
        elif line.startswith("Timings (microseconds): count=") and "avg=" not in line:
            continue
        lines.append(line)
    return parse_op_profile_tables("\n".join(lines))
