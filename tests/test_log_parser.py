"""benchmark_model logs: every real capture in shared/fixtures, read by eye, plus hand-written dialect cases."""

from __future__ import annotations

import json

from devlab.bench.log_parser import parse_benchmark_log
from cli_helpers import devlab_script

LOGS = "benchmark_logs"
CONTRACT_KEYS = {"status", "dialect", "errors", "init_us", "first_inference_us", "warmup_avg_us",
                 "inference_avg_us", "inference", "memory", "delegation", "op_profile", "runs"}


# The delegation keys a log without per-subgraph Replacing lines, GPU API or NPU dispatch lines leaves empty.
NO_RUNTIME_LINES = {"subgraphs": [], "gpu_api": None, "gpu_api_from_cache": None, "npu_dispatch_library": None}


def parse_fixture(real_fixtures, name: str) -> dict:
    result = parse_benchmark_log((real_fixtures / LOGS / name).read_text()).to_json()
    json.dumps(result)  # the contract is plain JSON
    assert CONTRACT_KEYS <= result.keys()
    return result


def test_poco_x3_gpu_full_log(real_fixtures):
    r = parse_fixture(real_fixtures, "anilsathyan7_mnv3seg_pocox3_gpu_opprofile.txt")
    assert (r["status"], r["dialect"], r["errors"]) == ("ok", "classic", [])
    assert r["init_us"] == 1451507 and r["first_inference_us"] == 11147
    assert r["warmup_avg_us"] == 8779.68 and r["inference_avg_us"] == 8680.33
    assert r["inference"] == {"count": 110, "min_us": 7863, "max_us": 10688, "avg_us": 8680.33, "std_us": 591,
                              "first_us": 8325, "median_us": None, "p5_us": None, "p95_us": None}
    assert r["memory"] == {"init_mb": 63.4883, "overall_mb": 63.4883, "peak_mb": None}
    assert r["delegation"]["delegate"] == "gpu" and r["delegation"]["applied"] == "full"
    assert r["delegation"]["partitions"] == 1 and r["delegation"]["ops_on_delegate"] is None  # not printed
    (delegate_row,) = [row for row in r["op_profile"]["rows"] if row["node_type"] == "TfLiteGpuDelegateV2"]
    assert delegate_row["name"] == "[Identity]:77" and delegate_row["avg_ms"] == 8.671
    assert r["parameters"]["Use gpu"] == "1" and r["parameters"]["Graph"] == "/data/local/tmp/mnv3_seg_float.tflite"
    assert r["warnings"] == ["Duplicate flags: num_threads"]
    assert len(r["runs"]) == 1 and r["runs"][0]["inference_avg_us"] == 8680.33


def test_poco_x3_cpu_full_log(real_fixtures):
    r = parse_fixture(real_fixtures, "anilsathyan7_mnv3seg_pocox3_cpu_opprofile.txt")
    assert r["status"] == "ok"
    assert (r["init_us"], r["first_inference_us"], r["warmup_avg_us"], r["inference_avg_us"]) == (
        746, 49587, 18851.5, 17138)
    assert r["inference"]["count"] == 58 and r["inference"]["std_us"] == 58
    assert r["memory"] == {"init_mb": 2.58594, "overall_mb": 15.7461, "peak_mb": None}
    assert r["delegation"]["delegate"] is None and r["delegation"]["applied"] is None
    assert len([row for row in r["op_profile"]["rows"] if row["section"] == "run"]) == 77
    assert r["parameters"]["Num threads"] == "2" and r["model_size_mb"] == 3.79893


def test_summary_only_fragments_are_incomplete_with_profile(real_fixtures):
    r = parse_fixture(real_fixtures, "anilsathyan7_munet_bilinear_tf14_cpu_summary_only.txt")
    assert r["status"] == "incomplete" and r["errors"] == []
    assert r["inference_avg_us"] is None and r["inference"] is None and r["init_us"] is None
    by_type = r["op_profile"]["by_type"]
    assert (by_type[0]["node_type"], by_type[0]["avg_ms"], by_type[0]["avg_percent"]) == ("CONV_2D", 534.319, 98.411)
    assert r["op_profile"]["timings"][0]["stats"]["avg_us"] == 542990
    d = parse_fixture(real_fixtures, "anilsathyan7_munet_deconv_tf14_cpu_summary_only.txt")
    assert d["status"] == "incomplete"
    assert d["op_profile"]["by_type"][0]["node_type"] == "TRANSPOSE_CONV"


