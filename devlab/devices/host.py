"""This machine as a device: LiteRT runs variants on its CPU, and on its GPU where a Vulkan adapter exists."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

from devlab.devices.base import DeviceInfo, PushResult, ShellResult
from devlab.errors import DeviceError
from devlab.fsutil import sha256_file

HOST_SERIAL = "host"
_ADAPTER_LINE = re.compile(r"Selected adapter:\s*(?P<name>[^,\n]+)")


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def gpu_adapter() -> str | None:
    """The GPU adapter LiteRT selects, or None when it finds none (or its accelerator dies on a tiny model).
    Probed once per process with a tiny model, in a child process like every host benchmark: a GPU stack that
    crashes takes the probe down, not devlab."""
    from devlab.bench.host_child import run_in_child
    from devlab.bench.host_runtime import HostBenchOptions
    from devlab.build.tiny_model import tiny_add_model
    from devlab.errors import ToolError
    with tempfile.TemporaryDirectory(prefix="devlab-gpu-probe-") as tmp:
        probe = Path(tmp) / "probe.tflite"
        probe.write_bytes(tiny_add_model())
        try:
            result = run_in_child(probe, "gpu", HostBenchOptions(num_runs=1, warmup_runs=0, min_secs=0),
                                  Path(tmp) / "probe.log")
        except ToolError:   # GpuUnavailable is one
            return None
    match = _ADAPTER_LINE.search(result.native_log)
    return match.group("name").strip() if match else "GPU (adapter name not reported)"


class HostDevice:
    """Implements the Device protocol on this machine: push copies into a work folder, shell runs argv."""

    def __init__(self, workdir: Path | None = None, probe_gpu: bool = True) -> None:
        self.workdir = workdir or Path(tempfile.gettempdir()) / "devlab-host"
        adapter = gpu_adapter() if probe_gpu else None
        self.info = DeviceInfo(
            serial=HOST_SERIAL, kind="host", model=cpu_model(), alias="host",
            manufacturer=platform.system(), board=platform.machine(), soc=cpu_model(), gpu=adapter or "",
            abi=platform.machine(), simulated=False,
            extra={"python": platform.python_version(), "cpus": str(_cpu_count())},
        )

    @property
    def has_gpu(self) -> bool:
        return bool(self.info.gpu)

    def push(self, local: Path, remote: str) -> PushResult:
        target = self._local_path(remote)
        digest = sha256_file(local)
        size = local.stat().st_size
        if target.is_file() and target.stat().st_size == size and sha256_file(target) == digest:
            return PushResult(str(local), remote, digest, size, 0, True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        return PushResult(str(local), remote, digest, size, size, False)

    def pull(self, remote: str, local: Path) -> None:
        source = self._local_path(remote)
        if not source.is_file():
            raise DeviceError(f"{remote} does not exist", "check the path", device=HOST_SERIAL, stage="pull")
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, local)

    def shell(self, argv: list[str], timeout: float | None = None) -> ShellResult:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError:
            return ShellResult(tuple(argv), 127, "", f"{argv[0]}: not found")
        except subprocess.TimeoutExpired:
            raise DeviceError(f"command timed out after {timeout} s: {argv[0]}", "raise the timeout",
                              device=HOST_SERIAL, stage="shell") from None
        return ShellResult(tuple(argv), done.returncode, done.stdout, done.stderr)

    def _local_path(self, remote: str) -> Path:
        relative = Path(remote.lstrip("/"))
        if ".." in relative.parts:
            raise DeviceError(f"path {remote!r} leaves the host work folder", "use a path without '..'",
                              device=HOST_SERIAL, stage="push")
        return self.workdir / relative


def _cpu_count() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
