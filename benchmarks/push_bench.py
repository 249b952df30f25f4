"""Phone-path performance, measured side by side in one run (a benchmark that prints ratios, not a test).

1. devlab push vs `adb push` of the same 50 MB file (goal: devlab/adb throughput >= 0.8x). Each devlab push starts
   from a cold local digest (the file is touched), so it pays for hashing as a first push does.
2. A re-run with unchanged variants pushes 0 bytes.
3. A `devlab run` on the simulated phone spends at most 15 % beyond the benchmark time (the wall time of the
   simulated benchmark_model invocations, time scale 1.0).

Everything goes through a real adb server (adbutils' binary, a private port) and a simulated phone started as its own
process with `devlab sim start --foreground`, as a user would run it.

    PYTHONPATH=. .venv/bin/python benchmarks/push_bench.py [--reps 5] [--model PATH]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO.parent / "shared" / "fixtures" / "real" / "models" / "poco_x3" / "mnv3_seg_float.tflite"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listed(adb: list[str], serial: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subprocess.run([*adb, "connect", serial], capture_output=True, timeout=10)
        if f"{serial}\tdevice" in subprocess.run([*adb, "devices"], capture_output=True, text=True).stdout:
            return
        time.sleep(0.3)
    raise SystemExit(f"the adb server never listed {serial}")


def bench_push(adb: list[str], serial: str, device, work: Path, reps: int) -> None:
    blob = work / "blob-50MB.bin"
    blob.write_bytes(os.urandom(50 * 1024 * 1024))
    adb_times, devlab_times = [], []
    for rep in range(reps):
        started = time.perf_counter()
        done = subprocess.run([*adb, "-s", serial, "push", str(blob), f"/data/local/tmp/adb-{rep}.bin"],
                              capture_output=True, text=True, timeout=120)
        adb_times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise SystemExit(f"adb push failed: {done.stderr}")
        os.utime(blob)    # new mtime: devlab hashes the file again, as for a file it never saw
        started = time.perf_counter()
        result = device.push(blob, f"/data/local/tmp/devlab/bench/devlab-{rep}.bin")
        devlab_times.append(time.perf_counter() - started)
        assert result.bytes_sent == blob.stat().st_size
    cached = device.push(blob, f"/data/local/tmp/devlab/bench/devlab-{reps - 1}.bin")
    adb_s, devlab_s = statistics.median(adb_times), statistics.median(devlab_times)
    mb = blob.stat().st_size / 1e6
    print(f"push 50 MB, median of {reps}: adb push {adb_s:.3f} s ({mb / adb_s:.0f} MB/s), "
          f"devlab push {devlab_s:.3f} s ({mb / devlab_s:.0f} MB/s)")
    print(f"  ratio devlab/adb throughput: {adb_s / devlab_s:.2f}x (goal >= 0.80x)")
    print(f"  unchanged file pushed again: {cached.bytes_sent} bytes sent (cached={cached.cached})")


def bench_run(model: Path, serial: str, work: Path) -> None:
    from devlab.bench.phone_tool import PhoneBenchOptions
    from devlab.runner import RunRequest, run
    request = RunRequest(model=str(model), device=serial, variants="as-is,int8-dynamic", out_root=work / "traces",
                         build_root=work, phone=PhoneBenchOptions(num_runs=20, warmup_runs=2, min_secs=1.0))
    run(request)                           # first run: builds and pushes
    started = time.perf_counter()
    outcome = run(request)                 # the re-run: nothing changed
    total = time.perf_counter() - started
    sent = [v.extra.get("push_bytes_sent") for v in outcome.record.variants]
    bench = sum(sum(v.extra["benchmark_wall_s"].values()) for v in outcome.record.variants)
    print(f"re-run with unchanged variants: bytes pushed per variant {sent} (goal: all 0)")
    print(f"devlab run on the simulated phone: {total:.2f} s in all, {bench:.2f} s in benchmark_model "
          f"-> {100 * (total - bench) / bench:.1f} % beyond the benchmark time (goal <= 15 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    args = parser.parse_args()
    from devlab.devices.adb_server import bundled_adb
    work = Path(tempfile.mkdtemp(prefix="devlab-push-bench-"))
    adb_port, phone_port = free_port(), free_port()
    os.environ.update({"ANDROID_ADB_SERVER_PORT": str(adb_port), "DEVLAB_HOME": str(work / "home")})
    adb = [str(bundled_adb()), "-P", str(adb_port)]
    subprocess.run([*adb, "start-server"], check=True, capture_output=True, timeout=60)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    phone = subprocess.Popen([sys.executable, "-m", "devlab", "sim", "start", "--foreground", "--port", str(phone_port),
                              "--root", str(work / "phone"), "--time-scale", "1.0"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serial = f"127.0.0.1:{phone_port}"
    try:
        wait_listed(adb, serial)
        from devlab.devices.resolve import resolve_device
        bench_push(adb, serial, resolve_device(serial), work, args.reps)
        bench_run(args.model, serial, work)
    finally:
        phone.terminate()
        phone.wait(timeout=10)
        subprocess.run([*adb, "kill-server"], capture_output=True, timeout=30)


if __name__ == "__main__":
    main()