def test_tail_only_summary_mi11(real_fixtures):
    r = parse_fixture(real_fixtures, "lp6m_yolov5s_mi11_fp32_cpu_summary.txt")
    assert r["status"] == "ok"
    assert (r["init_us"], r["first_inference_us"], r["warmup_avg_us"], r["inference_avg_us"]) == (
        16242, 360262, 304586, 249684)
    assert (r["inference"]["count"], r["inference"]["min_us"], r["inference"]["max_us"]) == (50, 247067, 254474)
    assert r["warmup"] is None  # its stats line is not in the excerpt
    assert r["memory"] == {"init_mb": 4.92969, "overall_mb": 138.809, "peak_mb": None}


def test_tail_only_flex(real_fixtures):
    r = parse_fixture(real_fixtures, "xudoong_edgevit_mobilenetv2_flex_cpu_tail.txt")
    assert r["status"] == "ok" and r["init_us"] == 847 and r["inference_avg_us"] == 47440.3
    assert r["inference"]["count"] == 30 and r["warmup"]["count"] == 30 and r["warmup"]["avg_us"] == 47674.1
    assert r["memory"]["overall_mb"] == 26.6641 and r["model_size_mb"] == 13.9926


def test_nnapi_failures(real_fixtures):
    r = parse_fixture(real_fixtures, "lp6m_yolov5s_mi11_int8_nnapi_qtidefault_fail.txt")
    assert r["status"] == "failed"
    assert r["errors"] == [
        "NN API returned error ANEURALNETWORKS_OP_FAILED at line 3779 while completing NNAPI compilation.",
        "Node number 248 (TfLiteNnapiDelegate) failed to prepare.",
        "Restored original execution plan after delegate application failure.",
        "Failed to apply NNAPI delegate.",
        "Benchmarking failed.",
    ]
    assert r["delegation"]["delegate"] == "nnapi" and r["delegation"]["applied"] == "none"
    assert r["inference_avg_us"] is None and r["memory"] is None
    assert r["parameters"]["NNAPI accelerator name"] == "qti-default"
    s = parse_fixture(real_fixtures, "lp6m_yolov5s_mi11_int8_nnapi_qtidsp_fail.txt")
    assert s["status"] == "failed" and "Benchmarking failed." in s["errors"]
    assert s["errors"][0] == "NN API returned error ANEURALNETWORKS_BAD_DATA at line 1068 while adding operation."


def test_logcat_capture_keeps_only_tflite_lines(real_fixtures):
    r = parse_fixture(real_fixtures, "lp6m_yolov5s_mi11_int8_nnapi_qtidsp_logcat.txt")
    # The content says the delegate node failed to invoke: failed, not merely incomplete.
    assert r["status"] == "failed"
    assert r["errors"] == ["NN API returned error ANEURALNETWORKS_OP_FAILED at line 4113 while running computation.",
                           "Node number 248 (TfLiteNnapiDelegate) failed to invoke."]
    assert r["delegation"]["delegate"] == "nnapi"
    assert r["inference"] is None and r["op_profile"] is None


def test_nnapi_op_profile_only_paste(real_fixtures):
    r = parse_fixture(real_fixtures, "lp6m_yolov5s_mi11_nnapi_qtigpu_opprofile.txt")
    assert r["status"] == "incomplete" and r["inference_avg_us"] is None
    # Derived from the Run Order table: three delegate nodes, eight CPU nodes.
    assert r["delegation"] == {"delegate": "nnapi", "applied": "partial", "ops_on_delegate": None,
                               "ops_on_cpu": 8, "partitions": 3, "unsupported_ops": [], **NO_RUNTIME_LINES}


