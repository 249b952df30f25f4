"""The bisect's probe model: every op of the graph, each reading its inputs from its own model inputs.

The probe keeps the ops and weights of the variant, but an op no longer reads the tensors other ops wrote: each
non-constant input of node N becomes a model input `n<N>_i<k>` and each output a model output `n<N>_o<k>`. Fed
the fp32 reference's values of those tensors, one run on the device gives every op's output computed from
reference inputs: the error an op introduces, not the error it inherits. One device run, whatever the graph size.
Weights stay weights: a DEQUANTIZE of a constant (fp16 weight storage) is kept in front of its consumers, as the
GPU delegate folds it (devlab.build.gpu_compat.constant_like_tensors). Ops that call subgraphs or hold state are
left out, and the bisect says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

from devlab.build.gpu_compat import constant_like_tensors
from devlab.build.tflite_graph import TfliteGraph

SKIPPED_OPS = frozenset({"WHILE", "IF", "CALL_ONCE", "CALL", "VAR_HANDLE", "READ_VARIABLE", "ASSIGN_VARIABLE"})


@dataclass(frozen=True)
class ProbedNode:
    node: int
    op: str
    inputs: tuple[tuple[str, int], ...]    # (probe input name, the variant's tensor index)
    outputs: tuple[tuple[str, int], ...]   # (probe output name, the variant's tensor index)


@dataclass(frozen=True)
class Probe:
    data: bytes
    nodes: tuple[ProbedNode, ...]
    skipped: tuple[int, ...]               # nodes left out (subgraph calls, state)


def build_probe(data: bytes, graph: TfliteGraph) -> Probe:
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    subgraph = model.subgraphs[0]
    constant_like = constant_like_tensors(graph)
    kept_ops: list[schema.OperatorT] = []
    probed: list[ProbedNode] = []
    skipped: list[int] = []
    probe_inputs: list[tuple[str, int]] = []
    probe_outputs: list[tuple[str, int]] = []
    for node, op in zip(graph.ops, subgraph.operators):
        if all(t in constant_like for t in node.outputs):
            kept_ops.append(op)    # weight storage (DEQUANTIZE of a constant): stays in front of its consumers
            continue
        if node.op in SKIPPED_OPS:
            skipped.append(node.index)
            continue
        inputs, outputs = [int(t) for t in op.inputs], [int(t) for t in op.outputs]
        node_inputs: list[tuple[str, int]] = []
        for k, tensor in enumerate(inputs):
            if tensor < 0 or tensor in constant_like:
                continue
            name = f"n{node.index}_i{k}"
            inputs[k] = _copy(subgraph, tensor, name)
            node_inputs.append((name, tensor))
            probe_inputs.append((name, inputs[k]))
        node_outputs: list[tuple[str, int]] = []
        for k, tensor in enumerate(outputs):
            name = f"n{node.index}_o{k}"
            outputs[k] = _copy(subgraph, tensor, name)
            node_outputs.append((name, tensor))
            probe_outputs.append((name, outputs[k]))
        op.inputs, op.outputs = inputs, outputs
        kept_ops.append(op)
        probed.append(ProbedNode(node.index, node.op, tuple(node_inputs), tuple(node_outputs)))
    subgraph.operators = kept_ops
    subgraph.inputs = [index for _, index in probe_inputs]
    subgraph.outputs = [index for _, index in probe_outputs]
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "probe", 0
    signature.inputs = [_map(name, index) for name, index in probe_inputs]
    signature.outputs = [_map(name, index) for name, index in probe_outputs]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(len(data) + 65536)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return Probe(bytes(builder.Output()), tuple(probed), tuple(skipped))


def _copy(subgraph: schema.SubGraphT, index: int, name: str) -> int:
    like = subgraph.tensors[index]
    tensor = schema.TensorT()
    tensor.name = name
    tensor.shape = list(like.shape) if like.shape is not None else []
    tensor.type = like.type
    tensor.buffer = 0
    tensor.quantization = like.quantization
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _map(name: str, index: int) -> schema.TensorMapT:
    item = schema.TensorMapT()
    item.name, item.tensorIndex = name, index
    return item
