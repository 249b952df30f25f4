"""Are two run records the same experiment? compare and gate judge a change of one model on one kind of device; a
delta between two models, two graphs or two phone models says nothing about either, so they refuse it unless forced.

What the run records hold and what is compared (devlab/schemas/run.schema.json):
- the model: the source file's sha256 where there is a file (`model.sha256`; a renamed copy is the same model),
  else its type and name (zoo models are built from code; SavedModel folders have no single file to hash);
- the graph of every variant both runs built: its op histogram (`build.<variant>.op_histogram`). Same histogram but
  other bytes (`build.<variant>.sha256`: other weights, another converter) is said as a warning, not refused;
- the device model: `device.kind`, `device.model` and `device.simulated` (a simulated S23 is not an S23). Another
  phone of the same model is fine (the serials are said as a warning by compare).

The default candidate is picked by the same rule: the newest complete run under the runs root of the same model and
device model. A different graph does not exclude a run from that pick: the run just written after a model change
must be refused loudly, never passed over for an older run of the old graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devlab.errors import UsageError
from devlab.report.run_record import PARTIAL_NOTE, RUN_JSON, SCHEMA_VERSION

ALLOW_FLAG = "--allow-different-models"
MAX_OPS_SAID = 3


@dataclass(frozen=True)
class RunIdentity:
    model_key: tuple[str, ...]     # ("file", sha256) or (type, name)
    model_label: str               # what a user reads: "sd-block (zoo)", "mnv3 (tflite, sha256 1a2b3c4d)"
    model_name: str
    device_key: tuple[Any, ...]    # (kind, model, simulated)
    device_label: str              # "SM-S911B", "SM-S911B (simulated)", "AMD EPYC 7B13 (host)"


@dataclass(frozen=True)
class CandidatePick:
    path: Path                     # the run folder
    said: str                      # one line: which run was picked and why, for the console and the JSON


def run_identity(record: dict[str, Any]) -> RunIdentity:
    model, device = record.get("model") or {}, record.get("device") or {}
    name, kind = str(model.get("name", "?")), str(model.get("type", "?"))
    sha = model.get("sha256")
    model_key = ("file", str(sha)) if sha else (kind, name)
    model_label = f"{name} ({kind}, sha256 {str(sha)[:8]})" if sha else f"{name} ({kind})"
    device_model = str(device.get("model", "?"))
    device_label = device_model + (" (host)" if device.get("kind") == "host" else "") + \
        (" (simulated)" if device.get("simulated") else "")
    return RunIdentity(model_key, model_label, name,
                       (device.get("kind"), device_model, bool(device.get("simulated"))), device_label)


def differences(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """Why the two runs are not one model on one device model (empty when they are)."""
    a, b = run_identity(baseline), run_identity(candidate)
    said = []
    if a.model_key != b.model_key:
        said.append(f"different models: {a.model_label} vs {b.model_label}")
    else:
        said += graph_differences(baseline.get("build") or {}, candidate.get("build") or {})
    if a.device_key != b.device_key:
        said.append(f"different device models: {a.device_label} vs {b.device_label}")
    return said


def graph_differences(build_a: dict[str, Any], build_b: dict[str, Any]) -> list[str]:
    said = []
    for variant in [v for v in build_a if v in build_b]:
        ops_a, ops_b = _histogram(build_a[variant]), _histogram(build_b[variant])
        if ops_a is None or ops_b is None or ops_a == ops_b:
            continue
        changed = sorted((op for op in set(ops_a) | set(ops_b) if ops_a.get(op, 0) != ops_b.get(op, 0)),
                         key=lambda op: -abs(ops_a.get(op, 0) - ops_b.get(op, 0)))
        detail = ", ".join(f"{op} {ops_a.get(op, 0)} vs {ops_b.get(op, 0)}" for op in changed[:MAX_OPS_SAID])
        more = f" and {len(changed) - MAX_OPS_SAID} more op types" if len(changed) > MAX_OPS_SAID else ""
        said.append(f"variant {variant} is another graph ({sum(ops_a.values())} vs {sum(ops_b.values())} ops: "
                    f"{detail}{more})")
    return said


def same_graph_other_bytes(baseline: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """Warnings: variants whose graph is the same but whose file is not (other weights or another converter)."""
    build_a, build_b = baseline.get("build") or {}, candidate.get("build") or {}
    said = []
    for variant in [v for v in build_a if v in build_b]:
        sha_a, sha_b = build_a[variant].get("sha256"), build_b[variant].get("sha256")
        if sha_a and sha_b and sha_a != sha_b and _histogram(build_a[variant]) == _histogram(build_b[variant]):
            said.append(f"variant {variant}: same graph but other bytes (sha256 {sha_a[:8]} vs {sha_b[:8]}): "
                        "other weights or another converter")
    return said


def refuse_unless_allowed(baseline: dict[str, Any], candidate: dict[str, Any], allow: bool) -> tuple[str, ...]:
    """The differences, when allowed (they go into the output); a usage error naming them otherwise."""
    said = differences(baseline, candidate)
    if said and not allow:
        raise UsageError(f"{baseline.get('run_id')} and {candidate.get('run_id')} are not comparable: "
                         + "; ".join(said),
                         f"compare runs of one model on one device model, or pass {ALLOW_FLAG} to compare anyway")
    return tuple(said)


def pick_candidate(baseline_dir: Path, baseline: dict[str, Any], root: Path) -> CandidatePick:
    """The newest complete run under `root` (searched at any depth: farm runs nest) of the baseline's model and
    device model, other than the baseline itself."""
    if not root.is_dir():
        raise UsageError(f"runs root {root} is not a folder", "pass --candidate RUN, or --out ROOT where the runs are")
    want = run_identity(baseline)
    base = baseline_dir.resolve()
    matching: list[tuple[tuple[str, float], Path]] = []
    renamed: list[tuple[tuple[str, float], Path]] = []      # same model name and device model, other bytes
    for path in root.rglob(RUN_JSON):
        folder = path.parent
        record = _read(path)
        if record is None or folder.resolve() == base or PARTIAL_NOTE in (record.get("notes") or []):
            continue
        have = run_identity(record)
        order = (str(record.get("created", "")), path.stat().st_mtime)
        if have.model_key == want.model_key and have.device_key == want.device_key:
            matching.append((order, folder))
        elif have.model_name == want.model_name and have.device_key == want.device_key:
            renamed.append((order, folder))
    if not matching:
        raise UsageError(f"no complete run of {want.model_label} on {want.device_label} under {root} "
                         "besides the baseline", "pass --candidate RUN, or --out ROOT where the runs are")
    order, folder = max(matching, key=lambda item: item[0])
    said = (f"candidate: {folder} (the newest complete run of {want.model_label} on {want.device_label} under "
            f"{root}; {len(matching)} matched)")
    newer_other_bytes = [path for when, path in renamed if when > order]
    if newer_other_bytes:
        said += (f"; {len(newer_other_bytes)} newer runs of a model named {want.model_name} with other bytes "
                 f"were passed over (e.g. {newer_other_bytes[0]})")
    return CandidatePick(folder, said)


def _histogram(built: dict[str, Any]) -> dict[str, int] | None:
    ops = built.get("op_histogram")
    return {str(k): int(v) for k, v in ops.items()} if isinstance(ops, dict) else None


def _read(path: Path) -> dict[str, Any] | None:
    """A run record, or None for anything else named run.json (unreadable, another schema version)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("schema_version") == SCHEMA_VERSION else None
