"""Which benchmark_model a --help describes, the argv each dialect gets, and the per-sha256 cache."""

from __future__ import annotations

import pytest

from devlab.bench.flags import BenchmarkOptions, tool_argv
from devlab.bench.phone_results import refuse_unconsumed
from devlab.bench.tool_dialect import ToolDialect, load_cached, read_help, store
from devlab.errors import ToolError
from devlab.sim.bench_flags import usage

BIN = "/data/local/tmp/devlab/bin/benchmark_model"
LITERT = read_help("\n  NPU Vendor Flags from LiteRT:\n\nINFO: STARTING!\nERROR: " + usage(BIN, "litert"))
CLASSIC = read_help("INFO: STARTING!\nERROR: " + usage(BIN, "classic"))
LEGACY = read_help(usage(BIN, "classic-legacy"))
GPU_RUN = BenchmarkOptions(graph="/m.tflite", num_runs=5, use_gpu=True, gpu_precision="fp32", gpu_backend="gl",
                           require_full_delegation=True, result_file_path="/o/r.pb", runtime_info_file="/o/ri.pb")


def test_help_tells_the_tools_apart():
    assert (LITERT.kind, CLASSIC.kind, LEGACY.kind) == ("litert", "classic", "classic")
    assert LITERT.takes("gpu-precision") and not LITERT.takes("enable_op_profiling")
    assert CLASSIC.takes("op_profiling_output_file") and not LEGACY.takes("op_profiling_output_file")
    with pytest.raises(ToolError, match="listed no flags"):
        read_help("/system/bin/sh: benchmark_model: not found")


def test_each_dialect_spells_the_options_its_own_way():
    assert tool_argv(BIN, GPU_RUN, LITERT) == [
        BIN, "--graph=/m.tflite", "--num_runs=5", "--use_gpu=true", "--gpu-precision=fp32", "--gpu_backend=opengl",
        "--require_full_delegation=true", "--use_cpu=false", "--result_file_path=/o/r.pb",
        "--model_runtime_info_output_file=/o/ri.pb"]
    assert tool_argv(BIN, GPU_RUN, CLASSIC) == [
        BIN, "--graph=/m.tflite", "--num_runs=5", "--use_gpu=true", "--gpu_precision_loss_allowed=false",
        "--gpu_backend=gl", "--require_full_delegation=true", "--result_file_path=/o/r.pb",
        "--export_model_runtime_info=true", "--model_runtime_info_output_file=/o/ri.pb"]
    profiled = BenchmarkOptions(graph="/m.tflite", enable_op_profiling=True)
    assert tool_argv(BIN, profiled, LITERT)[-1] == "--use_profiler=true"


def test_a_flag_the_binary_lacks_is_refused_before_the_run():
    cached = BenchmarkOptions(graph="/m.tflite", use_gpu=True, delegate_serialize_dir="/d", delegate_serialize_token="t")
    with pytest.raises(ToolError, match="does not take --gpu_serialization_dir, --gpu_model_cache_key"):
        tool_argv(BIN, cached, LITERT)          # LiteRT 2.2.0 has no GPU program cache flag (added after it)
    csv = BenchmarkOptions(graph="/m.tflite", enable_op_profiling=True, op_profiling_output_mode="csv",
                           op_profiling_output_file="/o/p.csv")
    with pytest.raises(ToolError, match="does not take --op_profiling_output_mode, --op_profiling_output_file"):
        tool_argv(BIN, csv, LEGACY)
    assert "--op_profiling_output_mode=csv" in tool_argv(BIN, csv, CLASSIC)


def test_unconsumed_flags_in_a_log_fail_naming_the_flag():
    refuse_unconsumed("INFO: STARTING!\nINFO: Loaded model /m.tflite\n", "clean", "s23")
    with pytest.raises(ToolError) as caught:
        refuse_unconsumed("INFO: STARTING!\nWARN: Unconsumed cmdline flags: --op_profiling_output_mode=csv\n",
                           "op-profile", "s23")
    assert "--op_profiling_output_mode=csv" in caught.value.problem and "op-profile" in caught.value.problem


def test_cache_per_sha256(tmp_path):
    sha = "ab" * 32
    assert load_cached(sha, tmp_path) is None
    store(sha, ToolDialect("litert", ("graph", "use_gpu"), "2.2.0"), tmp_path)
    assert load_cached(sha, tmp_path) == ToolDialect("litert", ("graph", "use_gpu"), "2.2.0")
    (tmp_path / f"{sha}.dialect.json").write_text("{broken")
    assert load_cached(sha, tmp_path) is None        # a damaged entry is asked again, never trusted
