"""Parse any captured benchmark_model output (classic TFLite or LiteRT dialect) into a BenchmarkLog.

Takes stdout, stdout+stderr, logcat and Android Studio captures, old and new builds, fragments and several runs in
one capture. Only what the log prints is reported: a number it does not print stays None, and a log that stops
before the results is `incomplete` (or `failed` when it says it failed).
"""

from __future__ import annotations

import re

from devlab.bench.delegation import parse_delegation
from devlab.bench.log_lines import LogLine, clean_lines
from devlab.bench.log_result import BenchmarkLog, BenchmarkRun, InferenceStats, MemoryStats, Status
from devlab.bench.op_profile import parse_op_profile_lines
from devlab.bench.stats_line import NUMBER, StatsLine, parse_stats_line, to_float

_PARAM_ECHO = re.compile(r"^(?P<name>[^\[\]:=\t]{1,80}?)\s*:\s*\[(?P<value>[^\]]*)\]\s*$")
_LOADED = re.compile(r"^Loaded model (?P<path>.+?)\s*$")
_MODEL_SIZE = re.compile(rf"^The input model file size \(MB\): (?P<v>{NUMBER})\s*$")
_SESSION = re.compile(rf"^Initialized session in (?P<v>{NUMBER})\s*ms\.?\s*$")
_RUNNING = re.compile(r"^Running benchmark for at least")
_TIMINGS = re.compile(r"^(?:Average )?[Ii]nference timings in us:\s*(?P<rest>.*)$")
_TIMING_PAIR = re.compile(rf"(?P<key>[A-Za-z][A-Za-z ()]*?)\s*:\s*(?P<v>{NUMBER}|no stats)(?=\s*,|\s*$)")
_MEMORY = re.compile(r"^(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\):(?P<rest>.*)$")
_MEM_PAIR = re.compile(rf"\b(init|overall)=({NUMBER})(?=\s|$)")
_PEAK = re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring:\s*(?P<v>{NUMBER})\s*$")
_LITERT_BLOCK = re.compile(r"^=+ BENCHMARK RESULTS =+$")
_LITERT_END = re.compile(r"^=+$")
_LITERT_ITEM = re.compile(rf"^(?P<key>[A-Za-z][A-Za-z ()]*?):\s*(?P<v>{NUMBER})\s*(?P<unit>ms|us|s|MB|KB|GB)?\b"
                          rf"(?:\s*\((?P<n>\d+) runs?\))?")
_UNIT_TO_US = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}

# Lines after which the tool stops: the run failed.
_FATAL = re.compile(
    r"Benchmarking failed|^Failed to apply \w+ delegate|Failed to allocate tensors|failed to prepare\.?$"
    r"|failed to invoke\.?$|^Failed to invoke|Failed to (?:mmap|load|read) model|Model file doesn't exist"
    r"|File doesn't exist|Failed to (?:construct|create) (?:the )?interpreter|Disallowed CPU fallback"
    r"|CANNOT LINK EXECUTABLE|Segmentation fault|^Aborted|Unable to open model|not a valid flatbuffer"
    r"|^Error: |Could not (?:open|build|create)", re.IGNORECASE)
_WARNING = re.compile(r"^Duplicate flags?:|^Unconsumed cmdline flags|^Unknown flag")
# Lines that appear once per invocation: seeing one again means the capture holds another run.
_ONCE = (re.compile(r"^Loaded model "), _MODEL_SIZE, _SESSION, _TIMINGS, _LITERT_BLOCK,
         re.compile(r"^Graph:\s*\["))


def parse_benchmark_log(text: str, *, may_be_truncated: bool = True) -> BenchmarkLog:
    """Parse a capture. Never raises on odd input: what cannot be read is simply not reported.

    `may_be_truncated`: drop a final unterminated line that ends like a number (it may be cut in half); pass
    False when the capture is known to be whole (the process exited and all output was read).
    """
    lines = clean_lines(text, may_be_truncated=may_be_truncated)
    chunks = _split_runs(lines)
    runs = tuple(_parse_run(chunk) for chunk in chunks)
    dialect = "litert" if any(_LITERT_BLOCK.match(line.text.strip()) for line in lines) else "classic"
    return BenchmarkLog(dialect=dialect, runs=runs)


