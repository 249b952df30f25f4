"""Op-profiling tables: real logs from phones, plus the current GPU-kernel-row format written out by hand."""

from __future__ import annotations

import pytest

from devlab.bench.op_profile import parse_op_profile_csv, parse_op_profile_tables
from devlab.errors import ParseError

LOGS = "benchmark_logs"

# Current TFLite layout (no [start] column) with the GPU delegate's per-kernel rows, as
# StatsCalculator::ColumnString prints them: type and name hold spaces, the delegate node row is last.
GPU_KERNEL_TABLE = "\n".join([
    "Operator-wise Profiling Info for Regular Benchmark Runs:",
    "============================== Run Order ==============================",
    "\t             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]",
    "\t        convolution_2d 0\t    0.412\t    0.400\t 20.000%\t 20.000%\t     0.000\t        1\tDelegate/convolution_2d 0:0",
    "\tconvolution_2d 3 -> relu 4\t    0.210\t    0.200\t 10.000%\t 30.000%\t     0.000\t        1\tDelegate/convolution_2d 3 -> relu 4:1",
    "\t     winograd_4x4_to_36 5\t    0.050\t    0.050\t  2.500%\t 32.500%\t     0.000\t        1\tDelegate/winograd_4x4_to_36 5:2",
    "\t              softmax 30\t    0.350\t    0.350\t 17.500%\t 50.000%\t     0.000\t        1\tDelegate/softmax 30:3",
    "\t     TfLiteGpuDelegateV2\t    1.010\t    1.000\t 50.000%\t100.000%\t     0.000\t        1\t[logits, probs]:31",
    "",
    "Number of nodes executed: 5",
    "============================== Summary by node type ==============================",
    "\t             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]",
    "\t     TfLiteGpuDelegateV2\t        1\t     1.000\t    50.000%\t    50.000%\t     0.000\t        1",
    "\t        convolution_2d 0\t        1\t     0.400\t    20.000%\t    70.000%\t     0.000\t        1",
    "",
    "Timings (microseconds): count=20 first=2100 curr=2000 min=1900 max=2300 avg=2000.5 std=80",
    "Memory (bytes): count=0",
    "5 nodes observed",
    "",
])


def test_poco_x3_gpu_log_has_one_delegate_row_and_init_profile(real_fixtures):
    text = (real_fixtures / LOGS / "anilsathyan7_mnv3seg_pocox3_gpu_opprofile.txt").read_text()
    profile = parse_op_profile_tables(text)
    assert profile is not None and profile.source == "op-profile"
    (delegate,) = profile.delegate_rows()
    assert delegate.node_type == "TfLiteGpuDelegateV2"
    assert delegate.name == "[Identity]:77" and delegate.node_index == 77
    assert (delegate.start_ms, delegate.first_ms, delegate.avg_ms) == (0.0, 8.317, 8.671)
    assert delegate.percent == 100.0 and delegate.times_called == 1 and delegate.section == "run"
    init = [row for row in profile.rows if row.section == "init"]
    assert [(r.node_type, r.avg_ms, r.mem_kb) for r in init] == [
        ("ModifyGraphWithDelegate", 1450.744, 62364.0), ("AllocateTensors", 0.016, 0.0)]
    assert init[0].node_index is None  # `ModifyGraphWithDelegate/0` is an event, not a node
    assert profile.gpu_kernel_rows() == ()  # this 2020 build prints no per-kernel rows
    run = profile.run_timings()
    assert run is not None and (run.count, run.avg_us, run.std_us) == (110, 8671.49, 590)


def test_poco_x3_cpu_log_run_order_and_summary(real_fixtures):
    text = (real_fixtures / LOGS / "anilsathyan7_mnv3seg_pocox3_cpu_opprofile.txt").read_text()
    profile = parse_op_profile_tables(text)
    assert profile is not None
    run = profile.run_rows()
    assert len(run) == 77  # "Number of nodes executed: 77"; Top-by rows are not double counted
    assert [r.node_index for r in run] == list(range(77))
    assert (run[0].node_type, run[0].avg_ms, run[0].percent) == ("CONV_2D", 1.502, 8.78)
    assert (run[-1].name, run[-1].avg_ms, run[-1].cdf_percent) == ("[Identity]:76", 1.521, 100.0)
    summary = {s.node_type: s for s in profile.by_type if s.section == "run"}
    assert (summary["CONV_2D"].count, summary["CONV_2D"].avg_ms, summary["CONV_2D"].avg_percent) == (36, 8.695, 50.958)
    assert summary["PAD"].cdf_percent == 100.0
    # The capture repeats the by-type header line; the table still parses once.
    assert len([s for s in profile.by_type if s.section == "init"]) == 1


def test_nnapi_partial_delegation_names_with_commas(real_fixtures):
    text = (real_fixtures / LOGS / "lp6m_yolov5s_mi11_nnapi_qtigpu_opprofile.txt").read_text()
    profile = parse_op_profile_tables(text)
    assert profile is not None
    delegates = profile.delegate_rows()
    assert [r.node_index for r in delegates] == [231, 232, 233]
    assert delegates[0].name == "[model/tf.nn.silu_16/mul, model/tf.nn.silu_26/mul, model/tf.nn.silu_35/mul]:231"
    assert delegates[0].avg_ms == 79.01
    assert len(profile.run_rows()) == 11
    timing = profile.run_timings()
    assert timing is not None and (timing.count, timing.avg_us) == (50, 158715)


