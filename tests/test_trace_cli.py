from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devlab.sim.faults import HANG
from devlab.trace.analysis import analyze
from devlab.trace.record import TRACE_PROP
from cli_helpers import devlab_script, one_error_line, run_devlab
from sim_fixtures import adb_server, sim_phone  # noqa: F401  (fixtures)

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


ADD = "models/litert/add_10x10.tflite"
QUICK = ("--runs", "3", "--warmup", "1")


@pytest.mark.slow
def test_record_traces_a_variant_the_model_has_by_default(cli_env, sim_phone, tmp_path: Path,  # noqa: F811
                                                           real_fixtures: Path) -> None:
    """The README's `devlab trace record --device s23 --model M`: fp32 of a zoo model, as-is of a .tflite."""
    for model, variant in (("sd-block", "fp32"), (str(real_fixtures / ADD), "as-is")):
        result = run_devlab("trace", "record", "--device", "s23", "--model", model, *QUICK, "--json", cwd=tmp_path,
                            env=cli_env, timeout=600)
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        trace = Path(data["trace"])
        assert trace.name == f"{variant}.perfetto-trace" and trace.is_file()
        assert "atrace" in data["arrived"]          # TFLite's own Invoke slices, one per benchmark run at least
        assert max(s["count"] for s in data["summary"]["slices"] if s["name"].startswith("Invoke")) >= 3
    wrong = run_devlab("trace", "record", "--device", "s23", "--model", str(real_fixtures / ADD), "--variant", "fp16",
                       cwd=tmp_path, env=cli_env, timeout=120)
    assert wrong.exit_code == 2 and "fp16" in one_error_line(wrong.stderr)


@pytest.mark.slow
@pytest.mark.timeout(180)     # pytest-timeout: the hang under test may never hang the suite
def test_record_timeout_ends_a_hung_benchmark(cli_env, sim_phone, tmp_path: Path,  # noqa: F811
                                              real_fixtures: Path) -> None:
    device = sim_phone.server.device

    def hang_when_tracing(key: str, value: str) -> None:
        # the traced run, not the `--help` probe before it: blocks until devlab closes its stream
        if key == TRACE_PROP and value == "1":
            device.setprop(HANG, "benchmark_model")

    device.on_prop_change.append(hang_when_tracing)
    try:
        started = time.monotonic()
        result = run_devlab("trace", "record", "--device", "s23", "--model", str(real_fixtures / ADD), *QUICK,
                            "--timeout", "3", cwd=tmp_path, env=cli_env, timeout=120)
        took = time.monotonic() - started
    finally:
        device.on_prop_change.remove(hang_when_tracing)
        device.setprop(HANG, "")
    assert result.exit_code == 1, result.stderr
    line = one_error_line(result.stderr)
    assert "shell benchmark_model: " in line and "limit 3 s" in line
    assert took < 60, f"a 3 s timeout held the command for {took:.0f} s (the default is 900 s)"
    assert sim_phone.shell("getprop", TRACE_PROP).stdout.strip() in ("", "0")     # restored after the timeout
    bad = run_devlab("trace", "record", "--device", "s23", "--model", str(real_fixtures / ADD), "--timeout", "0",
                     cwd=tmp_path, env=cli_env, timeout=60)
    assert bad.exit_code == 2 and "--timeout must be > 0" in one_error_line(bad.stderr)
