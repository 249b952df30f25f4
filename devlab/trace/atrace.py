"""The ATrace print state machine: ftrace print events ("B|pid|name", "E|pid", "C|...", "S|...", "F|...") wait
until nothing older can still arrive, then become slices, counters and problems, in time order.

Whoever reads the ftrace bundles (upb or the C scanner) appends (ts, tid, buf) to `AtraceSlices.pending`; the reader
calls `release` after each batch and at the end.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from operator import itemgetter

from devlab.trace import fastscan
from devlab.trace.records import RecordList, RecordSink

# ftrace is drained per CPU, so one thread's B on CPU 2 and E on CPU 5 can arrive in either order. Print events
# wait (sorted after each batch) until nothing older can still come (perfetto drains every CPU at least this often).
ATRACE_REORDER_NS = 5_000_000_000
LINE_CACHE = 4096    # distinct ATrace begin/end lines kept parsed (op names: a model has hundreds, not thousands)
_TS = itemgetter(0)

_TFLITE_NAME = re.compile(r"^(?P<tag>.+)@(?P<m1>-?\d+)/(?P<m2>-?\d+)$")
# Tags TFLite's runtime profiles that are not ops: Subgraph::Invoke / AllocateTensors and the delegate set-up
# (tflite/core/subgraph.cc, TFLITE_SCOPED_TAGGED_DEFAULT_PROFILE). Their slices are `Invoke@0/0` etc. too.
TFLITE_RUNTIME_TAGS = frozenset({"Invoke", "AllocateTensors", "ModifyGraphWithDelegate"})


@dataclass(frozen=True)
class TfliteSliceName:
    tag: str
    metadata1: int | None     # ops: the node index; Invoke: 0
    metadata2: int | None     # ops: the subgraph index; Invoke: the subgraph index (0: the main graph)


def tflite_slice_name(name: str) -> TfliteSliceName:
    """Split an ATrace section name of TFLite's ATrace profiler: it names EVERY event `<tag>@<m1>/<m2>`
    (tensorflow/lite/profiling/atrace_profiler.cc: `absl::StrCat(tag, "@", event_metadata1, "/",
    event_metadata2)`, whatever the event type): `CONV_2D@12/0`, `TfLiteGpuDelegateV2@5/0`, `Invoke@0/0`. A name
    without that suffix (devlab's own host traces write a bare `Invoke`) is all tag."""
    match = _TFLITE_NAME.match(name)
    if match is None:
        return TfliteSliceName(name, None, None)
    return TfliteSliceName(match.group("tag"), int(match.group("m1")), int(match.group("m2")))


# The delegate kernel nodes' names (the slice tag of a delegated partition), by the unit they run on:
# tflite/delegates/gpu/delegate.cc (`TfLiteGpuDelegateV2`), LiteRT's ml_drift_delegate/delegate/delegate_*.cc
# (`LITERT_CL`, `LITERT_OPENGL`, `LITERT_VULKAN`, `LITERT_WEBGPU`, `LITERT_METAL`), and XNNPACK, a CPU delegate
# (tflite/delegates/xnnpack/xnnpack_delegate.cc, `TfLiteXNNPackDelegate`).
_GPU_DELEGATES = frozenset({"LITERT_CL", "LITERT_OPENGL", "LITERT_VULKAN", "LITERT_WEBGPU", "LITERT_METAL"})
CPU_DELEGATES = frozenset({"TfLiteXNNPackDelegate"})


def is_gpu_delegate(tag: str) -> bool:
    """A delegate partition that runs on the GPU (older TFLite builds name theirs `TfLite<...>Delegate<...>`)."""
    return tag in _GPU_DELEGATES or (tag.startswith("TfLite") and "Delegate" in tag and tag not in CPU_DELEGATES)


def is_main_invoke(name: str) -> bool:
    """An Invoke of the main graph (subgraph 0): `Invoke@<m1>/0`, or a bare `Invoke` from a host trace."""
    parsed = tflite_slice_name(name)
    return parsed.tag == "Invoke" and parsed.metadata2 in (None, 0)


_END = ("end", None)      # _atrace_line's answer for an end line
_OTHER = ("other", None)  # ... and for any other line (counters, async slices, not ATrace at all)


def _atrace_line(buf: str) -> tuple[str, int | None]:
    """Classify an ATrace print: (name, pid) for "B|pid|name", _END for "E|pid" or "E", else _OTHER."""
    line = buf.rstrip("\n")
    if line == "E" or line[:2] == "E|":
        return _END
    if line[:2] == "B|":
        parts = line.split("|", 2)
        if len(parts) == 3:
            return parts[2], int(parts[1]) if parts[1].isdigit() else None
    return _OTHER


class AtraceSlices:
    """Print events in through `pending`; slices, counters and problems out to `sink` as `release` lets them go.
    `fast`: use the C scanner's sortedness check and release loop (same results, sooner)."""

    def __init__(self, fast: bool) -> None:
        self.fast = fast
        self.sink: RecordSink = RecordList()
        self.pending: list[tuple[int, int, str]] = []                      # (ts, tid, buf) not yet released
        self._stacks: dict[int, list[tuple[str, int, int | None]]] = {}   # tid -> open (name, ts, pid)
        self._lines: dict[str, tuple[str, int | None]] = {}               # print buf -> _atrace_line(buf)
        self._async: dict[tuple[int, str, str], int] = {}                 # (pid, name, cookie) -> begin ts

    def release(self, before: int | None) -> None:
        """Turn the waiting print events older than `before` (all when None) into slices, oldest first."""
        prints = self.pending
        if not prints:
            return
        # ftrace drains each CPU in order, so this merges a few sorted runs; the sort is stable, so prints of the
        # same timestamp keep their arrival order
        if not (self.fast and fastscan.SCANNER.sorted_by_ts(prints)):  # type: ignore[union-attr]
            prints.sort(key=_TS)
        cut = len(prints) if before is None else bisect.bisect_left(prints, before, key=_TS)
        if cut == 0:
            return
        ready = prints[:cut]
        del prints[:cut]
        bulk = getattr(self.sink, "slice_durations", None) if self.fast else None
        if bulk is None:
            for ts, tid, buf in ready:
                self._print(ts, tid, buf)
            return
        # The C loop takes the begin/end lines already parsed; it stops at anything else, which goes the Python
        # way after the durations so far are handed over (so each name's durations keep their order).
        release = fastscan.SCANNER.release  # type: ignore[union-attr]
        groups: dict[str, list[int]] = {}
        i, count = 0, len(ready)
        while i < count:
            i = release(ready, i, self._stacks, self._lines, _END, groups)
            for name, durations in groups.items():
                bulk(name, durations)
            groups.clear()
            if i < count:
                self._print(*ready[i])
                i += 1

    def report_unended(self) -> None:
        """A problem for each slice still open (call after the last `release`)."""
        for tid, stack in self._stacks.items():
            for name, _, _ in stack:
                self.sink.problem("atrace-unended", f"ATrace slice {name!r} on thread {tid} never ended")

    def _print(self, ts: int, tid: int, buf: str) -> None:
        """One ATrace print event, in time order: begin pushes, end pops and emits a slice."""
        stacks = self._stacks
        lines = self._lines
        line = lines.get(buf)
        if line is None:
            line = _atrace_line(buf)
            if line is not _OTHER:
                # the same few begin/end lines recur all through a trace: parse each once
                if len(lines) >= LINE_CACHE:
                    lines.clear()
                lines[buf] = line
        if line is _END:
            stack = stacks.get(tid)
            if stack:
                name, start, pid = stack.pop()
                self.sink.slice(name, start, ts - start, pid, tid, len(stack))
            else:
                self.sink.problem("atrace-unmatched-end",
                                  f"ATrace end without begin on thread {tid} at {ts} ns")
        elif line is _OTHER:
            self._other(buf.rstrip("\n"), ts)
        else:
            stack = stacks.get(tid)
            if stack is None:
                stack = stacks[tid] = []
            stack.append((line[0], ts, line[1]))

    def _other(self, buf: str, ts: int) -> None:
        """The rarer ATrace lines: counters and async slices (begin/end are handled inline)."""
        if len(buf) < 1 or (len(buf) > 1 and buf[1] != "|"):
            return
        kind = buf[0]
        sink = self.sink
        if kind == "C":
            parts = buf.split("|")
            if len(parts) >= 4:
                try:
                    value = float(parts[3])
                except ValueError:
                    sink.problem("atrace-bad-counter",
                                 f"ATrace counter {parts[2]!r} has a non-numeric value {parts[3]!r}")
                    return
                sink.counter(parts[2], "", ts, value)
        elif kind in "SF":
            parts = buf.split("|")
            if len(parts) >= 4 and parts[1].isdigit():
                key = (int(parts[1]), parts[2], parts[3])
                if kind == "S":
                    self._async[key] = ts
                elif key in self._async:
                    begin = self._async.pop(key)
                    sink.slice(parts[2], begin, ts - begin, key[0], None, 0)
