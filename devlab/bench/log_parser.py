"""Parse any captured benchmark_model output (classic TFLite or LiteRT dialect) into a BenchmarkLog.

Takes stdout, stdout+stderr, logcat and Android Studio captures, old and new builds, fragments and several runs in
one capture. Only what the log prints is reported: a number it does not print stays None, and a log that stops
before the results is `incomplete` (or `failed` when it says it failed).

The two tools share the base runner (tflite/tools/benchmark/benchmark_model.cc: the `Running benchmark ...` header,
the `count=..` stats lines, `Initialized session in ..ms.`); the classic tool ends with `Inference timings in us:`
(BenchmarkLoggingListener there), LiteRT's with its `BENCHMARK RESULTS` block (devlab.bench.litert_block).
"""

from __future__ import annotations

import re

from devlab.bench.delegation import parse_delegation
from devlab.bench.litert_block import BLOCK_START, ResultsBlock
from devlab.bench.log_failure import failure_reason
from devlab.bench.log_lines import PROMPT, LogLine, clean_lines
from devlab.bench.log_result import BenchmarkLog, BenchmarkRun, InferenceStats, MemoryStats, Status, ToolKind
from devlab.bench.op_profile import parse_op_profile_lines
from devlab.bench.stats_line import NUMBER, StatsLine, parse_stats_line, to_float

_PARAM_ECHO = re.compile(r"^(?P<name>[^\[\]:=\t]{1,80}?)\s*:\s*\[(?P<value>[^\]]*)\]\s*$")
_LOADED = re.compile(r"^(?:Loaded model|Loading model from:) (?P<path>.+?)\s*$")
_MODEL_SIZE = re.compile(rf"^The input model file size \(MB\): (?P<v>{NUMBER})\s*$")
_SESSION = re.compile(rf"^Initialized session in (?P<v>{NUMBER})\s*ms\.?\s*$")
# 2018 builds: "Running benchmark for 50 iterations "; later: "... for at least 50 iterations and at least ..."
_RUNNING = re.compile(r"^Running benchmark for (?:at least )?\d+ iterations")
_TIMINGS = re.compile(r"^(?:Average )?[Ii]nference timings in us:\s*(?P<rest>.*)$")
_TIMING_PAIR = re.compile(rf"(?P<key>[A-Za-z][A-Za-z ()]*?)\s*:\s*(?P<v>{NUMBER}|no stats)(?=\s*,|\s*$)")
_MEMORY = re.compile(r"^(?:Peak memory footprint|Memory footprint delta from the start of the tool) \(MB\):(?P<rest>.*)$")
_MEM_PAIR = re.compile(rf"\b(init|overall)=({NUMBER})(?=\s|$)")
_PEAK = re.compile(rf"^Overall peak memory footprint \(MB\) via periodic monitoring:\s*(?P<v>{NUMBER})\s*$")
_STARTING = re.compile(r"^STARTING!$")
# The 2018 listener printed the regular runs' average under the key "no stats" (BenchmarkLoggingListener::
# OnBenchmarkEnd: "Average inference timings in us: Warmup: X, Init: Y, no stats: Z").
_INFERENCE_KEYS = ("inference (avg)", "inference", "no stats")

# Lines after which the tool stops: the run failed. LiteRT's tool aborts right after its option errors
# (CreateCompiledModelOptions in litert/tools/benchmark_litert_model.cc).
_FATAL = re.compile(
    r"Benchmarking failed|^Failed to apply \w+ delegate|Failed to allocate tensors|failed to prepare\.?$"
    r"|failed to invoke\.?$|^Failed to invoke|Failed to (?:mmap|load|read) model|Model file doesn't exist"
    r"|File doesn't exist|Failed to (?:construct|create) (?:the )?interpreter|Disallowed CPU fallback"
    r"|CANNOT LINK EXECUTABLE|Segmentation fault|^Aborted|Unable to open model|not a valid flatbuffer"
    r"|^Error: |Could not (?:open|build|create)|are incompatible\.$|^Invalid gpu-precision"
    r"|^Failed to run options parsers|^Run failed|^Compiled model (?:is null|not initialized)", re.IGNORECASE)