MODERN_GPU_RUN = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/data/local/tmp/devlab/unet.tflite]
INFO: Use gpu: [1]
INFO: Loaded model /data/local/tmp/devlab/unet.tflite
INFO: Created TensorFlow Lite delegate for GPU.
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
ERROR: Following operations are not supported by GPU delegate:
MEAN: Unsupported axes
RESHAPE: Tensor dimensions must be less than 5
40 operations will run on the GPU, and the remaining 5 operations will run on the CPU.
VERBOSE: Replacing 40 out of 45 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for the whole graph.
INFO: Initialized OpenCL-based API.
INFO: Created 1 GPU delegate kernels.
INFO: Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 1 delegate kernels.
INFO: The input model file size (MB): 4.5
INFO: Initialized session in 812.5ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=40 first=1.2e+04 curr=9800 min=9700 max=12000 avg=9950.5 std=300 p5=9710 median=9900 p95=11000

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=101 first=9900 curr=9850 min=9600 max=1.01013e+04 avg=9.8765e+03 std=120

INFO: Inference timings in us: Init: 812500, First inference: 12000, Warmup (avg): 9950.5, Inference (avg): 9876.5
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=120.5 overall=130.25
INFO: Overall peak memory footprint (MB) via periodic monitoring: 142.75
"""


def test_modern_gpu_partial_delegation_and_scientific_notation():
    r = parse_benchmark_log(MODERN_GPU_RUN).to_json()
    assert r["status"] == "ok" and r["init_us"] == 812500 and r["inference_avg_us"] == 9876.5
    assert r["inference"]["avg_us"] == 9876.5 and r["inference"]["max_us"] == 10101.3
    assert r["warmup"]["first_us"] == 12000 and r["warmup"]["median_us"] == 9900 and r["warmup"]["p95_us"] == 11000
    assert r["memory"] == {"init_mb": 120.5, "overall_mb": 130.25, "peak_mb": 142.75}
    assert r["delegation"] == {
        "delegate": "gpu", "applied": "partial", "ops_on_delegate": 40, "ops_on_cpu": 5, "partitions": 1,
        "unsupported_ops": [{"op": "MEAN", "reason": "Unsupported axes"},
                            {"op": "RESHAPE", "reason": "Tensor dimensions must be less than 5"}],
        "subgraphs": [{"subgraph": None, "subgraph_name": None, "delegate_name": "TfLiteGpuDelegateV2",
                       "delegate": "gpu", "nodes_replaced": 40, "nodes_in_plan": 45, "partitions": 2}],
        "gpu_api": "OpenCL", "gpu_api_from_cache": False, "npu_dispatch_library": None}
    assert r["errors"] == ["Following operations are not supported by GPU delegate:"]


def test_logcat_and_android_studio_prefixes_match_plain_output():
    plain = parse_benchmark_log(MODERN_GPU_RUN).to_json()
    lines = MODERN_GPU_RUN.splitlines()
    threadtime = "\n".join(f"05-02 11:22:33.444  7001  7001 I tflite  : {line.removeprefix('INFO: ')}"
                           for line in lines) + "\n"
    studio = "\n".join(f"2024-05-02 11:22:33.444  7001-7001  tflite  org.tensorflow.lite.benchmark  I  {line}"
                       for line in lines) + "\n"
    for capture in (threadtime, studio):
        parsed = parse_benchmark_log(capture).to_json()
        for key in ("status", "init_us", "inference_avg_us", "inference", "memory"):
            assert parsed[key] == plain[key], key
        assert parsed["delegation"]["delegate"] == "gpu"


def test_shell_prompt_and_linker_warnings_are_noise():
    capture = ("generic:/ $ taskset f0 /data/local/tmp/benchmark_model --graph=m.tflite\n"
               'WARNING: linker: /data/local/tmp/benchmark_model: unsupported flags DT_FLAGS_1=0x8000001\n'
               + MODERN_GPU_RUN + "generic:/ $ \n")
    r = parse_benchmark_log(capture).to_json()
    assert r["status"] == "ok" and r["warnings"] == [] and r["inference_avg_us"] == 9876.5


def test_several_runs_top_level_mirrors_last_complete_run():
    second_failed = "STARTING!\nGraph: [/data/local/tmp/b.tflite]\nLoaded model /data/local/tmp/b.tflite\n" \
                    "Failed to allocate tensors!\nBenchmarking failed.\n"
    third = MODERN_GPU_RUN.replace("9876.5", "9000.25")
    log = parse_benchmark_log(MODERN_GPU_RUN + second_failed + third + "INFO: STARTING!\nINFO: Graph: [c]\n")
    r = log.to_json()
    assert [run["status"] for run in r["runs"]] == ["ok", "failed", "ok", "incomplete"]
    assert r["status"] == "ok" and r["inference_avg_us"] == 9000.25
    assert r["runs"][1]["errors"] == ["Failed to allocate tensors!", "Benchmarking failed."]
    assert r["runs"][1]["model_path"] == "/data/local/tmp/b.tflite"


def test_cut_off_last_run_mirrors_the_last_complete_run():
    """Issue 10 item 6: the last run is cut off; the top level is the complete run before it, `runs` lists both.
    The second run has no STARTING! (builds before 2019, captures that lost it): LogParams()'s first line starts it."""
    no_start = MODERN_GPU_RUN.replace("INFO: STARTING!\n", "")
    second = no_start.replace("9876.5", "9000.25")
    for cut_before in ("INFO: Graph", "INFO: Running benchmark for at least 50", "INFO: Inference timings"):
        log = parse_benchmark_log(no_start + second[:second.index(cut_before)])
        r = log.to_json()
        assert [run["status"] for run in r["runs"]] == ["ok", "incomplete"], cut_before
        assert (r["status"], r["inference_avg_us"], r["first_line"]) == ("ok", 9876.5, 1), cut_before
        assert r["runs"][1]["inference_avg_us"] is None and r["runs"][1]["first_line"] > 1


