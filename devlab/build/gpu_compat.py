"""Predict which ops the TFLite GPU delegate takes, which it leaves on the CPU, and why.

TF's model analyzer no longer performs this check (it reports "compatible" regardless), so devlab carries its own
rules, written from the delegate's public compatibility checks (../shared/specs/gpu_delegate.md):
- the op must be one the delegate parses, at a version it accepts;
- no runtime tensor of rank > 4, no dynamic shapes, float/quantized types only;
- op-specific rules: reduction axes constant, SOFTMAX beta == 1, BATCH_MATMUL with exactly 2 inputs,
  FULLY_CONNECTED with default weights and a runtime input, limited broadcasting for binary ops.
Then the graph is cut into partitions the way TFLite's partitioner does (alternating maximal sets of supported /
unsupported nodes whose inputs are ready), and only the largest `max_delegated_partitions` partitions are
delegated (the GPU delegate's default is 1); supported ops outside them run on the CPU too, and say so.
fp16 weights follow FP16GraphPartitionHelper (tensorflow/lite/delegates/utils.cc): a DEQUANTIZE of an fp16
constant counts as unsupported while partitioning (its consumers read the fp16 constant directly); if every other
op is supported the whole graph, DEQUANTIZEs included, is delegated, otherwise the largest partitions are chosen
without any of those DEQUANTIZEs, which all stay on the CPU.
These are predictions: `devlab` records them next to what a real delegate reported, never instead of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from devlab.build.tflite_graph import OpNode, TfliteGraph

Applied = Literal["full", "partial", "none"]

SUPPORTED_OPS = frozenset("""
ABS ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS CUMSUM DENSIFY DEPTH_TO_SPACE
DEPTHWISE_CONV_2D DEQUANTIZE DIV ELU EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GELU GREATER
GREATER_EQUAL HARD_SWISH LEAKY_RELU LESS LESS_EQUAL LOG LOGICAL_AND LOGISTIC LSTM MAX_POOL_2D MAXIMUM MEAN
MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD PADV2 POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD
RELU RELU_0_TO_1 RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SIGN
SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TILE
TRANSPOSE TRANSPOSE_CONV UNPACK
""".split())

SUPPORTED_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D",
                                  "Resampler"})

# Highest op version the delegate accepts, for the ops whose limit we know; others are not version-checked.
MAX_OP_VERSION = {
    "ADD": 2, "CONCATENATION": 2, "CONV_2D": 6, "DEPTHWISE_CONV_2D": 6, "FULLY_CONNECTED": 9, "MUL": 3,
    "SOFTMAX": 2, "RESHAPE": 1, "PAD": 2, "AVERAGE_POOL_2D": 2, "MAX_POOL_2D": 2, "TRANSPOSE_CONV": 3,
}

_FLOAT_TYPES = frozenset({"float32", "float16"})
_GPU_TYPES = _FLOAT_TYPES | {"int8", "uint8", "int32", "bool", "int16"}
_REDUCTIONS = frozenset({"MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"})
_BROADCAST_CHECKED = frozenset({"ADD", "MUL", "SUB", "DIV"})


@dataclass(frozen=True)
class OpVerdict:
    node: int
    op: str
    on_gpu: bool
    reason: str | None          # why it is not on the GPU (None when it is)
    supported: bool = True      # the delegate could run it; False means an op-level rule rejected it


@dataclass(frozen=True)
class DelegationPlan:
    verdicts: tuple[OpVerdict, ...]
    partitions: tuple[tuple[int, ...], ...]     # every partition of supported nodes, execution order
    delegated: tuple[int, ...]                  # nodes the delegate takes, execution order
    applied: Applied
    ops_on_gpu: int
    ops_on_cpu: int
    max_delegated_partitions: int = 1

    def cpu_ops(self) -> tuple[OpVerdict, ...]:
        return tuple(v for v in self.verdicts if not v.on_gpu)

    def to_json(self) -> dict[str, object]:
        return {
            "source": "estimated",
            "applied": self.applied,
            "ops_on_gpu": self.ops_on_gpu,
            "ops_on_cpu": self.ops_on_cpu,
            "partitions": len(self.partitions),
            "delegated_partitions": min(len(self.partitions), self.max_delegated_partitions),
            "delegated_nodes": list(self.delegated),
            "cpu_ops": [{"node": v.node, "op": v.op, "reason": v.reason} for v in self.cpu_ops()],
        }


# A dynamic dimension comes from the model before conversion (a Keras `None` batch): the fix is a fixed shape there.
DYNAMIC_SHAPE_FIX = ("convert with fixed input shapes: `devlab build` of a Keras model fixes a None batch to 1 by "
                     "default, and --input-shape NAME=1x224x224x3 sets any other size")

FP16_DEQUANTIZE_REASON = ("fp16-constant DEQUANTIZE: folded into its consumers only when the whole graph is "
                          "delegated; with a partial delegation it stays on the CPU")


def fp16_constant_dequantize_nodes(graph: TfliteGraph) -> frozenset[int]:
    """DEQUANTIZE ops whose input is a float16 constant: the delegate's FP16GraphPartitionHelper treats these apart."""
    return frozenset(node.index for node in graph.ops
                     if node.op == "DEQUANTIZE" and node.inputs and node.inputs[0] >= 0
                     and graph.tensor(node.inputs[0]).is_constant and graph.tensor(node.inputs[0]).dtype == "float16")


