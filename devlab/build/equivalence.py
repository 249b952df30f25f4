"""Numerical equivalence of a rewritten/quantized variant against its fp32 reference, run with LiteRT.

Both .tflite files get the same seeded random inputs (standard normal floats; integers in [0, 100) for id
inputs) and run on the LiteRT Interpreter (CPU). Errors are the worst over all samples and outputs; the relative
error divides by the reference's largest magnitude for that output, so near-zero elements do not explode it.
An output passes when its absolute OR its relative error is within tolerance (like numpy's atol/rtol: outputs of
large magnitude are judged relatively). Nothing is raised when the check fails: the caller decides (the build fails
the recipe and shows the numbers).

A check is only worth its figure when the reference is not (near-)constant: a random-init classifier's softmax is
1/classes everywhere (MobileNetV3Small: 0.001 +- 1e-10), so any variant "passes" with error 0. When a constant would
pass against an output, the check walks back from it through the same ops in both graphs (the SOFTMAX, a RESHAPE)
to the first tensor a constant would not match relatively (the logits), compares that by relative error, and says
so; when nothing informative is found, the result is `not informative` (passed: None), never a pass.
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
class Compared:
    """What stood in for an output the reference cannot tell from a constant."""
    output: str
    tensor: str | None          # the reference's tensor compared instead; None: nothing informative was found
    path: tuple[str, ...]       # the ops walked back from the output to it, e.g. ("SOFTMAX",)

    def to_json(self) -> dict[str, object]:
        return {"output": self.output, "tensor": self.tensor, "walked_back_through": list(self.path)}


@dataclass(frozen=True)
class Equivalence:
    max_abs_error: float
    max_rel_error: float
    tolerance: Tolerance
    passed: bool | None         # None: not informative (every compared tensor is one a constant would match)
    samples: int
    stand_ins: tuple[Compared, ...] = ()
    note: str | None = None

    @property
    def informative(self) -> bool:
        return self.passed is not None

    def to_json(self) -> dict[str, object]:
        return {"max_abs_error": self.max_abs_error, "max_rel_error": self.max_rel_error,
                "tolerance": {"max_abs": self.tolerance.max_abs, "max_rel": self.tolerance.max_rel},
                "passed": self.passed, "informative": self.informative, "samples": self.samples,
                "stand_ins": [c.to_json() for c in self.stand_ins], "note": self.note, "source": "measured"}


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
    feeds = [[random_input(rng, tuple(int(d) for d in detail["shape"]), detail["dtype"]) for detail in ref_inputs]
             for _ in range(samples)]
    ref_outputs, cand_outputs = _by_name(ref.get_output_details()), _by_name(cand.get_output_details())
    expected = _stacked([_run(ref, ref_inputs, ref_outputs, f) for f in feeds])
    got = _stacked([_run(cand, cand_inputs, cand_outputs, f) for f in feeds])
    errors = [_errors(e, g) for e, g in zip(expected, got)]
    passed = all(_within(err, tolerance) for err in errors)
    degenerate = [i for i, values in enumerate(expected) if _constant_would_pass(values, tolerance)]
    if not degenerate or not passed:   # a failure is informative whatever the reference looks like
        return _result(errors, tolerance, passed, samples)
    # Outputs a constant would match (a random-init classifier's softmax is 1/classes everywhere): compare, instead,
    # the first tensor walked back from each that the relative tolerance can tell from a constant.
    informative = [err for i, err in enumerate(errors) if i not in degenerate]
    stand_ins: list[Compared] = []
    for i in degenerate:
        found = _stand_in(reference, candidate, ref_inputs, cand_inputs, ref_outputs[i]["index"],
                          cand_outputs[i]["index"], feeds, tolerance)
        name = str(ref_outputs[i]["name"])
        if found is None:
            stand_ins.append(Compared(name, None, ()))
            continue
        tensor, path, err = found
        stand_ins.append(Compared(name, tensor, path))
        informative.append(err)
        passed = passed and err[1] <= tolerance.max_rel   # judged relatively: the tensor's scale is arbitrary
    if not informative:
        return _result(errors, tolerance, None, samples, tuple(stand_ins),
                       "not informative: every output is one a constant would match within tolerance, and no "
                       "tensor before it tells more")
    return _result(informative, tolerance, passed, samples, tuple(stand_ins), _note(stand_ins))


def _note(stand_ins: list[Compared]) -> str:
    parts = [f"output {c.output} is near-constant: compared {c.tensor} (its input through "
             f"{' <- '.join(c.path)}) by relative error" if c.tensor else
             f"output {c.output} is near-constant and nothing before it tells more: not compared"
             for c in stand_ins]
    return "; ".join(parts)


def _result(errors: list[tuple[float, float]], tolerance: Tolerance, passed: bool | None, samples: int,
            stand_ins: tuple[Compared, ...] = (), note: str | None = None) -> Equivalence:
    max_abs = max((e[0] for e in errors), default=0.0)
    max_rel = max((e[1] for e in errors), default=0.0)
    if passed is not None:
        passed = bool(passed and np.isfinite(max_abs) and np.isfinite(max_rel))
    return Equivalence(max_abs, max_rel, tolerance, passed, samples, stand_ins, note)


def _errors(expected: np.ndarray, got: np.ndarray) -> tuple[float, float]:
    """(max abs error, max relative error) of one tensor over its samples (axis 0); the relative error of a sample
    divides by that sample's largest reference magnitude."""
    max_abs = max_rel = 0.0
    for want, have in zip(expected, got):
        if not want.size:
            continue
        diff = float(np.max(np.abs(want.astype(np.float64) - have.astype(np.float64))))
        scale = float(np.max(np.abs(want)))
        max_abs = max(max_abs, diff)
        max_rel = max(max_rel, diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf")))
    return max_abs, max_rel


def _within(error: tuple[float, float], tolerance: Tolerance) -> bool:
    return error[0] <= tolerance.max_abs or error[1] <= tolerance.max_rel


def _constant_would_pass(values: np.ndarray, tolerance: Tolerance, relative_only: bool = False) -> bool:
    """True when one constant (the midpoint of the reference's range) passes the check against these values:
    then the check cannot tell a working variant from a broken one that outputs a constant."""
    if not values.size or not np.isfinite(values).all():
        return False
    values = values.astype(np.float64)
    half_spread = (float(values.max()) - float(values.min())) / 2
    scale = float(np.max(np.abs(values)))
    allowed = tolerance.max_rel * scale if relative_only else max(tolerance.max_abs, tolerance.max_rel * scale)
    return half_spread <= allowed


MAX_WALK_BACK = 8   # ops from an output back to a stand-in: the classifier head, not the body of the network


def _stand_in(reference: Path, candidate: Path, ref_inputs: list[dict], cand_inputs: list[dict], ref_output: int,
              cand_output: int, feeds: list[list[np.ndarray]],
              tolerance: Tolerance) -> tuple[str, tuple[str, ...], tuple[float, float]] | None:
    """Walk back from an output through the ops producing it, in both graphs alike (same op each step, along the
    first runtime input), to the first tensor whose reference values a constant would not match relatively;
    (its name, the ops walked through, its errors), or None."""
    from devlab.build.gpu_compat import constant_like_tensors
    from devlab.build.tflite_graph import read_tflite

    chain: list[tuple[int, int, str]] = []
    graphs = [read_tflite(reference), read_tflite(candidate)]
    producers = [{t: node for node in g.ops for t in node.outputs} for g in graphs]
    constants = [constant_like_tensors(g) for g in graphs]
    indices = (ref_output, cand_output)
    for _ in range(MAX_WALK_BACK):
        nodes = [producers[k].get(indices[k]) for k in (0, 1)]
        if nodes[0] is None or nodes[1] is None or nodes[0].op != nodes[1].op:
            break
        runtime = [[t for t in nodes[k].inputs if t >= 0 and t not in constants[k]] for k in (0, 1)]
        if not runtime[0] or not runtime[1]:
            break
        indices = (runtime[0][0], runtime[1][0])
        if graphs[0].tensor(indices[0]).shape != graphs[1].tensor(indices[1]).shape:
            break
        if indices[0] not in producers[0]:   # a model input: the same feed in both, it would tell nothing
            break
        chain.append((indices[0], indices[1], nodes[0].op))
    if not chain:
        return None
    ref, cand = _interpreter(reference, keep_all=True), _interpreter(candidate, keep_all=True)
    ref_values: list[list[np.ndarray]] = [[] for _ in chain]
    cand_values: list[list[np.ndarray]] = [[] for _ in chain]
    for feed in feeds:
        _run(ref, ref_inputs, [], feed)
        _run(cand, cand_inputs, [], feed)
        for k, (r, c, _) in enumerate(chain):
            ref_values[k].append(np.array(ref.get_tensor(r)))
            cand_values[k].append(np.array(cand.get_tensor(c)))
    for k, (r, _, _) in enumerate(chain):
        expected, got = np.stack(ref_values[k]), np.stack(cand_values[k])
        if not _constant_would_pass(expected, tolerance, relative_only=True):
            path = tuple(op for _, _, op in chain[:k + 1])
            return graphs[0].tensor(r).name, path, _errors(expected, got)
    return None


def _interpreter(path: Path, keep_all: bool = False):  # -> ai_edge_litert.interpreter.Interpreter
    """`keep_all`: every intermediate tensor stays readable after invoke (no arena reuse: more memory)."""
    import warnings

    from ai_edge_litert.interpreter import Interpreter

    if not Path(path).is_file():
        raise ModelError(f"model file {path} does not exist", "run `devlab build` first")
    try:
        with warnings.catch_warnings():   # the runtime warns that keeping every tensor is for debugging: it is
            warnings.simplefilter("ignore")
            interpreter = Interpreter(model_path=str(path), num_threads=2,
                                      experimental_preserve_all_tensors=keep_all)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:   # the runtime's reason and a fix that applies (custom op, ...)
        from devlab.bench.runtime_errors import explain_runtime_error
        reason, fix = explain_runtime_error(str(exc))
        raise ModelError(f"LiteRT cannot prepare {path} for the equivalence check: {reason}", fix) from None
    return interpreter


def _by_name(details: list[dict]) -> list[dict]:
    # Variants of one model keep the signature's tensor names, not necessarily the tensor order.
    return sorted(details, key=lambda d: d["name"])


def _run(interpreter, inputs: list[dict], outputs: list[dict], feeds: list[np.ndarray]) -> list[np.ndarray]:
    for detail, value in zip(inputs, feeds):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    return [np.array(interpreter.get_tensor(d["index"])) for d in outputs]


def _stacked(runs: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per output, its values over all samples."""
    return [np.stack(values) for values in zip(*runs)] if runs else []
