"""LiteRT's benchmark_model (benchmark_litert_model, the prebuilt `benchmark_model` of LiteRT 2.2.0) through the parser.

Every line below is written from the tool's logging code at google-ai-edge/LiteRT v2.2.0, not from memory (the
line numbers in `[file:NN]` are that revision's):
- LITERT_LOG prints `<SEVERITY>: [<file>:<line>] <message>` to stderr and, on Android, the same message under the
  logcat tag `litert` (litert/c/internal/litert_logging.{h,cc}); a format that starts with "\\n" leaves an empty
  prefixed line and the text bare on the next.
- TFLITE_LOG (the shared runner, tflite/tools/benchmark/benchmark_model.cc) prints `INFO: ` lines to stdout and
  logcat tag `tflite`; TFLITE_LOG_PROD (tflite/minimal_logging_android.cc) prints `VERBOSE: Replacing ...` to stderr.
- ABSL_LOG INFO of the GPU delegate (`Initializing OpenCL-based API from graph.`) reaches only logcat, tag `native`,
  with absl's own prefix (absl/log/internal/log_format.cc; stderr gets only ERROR and up by default).
- The stats lines end in ` p5=.. median=.. p95=..` (StatWithPercentiles::OutputToStream) and, all samples equal,
  `count=N curr=X(all same)` before them; with no samples the percentiles print int64's quiet_NaN, 0.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from devlab.bench.log_parser import detect_tool_kind, parse_benchmark_log

REPO = Path(__file__).resolve().parents[1]
DEVLAB = REPO / ".venv" / "bin" / "devlab"

# A partial GPU run, stdout and stderr as `adb shell benchmark_model ... 2>&1` interleaves them.
LITERT_GPU_PARTIAL = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Min num runs: [50]
INFO: [benchmark_litert_model.cc:271] Loading model from: /data/local/tmp/devlab/unet.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
VERBOSE: Replacing 40 out of 45 node(s) with delegate (LITERT_CL) node, yielding 4 partitions for subgraph 0 (main).
VERBOSE: Replacing 5 out of 7 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 4 partitions for subgraph 0 (main).
INFO: The input model file size (MB): 4.5
INFO: Initialized session in 812.5ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=40 first=12000 curr=9800 min=9700 max=12000 avg=9950.5 std=300 p5=9710 median=9900 p95=11000

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=101 first=9900 curr=9850 min=9600 max=10101 avg=9876.5 std=120 p5=9650 median=9870 p95=10050

INFO: [benchmark_litert_model.h:89] 
========== BENCHMARK RESULTS ==========
INFO: [benchmark_litert_model.h:91] Signature name:       serving_default
INFO: [benchmark_litert_model.h:94] Model initialization: 812.50 ms
INFO: [benchmark_litert_model.h:95] Warmup (first):       12.00 ms
INFO: [benchmark_litert_model.h:97] Warmup (avg):         9.95 ms (40 runs)
INFO: [benchmark_litert_model.h:99] Inference (avg):      9.88 ms (101 runs)
INFO: [benchmark_litert_model.h:103] Inference (min):      9.60 ms
INFO: [benchmark_litert_model.h:105] Inference (max):      10.10 ms
INFO: [benchmark_litert_model.h:107] Inference (std):      0.12
INFO: [benchmark_litert_model.h:115] Throughput:           102.35 MB/s
INFO: [benchmark_litert_model.h:124] 
Memory Usage:
INFO: [benchmark_litert_model.h:125] Init footprint:       120.50 MB
INFO: [benchmark_litert_model.h:127] Overall footprint:    130.25 MB
INFO: [benchmark_litert_model.h:132] Peak memory:          142.75 MB
INFO: [benchmark_litert_model.h:138] ======================================

"""


