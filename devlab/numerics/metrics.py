"""How far a variant's outputs are from the reference's: per output max abs / max rel error, RMSE, SNR, cosine.

The relative error divides by the reference's largest magnitude for that output (as devlab.build.equivalence), so
elements near zero do not explode it. A non-finite value where the reference is finite (fp16 overflow: |x| > 65504
becomes inf) is the worst error there is: the errors are stored as null (JSON has no inf) with the count of such
elements, and the output is beyond any tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from devlab.errors import UsageError

Status = Literal["ok", "exceeded", "unavailable"]
DEFAULT_MAX_REL_ERROR = 0.05   # of the output's largest reference magnitude: fp16 storage is ~1e-3, a bug is ~1


@dataclass(frozen=True)
class OutputError:
    name: str
    shape: tuple[int, ...]
    max_abs_error: float | None      # None: a non-finite value where the reference is finite
    max_rel_error: float | None
    rmse: float | None
    snr_db: float | None             # None also when the output equals the reference (infinite SNR)
    cosine: float | None
    non_finite: int = 0              # elements that are inf/nan here and finite in the reference

    def within(self, max_rel_error: float) -> bool:
        return self.non_finite == 0 and self.max_rel_error is not None and self.max_rel_error <= max_rel_error

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "max_abs_error": self.max_abs_error,
                "max_rel_error": self.max_rel_error, "rmse": self.rmse, "snr_db": self.snr_db,
                "cosine": self.cosine, "non_finite": self.non_finite}


def compare(name: str, reference: np.ndarray, got: np.ndarray) -> OutputError:
    if reference.shape != got.shape:
        raise UsageError(f"output {name}: shape {got.shape} differs from the reference's {reference.shape}",
                         "compare outputs of the same model")
    ref = reference.astype(np.float64).ravel()
    out = got.astype(np.float64).ravel()
    finite_ref = np.isfinite(ref)
    non_finite = int(np.count_nonzero(finite_ref & ~np.isfinite(out)))
    if non_finite:
        return OutputError(name, tuple(reference.shape), None, None, None, None, None, non_finite)
    ref, out = ref[finite_ref], out[finite_ref]
    if ref.size == 0:
        return OutputError(name, tuple(reference.shape), 0.0, 0.0, 0.0, None, None)
    diff = out - ref
    max_abs = float(np.max(np.abs(diff)))
    scale = float(np.max(np.abs(ref)))
    max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else math.inf)
    rmse = float(np.sqrt(np.mean(diff * diff)))
    noise = float(np.sum(diff * diff))
    signal = float(np.sum(ref * ref))
    snr = None if noise == 0 or signal == 0 else 10.0 * math.log10(signal / noise)
    norms = float(np.linalg.norm(ref) * np.linalg.norm(out))
    cosine = min(1.0, float(np.dot(ref, out) / norms)) if norms > 0 else None
    return OutputError(name, tuple(reference.shape), max_abs, max_rel if math.isfinite(max_rel) else None, rmse,
                       snr, cosine, 0 if math.isfinite(max_rel) else 1)


def verdict(errors: list[OutputError], max_rel_error: float) -> Status:
    return "ok" if all(e.within(max_rel_error) for e in errors) else "exceeded"


def worst_rel_error(numerics: dict[str, Any]) -> float:
    """A row's worst output relative error from its run.json `numerics`; inf when an output went non-finite."""
    worst = 0.0
    for output in numerics.get("outputs") or []:
        if output.get("non_finite") or output.get("max_rel_error") is None:
            return math.inf
        worst = max(worst, float(output["max_rel_error"]))
    return worst


def parse_error_limit(text: str) -> float:
    """`--max-numerics-error 0.01` or `1%`: the largest relative error (of the output's scale) a variant may have."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise UsageError(f"--max-numerics-error {text!r} is not a relative error >= 0",
                         "pass e.g. --max-numerics-error 0.01 or 1%")
    return value
