"""Simulated phone profiles: identity props, GPU, thermal zones, battery, and the cost-model constants.

The identity values are those of the real phones (spec: adb_device_protocol.md). `ro.devlab.perfetto_version` is the
major version whose behaviour the phone's perfetto has (what matters: --background-wait from v22, the table form of
--query from v24; devlab/sim/perfetto_service.py). The cost-model constants are
round, plausible figures for the SoC class, NOT measurements: every number the simulated benchmark_model prints is
`simulated` provenance and must never be read as a phone measurement. `ro.devlab.simulated=1` says so on the phone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from devlab.errors import UsageError

SIM_BENCHMARK_MODEL = "/system/bin/benchmark_model"


@dataclass(frozen=True)
class CostModel:
    """Constants of the deterministic cost model in devlab/sim/costmodel.py (all invented, all documented there)."""

    gpu_gflops_fp16: float        # sustained GFLOP/s for conv/matmul-like kernels with fp16 allowed
    gpu_gflops_fp32: float
    gpu_gbps: float               # GPU memory bandwidth, GB/s
    gpu_dispatch_us: float        # fixed cost per GPU kernel dispatch
    cpu_gflops_per_thread: float  # one big core, float32 (XNNPACK-like)
    cpu_gbps: float
    cpu_op_overhead_us: float     # fixed cost per CPU op invocation
    copy_gbps: float              # CPU<->GPU copy bandwidth at a partition boundary
    copy_overhead_us: float       # fixed cost per boundary crossing (sync + map)
    max_cpu_threads: int
    gpu_init_ms: float            # delegate init: compiling GPU programs
    gpu_init_per_kernel_ms: float
    serialized_init_factor: float  # GPU init's compile part when the programs are read from the cache (fraction)
    noise_rel: float              # relative std of the seeded per-run noise
    gpu_freq_hz: int              # reported in gpufreq counter samples


@dataclass(frozen=True)
class ThermalZone:
    type: str
    temp_millic: int


@dataclass(frozen=True)
class Profile:
    name: str
    props: tuple[tuple[str, str], ...]
    gles: str                      # the GLES line of `dumpsys SurfaceFlinger`
    thermal_zones: tuple[ThermalZone, ...]
    thermal_status: int            # 0 = none ... 6 = shutdown (dumpsys thermalservice)
    battery_level: int
    battery_temp_dc: int           # tenths of a degree C, as dumpsys battery prints
    battery_voltage_mv: int
    cost: CostModel

    def prop(self, key: str) -> str:
        return dict(self.props).get(key, "")


def _common_props(model: str, manufacturer: str, device: str, name: str, board: str, platform: str,
                  soc_manufacturer: str, soc_model: str, egl: str, release: str, sdk: str) -> tuple[tuple[str, str], ...]:
    return (
        ("ro.product.model", model), ("ro.product.manufacturer", manufacturer), ("ro.product.brand", manufacturer.lower()),
        ("ro.product.device", device), ("ro.product.name", name), ("ro.product.board", board),
        ("ro.board.platform", platform), ("ro.hardware", platform), ("ro.hardware.egl", egl),
        ("ro.soc.manufacturer", soc_manufacturer), ("ro.soc.model", soc_model),
        ("ro.product.cpu.abi", "arm64-v8a"), ("ro.product.cpu.abilist", "arm64-v8a,armeabi-v7a,armeabi"),
        ("ro.build.version.release", release), ("ro.build.version.sdk", sdk),
        ("ro.build.type", "user"), ("ro.debuggable", "0"), ("ro.serialno", "SIM" + device.upper()),
        ("ro.devlab.simulated", "1"), ("ro.devlab.benchmark_model", SIM_BENCHMARK_MODEL),
        ("debug.tflite.trace", "0"), ("sys.boot_completed", "1"),
    )


S23 = Profile(
    name="s23",
    props=_common_props("SM-S918B", "samsung", "dm3q", "dm3qxxx", "kalama", "kalama", "QTI", "SM8550",
                        "adreno", "14", "34") + (("ro.devlab.soc_name", "Snapdragon 8 Gen 2"),
                                                 ("ro.devlab.perfetto_version", "38")),
    gles="GLES: Qualcomm, Adreno (TM) 740, OpenGL ES 3.2 V@0676.42 (GIT@2bf9a0b7a9, I0ad4d3e6d5, 1695379187)",
    thermal_zones=(ThermalZone("cpu-0-0-0", 41200), ThermalZone("cpu-1-0-0", 43800), ThermalZone("gpuss-0", 39700),
                   ThermalZone("battery", 31000), ThermalZone("skin-therm", 33500)),
    thermal_status=0, battery_level=87, battery_temp_dc=310, battery_voltage_mv=4211,
    cost=CostModel(gpu_gflops_fp16=1400.0, gpu_gflops_fp32=700.0, gpu_gbps=40.0, gpu_dispatch_us=9.0,
                   cpu_gflops_per_thread=28.0, cpu_gbps=18.0, cpu_op_overhead_us=4.0, copy_gbps=8.0,
                   copy_overhead_us=60.0, max_cpu_threads=4, gpu_init_ms=180.0, gpu_init_per_kernel_ms=6.0,
                   serialized_init_factor=0.15, noise_rel=0.03, gpu_freq_hz=680_000_000),
)

PIXEL8 = Profile(
    name="pixel8",
    props=_common_props("Pixel 8", "Google", "shiba", "shiba", "zuma", "zuma", "Google", "Tensor G3",
                        "mali", "14", "34") + (("ro.devlab.soc_name", "Tensor G3"),
                                               ("ro.devlab.perfetto_version", "38")),
    gles="GLES: ARM, Mali-G715, OpenGL ES 3.2 v1.r44p1-01eac0.1c3b1e2c2d0e9d9d6eea1aa1b7b1d1f5",
    thermal_zones=(ThermalZone("BIG", 44100), ThermalZone("MID", 42000), ThermalZone("LITTLE", 39800),
                   ThermalZone("G3D", 40500), ThermalZone("battery", 30500), ThermalZone("skin", 34200)),
    thermal_status=0, battery_level=74, battery_temp_dc=305, battery_voltage_mv=4102,
    cost=CostModel(gpu_gflops_fp16=900.0, gpu_gflops_fp32=450.0, gpu_gbps=32.0, gpu_dispatch_us=14.0,
                   cpu_gflops_per_thread=22.0, cpu_gbps=15.0, cpu_op_overhead_us=5.0, copy_gbps=6.0,
                   copy_overhead_us=80.0, max_cpu_threads=4, gpu_init_ms=240.0, gpu_init_per_kernel_ms=8.0,
                   serialized_init_factor=0.2, noise_rel=0.04, gpu_freq_hz=890_000_000),
)

# Android 12 (SDK 31): its platform perfetto predates --background-wait (v22, 2021-10-26; Android 12 was released
# 2021-10-04) and prints `--query` as a text proto (tables from v24, 2022-02-08).
PIXEL6_A12 = Profile(
    name="pixel6-a12",
    props=_common_props("Pixel 6", "Google", "oriole", "oriole", "oriole", "gs101", "Google", "GS101",
                        "mali", "12", "31") + (("ro.devlab.soc_name", "Google Tensor"),
                                               ("ro.devlab.perfetto_version", "20")),
    gles="GLES: ARM, Mali-G78, OpenGL ES 3.2 v1.r32p1-00pxl0.b7e5868a2b6ac0f4ac1e4a4bc1b5c3f2",
    thermal_zones=(ThermalZone("BIG", 45300), ThermalZone("MID", 42800), ThermalZone("LITTLE", 40100),
                   ThermalZone("G3D", 41200), ThermalZone("battery", 31500), ThermalZone("skin", 35100)),
    thermal_status=0, battery_level=68, battery_temp_dc=315, battery_voltage_mv=4050,
    cost=CostModel(gpu_gflops_fp16=700.0, gpu_gflops_fp32=350.0, gpu_gbps=28.0, gpu_dispatch_us=16.0,
                   cpu_gflops_per_thread=20.0, cpu_gbps=14.0, cpu_op_overhead_us=5.0, copy_gbps=5.0,
                   copy_overhead_us=90.0, max_cpu_threads=4, gpu_init_ms=260.0, gpu_init_per_kernel_ms=9.0,
                   serialized_init_factor=0.2, noise_rel=0.04, gpu_freq_hz=848_000_000),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (S23, PIXEL8, PIXEL6_A12)}


# Which benchmark_model build the phone's /system/bin/benchmark_model plays (devlab/sim/commands/benchmark_model.py):
# LiteRT 2.2.0's release binary by default, as a user downloading the current prebuilt gets.
BENCHMARK_TOOLS = ("litert", "classic", "classic-legacy")
BENCHMARK_TOOL_PROP = "ro.devlab.benchmark_tool"


def get_profile(name: str, benchmark_tool: str = "litert") -> Profile:
    try:
        profile = PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown simulated phone profile {name!r}",
                         f"use one of: {', '.join(sorted(PROFILES))}") from None
    if benchmark_tool not in BENCHMARK_TOOLS:
        raise UsageError(f"unknown simulated benchmark_model build {benchmark_tool!r}",
                         f"use one of: {', '.join(BENCHMARK_TOOLS)}")
    return replace(profile, props=profile.props + ((BENCHMARK_TOOL_PROP, benchmark_tool),))
