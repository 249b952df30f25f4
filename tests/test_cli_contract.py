"""The CLI contract as CI and users meet it: the installed `devlab` console script in a subprocess, its exit code
(0 ok, 1 run failed, 2 usage, 3 gate failed, 130 interrupted) and one `error:` line, never a traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cli_helpers import CliResult, devlab_script, run_devlab
from devlab.sim import faults

QUICK = ("--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--max-secs", "5", "--no-op-profile", "--no-trace")
MODEL = "models/poco_x3/mnv3_seg_float.tflite"


def _assert_one_error_line(result: CliResult) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert " — " in errors[0], f"the error names no fix: {errors[0]}"
    return errors[0]


def test_no_arguments_shows_the_commands_and_exits_2(tmp_path):
    result = run_devlab(cwd=tmp_path, timeout=120)
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "run" in result.stdout + result.stderr and "build" in result.stdout + result.stderr


@pytest.mark.parametrize("args, problem", [
    (("frobnicate",), "No such command 'frobnicate'"),
    (("run", "--bogus"), "No such option: --bogus"),
    (("run", "--runs", "abc"), "'--runs'"),
    (("bench", "parse"), "Missing argument"),
    (("build",), "no model given"),
    (("run", "--model", "/no/such/model.tflite"), "/no/such/model.tflite"),
    (("bench", "parse", "/no/such/benchmark.log"), "/no/such/benchmark.log"),
    (("trace", "analyze", "/no/such/trace.pftrace"), "/no/such/trace.pftrace"),
])
def test_usage_errors_are_one_line_and_exit_2(tmp_path, args, problem):
    result = run_devlab(*args, cwd=tmp_path, timeout=120)
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    line = _assert_one_error_line(result)
    assert problem in line


def test_build_list_shows_the_zoo_as_build_help_promises(tmp_path):
    help_text = run_devlab("build", "--help", cwd=tmp_path, timeout=120).stdout
    assert "devlab build --list" in help_text
    result = run_devlab("build", "--list", cwd=tmp_path, timeout=120)
    assert result.exit_code == 0, result.stderr
    assert "sd-block" in result.stderr and "groupnorm-4d" in result.stderr


def test_version_exits_0(tmp_path):
    result = run_devlab("--version", cwd=tmp_path, timeout=120)
    assert result.exit_code == 0 and result.stdout.startswith("devlab "), result


@pytest.fixture()
def hanging_benchmark(sim_phone):
    sim_phone.server.device.setprop(faults.HANG, "benchmark_model")
    yield sim_phone
    sim_phone.server.device.setprop(faults.HANG, "")


def test_a_failed_variant_on_the_phone_exits_1(cli_env, hanging_benchmark, tmp_path, real_fixtures):
    args = ("run", "--device", "s23", "--model", str(real_fixtures / MODEL), "--variants", "as-is", *QUICK,
            "--timeout", "2")
    result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "failed: as-is" in result.stderr
    (run_json,) = (tmp_path / "traces").glob("*/run.json")
    assert [v["status"] for v in json.loads(run_json.read_text())["variants"]] == ["failed"]


def test_ctrl_c_mid_run_exits_130_and_names_the_folder_to_resume(cli_env, hanging_benchmark, tmp_path,
                                                                real_fixtures):
    args = ("run", "--device", "s23", "--model", str(real_fixtures / MODEL), "--variants", "as-is,int8-dynamic",
            *QUICK, "--timeout", "120")
    process = subprocess.Popen([str(devlab_script()), *args], cwd=tmp_path, env={**os.environ, **cli_env},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not list((tmp_path / "traces").glob("*/")) and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()
            time.sleep(0.2)
        time.sleep(2.0)   # inside the hung benchmark_model call by now
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    line = _assert_one_error_line(CliResult(process.returncode, stdout, stderr))
    (run_dir,) = (tmp_path / "traces").glob("*/")
    assert "interrupted" in line and f"devlab run --resume {run_dir.relative_to(tmp_path)}" in line
    record = json.loads((run_dir / "run.json").read_text())
    assert any(note.startswith("incomplete:") for note in record["notes"])


# Gate failure (exit 3) through the installed script: tests/test_compare_gate.py::test_gate_exits_3_naming_the_regressed_variant
# (report_helpers.devlab runs the console script).