def _split_runs(lines: list[LogLine]) -> list[list[LogLine]]:
    chunks: list[list[LogLine]] = [[]]
    seen: set[int] = set()
    for line in lines:
        text = line.text.strip()
        once = next((i for i, pattern in enumerate(_ONCE) if pattern.match(text)), None)
        starts = text == "STARTING!" or (once is not None and once in seen)
        if starts and any(l.text.strip() for l in chunks[-1]):
            chunks.append([])
            seen = set()
        if once is not None:
            seen.add(once)
        chunks[-1].append(line)
    return [chunk for chunk in chunks if any(l.text.strip() for l in chunk)] or [[]]


def _inference(stats: StatsLine) -> InferenceStats:
    return InferenceStats(count=stats.count, min_us=stats.min_us, max_us=stats.max_us, avg_us=stats.avg_us,
                          std_us=stats.std_us, first_us=stats.first_us, median_us=stats.median_us,
                          p5_us=stats.p5_us, p95_us=stats.p95_us)


def _parse_run(lines: list[LogLine]) -> BenchmarkRun:
    errors: list[str] = []
    warnings: list[str] = []
    params: list[tuple[str, str]] = []
    model_path: str | None = None
    model_size: float | None = None
    session_ms: float | None = None
    timings: dict[str, float | None] = {}
    running_headers = 0
    header_stats: dict[int, StatsLine] = {}   # stats line after the n-th "Running benchmark" header
    orphan_stats: list[StatsLine] = []        # stats lines of a fragment that starts after the header
    mem: dict[str, float | None] = {}
    litert: dict[str, tuple[float, str | None, int | None]] = {}
    in_litert = False
    failed = False
    for line in lines:
        text = line.text.strip()
        if not text:
            continue
        if in_litert:
            if _LITERT_END.match(text):
                in_litert = False
            elif item := _LITERT_ITEM.match(text):
                value = to_float(item.group("v"))
                if value is not None:
                    litert[item.group("key").strip().lower()] = (
                        value, item.group("unit"), int(item.group("n")) if item.group("n") else None)
            continue
        if _FATAL.search(text):
            failed = True
            errors.append(text)
            continue
        if line.level == "error":
            errors.append(text)
            continue
        if line.level == "warn" or _WARNING.match(text):
            warnings.append(text)
        if _LITERT_BLOCK.match(text):
            in_litert = True
        elif echo := _PARAM_ECHO.match(text):
            params.append((echo.group("name").strip(), echo.group("value")))
        elif loaded := _LOADED.match(text):
            model_path = loaded.group("path")
        elif size := _MODEL_SIZE.match(text):
            model_size = to_float(size.group("v"))
        elif session := _SESSION.match(text):
            session_ms = to_float(session.group("v"))
        elif _RUNNING.match(text):
            running_headers += 1
        elif stats := parse_stats_line(text):
            if running_headers and running_headers not in header_stats:
                header_stats[running_headers] = stats
            elif not running_headers:
                orphan_stats.append(stats)
        elif timing := _TIMINGS.match(text):
            for pair in _TIMING_PAIR.finditer(timing.group("rest")):
                timings[pair.group("key").strip().lower()] = to_float(pair.group("v"))
        elif memory := _MEMORY.match(text):
            for key, value in _MEM_PAIR.findall(memory.group("rest")):
                mem[key] = to_float(value)
        elif peak := _PEAK.match(text):
            mem["peak"] = to_float(peak.group("v"))

    op_profile = parse_op_profile_lines(lines)
    parameters = tuple(params)
    if litert:
        return _litert_run(litert, errors, warnings, failed, parameters, lines, op_profile, model_path)

    inference_avg = timings.get("inference (avg)", timings.get("inference"))
    warmup_avg = timings.get("warmup (avg)", timings.get("warmup"))
    # Which stats line measured the regular runs: the one after the 2nd header; in a fragment that starts
    # below the headers, the stats line whose avg is the printed Inference (avg).
    regular = header_stats.get(2)
    warmup = header_stats.get(1)
    if regular is None and inference_avg is not None:
        regular = next((s for s in orphan_stats if s.avg_us == inference_avg), None)
    if warmup is None and warmup_avg is not None:
        warmup = next((s for s in orphan_stats if s.avg_us == warmup_avg and s is not regular), None)
    init_us = timings.get("init")
    if init_us is None and session_ms is not None:
        init_us = round(session_ms * 1000.0, 3)
    memory = MemoryStats(init_mb=mem.get("init"), overall_mb=mem.get("overall"), peak_mb=mem.get("peak")) \
        if mem else None
    complete = inference_avg is not None
    status: Status = "ok" if complete else "failed" if failed else "incomplete"
    return BenchmarkRun(
        status=status, errors=_unique(errors), warnings=_unique(warnings), init_us=init_us,
        first_inference_us=timings.get("first inference"), warmup_avg_us=warmup_avg, inference_avg_us=inference_avg,
        inference=_inference(regular) if regular else None, warmup=_inference(warmup) if warmup else None,
        memory=memory, delegation=parse_delegation(lines, parameters, op_profile), op_profile=op_profile,
        parameters=parameters, model_path=model_path, model_size_mb=model_size,
        first_line=lines[0].number if lines else None)