def test_litert_stdout_capture_reads_the_block_and_the_percentiles():
    log = parse_benchmark_log(LITERT_GPU_PARTIAL)
    r = log.to_json()
    assert (r["status"], r["dialect"], r["tool_kind"], len(r["runs"])) == ("ok", "litert", "litert", 1)
    # The stats lines hold the same runs in whole microseconds; the block (rounded to 10 us) agrees, so they stand.
    assert (r["inference_avg_us"], r["inference_median_us"], r["inference_p5_us"], r["inference_p95_us"]) == (
        9876.5, 9870, 9650, 10050)
    assert r["inference"] == {"count": 101, "min_us": 9600, "max_us": 10101, "avg_us": 9876.5, "std_us": 120,
                              "first_us": 9900, "median_us": 9870, "p5_us": 9650, "p95_us": 10050}
    assert (r["init_us"], r["first_inference_us"], r["warmup_avg_us"]) == (812500, 12000, 9950.5)
    assert r["warmup"]["count"] == 40 and r["warmup"]["median_us"] == 9900
    assert r["memory"] == {"init_mb": 120.5, "overall_mb": 130.25, "peak_mb": 142.75}
    assert r["model_path"] == "/data/local/tmp/devlab/unet.tflite" and r["model_size_mb"] == 4.5
    assert r["errors"] == [] and r["failure_reason"] is None


def test_litert_cl_then_xnnpack_is_a_partial_gpu_delegation_not_xnnpack_full():
    d = parse_benchmark_log(LITERT_GPU_PARTIAL).to_json()["delegation"]
    assert (d["delegate"], d["applied"], d["ops_on_delegate"], d["ops_on_cpu"]) == ("gpu", "partial", 40, 5)
    # 7 nodes after the GPU delegate = its partitions + the 5 nodes it left: 2 GPU partitions (K=4 counts CPU ones)
    assert d["partitions"] == 2
    assert d["subgraphs"] == [
        {"subgraph": 0, "subgraph_name": "main", "delegate_name": "LITERT_CL", "delegate": "gpu",
         "nodes_replaced": 40, "nodes_in_plan": 45, "partitions": 4},
        {"subgraph": 0, "subgraph_name": "main", "delegate_name": "TfLiteXNNPackDelegate", "delegate": "xnnpack",
         "nodes_replaced": 5, "nodes_in_plan": 7, "partitions": 4}]


def test_litert_gpu_full_and_multi_subgraph_lines_are_kept_per_subgraph():
    log = ("VERBOSE: Replacing 120 out of 120 node(s) with delegate (LITERT_CL) node, yielding 1 partitions for subgraph 0 (main).\n"
           "VERBOSE: Replacing 6 out of 9 node(s) with delegate (LITERT_CL) node, yielding 3 partitions for subgraph 1 (body).\n"
           "VERBOSE: Replacing 3 out of 5 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 3 partitions for subgraph 1 (body).\n"
           "VERBOSE: Replacing 4 out of 4 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 2 (cond).\n")
    d = parse_benchmark_log(log).to_json()["delegation"]
    assert [(s["subgraph"], s["delegate_name"]) for s in d["subgraphs"]] == [
        (0, "LITERT_CL"), (1, "LITERT_CL"), (1, "TfLiteXNNPackDelegate"), (2, "TfLiteXNNPackDelegate")]
    # subgraph 2 was left wholly to XNNPACK: its 4 nodes are CPU nodes of the GPU run
    assert (d["delegate"], d["ops_on_delegate"], d["ops_on_cpu"], d["applied"]) == ("gpu", 126, 3 + 4, "partial")
    full = parse_benchmark_log(log.splitlines()[0] + "\n").to_json()["delegation"]
    assert (full["delegate"], full["applied"], full["ops_on_cpu"], full["partitions"]) == ("gpu", "full", 0, 1)


def test_cpu_only_litert_run_is_xnnpack():
    log = "VERBOSE: Replacing 45 out of 45 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 0 (main).\n"
    d = parse_benchmark_log(log).to_json()["delegation"]
    assert (d["delegate"], d["applied"], d["ops_on_delegate"]) == ("xnnpack", "full", 45)


