from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devlab.trace.analysis import analyze
from cli_helpers import devlab_script

REPO = Path(__file__).resolve().parents[1]


def _devlab(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("DEVLAB_TRACE_PROCESSOR", None)
    return subprocess.run([str(devlab_script()), "trace", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_trace_config_prints_a_valid_config(tmp_path: Path) -> None:
    offered = tmp_path / "query.txt"
    offered.write_text("DATA SOURCES REGISTERED:\nNAME   PRODUCER\nlinux.ftrace  1 x\ngpu.counters.mali  2 y\n")
    result = _devlab("config", "--duration-ms", "1234", "--offered", str(offered))
    assert result.returncode == 0, result.stderr
    assert "duration_ms: 1234" in result.stdout and 'name: "gpu.counters.mali"' in result.stdout
    assert "not offered by the device: linux.process_stats, gpu.renderstages" in result.stderr


def test_trace_analyze_json_matches_the_library(real_fixtures: Path) -> None:
    trace = real_fixtures / "traces" / "msperf_androidGpu.pftrace"
    result = _devlab("analyze", str(trace), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == json.loads(json.dumps(analyze(trace).to_json()))
    assert {"packets", "duration_ms", "processes", "threads", "slices", "counters", "gpu_render_stages",
            "errors"} <= set(data)
    missing = _devlab("analyze", str(trace) + ".nope")
    assert missing.returncode == 2 and "no trace at" in missing.stderr


def test_trace_open_prints_the_ui_link(real_fixtures: Path) -> None:
    trace = real_fixtures / "traces" / "msperf_androidGpu.pftrace"
    result = _devlab("open", str(trace), "--no-serve", "--port", "9123")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == \
        "https://ui.perfetto.dev/#!/?url=http://127.0.0.1:9123/msperf_androidGpu.pftrace"


def test_trace_processor_cross_check(real_fixtures: Path) -> None:
    binary = os.environ.get("DEVLAB_TRACE_PROCESSOR") or shutil.which("trace_processor_shell")
    if not binary:
        pytest.skip("no trace_processor_shell binary here (set DEVLAB_TRACE_PROCESSOR); nothing ships it")
    trace = real_fixtures / "traces" / "msperf_chrome.pftrace"
    ours, theirs = analyze(trace, trace_processor=""), analyze(trace, trace_processor=binary)
    assert theirs.backend == "trace_processor"
    ours_task, their_task = ours.slice("RunNormalPriorityTask"), theirs.slice("RunNormalPriorityTask")
    assert their_task.count == pytest.approx(ours_task.count, rel=0.01)
    assert their_task.total_ms == pytest.approx(ours_task.total_ms, rel=0.01)


def test_trace_analyze_refuses_empty_and_non_trace_files(tmp_path: Path) -> None:
    """Issue 10 item 5: exit 1 and one line that says what the file is, for an empty file, a text file (a log
    passed by mistake), random bytes, and a gzip of text; a real trace still reads (above)."""
    import gzip
    cases = {"empty.perfetto-trace": b"", "bench.log": b"INFO: STARTING!\nINFO: Graph: [m.tflite]\n",
             "noise.bin": bytes(range(200, 256)) * 4, "log.gz": gzip.compress(b"hello, not a trace\n")}
    expected = {"empty.perfetto-trace": "is empty", "bench.log": "is not a Perfetto trace (it is text: 'INFO: STARTING!')",
                "noise.bin": "is not a Perfetto trace (its first byte is 0xc8", "log.gz": "is not a Perfetto trace"}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = _devlab("analyze", str(path), "--json")
        assert result.returncode == 1, (name, result.stderr)
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, name
        assert result.stderr.startswith(f"error: {name} ") and expected[name] in result.stderr, result.stderr
