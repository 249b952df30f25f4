"""run.json: the record of one run, a versioned public contract (schema in devlab/schemas/run.schema.json).

Every block holding measured or derived numbers carries `source` (measured, op-profile, trace, simulated,
estimated) so nothing simulated or estimated can pass for a phone's measurement.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Literal

from devlab import __version__
from devlab.bench.stats import LatencyStats
from devlab.devices.base import DeviceInfo
from devlab.errors import UsageError
from devlab.fsutil import atomic_write_json, path_slug
from devlab.provenance import Source

SCHEMA_VERSION = 1
RUN_JSON = "run.json"
PARTIAL_NOTE = ("incomplete: devlab was still running (or was stopped) when this was saved; "
                "`devlab run --resume RUN` finishes it")
Status = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Timing:
    source: Source
    init_ms: float | None
    first_run_ms: float | None
    latency: LatencyStats

    def to_json(self) -> dict[str, Any]:
        latency = asdict(self.latency)
        latency.pop("source")
        latency["samples_ms"] = [round(s, 6) for s in self.latency.samples_ms]
        return {"source": self.source, "init_ms": self.init_ms, "first_run_ms": self.first_run_ms,
                "latency_ms": latency}


@dataclass(frozen=True)
class VariantRun:
    variant: str
    accelerator: str                       # "cpu" | "gpu" (host) or "gpu"/"cpu" delegate on a phone
    status: Status
    model_sha256: str
    model_bytes: int
    timing: Timing | None = None
    error: str | None = None
    delegation_predicted: dict[str, Any] | None = None
    delegation_reported: dict[str, Any] | None = None
    kernels: dict[str, Any] | None = None  # kernel attribution table, when a profile/trace was taken
    logs: dict[str, str] = field(default_factory=dict)  # name -> path relative to the run folder
    extra: dict[str, Any] = field(default_factory=dict)
    numerics: dict[str, Any] | None = None  # --check-outputs: outputs vs the fp32 reference (devlab.numerics)

    def to_json(self) -> dict[str, Any]:
        return {
            "variant": self.variant, "accelerator": self.accelerator, "status": self.status, "error": self.error,
            "model": {"sha256": self.model_sha256, "bytes": self.model_bytes},
            "timing": self.timing.to_json() if self.timing else None,
            "delegation": {"predicted": self.delegation_predicted, "reported": self.delegation_reported},
            "kernels": self.kernels, "logs": dict(self.logs), **({"extra": self.extra} if self.extra else {}),
            **({"numerics": self.numerics} if self.numerics is not None else {}),
        }


ResultHook = Callable[[VariantRun], None]   # called with each variant's row as soon as it is final


class VariantRows:
    """The rows of a measurement plan, in order; the hook hears of each one as soon as it is final."""

    def __init__(self, on_result: ResultHook) -> None:
        self.rows: list[VariantRun] = []
        self._on_result = on_result

    def add(self, row: VariantRun) -> None:
        self.rows.append(row)
        self._on_result(row)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    created: str
    device: DeviceInfo
    model: dict[str, Any]
    tools: dict[str, Any]
    settings: dict[str, Any]
    variants: tuple[VariantRun, ...]
    build: dict[str, Any]                  # the manifest entries of the variants (recipe, equivalence, ...)
    notes: tuple[str, ...] = ()
    device_state: dict[str, Any] | None = None   # a phone's state before / after (devlab.devices.device_state)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "devlab_version": __version__, "run_id": self.run_id,
            "created": self.created, "device": asdict(self.device), "model": self.model, "tools": self.tools,
            "settings": self.settings, "build": self.build, "variants": [v.to_json() for v in self.variants],
            "notes": list(self.notes), **({"device_state": self.device_state} if self.device_state else {}),
        }

    def write(self, run_dir: Path) -> Path:
        path = run_dir / RUN_JSON
        atomic_write_json(path, self.to_json())
        return path


def new_run_dir(root: Path, device: str, model: str, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    base = root / f"{stamp}-{_slug(device)}-{_slug(model)}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def load_run(path: Path) -> dict[str, Any]:
    """Read a run folder's (or a run.json path's) record, checking its schema version."""
    file = path / RUN_JSON if path.is_dir() else path
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise UsageError(f"no run record at {file}", "pass a run folder made by `devlab run`") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read run record {file}: {exc}", "re-run `devlab run`; the file is damaged") from None
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        raise UsageError(f"{file} is not a devlab run record of schema version {SCHEMA_VERSION}",
                         "re-run with this devlab version")
    return data


def _slug(text: str) -> str:
    return path_slug(text, fallback="x", max_len=40)