def test_2018_average_timings_line_with_no_stats():
    """The 2018 runner (tensorflow/lite/tools/benchmark/benchmark_model.cc, BenchmarkLoggingListener::OnBenchmarkEnd)
    printed the regular runs' average as `no stats`, its run headers as `Running benchmark for N iterations `, bare
    lines, and `Initialized session in Xms` without a period."""
    log = ("Num runs: [50]\nInter-run delay (seconds): [-1]\nNum threads: [1]\nBenchmark name: []\n"
           "Output prefix: []\nWarmup runs: [1]\nGraph: [/data/local/tmp/mobilenet_quant_v1_224.tflite]\n"
           "Input layers: [input]\nInput shapes: [1,224,224,3]\n"
           "Loaded model /data/local/tmp/mobilenet_quant_v1_224.tflite\nInitialized session in 45.233ms\n"
           "Running benchmark for 1 iterations \ncount=1 curr=101542\n\n"
           "Running benchmark for 50 iterations \n"
           "count=50 first=86413 curr=85998 min=85339 max=99837 avg=87221.9 std=2434\n\n"
           "Average inference timings in us: Warmup: 101542, Init: 45233, no stats: 87221.9\n")
    r = parse_benchmark_log(log).to_json()
    assert (r["status"], r["inference_avg_us"], r["warmup_avg_us"], r["init_us"]) == ("ok", 87221.9, 101542, 45233)
    assert r["inference"]["count"] == 50 and r["inference"]["std_us"] == 2434 and r["warmup"]["count"] == 1
    assert r["parameters"]["Num runs"] == "50" and len(r["runs"]) == 1