def constant_like_tensors(graph: TfliteGraph) -> frozenset[int]:
    """Constant tensors plus the outputs of DEQUANTIZE ops fed by constants: fp16-weight models store weights as
    fp16 constants behind a DEQUANTIZE, and the GPU delegate folds those back into constant weights."""
    constant = {t.index for t in graph.tensors if t.is_constant}
    for node in graph.ops:
        if node.op == "DEQUANTIZE" and node.inputs and node.inputs[0] in constant:
            constant.update(node.outputs)
    return frozenset(constant)


# The rewrite (devlab/build/rewrites.py) that removes a rejection, by the start of the reason's text: what
# `build --explain` and the report show beside each group of rejected ops. None: devlab knows no rewrite for it.
_FIX_BY_REASON: tuple[tuple[str, str], ...] = (
    ("Tensor dimensions must be less than 5", "groupnorm-4d (Keras GroupNormalization) or upsample-resize "
                                              "(Keras UpSampling2D): both keep the tensors 4-D"),
    ("Only support 1D indices", "gather-1d (token ids flattened to 1-D)"),
    ("Softmax.beta != 1", "attention-4d (the scale folded into the query weights, softmax beta 1)"),
    ("Not supported op ERF", "gelu-builtin (one GELU op) or gelu-tanh (no erf)"),
    ("Dynamic shapes are not supported", "--input-shape NAME=1x... (a Keras None batch is fixed to 1 already)"),
    (FP16_DEQUANTIZE_REASON[:24], "none of its own: it is folded once the rest of the graph is whole on the GPU"),
)


def rewrite_for(reason: str | None) -> str | None:
    """The rewrite or option that removes this rejection, when devlab has one."""
    return next((fix for start, fix in _FIX_BY_REASON if (reason or "").startswith(start)), None)


