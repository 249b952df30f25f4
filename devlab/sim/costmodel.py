"""The simulated phone's deterministic cost model: what each op / GPU kernel costs on a profile.

Documented, invented, not measured (every number it yields is `simulated` provenance):
- Work per op from tensor shapes. FLOPs: CONV_2D 2*out*(kh*kw*cin); DEPTHWISE_CONV_2D 2*out*kh*kw;
  FULLY_CONNECTED 2*out*in_features; BATCH_MATMUL 2*out*K; TRANSPOSE_CONV 2*in*kh*kw*cout; SOFTMAX/EXP/LOGISTIC/
  TANH/GELU/HARD_SWISH 5*out; everything else 1*out. Bytes: every input (weights included) and output tensor,
  element size from the dtype (fp16 halves float32 traffic on the GPU when precision loss is allowed).
- GPU kernel: `gpu_dispatch_us + max(flops / gpu_gflops, bytes / gpu_gbps)` (roofline, fp16 or fp32 GFLOP/s).
- CPU op: `cpu_op_overhead_us + max(flops / (cpu_gflops_per_thread * threads), bytes / cpu_gbps)`.
- Partition boundary: every tensor that crosses between the CPU and the delegated partition (graph inputs and
  outputs included) costs `copy_overhead_us + bytes / copy_gbps`.
- Kernels: the delegated partition's nodes in execution order; a node's GPU graph id (the number in a label) is its
  POSITION in that order, 0-based. An element-wise node whose only non-constant input is the previous kernel's
  output, used by nothing else, is fused into that kernel as `-> <op> <id>`. A 3x3 stride-1 CONV_2D with >= 128
  input and output channels and >= 64 output tiles becomes the Winograd triple (same id): F(4x4,3x3) cuts its FLOPs
  by 2.25x and adds two transform kernels.
- Thermal throttling: the power model (devlab/sim/power.py) slows a run that starts while the phone is hot (GPU
  time / the allowed clock factor, CPU time / half that cut); benchmark_model.py applies it.
- Not modelled: mean_stddev_normalization fusion, cache effects beyond the first run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from devlab.build.gpu_compat import DelegationPlan
from devlab.build.tflite_graph import OpNode, TfliteGraph
from devlab.sim.profiles import CostModel

_DTYPE_BYTES = {"float32": 4, "float16": 2, "int32": 4, "int64": 8, "int8": 1, "uint8": 1, "int16": 2, "bool": 1,
                "float64": 8, "complex64": 8}
_TRANSCENDENTAL = {"SOFTMAX", "EXP", "LOGISTIC", "TANH", "GELU", "HARD_SWISH", "LOG_SOFTMAX", "RSQRT", "POW"}
_ELEMENTWISE = {"ADD", "MUL", "SUB", "DIV", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LEAKY_RELU", "PRELU",
                "LOGISTIC", "TANH", "HARD_SWISH", "ELU", "ABS", "NEG", "SQUARE", "SQRT", "RSQRT", "EXP", "GELU",
                "MAXIMUM", "MINIMUM", "POW"}
GPU_OP_TYPES = {
    "CONV_2D": "convolution_2d", "DEPTHWISE_CONV_2D": "depthwise_convolution", "FULLY_CONNECTED": "fully_connected",
    "ADD": "add", "MUL": "mul", "SUB": "sub", "DIV": "div", "CONCATENATION": "concat", "AVERAGE_POOL_2D": "pooling_2d",
    "MAX_POOL_2D": "pooling_2d", "RESHAPE": "reshape", "SOFTMAX": "softmax", "MEAN": "mean", "SUM": "reduce_sum",
    "PAD": "pad", "PADV2": "pad", "MIRROR_PAD": "pad", "RESIZE_BILINEAR": "resize", "RESIZE_NEAREST_NEIGHBOR": "resize",
    "BATCH_MATMUL": "batched_matmul", "TRANSPOSE_CONV": "convolution_transposed", "HARD_SWISH": "hard_swish",
    "LOGISTIC": "sigmoid", "TANH": "tanh", "RELU": "relu", "RELU6": "relu", "GELU": "gelu", "EXP": "exp",
    "GATHER": "gather", "TRANSPOSE": "transpose", "STRIDED_SLICE": "slice", "SLICE": "slice", "RSQRT": "rsqrt",
    "SQUARED_DIFFERENCE": "squared_difference", "MAXIMUM": "maximum", "MINIMUM": "minimum", "PRELU": "prelu",
}


@dataclass(frozen=True)
class Kernel:
    label: str                 # `convolution_2d 3 -> relu 4`
    nodes: tuple[int, ...]     # TFLite node indices it covers
    us: float                  # simulated GPU time per run


@dataclass(frozen=True)
class CostPlan:
    cpu_us: dict[int, float]           # TFLite node -> simulated CPU time per run (nodes not delegated)
    kernels: tuple[Kernel, ...]        # GPU dispatches per run, in order
    copy_us: float                     # CPU<->GPU copies per run
    delegated: tuple[int, ...]

    @property
    def gpu_us(self) -> float:
        return sum(k.us for k in self.kernels)

    @property
    def total_us(self) -> float:
        return sum(self.cpu_us.values()) + self.gpu_us + self.copy_us


def _elems(shape: tuple[int, ...]) -> int:
    return math.prod(max(1, d) for d in shape) if shape else 1


def tensor_bytes(graph: TfliteGraph, index: int, fp16: bool = False) -> int:
    if index < 0:
        return 0
    tensor = graph.tensor(index)
    size = _DTYPE_BYTES.get(tensor.dtype, 4)
    if fp16 and tensor.dtype == "float32":
        size = 2
    return _elems(tensor.shape) * size


def op_flops(graph: TfliteGraph, node: OpNode) -> float:
    out = sum(_elems(graph.tensor(i).shape) for i in node.outputs if i >= 0)
    shapes = [graph.tensor(i).shape if i >= 0 else () for i in node.inputs]
    if node.op == "CONV_2D" and len(shapes) > 1 and len(shapes[1]) == 4:
        return 2.0 * out * shapes[1][1] * shapes[1][2] * shapes[1][3]
    if node.op == "DEPTHWISE_CONV_2D" and len(shapes) > 1 and len(shapes[1]) == 4:
        return 2.0 * out * shapes[1][1] * shapes[1][2]
    if node.op == "FULLY_CONNECTED" and len(shapes) > 1 and shapes[1]:
        return 2.0 * out * shapes[1][-1]
    if node.op == "BATCH_MATMUL" and shapes and shapes[0]:
        return 2.0 * out * shapes[0][-1]
    if node.op == "TRANSPOSE_CONV" and len(shapes) > 2 and len(shapes[1]) == 4:
        return 2.0 * _elems(shapes[2]) * shapes[1][0] * shapes[1][1] * shapes[1][2]
    return (5.0 if node.op in _TRANSCENDENTAL else 1.0) * out


def op_bytes(graph: TfliteGraph, node: OpNode, fp16: bool = False) -> int:
    return sum(tensor_bytes(graph, i, fp16) for i in (*node.inputs, *node.outputs))


def cpu_op_us(graph: TfliteGraph, node: OpNode, cost: CostModel, threads: int) -> float:
    compute = op_flops(graph, node) / (cost.cpu_gflops_per_thread * threads * 1e3)
    memory = op_bytes(graph, node) / (cost.cpu_gbps * 1e3)
    return cost.cpu_op_overhead_us + max(compute, memory)


def gpu_kernel_us(flops: float, nbytes: int, cost: CostModel, fp16: bool) -> float:
    gflops = cost.gpu_gflops_fp16 if fp16 else cost.gpu_gflops_fp32
    return cost.gpu_dispatch_us + max(flops / (gflops * 1e3), nbytes / (cost.gpu_gbps * 1e3))


def _consumers(graph: TfliteGraph) -> dict[int, list[int]]:
    users: dict[int, list[int]] = {}
    for node in graph.ops:
        for i in node.inputs:
            if i >= 0:
                users.setdefault(i, []).append(node.index)
    return users


def _winograd(graph: TfliteGraph, node: OpNode) -> bool:
    if node.op != "CONV_2D" or node.options.get("strideW", 1) != 1 or node.options.get("strideH", 1) != 1:
        return False
    weights = graph.tensor(node.inputs[1]).shape
    out = graph.tensor(node.outputs[0]).shape
    if len(weights) != 4 or len(out) != 4 or weights[1:3] != (3, 3):
        return False
    tiles = math.ceil(out[1] / 4) * math.ceil(out[2] / 4)
    return weights[0] >= 128 and weights[3] >= 128 and tiles >= 64


def gpu_kernels(graph: TfliteGraph, delegated: tuple[int, ...], cost: CostModel, fp16: bool) -> tuple[Kernel, ...]:
    users = _consumers(graph)
    groups: list[list[int]] = []  # node lists; the first node is the kernel's main op
    for node_index in delegated:
        node = graph.ops[node_index]
        live_inputs = [i for i in node.inputs if i >= 0 and not graph.tensor(i).is_constant]
        if groups and node.op in _ELEMENTWISE and len(live_inputs) == 1:
            tail = graph.ops[groups[-1][-1]]
            if live_inputs[0] in tail.outputs and len(users.get(live_inputs[0], [])) == 1:
                groups[-1].append(node_index)
                continue
        groups.append([node_index])
    position = {node: i for i, node in enumerate(delegated)}
    kernels: list[Kernel] = []
    for group in groups:
        head = graph.ops[group[0]]
        flops = sum(op_flops(graph, graph.ops[n]) for n in group)
        nbytes = op_bytes(graph, head, fp16) + sum(tensor_bytes(graph, graph.ops[n].outputs[0], fp16)
                                                    for n in group[1:] if graph.ops[n].outputs)
        tail = "".join(f" -> {GPU_OP_TYPES.get(graph.ops[n].op, graph.ops[n].op.lower())} {position[n]}"
                       for n in group[1:])
        pid = position[head.index]
        if _winograd(graph, head):
            in_bytes = tensor_bytes(graph, head.inputs[0], fp16)
            out_bytes = tensor_bytes(graph, head.outputs[0], fp16)
            kernels.append(Kernel(f"winograd_4x4_to_36 {pid}", (head.index,),
                                  gpu_kernel_us(0, in_bytes * 2, cost, fp16)))
            kernels.append(Kernel(f"convolution_winograd_4x4_6x6 {pid}", (head.index,),
                                  gpu_kernel_us(flops / 2.25, nbytes, cost, fp16)))
            kernels.append(Kernel(f"winograd_36_to_4x4 {pid}{tail}", tuple(group),
                                  gpu_kernel_us(0, out_bytes * 2, cost, fp16)))
            continue
        label = f"{GPU_OP_TYPES.get(head.op, head.op.lower())} {pid}{tail}"
        kernels.append(Kernel(label, tuple(group), gpu_kernel_us(flops, nbytes, cost, fp16)))
    return tuple(kernels)


def boundary_tensors(graph: TfliteGraph, delegated: tuple[int, ...]) -> list[int]:
    """Tensors copied between CPU and GPU memory per run: live partition inputs and outputs seen outside it."""
    inside = set(delegated)
    produced = {t for n in delegated for t in graph.ops[n].outputs}
    users = _consumers(graph)
    crossing: set[int] = set()
    for n in delegated:
        for t in graph.ops[n].inputs:
            if t >= 0 and t not in produced and not graph.tensor(t).is_constant:
                crossing.add(t)
    for t in produced:
        if t in graph.outputs or any(u not in inside for u in users.get(t, [])):
            crossing.add(t)
    return sorted(crossing)


def plan_costs(graph: TfliteGraph, plan: DelegationPlan | None, cost: CostModel, threads: int,
               fp16: bool) -> CostPlan:
    delegated = plan.delegated if plan is not None else ()
    inside = set(delegated)
    cpu = {node.index: cpu_op_us(graph, node, cost, threads) for node in graph.ops if node.index not in inside}
    kernels = gpu_kernels(graph, delegated, cost, fp16) if delegated else ()
    copies = sum(cost.copy_overhead_us + tensor_bytes(graph, t) / (cost.copy_gbps * 1e3)
                 for t in boundary_tensors(graph, delegated)) if delegated else 0.0
    return CostPlan(cpu_us=cpu, kernels=kernels, copy_us=copies, delegated=delegated)
