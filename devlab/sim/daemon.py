"""Running simulated phones as processes: state files under `$DEVLAB_HOME/sim` (default ~/.devlab/sim).

`<port>.json` (pid, host, port, profile, root, serial) is written by the phone process once it listens;
`<port>.faults` is its fault control file (devlab/sim/faults.py); `<port>.log` gets its stdout/stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devlab.errors import DeviceError, UsageError
from devlab.fsutil import process_alive
from devlab.sim.profiles import get_profile
from devlab.sim.server import SimServer


@dataclass(frozen=True)
class SimRecord:
    pid: int
    host: str
    port: int
    profile: str
    root: str
    serial: str


def state_dir() -> Path:
    base = Path(os.environ.get("DEVLAB_HOME") or Path.home() / ".devlab")
    folder = base / "sim"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:  # reap it first when it is our own child (a zombie still answers kill 0)
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    return process_alive(pid)


def running() -> list[SimRecord]:
    """Every recorded phone whose process still lives (stale records are removed)."""
    records = []
    for path in sorted(state_dir().glob("*.json")):
        try:
            record = SimRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if _alive(record.pid):
            records.append(record)
        else:
            path.unlink(missing_ok=True)
    return records


def run_foreground(profile: str, port: int, host: str, root: str | None, fault_props: dict[str, str],
                   time_scale: float | None, benchmark_tool: str = "litert") -> None:
    """Serve until SIGTERM/SIGINT; the record exists exactly while the phone listens."""
    folder = state_dir()
    server = SimServer(get_profile(profile, benchmark_tool), port, host=host, root=root, time_scale=time_scale,
                       fault_props=fault_props, control_file=folder / f"{port}.faults").start()
    record = SimRecord(pid=os.getpid(), host=host, port=server.port, profile=profile,
                       root=str(server.device.fs.root), serial=server.serial)
    record_path = folder / f"{server.port}.json"
    record_path.write_text(json.dumps(asdict(record)))
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    try:
        print(server.serial, flush=True)
        server.wait()
    except KeyboardInterrupt:
        server.stop()
    finally:
        record_path.unlink(missing_ok=True)


def start_background(profile: str, port: int, host: str, root: str | None, faults: list[str],
                     time_scale: float | None, timeout: float = 15.0, benchmark_tool: str = "litert") -> SimRecord:
    get_profile(profile, benchmark_tool)  # fail fast on a bad name, before forking
    if any(r.port == port for r in running()):
        raise UsageError(f"a simulated phone already runs on port {port}", "devlab sim stop --port " + str(port))
    folder = state_dir()
    argv = [sys.executable, "-m", "devlab.sim", "--profile", profile,
            "--port", str(port), "--host", host, "--benchmark-tool", benchmark_tool]
    if root:
        argv += ["--root", root]
    if time_scale is not None:
        argv += ["--time-scale", str(time_scale)]
    for fault in faults:
        argv += ["--fault", fault]
    log = open(folder / f"{port}.log", "wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = [r for r in running() if r.port == port and r.pid == process.pid]
        if match:
            return match[0]
        if process.poll() is not None:
            tail = (folder / f"{port}.log").read_text(errors="replace").strip().splitlines()[-1:]
            raise DeviceError(f"the simulated phone exited at start: {' '.join(tail) or 'no output'}",
                              f"see {folder / f'{port}.log'}")
        time.sleep(0.05)
    process.terminate()
    raise DeviceError(f"the simulated phone did not start listening on {host}:{port} in {timeout:.0f}s",
                      f"see {folder / f'{port}.log'}")


def stop(port: int | None, timeout: float = 10.0) -> list[SimRecord]:
    records = [r for r in running() if port is None or r.port == port]
    if not records:
        raise UsageError("no simulated phone is running" + (f" on port {port}" if port else ""),
                         "devlab sim list shows the running ones")
    for record in records:
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for record in records:
        while _alive(record.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(record.pid):
            os.kill(record.pid, signal.SIGKILL)
        (state_dir() / f"{record.port}.json").unlink(missing_ok=True)
    return records


def write_faults(port: int, assignments: list[str]) -> Path:
    from devlab.sim import faults
    props = {}
    path = state_dir() / f"{port}.faults"
    if path.exists():
        props.update(faults.read_control_file(path.read_text()))
    for text in assignments:
        key, value = faults.parse_assignment(text)
        props[key] = value
    path.write_text("".join(f"{k.removeprefix(faults.PREFIX)}={v}\n" for k, v in props.items() if v))
    return path
