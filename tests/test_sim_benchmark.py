"""The simulated benchmark_model on real models, run through adb; its output read by devlab's own parsers."""

from __future__ import annotations

import re

import pytest

from devlab.bench.op_profile import parse_op_profile_csv, parse_op_profile_tables
from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.tflite_graph import read_tflite
from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)

BENCH = "/system/bin/benchmark_model"


def _push(phone, real_fixtures, rel: str) -> str:
    remote = "/data/local/tmp/" + rel.rsplit("/", 1)[-1]
    phone.device().sync.push(real_fixtures / "models" / rel, remote)
    return remote


def _run(phone, *flags: str):
    return phone.device().shell2([BENCH, *flags], v2=True, timeout=120)


def _avg(output: str) -> float:
    return float(re.search(r"Inference \(avg\): ([0-9.e+]+)", output).group(1))


def test_profile_names_its_benchmark_model(sim_phone):
    assert sim_phone.device().getprop("ro.devlab.benchmark_model") == BENCH
    assert sim_phone.device().shell2(["test", "-x", BENCH], v2=True).returncode == 0


def test_full_gpu_run_with_op_profile(sim_phone, real_fixtures):
    model = _push(sim_phone, real_fixtures, "poco_x3/mnv3_seg_float.tflite")
    result = _run(sim_phone, f"--graph={model}", "--use_gpu=true", "--num_runs=10", "--min_secs=0.1",
                  "--warmup_min_secs=0.05", "--enable_op_profiling=true")
    out = result.stdout
    assert result.returncode == 0, out
    assert f"Loaded model {model}" in out
    assert "completely executed by the delegate" in out
    assert "The input model file size (MB): 3.79893" in out
    assert re.search(r"Initialized session in [0-9.]+ms\.", out)
    assert re.search(r"count=\d+ first=\d+ curr=\d+ min=\d+ max=\d+ avg=[0-9.e+]+ std=\d+", out)
    assert "Inference timings in us: Init: " in out
    profile = parse_op_profile_tables(out)
    kernels = profile.gpu_kernel_rows()
    graph = read_tflite(real_fixtures / "models/poco_x3/mnv3_seg_float.tflite")
    plan = plan_gpu_delegation(graph)
    assert len(profile.delegate_rows()) == 1
    assert len(kernels) >= 1 and len(kernels) <= len(plan.delegated)
    # contract: a kernel's ids are positions in the delegated partition, and every position appears once
    ids = sorted(i for row in kernels for i in row.kernel_node_ids)
    assert ids == list(range(len(plan.delegated)))
    assert kernels[0].kernel_label == "convolution_2d 0" and graph.ops[plan.delegated[0]].op == "CONV_2D"


def test_profiled_runs_are_slower_and_reruns_deterministic(sim_phone, real_fixtures):
    model = _push(sim_phone, real_fixtures, "poco_x3/mnv3_seg_float.tflite")
    common = (f"--graph={model}", "--use_gpu=true", "--num_runs=20", "--min_secs=0.05", "--warmup_min_secs=0.01")
    plain = _run(sim_phone, *common).stdout
    again = _run(sim_phone, *common).stdout
    profiled = _run(sim_phone, *common, "--enable_op_profiling=true").stdout
    assert _avg(plain) == _avg(again)
    assert _avg(profiled) > 1.3 * _avg(plain)
    cpu = _run(sim_phone, f"--graph={model}", "--num_runs=20", "--min_secs=0.05", "--warmup_min_secs=0.01").stdout
    assert _avg(cpu) > _avg(plain)  # the cost model makes this conv net faster on the Adreno than on 4 cores


def test_partial_delegation_lists_unsupported_ops(sim_phone, real_fixtures):
    model = _push(sim_phone, real_fixtures, "litert/fallback_model.tflite")
    out = _run(sim_phone, f"--graph={model}", "--use_gpu=true", "--num_runs=5", "--min_secs=0.01",
               "--warmup_min_secs=0.01", "--enable_op_profiling=true").stdout
    assert "Following operations are not supported by GPU delegate:" in out
    assert re.search(r"^SCATTER_ND: .+$", out, re.M)
    assert "1 operations will run on the GPU, and the remaining 1 operations will run on the CPU." in out
    assert "partially executed by the delegate w/ 1 delegate kernels." in out
    rows = parse_op_profile_tables(out).run_rows()
    assert any(r.node_type == "SCATTER_ND" and r.node_index == 1 for r in rows)
    strict = _run(sim_phone, f"--graph={model}", "--use_gpu=true", "--require_full_delegation=true")
    assert strict.returncode != 0 and "Benchmarking failed." in strict.stdout


def test_csv_op_profile_written_to_a_file(sim_phone, real_fixtures):
    model = _push(sim_phone, real_fixtures, "litert/add_10x10.tflite")
    result = _run(sim_phone, f"--graph={model}", "--use_gpu=true", "--num_runs=3", "--min_secs=0.01",
                  "--warmup_min_secs=0.01", "--enable_op_profiling=true", "--op_profiling_output_mode=csv",
                  "--op_profiling_output_file=/data/local/tmp/prof.csv")
    assert result.returncode == 0
    csv = sim_phone.device().shell2(["cat", "/data/local/tmp/prof.csv"], v2=True).output
    assert "node type, first, avg_ms, %, cdf%, mem KB, times called, name" in csv
    profile = parse_op_profile_csv(csv)
    assert [r.kernel_label for r in profile.gpu_kernel_rows()] == ["add 0"]


@pytest.mark.parametrize("rel, expected", [
    (None, "Could not open '/data/local/tmp/absent.tflite'."),
    ("litert/dynamic_string_custom_ops.tflite", "Failed to allocate tensors!"),
])
def test_failures_have_real_lines_and_nonzero_exit(sim_phone, real_fixtures, rel, expected):
    model = _push(sim_phone, real_fixtures, rel) if rel else "/data/local/tmp/absent.tflite"
    result = _run(sim_phone, f"--graph={model}", "--num_runs=2")
    assert result.returncode != 0
    assert expected in result.stdout and "Benchmarking failed." in result.stdout


def test_not_a_tflite_file(sim_phone):
    sim_phone.device().sync.push(b"this is not a flatbuffer at all", "/data/local/tmp/junk.tflite")
    result = _run(sim_phone, "--graph=/data/local/tmp/junk.tflite")
    assert result.returncode != 0 and "should be 'TFL3'" in result.stdout


def test_trace_property_fills_the_timeline(sim_phone, real_fixtures):
    model = _push(sim_phone, real_fixtures, "litert/fallback_model.tflite")
    d = sim_phone.device()
    timeline = sim_phone.server.device.timeline
    before = len(timeline)
    assert d.shell2(["setprop", "debug.tflite.trace", "1"], v2=True).returncode == 0
    try:
        assert _run(sim_phone, f"--graph={model}", "--use_gpu=true", "--num_runs=3", "--min_secs=0.01",
                    "--warmup_min_secs=0.01").returncode == 0
    finally:
        d.shell2(["setprop", "debug.tflite.trace", "0"], v2=True)
    events = timeline.between(0, 2**63)
    assert len(timeline) > before
    names = {e.name for e in events}
    assert {"Invoke", "SCATTER_ND@1/0", "TfLiteGpuDelegateV2@2/0", "add 0"} <= names
    assert any(e.kind == "counter" and e.name == "gpufreq" for e in events)
