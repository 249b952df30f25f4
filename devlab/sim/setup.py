"""What a fresh simulated phone has on its filesystem: thermal zones, simulated binaries, /proc/cpuinfo."""

from __future__ import annotations

from devlab.sim import commands
from devlab.sim.power import power_model
from devlab.sim.profiles import BENCHMARK_TOOL_PROP, SIM_BENCHMARK_MODEL
from devlab.sim.shell import sim_marker
from devlab.sim.state import DeviceState


def _build_line(device: DeviceState, name: str) -> bytes:
    """Different builds of a tool are different bytes, so a different sha256: devlab caches what a benchmark_model
    is (its `--help`) per sha256, and a litert and a classic simulated build must never share that entry."""
    if name != SIM_BENCHMARK_MODEL.rsplit("/", 1)[-1]:
        return b""
    return f"build {device.getprop(BENCHMARK_TOOL_PROP) or 'litert'}\n".encode()


def populate(device: DeviceState) -> None:
    fs = device.fs
    for index, zone in enumerate(device.profile.thermal_zones):
        folder = fs.resolve(f"/sys/class/thermal/thermal_zone{index}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "type").write_text(zone.type + "\n")
        (folder / "temp").write_text(f"{zone.temp_millic}\n")
    # Each registered command is also a file in /system/bin, so `ls`, `test -x` and absolute paths work.
    for name in commands.names():
        if name.isidentifier() or name.replace("_", "").isalnum():
            binary = fs.resolve(f"/system/bin/{name}")
            binary.write_bytes(sim_marker(name) + _build_line(device, name))
            binary.chmod(0o755)
    # cpufreq policies (one per cluster: 4 little, 3 mid, 1 big cores), their governor readable by the shell user
    for policy in (0, 4, 7):
        folder = fs.resolve(f"/sys/devices/system/cpu/cpufreq/policy{policy}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scaling_governor").write_text("schedutil\n")
    power_model(device)   # its GPU devfreq node (/sys/class/devfreq/<gpu>/cur_freq)
    cpus = "".join(f"processor\t: {i}\nBogoMIPS\t: 38.40\nCPU implementer\t: 0x41\n\n"
                   for i in range(device.profile.cost.max_cpu_threads * 2))
    fs.resolve("/proc/cpuinfo").write_text(cpus + f"Hardware\t: {device.profile.prop('ro.soc.model')}\n")