def _litert_run(items: dict[str, tuple[float, str | None, int | None]], errors: list[str], warnings: list[str],
                failed: bool, parameters: tuple[tuple[str, str], ...], lines: list[LogLine],
                op_profile, model_path: str | None) -> BenchmarkRun:  # type: ignore[no-untyped-def]
    def us(key: str, default_unit: str | None = None) -> float | None:
        if key not in items:
            return None
        value, unit, _ = items[key]
        factor = _UNIT_TO_US.get(unit or default_unit or "")
        return None if factor is None else round(value * factor, 3)

    def mb(key: str) -> float | None:
        if key not in items:
            return None
        value, unit, _ = items[key]
        return {"MB": value, "KB": value / 1024.0, "GB": value * 1024.0}.get(unit or "")

    avg_unit = items["inference (avg)"][1] if "inference (avg)" in items else None
    inference = None
    if "inference (avg)" in items and items["inference (avg)"][2] is not None:
        # The std line prints no unit: it is in the unit of the avg line above it.
        inference = InferenceStats(count=items["inference (avg)"][2], min_us=us("inference (min)"),
                                   max_us=us("inference (max)"), avg_us=us("inference (avg)"),
                                   std_us=us("inference (std)", avg_unit))
    warmup = None
    if "warmup (avg)" in items and items["warmup (avg)"][2] is not None:
        warmup = InferenceStats(count=items["warmup (avg)"][2], min_us=None, max_us=None,
                                avg_us=us("warmup (avg)"), std_us=None, first_us=us("warmup (first)"))
    mem = {key: mb(key) for key in ("init footprint", "overall footprint", "peak memory")}
    memory = MemoryStats(init_mb=mem["init footprint"], overall_mb=mem["overall footprint"],
                         peak_mb=mem["peak memory"]) if any(v is not None for v in mem.values()) else None
    inference_avg = us("inference (avg)")
    status: Status = "ok" if inference_avg is not None else "failed" if failed else "incomplete"
    return BenchmarkRun(
        status=status, errors=_unique(errors), warnings=_unique(warnings), init_us=us("model initialization"),
        first_inference_us=us("warmup (first)"), warmup_avg_us=us("warmup (avg)"), inference_avg_us=inference_avg,
        inference=inference, warmup=warmup, memory=memory,
        delegation=parse_delegation(lines, parameters, op_profile), op_profile=op_profile, parameters=parameters,
        model_path=model_path, first_line=lines[0].number if lines else None)


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
