"""Memory of a built .tflite graph: weight bytes, and activation bytes naive and planned.

Naive: every runtime tensor (graph inputs, intermediates, outputs) its own buffer, the sum of their sizes.
Planned: buffers share memory when their lifetimes do not overlap, with offsets picked greedy-by-size, the
assignment ML Drift (arXiv 2505.00232, "memory management") uses to cut SD 1.4's intermediate memory from 4.31 GB
to 387 MB, and the one LiteRT's GPU delegate ships as GreedyBySizeAssignment
(tensorflow/lite/delegates/gpu/common/memory_management/greedy_by_size_assignment.h): take tensors in
non-increasing size order; among already placed tensors whose usage intervals [first op..last op] intersect this
one's, put it in the smallest gap that fits, else after the rightmost of them.

Lifetimes follow the execution order of the primary subgraph (the ops' order in the flatbuffer): a tensor lives from
the op that writes it (graph inputs: from the first op) to the last op that reads it (graph outputs: to the end).
Sizes are the tensors' dtypes as built (an fp16 build keeps float32 activations; its weights are float16
constants). `planned_fp16_bytes` re-sizes float32 activations at 2 bytes, the precision a GPU delegate runs in with
fp16 allowed, which is what ML Drift's figures count. Not modelled: alignment padding, in-place ops (RESHAPE
aliasing its input), kernel scratch buffers, other subgraphs. Every figure is computed from the graph: "estimated".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from devlab.build.tflite_graph import TensorInfo, TfliteGraph
from devlab.provenance import ESTIMATED

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1, "uint8": 1, "int16": 2,
               "uint16": 2, "int32": 4, "uint32": 4, "int64": 8, "uint64": 8, "bool": 1, "int4": 1}


@dataclass(frozen=True)
class Usage:
    """One runtime tensor: its size and the ops (execution indices, inclusive) during which it must be held."""

    tensor: int
    size: int
    first: int
    last: int

    def overlaps(self, other: "Usage") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class MemoryPlan:
    weights_bytes: int                      # constant buffers in the file
    weights_by_dtype: dict[str, int]
    derived_constant_bytes: int             # outputs of ops that read only constants (DEQUANTIZE of fp16 weights)
    activations_naive_bytes: int            # every runtime tensor its own buffer
    activations_planned_bytes: int          # greedy-by-size offsets over lifetimes
    activations_by_dtype: dict[str, int]    # naive bytes per dtype as built
    planned_fp16_bytes: int                 # the plan again with float32 activations at 2 bytes (GPU fp16)
    activation_tensors: int
    largest_tensor: str
    largest_tensor_bytes: int
    offsets: dict[int, int]                 # tensor index -> planned offset (not stored in manifests)

    def to_json(self) -> dict[str, object]:
        return {
            "source": ESTIMATED,
            "method": "greedy-by-size offsets over tensor lifetimes in execution order (ML Drift; LiteRT GPU "
                      "delegate GreedyBySizeAssignment); no alignment, no in-place aliasing",
            "weights_bytes": self.weights_bytes, "weights_by_dtype": self.weights_by_dtype,
            "derived_constant_bytes": self.derived_constant_bytes,
            "activations_naive_bytes": self.activations_naive_bytes,
            "activations_planned_bytes": self.activations_planned_bytes,
            "activations_by_dtype": self.activations_by_dtype,
            "activations_planned_fp16_bytes": self.planned_fp16_bytes,
            "activation_tensors": self.activation_tensors,
            "largest_tensor": {"name": self.largest_tensor, "bytes": self.largest_tensor_bytes},
        }


def tensor_bytes(tensor: TensorInfo, *, float32_as: int = 4) -> int:
    per = DTYPE_BYTES.get(tensor.dtype, 4)
    if tensor.dtype == "float32":
        per = float32_as
    return tensor.elements * per


def usages(graph: TfliteGraph, *, float32_as: int = 4) -> tuple[list[Usage], set[int]]:
    """Runtime tensors with their lifetimes, and the set of derived-constant tensors left out of them."""
    constant = {t.index for t in graph.tensors if t.is_constant}
    derived: set[int] = set()
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    end = max(len(graph.ops) - 1, 0)
    for index in graph.inputs:
        first[index] = 0
        last[index] = 0
    for node in graph.ops:
        reads = [i for i in node.inputs if i >= 0]
        for i in reads:
            if i in first:
                last[i] = max(last[i], node.index)
        # Computed once from weights (e.g. DEQUANTIZE of an fp16 constant): held like a weight, not planned.
        from_constants = bool(reads) and all(i in constant or i in derived for i in reads)
        for out in node.outputs:
            if out < 0:
                continue
            if from_constants:
                derived.add(out)
                continue
            first.setdefault(out, node.index)
            last[out] = max(last.get(out, node.index), node.index)
    for index in graph.outputs:
        if index in first:
            last[index] = end
    records = [Usage(i, tensor_bytes(graph.tensors[i], float32_as=float32_as), first[i], last[i])
               for i in sorted(first) if i not in constant]
    return records, derived


def greedy_by_size(records: list[Usage]) -> tuple[int, dict[int, int]]:
    """(arena bytes, tensor -> offset): GreedyBySizeAssignment's rule, ties broken by tensor index."""
    placed: list[tuple[int, Usage]] = []   # (offset, usage), kept sorted by offset
    offsets: dict[int, int] = {}
    total = 0
    for record in sorted(records, key=lambda r: (-r.size, r.tensor)):
        best: int | None = None
        best_gap = 0
        previous_end = 0
        for offset, other in placed:
            if not record.overlaps(other):
                continue
            gap = offset - previous_end
            if gap >= record.size and (best is None or gap < best_gap):
                best, best_gap = previous_end, gap
            previous_end = max(previous_end, offset + other.size)
        chosen = previous_end if best is None else best
        offsets[record.tensor] = chosen
        placed.append((chosen, record))
        placed.sort(key=lambda item: (item[0], item[1].tensor))
        total = max(total, chosen + record.size)
    return total, offsets


