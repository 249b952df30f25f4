"""`devlab run --check-outputs`: each variant's outputs on its accelerator against the fp32 reference on the host.

One `OutputCheck` per run: the inputs (devlab's seeded ones, or the user's .npz), their sha256, the tolerance, and
the reference outputs computed once per reference model. The reference model is the run's fp32 variant (`fp32`,
or `as-is` for a .tflite) when the run builds one with the same inputs and outputs; otherwise the variant itself,
run in fp32 on the CPU (its quantization is then not part of the error, and the record says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from devlab.build.pipeline import BuiltVariant, Manifest
from devlab.errors import UsageError
from devlab.numerics.metrics import DEFAULT_MAX_REL_ERROR, OutputError, compare, verdict, worst_rel_error
from devlab.numerics.model_io import ModelIo, inputs_sha256, load_inputs, random_inputs, read_model_io
from devlab.numerics.reference import REFERENCE_RUNTIME, run_reference
from devlab.provenance import Source

REFERENCE_VARIANTS = ("fp32", "as-is")


@dataclass(frozen=True)
class VariantCheck:
    """What one variant's check needs: its inputs and outputs, what to feed, and what the reference gave."""
    io: ModelIo
    feeds: dict[str, np.ndarray]
    inputs_sha256: str
    reference: dict[str, Any]                       # which model, which runtime
    reference_outputs: dict[str, np.ndarray]
    max_rel_error: float

    def save(self, path: Path, got: dict[str, np.ndarray]) -> None:
        """The row's arrays for a closer look: `inputs/<name>`, `reference/<name>`, `device/<name>` in one .npz."""
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **{f"inputs/{k}": v for k, v in self.feeds.items()},
                            **{f"reference/{k}": v for k, v in self.reference_outputs.items()},
                            **{f"device/{k}": v for k, v in got.items()})

    def record(self, got: dict[str, np.ndarray], source: Source) -> dict[str, Any]:
        errors: list[OutputError] = [compare(spec.name, self.reference_outputs[spec.name], got[spec.name])
                                     for spec in self.io.float_outputs()]
        return {"status": verdict(errors, self.max_rel_error), "source": source, "reference": self.reference,
                "inputs_sha256": self.inputs_sha256, "outputs": [e.to_json() for e in errors],
                "tolerance": {"max_rel_error": self.max_rel_error,
                              "of": "the output's largest reference magnitude; a non-finite value fails"}}


def summary_line(row: dict[str, Any]) -> str | None:
    """One console line for a run.json row's numerics; None when the row has none."""
    numerics = row.get("numerics")
    if not numerics:
        return None
    where = f"{row['variant']} on {row['accelerator']}"
    if numerics["status"] == "unavailable":
        return f"{where}: unavailable: {numerics.get('reason')}"
    worst = worst_rel_error(numerics)
    figure = "non-finite outputs" if worst == float("inf") else f"worst relative error {worst:.3g}"
    limit = (numerics.get("tolerance") or {}).get("max_rel_error")
    return (f"{where}: {numerics['status']} ({figure}, tolerance {limit:g}; {numerics['source']}; "
            f"reference {numerics['reference']['variant']} on the host CPU)")


def unavailable(reason: str, source: Source, inputs_sha: str | None = None) -> dict[str, Any]:
    return {"status": "unavailable", "source": source, "reason": reason, "inputs_sha256": inputs_sha,
            "outputs": []}


class OutputCheck:
    def __init__(self, manifest: Manifest, seed: int = 0, inputs_path: Path | None = None,
                 max_rel_error: float = DEFAULT_MAX_REL_ERROR) -> None:
        self.manifest, self.seed, self.inputs_path, self.max_rel_error = manifest, seed, inputs_path, max_rel_error
        self._reference_cache: dict[Path, dict[str, np.ndarray]] = {}
        self._checks: dict[str, VariantCheck] = {}

    def prepare_all(self) -> None:
        """Every variant's check, before any device work: a bad .npz or a model with no float output fails now."""
        for variant in self.manifest.variants:
            self.for_variant(variant)

    def for_variant(self, variant: BuiltVariant) -> VariantCheck:
        if variant.name in self._checks:
            return self._checks[variant.name]
        io = read_model_io(variant.path)
        if not io.float_outputs():
            raise UsageError(f"variant {variant.name} has no float outputs (outputs: "
                             f"{', '.join(f'{o.name} {o.dtype}' for o in io.outputs)}): there is nothing to compare "
                             "against an fp32 reference", "run without --check-outputs, or check a variant with "
                             "float outputs (e.g. dequantize the outputs)")
        feeds = load_inputs(self.inputs_path, io) if self.inputs_path else random_inputs(io, self.seed)
        reference_variant = self._reference_variant(io) or variant
        if reference_variant.path not in self._reference_cache:
            self._reference_cache[reference_variant.path] = run_reference(
                reference_variant.path, read_model_io(reference_variant.path), feeds)[0]
        reference = {"variant": reference_variant.name, "sha256": reference_variant.sha256,
                     "runtime": REFERENCE_RUNTIME, "source": "measured",
                     "inputs": f"--inputs {self.inputs_path.name}" if self.inputs_path
                     else f"devlab.random_inputs seed {self.seed}"}
        if reference_variant is variant and variant.name not in REFERENCE_VARIANTS:
            reference["note"] = ("no fp32 variant in this run: the reference is this variant itself in fp32 on the "
                                 "CPU, so its own quantization is not part of the error")
        check = VariantCheck(io, feeds, inputs_sha256(io, feeds), reference,
                             self._reference_cache[reference_variant.path], self.max_rel_error)
        self._checks[variant.name] = check
        return check

    def _reference_variant(self, io: ModelIo) -> BuiltVariant | None:
        for variant in self.manifest.variants:
            if variant.name in REFERENCE_VARIANTS:
                other = read_model_io(variant.path)
                same = [(s.name, s.shape, s.dtype) for s in other.inputs] == \
                       [(s.name, s.shape, s.dtype) for s in io.inputs] and \
                       [(s.name, s.shape) for s in other.outputs] == [(s.name, s.shape) for s in io.outputs]
                if same:
                    return variant
        return None
