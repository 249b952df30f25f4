"""Small real .tflite models for the numerics tests, written as flatbuffers (LiteRT runs them as any model).

`overflow_model(scale)`: y = relu(x * scale) * (1 / scale) + x. In fp32 it is relu(x) + x; with scale 6e4 (itself fp16-representable) the
first MUL's output (|x| > 1.1 -> > 65504) is beyond fp16's 65504, so a GPU delegate keeping activations in fp16 gives inf:
the deliberately broken variant, whose culprit is node 0 (MUL).
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

_OPS = {"MUL": (schema.BuiltinOperator.MUL, schema.BuiltinOptions.MulOptions, schema.MulOptionsT),
        "ADD": (schema.BuiltinOperator.ADD, schema.BuiltinOptions.AddOptions, schema.AddOptionsT),
        "RELU": (schema.BuiltinOperator.RELU, None, None)}


def overflow_model(scale: float = 6e4, size: int = 64, int_output: bool = False) -> bytes:
    model = schema.ModelT()
    model.version = 3
    model.operatorCodes = []
    model.buffers = [schema.BufferT()]
    tensors: list[schema.TensorT] = []

    def tensor(name: str, value: np.ndarray | None = None, dtype: int = schema.TensorType.FLOAT32) -> int:
        t = schema.TensorT()
        t.name, t.shape, t.type = name, [1, size] if value is None else list(value.shape), dtype
        buffer = schema.BufferT()
        if value is not None:
            buffer.data = value.astype("<f4").tobytes()
        model.buffers.append(buffer)
        t.buffer = len(model.buffers) - 1
        tensors.append(t)
        return len(tensors) - 1

    codes: dict[str, int] = {}
    operators: list[schema.OperatorT] = []

    def op(kind: str, inputs: list[int], output: int) -> None:
        builtin, options_type, options_class = _OPS[kind]
        if kind not in codes:
            code = schema.OperatorCodeT()
            code.builtinCode = code.deprecatedBuiltinCode = builtin
            code.version = 1
            model.operatorCodes.append(code)
            codes[kind] = len(model.operatorCodes) - 1
        operator = schema.OperatorT()
        operator.opcodeIndex, operator.inputs, operator.outputs = codes[kind], inputs, [output]
        if options_type is not None:
            operator.builtinOptionsType, operator.builtinOptions = options_type, options_class()
        operators.append(operator)

    x = tensor("x")
    up = tensor("scaled")
    op("MUL", [x, tensor("scale", np.full([1], scale, np.float32))], up)
    rectified = tensor("rectified")
    op("RELU", [up], rectified)
    down = tensor("unscaled")
    op("MUL", [rectified, tensor("inv_scale", np.full([1], 1.0 / scale, np.float32))], down)
    y = tensor("y", dtype=schema.TensorType.INT32 if int_output else schema.TensorType.FLOAT32)
    if int_output:   # a model with no float output: y is the int32 input passed through ADD of int zeros
        tensors[y].type = schema.TensorType.INT32
        tensors[x].type = schema.TensorType.INT32
        operators.clear()
        zero = tensor("zero", np.zeros([1], np.float32))
        tensors[zero].type = schema.TensorType.INT32
        op("ADD", [x, zero], y)
    else:
        op("ADD", [down, x], y)
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = tensors, [x], [y], operators
    subgraph.name = "main"
    model.subgraphs = [subgraph]
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    signature.inputs = [_map("x", x)]
    signature.outputs = [_map("y", y)]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _map(name: str, index: int) -> schema.TensorMapT:
    item = schema.TensorMapT()
    item.name, item.tensorIndex = name, index
    return item


def two_output_model(size: int = 4) -> bytes:
    """Outputs in the subgraph's order [doubled = x + x, rectified = relu(x)], signature names `z_doubled` and
    `a_rectified` (sorted the other way): a split by name order instead of output order swaps them."""
    model = schema.ModelT()
    model.version = 3
    model.buffers = [schema.BufferT() for _ in range(4)]
    model.operatorCodes = []
    for builtin in (schema.BuiltinOperator.ADD, schema.BuiltinOperator.RELU):
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = builtin
        code.version = 1
        model.operatorCodes.append(code)
    tensors = []
    for index, name in enumerate(("x", "doubled", "rectified")):
        tensor = schema.TensorT()
        tensor.name, tensor.shape, tensor.type, tensor.buffer = name, [1, size], schema.TensorType.FLOAT32, index + 1
        tensors.append(tensor)
    add, relu = schema.OperatorT(), schema.OperatorT()
    add.opcodeIndex, add.inputs, add.outputs = 0, [0, 0], [1]
    add.builtinOptionsType, add.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    relu.opcodeIndex, relu.inputs, relu.outputs = 1, [0], [2]
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = tensors, [0], [1, 2], [add, relu]
    subgraph.name = "main"
    model.subgraphs = [subgraph]
    signature = schema.SignatureDefT()
    signature.signatureKey, signature.subgraphIndex = "serving_default", 0
    signature.inputs = [_map("x", 0)]
    signature.outputs = [_map("a_rectified", 2), _map("z_doubled", 1)]
    model.signatureDefs = [signature]
    builder = flatbuffers.Builder(2048)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
