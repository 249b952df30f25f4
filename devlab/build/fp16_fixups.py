"""Post-conversion fixes to fp16-weight .tflite files, each named and recorded in the manifest's recipe.

The TF converter's fp16 recipe stores every float constant as float16 behind a DEQUANTIZE and has no per-op or
per-tensor exclusion. Most consumers are fine with that (the GPU delegate folds the DEQUANTIZE into them), but
LiteRT's GPU accelerator points a GATHER at the fp16 table itself and then refuses the float16-in / float32-out
pair ("GATHER: Input / output dtype mismatch.", docs/gpu-results.md run 2), which leaves the lookup and every
DEQUANTIZE on the CPU. `gather-table-fp32` gives such a lookup an fp32 constant table instead. Its values are the
fp16 values widened to fp32, exactly what the DEQUANTIZE computed at run time, so outputs do not change.

Edits the flatbuffer with the schema's object API (ai_edge_litert.schema_py_generated), no TensorFlow needed.
Files whose buffers live past the 2 GB flatbuffer limit (buffer offsets) are returned unchanged: repacking them
through the object API would drop the appended data.
"""

from __future__ import annotations

from dataclasses import dataclass

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

GATHER_TABLE_FP32 = "gather-table-fp32"
FIXUP_WHYS: dict[str, str] = {
    GATHER_TABLE_FP32: "LiteRT's GPU accelerator refuses a GATHER of an fp16 table behind a DEQUANTIZE "
                       "(float16 in, float32 out); the same values as an fp32 constant keep the lookup on the GPU",
}
_TFLITE_IDENTIFIER = b"TFL3"
# op -> index of its table input: GATHER(params, indices), EMBEDDING_LOOKUP(ids, table)
_TABLE_INPUT = {schema.BuiltinOperator.GATHER: 0, schema.BuiltinOperator.EMBEDDING_LOOKUP: 1}


@dataclass(frozen=True)
class FixupResult:
    data: bytes
    applied: tuple[str, ...]      # names of the fixups that changed the file (empty: data is the input unchanged)
    tables: int                   # lookup tables turned into fp32 constants
    removed_dequantize: int       # DEQUANTIZE ops left with no consumer and removed

    def recipe_entries(self) -> list[dict[str, object]]:
        """What the manifest's recipe["fixups"] records for this file."""
        return [{"name": name, "why": FIXUP_WHYS[name], "tables": self.tables,
                 "removed_dequantize": self.removed_dequantize} for name in self.applied]


def apply_fp16_fixups(data: bytes) -> FixupResult:
    """Every fixup of the fp16 recipe, in order; the input bytes come back untouched when none applies."""
    return gather_table_fp32(data)


