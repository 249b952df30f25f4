"""The simulated GPU delegate's precision: fp16 storage, as a rewrite of the .tflite that LiteRT then runs on CPU.

With precision loss allowed (classic `--gpu_precision_loss_allowed=true`, the default; LiteRT `--gpu-precision`
auto/fp16) the GPU delegate keeps tensors in fp16 (ml_drift CalculationsPrecision F16 / F32_F16: fp16 storage).
Emulated here for the delegated nodes only: every float32 weight they read is rounded to fp16, every float32
activation entering the partition and every one a delegated node writes goes through CAST(float32 -> float16) and
DEQUANTIZE(float16 -> float32), so |x| > 65504 becomes inf and subnormals round as fp16 does. Arithmetic inside an
op stays fp32 (fp16 accumulation, which real GPUs also use under F16, is not emulated: real errors can be larger).
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

_F32 = schema.TensorType.FLOAT32


def emulate_fp16_storage(data: bytes, delegated: set[int]) -> bytes:
    model = schema.ModelT.InitFromPackedBuf(data, 0)
    subgraph = model.subgraphs[0]
    cast = _opcode(model, schema.BuiltinOperator.CAST)
    dequantize = _opcode(model, schema.BuiltinOperator.DEQUANTIZE)
    tensors = subgraph.tensors
    constant = {i for i, t in enumerate(tensors) if _has_data(model, t)}
    producers = {out: n for n, op in enumerate(subgraph.operators) for out in (op.outputs if op.outputs is not None else [])}
    rounded_buffers: set[int] = set()
    after: dict[int, list[schema.OperatorT]] = {}    # node -> rounding ops to run after it (-1: at the start)
    entering: dict[int, int] = {}                     # tensor entering the partition -> its rounded copy

    def rounding(source: int, target: int) -> list[schema.OperatorT]:
        half = _new_tensor(subgraph, tensors[source], schema.TensorType.FLOAT16, "/fp16")
        return [_op(cast, source, half), _op(dequantize, half, target)]

    for node in sorted(delegated):
        op = subgraph.operators[node]
        op.inputs = [int(t) for t in (op.inputs if op.inputs is not None else [])]
        op.outputs = [int(t) for t in (op.outputs if op.outputs is not None else [])]
        for position, tensor in enumerate(op.inputs):
            if tensor < 0 or tensors[tensor].type != _F32:
                continue
            if tensor in constant:
                buffer = tensors[tensor].buffer
                if buffer not in rounded_buffers:
                    rounded_buffers.add(buffer)
                    values = np.frombuffer(bytes(model.buffers[buffer].data), "<f4")
                    with np.errstate(over="ignore"):   # a weight beyond 65504 is inf in fp16, as on the GPU
                        rounded = values.astype(np.float16).astype("<f4")
                    model.buffers[buffer].data = rounded.tobytes()
                continue
            producer = producers.get(tensor, -1)
            if producer in delegated:
                continue   # already rounded where it was written
            if tensor not in entering:
                entering[tensor] = _new_tensor(subgraph, tensors[tensor], _F32, "/fp16_in")
                after.setdefault(producer, []).extend(rounding(tensor, entering[tensor]))
            op.inputs[position] = entering[tensor]
        for position, tensor in enumerate(op.outputs):
            if tensors[tensor].type != _F32:
                continue
            raw = _new_tensor(subgraph, tensors[tensor], _F32, "/fp32")
            op.outputs[position] = raw
            after.setdefault(node, []).extend(rounding(raw, tensor))
    operators = list(after.get(-1, []))
    for node, op in enumerate(subgraph.operators):
        operators += [op] + after.get(node, [])
    subgraph.operators = operators
    builder = flatbuffers.Builder(len(data) + 4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _has_data(model: schema.ModelT, tensor: schema.TensorT) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer is not None and tensor.buffer < len(model.buffers) else None
    return buffer is not None and buffer.data is not None and len(buffer.data) > 0


def _opcode(model: schema.ModelT, builtin: int) -> int:
    for index, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = builtin
    code.version = 1
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _new_tensor(subgraph: schema.SubGraphT, like: schema.TensorT, dtype: int, suffix: str) -> int:
    tensor = schema.TensorT()
    tensor.name = (like.name.decode() if isinstance(like.name, bytes) else like.name or "") + suffix
    tensor.shape = list(like.shape) if like.shape is not None else []
    if like.shapeSignature is not None:
        tensor.shapeSignature = list(like.shapeSignature)
    tensor.type = dtype
    tensor.buffer = 0
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _op(opcode: int, source: int, target: int) -> schema.OperatorT:
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = [source]
    op.outputs = [target]
    return op
