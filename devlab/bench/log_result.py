"""What a parsed benchmark_model log says: plain frozen values, and their public JSON contract.

The JSON keys (status, dialect, tool_kind, errors, failure_reason, init_us, first_inference_us, warmup_avg_us,
inference_avg_us, inference_median_us, inference_p5_us, inference_p95_us, inference, memory, delegation (with its
per-subgraph `subgraphs`), op_profile, runs) are a public contract: add keys, never rename or drop them.
A number the log does not print is None (null), never filled in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from devlab.bench.op_profile import OpProfile

Status = Literal["ok", "failed", "incomplete"]
ToolKind = Literal["classic", "litert"]
Dialect = ToolKind   # the older name of the same thing
DelegateKind = Literal["gpu", "nnapi", "xnnpack", "hexagon", "npu"]
Applied = Literal["full", "partial", "none"]


@dataclass(frozen=True)
class InferenceStats:
    count: int
    min_us: float | None
    max_us: float | None
    avg_us: float | None
    std_us: float | None
    first_us: float | None = None
    median_us: float | None = None
    p5_us: float | None = None
    p95_us: float | None = None


@dataclass(frozen=True)
class MemoryStats:
    """Process RSS figures the tool prints (MB), not GPU memory."""

    init_mb: float | None
    overall_mb: float | None
    peak_mb: float | None


@dataclass(frozen=True)
class UnsupportedOp:
    op: str
    reason: str


@dataclass(frozen=True)
class SubgraphDelegation:
    """One `Replacing N out of M node(s) with delegate (NAME) node, yielding K partitions for subgraph S (name).`
    line, as printed (Subgraph::ReplaceNodeSubsetsWithDelegateKernels in tflite/core/subgraph.cc): one per
    delegate per subgraph, in the order the runtime applied them; never merged."""

    subgraph: int | None           # None: older builds print "for the whole graph"
    subgraph_name: str | None
    delegate_name: str             # the delegate kernel's name: LITERT_CL, TfLiteXNNPackDelegate, DispatchDelegate
    delegate: DelegateKind | None  # what that name means, when devlab knows it
    nodes_replaced: int
    nodes_in_plan: int             # the subgraph's execution plan when this delegate came to it
    partitions: int                # node subsets after the split: delegated ones and the ones left to the CPU


@dataclass(frozen=True)
class Delegation:
    delegate: DelegateKind | None = None
    applied: Applied | None = None
    ops_on_delegate: int | None = None
    ops_on_cpu: int | None = None
    partitions: int | None = None
    unsupported_ops: tuple[UnsupportedOp, ...] = ()
    subgraphs: tuple[SubgraphDelegation, ...] = ()
    gpu_api: str | None = None               # OpenCL | OpenGL | WebGPU | Vulkan | Metal, from "Initializ..-based API"
    gpu_api_from_cache: bool | None = None   # "... from serialized data": the compiled-program cache was used
    npu_dispatch_library: str | None = None  # LiteRT's "Loading shared library: <dispatch lib>"


@dataclass(frozen=True)
class BenchmarkRun:
    """One invocation of the tool inside a log."""

    status: Status
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    init_us: float | None = None
    first_inference_us: float | None = None
    warmup_avg_us: float | None = None
    inference_avg_us: float | None = None
    inference: InferenceStats | None = None
    warmup: InferenceStats | None = None
    memory: MemoryStats | None = None
    delegation: Delegation = field(default_factory=Delegation)
    op_profile: OpProfile | None = None
    parameters: tuple[tuple[str, str], ...] = ()   # parameter echo lines, as the tool reported them
    model_path: str | None = None
    model_size_mb: float | None = None
    first_line: int | None = None                  # where the run starts in the capture (1-based)
    failure_reason: str | None = None              # the most specific error line of a failed run

    def to_json(self) -> dict[str, Any]:
        inference = self.inference
        return {
            "status": self.status,
            "errors": list(self.errors),
            "failure_reason": self.failure_reason,
            "warnings": list(self.warnings),
            "init_us": self.init_us,
            "first_inference_us": self.first_inference_us,
            "warmup_avg_us": self.warmup_avg_us,
            "inference_avg_us": self.inference_avg_us,
            "inference_median_us": None if inference is None else inference.median_us,
            "inference_p5_us": None if inference is None else inference.p5_us,
            "inference_p95_us": None if inference is None else inference.p95_us,
            "inference": _plain(self.inference),
            "warmup": _plain(self.warmup),
            "memory": _plain(self.memory),
            "delegation": _plain(self.delegation),
            "op_profile": _plain(self.op_profile),
            "parameters": {name: value for name, value in self.parameters},
            "model_path": self.model_path,
            "model_size_mb": self.model_size_mb,
            "first_line": self.first_line,
        }


@dataclass(frozen=True)
class BenchmarkLog:
    """A whole capture: its runs, and the run the top-level fields mirror (the last complete one).

    `recognized`: the capture holds at least one line only benchmark_model prints; False for an empty file or
    some other text, which callers refuse instead of reporting an empty run."""

    dialect: ToolKind
    runs: tuple[BenchmarkRun, ...]
    recognized: bool = True

    @property
    def tool_kind(self) -> ToolKind:
        return self.dialect

    @property
    def result(self) -> BenchmarkRun:
        for run in reversed(self.runs):
            if run.status == "ok":
                return run
        return self.runs[-1] if self.runs else BenchmarkRun(status="incomplete")

    @property
    def status(self) -> Status:
        return self.result.status

    def to_json(self) -> dict[str, Any]:
        top = self.result.to_json()
        return {"status": top.pop("status"), "dialect": self.dialect, "tool_kind": self.dialect, **top,
                "runs": [run.to_json() for run in self.runs]}


def _plain(value: Any) -> Any:
    if value is None:
        return None
    data = asdict(value)
    return _lists(data)


def _lists(value: Any) -> Any:
    """asdict keeps tuples; JSON wants lists."""
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(item) for item in value]
    return value
