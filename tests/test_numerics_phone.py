"""`devlab run --check-outputs` on the simulated phone through the real adb server: the classic benchmark_model's
--input_layer_value_files / --output_filepath run, the outputs pulled, split and compared with the host's fp32
reference; the GPU delegate's fp16 storage (simulated) catches a variant whose MUL overflows fp16."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from cli_helpers import REPO, one_error_line, run_devlab
from numerics_models import overflow_model, two_output_model
from sim_fixtures import adb_server, sim_phone, start_phone, stop_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
QUICK = ("--runs", "2", "--warmup", "0", "--min-secs", "0", "--max-secs", "2", "--no-op-profile", "--no-trace",
         "--cooldown", "0")


def _run(tmp_path: Path, env: dict[str, str], serial: str, *extra: str) -> dict:
    model = tmp_path / "broken.tflite"
    model.write_bytes(overflow_model())
    result = run_devlab("run", "--device", serial, "--model", str(model), "--variants", "as-is", *QUICK,
                        "--check-outputs", "--json", *extra, cwd=tmp_path, env=env, timeout=300)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    return record


@pytest.mark.slow
def test_fp16_overflow_on_the_simulated_gpu_is_caught_and_fp32_is_not(cli_env, sim_phone, tmp_path):
    record = _run(tmp_path, cli_env, sim_phone.serial)
    row = record["variants"][0]
    numerics = row["numerics"]
    assert numerics["status"] == "exceeded" and numerics["source"] == "simulated"
    assert numerics["reference"]["variant"] == "as-is" and "XNNPACK off" in numerics["reference"]["runtime"]
    assert len(numerics["inputs_sha256"]) == 64
    output = numerics["outputs"][0]
    assert output["name"] == "y" and output["shape"] == [1, 64]
    assert output["non_finite"] > 0 and output["max_rel_error"] is None   # inf where fp32 is finite
    log = (tmp_path / "traces" / record["run_id"] / row["logs"]["outputs"]).read_text()
    assert "Inference timings in us" in log and "WARN: Tensor #" not in log   # inputs named as the model does
    assert row["logs"]["outputs"] == "logs/as-is-gpu-outputs.log"
    with np.load(tmp_path / "traces" / record["run_id"] / numerics["arrays"]) as arrays:   # kept for a closer look
        assert sorted(arrays.files) == ["device/y", "inputs/x", "reference/y"]
        assert int(np.count_nonzero(~np.isfinite(arrays["device/y"]))) == output["non_finite"]

    fp32_record = _run(tmp_path, cli_env, sim_phone.serial, "--gpu-precision", "fp32")
    fp32 = fp32_record["variants"][0]["numerics"]
    assert fp32["status"] == "ok" and fp32["outputs"][0]["non_finite"] == 0
    assert fp32["outputs"][0]["max_rel_error"] < 1e-5
    assert fp32["inputs_sha256"] == numerics["inputs_sha256"]       # the same inputs for every run

    cpu = _run(tmp_path, cli_env, sim_phone.serial, "--accelerator", "cpu")["variants"][0]["numerics"]
    assert cpu["status"] == "ok" and cpu["outputs"][0]["max_rel_error"] < 1e-5

    # gate --max-numerics-error: the fp16 run fails it (exit 3, the row and "non-finite" named), fp32 passes
    traces = tmp_path / "traces"
    gate = run_devlab("gate", "--baseline", str(traces / fp32_record["run_id"]), "--candidate",
                      str(traces / record["run_id"]), "--max-numerics-error", "1%", cwd=tmp_path, env=cli_env,
                      timeout=120)
    assert gate.exit_code == 3, gate.stderr
    line = one_error_line(gate.stderr)
    assert "as-is/gpu" in line and "non-finite" in line and "allowed 0.01" in line, line
    passed = run_devlab("gate", "--baseline", str(traces / fp32_record["run_id"]), "--candidate",
                        str(traces / fp32_record["run_id"]), "--max-numerics-error", "0.01", "--json",
                        cwd=tmp_path, env=cli_env, timeout=120)
    assert passed.exit_code == 0, passed.stderr
    assert json.loads(passed.stdout)["numerics_judged"] == 1
    # the report's latency table: a numerics column, the exceeded row flagged
    html = (traces / record["run_id"] / "report.html").read_text()
    assert '<th class="sortable">numerics</th>' in html
    assert '<td class="numerics exceeded"' in html and "exceeded · non-finite" in html
    assert "<div>numerics: exceeded</div>" in html          # the headline card reads the row's numerics too
    assert '<td class="numerics ok"' in (traces / fp32_record["run_id"] / "report.html").read_text()


@pytest.mark.slow
def test_user_inputs_npz_reach_the_phone_and_set_the_outputs(cli_env, sim_phone, tmp_path):
    import numpy as np
    small = tmp_path / "small.npz"
    np.savez(small, x=np.full((1, 64), 0.5, np.float32))   # 0.5 * 6e4 = 3e4: within fp16's range
    record = _run(tmp_path, cli_env, sim_phone.serial, "--inputs", str(small))
    numerics = record["variants"][0]["numerics"]
    assert numerics["status"] == "ok", numerics                 # the phone ran on these inputs, not random ones
    assert numerics["reference"]["inputs"] == "--inputs small.npz"
    big = tmp_path / "big.npz"
    np.savez(big, x=np.full((1, 64), 2.0, np.float32))         # 1.2e5: beyond it
    assert _run(tmp_path, cli_env, sim_phone.serial, "--inputs", str(big))["variants"][0]["numerics"]["status"] == "exceeded"


@pytest.mark.slow
def test_litert_benchmark_model_has_no_output_file_so_numerics_is_unavailable(cli_env, adb_server, tmp_path):
    phone = start_phone(adb_server, tmp_path / "litert-root", benchmark_tool="litert")
    try:
        record = _run(tmp_path, cli_env, phone.serial)
    finally:
        stop_phone(phone)
    row = record["variants"][0]
    assert row["status"] == "ok" and row["timing"]["source"] == "simulated"   # the latency run is unaffected
    numerics = row["numerics"]
    assert numerics["status"] == "unavailable" and numerics["outputs"] == []
    assert "--input_layer" in numerics["reason"] and "--output_filepath" in numerics["reason"]
    assert "benchmark_litert_model" in numerics["reason"] and "outputs" not in row["logs"]
    run_dir = str(tmp_path / "traces" / record["run_id"])
    gate = run_devlab("gate", "--baseline", run_dir, "--candidate", run_dir, "--max-numerics-error", "0.01",
                      cwd=tmp_path, env=cli_env, timeout=120)
    assert gate.exit_code == 2 and "has no output check" in one_error_line(gate.stderr)


def test_an_npz_with_a_wrong_name_or_shape_is_one_line_naming_the_fix(tmp_path):
    import numpy as np
    model = tmp_path / "broken.tflite"
    model.write_bytes(overflow_model())
    for arrays, words in (({"z": np.zeros((1, 64), np.float32)}, "no array for model input 'x'"),
                          ({"x": np.zeros((1, 63), np.float32)}, "'x' is 1x63 float32, the model's input is 1x64"),
                          ({"x": np.zeros((1, 64), np.float64)}, "'x' is 1x64 float64")):
        bad = tmp_path / "bad.npz"
        np.savez(bad, **arrays)
        result = run_devlab("run", "--model", str(model), "--variants", "as-is", "--accelerator", "cpu",
                            "--inputs", str(bad), cwd=tmp_path, timeout=300)
        assert result.exit_code == 2, result.stderr
        line = one_error_line(result.stderr)
        assert words in line and "save one array per input: x 1x64 float32" in line, line
    (tmp_path / "junk.npz").write_text("not a zip")
    result = run_devlab("run", "--model", str(model), "--variants", "as-is", "--accelerator", "cpu",
                        "--inputs", str(tmp_path / "junk.npz"), cwd=tmp_path, timeout=300)
    assert result.exit_code == 2 and "is not a readable .npz" in one_error_line(result.stderr)
    assert not list((tmp_path / "traces").glob("*/run.json"))   # nothing measured on bad inputs


def test_a_model_with_no_float_output_is_one_line(tmp_path):
    model = tmp_path / "ints.tflite"
    model.write_bytes(overflow_model(int_output=True))
    result = run_devlab("run", "--model", str(model), "--variants", "as-is", "--accelerator", "cpu",
                        "--check-outputs", cwd=tmp_path, timeout=300)
    assert result.exit_code == 2, result.stderr
    line = one_error_line(result.stderr)
    assert "has no float outputs" in line and "y int32" in line and "without --check-outputs" in line


@pytest.mark.slow
def test_outputs_are_split_in_the_subgraphs_order_not_by_name(cli_env, sim_phone, tmp_path):
    model = tmp_path / "two.tflite"
    model.write_bytes(two_output_model())
    result = run_devlab("run", "--device", sim_phone.serial, "--model", str(model), "--variants", "as-is", *QUICK,
                        "--accelerator", "cpu", "--check-outputs", "--json", cwd=tmp_path, env=cli_env, timeout=300)
    assert result.exit_code == 0, result.stderr
    numerics = json.loads(result.stdout)["variants"][0]["numerics"]
    assert [o["name"] for o in numerics["outputs"]] == ["z_doubled", "a_rectified"]   # the subgraph's order
    assert numerics["status"] == "ok" and all(o["max_abs_error"] == 0.0 for o in numerics["outputs"])
