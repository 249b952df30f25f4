"""Turn a captured benchmark_model log into clean message lines.

Captures come wrapped in many ways: bare stdout, `INFO: `-style level prefixes, `adb logcat` (threadtime, brief,
with year), Android Studio's logcat panes (old and new), shell prompts and linker warnings. Every parser in
devlab.bench reads the message text only, so the wrapping is removed here, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Tags the classic tool and its APK log under; other logcat tags are the rest of the phone talking.
TFLITE_TAGS = frozenset({"tflite", "tflite_benchmark", "TFLITE", "litert", "LiteRT"})

_LEVEL_LETTERS = {"V": "verbose", "D": "debug", "I": "info", "W": "warn", "E": "error", "F": "error"}

_LOGCAT_THREADTIME = re.compile(
    r"^(?:\d{4}-)?\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d{3}\s+\d+\s+\d+\s+(?P<level>[VDIWEF])\s+"
    r"(?P<tag>[^\s:][^:]*?)\s*:(?: |$)(?P<msg>.*)$")
_LOGCAT_BRIEF = re.compile(r"^(?P<level>[VDIWEF])/(?P<tag>[^(:]+?)\s*\(\s*\d+\):(?: |$)(?P<msg>.*)$")
_STUDIO_OLD = re.compile(
    r"^\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d{3}\s+\d+-\d+/\S*\s+(?P<level>[VDIWEF])/(?P<tag>[^:]+?):(?: |$)"
    r"(?P<msg>.*)$")
_STUDIO_NEW = re.compile(
    r"^\d{4}-\d\d-\d\d\s+\d\d:\d\d:\d\d\.\d{3}\s+\d+-\d+\s+(?P<tag>\S+)\s+\S+\s+(?P<level>[VDIWEF])\s\s"
    r"(?P<msg>.*)$")
_LOGCAT_FORMS = (_LOGCAT_THREADTIME, _STUDIO_OLD, _STUDIO_NEW, _LOGCAT_BRIEF)

_LEVEL_PREFIX = re.compile(r"^(?P<level>INFO|WARN|WARNING|ERROR|VERBOSE|DEBUG|FATAL): (?P<msg>.*)$")
# Noise a shell capture adds: the dynamic linker complaining about the binary, and prompts echoing the command.
_LINKER = re.compile(r"^(?:WARNING: )?linker: |^\S*linker64?: |^WARNING: linker")
_PROMPT = re.compile(r"^(?:\S+:\S* [$#] |[$#] |\$ |# |C:\\[^>]*> |PS [^>]*> )")
_LOGCAT_BANNER = re.compile(r"^--------- beginning of ")


@dataclass(frozen=True)
class LogLine:
    """One message line: `text` without any capture prefix; `level` from the prefix or logcat letter."""

    number: int          # 1-based line number in the capture
    text: str
    level: str | None    # info | warn | error | verbose | debug | None (bare line)


def split_lines(text: str, *, may_be_truncated: bool = True) -> list[str]:
    """Split into lines; drop a final unterminated line that may be a number cut in half.

    A capture cut mid-line (a killed process, a partial download) ends in a fragment like `avg=8680.3`: a
    different number from the one printed. Only a final line without newline that ends in a digit-like
    character is dropped, so a capture that merely lost its last newline still keeps text lines.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    last = lines.pop()  # "" when the text ends with a newline
    if last and not (may_be_truncated and re.search(r"[0-9.eE+-]$", last)):
        lines.append(last)
    return lines


def clean_lines(text: str, *, may_be_truncated: bool = True) -> list[LogLine]:
    """Message lines of a capture, in order, without prefixes, prompts, linker noise or other logcat tags."""
    out: list[LogLine] = []
    for number, raw in enumerate(split_lines(text, may_be_truncated=may_be_truncated), start=1):
        line = raw.replace("\x00", "")
        level: str | None = None
        for form in _LOGCAT_FORMS:
            match = form.match(line)
            if match:
                if match.group("tag").strip() not in TFLITE_TAGS:
                    line = None  # type: ignore[assignment]
                else:
                    level = _LEVEL_LETTERS[match.group("level")]
                    line = match.group("msg")
                break
        if line is None or _LOGCAT_BANNER.match(line) or _LINKER.match(line.strip()):
            continue
        prefixed = _LEVEL_PREFIX.match(line.lstrip())
        if prefixed:
            level = prefixed.group("level").lower().replace("warning", "warn").replace("fatal", "error")
            line = prefixed.group("msg")  # keeps a table row's own tabs ("INFO: \t CONV_2D\t...")
        elif _PROMPT.match(line):
            continue
        out.append(LogLine(number=number, text=line, level=level))
    return out
