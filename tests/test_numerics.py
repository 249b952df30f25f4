"""devlab.numerics: the error figures (hand-checked), the output file split, benchmark_model's value-file argv in
both dialects, the fp16 storage emulation, and the simulated classic tool's value-file rules through the real adb
server; `--check-outputs` on this machine with real TF conversion and real LiteRT (fp32 / fp16 / int8 vs fp32)."""

from __future__ import annotations

import json
import math

import jsonschema
import numpy as np
import pytest

from cli_helpers import REPO, run_devlab
from devlab.bench.flags import BenchmarkOptions, tool_argv
from devlab.bench.tool_dialect import ToolDialect
from devlab.errors import ModelError, ToolError, UsageError
from devlab.numerics.fp16 import emulate_fp16_storage
from devlab.numerics.metrics import compare, parse_error_limit, verdict, worst_rel_error
from devlab.numerics.model_io import input_file_bytes, read_model_io, split_outputs
from devlab.numerics.phone_outputs import why_unavailable
from devlab.numerics.reference import run_reference
from devlab.sim.bench_flag_tables import CLASSIC, LITERT_2_2_0
from numerics_models import overflow_model
from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)

SCHEMA = json.loads((REPO / "devlab" / "schemas" / "run.schema.json").read_text())
CLASSIC_DIALECT = ToolDialect("classic", tuple(name for name, _, _, _ in CLASSIC))
LITERT_DIALECT = ToolDialect("litert", tuple(name for name, _, _, _ in LITERT_2_2_0), "2.2.0")


def test_error_figures_are_the_hand_computed_ones():
    reference = np.array([[1.0, -2.0, 4.0, 0.0]], np.float32)
    got = np.array([[1.0, -2.5, 4.0, 0.5]], np.float32)
    e = compare("y", reference, got)
    assert e.max_abs_error == 0.5 and e.max_rel_error == 0.5 / 4.0                # of the largest |reference|
    assert e.rmse == pytest.approx(math.sqrt((0.25 + 0.25) / 4))
    assert e.snr_db == pytest.approx(10 * math.log10(21.0 / 0.5))                  # signal 1+4+16, noise 0.5
    assert e.cosine == pytest.approx(22.0 / (math.sqrt(21) * math.sqrt(23.5)))     # 1+5+16 over the norms
    assert verdict([e], 0.1) == "exceeded" and verdict([e], 0.125) == "ok"
    overflowed = compare("y", reference, np.array([[1.0, -np.inf, 4.0, np.nan]], np.float32))
    assert overflowed.non_finite == 2 and overflowed.max_rel_error is None and not overflowed.within(1e9)
    assert worst_rel_error({"outputs": [overflowed.to_json()]}) == math.inf
    assert parse_error_limit("1%") == 0.01 and parse_error_limit("0.02") == 0.02
    with pytest.raises(UsageError):
        parse_error_limit("-1")


def test_the_output_file_is_split_in_output_order_by_shape_and_dtype():
    io = read_model_io(overflow_model(size=3))
    raw = np.array([1.5, -2.0, 3.25], "<f4").tobytes()
    assert split_outputs(raw, io)["y"].tolist() == [[1.5, -2.0, 3.25]]
    with pytest.raises(ModelError, match="holds 8 bytes; the model's outputs are 12 bytes"):
        split_outputs(raw[:8], io)
    assert input_file_bytes(io.inputs[0], np.array([[1, 2, 3]], np.float32)) == np.array([1, 2, 3], "<f4").tobytes()


def test_value_files_argv_in_the_classic_dialect_and_refused_by_litert():
    options = BenchmarkOptions(graph="/data/local/tmp/m.tflite", output_filepath="/data/local/tmp/o.bin",
                               input_value_files=(("serving_default_x:0", (1, 8), "/data/local/tmp/i0.bin"),
                                                  ("b", (2,), "/data/local/tmp/i1.bin")))
    argv = tool_argv("/bin/benchmark_model", options, CLASSIC_DIALECT)
    assert "--input_layer=serving_default_x:0,b" in argv and "--input_layer_shape=1,8:2" in argv
    assert "--input_layer_value_files=serving_default_x::0:/data/local/tmp/i0.bin,b:/data/local/tmp/i1.bin" in argv
    assert "--output_filepath=/data/local/tmp/o.bin" in argv
    with pytest.raises(ToolError, match="does not take --input_layer"):
        tool_argv("/bin/benchmark_model", options, LITERT_DIALECT)
    assert why_unavailable(CLASSIC_DIALECT) is None
    assert "benchmark_litert_model has no input files" in why_unavailable(LITERT_DIALECT)
    with pytest.raises(UsageError):
        BenchmarkOptions(graph="/m", input_value_files=(("a,b", (1,), "/x"),))


