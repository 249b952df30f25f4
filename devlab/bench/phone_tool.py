"""What runs benchmark_model on a phone: the user's options for the measurement plan (PhoneBenchOptions) and the
binary on the device (BenchmarkTool: where it came from, its sha256 and its dialect, asked once per sha256).
devlab/bench/phone_plan.py runs the plan with them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

from devlab.bench.flags import BenchmarkOptions, GpuBackend, GpuPrecision, tool_argv
from devlab.bench.tool_dialect import ToolDialect, probe
from devlab.devices.adb import DEVICE_ROOT, AdbDevice

PhoneAccelerator = Literal["gpu", "cpu"]
BINARY_ON_DEVICE = f"{DEVICE_ROOT}/bin/benchmark_model"


@dataclass(frozen=True)
class PhoneBenchOptions:
    accelerators: tuple[PhoneAccelerator, ...] = ("gpu",)
    gpu_precision: GpuPrecision | None = None
    gpu_backend: GpuBackend | None = None
    num_runs: int | None = None
    warmup_runs: int | None = None
    warmup_min_secs: float | None = None          # None: the tool's default (0.5 s in benchmark_model)
    min_secs: float | None = None
    max_secs: float | None = None
    num_threads: int | None = None
    taskset_mask: str | None = None
    require_full_delegation: bool = False
    delegate_serialize_dir: str | None = None     # a folder on the device
    op_profile: bool = True
    trace: bool = True                            # the trace run (Perfetto + debug.tflite.trace=1)
    timeout_s: float = 900.0                      # per benchmark_model invocation
    energy: bool = False                          # the energy run (devlab/energy/record.py)
    sustained_s: float | None = None              # the sustained run's duration (devlab/sustained/run.py)
    cooldown_s: float = 0.0                       # wait between one variant's runs (`devlab run --cooldown`: 2 s)
    clear_cache: bool = False                     # remove every devlab GPU program cache on the phone first

    def benchmark_options(self, graph: str, accelerator: PhoneAccelerator, token: str) -> BenchmarkOptions:
        """The clean run's options (validated on creation)."""
        gpu = accelerator == "gpu"
        return BenchmarkOptions(
            graph=graph, num_runs=self.num_runs, warmup_runs=self.warmup_runs, warmup_min_secs=self.warmup_min_secs,
            min_secs=self.min_secs,
            max_secs=self.max_secs, num_threads=self.num_threads, use_gpu=gpu,
            gpu_precision=self.gpu_precision if gpu else None, gpu_backend=self.gpu_backend if gpu else None,
            require_full_delegation=self.require_full_delegation and gpu,
            delegate_serialize_dir=self.delegate_serialize_dir if gpu else None,
            delegate_serialize_token=token if gpu and self.delegate_serialize_dir else None,
            taskset_mask=self.taskset_mask)


@dataclass(frozen=True)
class BenchmarkTool:
    """The benchmark_model that runs on the device, and where it came from."""

    device_path: str
    sha256: str | None
    origin: str                  # flag | env | devlab.toml | simulated phone
    local_path: str | None = None
    bytes_sent: int | None = None
    dialect: ToolDialect | None = None     # what its --help says it is (asked once per sha256)
    version: str | None = None             # known from `devlab tools fetch`, never printed by the tool
    dialect_from: str | None = None        # "--help" (asked now) or "cache" (asked before for this sha256)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("dialect")
        data.pop("dialect_from")
        data["tool"] = None if self.dialect is None else {**self.dialect.to_json(), "from": self.dialect_from}
        return data

    def argv(self, options: BenchmarkOptions) -> list[str]:
        return tool_argv(self.device_path, options, self.dialect)


def prepare_benchmark_tool(device: AdbDevice, flag_path: str | None = None,
                           config_table: dict[str, str] | None = None) -> BenchmarkTool:
    """The simulated phone's own binary (its profile names it), else the user's, pushed with the hash cache."""
    simulated_binary = device.info.extra.get("benchmark_model") if device.info.simulated else None
    if simulated_binary:
        tool = BenchmarkTool(simulated_binary, device.remote_sha256(simulated_binary), "simulated phone")
    else:
        from devlab.bench.binary import locate_benchmark_model
        abi = device.info.abi or "arm64-v8a"
        binary = locate_benchmark_model(abi, flag_path=flag_path, config=config_table)
        pushed = device.push(binary.path, BINARY_ON_DEVICE, mode=0o755)
        tool = BenchmarkTool(BINARY_ON_DEVICE, binary.sha256, binary.origin, str(binary.path), pushed.bytes_sent,
                             version=getattr(binary, "version", None))
    dialect, cached = probe(device, tool.device_path, tool.sha256, tool.version)
    return replace(tool, dialect=dialect, dialect_from="cache" if cached else "--help")
