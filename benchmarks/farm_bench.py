"""Farm scaling: the same farm run over 8 simulated phones vs 1, wall time ratio (goal <= 1.5x).

Real parts: the adb server from the adbutils wheel, simulated phones speaking adb, devlab's farm. Run:
    PYTHONPATH=. .venv/bin/python benchmarks/farm_bench.py [--phones 8] [--repeats 3] [--time-scale 1.0]
The simulated phones run inside this process: at a tiny --time-scale the run measures the host's CPU (adb
protocol, parsing, the simulator itself), not waiting on phones; a phone-like scale makes device time dominate.
Prints the wall times (best of the repeats) and the ratio; exits 1 when the ratio misses the goal.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from sim_fixtures import ADB_BINARY, AdbServer, SimPhone, free_port, stop_phone  # noqa: E402

from devlab.sim.profiles import get_profile  # noqa: E402
from devlab.sim.server import SimServer  # noqa: E402

from devlab.bench.phone_tool import PhoneBenchOptions  # noqa: E402
from devlab.farm.farm import FarmRequest, run_farm  # noqa: E402
from devlab.progress import NoProgress  # noqa: E402
from devlab.runner import RunRequest, build_for_request  # noqa: E402

GOAL = 1.5


def farm_seconds(phones: list, root: Path, manifest) -> float:
    request = FarmRequest(devices=tuple(p.serial for p in phones), model="sd-block", variants="fp32,fp16",
                          out_root=root, bench=PhoneBenchOptions(accelerators=("gpu", "cpu"), num_runs=20,
                                                                 min_secs=0.2))
    started = time.perf_counter()
    outcome = run_farm(request, manifest)
    elapsed = time.perf_counter() - started
    if not outcome.ok:
        raise SystemExit(f"farm failed: {[d.error for d in outcome.devices if d.error]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phones", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="simulated seconds -> real seconds; 1.0 = the phone's own time (the default: a farm "
                             "waits on phones); small values make it measure this machine's CPU instead, which "
                             "here also runs all eight simulated phones")
    args = parser.parse_args()
    adb = AdbServer(port=free_port(), binary=ADB_BINARY)
    assert adb.run("start-server", timeout=60).returncode == 0
    tmp = Path(tempfile.mkdtemp(prefix="farm-bench-"))
    os.environ["ANDROID_ADB_SERVER_PORT"] = str(adb.port)
    os.environ["DEVLAB_HOME"] = str(tmp / "home")
    phones = []
    for i in range(args.phones):
        server = SimServer(get_profile("s23" if i % 2 else "pixel8"), free_port(), root=tmp / f"phone{i}",
                           time_scale=args.time_scale).start()
        phones.append(SimPhone(server=server, adb=adb))
        phones[-1].connect()
    try:
        _, manifest = build_for_request(RunRequest(model="sd-block", variants="fp32,fp16", build_root=REPO),
                                        NoProgress())
        one = min(farm_seconds(phones[:1], tmp / f"one{r}", manifest) for r in range(args.repeats))
        many = min(farm_seconds(phones, tmp / f"many{r}", manifest) for r in range(args.repeats))
    finally:
        for phone in phones:
            stop_phone(phone)
        adb.run("kill-server")
    ratio = many / one
    print(f"farm over 1 phone:  {one:.2f} s (best of {args.repeats})")
    print(f"farm over {args.phones} phones: {many:.2f} s (best of {args.repeats})")
    print(f"ratio {args.phones}:1 = {ratio:.2f}x (goal <= {GOAL}x) on {os.cpu_count()} CPU cores, "
          f"sim time scale {args.time_scale}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
