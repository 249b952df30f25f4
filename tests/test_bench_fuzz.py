"""Hostile input for the benchmark parsers: truncation, garbage, huge numbers, unicode.

Properties: no exception other than ParseError, and no invented number: every number a parse of a truncated
real log reports appears, as printed, in that truncated text (LiteRT's ms are converted, so only classic logs).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devlab.bench.log_parser import parse_benchmark_log
from devlab.bench.op_profile import parse_op_profile_csv, parse_op_profile_tables
from devlab.errors import ParseError
from test_log_parser_litert import LITERT_GPU_PARTIAL, NPU_RUN

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real" / "benchmark_logs"
REAL_LOGS = sorted(p.read_text() for p in FIXTURES.glob("*.txt") if not p.name.endswith(".source.txt"))
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PRINTED_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")


def numbers_in(value) -> list[float]:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [float(value)]
    if isinstance(value, dict):
        return [n for key, item in value.items() if key not in ("first_line", "number") for n in numbers_in(item)]
    return [n for item in value for n in numbers_in(item)]


def printed_numbers(text: str) -> set[float]:
    """Numbers as printed, plus `<x>ms` values in microseconds (`Initialized session in 0.847ms.` -> 847)."""
    found = {float(token) for token in _PRINTED_NUMBER.findall(text) if math.isfinite(float(token))}
    in_ms = re.findall(r"(\d+(?:\.\d+)?)\s*ms\b", text)
    return found | {round(float(token) * 1000.0, 3) for token in in_ms}


@FUZZ
@given(log=st.sampled_from(REAL_LOGS), cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_real_log_reports_only_printed_numbers(log: str, cut: float):
    prefix = log[: int(len(log) * cut)]
    result = parse_benchmark_log(prefix).to_json()
    assert result["status"] in ("ok", "failed", "incomplete")
    allowed = printed_numbers(prefix)
    invented = [n for n in numbers_in(result) if n not in allowed]
    # Counts and node indices are printed too (e.g. `count=50`, `]:77`); derived op counts are len(rows) of
    # rows present in the prefix, so they are at most the number of lines.
    invented = [n for n in invented if not (n.is_integer() and n <= prefix.count("\n"))]
    assert invented == [], f"numbers not in the prefix: {invented[:5]}"


@FUZZ
@given(log=st.sampled_from(REAL_LOGS), cut=st.integers(min_value=0, max_value=20_000))
def test_truncated_log_never_ok_without_its_result_line(log: str, cut: int):
    prefix = log[:cut]
    result = parse_benchmark_log(prefix).to_json()
    if result["status"] == "ok":
        assert "nference timings in us" in prefix or "Inference (avg)" in prefix


LITERT_LOGS = [LITERT_GPU_PARTIAL, NPU_RUN, LITERT_GPU_PARTIAL + LITERT_GPU_PARTIAL.replace("9876.5", "9000")]


@FUZZ
@given(log=st.sampled_from(LITERT_LOGS), cut=st.floats(min_value=0.0, max_value=1.0))
def test_truncated_litert_log_reports_only_printed_numbers(log: str, cut: float):
    """LiteRT's block prints milliseconds (std without a unit): a reported number is printed, or printed x1000."""
    prefix = log[: int(len(log) * cut)]
    result = parse_benchmark_log(prefix).to_json()
    if result["status"] == "ok":
        assert "Inference (avg)" in prefix
    printed = printed_numbers(prefix)
    allowed = printed | {round(n * 1000.0, 3) for n in printed}
    invented = [n for n in numbers_in(result) if n not in allowed and not (n.is_integer() and n <= prefix.count("\n"))]
    assert invented == [], f"numbers not in the prefix: {invented[:5]}"


garbage = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=2000)
log_like = st.lists(st.sampled_from([
    "count=", "first=", "avg=", "1e308", "9" * 400, "-nan", "inf", "\t", " ", "\n", "%", "[", "]", ":",
    "INFO: ", "ERROR: ", "Inference timings in us: Init: ", ", Inference (avg): ", "Peak memory footprint (MB): ",
    "init=", "overall=", "============================== Run Order ==============================",
    "\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]",
    "========== BENCHMARK RESULTS ==========", "Inference (avg): ", " ms (", " runs)", "Delegate/", "ü→日本",
    "Replacing ", " out of ", " node(s) with delegate (TfLiteGpuDelegateV2) node, yielding ", " partitions",
    "node type, count, avg_ms, avg %, cdf %, mem KB, times called", ", ", "STARTING!", "Benchmarking failed.",
    "[benchmark_litert_model.h:94] ", "(LITERT_CL)", "(DispatchDelegate)", " for subgraph ", "0 (main).", "p5=",
    "median=", "p95=", "(all same)", "Loading model from: ", "Initializing OpenCL-based API from graph.",
    "I1201 14:05:59.100123    7012 delegate_kernel.cc:911] ", "~/dir $ ./benchmark_model ", "no stats: ",
    "Average inference timings in us: Warmup: ", "Log parameter values verbosely: [0]", "nan", "(0 runs)",
]), max_size=80).map("".join)


@FUZZ
@given(text=st.one_of(garbage, log_like))
@example(text="[NODE TYPE][AVGMS][NAME][NAME]")   # found by this test: a repeated column once crashed the row regex
def test_garbage_never_raises_and_json_is_finite(text: str):
    result = parse_benchmark_log(text).to_json()
    assert all(math.isfinite(n) for n in numbers_in(result))
    parse_op_profile_tables(text)
    try:
        parse_op_profile_csv(text)
    except ParseError:
        pass


@FUZZ
@given(exponent=st.integers(min_value=-400, max_value=400), digits=st.integers(min_value=1, max_value=400))
def test_huge_and_tiny_numbers(exponent: int, digits: int):
    value = "9" * digits + f"e{exponent}"
    log = f"Inference timings in us: Init: {value}, First inference: 1, Warmup (avg): 2, Inference (avg): {value}\n"
    result = parse_benchmark_log(log).to_json()
    parsed = float(value)
    if math.isfinite(parsed):
        assert result["inference_avg_us"] == parsed and result["status"] == "ok"
    else:  # overflow to inf is no measurement
        assert result["inference_avg_us"] is None and result["status"] == "incomplete"