_WARNING = re.compile(r"^Duplicate flags?:|^Unconsumed cmdline flags|^Unknown flag")
# Lines that appear once per invocation: seeing one again means the capture holds another run. LogParams()
# starts every run with "Log parameter values verbosely: [..]" (since 2020) or "Num runs: [..]" / "Min num runs:
# [..]" (before), so a run that is cut off right after them is still a run of its own.
_ONCE = (_LOADED, _MODEL_SIZE, _SESSION, _TIMINGS, BLOCK_START, re.compile(r"^Graph:\s*\["),
         re.compile(r"^Log parameter values verbosely:\s*\["), re.compile(r"^(?:Min )?[Nn]um runs:\s*\["))
# Lines only benchmark_model prints: a capture with none of them is not a benchmark_model log.
_TOOL_LINES = (_STARTING, _PARAM_ECHO, _LOADED, _MODEL_SIZE, _SESSION, _RUNNING, _TIMINGS, _MEMORY, _PEAK,
               BLOCK_START, _WARNING, re.compile(r"^Benchmarking failed|^Log parameter values verbosely"),
               re.compile(r"^Node number \d+ \(.+\) failed to|^Failed to apply \w+ delegate|^NN API returned error"
                          r"|^Restored original execution plan|^Created TensorFlow Lite "),
               re.compile(r"Replacing \d+ (?:out of \d+ )?node\(s\) with delegate"),
               re.compile(r"^count=\d+ (?:first|curr)=\S+"))
# Which tool printed a capture: LiteRT's lines carry its source file; its help lists its own flags.
_LITERT_SOURCE = re.compile(r"^benchmark_litert_model\.")
_LITERT_HELP = re.compile(r"--gpu-precision=|--use_npu=|--dispatch_library_path=|NPU Vendor Flags from LiteRT")
_CLASSIC_ONLY = (_TIMINGS, re.compile(r"^Loaded model "), re.compile(r"^Graph:\s*\["))
_CLASSIC_HELP = re.compile(r"--enable_op_profiling=|--use_nnapi=|--gpu_precision_loss_allowed=")


def parse_benchmark_log(text: str, *, may_be_truncated: bool = True) -> BenchmarkLog:
    """Parse a capture. Never raises on odd input: what cannot be read is simply not reported.

    `may_be_truncated`: drop a final unterminated line that ends like a number (it may be cut in half); pass
    False when the capture is known to be whole (the process exited and all output was read).
    """
    lines = clean_lines(text, may_be_truncated=may_be_truncated)
    runs = tuple(_parse_run(chunk) for chunk in _split_runs(lines))
    recognized = any(_is_tool_line(line) for line in lines) or any(run.op_profile is not None for run in runs)
    return BenchmarkLog(dialect=_tool_kind(lines) or "classic", runs=runs, recognized=recognized)


def detect_tool_kind(text: str) -> ToolKind | None:
    """Which benchmark_model printed `text` (a log, or its `--help`): "litert" for LiteRT's
    benchmark_litert_model, "classic" for TFLite's, None when nothing in it tells."""
    if _LITERT_HELP.search(text):
        return "litert"
    if _CLASSIC_HELP.search(text):
        return "classic"
    return _tool_kind(clean_lines(text, may_be_truncated=False))


def _tool_kind(lines: list[LogLine]) -> ToolKind | None:
    classic = False
    for line in lines:
        text = line.text.strip()
        if (line.source and _LITERT_SOURCE.match(line.source)) or BLOCK_START.match(text):
            return "litert"
        classic = classic or any(pattern.match(text) for pattern in _CLASSIC_ONLY)
    return "classic" if classic else None


def _is_tool_line(line: LogLine) -> bool:
    text = line.text.strip()
    return bool(text) and line.level != PROMPT and (
        bool(line.source and _LITERT_SOURCE.match(line.source))
        or any(pattern.search(text) for pattern in _TOOL_LINES))


def _split_runs(lines: list[LogLine]) -> list[list[LogLine]]:
    """One chunk per invocation. A run starts at a prompt that runs a benchmark binary, at `STARTING!` (unless
    a prompt just started it: `$ ./benchmark_model ...` then `STARTING!` is one run), or where a line that
    appears once per run appears again."""
    chunks: list[list[LogLine]] = [[]]
    seen: set[int] = set()
    prompted = False   # the current chunk was opened by a prompt and has no tool line yet
    for line in lines:
        text = line.text.strip()
        if line.level == PROMPT:
            if _has_content(chunks[-1]):
                chunks.append([])
            seen, prompted = set(), True
            continue
        once = next((i for i, pattern in enumerate(_ONCE) if pattern.match(text)), None)
        starts = (_STARTING.match(text) is not None and not prompted) or (once is not None and once in seen)
        if starts and _has_content(chunks[-1]):
            chunks.append([])
            seen = set()
        if text:
            prompted = False
        if once is not None:
            seen.add(once)
        chunks[-1].append(line)
    return [chunk for chunk in chunks if _has_content(chunk)] or [[]]