def plan_memory(graph: TfliteGraph) -> MemoryPlan:
    weights_by_dtype: dict[str, int] = defaultdict(int)
    for tensor in graph.tensors:
        if tensor.is_constant:
            weights_by_dtype[tensor.dtype] += tensor.buffer_bytes
    records, derived = usages(graph)
    planned, offsets = greedy_by_size(records)
    planned_fp16, _ = greedy_by_size(usages(graph, float32_as=2)[0])
    by_dtype: dict[str, int] = defaultdict(int)
    for record in records:
        by_dtype[graph.tensors[record.tensor].dtype] += record.size
    largest = max(records, key=lambda r: (r.size, -r.tensor), default=None)
    return MemoryPlan(
        weights_bytes=sum(weights_by_dtype.values()),
        weights_by_dtype=dict(sorted(weights_by_dtype.items())),
        derived_constant_bytes=sum(tensor_bytes(graph.tensors[i]) for i in derived),
        activations_naive_bytes=sum(r.size for r in records),
        activations_planned_bytes=planned,
        activations_by_dtype=dict(sorted(by_dtype.items())),
        planned_fp16_bytes=planned_fp16,
        activation_tensors=len(records),
        largest_tensor=graph.tensors[largest.tensor].name if largest else "",
        largest_tensor_bytes=largest.size if largest else 0,
        offsets=offsets,
    )


def format_bytes(count: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def memory_summary(memory: dict[str, object]) -> str:
    """One line for `build --explain` from a manifest entry's `memory` (estimated)."""
    weights = ", ".join(f"{dtype} {format_bytes(int(n))}" for dtype, n in dict(memory["weights_by_dtype"]).items())
    return (f"memory (estimated): weights {format_bytes(int(memory['weights_bytes']))}"
            f"{f' ({weights})' if weights else ''}; activations naive "
            f"{format_bytes(int(memory['activations_naive_bytes']))}, planned "
            f"{format_bytes(int(memory['activations_planned_bytes']))} as built, "
            f"{format_bytes(int(memory['activations_planned_fp16_bytes']))} at fp16; largest tensor "
            f"{dict(memory['largest_tensor'])['name']} {format_bytes(int(dict(memory['largest_tensor'])['bytes']))}")
