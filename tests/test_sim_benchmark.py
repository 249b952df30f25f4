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


def _all(result) -> str:
    """stdout then stderr: the tools print INFO/WARN on stdout, errors and runtime/LiteRT lines on stderr."""
    return result.stdout + result.stderr


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
    out = _all(_run(sim_phone, f"--graph={model}", "--use_gpu=true", "--num_runs=5", "--min_secs=0.01",
                    "--warmup_min_secs=0.01", "--enable_op_profiling=true"))
    assert "Following operations are not supported by GPU delegate:" in out
    assert re.search(r"^SCATTER_ND: .+$", out, re.M)
    assert "1 operations will run on the GPU, and the remaining 1 operations will run on the CPU." in out
    assert "partially executed by the delegate w/ 1 delegate kernels." in out
    rows = parse_op_profile_tables(out).run_rows()
    assert any(r.node_type == "SCATTER_ND" and r.node_index == 1 for r in rows)
    strict = _run(sim_phone, f"--graph={model}", "--use_gpu=true", "--require_full_delegation=true")
    assert strict.returncode != 0 and "ERROR: Benchmarking failed." in strict.stderr


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
    assert expected in result.stderr and "ERROR: Benchmarking failed." in result.stderr


def test_not_a_tflite_file(sim_phone):
    sim_phone.device().sync.push(b"this is not a flatbuffer at all", "/data/local/tmp/junk.tflite")
    result = _run(sim_phone, "--graph=/data/local/tmp/junk.tflite")
    assert result.returncode != 0 and "should be 'TFL3'" in result.stderr


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
    assert {"Invoke@0/0", "SCATTER_ND@1/0", "TfLiteGpuDelegateV2@2/0", "add 0"} <= names   # ATrace: tag@m1/m2
    assert any(e.kind == "counter" and e.name == "gpufreq" for e in events)


# --- the two tool builds (issue 14) and old classic builds (issue 11, defect 4) ---

import json  # noqa: E402

import jsonschema  # noqa: E402

from cli_helpers import REPO, run_devlab  # noqa: E402
from devlab.bench.results_proto import decode_benchmark_result, decode_runtime_info  # noqa: E402
from devlab.bench.tool_dialect import read_help  # noqa: E402
from sim_fixtures import start_phone, stop_phone  # noqa: E402

MNV3 = "models/poco_x3/mnv3_seg_float.tflite"
QUICK = ("--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--max-secs", "5", "--cooldown", "0")


@pytest.fixture(scope="module", params=["litert", "classic-legacy"])
def tool_phone(request, adb_server, tmp_path_factory):
    phone = start_phone(adb_server, tmp_path_factory.mktemp(request.param), benchmark_tool=request.param)
    yield request.param, phone
    stop_phone(phone)


def test_litert_build_prints_its_own_lines_and_structured_files(tool_phone, real_fixtures):
    tool, phone = tool_phone
    if tool != "litert":
        pytest.skip("LiteRT build only")
    model = _push(phone, real_fixtures, MNV3.removeprefix("models/"))
    result = _run(phone, f"--graph={model}", "--use_gpu=true", "--num_runs=12", "--min_secs=0.01",
                  "--warmup_min_secs=0.01", "--result_file_path=/data/local/tmp/r.pb",
                  "--model_runtime_info_output_file=/data/local/tmp/ri.pb")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("INFO: STARTING!\n") and "INFO: Min num runs: [12]" in result.stdout
    err = result.stderr
    assert f"INFO: [benchmark_litert_model.cc:271] Loading model from: {model}" in err
    assert "VERBOSE: Replacing 77 out of 77 node(s) with delegate (LITERT_CL) node, yielding 1 partitions for " \
           "subgraph 0 (main)." in err
    assert "INFO: [benchmark_litert_model.h:89] \n========== BENCHMARK RESULTS ==========\n" in err
    avg = float(re.search(r"\[benchmark_litert_model.h:99\] Inference \(avg\):      ([0-9.]+) ms \(12 runs\)",
                          err).group(1))
    assert "INFO: [benchmark_litert_model.h:217] Generated model runtime info: /data/local/tmp/ri.pb" in err
    assert "Saved benchmark result to: /data/local/tmp/r.pb" in err
    assert "Inference timings in us" not in result.stdout + err          # the classic listener's line
    profiled = _run(phone, f"--graph={model}", "--use_gpu=true", "--num_runs=3", "--min_secs=0",
                    "--warmup_min_secs=0", "--warmup_runs=1", "--use_profiler=true").stderr
    summary = profiled.split("INFO: [benchmark_litert_model.h:192] \n", 1)[1]
    assert summary.startswith("=" * 69 + " Run Order " + "=" * 70 + "\n" + " " * 49 + "[node type]    [start]")
    assert re.search(r"^ +LITERT_CL +0\.000 +[0-9.]+ +[0-9.]+ +[0-9.]+% +[0-9.]+% +0\.000 +4   \[Builtin\]:77$",
                     summary, re.M)
    assert re.search(r"^ +Delegate/convolution_2d 0 .* +4   \[Delegate\]:0$", summary, re.M)
    assert re.search(r"\nTimings \(microseconds\): count=\d+ curr=\d+\nMemory \(bytes\): count=0\n\d+ nodes observed\n\n$",
                     summary)
    pulled = phone.device().sync.read_bytes("/data/local/tmp/r.pb")
    proto = decode_benchmark_result(pulled)
    assert abs(proto.latency("avg_ms") - avg) < 0.006 and proto.misc["num_runs"] == 12
    assert proto.latency("p5_ms") <= proto.latency("median_ms") <= proto.latency("p95_ms")
    (subgraph,) = decode_runtime_info(phone.device().sync.read_bytes("/data/local/tmp/ri.pb"))
    assert subgraph.delegates == (("LITERT_CL", 77, tuple(range(77))),) and subgraph.execution_plan == (77,)


