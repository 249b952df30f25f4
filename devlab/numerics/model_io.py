"""A model's inputs and outputs as benchmark_model sees them, the inputs fed to it, and its raw output bytes.

Order: the first subgraph's `inputs` / `outputs` tensor lists. That is the order benchmark_model reads
`--input_layer_value_files` against (BenchmarkInterpreterRunner::inputs() = subgraph_->inputs()) and writes
`--output_filepath` in (OutputSaver: each output tensor's raw bytes, concatenated in outputs() order),
tflite/tools/benchmark/benchmark_tflite_model.cc. Names: the signature's (`x`) where the model has one, else the
tensor's; a user's .npz may use either.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from devlab.errors import ModelError, UsageError
from devlab.random_inputs import random_input

_NUMPY = {schema.TensorType.FLOAT32: np.float32, schema.TensorType.FLOAT16: np.float16,
          schema.TensorType.INT8: np.int8, schema.TensorType.UINT8: np.uint8, schema.TensorType.INT16: np.int16,
          schema.TensorType.INT32: np.int32, schema.TensorType.INT64: np.int64, schema.TensorType.BOOL: np.bool_,
          schema.TensorType.FLOAT64: np.float64}


@dataclass(frozen=True)
class TensorSpec:
    name: str            # signature name where there is one, else the tensor name
    tensor_name: str
    tensor_index: int
    shape: tuple[int, ...]
    dtype: str

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize


@dataclass(frozen=True)
class ModelIo:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def float_outputs(self) -> tuple[TensorSpec, ...]:
        return tuple(o for o in self.outputs if np.issubdtype(np.dtype(o.dtype), np.floating))


def read_model_io(source: Path | bytes) -> ModelIo:
    try:
        model = schema.ModelT.InitFromPackedBuf(source if isinstance(source, bytes) else Path(source).read_bytes(), 0)
    except Exception as exc:   # a file that is not a flatbuffer raises anything from struct to IndexError
        label = "the model" if isinstance(source, bytes) else str(source)
        raise ModelError(f"{label} is not a readable .tflite model ({exc.__class__.__name__})",
                         "pass a .tflite file") from None
    subgraph = model.subgraphs[0]
    names: dict[int, str] = {}
    for signature in model.signatureDefs or []:
        if signature.subgraphIndex in (0, None):
            for item in (signature.inputs or []) + (signature.outputs or []):
                names[item.tensorIndex] = _text(item.name)
    return ModelIo(tuple(_spec(subgraph, i, names) for i in subgraph.inputs),
                   tuple(_spec(subgraph, i, names) for i in subgraph.outputs))


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _spec(subgraph, index: int, names: dict[int, str]) -> TensorSpec:
    tensor = subgraph.tensors[index]
    dtype = _NUMPY.get(tensor.type)
    if dtype is None:
        raise ModelError(f"tensor {_text(tensor.name)} has a type devlab cannot feed or compare ({tensor.type})",
                         "use a model whose inputs and outputs are numeric tensors")
    shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else []))
    return TensorSpec(names.get(index, _text(tensor.name)), _text(tensor.name), int(index), shape,
                      np.dtype(dtype).name)


def random_inputs(io: ModelIo, seed: int) -> dict[str, np.ndarray]:
    """devlab's seeded inputs (devlab.random_inputs), in input order: the same for every variant and device."""
    rng = np.random.default_rng(seed)
    return {spec.name: random_input(rng, spec.shape, np.dtype(spec.dtype)) for spec in io.inputs}


def load_inputs(path: Path, io: ModelIo) -> dict[str, np.ndarray]:
    """The user's .npz (name -> array), checked against the model: every input named once, shapes and dtypes
    exact (benchmark_model refuses a value file of another size; a silent cast would compare other inputs)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name]) for name in data.files}
    except FileNotFoundError:
        raise UsageError(f"--inputs {path} does not exist", "pass an .npz written with numpy.savez") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise UsageError(f"--inputs {path} is not a readable .npz ({' '.join(str(exc).split())[:80]})",
                         "write it with numpy.savez(path, name=array, ...)") from None
    expected = ", ".join(f"{s.name} {'x'.join(map(str, s.shape))} {s.dtype}" for s in io.inputs)
    feeds: dict[str, np.ndarray] = {}
    for spec in io.inputs:
        key = spec.name if spec.name in arrays else spec.tensor_name if spec.tensor_name in arrays else None
        if key is None:
            raise UsageError(f"--inputs {path.name} has no array for model input '{spec.name}' "
                             f"(it has: {', '.join(sorted(arrays)) or 'nothing'})",
                             f"save one array per input: {expected}")
        value = arrays.pop(key)
        if value.shape != spec.shape or value.dtype != np.dtype(spec.dtype):
            raise UsageError(f"--inputs {path.name}: '{key}' is {'x'.join(map(str, value.shape)) or 'scalar'} "
                             f"{value.dtype}, the model's input is {'x'.join(map(str, spec.shape))} {spec.dtype}",
                             f"save one array per input: {expected}")
        feeds[spec.name] = value
    if arrays:
        raise UsageError(f"--inputs {path.name} has arrays the model does not take: {', '.join(sorted(arrays))}",
                         f"save one array per input: {expected}")
    return feeds


def inputs_sha256(io: ModelIo, feeds: dict[str, np.ndarray]) -> str:
    """Names, dtypes, shapes and bytes, in input order: equal inputs have equal hashes on every machine."""
    digest = hashlib.sha256()
    for spec in io.inputs:
        value = np.ascontiguousarray(feeds[spec.name])
        digest.update(f"{spec.name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def split_outputs(raw: bytes, io: ModelIo) -> dict[str, np.ndarray]:
    """benchmark_model's --output_filepath file: every output's bytes, in output order (little-endian)."""
    expected = sum(spec.nbytes for spec in io.outputs)
    if len(raw) != expected:
        raise ModelError(f"the outputs file holds {len(raw)} bytes; the model's outputs are {expected} bytes",
                         "the run wrote no or other outputs: see its log in the run folder")
    outputs: dict[str, np.ndarray] = {}
    offset = 0
    for spec in io.outputs:
        dtype = np.dtype(spec.dtype).newbyteorder("<")
        outputs[spec.name] = np.frombuffer(raw, dtype, int(np.prod(spec.shape, dtype=np.int64)),
                                           offset).reshape(spec.shape).astype(spec.dtype)
        offset += spec.nbytes
    return outputs


def input_file_bytes(spec: TensorSpec, value: np.ndarray) -> bytes:
    """One --input_layer_value_files file: the tensor's raw bytes (LoadInputTensorData reads t.bytes of them)."""
    return np.ascontiguousarray(value, dtype=np.dtype(spec.dtype).newbyteorder("<")).tobytes()