def test_shell_prompt_then_starting_is_one_run():
    """`~/dir $ ./benchmark_model ...` and the tool's own STARTING! open the same run, not two."""
    first = "~/tflite $ ./benchmark_model --graph=unet.tflite --use_gpu=true\n" + MODERN_GPU_RUN
    second = ("user@box:~/tflite$ adb shell /data/local/tmp/benchmark_model --graph=unet.tflite\n"
              + MODERN_GPU_RUN.replace("9876.5", "9000.25"))
    r = parse_benchmark_log(first + second + "~/tflite $ \n").to_json()
    assert [run["inference_avg_us"] for run in r["runs"]] == [9876.5, 9000.25]
    assert [run["first_line"] for run in r["runs"]] == [2, MODERN_GPU_RUN.count("\n") + 3]
    assert r["warnings"] == [] and r["errors"] == ["Following operations are not supported by GPU delegate:"]
    # a prompt line that runs something else is noise, as before
    assert len(parse_benchmark_log("~/tflite $ ls\n" + MODERN_GPU_RUN).runs) == 1


def test_failure_reason_is_the_most_specific_error_line(real_fixtures):
    """Issue 10 item 5: a failed run says why, not `Benchmarking failed.`"""
    fallback = MODERN_GPU_RUN.split("INFO: Initialized OpenCL")[0] + (
        "ERROR: Disallowed CPU fallback detected.\nERROR: Benchmarking failed.\n")
    r = parse_benchmark_log(fallback).to_json()
    assert r["status"] == "failed" and r["failure_reason"] == "Disallowed CPU fallback detected."
    assert r["errors"][-1] == "Benchmarking failed."  # every line is still kept, in order
    nnapi = parse_fixture(real_fixtures, "lp6m_yolov5s_mi11_int8_nnapi_qtidefault_fail.txt")
    assert nnapi["failure_reason"] == ("NN API returned error ANEURALNETWORKS_OP_FAILED at line 3779 while "
                                       "completing NNAPI compilation.")
    only_generic = parse_benchmark_log("INFO: STARTING!\nFailed to allocate tensors!\nBenchmarking failed.\n")
    assert only_generic.result.failure_reason == "Failed to allocate tensors!"
    assert parse_benchmark_log(MODERN_GPU_RUN).result.failure_reason is None  # ok runs have none


def test_all_same_and_empty_stats_lines():
    log = ("Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.\n"
           "count=0\n"
           "Running benchmark for at least 1 iterations and at least 1 seconds but terminate if exceeding 150 seconds.\n"
           "count=3 curr=5000(all same)\n"
           "Inference timings in us: Init: 100, First inference: 5000, Warmup (avg): -nan, Inference (avg): 5000\n")
    r = parse_benchmark_log(log).to_json()
    assert r["status"] == "ok" and r["warmup_avg_us"] is None  # -nan is no number
    assert r["warmup"]["count"] == 0 and r["warmup"]["avg_us"] is None
    assert r["inference"] == {"count": 3, "min_us": 5000, "max_us": 5000, "avg_us": 5000, "std_us": None,
                              "first_us": None, "median_us": None, "p5_us": None, "p95_us": None}


def test_oldest_average_timings_line():
    r = parse_benchmark_log("Average inference timings in us: Warmup: 250.5, Init: 3000, Inference: 240\n").to_json()
    assert (r["status"], r["warmup_avg_us"], r["init_us"], r["inference_avg_us"]) == ("ok", 250.5, 3000, 240)
    assert r["first_inference_us"] is None


def test_truncated_log_is_incomplete_and_cut_number_dropped():
    cut = MODERN_GPU_RUN[:MODERN_GPU_RUN.index("avg=9.8765e+03") + len("avg=9.87")]
    r = parse_benchmark_log(cut).to_json()
    assert r["status"] == "incomplete" and r["inference"] is None and r["inference_avg_us"] is None
    assert r["warmup"]["avg_us"] == 9950.5  # complete lines before the cut still count
    assert r["delegation"]["delegate"] == "gpu"


LITERT_RUN = """\
INFO: [litert] Graph: /data/local/tmp/m.tflite
INFO: Replacing 12 out of 12 node(s) with delegate (LiteRtDispatch) node, yielding 1 partitions for the whole graph.
========== BENCHMARK RESULTS ==========
Model initialization: 12.34 ms
Warmup (first):       5.67 ms
Warmup (avg):         5.01 ms (3 runs)
Inference (avg):      4.89 ms (50 runs)
Inference (min):      4.50 ms
Inference (max):      5.20 ms
Inference (std):      0.12
Throughput:           204.5 inferences/s
Memory Usage:
Init footprint:       10.5 MB
Overall footprint:    22.25 MB
Peak memory:          30.5 MB
======================================
"""


