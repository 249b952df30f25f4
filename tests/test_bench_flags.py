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
    ({"delegate_serialize_dir": "cache", "delegate_serialize_token": "abc"}, "absolute device path"),
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


# --- locating the user's binary (devlab/bench/binary.py) ---

import hashlib  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402

from devlab.bench.binary import ENV_VAR, check_elf, locate_benchmark_model  # noqa: E402

HOST_ELF = shutil.which("ls")


def aarch64_elf(path):
    """A real ELF64 little-endian AArch64 header (e_machine 183), as an Android arm64 build starts."""
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack("<HHI", 2, 183, 1) + bytes(44)
    path.write_bytes(header + b"\x00" * 64)
    return path


def test_flag_wins_over_env_and_config(tmp_path):
    flag = aarch64_elf(tmp_path / "flag_bm")
    env_bin = aarch64_elf(tmp_path / "env_bm")
    found = locate_benchmark_model("arm64-v8a", flag_path=flag, env={ENV_VAR: str(env_bin)},
                                   config={"arm64-v8a": "/nope"})
    assert found.path == flag and found.origin == "flag" and found.machine == "AArch64"
    assert found.sha256 == hashlib.sha256(flag.read_bytes()).hexdigest()
    assert locate_benchmark_model("arm64-v8a", env={ENV_VAR: str(env_bin)}).origin == "env"
    by_config = locate_benchmark_model("arm64-v8a", env={}, config={"arm64-v8a": str(env_bin)})
    assert by_config.origin == "devlab.toml" and by_config.path == env_bin


def test_missing_binary_says_where_to_get_one():
    with pytest.raises(UsageError) as caught:
        locate_benchmark_model("arm64-v8a", env={}, config={"x86_64": "/usr/bin/ls"})
    message = caught.value.one_line()
    assert "android_aarch64_benchmark_model" in message and "bazel" in message
    assert ENV_VAR in message and "--benchmark-model" in message and "[benchmark_model]" in message


def test_flag_pointing_nowhere(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        locate_benchmark_model("arm64-v8a", flag_path=tmp_path / "missing", env={})


def test_not_an_elf_and_wrong_architecture(tmp_path):
    script = tmp_path / "benchmark_model"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(UsageError, match="not an ELF"):
        check_elf(script, "arm64-v8a")
    assert HOST_ELF is not None
    with pytest.raises(UsageError, match="program interpreter /lib"):   # a glibc host build: no phone runs it
        check_elf(__import__("pathlib").Path(HOST_ELF), "x86_64")
    with pytest.raises(UsageError, match="64-bit x86-64 binary, but the device ABI arm64-v8a needs 64-bit AArch64"):
        locate_benchmark_model("arm64-v8a", flag_path=HOST_ELF, env={})
    with pytest.raises(UsageError, match="needs 32-bit ARM"):
        check_elf(aarch64_elf(tmp_path / "bm64"), "armeabi-v7a")
