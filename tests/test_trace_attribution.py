from __future__ import annotations

from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket

from devlab.bench.op_profile import OpProfile, OpProfileRow, ProfileTimings, parse_op_profile_tables
from devlab.bench.stats_line import StatsLine
from devlab.build.gpu_compat import plan_gpu_delegation
from devlab.build.tflite_graph import read_tflite
from devlab.errors import UsageError
from devlab.trace.attribution import COPY_SYNC, UNATTRIBUTED, attribute
from devlab.trace.analysis import analyze
from devlab.trace.writer import TraceWriter

MS = 1_000_000


def _row(node_type: str, name: str, avg_ms: float, node_index: int | None = None, label: str | None = None,
         ids: tuple[int, ...] = ()) -> OpProfileRow:
    return OpProfileRow(section="run", node_type=node_type, name=name, node_index=node_index, first_ms=avg_ms,
                        avg_ms=avg_ms, percent=None, cdf_percent=None, mem_kb=0.0, times_called=1, subgraph=0,
                        is_gpu_kernel=label is not None, kernel_label=label, kernel_index=None,
                        kernel_node_ids=ids)


@pytest.fixture(scope="module")
def conformer(real_fixtures: Path):
    graph = read_tflite(real_fixtures / "models" / "litert" / "torchaudio_conformer.tflite")
    plan = plan_gpu_delegation(graph)
    # the predicted partition starts at node 37 and skips node 42 (RESHAPE): positions != node indices
    assert plan.delegated[:6] == (37, 38, 39, 40, 41, 43)
    return graph, plan


def test_hand_built_op_profile_table(conformer) -> None:
    graph, plan = conformer
    profile = OpProfile(
        rows=(_row("RESHAPE", "[x]:42", 1.0, node_index=42),
              _row("TfLiteGpuDelegateV2", "[y]:138", 6.0, node_index=138),
              _row("convolution_2d", "Delegate/convolution_2d 0 -> relu 1:0", 2.0,
                   label="convolution_2d 0 -> relu 1", ids=(0, 1)),
              _row("mul", "Delegate/mul 5:1", 3.0, label="mul 5", ids=(5,))),
        by_type=(),
        timings=(ProfileTimings("run", None, StatsLine(count=10, avg_us=7500.0)),))
    table = attribute(5.0, "measured", profile=profile, graph=graph, plan=plan)
    rows = {row.kernel: row for row in table.rows}
    # scale = clean 5.0 / profiled 7.5
    assert table.scale == pytest.approx(2 / 3) and table.profiled_ms == pytest.approx(7.5)
    conv = rows["convolution_2d 0 -> relu 1"]
    assert conv.ops == ((37, "SLICE"), (38, "SLICE")) and conv.unit == "GPU"
    assert conv.ms_per_inference == pytest.approx(4 / 3) and conv.share == pytest.approx(2 / 7.5)
    assert rows["mul 5"].ops == ((43, "MUL"),) and rows["mul 5"].ms_per_inference == pytest.approx(2.0)
    assert rows[COPY_SYNC].ms_per_inference == pytest.approx(2 / 3)        # 6 - (2 + 3) profiled
    assert rows["RESHAPE@42"].unit == "CPU" and rows["RESHAPE@42"].ops == ((42, "RESHAPE"),)
    assert rows["RESHAPE@42"].ms_per_inference == pytest.approx(2 / 3)
    assert rows[UNATTRIBUTED].ms_per_inference == pytest.approx(0.5 * 2 / 3)  # 7.5 - (6 + 1)
    assert table.total_ms() == pytest.approx(5.0)
    assert {row.source for row in table.rows} == {"estimated"} and table.basis == "op-profile"
    assert table.top_kernels[:2] == ("mul 5", "convolution_2d 0 -> relu 1")
    assert table.gpu_frequency is None


def test_kernel_times_above_delegate_wall_time_are_fitted(conformer) -> None:
    graph, plan = conformer
    profile = OpProfile(rows=(_row("TfLiteGpuDelegateV2", "[y]:138", 4.0, node_index=138),
                              _row("mul", "Delegate/mul 5:0", 6.0, label="mul 5", ids=(5,)),
                              _row("add", "Delegate/add 99999:1", 2.0, label="add 99999", ids=(99999,))),
                        by_type=())
    table = attribute(2.0, "simulated", profile=profile, graph=graph, plan=plan)
    rows = {row.kernel: row for row in table.rows}
    assert rows["mul 5"].ms_per_inference == pytest.approx(1.5) and rows[COPY_SYNC].ms_per_inference == 0
    assert rows["add 99999"].ops == ()
    assert any("outside the delegated partition" in n for n in table.notes)
    assert any("exceed the delegate's wall time" in n for n in table.notes)
    assert table.total_ms() == pytest.approx(2.0)