def test_litert_dialect():
    r = parse_benchmark_log(LITERT_RUN).to_json()
    assert r["dialect"] == "litert" and r["status"] == "ok"
    assert (r["init_us"], r["first_inference_us"], r["warmup_avg_us"], r["inference_avg_us"]) == (
        12340, 5670, 5010, 4890)
    assert r["inference"] == {"count": 50, "min_us": 4500, "max_us": 5200, "avg_us": 4890, "std_us": 120,
                              "first_us": None, "median_us": None, "p5_us": None, "p95_us": None}
    assert r["warmup"]["count"] == 3
    assert r["memory"] == {"init_mb": 10.5, "overall_mb": 22.25, "peak_mb": 30.5}


def test_litert_block_cut_before_inference_is_incomplete():
    r = parse_benchmark_log(LITERT_RUN[:LITERT_RUN.index("Inference (avg)")]).to_json()
    assert r["dialect"] == "litert" and r["status"] == "incomplete"
    assert r["init_us"] == 12340 and r["inference_avg_us"] is None and r["memory"] is None


# --- through the real CLI: `python -m devlab bench parse` ---

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def devlab(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    return subprocess.run([str(devlab_script()), *args], capture_output=True, text=True, env=env,
                          timeout=60, cwd=REPO)


def test_cli_json_and_human_output(real_fixtures):
    log = real_fixtures / LOGS / "anilsathyan7_mnv3seg_pocox3_gpu_opprofile.txt"
    done = devlab("bench", "parse", str(log), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["status"] == "ok" and data["inference_avg_us"] == 8680.33 and data["delegation"]["delegate"] == "gpu"
    human = devlab("bench", "parse", str(log))
    assert human.returncode == 0 and human.stdout == ""
    assert "ok" in human.stderr and "8.680 ms" in human.stderr and "TfLiteGpuDelegateV2" in human.stderr
    assert "[Identity]:77" in human.stderr  # tensor names are not eaten as Rich markup
    failed = devlab("bench", "parse", str(real_fixtures / LOGS / "lp6m_yolov5s_mi11_int8_nnapi_qtidsp_fail.txt"))
    assert failed.returncode == 0 and "failed" in failed.stderr and "Benchmarking failed." in failed.stderr


def test_cli_missing_file_is_a_usage_error(tmp_path):
    done = devlab("bench", "parse", str(tmp_path / "nope.txt"), "--json")
    assert done.returncode == 2 and done.stdout == ""
    assert "log file not found" in done.stderr
    done = devlab("bench", "parse", str(tmp_path))
    assert done.returncode == 2 and "is a directory" in done.stderr


def test_cli_empty_and_non_log_files_exit_1_with_one_line(tmp_path, real_fixtures):
    """Issue 10 item 5, through the installed console script: an empty file, other text, or binary noise is not a
    benchmark_model log: exit 1, one `error:` line, nothing on stdout. A real log, even a failed one, parses (0)."""
    from cli_helpers import run_devlab
    cases = {"empty.log": b"", "blank.log": b"\n\n  \n", "readme.md": b"# Notes\n\nError: see below\n",
             "noise.bin": bytes(range(256)) * 8}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = run_devlab("bench", "parse", str(path), "--json")
        assert result.exit_code == 1, (name, result.stderr)
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, (name, result.stderr)
        assert result.stderr.startswith("error: ") and name in result.stderr
        assert ("is empty" if name.endswith(".log") else "holds no benchmark_model output") in result.stderr
    failed = run_devlab("bench", "parse", str(real_fixtures / LOGS / "lp6m_yolov5s_mi11_int8_nnapi_qtidsp_fail.txt"))
    assert failed.exit_code == 0 and "reason: NN API returned error ANEURALNETWORKS_BAD_DATA" in failed.stderr
