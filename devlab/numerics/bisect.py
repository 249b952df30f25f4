"""`devlab numerics bisect`: which ops make a variant's outputs diverge on an accelerator, and what fixes them.

The variant runs once on the host CPU in fp32 (the reference, devlab.numerics.reference) keeping every tensor;
its probe (devlab.numerics.probe) runs once on the device, every op fed the reference's values of its inputs. Each
op's outputs are compared with the reference's: the error the op introduces. Ops are ranked with the ones whose
own output went non-finite from finite inputs first (fp16 overflow: the reference's output is beyond 65504), then
by relative error. Each row says whether the reference's output is out of fp16's range (|x| > 65504) or has
values fp16 stores as subnormals (0 < |x| < 2^-14), and the fix devlab knows for it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from devlab.build.tflite_graph import read_tflite
from devlab.numerics.metrics import DEFAULT_MAX_REL_ERROR, compare
from devlab.numerics.model_io import ModelIo, read_model_io
from devlab.numerics.probe import Probe, build_probe
from devlab.numerics.reference import REFERENCE_RUNTIME, run_reference

FP16_MAX = 65504.0
FP16_MIN_NORMAL = 2.0 ** -14
NORMALIZATION_OPS = frozenset({"MEAN", "SQUARED_DIFFERENCE", "RSQRT", "SUM"})

RunProbe = Callable[[bytes, ModelIo, dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass(frozen=True)
class Culprit:
    node: int
    op: str
    output: str                     # the variant's tensor name
    dtype: str
    max_abs_error: float | None     # None: non-finite on the device where the reference is finite
    max_rel_error: float | None
    non_finite: int
    reference_max_abs: float
    fp16_overflow: bool             # the reference's output is beyond fp16's range
    fp16_subnormal: float           # share of the reference's nonzero output values below fp16's smallest normal
    inputs_out_of_fp16: bool        # the reference's inputs of this op are already beyond fp16's range
    fix: str | None

    @property
    def introduced(self) -> float:
        return math.inf if self.non_finite or self.max_rel_error is None else self.max_rel_error


@dataclass(frozen=True)
class BisectResult:
    variant: str
    device: str
    accelerator: str
    source: str                      # of the device's numbers: measured or simulated
    reference: dict[str, Any]
    ops_probed: int
    skipped: tuple[int, ...]
    culprits: tuple[Culprit, ...]    # ranked, worst first

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        rows = self.culprits[:top] if top else self.culprits
        return {"variant": self.variant, "device": self.device, "accelerator": self.accelerator,
                "source": self.source, "reference": self.reference, "ops_probed": self.ops_probed,
                "skipped_nodes": list(self.skipped), "culprits": [asdict(c) for c in rows]}


def bisect(model_data: bytes, variant: str, device: str, accelerator: str, source: str,
           feeds: dict[str, np.ndarray], inputs_label: str, run_probe: RunProbe,
           tolerance: float = DEFAULT_MAX_REL_ERROR, on_gpu_fp16: bool = True) -> BisectResult:
    graph = read_tflite(model_data)
    io = read_model_io(model_data)
    _, tensors = run_reference(model_data, io, feeds, keep_all=True)
    probe: Probe = build_probe(model_data, graph)
    probe_io = read_model_io(probe.data)
    probe_feeds = {name: tensors[index].astype(spec.dtype) for node in probe.nodes for name, index in node.inputs
                   for spec in probe_io.inputs if spec.name == name}
    got = run_probe(probe.data, probe_io, probe_feeds)
    culprits: list[Culprit] = []
    for node in probe.nodes:
        inputs_out = any(np.issubdtype(tensors[i].dtype, np.floating) and
                         float(np.max(np.abs(tensors[i]), initial=0.0)) > FP16_MAX for _, i in node.inputs)
        for name, index in node.outputs:
            reference = tensors[index]
            if not np.issubdtype(reference.dtype, np.floating):
                continue
            error = compare(name, reference, got[name])
            magnitude = np.abs(reference[np.isfinite(reference)].astype(np.float64))
            peak = float(magnitude.max(initial=0.0))
            nonzero = magnitude[magnitude > 0]
            subnormal = float(np.mean(nonzero < FP16_MIN_NORMAL)) if nonzero.size else 0.0
            culprit = Culprit(node.node, node.op, graph.tensor(index).name, str(reference.dtype),
                              error.max_abs_error, error.max_rel_error, error.non_finite, peak, peak > FP16_MAX,
                              round(subnormal, 4), inputs_out, None)
            culprits.append(_with_fix(culprit, accelerator, tolerance, on_gpu_fp16))
    culprits.sort(key=lambda c: (not (c.non_finite and not c.inputs_out_of_fp16), -c.introduced, c.node))
    reference = {"runtime": REFERENCE_RUNTIME, "source": "measured", "inputs": inputs_label,
                 "what": "each op's output from reference inputs (error introduced, not accumulated)"}
    return BisectResult(variant, device, accelerator, source, reference, len(probe.nodes), probe.skipped,
                        tuple(culprits))


def _with_fix(c: Culprit, accelerator: str, tolerance: float, on_gpu_fp16: bool) -> Culprit:
    fix: str | None = None
    if c.fp16_overflow and not c.inputs_out_of_fp16 and accelerator == "gpu":
        fix = (f"its output reaches {c.reference_max_abs:.3g}, beyond fp16's 65504: keep node {c.node} ({c.op}) in "
               "fp32 or scale its inputs/weights down; `--gpu-precision fp32` runs the whole graph in fp32")
    elif c.inputs_out_of_fp16 and c.non_finite:
        fix = "its inputs are already beyond fp16's range: fix the op that produces them (ranked above)"
    elif c.introduced > tolerance:
        if c.op == "SOFTMAX":
            fix = ("softmax in fp16: the attention-4d-fused-softmax rewrite (max-subtracted), or keep it in fp32")
        elif c.op in NORMALIZATION_OPS:
            fix = "a normalization's statistics in fp16: the groupnorm-4d rewrite, or keep it in fp32"
        elif accelerator == "gpu" and on_gpu_fp16:
            fix = "beyond tolerance in fp16: `--gpu-precision fp32`, or keep this op in fp32"
        elif accelerator == "gpu":   # fp32 on the GPU and still off: the GPU's kernel, not precision (docs/numerics.md)
            fix = ("off even in fp32: the GPU's kernel disagrees with the CPU reference, not a precision issue; "
                   "report it to the runtime with the model, or keep this op off the GPU")
        else:
            fix = "beyond tolerance: compare the variant's recipe (quantization) with fp32"
    return Culprit(**{**asdict(c), "fix": fix})