def test_summary_only_fragment(real_fixtures):
    text = (real_fixtures / LOGS / "anilsathyan7_munet_deconv_tf14_cpu_summary_only.txt").read_text()
    profile = parse_op_profile_tables(text)
    assert profile is not None and profile.rows == ()
    assert [s.node_type for s in profile.by_type][:2] == ["TRANSPOSE_CONV", "ADD"]
    assert profile.by_type[0].avg_percent == 79.275 and profile.by_type[0].count == 6
    timing = profile.run_timings()
    assert timing is not None and timing.avg_us == 164746


def test_gpu_kernel_rows_labels_and_node_ids():
    profile = parse_op_profile_tables(GPU_KERNEL_TABLE)
    assert profile is not None
    kernels = profile.gpu_kernel_rows()
    assert [k.kernel_label for k in kernels] == [
        "convolution_2d 0", "convolution_2d 3 -> relu 4", "winograd_4x4_to_36 5", "softmax 30"]
    assert [k.kernel_node_ids for k in kernels] == [(0,), (3, 4), (5,), (30,)]
    assert [k.kernel_index for k in kernels] == [0, 1, 2, 3]
    assert all(k.node_index is None for k in kernels)
    assert kernels[1].node_type == "convolution_2d 3 -> relu 4" and kernels[1].avg_ms == 0.2
    (delegate,) = profile.delegate_rows()
    assert delegate.name == "[logits, probs]:31" and delegate.node_index == 31 and not delegate.is_gpu_kernel


def test_logcat_turns_tabs_into_spaces():
    prefix = "03-14 10:00:00.123  4242  4242 I tflite  : "
    logcat = "\n".join(prefix + line.replace("\t", "  ") for line in GPU_KERNEL_TABLE.split("\n")) + "\n"
    assert parse_op_profile_tables(logcat) == parse_op_profile_tables(GPU_KERNEL_TABLE)


def test_xnnpack_delegate_rows_are_not_gpu_kernels():
    text = GPU_KERNEL_TABLE.replace("Delegate/softmax 30:3", "Delegate/Convolution (NHWC, F32) IGEMM:3")
    profile = parse_op_profile_tables(text)
    assert profile is not None
    row = next(r for r in profile.rows if r.kernel_index == 3)
    assert row.kernel_label == "Convolution (NHWC, F32) IGEMM" and not row.is_gpu_kernel


def test_csv_mode_with_multiple_subgraphs():
    csv = "\n".join([
        "Operator-wise Profiling Info for Regular Benchmark Runs:",
        "Primary graph profile:",
        "============================== Run Order ==============================",
        "node type, first, avg_ms, %, cdf%, mem KB, times called, name",
        "WHILE, 3.5, 3.25, 65%, 65%, 0, 1, [out]:4",
        "CONV_2D, 1.75e+00, 1.75, 35%, 100%, 0, 1, [a, b]:2",
        "============================== Summary by node type ==============================",
        "node type, count, avg_ms, avg %, cdf %, mem KB, times called",
        "WHILE, 1, 3.25, 65%, 65%, 0, 1",
        "Timings (microseconds): count=10 first=5100 curr=5000 min=4900 max=5200 avg=5000 std=90",
        "Subgraph (index: 1, name: body) profile:",
        "============================== Run Order ==============================",
        "node type, first, avg_ms, %, cdf%, mem KB, times called, name",
        "ADD, 0.02, 0.01, 100%, 100%, 0, 3, [x]:0",
        "Subgraph (index: 1) Timings (microseconds): count=10 curr=30",
        "",
    ])
    profile = parse_op_profile_csv(csv)
    assert [(r.node_type, r.subgraph, r.node_index) for r in profile.rows] == [
        ("WHILE", 0, 4), ("CONV_2D", 0, 2), ("ADD", 1, 0)]
    assert profile.rows[1].first_ms == 1.75 and profile.rows[1].name == "[a, b]:2"
    assert profile.rows[2].times_called == 3
    assert [(t.subgraph, t.stats.avg_us) for t in profile.timings] == [(0, 5000), (1, 30)]
    assert profile.run_timings() is not None and profile.run_timings().count == 10


def test_csv_garbage_raises_parse_error():
    with pytest.raises(ParseError):
        parse_op_profile_csv("PK\x03\x04 this is a zip, not a profile\n")
    assert parse_op_profile_tables("Loaded model x.tflite\n") is None


def test_nan_cells_never_become_numbers():
    text = GPU_KERNEL_TABLE.replace(" 20.000%\t 20.000%", "   -nan%\t   -nan%")
    profile = parse_op_profile_tables(text)
    assert profile is not None
    first = profile.rows[0]
    assert first.percent is None and first.cdf_percent is None and first.avg_ms == 0.4