def check_op(graph: TfliteGraph, node: OpNode, constants: frozenset[int] | None = None) -> str | None:
    """The reason the delegate rejects this op, or None when it accepts it."""
    constants = constant_like_tensors(graph) if constants is None else constants
    if node.op.startswith("CUSTOM:"):
        name = node.op.split(":", 1)[1]
        return None if name in SUPPORTED_CUSTOM_OPS else f"Not supported custom op {name}"
    if node.op not in SUPPORTED_OPS:
        return f"Not supported op {node.op}"
    limit = MAX_OP_VERSION.get(node.op)
    if limit is not None and node.version > limit:
        return f"Max version supported: {limit}. Requested version {node.version}."
    for index in (*node.inputs, *node.outputs):
        if index < 0:
            continue
        tensor = graph.tensor(index)
        if tensor.rank > 4 and index not in constants:
            return "Tensor dimensions must be less than 5 (found rank %d on %s)" % (tensor.rank, tensor.name)
        if tensor.dynamic:
            return f"Dynamic shapes are not supported (tensor {tensor.name}); {DYNAMIC_SHAPE_FIX}"
        if tensor.dtype not in _GPU_TYPES:
            return f"Tensor type {tensor.dtype} is not supported (tensor {tensor.name})"
    rule = _OP_RULES.get(node.op)
    if rule is None and node.op in _REDUCTIONS:
        rule = _reduction_rule
    return rule(graph, node, constants) if rule else None


def plan_gpu_delegation(graph: TfliteGraph, max_delegated_partitions: int = 1) -> DelegationPlan:
    limit = max(1, max_delegated_partitions)  # the GPU delegate treats <= 0 as 1
    constants = constant_like_tensors(graph)
    fp16_dequantize = fp16_constant_dequantize_nodes(graph)
    reasons = {node.index: (FP16_DEQUANTIZE_REASON if node.index in fp16_dequantize
                            else check_op(graph, node, constants)) for node in graph.ops}
    supported = {index for index, reason in reasons.items() if reason is None}
    partitions = partition_nodes(graph, supported)
    if fp16_dequantize and len(supported) + len(fp16_dequantize) == len(graph.ops):
        # FP16GraphPartitionHelper's full delegation: nothing on the CPU needs a DEQUANTIZE output.
        delegated = tuple(node.index for node in graph.ops)
    else:
        chosen = sorted(partitions, key=lambda part: (-len(part), part[0]))[:limit]
        delegated = tuple(sorted(index for part in chosen for index in part))
    delegated_set = set(delegated)
    verdicts = []
    for node in graph.ops:
        reason = reasons[node.index]
        on_gpu = node.index in delegated_set
        if reason is None and not on_gpu:
            reason = (f"supported, but outside the delegated partition (the delegate takes only the largest "
                      f"{limit} of {len(partitions)} partitions)")
        verdicts.append(OpVerdict(node.index, node.op, on_gpu, None if on_gpu else reason,
                                  supported=reasons[node.index] is None or node.index in fp16_dequantize))
    on_gpu_count = len(delegated)
    total = len(graph.ops)
    applied: Applied = "full" if total and on_gpu_count == total else ("none" if on_gpu_count == 0 else "partial")
    return DelegationPlan(tuple(verdicts), tuple(partitions), delegated, applied, on_gpu_count,
                          total - on_gpu_count, limit)


def partition_nodes(graph: TfliteGraph, supported: set[int]) -> list[tuple[int, ...]]:
    """Cut the graph like TFLite's partitioner: alternate between supported and unsupported nodes, each time
    taking every node of the current kind whose producers are all done; keep the supported subsets."""
    producer = {}
    for node in graph.ops:
        for tensor in node.outputs:
            producer[tensor] = node.index
    deps = {node.index: {producer[t] for t in node.inputs if t in producer} for node in graph.ops}
    done: set[int] = set()
    pending = [node.index for node in graph.ops]
    partitions: list[tuple[int, ...]] = []
    if not pending:
        return partitions
    want_supported = pending[0] in supported
    while pending:
        subset: list[int] = []
        progress = True
        while progress:
            progress = False
            for index in pending:
                if index in done or (index in supported) != want_supported:
                    continue
                if deps[index] <= done:
                    subset.append(index)
                    done.add(index)
                    progress = True
        pending = [index for index in pending if index not in done]
        if subset and want_supported:
            partitions.append(tuple(sorted(subset)))
        want_supported = not want_supported
    return partitions


def _runtime_inputs(node: OpNode, constants: frozenset[int]) -> list[int]:
    return [i for i in node.inputs if i >= 0 and i not in constants]


