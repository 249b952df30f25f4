"""benchmark_model argv building and option validation."""

from __future__ import annotations

import dataclasses

import pytest

from devlab.bench.flags import BenchmarkOptions, classic_argv
from devlab.errors import UsageError

BIN = "/data/local/tmp/devlab/benchmark_model"


def test_minimal_argv_leaves_defaults_to_the_tool():
    assert classic_argv(BIN, BenchmarkOptions(graph="/data/local/tmp/m.tflite")) == [
        BIN, "--graph=/data/local/tmp/m.tflite"]


def test_full_gpu_profile_run_argv():
    options = BenchmarkOptions(
        graph="/data/local/tmp/my model;$(reboot).tflite", num_runs=50, warmup_runs=5, min_secs=1.0,
        max_secs=150.0, warmup_min_secs=0.5, num_threads=4, use_gpu=True, gpu_precision="fp32",
        gpu_backend="cl", require_full_delegation=True, enable_op_profiling=True,
        op_profiling_output_mode="csv", op_profiling_output_file="/data/local/tmp/devlab/ops.csv",
        delegate_serialize_dir="/data/local/tmp/devlab/cache", delegate_serialize_token="abc123",
        report_peak_memory_footprint=True, taskset_mask="f0")
    assert classic_argv(BIN, options) == [
        "taskset", "f0", BIN, "--graph=/data/local/tmp/my model;$(reboot).tflite",  # one argv item, unquoted here
        "--num_runs=50", "--warmup_runs=5", "--min_secs=1.0", "--max_secs=150.0", "--warmup_min_secs=0.5",
        "--num_threads=4", "--use_gpu=true", "--gpu_precision_loss_allowed=false", "--gpu_backend=cl",
        "--require_full_delegation=true", "--enable_op_profiling=true", "--op_profiling_output_mode=csv",
        "--op_profiling_output_file=/data/local/tmp/devlab/ops.csv",
        "--delegate_serialize_dir=/data/local/tmp/devlab/cache", "--delegate_serialize_token=abc123",
        "--report_peak_memory_footprint=true"]


def test_fp16_allows_precision_loss():
    argv = classic_argv(BIN, BenchmarkOptions(graph="m.tflite", use_gpu=True, gpu_precision="fp16"))
    assert "--gpu_precision_loss_allowed=true" in argv


@pytest.mark.parametrize("changes, words", [
    ({"num_runs": -1}, "num_runs"),
    ({"warmup_runs": 1.5}, "warmup_runs"),
    ({"num_threads": 0}, "num_threads"),
    ({"min_secs": -0.5}, "min_secs"),
    ({"min_secs": 10.0, "max_secs": 1.0}, "max_secs"),
    ({"gpu_precision": "fp8", "use_gpu": True}, "precision"),
    ({"gpu_backend": "vulkan", "use_gpu": True}, "backend"),
    ({"gpu_precision": "fp16"}, "without the GPU delegate"),
    ({"op_profiling_output_mode": "csv"}, "without op profiling"),
    ({"enable_op_profiling": True, "op_profiling_output_mode": "csv"}, "needs an output file"),
    ({"delegate_serialize_dir": "/data/local/tmp/c"}, "both a directory and a token"),
    ({"delegate_serialize_dir": "/d", "delegate_serialize_token": "a b;rm"}, "token"),
    ({"taskset_mask": "f0; reboot"}, "taskset"),
    ({"taskset_mask": "0"}, "taskset"),
    ({"graph": "a\nb"}, "graph"),
])
def test_invalid_options_raise_usage_error_with_a_fix(changes, words):
    with pytest.raises(UsageError) as caught:
        BenchmarkOptions(**{"graph": "m.tflite", **changes})
    assert words in caught.value.problem and caught.value.fix and caught.value.exit_code == 2


def test_replace_revalidates():
    options = BenchmarkOptions(graph="m.tflite", num_runs=10)
    with pytest.raises(UsageError):
        dataclasses.replace(options, num_runs=-3)
