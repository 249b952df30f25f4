"""ai-edge-litert's ModelRuntimeDetails message, from the wheel's own descriptors, in a descriptor pool of devlab's.

Why not `from ai_edge_litert import model_runtime_info_pb2`: TensorFlow registers `tflite.profiling.*` (its
tensorflow/lite/profiling/proto/profiling_info.proto) in protobuf's default pool, and the wheel's generated modules
register the same symbols from another file name, so whichever comes second fails with "duplicate symbol
'tflite.profiling.BenchmarkProfilingData'". devlab has both in one process (a Keras build, then a phone run that
decodes the tool's runtime info; the simulated phone inside a test process next to TF), so it reads the serialized
FileDescriptorProtos the wheel's modules carry (`AddSerializedFile(b'...')`, as protoc writes them) into a private
pool, where nothing else lives.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_MODULES = ("profiling_info_pb2", "model_runtime_info_pb2")   # dependencies first
PACKAGE = "tflite.profiling"


def _serialized_descriptor(module: str) -> bytes:
    spec = importlib.util.find_spec(f"ai_edge_litert.{module}")
    if spec is None or spec.origin is None:
        raise ImportError(f"ai_edge_litert.{module} is not installed")
    with open(spec.origin, encoding="utf-8") as source_file:
        source = source_file.read()
    call = "AddSerializedFile("
    start = source.index(call) + len(call)
    end = source.index(")\n", start)
    return ast.literal_eval(source[start:end])


@functools.cache
def _pool() -> descriptor_pool.DescriptorPool:
    pool = descriptor_pool.DescriptorPool()
    for module in _MODULES:
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(_serialized_descriptor(module)))
    return pool


def message_class(name: str) -> Any:
    """The class of `tflite.profiling.<name>` (e.g. ModelRuntimeDetails), built in devlab's private pool."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(f"{PACKAGE}.{name}"))


def enum_value_name(enum: str, number: int) -> str:
    """The name of value `number` of enum `tflite.profiling.<enum>` (nested names with dots)."""
    return _pool().FindEnumTypeByName(f"{PACKAGE}.{enum}").values_by_number[number].name


def enum_value(enum: str, name: str) -> int:
    return _pool().FindEnumTypeByName(f"{PACKAGE}.{enum}").values_by_name[name].number