def _reduction_rule(graph: TfliteGraph, node: OpNode, constants: frozenset[int]) -> str | None:
    if len(node.inputs) < 2 or node.inputs[1] < 0 or node.inputs[1] not in constants:
        return f"{node.op} needs constant int32 axes"
    return None


def _softmax_rule(graph: TfliteGraph, node: OpNode, constants: frozenset[int]) -> str | None:
    beta = float(node.options.get("beta", 1.0))
    return None if abs(beta - 1.0) < 1e-6 else f"Softmax.beta != 1 is not supported (beta={beta:g})"


def _batch_matmul_rule(graph: TfliteGraph, node: OpNode, constants: frozenset[int]) -> str | None:
    if len(node.inputs) != 2 or len(node.outputs) != 1:
        return f"Expected 2 inputs and 1 output, got: {len(node.inputs)} inputs and {len(node.outputs)} outputs"
    return None


def _fully_connected_rule(graph: TfliteGraph, node: OpNode, constants: frozenset[int]) -> str | None:
    if int(node.options.get("weightsFormat", 0)) != 0:
        return f"Unsupported FullyConnected weights format: {node.options.get('weightsFormat')}"
    if len(_runtime_inputs(node, constants)) > 2:
        return "FullyConnected doesn't support more than 2 runtime inputs."
    if node.inputs and node.inputs[0] in constants:
        return "FullyConnected doesn't support constant input."
    if node.options.get("keepNumDims"):
        if graph.tensor(node.inputs[0]).rank != graph.tensor(node.outputs[0]).rank:
            return "Input and output dimensions different and FullyConnected doesn't support keep_num_dims."
    return None


def _broadcast_rule(graph: TfliteGraph, node: OpNode, constants: frozenset[int]) -> str | None:
    if len(node.inputs) != 2:
        return f"{node.op} requires two input tensors."
    first, second = (graph.tensor(i).shape for i in node.inputs)
    if len(first) > 1 and len(second) > 1 and len(first) != len(second):
        longer, shorter = (first, second) if len(first) >= len(second) else (second, first)
        ok = (len(longer) == 4 and len(shorter) == 3 and longer[0] == 1) or \
             (len(longer) == 4 and len(shorter) == 2 and longer[0] == 1 and shorter == (1, 1)) or \
             (len(longer) == 4 and len(shorter) == 2 and longer[0] == shorter[0] and longer[3] == shorter[1])
        if not ok:
            return (f"Doesn't support broadcasting - input0: [{','.join(map(str, first))}], "
                    f"input1: [{','.join(map(str, second))}]")
    return None


def _gather_rule(graph: TfliteGraph, node: OpNode, constants: frozenset[int]) -> str | None:
    # Seen on LiteRT 2.3.0's GPU accelerator (H200, docs/gpu-results.md): a (1, T) token-id GATHER was refused.
    if len(node.inputs) > 1 and node.inputs[1] >= 0 and graph.tensor(node.inputs[1]).rank != 1:
        return "Only support 1D indices"
    # Seen there too (docs/gpu-results.md, run 2): with fp16 weights the delegate points GATHER at the fp16 table
    # behind its DEQUANTIZE, and then refuses the float16-in / float32-out pair. devlab's own fp16 builds avoid it
    # (fp16_fixups: gather-table-fp32, run 3: 140 / 0); the rule stays for .tflite files converted elsewhere.
    if node.inputs and any(other.op == "DEQUANTIZE" and node.inputs[0] in other.outputs
                           for other in graph.ops if other.index in fp16_constant_dequantize_nodes(graph)):
        return "Input / output dtype mismatch."
    return None


_OP_RULES: dict[str, Callable[[TfliteGraph, OpNode, frozenset[int]], str | None]] = {
    "GATHER": _gather_rule,
    "SOFTMAX": _softmax_rule,
    "BATCH_MATMUL": _batch_matmul_rule,
    "FULLY_CONNECTED": _fully_connected_rule,
    **{op: _broadcast_rule for op in _BROADCAST_CHECKED},
}
