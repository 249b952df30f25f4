"""A two-input ADD model written straight as a flatbuffer, for probing runtimes without TensorFlow."""

from __future__ import annotations

import flatbuffers
from ai_edge_litert import schema_py_generated as schema


def tiny_add_model(size: int = 16) -> bytes:
    model = schema.ModelT()
    model.version = 3
    model.description = "devlab probe: y = a + b"
    code = schema.OperatorCodeT()
    code.builtinCode = schema.BuiltinOperator.ADD
    code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    code.version = 1
    model.operatorCodes = [code]
    model.buffers = [schema.BufferT() for _ in range(4)]  # buffer 0 is the conventional empty buffer
    tensors = []
    for index, name in enumerate(("a", "b", "y")):
        tensor = schema.TensorT()
        tensor.name = name
        tensor.shape = [1, size]
        tensor.type = schema.TensorType.FLOAT32
        tensor.buffer = index + 1
        tensors.append(tensor)
    operator = schema.OperatorT()
    operator.opcodeIndex = 0
    operator.inputs = [0, 1]
    operator.outputs = [2]
    operator.builtinOptionsType = schema.BuiltinOptions.AddOptions
    operator.builtinOptions = schema.AddOptionsT()
    subgraph = schema.SubGraphT()
    subgraph.tensors = tensors
    subgraph.inputs = [0, 1]
    subgraph.outputs = [2]
    subgraph.operators = [operator]
    subgraph.name = "main"
    model.subgraphs = [subgraph]
    signature = schema.SignatureDefT()
    signature.signatureKey = "serving_default"
    signature.subgraphIndex = 0
    signature.inputs = [_tensor_map(name, index) for index, name in enumerate(("a", "b"))]
    signature.outputs = [_tensor_map("y", 2)]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _tensor_map(name: str, index: int) -> schema.TensorMapT:
    item = schema.TensorMapT()
    item.name = name
    item.tensorIndex = index
    return item
