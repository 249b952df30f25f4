"""`devlab numerics bisect` through the installed script: on the simulated s23 (real adb server, the classic
benchmark_model's value files and output file, the GPU delegate's fp16 storage simulated) it names the MUL whose
fp16 output overflows; on this machine's CPU (real LiteRT) every op agrees with the fp32 reference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cli_helpers import one_error_line, run_devlab
from numerics_models import overflow_model
from sim_fixtures import adb_server, sim_phone, start_phone, stop_phone  # noqa: F401  (fixtures)


def _bisect(tmp_path, env, *args: str) -> dict:
    model = tmp_path / "broken.tflite"
    model.write_bytes(overflow_model())
    result = run_devlab("numerics", "bisect", str(model), *args, "--json", cwd=tmp_path, env=env, timeout=300)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_bisect_on_the_simulated_gpu_names_the_op_whose_fp16_output_overflows(cli_env, sim_phone, tmp_path):
    found = _bisect(tmp_path, cli_env, "--device", sim_phone.serial)
    assert (found["variant"], found["accelerator"], found["source"]) == ("as-is", "gpu", "simulated")
    assert found["ops_probed"] == 4 and found["skipped_nodes"] == []
    first = found["culprits"][0]
    assert (first["node"], first["op"], first["output"]) == (0, "MUL", "scaled")
    assert first["non_finite"] > 0 and first["fp16_overflow"] and not first["inputs_out_of_fp16"]
    assert "keep node 0 (MUL) in fp32" in first["fix"] and "--gpu-precision fp32" in first["fix"]
    by_node = {c["node"]: c for c in found["culprits"]}
    assert by_node[1]["inputs_out_of_fp16"] and "fix the op that produces them" in by_node[1]["fix"]
    assert by_node[3]["non_finite"] == 0 and by_node[3]["max_rel_error"] < 1e-2   # the ADD is fine in fp16
    folder = tmp_path / "traces"
    kept = json.loads(next(folder.glob("*-bisect/bisect.json")).read_text())
    assert kept["culprits"][0]["node"] == 0
    assert "Inference timings in us" in next(folder.glob("*-bisect/logs/probe-outputs.log")).read_text()

    fp32 = _bisect(tmp_path, cli_env, "--device", sim_phone.serial, "--gpu-precision", "fp32")
    assert all(c["non_finite"] == 0 and c["max_rel_error"] < 1e-6 for c in fp32["culprits"])


@pytest.mark.slow
def test_bisect_on_this_machines_cpu_with_real_litert(tmp_path):
    found = _bisect(tmp_path, None, "--device", "host", "--accelerator", "cpu")
    assert (found["device"], found["accelerator"], found["source"]) == ("host", "cpu", "measured")
    assert sorted(c["node"] for c in found["culprits"]) == [0, 1, 2, 3]
    assert all(c["non_finite"] == 0 and c["max_rel_error"] < 1e-6 for c in found["culprits"])
    mul = next(c for c in found["culprits"] if c["node"] == 0)
    assert mul["fp16_overflow"] and mul["reference_max_abs"] > 65504   # flagged as a risk on a GPU in fp16
    assert mul["fix"] is None                                          # nothing to fix on the CPU


def test_bisect_with_a_bad_npz_or_accelerator_is_one_line(tmp_path):
    model = tmp_path / "broken.tflite"
    model.write_bytes(overflow_model())
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((2, 64), np.float32))
    result = run_devlab("numerics", "bisect", str(model), "--accelerator", "cpu", "--inputs", str(bad),
                        cwd=tmp_path, timeout=300)
    assert result.exit_code == 2 and "'x' is 2x64 float32" in one_error_line(result.stderr)
    result = run_devlab("numerics", "bisect", str(model), "--accelerator", "npu", cwd=tmp_path, timeout=120)
    assert result.exit_code == 2 and "use --accelerator gpu or cpu" in one_error_line(result.stderr)


@pytest.mark.slow
def test_bisect_with_litert_benchmark_model_says_why_it_cannot(cli_env, adb_server, tmp_path):
    model = tmp_path / "broken.tflite"
    model.write_bytes(overflow_model())
    phone = start_phone(adb_server, tmp_path / "litert-root", benchmark_tool="litert")
    try:
        result = run_devlab("numerics", "bisect", str(model), "--device", phone.serial, cwd=tmp_path, env=cli_env,
                            timeout=300)
    finally:
        stop_phone(phone)
    assert result.exit_code == 1, result.stderr
    line = one_error_line(result.stderr)
    assert "has no --input_layer" in line and "classic TFLite benchmark_model" in line, line
    assert not list(tmp_path.glob("traces/*-bisect"))     # refused before the build and before any folder
