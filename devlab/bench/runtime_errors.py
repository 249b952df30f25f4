"""LiteRT's refusals and crash logs turned into one line: the runtime's own reason, and a fix that applies.

The runtime's messages matched here come from its source (the text the installed ai-edge-litert 2.3.0 prints):
- `Encountered unresolved custom op: %s.` and `Select TensorFlow op(s) ... not supported by this interpreter`:
  tensorflow/lite/core/subgraph.cc, Subgraph::OpPrepare (an op with no registered kernel fails at prepare).
- `unsupported zero-point value (%d) in channel %d of INT8 tensor %d in XNNPACK delegate`:
  tensorflow/lite/delegates/xnnpack/xnnpack_delegate.cc, the INT8 case of the tensor datatype check: per-channel
  quantized INT8 tensors must have zero point 0 in every channel (XNNPACK's qcint8 is symmetric).
- `No usable Dispatch runtime found`: litert/runtime/dispatch/dispatch_delegate.cc (a model compiled ahead of time
  for an NPU runs only with that vendor's dispatch library).
Anything else gives the runtime's first error line as it printed it.
"""

from __future__ import annotations

import re

GENERIC_FIX = "check the model with `devlab build --explain`; the runtime's full log is in the run folder"
_CUSTOM_OP = re.compile(r"Encountered unresolved custom op: (?P<op>[^\s.]+)")
_FLEX = re.compile(r"Select TensorFlow op\(s\)|Regular TensorFlow ops are not supported")
_ZERO_POINT = re.compile(r"unsupported zero-point value \(?(?P<zp>-?\d+)\)? in channel (?P<channel>\d+) of "
                         r"(?P<type>INT8|INT4) tensor (?P<tensor>\d+) in XNNPACK delegate")
_DISPATCH = re.compile(r"No usable Dispatch runtime found")
# Where a line was logged from, not what it says: LiteRT's "ERROR: [model_load.cc:140] ", absl's
# "F0000 00:00:1700000000.1 123 file.cc:45] ", and the "└ " that continues a LiteRT status chain.
_LOCATION = re.compile(r"(?:(?:ERROR|WARNING|INFO):\s*)?\[[^\]\s]+:\d+\]\s*|^[EFW]\d{4} [\d:.]+\s+\d+\s+\S+:\d+\]\s*")
_LEVEL = re.compile(r"^(?:ERROR|WARNING|INFO):\s*")
# Lines that say something failed, from LiteRT's logger, absl CHECKs, C++ terminate and Python's last line.
_ERRORISH = re.compile(r"ERROR|Check failed|terminate called|what\(\):|[Ee]rror:|failed|Failed|Fatal")
# Noise on every CPU machine: LiteRT tries vendor NPU plugins whose libraries are not installed.
_NOISE = re.compile(r"^\s*(?:WARNING|INFO)\b|compiler_plugin|libopenvino|Could not load shared library|"
                    r"npu_registry|Traceback|^\s+File \"")


def error_lines(text: str) -> list[str]:
    """The runtime's error messages in the order printed, level and source location stripped, noise dropped.
    A status chain (`CompiledModel error: ... message=` then `└ ...` lines) gives its lines with content only."""
    lines: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        continuation = stripped.startswith("└")
        if _NOISE.search(raw) or not (continuation or _ERRORISH.search(raw)):
            continue
        message = " ".join(_LEVEL.sub("", _LOCATION.sub("", stripped.lstrip("└ "))).split())
        if message and not message.endswith(("=", ":")) and message not in lines:
            lines.append(message[:300])
    return lines


def last_error_line(text: str) -> str | None:
    """What the runtime said last before it stopped (for a crash, the closest thing to its reason)."""
    lines = error_lines(text)
    return lines[-1] if lines else None


def explain_runtime_error(text: str) -> tuple[str, str]:
    """(reason, fix) for a model LiteRT refused; `text` is its exception message and log."""
    if match := _CUSTOM_OP.search(text):
        op = match.group("op")
        return (f"the model uses the custom op {op}, which this LiteRT runtime has no kernel for "
                f"(runtime: Encountered unresolved custom op: {op})",
                f"benchmark it where {op} is registered (your app's runtime, or a benchmark_model built with the "
                f"op's kernel, e.g. MediaPipe's for its ops), or export the model without the custom op")
    if _FLEX.search(text):
        return ("the model uses TensorFlow (Flex) ops, which this LiteRT runtime does not include "
                "(runtime: Select TensorFlow op(s) are not supported by this interpreter)",
                "convert without SELECT_TF_OPS (builtin ops only), or benchmark with a runtime linked with the "
                "Flex delegate")
    if match := _ZERO_POINT.search(text):
        return (f"XNNPACK takes per-channel quantized {match['type']} tensors only with zero point 0; tensor "
                f"{match['tensor']} has zero point {match['zp']} in channel {match['channel']} (runtime: "
                f"{match.group(0)})",
                "quantize the float model with symmetric per-channel weights (devlab's int8-dynamic variant of the "
                "float .tflite, or the TF converter's default int8 recipe)")
    if _DISPATCH.search(text):
        return ("the model was compiled ahead of time for an NPU and needs that vendor's dispatch library "
                "(runtime: No usable Dispatch runtime found)",
                "benchmark it on the phone it was compiled for, or use the model from before NPU compilation")
    lines = error_lines(text)
    return (lines[0] if lines else (" ".join(text.split())[:300] or "no reason given")), GENERIC_FIX
