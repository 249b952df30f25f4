"""What a parsed benchmark_model log says: plain frozen values, and their public JSON contract.

The JSON keys (status, dialect, errors, init_us, first_inference_us, warmup_avg_us, inference_avg_us, inference,
memory, delegation, op_profile, runs) are a public contract: add keys, never rename or drop them.
A number the log does not print is None (null), never filled in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from devlab.bench.op_profile import OpProfile

Status = Literal["ok", "failed", "incomplete"]
Dialect = Literal["classic", "litert"]
DelegateKind = Literal["gpu", "nnapi", "xnnpack", "hexagon"]
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
class Delegation:
    delegate: DelegateKind | None = None
    applied: Applied | None = None
    ops_on_delegate: int | None = None
    ops_on_cpu: int | None = None
    partitions: int | None = None
    unsupported_ops: tuple[UnsupportedOp, ...] = ()


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

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
            "init_us": self.init_us,
            "first_inference_us": self.first_inference_us,
            "warmup_avg_us": self.warmup_avg_us,
            "inference_avg_us": self.inference_avg_us,
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
    """A whole capture: its runs, and the run the top-level fields mirror (the last complete one)."""

    dialect: Dialect
    runs: tuple[BenchmarkRun, ...]

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
        return {"status": top.pop("status"), "dialect": self.dialect, **top,
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