def test_trace_basis_with_gpu_frequency(tmp_path: Path, conformer) -> None:
    graph, plan = conformer
    path = tmp_path / "run.perfetto-trace"
    with open(path, "wb") as out:
        w = TraceWriter(out)
        for i in range(4):
            base = (100 + 20 * i) * MS
            w.gpu_frequency(base, [800_000, 800_000, 500_000, 500_000][i])
            w.atrace_begin(0, base, 10, 11, "Invoke")
            w.atrace_begin(0, base, 10, 11, "RESHAPE@42/0")
            w.atrace_end(0, base + 2 * MS, 10, 11)
            w.atrace_begin(0, base + 2 * MS, 10, 11, "TfLiteGpuDelegateV2@138/0")
            w.atrace_end(0, base + 10 * MS, 10, 11)
            w.atrace_end(0, base + 12 * MS, 10, 11)
            w.gpu_render_stage(base + 3 * MS, (3 + i) * MS, "mul 5")
        w.flush()
    table = attribute(6.0, "simulated", trace=analyze(path), graph=graph, plan=plan)
    rows = {row.kernel: row for row in table.rows}
    # profiled inference = Invoke mean 12 ms; scale 0.5
    assert table.basis == "trace" and table.scale == pytest.approx(0.5)
    mul = rows["mul 5"]
    assert mul.ms_per_inference == pytest.approx(4.5 * 0.5) and mul.calls_per_inference == 1
    assert mul.p50_ms == pytest.approx(4.5 * 0.5) and mul.ops == ((43, "MUL"),)
    assert rows[COPY_SYNC].ms_per_inference == pytest.approx((8 - 4.5) * 0.5)
    assert rows["RESHAPE@42"].ms_per_inference == pytest.approx(1.0)
    assert rows[UNATTRIBUTED].ms_per_inference == pytest.approx(1.0)       # 12 - 2 - 8 profiled
    assert table.total_ms() == pytest.approx(6.0)
    freq = table.gpu_frequency
    assert (freq.min_khz, freq.max_khz, freq.samples, freq.throttled) == (500_000, 800_000, 4, True)


def test_trace_names_as_tflite_atrace_writes_them(tmp_path: Path, conformer) -> None:
    """TFLite's ATrace profiler names EVERY event `<tag>@<m1>/<m2>` (tensorflow/lite/profiling/atrace_profiler.cc):
    the main graph's Invoke is `Invoke@0/0`, and the runtime's own events (AllocateTensors, the delegate set-up)
    carry the suffix too. None of them is an op; a subgraph's Invoke (`Invoke@0/1`) is not an inference."""
    graph, plan = conformer
    path = tmp_path / "tflite-names.perfetto-trace"
    with open(path, "wb") as out:
        w = TraceWriter(out)
        w.atrace_begin(0, 10 * MS, 10, 11, "ModifyGraphWithDelegate@0/0")
        w.atrace_end(0, 60 * MS, 10, 11)
        w.atrace_begin(0, 60 * MS, 10, 11, "AllocateTensors@0/0")
        w.atrace_end(0, 70 * MS, 10, 11)
        for i in range(3):
            base = (100 + 20 * i) * MS
            w.atrace_begin(0, base, 10, 11, "Invoke@0/0")
            w.atrace_begin(0, base, 10, 11, "RESHAPE@42/0")
            w.atrace_end(0, base + 2 * MS, 10, 11)
            w.atrace_begin(0, base + 2 * MS, 10, 11, "TfLiteGpuDelegateV2@138/0")
            w.atrace_begin(0, base + 3 * MS, 10, 11, "Invoke@0/1")        # a control-flow subgraph inside
            w.atrace_end(0, base + 4 * MS, 10, 11)
            w.atrace_end(0, base + 10 * MS, 10, 11)
            w.atrace_end(0, base + 12 * MS, 10, 11)
        w.flush()
    table = attribute(6.0, "simulated", trace=analyze(path), graph=graph, plan=plan)
    rows = {row.kernel: row for row in table.rows}
    assert table.basis == "trace" and table.profiled_ms == pytest.approx(12.0) and table.scale == pytest.approx(0.5)
    assert {r.kernel for r in table.rows if r.kind == "cpu_op"} == {"RESHAPE@42"}
    assert rows["RESHAPE@42"].ms_per_inference == pytest.approx(1.0) and rows["RESHAPE@42"].calls_per_inference == 1
    assert rows["TfLiteGpuDelegateV2"].ms_per_inference == pytest.approx(4.0)
    assert rows[UNATTRIBUTED].ms_per_inference == pytest.approx(1.0)
    assert table.total_ms() == pytest.approx(6.0)