def _has_content(chunk: list[LogLine]) -> bool:
    return any(line.text.strip() for line in chunk)


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
    block: ResultsBlock | None = None
    in_block = False
    failed = False
    for line in lines:
        text = line.text.strip()
        if not text:
            continue
        if in_block:
            in_block = block.feed(text)  # type: ignore[union-attr]
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
        if BLOCK_START.match(text):
            block, in_block = ResultsBlock(), True
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
    inference_avg = next((timings[key] for key in _INFERENCE_KEYS if key in timings), None)
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
    inference = _inference(regular) if regular else None
    warmup_stats = _inference(warmup) if warmup else None
    first_inference = timings.get("first inference")
    if block is not None:
        inference_avg, inference, warmup_avg, warmup_stats, memory = _with_block(
            block, inference, warmup_stats, memory)
        init_us = init_us if init_us is not None else block.us("model initialization")
        first_inference = warmup_stats.first_us if warmup_stats and warmup_stats.first_us is not None \
            else block.us("warmup (first)")
    status: Status = "ok" if inference_avg is not None else "failed" if failed else "incomplete"
    unique_errors = _unique(errors)
    return BenchmarkRun(
        status=status, errors=unique_errors, warnings=_unique(warnings), init_us=init_us,
        first_inference_us=first_inference, warmup_avg_us=warmup_avg, inference_avg_us=inference_avg,
        inference=inference, warmup=warmup_stats, memory=memory,
        delegation=parse_delegation(lines, parameters, op_profile), op_profile=op_profile,
        parameters=parameters, model_path=model_path, model_size_mb=model_size,
        first_line=lines[0].number if lines else None,
        failure_reason=failure_reason(unique_errors) if status != "ok" else None)


def _with_block(block: ResultsBlock, inference: InferenceStats | None, warmup: InferenceStats | None,
                memory: MemoryStats | None) -> tuple[float | None, InferenceStats | None, float | None,
                                                     InferenceStats | None, MemoryStats | None]:
    """LiteRT's figures. The base runner's stats lines above the block hold the same runs in whole microseconds
    with p5/median/p95; the block prints them rounded to 10 us. A stats line is used only where the block agrees
    with it (same run count, averages within the block's rounding): the block is the check. Otherwise the block's
    own figures stand."""
    avg = block.us("inference (avg)")
    if _confirmed(inference, avg, block.runs("inference (avg)")):
        avg = inference.avg_us  # type: ignore[union-attr]
    else:
        count = block.runs("inference (avg)")
        inference = None if count is None else InferenceStats(
            count=count, min_us=block.us("inference (min)"), max_us=block.us("inference (max)"), avg_us=avg,
            std_us=block.us("inference (std)", "ms"))
    warmup_avg = block.us("warmup (avg)")
    if _confirmed(warmup, warmup_avg, block.runs("warmup (avg)")):
        warmup_avg = warmup.avg_us  # type: ignore[union-attr]
    else:
        count = block.runs("warmup (avg)")
        warmup = None if count is None else InferenceStats(
            count=count, min_us=None, max_us=None, avg_us=warmup_avg, std_us=None, first_us=block.us("warmup (first)"))
    footprints = (block.mb("init footprint"), block.mb("overall footprint"), block.mb("peak memory"))
    if any(value is not None for value in footprints):
        memory = MemoryStats(init_mb=footprints[0], overall_mb=footprints[1], peak_mb=footprints[2])
    if block.no_inference_runs:
        avg = None
    return avg, inference, warmup_avg, warmup, memory


def _confirmed(stats: InferenceStats | None, block_avg_us: float | None, block_runs: int | None) -> bool:
    """The stats line and the block describe the same runs: same count, and averages within the block's %.2f ms
    rounding (5 us), or both without an average (no runs)."""
    if stats is None or block_runs is None or stats.count != block_runs:
        return False
    if stats.avg_us is None or block_avg_us is None:
        return stats.avg_us is None and block_avg_us is None
    return abs(stats.avg_us - block_avg_us) <= 5.0


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