def gather_table_fp32(data: bytes) -> FixupResult:
    """Give every GATHER / EMBEDDING_LOOKUP that reads a DEQUANTIZE of an fp16 constant an fp32 constant table."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    if any(buffer.offset > 1 for buffer in model.buffers or ()):
        return FixupResult(bytes(data), (), 0, 0)
    lookup_codes = {index for index, code in enumerate(model.operatorCodes or ())
                    if _builtin(code) in _TABLE_INPUT}
    if not lookup_codes:
        return FixupResult(bytes(data), (), 0, 0)
    tables = removed = 0
    for subgraph in model.subgraphs or ():
        changed, dropped = _fix_subgraph(model, subgraph)
        tables += changed
        removed += dropped
    if not tables:
        return FixupResult(bytes(data), (), 0, 0)
    builder = flatbuffers.Builder(len(data) + (len(data) >> 1))
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return FixupResult(bytes(builder.Output()), (GATHER_TABLE_FP32,), tables, removed)


def _fix_subgraph(model: schema.ModelT, subgraph: schema.SubGraphT) -> tuple[int, int]:
    operators = list(subgraph.operators or ())
    producer = {int(t): op for op in operators for t in _ints(op.outputs)}
    fp32_copy: dict[int, int] = {}   # DEQUANTIZE output tensor -> its fp32 constant twin
    for op in operators:
        position = _TABLE_INPUT.get(_builtin(model.operatorCodes[op.opcodeIndex]))
        inputs = _ints(op.inputs)
        if position is None or len(inputs) <= position:
            continue
        table = inputs[position]
        source = producer.get(table)
        fp16_buffer = _fp16_constant_dequantized(model, subgraph, source)
        if fp16_buffer is None:
            continue
        if table not in fp32_copy:
            fp32_copy[table] = _add_fp32_constant(model, subgraph, table, fp16_buffer)
        inputs[position] = fp32_copy[table]
        op.inputs = inputs
    # A DEQUANTIZE whose output nobody reads any more would still run (and on the GPU stay unsupported): drop it.
    read = {t for op in operators for t in _ints(op.inputs)} | set(_ints(subgraph.outputs))
    dead = [op for op in operators if any(t in fp32_copy for t in _ints(op.outputs))
            and not any(t in read for t in _ints(op.outputs))]
    subgraph.operators = [op for op in operators if not any(op is d for d in dead)]
    _release_unread_fp16_tables(model, subgraph, [_ints(op.inputs)[0] for op in dead])
    return len(fp32_copy), len(dead)


def _release_unread_fp16_tables(model: schema.ModelT, subgraph: schema.SubGraphT, tensors: list[int]) -> None:
    """Empty the fp16 buffers only the removed DEQUANTIZEs read, so the file does not carry the table twice."""
    read = {t for op in subgraph.operators for t in _ints(op.inputs)} | set(_ints(subgraph.outputs))
    buffer_users: dict[int, int] = {}
    for graph in model.subgraphs:
        for tensor in graph.tensors or ():
            buffer_users[tensor.buffer] = buffer_users.get(tensor.buffer, 0) + 1
    for index in tensors:
        buffer = subgraph.tensors[index].buffer
        if index not in read and buffer_users.get(buffer) == 1:
            model.buffers[buffer].data = None


def _fp16_constant_dequantized(model: schema.ModelT, subgraph: schema.SubGraphT,
                               op: schema.OperatorT | None) -> np.ndarray | None:
    """The fp16 values a DEQUANTIZE reads from a constant, or None when `op` is something else."""
    if op is None or _builtin(model.operatorCodes[op.opcodeIndex]) != schema.BuiltinOperator.DEQUANTIZE:
        return None
    inputs = _ints(op.inputs)
    if not inputs or inputs[0] < 0:
        return None
    tensor = subgraph.tensors[inputs[0]]
    buffer = model.buffers[tensor.buffer] if 0 < tensor.buffer < len(model.buffers) else None
    if tensor.type != schema.TensorType.FLOAT16 or buffer is None or buffer.data is None or not len(buffer.data):
        return None
    return np.frombuffer(np.asarray(buffer.data, dtype=np.uint8).tobytes(), dtype="<f2")


def _add_fp32_constant(model: schema.ModelT, subgraph: schema.SubGraphT, like: int, values: np.ndarray) -> int:
    """A new float32 constant tensor shaped like tensor `like`, holding `values` widened exactly to fp32."""
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(values.astype("<f4").tobytes(), dtype=np.uint8)
    model.buffers.append(buffer)
    template = subgraph.tensors[like]
    tensor = schema.TensorT()
    tensor.shape = template.shape
    tensor.shapeSignature = template.shapeSignature
    tensor.type = schema.TensorType.FLOAT32
    tensor.buffer = len(model.buffers) - 1
    tensor.name = (template.name or b"table") + b"/fp32"
    tensor.hasRank = template.hasRank
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def _builtin(code: schema.OperatorCodeT) -> int:
    # Ops past 127 live in builtinCode; older files only fill the deprecated byte field.
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _ints(values: object) -> list[int]:
    return [int(v) for v in values] if values is not None else []