def test_each_build_takes_only_its_own_flags(tool_phone, real_fixtures):
    tool, phone = tool_phone
    model = _push(phone, real_fixtures, "litert/add_10x10.tflite")
    # a bare --use_gpu is no flag to tflite::Flags (it only consumes --name=value)
    foreign = "--enable_op_profiling=true" if tool == "litert" else "--op_profiling_output_mode=csv"
    result = _run(phone, f"--graph={model}", "--num_runs=2", "--min_secs=0", "--warmup_min_secs=0", foreign,
                  "--use_gpu")
    assert result.returncode == 0
    assert f"WARN: Unconsumed cmdline flags: {foreign} --use_gpu\n" in result.stdout
    help_out = _run(phone, "--help")
    dialect = read_help(help_out.stdout + help_out.stderr)
    assert dialect.kind == ("litert" if tool == "litert" else "classic")
    assert help_out.returncode == (0 if tool == "litert" else 1)
    assert "ERROR: usage: /system/bin/benchmark_model <flags>\nFlags:\n\t--num_runs=50" in help_out.stderr
    assert dialect.takes("num_runs") and not dialect.takes(foreign[2:].split("=")[0])


@pytest.mark.slow
def test_devlab_run_with_each_build(tool_phone, cli_env, tmp_path, real_fixtures):
    """`devlab run` end to end through the installed script: the tool is asked which dialect it speaks (once per
    sha256), each run's argv is in that dialect, and the row says what the tool could give."""
    tool, phone = tool_phone
    args = ("run", "--device", phone.serial, "--model", str(real_fixtures / MNV3), "--variants", "as-is", *QUICK,
            "--json")
    result = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300)
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    jsonschema.validate(record, json.loads((REPO / "devlab/schemas/run.schema.json").read_text()))
    described = record["tools"]["benchmark_model"]["tool"]
    assert described["kind"] == ("litert" if tool == "litert" else "classic")
    assert ("use_npu" in described["flags"]) == (tool == "litert")
    (row,) = record["variants"]
    assert row["status"] == "ok", row["error"]
    run_dir = tmp_path / "traces" / record["run_id"]
    clean_log = (run_dir / row["logs"]["clean"]).read_text()
    assert "Unconsumed cmdline flags" not in clean_log
    latency = row["timing"]["latency_ms"]
    if tool == "litert":
        # structured results first: median, p5 and p95 from BenchmarkResult, delegation per subgraph
        assert latency["p5_ms"] <= latency["median_ms"] <= latency["p95_ms"]
        assert row["extra"]["text_check"] in ("ok", "the log's inference average was not read; the result file "
                                              "stands alone")
        (subgraph,) = row["extra"]["delegation_subgraphs"]["subgraphs"]
        assert subgraph["delegates"][0]["delegate"] == "LITERT_CL"
        assert row["delegation"]["reported"]["applied"] == "full"
        # op profile from LiteRT's --use_profiler summary: the GPU dispatch rows are kernel rows
        assert row["extra"]["op_profile_from"].startswith("LiteRT --use_profiler summary")
        op_rows = row["extra"]["op_profile"]["rows"]
        assert any(r["is_gpu_kernel"] for r in op_rows) and [r["node_type"] for r in op_rows][0] == "LITERT_CL"
        kernel_ms = sum(k["ms_per_inference"] for k in row["kernels"]["rows"])
        assert abs(kernel_ms - latency["mean_ms"]) < 0.02 * latency["mean_ms"]
    else:
        # an old classic build: no --op_profiling_output_file, the stdout tables instead (issue 11, defect 4)
        assert "op_profiling_output_file" not in described["flags"]
        assert row["extra"]["op_profile_from"].startswith("stdout tables")
        assert any(r["is_gpu_kernel"] for r in row["extra"]["op_profile"]["rows"])
        assert latency["p5_ms"] is None           # neither printed nor written by this build: not invented
    assert described["from"] == "--help"
    again = run_devlab(*args, cwd=tmp_path, env=cli_env, timeout=300)
    assert again.exit_code == 0
    assert json.loads(again.stdout)["tools"]["benchmark_model"]["tool"] == {**described, "from": "cache"}
    home = tmp_path / "home" / "cache" / "benchmark_model"
    assert [p.name for p in home.iterdir()] == [f"{record['tools']['benchmark_model']['sha256']}.dialect.json"]


