"""Turn a captured benchmark_model log into clean message lines.

Captures come wrapped in many ways: bare stdout, `INFO: `-style level prefixes, `adb logcat` (threadtime, brief,
with year), Android Studio's logcat panes (old and new), shell prompts and linker warnings. LiteRT's own logger adds
`[<file>:<line>] ` after the level (LITERT_LOGGER_LOG_PROD in litert/c/internal/litert_logging.h) and the GPU
accelerator logs through absl (`I1201 14:05:59.123456   1234 delegate_kernel.cc:911] `). Every parser in
devlab.bench reads the message text only, so the wrapping is removed here, once; the LiteRT source file is kept
on the line because it says which tool printed it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Tags the classic tool and its APK log under; other logcat tags are the rest of the phone talking.
TFLITE_TAGS = frozenset({"tflite", "tflite_benchmark", "TFLITE", "litert", "LiteRT"})
# absl's Android sink logs under "native" unless the program sets a tag (absl/log/internal/globals.cc,
# kDefaultAndroidTag): kept only when the message carries absl's own prefix, so other native code stays out.
ABSL_TAG = "native"

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

_LEVEL_PREFIX = re.compile(r"^(?P<level>INFO|WARN|WARNING|ERROR|VERBOSE|DEBUG|FATAL): ?(?P<msg>.*)$")
# LiteRT's logger puts the source file and line after the level: `INFO: [benchmark_litert_model.h:94] Model ...`.
_SOURCE = re.compile(r"^\[(?P<file>[\w.+-]+\.(?:h|cc|c|cpp|mm)):\d+\] ?(?P<msg>.*)$", re.DOTALL)
# absl's prefix (absl/log/internal/log_format.cc, FormatLogPrefix): severity letter, MMDD hh:mm:ss.uuuuuu, the
# thread id right-aligned in 7 columns, `file:line] `.
_ABSL = re.compile(r"^(?P<level>[IWEF])\d{4} \d\d:\d\d:\d\d\.\d{6} +-?\d+ (?P<file>[\w.+-]+):\d+\] ?(?P<msg>.*)$")
_ABSL_LEVELS = {"I": "info", "W": "warn", "E": "error", "F": "error"}
# Noise a shell capture adds: the dynamic linker complaining about the binary, and prompts echoing the command
# (`generic:/ $ `, `~/dir $ `, `user@host:~/dir$ `, `/data/local/tmp # `, `$ `, Windows shells).
_LINKER = re.compile(r"^(?:WARNING: )?linker: |^\S*linker64?: |^WARNING: linker")
_PROMPT = re.compile(r"^(?:[\w.-]+@[\w.-]+:?\S*?|\S+:\S*|~\S*|/\S*)?\s?[$#](?: |$)|^(?:C:\\[^>]*|PS [^>]*)> ")
# A prompt whose command starts a benchmark: the capture's next run begins there.
_BENCH_COMMAND = re.compile(r"benchmark", re.IGNORECASE)
_LOGCAT_BANNER = re.compile(r"^--------- beginning of ")


@dataclass(frozen=True)
class LogLine:
    """One message line: `text` without any capture prefix; `level` from the prefix or logcat letter."""

    number: int          # 1-based line number in the capture
    text: str
    level: str | None    # info | warn | error | verbose | debug | None (bare line) | prompt (see below)
    source: str | None = None  # the source file LiteRT's or absl's prefix named (`benchmark_litert_model.h`)


# A shell prompt that runs a benchmark binary comes back as a line of this level, its text the command: the run
# splitter starts a run there; every other reader skips it.
PROMPT = "prompt"


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
        line: str | None = raw.replace("\x00", "")
        level: str | None = None
        for form in _LOGCAT_FORMS:
            match = form.match(line)  # type: ignore[arg-type]
            if match:
                tag = match.group("tag").strip()
                if tag in TFLITE_TAGS or (tag == ABSL_TAG and _ABSL.match(match.group("msg"))):
                    level = _LEVEL_LETTERS[match.group("level")]
                    line = match.group("msg")
                else:
                    line = None
                break
        if line is None or _LOGCAT_BANNER.match(line) or _LINKER.match(line.strip()):
            continue
        source: str | None = None
        prefixed = _LEVEL_PREFIX.match(line.lstrip())
        absl = _ABSL.match(line)
        if prefixed:
            level = prefixed.group("level").lower().replace("warning", "warn").replace("fatal", "error")
            line = prefixed.group("msg")  # keeps a table row's own tabs ("INFO: \t CONV_2D\t...")
        elif absl:
            level, source, line = _ABSL_LEVELS[absl.group("level")], absl.group("file"), absl.group("msg")
        elif _PROMPT.match(line):
            command = _PROMPT.sub("", line, count=1).strip()
            if _BENCH_COMMAND.search(command):
                out.append(LogLine(number=number, text=command, level=PROMPT))
            continue
        if located := _SOURCE.match(line):
            source, line = located.group("file"), located.group("msg")
        out.append(LogLine(number=number, text=line, level=level, source=source))
    return out
