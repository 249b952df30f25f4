"""Numerical equivalence of a rewritten/quantized variant against its fp32 reference, run with LiteRT.

Both .tflite files get the same seeded random inputs (standard normal floats; integers in [0, 100) for id
inputs) and run on the LiteRT Interpreter (CPU). Errors are the worst over all samples and outputs; the relative
error divides by the reference's largest magnitude for that output, so near-zero elements do not explode it.
A sample passes when the absolute OR the relative error is within tolerance (like numpy's atol/rtol: outputs of
large magnitude are judged relatively). Nothing is raised when the check fails: the caller decides (the build fails the recipe and shows the numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from devlab.errors import ModelError
from devlab.random_inputs import random_input


@dataclass(frozen=True)
class Tolerance:
    max_abs: float
    max_rel: float


@dataclass(frozen=True)
class Equivalence:
    max_abs_error: float
    max_rel_error: float
    tolerance: Tolerance
    passed: bool
    samples: int

    def to_json(self) -> dict[str, object]:
        return {"max_abs_error": self.max_abs_error, "max_rel_error": self.max_rel_error,
                "tolerance": {"max_abs": self.tolerance.max_abs, "max_rel": self.tolerance.max_rel},
                "passed": self.passed, "samples": self.samples, "source": "measured"}


# Graph rewrites change the arithmetic only slightly (tanh GELU differs from erf GELU by <1e-3 per element; sums
# reorder); fp16 weights lose ~3 decimal digits per weight, compounding through depth.
RECIPE_TOLERANCES: dict[str, Tolerance] = {
    "groupnorm-4d": Tolerance(max_abs=1e-3, max_rel=1e-4),
    "gelu-builtin": Tolerance(max_abs=1e-2, max_rel=2e-3),
    "gelu-tanh": Tolerance(max_abs=1e-2, max_rel=2e-3),
    "attention-4d": Tolerance(max_abs=1e-3, max_rel=1e-4),
    "attention-4d-fused-softmax": Tolerance(max_abs=1e-3, max_rel=1e-4),
    "upsample-resize": Tolerance(max_abs=1e-6, max_rel=1e-6),
    "gather-1d": Tolerance(max_abs=1e-6, max_rel=1e-6),  # the same lookup, only the index shape differs
    "fp16": Tolerance(max_abs=5e-2, max_rel=2e-2),
    # int8 weights keep ~2 decimal digits per weight (per-channel scales); errors of a few % of the output range
    # are the expected cost of dynamic-range and weight-only quantization.
    "int8-dynamic": Tolerance(max_abs=2.5e-1, max_rel=5e-2),
    "int8-weight-only": Tolerance(max_abs=2.5e-1, max_rel=5e-2),
}
DEFAULT_TOLERANCE = Tolerance(max_abs=1e-3, max_rel=1e-4)


def tolerance_for(recipes: Sequence[str]) -> Tolerance:
    """The loosest tolerance among the recipes (errors of composed recipes are dominated by the loosest)."""
    chosen = [RECIPE_TOLERANCES.get(name, DEFAULT_TOLERANCE) for name in recipes] or [DEFAULT_TOLERANCE]
    return Tolerance(max_abs=max(t.max_abs for t in chosen), max_rel=max(t.max_rel for t in chosen))


def check_equivalence(reference: Path, candidate: Path, *, seed: int = 0, samples: int = 3,
                      tolerance: Tolerance) -> Equivalence:
    ref = _interpreter(reference)
    cand = _interpreter(candidate)
    ref_inputs, cand_inputs = _by_name(ref.get_input_details()), _by_name(cand.get_input_details())
    if [tuple(d["shape"]) for d in ref_inputs] != [tuple(d["shape"]) for d in cand_inputs]:
        raise ModelError(f"{candidate} has other input shapes than {reference}",
                         "compare variants built from the same model")
    rng = np.random.default_rng(seed)
    max_abs = 0.0
    max_rel = 0.0
    for _ in range(samples):
        feeds = [random_input(rng, tuple(int(d) for d in detail["shape"]), detail["dtype"]) for detail in ref_inputs]
        ref_out = _run(ref, ref_inputs, feeds)
        cand_out = _run(cand, cand_inputs, feeds)
        for expected, got in zip(ref_out, cand_out):
            diff = float(np.max(np.abs(expected.astype(np.float64) - got.astype(np.float64)))) if expected.size else 0.0
            scale = float(np.max(np.abs(expected))) if expected.size else 0.0
            max_abs = max(max_abs, diff)
            max_rel = max(max_rel, diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf")))
    finite = np.isfinite(max_abs) and np.isfinite(max_rel)
    passed = bool(finite and (max_abs <= tolerance.max_abs or max_rel <= tolerance.max_rel))
    return Equivalence(max_abs, max_rel, tolerance, passed, samples)


def _interpreter(path: Path):  # -> ai_edge_litert.interpreter.Interpreter
    from ai_edge_litert.interpreter import Interpreter

    if not Path(path).is_file():
        raise ModelError(f"model file {path} does not exist", "run `devlab build` first")
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=2)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"LiteRT cannot load {path}: {exc}", "rebuild the variant") from None
    return interpreter


def _by_name(details: list[dict]) -> list[dict]:
    # Variants of one model keep the signature's tensor names, not necessarily the tensor order.
    return sorted(details, key=lambda d: d["name"])


def _run(interpreter, inputs: list[dict], feeds: list[np.ndarray]) -> list[np.ndarray]:
    for detail, value in zip(inputs, feeds):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in _by_name(interpreter.get_output_details())]
