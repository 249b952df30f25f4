"""Two devlab processes on one phone: the device lease (devlab/devices/leases.py, taken by `devlab run` too) holds.
A second run with --lease-timeout 0 fails at once with a clear line; one with a longer timeout waits; the
benchmark runs of the two never overlap on the simulated phone (its timeline has one Invoke span per benchmark
process, stamped with the phone's clock)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from cli_helpers import REPO, devlab_script
from devlab.devices.leases import lease_path
from devlab.trace.atrace import is_main_invoke
from sim_fixtures import start_phone, stop_phone

pytestmark = pytest.mark.timeout(180)

MODEL = "models/poco_x3/mnv3_seg_float.tflite"


def _spawn(args: list[str], env: dict[str, str], cwd) -> subprocess.Popen[str]:
    return subprocess.Popen([str(devlab_script()), *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_runs_on_one_phone_never_interleave(adb_server, tmp_path, real_fixtures):
    phone = start_phone(adb_server, tmp_path / "root")
    # every clean benchmark_model run leaves its Invoke slices on the phone's timeline (op profiling replaces ATrace)
    phone.server.device.setprop("debug.tflite.trace", "1")
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": str(REPO), "ANDROID_ADB_SERVER_PORT": str(adb_server.port),
           "DEVLAB_HOME": str(home), "DEVLAB_BENCHMARK_MODEL": ""}
    base = ["run", "--device", phone.serial, "--model", str(real_fixtures / MODEL), "--variants",
            "as-is,int8-dynamic", "--runs", "3", "--warmup", "1", "--min-secs", "0.05", "--no-trace", "--json"]
    lock = lease_path(phone.serial, home / "leases")
    try:
        first = _spawn([*base, "--lease-timeout", "120"], env, tmp_path)
        deadline = time.monotonic() + 60
        while not (lock.is_file() and lock.read_text().startswith("pid ")) and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()[1]
            time.sleep(0.05)
        assert lock.read_text().startswith(f"pid {first.pid} ")

        refused = subprocess.run([str(devlab_script()), *base, "--lease-timeout", "0"], cwd=tmp_path,
                                 env=env, text=True, capture_output=True, timeout=60)
        waiting = _spawn([*base, "--lease-timeout", "120"], env, tmp_path)
        outputs = [p.communicate(timeout=150) for p in (first, waiting)]
    finally:
        stop_phone(phone)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"{phone.serial}: lease: is leased by pid {first.pid}" in " ".join(refused.stderr.split())
    assert "--lease-timeout" in refused.stderr
    assert first.returncode == 0 and waiting.returncode == 0, [err for _, err in outputs]
    for stdout, _ in outputs:
        assert [v["status"] for v in json.loads(stdout)["variants"]] == ["ok", "ok"]

    spans: dict[int, list[int]] = {}
    for event in phone.server.device.timeline.between(0, time.monotonic_ns()):
        if event.kind == "slice" and is_main_invoke(event.name):   # Invoke@m1/0, as TFLite names it
            span = spans.setdefault(event.pid, [event.ts_ns, event.ts_ns + event.dur_ns])
            span[0], span[1] = min(span[0], event.ts_ns), max(span[1], event.ts_ns + event.dur_ns)
    ordered = sorted(spans.values())
    # 2 processes x 2 variants x (the clean run + the GPU program cache's cold and warm runs)
    assert len(ordered) == 2 * 2 * 3
    for (_, end), (start, _) in zip(ordered, ordered[1:]):
        assert end <= start, "two benchmark runs overlapped on one phone"
