"""Read a .tflite flatbuffer into plain values: tensors, ops (in execution order), their options.

Uses the schema bindings shipped in the ai-edge-litert wheel, so no TensorFlow import is needed (the simulated
phone and the report code read graphs too). Only the primary subgraph is described op by op; the count of
subgraphs is kept so callers can say when a model has more.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ai_edge_litert import schema_py_generated as schema

from devlab.errors import ModelError

_OP_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {value: name.lower() for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
_TFLITE_IDENTIFIER = b"TFL3"
# Parsed graphs by content hash: the same variant is read by the build, the simulated phone's benchmark_model on
# every invocation, and attribution; parsing a 100-op model takes ~0.1 s of pure Python. Graphs are immutable.
_parsed: dict[str, "TfliteGraph"] = {}
_PARSED_LIMIT = 32


@dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str                      # "float32", "float16", "int8", ...
    is_constant: bool               # backed by a non-empty buffer (weights)
    buffer_bytes: int
    dynamic: bool = False           # shape_signature holds -1

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def elements(self) -> int:
        count = 1
        for dim in self.shape:
            count *= max(dim, 1)
        return count


@dataclass(frozen=True)
class OpNode:
    index: int
    op: str                          # builtin name, e.g. "CONV_2D"; custom ops: "CUSTOM:<code>"
    version: int
    inputs: tuple[int, ...]          # tensor indices, -1 for an omitted optional input
    outputs: tuple[int, ...]
    options: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class TfliteGraph:
    tensors: tuple[TensorInfo, ...]
    ops: tuple[OpNode, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraph_count: int
    size_bytes: int
    sha256: str
    source: str = ""

    def tensor(self, index: int) -> TensorInfo:
        return self.tensors[index]

    def op_histogram(self) -> dict[str, int]:
        counts = Counter(node.op for node in self.ops)
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def read_tflite(source: str | Path | bytes) -> TfliteGraph:
    """Parse a .tflite model; raises ModelError naming the file and what is wrong with it."""
    label = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    data = _load_bytes(source, label)
    if len(data) < 8 or data[4:8] != _TFLITE_IDENTIFIER:
        raise ModelError(f"{label} is not a TFLite model (no TFL3 flatbuffer identifier)",
                         "pass a .tflite file produced by the TFLite/LiteRT converter")
    digest = hashlib.sha256(data).hexdigest()
    cached = _parsed.get(digest)
    if cached is not None:
        return cached if cached.source == label else replace(cached, source=label)
    try:
        graph = _parse(data, label, digest)
    except ModelError:
        raise
    except Exception as exc:  # flatbuffer accessors raise IndexError/struct.error on corrupt data
        raise ModelError(f"{label} is a corrupt TFLite model ({type(exc).__name__}: {exc})",
                         "rebuild it with `devlab build` or re-export it from your framework") from None
    if len(_parsed) >= _PARSED_LIMIT:
        _parsed.pop(next(iter(_parsed)))
    _parsed[digest] = graph
    return graph


def _load_bytes(source: str | Path | bytes, label: str) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    path = Path(source)
    if not path.exists():
        raise ModelError(f"model file {label} does not exist", "check the path, or run `devlab build` first")
    if not path.is_file():
        raise ModelError(f"model path {label} is not a file", "pass the path of a .tflite file")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read model file {label}: {exc.strerror}", "check the file's permissions") from None


def _parse(data: bytes, label: str, digest: str) -> TfliteGraph:
    model = schema.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise ModelError(f"{label} holds no subgraph", "re-export the model; an empty TFLite file cannot run")
    opcodes = [_opcode_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    versions = [model.OperatorCodes(i).Version() for i in range(model.OperatorCodesLength())]
    buffer_sizes = [_buffer_bytes(model.Buffers(i)) for i in range(model.BuffersLength())]
    graph = model.Subgraphs(0)
    tensors = tuple(_tensor(graph.Tensors(i), i, buffer_sizes) for i in range(graph.TensorsLength()))
    ops = tuple(_op(graph.Operators(i), i, opcodes, versions) for i in range(graph.OperatorsLength()))
    return TfliteGraph(
        tensors=tensors,
        ops=ops,
        inputs=tuple(int(i) for i in graph.InputsAsNumpy()) if graph.InputsLength() else (),
        outputs=tuple(int(i) for i in graph.OutputsAsNumpy()) if graph.OutputsLength() else (),
        subgraph_count=model.SubgraphsLength(),
        size_bytes=len(data),
        sha256=digest,
        source=label,
    )


def _opcode_name(code: schema.OperatorCode) -> str:
    # Ops past 127 live in BuiltinCode; older files only fill the deprecated byte field.
    value = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = _OP_NAMES.get(value, f"BUILTIN_{value}")
    if name == "CUSTOM":
        custom = code.CustomCode()
        return f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else '?'}"
    return name


def _buffer_bytes(buffer: schema.Buffer | None) -> int:
    if buffer is None:
        return 0
    if buffer.Size():  # buffers stored past the 2 GB flatbuffer limit use offset/size
        return int(buffer.Size())
    return int(buffer.DataLength())


def _tensor(tensor: schema.Tensor, index: int, buffer_sizes: list[int]) -> TensorInfo:
    shape = tuple(int(d) for d in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
    signature = tuple(int(d) for d in tensor.ShapeSignatureAsNumpy()) if tensor.ShapeSignatureLength() else ()
    buffer_index = tensor.Buffer()
    size = buffer_sizes[buffer_index] if 0 < buffer_index < len(buffer_sizes) else 0
    name = tensor.Name()
    return TensorInfo(
        index=index,
        name=name.decode("utf-8", "replace") if name else f"tensor_{index}",
        shape=shape,
        dtype=_TYPE_NAMES.get(tensor.Type(), f"type_{tensor.Type()}"),
        is_constant=size > 0,
        buffer_bytes=size,
        dynamic=any(d < 0 for d in signature),
    )


def _op(operator: schema.Operator, index: int, opcodes: list[str], versions: list[int]) -> OpNode:
    code_index = operator.OpcodeIndex()
    unpacked = schema.OperatorT.InitFromObj(operator)
    return OpNode(
        index=index,
        op=opcodes[code_index] if code_index < len(opcodes) else f"UNKNOWN_{code_index}",
        version=versions[code_index] if code_index < len(versions) else 1,
        inputs=tuple(int(i) for i in (unpacked.inputs if unpacked.inputs is not None else ())),
        outputs=tuple(int(i) for i in (unpacked.outputs if unpacked.outputs is not None else ())),
        options=MappingProxyType(_options_dict(unpacked.builtinOptions)),
    )


def _options_dict(options: object) -> dict[str, object]:
    if options is None:
        return {}
    plain: dict[str, object] = {}
    for key, value in vars(options).items():
        if isinstance(value, (bool, int, float, str)):
            plain[key] = value
        elif hasattr(value, "tolist"):
            plain[key] = value.tolist()
        elif isinstance(value, list):
            plain[key] = list(value)
    return plain