def logcat(lines: list[tuple[str, str, str]]) -> str:
    """threadtime lines: (level letter, tag, message); a message with "\\n" becomes one logcat line per line."""
    out = []
    for level, tag, message in lines:
        for part in message.split("\n"):
            out.append(f"12-01 14:05:59.123  7001  7001 {level} {tag:<7} : {part}")
    return "\n".join(out) + "\n"


def test_litert_logcat_capture_matches_stdout_and_keeps_absl_gpu_lines():
    plain = parse_benchmark_log(LITERT_GPU_PARTIAL).to_json()
    entries: list[tuple[str, str, str]] = [
        ("I", "native", "some other library's line that absl did not format"),
        ("I", "ActivityManager", "Start proc 7001:com.example/u0a1 for service"),
    ]
    for line in LITERT_GPU_PARTIAL.splitlines():
        if line.startswith("INFO: The input model file size"):
            entries.append(("I", "native", "I1201 14:05:59.100123    7012 delegate_kernel.cc:911] "
                                           "Initializing OpenCL-based API from graph."))
        if not line.strip():
            continue
        level, _, message = line.partition(": ")
        tag = "litert" if message.startswith("[") or line.startswith(("=", "Memory")) else "tflite"
        if not _:  # the bare continuation lines of "\n..." messages
            level, message = "INFO", line
        entries.append(({"INFO": "I", "VERBOSE": "I", "WARNING": "W", "ERROR": "E"}[level], tag, message))
    parsed = parse_benchmark_log(logcat(entries)).to_json()
    for key in ("status", "tool_kind", "init_us", "inference_avg_us", "inference", "warmup", "memory"):
        assert parsed[key] == plain[key], key
    assert parsed["delegation"]["subgraphs"] == plain["delegation"]["subgraphs"]
    assert (parsed["delegation"]["gpu_api"], parsed["delegation"]["gpu_api_from_cache"]) == ("OpenCL", False)
    cached = logcat([("I", "native", "I1201 14:05:59.100123    7012 delegate_kernel.cc:906] "
                                     "Initializing OpenCL-based API from serialized data.")])
    d = parse_benchmark_log(cached).to_json()["delegation"]
    assert (d["delegate"], d["gpu_api"], d["gpu_api_from_cache"]) == ("gpu", "OpenCL", True)


def test_all_same_and_no_runs():
    log = ("INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.\n"
           "INFO: count=0 p5=0 median=0 p95=0\n\n"
           "INFO: Running benchmark for at least 3 iterations and at least -1 seconds but terminate if exceeding 150 seconds.\n"
           "INFO: count=3 curr=5000(all same) p5=5000 median=5000 p95=5000\n\n"
           "INFO: [benchmark_litert_model.h:89] \n========== BENCHMARK RESULTS ==========\n"
           "INFO: [benchmark_litert_model.h:94] Model initialization: 3.10 ms\n"
           "INFO: [benchmark_litert_model.h:95] Warmup (first):       0.00 ms\n"
           "INFO: [benchmark_litert_model.h:97] Warmup (avg):         nan ms (0 runs)\n"
           "INFO: [benchmark_litert_model.h:99] Inference (avg):      5.00 ms (3 runs)\n"
           "INFO: [benchmark_litert_model.h:103] Inference (min):      5.00 ms\n"
           "INFO: [benchmark_litert_model.h:105] Inference (max):      5.00 ms\n"
           "INFO: [benchmark_litert_model.h:107] Inference (std):      0.00\n"
           "INFO: [benchmark_litert_model.h:117] No throughput data available (throughput <= 0).\n"
           "INFO: [benchmark_litert_model.h:138] ======================================\n\n")
    r = parse_benchmark_log(log).to_json()
    assert r["status"] == "ok" and r["inference_avg_us"] == 5000
    assert r["inference"] == {"count": 3, "min_us": 5000, "max_us": 5000, "avg_us": 5000, "std_us": None,
                              "first_us": None, "median_us": 5000, "p5_us": 5000, "p95_us": 5000}
    # no warm-up samples: the printed zeros are int64's NaN, not percentiles
    assert r["warmup"] == {"count": 0, "min_us": None, "max_us": None, "avg_us": None, "std_us": None,
                           "first_us": None, "median_us": None, "p5_us": None, "p95_us": None}
    none = log.replace("INFO: [benchmark_litert_model.h:99] Inference (avg):      5.00 ms (3 runs)\n",
                       "INFO: [benchmark_litert_model.h:99] Inference (avg):      nan ms (0 runs)\n"
                       "INFO: [benchmark_litert_model.h:110] No inference runs were performed.\n")
    assert parse_benchmark_log(none).to_json()["inference_avg_us"] is None