def test_litert_delegate_slices(tmp_path: Path, conformer) -> None:
    """LiteRT's GPU accelerator names its partition `LITERT_CL` (ml_drift_delegate/delegate/delegate_opencl.cc) and
    XNNPACK takes what is left on the CPU (`TfLiteXNNPackDelegate`): the first is the GPU delegate row, the second a
    CPU row, and neither is a model node (delegate kernel nodes are added after the model's own)."""
    graph, plan = conformer
    path = tmp_path / "litert.perfetto-trace"
    with open(path, "wb") as out:
        w = TraceWriter(out)
        for i in range(2):
            base = (100 + 20 * i) * MS
            w.atrace_begin(0, base, 10, 11, "Invoke@0/0")
            w.atrace_begin(0, base, 10, 11, "TfLiteXNNPackDelegate@139/0")
            w.atrace_end(0, base + 2 * MS, 10, 11)
            w.atrace_begin(0, base + 2 * MS, 10, 11, "LITERT_CL@138/0")
            w.atrace_end(0, base + 10 * MS, 10, 11)
            w.atrace_end(0, base + 10 * MS, 10, 11)
        w.flush()
    table = attribute(10.0, "simulated", trace=analyze(path), graph=graph, plan=plan)
    rows = {row.kernel: row for row in table.rows}
    assert rows["LITERT_CL"].unit == "GPU" and rows["LITERT_CL"].kind == "gpu_delegate"
    assert rows["LITERT_CL"].ms_per_inference == pytest.approx(8.0)
    xnnpack = rows["TfLiteXNNPackDelegate@139"]
    assert xnnpack.unit == "CPU" and xnnpack.ops == () and xnnpack.ms_per_inference == pytest.approx(2.0)


def test_an_incomplete_trace_says_so_in_the_table(tmp_path: Path, conformer) -> None:
    """trace_stats reporting overwritten chunks (protos/perfetto/common/trace_stats.proto: "loss of data") makes
    the trace incomplete; the table's inputs and notes say so instead of passing its shares off as whole."""
    graph, plan = conformer
    path = tmp_path / "wrapped.perfetto-trace"
    with open(path, "wb") as out:
        w = TraceWriter(out)
        w.atrace_begin(0, 100 * MS, 10, 11, "Invoke@0/0")
        w.atrace_begin(0, 100 * MS, 10, 11, "RESHAPE@42/0")
        w.atrace_end(0, 104 * MS, 10, 11)
        w.atrace_end(0, 110 * MS, 10, 11)
        w.flush()
        stats = TracePacket(trusted_packet_sequence_id=1)
        stats.trace_stats.buffer_stats.add(buffer_size=8192, bytes_written=40960, chunks_overwritten=8)
        w.write(stats)
    summary = analyze(path)
    assert summary.status == "incomplete" and "8 chunks overwritten" in summary.lost_data[0]
    table = attribute(5.0, "simulated", trace=summary, graph=graph, plan=plan)
    assert table.inputs == ("clean run", "trace (incomplete)", "model graph")
    assert any(note.startswith("the trace is incomplete: buffer 0 of 8 KB: 8 chunks overwritten")
               for note in table.notes), table.notes


def test_nothing_to_attribute() -> None:
    with pytest.raises(UsageError):
        attribute(5.0, "measured")


def _log(real_fixtures: Path, name: str) -> OpProfile:
    text = (real_fixtures / "benchmark_logs" / f"anilsathyan7_mnv3seg_pocox3_{name}_opprofile.txt").read_text()
    profile = parse_op_profile_tables(text)
    assert profile is not None
    return profile


def test_real_poco_x3_gpu_log(real_fixtures: Path) -> None:
    graph = read_tflite(real_fixtures / "models" / "poco_x3" / "mnv3_seg_float.tflite")
    plan = plan_gpu_delegation(graph)
    # the log's clean number is its Inference (avg) 8680.33 us (that run was also the op-profiling run)
    table = attribute(8.68033, "measured", profile=_log(real_fixtures, "gpu"), graph=graph, plan=plan)
    delegate = table.rows[0]
    assert delegate.kind == "gpu_delegate" and delegate.kernel == "TfLiteGpuDelegateV2"
    assert len(delegate.ops) == 77 and delegate.ops[0] == (0, "CONV_2D")
    assert delegate.share == pytest.approx(8.671 / 8.67149)
    assert table.total_ms() == pytest.approx(8.68033)
    assert any("no per-kernel GPU rows" in n for n in table.notes)


def test_real_poco_x3_cpu_log(real_fixtures: Path) -> None:
    graph = read_tflite(real_fixtures / "models" / "poco_x3" / "mnv3_seg_float.tflite")
    table = attribute(17.138, "measured", profile=_log(real_fixtures, "cpu"), graph=graph)
    cpu_rows = [row for row in table.rows if row.kind == "cpu_op"]
    assert len(cpu_rows) == 77
    # every row's op type is the model's op at that node index
    assert all(row.ops[0][1] == graph.ops[row.ops[0][0]].op for row in cpu_rows)
    assert table.top_kernels[0] == "RESIZE_BILINEAR@75"
    # the Timings line says 17.1015 ms per run; the rounded rows add up to 17.102: the larger wins, nothing is
    # left unattributed, and no row goes negative
    row_sum = sum(r.avg_ms for r in _log(real_fixtures, "cpu").run_rows())
    assert row_sum == pytest.approx(17.102) and table.profiled_ms == pytest.approx(row_sum)
    assert table.total_ms() == pytest.approx(17.138)
    assert table.rows[-1].kernel == UNATTRIBUTED and table.rows[-1].ms_per_inference == 0
    assert all(row.ms_per_inference >= 0 for row in table.rows)
