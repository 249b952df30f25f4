"""Why a benchmark_model run stopped: the most specific of its error lines.

Both tools end a failed run with a generic line (`Benchmarking failed.` from benchmark_main / LiteRT's Main), and
TFLite adds its own wrap-up lines (`Restored original execution plan after delegate application failure.`,
`Failed to apply GPU delegate.`). The user needs the line that names the cause: `Disallowed CPU fallback
detected.`, `NN API returned error ANEURALNETWORKS_OP_FAILED ...`, a LiteRT runtime error. So lines are ranked:
a cause beats a line that only names the failing node, which beats a generic wrap-up; among equals the first one
printed wins (later lines are consequences of it).
"""

from __future__ import annotations

import re

# Wrap-up lines that say that something failed, not what.
_GENERIC = re.compile(
    r"^Benchmarking failed|^Restored original execution plan|^Failed to apply \w+ delegate|"
    r"^Failed to allocate tensors|^Failed to invoke|^Aborted|^Segmentation fault", re.IGNORECASE)
# Lines that name where it failed (`Node number 248 (TfLiteNnapiDelegate) failed to prepare.`).
_NODE = re.compile(r"^Node number \d+ \(.+\) failed to (?:prepare|invoke)", re.IGNORECASE)
# Error-level lines that are reports, not failures: the GPU delegate's unsupported-op list, and absl's notice.
_REPORT = re.compile(
    r"^Following operations are not supported by|^\d+ operations will run on the|^[A-Z][A-Z0-9_]*(?: [A-Za-z0-9_]+)?: "
    r"|^All log messages before absl::InitializeLog")


def failure_reason(errors: tuple[str, ...]) -> str | None:
    """The most specific error line, or None when there is none."""
    best: tuple[int, str] | None = None
    for line in errors:
        if _REPORT.match(line):
            continue
        rank = 0 if _GENERIC.match(line) else 1 if _NODE.match(line) else 2
        if best is None or rank > best[0]:
            best = (rank, line)
    return None if best is None else best[1]