def test_block_that_disagrees_with_the_stats_lines_wins():
    """A stats line the block does not confirm (not the same runs) is not used: the block's figures stand."""
    swapped = LITERT_GPU_PARTIAL.replace("avg=9876.5 std=120", "avg=7000 std=120")
    r = parse_benchmark_log(swapped).to_json()
    assert r["inference_avg_us"] == 9880 and r["inference"]["median_us"] is None
    assert r["inference"]["std_us"] == 120 and r["inference"]["min_us"] == 9600


NPU_RUN = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: [benchmark_litert_model.cc:236] dispatch_library_path: /data/local/tmp/devlab
INFO: [benchmark_litert_model.cc:240] compiler_plugin_library_path: 
INFO: [benchmark_litert_model.cc:243] compiler_cache_path: 
INFO: [benchmark_litert_model.cc:271] Loading model from: /data/local/tmp/devlab/m_qualcomm.tflite
INFO: [litert_dispatch.cc:158] Loading shared library: /data/local/tmp/devlab/libLiteRtDispatch_Qualcomm.so
VERBOSE: Replacing 1 out of 1 node(s) with delegate (DispatchDelegate) node, yielding 1 partitions for subgraph 0 (main).
"""


def test_npu_dispatch_lines():
    d = parse_benchmark_log(NPU_RUN).to_json()["delegation"]
    assert (d["delegate"], d["applied"], d["ops_on_delegate"], d["ops_on_cpu"]) == ("npu", "full", 1, 0)
    assert d["npu_dispatch_library"] == "/data/local/tmp/devlab/libLiteRtDispatch_Qualcomm.so"
    missing = NPU_RUN.split("INFO: [litert_dispatch.cc")[0] + (
        "ERROR: [litert_dispatch.cc:121] No dispatch library found in /data/local/tmp/devlab\n"
        "ERROR: [dispatch_delegate.cc:115] Failed to initialize Dispatch API: \n"
        "ERROR: Benchmarking failed.\n")
    r = parse_benchmark_log(missing).to_json()
    assert r["status"] == "failed" and r["delegation"]["delegate"] == "npu"
    assert r["failure_reason"] == "No dispatch library found in /data/local/tmp/devlab"


def test_litert_failures_name_the_runtime_reason():
    aborted = ("INFO: STARTING!\nINFO: Log parameter values verbosely: [0]\n"
               "ERROR: [benchmark_litert_model.cc:98] Requesting full delegation and CPU acceleration are incompatible.\n"
               "Aborted \n")
    r = parse_benchmark_log(aborted).to_json()
    assert r["status"] == "failed" and r["tool_kind"] == "litert"
    assert r["failure_reason"] == "Requesting full delegation and CPU acceleration are incompatible."
    precision = ("INFO: STARTING!\nERROR: [benchmark_litert_model.cc:164] Invalid gpu-precision: half\n")
    assert parse_benchmark_log(precision).to_json()["failure_reason"] == "Invalid gpu-precision: half"


def test_detect_tool_kind():
    assert detect_tool_kind(LITERT_GPU_PARTIAL) == "litert"
    assert detect_tool_kind(NPU_RUN) == "litert"
    classic = (REPO.parent / "shared" / "fixtures" / "real" / "benchmark_logs" /
               "anilsathyan7_mnv3seg_pocox3_gpu_opprofile.txt").read_text()
    assert detect_tool_kind(classic) == "classic"
    # --help: Flags::Usage lists each flag as "\t--name=default\ttype\toptional\thelp" (tflite/tools/command_line_flags.cc)
    assert detect_tool_kind("usage: benchmark_model\nFlags:\n\t--use_npu=false\tbool\toptional\tWhether to use NPU accelerator.\n"
                            "\t--gpu-precision=auto\tstring\toptional\t\n") == "litert"
    assert detect_tool_kind("usage: benchmark_model\nFlags:\n\t--enable_op_profiling=false\tbool\toptional\t\n") == "classic"
    assert detect_tool_kind("INFO: STARTING!\n") is None and detect_tool_kind("") is None


def test_bench_parse_cli_litert_json(tmp_path: Path):
    log = tmp_path / "litert.log"
    log.write_text(LITERT_GPU_PARTIAL)
    done = subprocess.run([str(DEVLAB), "bench", "parse", str(log), "--json"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["tool_kind"], data["inference_median_us"], data["delegation"]["subgraphs"][0]["delegate_name"]) == (
        "litert", 9870, "LITERT_CL")
    human = subprocess.run([str(DEVLAB), "bench", "parse", str(log)], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "COLUMNS": "200"})
    assert human.returncode == 0, human.stderr
    assert "litert" in human.stderr and "p5" in human.stderr and "LITERT_CL" in human.stderr


# --- the simulated phone's LiteRT build, through the real adb server: what it prints, the parser reads ---

import pytest  # noqa: E402

from sim_fixtures import adb_server, start_phone, stop_phone  # noqa: E402,F401  (fixtures)

BENCH = "/system/bin/benchmark_model"


@pytest.fixture(scope="module")
def litert_phone(adb_server, tmp_path_factory):  # noqa: F811
    phone = start_phone(adb_server, tmp_path_factory.mktemp("litert-phone"), benchmark_tool="litert")
    yield phone
    stop_phone(phone)


def _bench(phone, real_fixtures, rel: str, *flags: str):
    remote = "/data/local/tmp/" + rel.rsplit("/", 1)[-1]
    phone.device().sync.push(real_fixtures / "models" / rel, remote)
    result = phone.device().shell2([BENCH, f"--graph={remote}", "--num_runs=8", "--min_secs=0.01",
                                    "--warmup_min_secs=0.01", *flags], v2=True, timeout=120)
    # as devlab's phone path reads it: stdout, then stderr
    return result, parse_benchmark_log(result.stdout + "\n" + result.stderr, may_be_truncated=False)


@pytest.mark.slow
def test_simulated_litert_build_parses(litert_phone, real_fixtures):
    result, log = _bench(litert_phone, real_fixtures, "poco_x3/mnv3_seg_float.tflite", "--use_gpu=true")
    r = log.to_json()
    assert result.returncode == 0 and (r["status"], r["tool_kind"], len(r["runs"])) == ("ok", "litert", 1)
    assert r["inference"]["count"] >= 8 and None not in (r["inference_median_us"], r["inference_p5_us"],
                                                          r["inference_p95_us"])
    assert r["inference_p5_us"] <= r["inference_median_us"] <= r["inference_p95_us"]
    assert r["delegation"]["subgraphs"][0]["delegate_name"] == "LITERT_CL"
    assert (r["delegation"]["delegate"], r["delegation"]["applied"]) == ("gpu", "full")
    partial, log = _bench(litert_phone, real_fixtures, "litert/fallback_model.tflite", "--use_gpu=true")
    d = log.to_json()["delegation"]
    assert partial.returncode == 0 and (d["delegate"], d["applied"]) == ("gpu", "partial")
    assert [s["delegate_name"] for s in d["subgraphs"]] == ["LITERT_CL", "TfLiteXNNPackDelegate"]
    strict, log = _bench(litert_phone, real_fixtures, "litert/fallback_model.tflite", "--use_gpu=true",
                         "--require_full_delegation=true")
    assert strict.returncode != 0 and log.result.status == "failed"
    assert log.result.failure_reason == "Requesting full delegation and CPU acceleration are incompatible."
