"""Host benchmarks run in a child process: a native crash, a model LiteRT refuses, a hang or Ctrl-C ends that
variant (or the run) with one line, never devlab with a traceback. Everything here runs the real LiteRT runtime;
the CLI tests run the installed `devlab` console script."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import flatbuffers
import pytest
from ai_edge_litert import schema_py_generated as schema

from cli_helpers import REPO, CliResult, devlab_script, run_devlab
from devlab.bench.host_child import CHILD_MODULE, run_in_child
from devlab.bench.host_plan import run_manifest_on_host
from devlab.bench.host_runtime import HostBenchOptions
from devlab.build.pipeline import build_variants
from devlab.build.sources import resolve_model
from devlab.build.tiny_model import tiny_add_model
from devlab.build.variants import parse_variants
from devlab.errors import ToolError

ADD_MODEL = "models/litert/add_10x10.tflite"
ZERO_POINT_MODEL = "models/poco_x3/mnv3_seg_quant.tflite"
NPU_COMPILED_MODEL = "models/litert/simple_add_op_qc_v75_precompiled.tflite"   # custom op DISPATCH_OP
# ~0.1 s per CPU run here: its timed loop lasts --min-secs (add_10x10 meets the 500-run cap within a second)
SLOW_MODEL = "models/litert/torchaudio_conformer.tflite"
QUICK = ("--accelerator", "cpu", "--runs", "1", "--warmup", "0", "--min-secs", "0")
_MODEL_SUBGRAPHS_FIELD = 2   # tflite schema: table Model { version; operator_codes; subgraphs; ... }


def subgraphs_past_the_end(model: bytes) -> bytes:
    """A .tflite whose root table points its `subgraphs` vector 2 GB past the end of the file. LiteRT's release
    loader reads the flatbuffer without verifying it, so it dereferences that offset and dies with SIGSEGV
    (found by flipping bytes of LiteRT's own add_10x10.tflite; this is the smallest form of it)."""
    data = bytearray(model)
    root = struct.unpack_from("<I", data, 0)[0]
    vtable = root - struct.unpack_from("<i", data, root)[0]
    field = struct.unpack_from("<H", data, vtable + 4 + 2 * _MODEL_SUBGRAPHS_FIELD)[0]
    assert field, "the model has no subgraphs field to corrupt"
    struct.pack_into("<I", data, root + field, 0x7FFFFFF0)
    return bytes(data)


def custom_op_model(op: str = "Landmarks2TransformMatrix") -> bytes:
    """A float model whose one op is the custom op `op`, as MediaPipe's face-geometry models carry it
    (478 3-D landmarks in, a 4x4 transform out); LiteRT has no kernel for it."""
    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = op
    code.version = 1
    model.operatorCodes = [code]
    model.buffers = [schema.BufferT() for _ in range(3)]
    tensors = []
    for index, (name, shape) in enumerate((("landmarks", [1, 478, 3]), ("transform", [1, 4, 4]))):
        tensor = schema.TensorT()
        tensor.name, tensor.shape, tensor.type, tensor.buffer = name, shape, schema.TensorType.FLOAT32, index + 1
        tensors.append(tensor)
    operator = schema.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = 0, [0], [1]
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = tensors, [0], [1], [operator]
    subgraph.name = "main"
    model.subgraphs = [subgraph]
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    signature.inputs, signature.outputs = [_tensor_map("landmarks", 0)], [_tensor_map("transform", 1)]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tensor_map(name: str, index: int) -> schema.TensorMapT:
    item = schema.TensorMapT()
    item.name, item.tensorIndex = name, index
    return item


def _children_running(parent: int, model_name: str) -> list[tuple[int, Path]]:
    """(pid, result file) of devlab's benchmark children of `parent` running `model_name`, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and CHILD_MODULE in argv and Path(argv[argv.index("--model") + 1]).name == model_name:
            found.append((int(entry.name), Path(argv[argv.index("--result") + 1])))
    return found


def _wait_for_timing_child(devlab: subprocess.Popen, model_name: str, timeout: float = 240) -> int:
    """The pid of the child benchmarking `model_name`, once it says (in its result file) it is in the timed loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert devlab.poll() is None, devlab.communicate()
        for pid, result in _children_running(devlab.pid, model_name):
            try:
                if json.loads(result.read_text()).get("stage") == "run":
                    return pid
            except (OSError, ValueError):
                pass
        time.sleep(0.05)
    raise AssertionError(f"no benchmark child for {model_name} reached its timed loop")


def _one_line_rows(record: dict) -> dict[str, dict]:
    rows = {row["variant"]: row for row in record["variants"] if row["accelerator"] == "cpu"}
    for row in rows.values():
        assert row["error"] is None or "\n" not in row["error"]
    return rows


@pytest.mark.slow
def test_a_crashing_variant_fails_alone_naming_the_signal(tmp_path: Path, real_fixtures: Path) -> None:
    args = ("run", "--model", str(real_fixtures / SLOW_MODEL), "--accelerator", "cpu", "--runs", "1", "--warmup", "0",
            "--min-secs", "3", "--max-secs", "3", "--json")
    devlab = subprocess.Popen([str(devlab_script()), *args], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        os.kill(_wait_for_timing_child(devlab, "int8-dynamic.tflite"), signal.SIGSEGV)
        stdout, stderr = devlab.communicate(timeout=240)
    finally:
        if devlab.poll() is None:
            devlab.kill()
            devlab.communicate()
    assert devlab.returncode == 1, stderr
    assert "Traceback" not in stderr
    rows = _one_line_rows(json.loads(stdout))
    assert rows["as-is"]["status"] == "ok" and rows["int8-weight-only"]["status"] == "ok"   # before and after it
    assert rows["int8-weight-only"]["timing"]["latency_ms"]["count"] >= 1
    crashed = rows["int8-dynamic"]
    assert crashed["status"] == "failed" and "SIGSEGV" in crashed["error"] and "run:" in crashed["error"]
    (failed_line,) = [line for line in stderr.splitlines() if line.startswith("failed: int8-dynamic")]
    assert "SIGSEGV" in failed_line
    (run_dir,) = (tmp_path / "traces").glob("*/")
    assert "XNNPACK" in (run_dir / crashed["logs"]["runtime"]).read_text()   # the runtime's log up to the crash


def test_a_real_segfault_in_the_runtime_fails_that_variant_and_the_others_go_on(tmp_path: Path,
                                                                               real_fixtures: Path) -> None:
    source = resolve_model(str(real_fixtures / ADD_MODEL))
    manifest = build_variants(source, parse_variants("as-is", source.kind), tmp_path / "build")
    (good,) = manifest.variants
    broken_path = tmp_path / "broken.tflite"
    broken_path.write_bytes(subgraphs_past_the_end(tiny_add_model()))
    broken = replace(good, name="broken", path=broken_path)
    manifest = replace(manifest, variants=(replace(good, name="first"), broken, replace(good, name="last")))
    rows, _ = run_manifest_on_host(manifest, ["cpu"], HostBenchOptions(num_runs=2, warmup_runs=0, min_secs=0),
                                   tmp_path / "run")
    assert [(r.variant, r.status) for r in rows] == [("first", "ok"), ("broken", "failed"), ("last", "ok")]
    error = rows[1].error
    assert error is not None and "\n" not in error
    assert "the LiteRT benchmark process died (SIGSEGV" in error and "while loading broken.tflite on cpu" in error
    assert (tmp_path / "run" / rows[1].logs["runtime"]).is_file()


def test_the_same_segfault_through_run_in_child_names_the_stage(tmp_path: Path) -> None:
    model = tmp_path / "broken.tflite"
    model.write_bytes(subgraphs_past_the_end(tiny_add_model()))
    with pytest.raises(ToolError) as raised:
        run_in_child(model, "cpu", HostBenchOptions(num_runs=1, warmup_runs=0, min_secs=0), tmp_path / "x.log")
    assert raised.value.stage == "load" and "SIGSEGV" in raised.value.problem
    assert raised.value.fix and "x.log" in raised.value.fix


@pytest.mark.parametrize(("model", "reason", "fix"), [
    (None, "the model uses the custom op Landmarks2TransformMatrix, which this LiteRT runtime has no kernel for "
           "(runtime: Encountered unresolved custom op: Landmarks2TransformMatrix)",
     "benchmark it where Landmarks2TransformMatrix is registered"),
    (ZERO_POINT_MODEL, "XNNPACK takes per-channel quantized INT8 tensors only with zero point 0; tensor 63 has zero "
                       "point -127 in channel 1", "quantize the float model with symmetric per-channel weights"),
    (NPU_COMPILED_MODEL, "the model was compiled ahead of time for an NPU and needs that vendor's dispatch library",
     "benchmark it on the phone it was compiled for"),
], ids=["custom-op", "per-channel-zero-point", "npu-compiled"])
def test_a_model_the_runtime_cannot_prepare_is_one_line_with_the_runtime_reason_and_a_fix(
        tmp_path: Path, real_fixtures: Path, model: str | None, reason: str, fix: str) -> None:
    if model is None:
        path = tmp_path / "face_geometry.tflite"
        path.write_bytes(custom_op_model())
    else:
        path = real_fixtures / model
    result = run_devlab("run", "--model", str(path), "--variants", "as-is", *QUICK, "--json", cwd=tmp_path,
                        timeout=300)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    row = _one_line_rows(json.loads(result.stdout))["as-is"]
    assert row["status"] == "failed"
    assert row["error"].startswith("prepare: LiteRT could not prepare as-is.tflite on cpu: ")
    assert reason in row["error"] and f" — {fix}" in row["error"]
    (failed_line,) = [line for line in result.stderr.splitlines() if line.startswith("failed: as-is")]
    assert reason in failed_line


def test_gpu_only_run_on_a_host_without_a_gpu_exits_1_before_building(tmp_path: Path, real_fixtures: Path) -> None:
    from devlab.devices.host import gpu_adapter
    if gpu_adapter():
        pytest.skip(f"this machine has a GPU adapter ({gpu_adapter()})")
    result = run_devlab("run", "--model", str(real_fixtures / ADD_MODEL), "--accelerator", "gpu", cwd=tmp_path,
                        timeout=300)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert line.startswith("error: host: --accelerator gpu: no GPU adapter that LiteRT can use on this machine")
    assert " — run on a machine with a Vulkan-capable GPU, or pass --accelerator cpu" in line
    assert not (tmp_path / "models").exists() and not (tmp_path / "traces").exists()   # nothing was built or run


@pytest.mark.slow
def test_ctrl_c_during_a_host_benchmark_stops_its_child_too(tmp_path: Path, real_fixtures: Path) -> None:
    args = ("run", "--model", str(real_fixtures / SLOW_MODEL), "--variants", "as-is", "--accelerator", "cpu",
            "--min-secs", "60", "--max-secs", "60")
    devlab = subprocess.Popen([str(devlab_script()), *args], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        child = _wait_for_timing_child(devlab, "as-is.tflite")
        devlab.send_signal(signal.SIGINT)   # to devlab alone, as `kill -INT` would: the child must not outlive it
        _, stderr = devlab.communicate(timeout=60)
    finally:
        if devlab.poll() is None:
            devlab.kill()
            devlab.communicate()
    result = CliResult(devlab.returncode, "", stderr)
    assert result.exit_code == 130, result.stderr
    assert "Traceback" not in result.stderr
    left_behind = Path(f"/proc/{child}").exists()   # devlab reaps its child; an orphan would still be running
    if left_behind:
        os.kill(child, signal.SIGKILL)
    assert not left_behind


@pytest.mark.slow
def test_a_sigkilled_devlab_takes_its_benchmark_child_with_it(tmp_path: Path, real_fixtures: Path) -> None:
    args = ("run", "--model", str(real_fixtures / SLOW_MODEL), "--variants", "as-is", "--accelerator", "cpu",
            "--min-secs", "60", "--max-secs", "60")
    devlab = subprocess.Popen([str(devlab_script()), *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        child = _wait_for_timing_child(devlab, "as-is.tflite")
        devlab.kill()   # SIGKILL: devlab runs no cleanup at all; the kernel's parent-death signal stops the child
    finally:
        devlab.kill()
        devlab.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    left_behind = Path(f"/proc/{child}").exists()
    if left_behind:
        os.kill(child, signal.SIGKILL)
    assert not left_behind, "the benchmark child outlived a SIGKILLed devlab"


@pytest.mark.slow
def test_a_child_past_its_time_budget_is_stopped_with_the_stage_it_was_in(tmp_path: Path,
                                                                          real_fixtures: Path) -> None:
    options = HostBenchOptions(num_runs=1, warmup_runs=0, min_secs=60, max_secs=60)
    with pytest.raises(ToolError) as raised:
        run_in_child(real_fixtures / SLOW_MODEL, "cpu", options, tmp_path / "slow.log", timeout_s=12)
    assert raised.value.stage == "run"
    assert raised.value.problem == ("LiteRT did not finish timing torchaudio_conformer.tflite on cpu within 12 s; "
                                    "the benchmark process was stopped")
    assert _children_running(os.getpid(), "torchaudio_conformer.tflite") == []   # killed and reaped


@pytest.mark.parametrize(("model", "reason"), [
    (None, "the model uses the custom op Landmarks2TransformMatrix, which this LiteRT runtime has no kernel for"),
    (ZERO_POINT_MODEL, "XNNPACK takes per-channel quantized INT8 tensors only with zero point 0"),
], ids=["custom-op", "per-channel-zero-point"])
def test_with_the_default_variants_the_build_names_the_runtime_reason_and_a_fix(
        tmp_path: Path, real_fixtures: Path, model: str | None, reason: str) -> None:
    """The int8 variants' equivalence check runs the model in the build (devlab's own process), before the run."""
    if model is None:
        path = tmp_path / "face_geometry.tflite"
        path.write_bytes(custom_op_model())
    else:
        path = real_fixtures / model
    result = run_devlab("run", "--model", str(path), *QUICK, cwd=tmp_path, timeout=300)
    assert result.exit_code == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert "for the equivalence check: " + reason in line and "rebuild the variant" not in line