@pytest.mark.slow
def test_sim_start_offers_both_builds(adb_server, tmp_path):
    from sim_fixtures import free_port
    env = {"DEVLAB_HOME": str(tmp_path / "home")}
    bad = run_devlab("sim", "start", "--benchmark-tool", "tflite", "--port", str(free_port()), cwd=tmp_path,
                     env=env, timeout=60)
    assert bad.exit_code == 2 and "litert, classic, classic-legacy" in bad.stderr
    for tool, kind in (("classic", "classic"), (None, "litert")):      # the default: LiteRT's release build
        port = free_port()
        args = ("sim", "start", "--port", str(port)) + (("--benchmark-tool", tool) if tool else ())
        started = run_devlab(*args, cwd=tmp_path, env=env, timeout=60)
        assert started.exit_code == 0, started.stderr
        try:
            serial = started.stdout.strip()
            assert adb_server.run("connect", serial).returncode == 0
            shown = adb_server.run("-s", serial, "shell", BENCH, "--help")
            assert read_help(shown.stdout + shown.stderr).kind == kind
        finally:
            adb_server.run("disconnect", serial)
            assert run_devlab("sim", "stop", "--port", str(port), cwd=tmp_path, env=env, timeout=60).exit_code == 0


def test_each_simulated_build_is_its_own_binary_so_the_dialect_cache_never_mixes_them(adb_server, tmp_path,
                                                                                      real_fixtures):
    """devlab asks a benchmark_model what it is once per sha256. Two builds on two phones, one DEVLAB_HOME: each run
    must be built for its own phone's tool (before, both builds hashed the same and the second phone was driven
    with the first one's flags: every LiteRT run failed on `Unconsumed cmdline flags`)."""
    env = {"ANDROID_ADB_SERVER_PORT": str(adb_server.port), "DEVLAB_HOME": str(tmp_path / "home"),
           "DEVLAB_BENCHMARK_MODEL": ""}
    phones = [start_phone(adb_server, tmp_path / tool, benchmark_tool=tool) for tool in ("classic", "litert")]
    try:
        sums = {p.shell("sha256sum", "/system/bin/benchmark_model").stdout.split()[0] for p in phones}
        assert len(sums) == 2
        for phone, kind in zip(phones, ("classic", "litert")):
            result = run_devlab("run", "--device", phone.serial, "--model", str(real_fixtures / MNV3), "--variants",
                                "as-is", *QUICK, "--no-op-profile", "--no-trace", "--json", cwd=tmp_path, env=env,
                                timeout=300)
            assert result.exit_code == 0, result.stderr
            assert json.loads(result.stdout)["tools"]["benchmark_model"]["tool"]["kind"] == kind
    finally:
        for phone in phones:
            stop_phone(phone)
