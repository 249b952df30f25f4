"""The mutable state of one simulated phone: props, filesystem, background jobs, timeline, fault counters."""

from __future__ import annotations

import os
import threading
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
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    exit_code: int | None = None


class DeviceState:
    def __init__(self, profile: Profile, fs: FsSandbox, time_scale: float = 1.0) -> None:
        self.profile = profile
        self.fs = fs
        self.time_scale = time_scale
        self.timeline = Timeline()
        self._props = dict(profile.props)
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}
        self._next_pid = _FIRST_PID
        self.on_prop_change: list[Callable[[str, str], None]] = []

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

    def spawn_job(self, name: str, target: Callable[[threading.Event], int]) -> Job:
        """Run `target(stop_event)` in a thread; `kill <pid>` sets stop_event so the job can finish cleanly."""
        job = Job(pid=self.new_pid(), name=name)

        def run() -> None:
            try:
                job.exit_code = target(job.stop)
            except Exception:  # a crashing job must not take the phone down; it reads as a failed process
                job.exit_code = 1
            finally:
                job.done.set()
                with self._lock:
                    self._jobs.pop(job.pid, None)

        with self._lock:
            self._jobs[job.pid] = job
        threading.Thread(target=run, name=f"sim-job-{job.pid}-{name}", daemon=True).start()
        return job

    def job(self, pid: int) -> Job | None:
        with self._lock:
            return self._jobs.get(pid)

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def stop_all_jobs(self, timeout: float = 5.0) -> None:
        for job in self.jobs():
            job.stop.set()
        for job in self.jobs():
            job.done.wait(timeout)


def default_time_scale() -> float:
    """`DEVLAB_SIM_TIME_SCALE` (e.g. 0.01 in tests): simulated seconds are multiplied by it before sleeping."""
    raw = os.environ.get("DEVLAB_SIM_TIME_SCALE", "")
    try:
        return float(raw) if raw else 1.0
    except ValueError:
        return 1.0
