"""The mutable state of one simulated phone: props, filesystem, background jobs, timeline, fault counters."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from devlab.sim.fs import FsSandbox
from devlab.sim.profiles import Profile
from devlab.sim.timeline import Timeline

# The device-side process ids handed to jobs; phones start user pids in the thousands.
_FIRST_PID = 4000


@dataclass
class Job:
    pid: int
    name: str
    # the SELinux domain it runs in: what the shell user may do to it depends on it (commands/basic.py `kill`)
    domain: str = "shell"
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None
    session: int = 0             # the pid of the adb shell (sh) whose session it belongs to; 0 for none
    ignores_hup: bool = False    # SIGHUP does not end it (a hung process, one that ignores the signal)

    def hangup(self) -> None:
        """SIGHUP: its default action ends the process, unless it ignores the signal."""
        if not self.ignores_hup:
            self.stop.set()


class DeviceState:
    def __init__(self, profile: Profile, fs: FsSandbox, time_scale: float = 1.0) -> None:
        self.profile = profile
        self.fs = fs
        fs.all_cpus = (1 << (profile.cost.max_cpu_threads * 2)) - 1   # the CPUs /proc/cpuinfo lists (setup.py)
        self.time_scale = time_scale
        self.boot_ns = time.monotonic_ns()     # the simulator's wall clock when this phone "booted"
        self.timeline = Timeline()
        self._props = dict(profile.props)
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._next_pid = _FIRST_PID
        self.on_prop_change: list[Callable[[str, str], None]] = []
        # `settings get/put <namespace> <key>` (Settings.Global / System / Secure), as a fresh phone has them
        # (system: SettingsProvider's res/values/defaults.xml def_screen_brightness 102, automatic mode false)
        self.settings: dict[str, dict[str, str]] = {"global": {"stay_on_while_plugged_in": "0", "low_power": "0"},
                                                    "system": {"screen_brightness": "102",
                                                               "screen_brightness_mode": "0"},
                                                    "secure": {}}

    def trace_clock_ns(self, wall_ns: int) -> int:
        """The phone's trace clock (BOOTTIME: nanoseconds since boot) at the simulator's wall time `wall_ns`.
        The phone lives in simulated time: a benchmark sleeps its simulated time times the time scale, so wall
        nanoseconds since boot divided by the scale are the phone's. Every timestamp its perfetto writes goes
        through here, so a trace's slices last what the benchmark's log says they took."""
        return int((wall_ns - self.boot_ns) / (self.time_scale or 1.0))

    # --- system properties -------------------------------------------------------------------------------------
    def getprop(self, key: str, default: str = "") -> str:
        with self._lock:
            return self._props.get(key, default)

    def setprop(self, key: str, value: str) -> None:
        with self._lock:
            if value == "":
                self._props.pop(key, None)
            else:
                self._props[key] = value
        for callback in list(self.on_prop_change):
            callback(key, value)

    def props(self) -> dict[str, str]:
        with self._lock:
            return dict(self._props)

    # --- pids and background jobs ------------------------------------------------------------------------------
    def new_pid(self) -> int:
        with self._lock:
            self._next_pid += 1
            return self._next_pid

    def spawn_job(self, name: str, target: Callable[[threading.Event], int], domain: str = "shell") -> Job:
        """Run `target(stop_event)` in a thread; `kill <pid>` sets stop_event so the job can finish cleanly.
        /proc/<pid> exists exactly while it runs, as on a phone (what a shell-user script can wait on)."""
        job = Job(pid=self.new_pid(), name=name, domain=domain)

        def run() -> None:
            try:
                job.exit_code = target(job.stop)
            except Exception:  # a crashing job must not take the phone down; it reads as a failed process
                job.exit_code = 1
            finally:
                with self._lock:
                    self._jobs.pop(job.pid, None)
                self.fs.remove_process(job.pid)
                job.done.set()

        with self._lock:
            self._jobs[job.pid] = job
        self.fs.add_process(job.pid, name, domain)
        threading.Thread(target=run, name=f"sim-job-{job.pid}-{name}", daemon=True).start()
        return job

    def job(self, pid: int) -> Job | None:
        with self._lock:
            return self._jobs.get(pid)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def start_process(self, name: str, *, pid: int | None = None, stop: threading.Event | None = None,
                      session: int = 0, parent: int | None = None) -> Job:
        """A process that runs on the caller's thread (an adb shell, a command it runs): `kill <pid>` sets `stop`,
        and it is listed (and has /proc/<pid>) until end_process. A child inherits its parent's CPU affinity."""
        job = Job(pid=pid or self.new_pid(), name=name, stop=stop or threading.Event(), session=session)
        with self._lock:
            self._jobs[job.pid] = job
        self.fs.add_process(job.pid, name, job.domain, cpus=None if parent is None else self.fs.affinity(parent))
        return job

    def rename_process(self, job: Job, name: str) -> None:
        """`exec`: the process keeps its pid (and its CPU affinity) and becomes `name`."""
        job.name = name
        self.fs.add_process(job.pid, name, job.domain, cpus=self.fs.affinity(job.pid))

    def end_process(self, job: Job, exit_code: int) -> None:
        job.exit_code = exit_code
        with self._lock:
            if self._jobs.get(job.pid) is job:
                del self._jobs[job.pid]
        self.fs.remove_process(job.pid)
        job.done.set()

    def hangup_session(self, session: int) -> None:
        """A pty's hangup: SIGHUP to every process of the adb shell session (its foreground process group)."""
        for job in self.jobs():
            if job.session == session:
                job.hangup()

    def stop_all_jobs(self, timeout: float = 5.0) -> None:
        for job in self.jobs():
            job.stop.set()
        for job in self.jobs():
            job.done.wait(timeout)


DEFAULT_DATA_FREE = 64 * 2**30


def data_free_bytes(device: DeviceState) -> int:
    """Free bytes on /data: the `data_free` fault (or 64 GiB) less what the phone's /data holds now."""
    raw = device.getprop("devlab.fault.data_free")
    budget = int(raw) if raw.isdigit() else DEFAULT_DATA_FREE
    used = 0
    for folder, _, files in os.walk(device.fs.resolve("/data")):
        for name in files:
            try:
                used += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return max(0, budget - used)


def default_time_scale() -> float:
    """`DEVLAB_SIM_TIME_SCALE` (e.g. 0.01 in tests): simulated seconds are multiplied by it before sleeping."""
    raw = os.environ.get("DEVLAB_SIM_TIME_SCALE", "")
    try:
        return float(raw) if raw else 1.0
    except ValueError:
        return 1.0
