"""The C scanner (devlab/trace/_fastscan.c) against the upb path: the same summaries on generated and real
traces, and no crash on truncated or mutated bytes (only devlab's ParseError)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import TracePacket

from devlab.trace import fastscan
from devlab.trace.reader import TraceReader
from devlab.trace.analysis import analyze
from devlab.trace.writer import TraceWriter

pytestmark = pytest.mark.skipif(not fastscan.available(), reason="the C scanner is not built here (no compiler)")
MS = 1_000_000
REPO = Path(__file__).resolve().parents[1]


def _write_trace(path: Path, runs: int) -> None:
    """Every form the scanner reads and the ones it must hand back: ATrace B/E on several CPUs, counters and async
    slices, an unmatched end, sched switches, cpu/gpu frequency, thermal zones, interned and named GPU stages, compact sched, a
    GPU sequence with its own clock."""
    with open(path, "wb") as out:
        w = TraceWriter(out, bundle_events=16)
        w.process(100, "/system/bin/app", {100: "app", 101: "worker"})
        t = 1_000 * MS
        w.atrace_end(1, t - 10, 100, 101)       # an end with nothing open
        for run in range(runs):
            cpu = run % 3
            w.sched_switch(cpu, t, (0, f"swapper/{cpu}"), (100 + run % 2, "app" if run % 2 == 0 else "worker"))
            w.cpu_frequency(cpu, t + 5, 1_800_000 + run)
            w.gpu_frequency(t + 6, 585_000 if run % 5 else 490_000, gpu_id=run % 2)
            w.thermal_temperature(t + 7, f"zone-{run % 3}", run % 3, 40_000 + run * 7, 40_000 + run * 7 - 3)
            w.atrace_begin(cpu, t, 100, 100 + run % 2, "Invoke")
            w.atrace_begin((cpu + 1) % 3, t + 1_000, 100, 100 + run % 2, f"OP@{run % 4}/0")
            w.atrace_end((cpu + 1) % 3, t + 90_000 + run, 100, 100 + run % 2)
            w.atrace_counter(cpu, t + 2_000, 100, 100, "queue", run % 7)
            w.out.flush()
            for i in range(3):
                w.gpu_render_stage(t + i * 200_000, 150_000 + run * 10 + i, f"kernel {i}", submission_id=run)
            w.atrace_end(cpu, t + 3 * MS, 100, 100 + run % 2)
            if run % 10 == 0:
                named = TracePacket(timestamp=t + 5, trusted_packet_sequence_id=2)
                named.gpu_render_stage_event.name = "named stage"
                named.gpu_render_stage_event.duration = 7_000 + run
                w.write(named)
                compact = TracePacket(trusted_packet_sequence_id=1)
                compact.ftrace_events.cpu = 3
                sched = compact.ftrace_events.compact_sched
                sched.intern_table.extend(["swapper/3", "app"])
                sched.switch_timestamp.extend([t + 10, 500])
                sched.switch_next_pid.extend([100, 0])
                sched.switch_next_comm_index.extend([1, 0])
                sched.switch_prev_state.extend([0, 1])
                sched.switch_next_prio.extend([120, 120])
                w.write(compact)
            t += 4 * MS
        w.flush()


def _summary(path: Path, monkeypatch: pytest.MonkeyPatch, scanner: str) -> dict:
    monkeypatch.setenv("DEVLAB_TRACE_SCANNER", scanner)
    summary = analyze(path, trace_processor="").to_json()
    backend = summary.pop("backend")
    assert ("C scanner" in backend) == (scanner != "python")
    return summary


def _real_traces(real_fixtures: Path) -> list[Path]:
    traces = sorted(p for p in (real_fixtures / "traces").iterdir() if not p.name.endswith(".txt"))
    assert traces
    return traces


def test_generated_trace_same_summary_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "gen.perfetto-trace"
    _write_trace(path, 3000)   # > SAMPLE_CAP slices per name, so the thinned samples are compared too
    fast = _summary(path, monkeypatch, "c")
    slow = _summary(path, monkeypatch, "python")
    assert fast == slow
    assert {s["name"] for s in fast["gpu_render_stages"]} == {"kernel 0", "kernel 1", "kernel 2", "named stage"}
    assert fast["sched"]["switches"] == 3000 + 300 * 2
    zones = {c["name"]: c for c in fast["counters"] if c["name"].startswith("temp.")}
    assert set(zones) == {"temp.zone-0", "temp.zone-1", "temp.zone-2"}       # millidegrees read as °C
    assert zones["temp.zone-0"]["unit"] == "°C" and zones["temp.zone-0"]["min"] == 40.0
    assert any("end without begin" in e for e in fast["errors"])


def test_records_same_both_paths(tmp_path: Path) -> None:
    path = tmp_path / "gen.perfetto-trace"
    _write_trace(path, 200)
    fast = list(TraceReader(path, fast=True).records())
    slow = list(TraceReader(path, fast=False).records())
    assert len(fast) > 1000
    assert fast == slow


def test_benchmark_trace_same_summary_both_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from trace_reader_bench import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    path = tmp_path / "bench.perfetto-trace"
    generate(path, 2.0)
    assert _summary(path, monkeypatch, "c") == _summary(path, monkeypatch, "python")


def test_real_traces_same_summary_both_paths(real_fixtures: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for path in _real_traces(real_fixtures):
        assert _summary(path, monkeypatch, "c") == _summary(path, monkeypatch, "python"), path.name


_FUZZ = r"""
import random, sys, tempfile
from pathlib import Path
from devlab.errors import ParseError
from devlab.trace.analysis import analyze
rounds = int(sys.argv[1])
rng = random.Random(1234)
with tempfile.TemporaryDirectory() as tmp:
    for source in sys.argv[2:]:
        data = Path(source).read_bytes()
        for i in range(rounds):
            mutated = bytearray(data[:rng.randrange(1, len(data) + 1)] if i % 3 == 0 else data)
            for _ in range(rng.randrange(1, 8)):
                at = rng.randrange(len(mutated))
                mutated[at:at + rng.randrange(1, 4)] = rng.randbytes(rng.randrange(0, 4))
            path = Path(tmp) / "fuzz.perfetto-trace"
            path.write_bytes(bytes(mutated))
            try:
                analyze(path, trace_processor="")
            except ParseError:
                pass
print("survived")
"""


def test_mutated_traces_never_crash_the_c_path(tmp_path: Path, real_fixtures: Path) -> None:
    """In a child process, so a crash in C fails this test instead of ending the test run."""
    path = tmp_path / "gen.perfetto-trace"
    _write_trace(path, 40)
    # real traces with ftrace bundles and GPU stages (the scanner's forms), small enough for many rounds
    real = [real_fixtures / "traces" / name for name in ("msperf_androidGpu.pftrace",
                                                         "msperf_test_trace.perfetto-trace")]
    result = subprocess.run([sys.executable, "-c", _FUZZ, "60", str(path), *map(str, real)],
                            capture_output=True, text=True, timeout=240, cwd=REPO,
                            env={"PYTHONPATH": str(REPO), "DEVLAB_TRACE_SCANNER": "c"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "survived"


def test_scanner_fields_come_from_the_descriptors() -> None:
    numbers = fastscan._numbers()
    assert numbers is not None and len(numbers) == len(fastscan.FIELDS)
    assert numbers[0] == TracePacket.DESCRIPTOR.fields_by_name["ftrace_events"].number