def test_fp16_storage_rounds_delegated_tensors_only():
    data = overflow_model(scale=3.0, size=4)
    io = read_model_io(data)
    feeds = {"x": np.array([[0.1, 1.0, 1000.123, -7.0]], np.float32)}
    exact, _ = run_reference(data, io, feeds)
    emulated, _ = run_reference(emulate_fp16_storage(data, {0, 1, 2, 3}), io, feeds)
    # by hand: every tensor rounded to fp16 on the way, e.g. 1000.123 * 3 = 3000.369 -> 3000 in fp16
    x16 = feeds["x"].astype(np.float16).astype(np.float32)
    up = (x16 * np.float32(3.0)).astype(np.float16).astype(np.float32)
    down = (np.maximum(up, 0) * np.float32(np.float16(1 / 3.0))).astype(np.float16).astype(np.float32)
    assert np.array_equal(emulated["y"], (down + x16).astype(np.float16).astype(np.float32))
    assert not np.array_equal(emulated["y"], exact["y"])
    untouched, _ = run_reference(emulate_fp16_storage(data, set()), io, feeds)
    assert np.array_equal(untouched["y"], exact["y"])


def test_simulated_classic_tool_enforces_the_value_file_rules(sim_phone, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(overflow_model(size=4))
    device = sim_phone.device()
    device.sync.push(str(model), "/data/local/tmp/m.tflite")
    short = tmp_path / "short.bin"
    short.write_bytes(b"\0" * 12)
    device.sync.push(str(short), "/data/local/tmp/short.bin")
    base = ("benchmark_model", "--graph=/data/local/tmp/m.tflite", "--num_runs=1", "--warmup_runs=0",
            "--min_secs=0", "--input_layer=x", "--input_layer_shape=1,4")
    result = sim_phone.shell(*base, "--input_layer_value_files=x:/data/local/tmp/short.bin")
    assert "FATAL: The size of /data/local/tmp/short.bin is 12 bytes. It should be 16 bytes." in result.stderr
    result = sim_phone.shell(*base, "--input_layer_value_files=z:/data/local/tmp/short.bin")
    assert "FATAL: Cannot find the corresponding input_layer name(z) in --input_layer as x" in result.stderr
    good = tmp_path / "good.bin"
    good.write_bytes(np.array([1.0, -1.0, 2.0, 0.5], "<f4").tobytes())
    device.sync.push(str(good), "/data/local/tmp/good.bin")
    sim_phone.shell(*base, "--input_layer_value_files=x:/data/local/tmp/good.bin",
                    "--output_filepath=/data/local/tmp/out.bin")
    out = tmp_path / "out.bin"
    device.sync.pull("/data/local/tmp/out.bin", str(out))
    y = np.frombuffer(out.read_bytes(), "<f4")
    assert np.allclose(y, np.maximum([1.0, -1.0, 2.0, 0.5], 0) + [1.0, -1.0, 2.0, 0.5])   # relu(x) + x, CPU


@pytest.mark.slow
def test_check_outputs_on_this_machines_cpu_fp16_and_int8_against_fp32(tmp_path):
    result = run_devlab("run", "--model", "sd-block", "--variants", "fp32,fp16,int8-dynamic", "--accelerator", "cpu",
                        "--check-outputs", "--runs", "2", "--min-secs", "0", "--max-secs", "1", "--json",
                        cwd=tmp_path, timeout=600)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, SCHEMA)
    assert record["settings"]["check_outputs"] is True
    rows = {row["variant"]: row["numerics"] for row in record["variants"]}
    assert {n["source"] for n in rows.values()} == {"measured"}
    assert {n["reference"]["variant"] for n in rows.values()} == {"fp32"}
    assert len({n["inputs_sha256"] for n in rows.values()}) == 1
    error = {name: n["outputs"][0]["max_rel_error"] for name, n in rows.items()}
    assert error["fp32"] < 1e-5                      # XNNPACK vs the builtin kernels, both fp32
    assert 1e-5 < error["fp16"] < 1e-2               # fp16 weights
    assert error["int8-dynamic"] > error["fp16"]     # int8 weights and dynamically quantized activations
    assert all(n["status"] == "ok" for n in rows.values())
    run_dir = tmp_path / "traces" / record["run_id"]
    assert (run_dir / "logs" / "fp16-cpu-outputs.log").is_file()
    assert "numerics: fp16 on cpu: ok (worst relative error " in result.stderr   # one console line per row
    assert "measured; reference fp32 on the host CPU)" in result.stderr
