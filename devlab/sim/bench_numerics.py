"""The simulated classic benchmark_model's `--input_layer_value_files` and `--output_filepath`: it really runs the
.tflite (LiteRT on the host's CPU) on the inputs read from the phone's files and writes every output's raw bytes.

As tflite/tools/benchmark/benchmark_tflite_model.cc (v2.2.0): value files are looked up by name in `--input_layer`
(PopulateInputValueFiles / FindLayerInfoIndex: FATAL when absent, `::` escapes a ':'), `--input_layer` and
`--input_layer_shape` must have as many items, inputs are matched to the model's by position (Init: a CHECK on the
count, a WARN for a name that differs), LoadInputTensorData is FATAL for a missing file or a size other than the
tensor's bytes; FATAL prints `FATAL: ...` on stderr and aborts (exit 134). OutputSaver writes, at the end of the
benchmark, each output tensor's bytes in the subgraph's output order; a file it cannot open is silently skipped.

Outputs are `simulated`: on the GPU delegate with precision loss allowed, the delegated nodes' tensors are kept in
fp16 (devlab.numerics.fp16); on the CPU the default delegates (XNNPACK) run, as on a phone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from devlab.numerics.fp16 import emulate_fp16_storage
from devlab.numerics.model_io import ModelIo, read_model_io
from devlab.numerics.reference import run_reference

ABORT = 134   # a shell's status for a process killed by SIGABRT (std::abort after TFLITE_LOG(FATAL))


class Fatal(Exception):
    """TFLITE_LOG(FATAL) or a failed TFLITE_TOOLS_CHECK: the message, then abort."""


class ToolFailure(Exception):
    """An ERROR line and a failed Init (`Benchmarking failed.`)."""


def _split_name_file(item: str) -> tuple[str, str]:
    """SplitInputLayerNameAndValueFile: one unescaped ':' separates name and file; '::' is a literal ':'."""
    delimiter = -1
    i = 0
    while i < len(item) - 1:
        if item[i] == ":":
            if item[i + 1] == ":":
                i += 1
            elif delimiter == -1:
                delimiter = i
            else:
                raise ToolFailure(f"{item} contains more than one delimiter.")
        i += 1
    if delimiter == -1:
        raise ToolFailure(f"{item} doesn't contain any delimiter.")
    return item[:delimiter].replace("::", ":"), item[delimiter + 1:].replace("::", ":")


def read_value_files(names_text: str, shapes_text: str, files_text: str, io: ModelIo,
                     resolve: Callable[[str], Path], warn: Callable[[str], None]) -> dict[str, np.ndarray] | None:
    """The inputs the files give, by the model's input name; None when no value file was asked for."""
    if not files_text:
        return None
    names = names_text.split(",") if names_text else []
    shapes = shapes_text.split(":") if shapes_text else []
    if len(names) != len(shapes):
        raise ToolFailure(f"The number of items in --input_layer_shape ({shapes_text}, with {len(shapes)} items) "
                          f"must match the number of items in --input_layer ({names_text}, with {len(names)} "
                          "items). For example --input_layer=input1,input2 --input_layer_shape=1,224,224,4:1,20")
    files: dict[str, str] = {}
    for item in files_text.split(","):
        name, file = _split_name_file(item)
        if name not in names:
            raise Fatal(f"Cannot find the corresponding input_layer name({name}) in --input_layer as {names_text}")
        files[name] = file
    if len(names) != len(io.inputs):
        raise Fatal(f"Check failed: {len(names)} == {len(io.inputs)} (Inputs mismatch: Model inputs #:"
                    f"{len(names)} expected: {len(io.inputs)})")
    feeds: dict[str, np.ndarray] = {}
    for name, shape_text, spec in zip(names, shapes, io.inputs):
        if name != spec.tensor_name:
            warn(f"Tensor # {spec.tensor_index} is named {spec.tensor_name} but flags call it {name}")
        shape = tuple(int(d) for d in shape_text.split(",") if d != "")
        if len(shape) != len(spec.shape):
            raise ToolFailure(f"Input tensor #{spec.tensor_index} should have {len(spec.shape)} dimensions!")
        if shape != spec.shape:
            raise ToolFailure(f"the simulated benchmark_model does not resize inputs ({name}: "
                              f"{shape} asked, the model has {spec.shape})")
        if name not in files:
            raise ToolFailure(f"the simulated benchmark_model has no random inputs mixed with value files ({name})")
        host = resolve(files[name])
        if not host.is_file():
            raise Fatal(f"Failed to read the input_layer_value_file:{files[name]}")
        raw = host.read_bytes()
        if len(raw) != spec.nbytes:
            raise Fatal(f"The size of {files[name]} is {len(raw)} bytes. It should be {spec.nbytes} bytes.")
        feeds[spec.name] = np.frombuffer(raw, np.dtype(spec.dtype).newbyteorder("<")).reshape(spec.shape).astype(
            spec.dtype)
    return feeds


def model_outputs(data: bytes, feeds: dict[str, np.ndarray] | None, delegated: set[int] | None,
                  fp16: bool, seed: int) -> bytes:
    """Every output's raw bytes, in output order, for the run's inputs (random ones when no file was given)."""
    io = read_model_io(data)
    if feeds is None:
        from devlab.numerics.model_io import random_inputs
        feeds = random_inputs(io, seed)
    on_gpu = delegated is not None and len(delegated) > 0
    model = emulate_fp16_storage(data, delegated) if on_gpu and fp16 and delegated else data
    outputs, _ = run_reference(model, io, feeds, xnnpack=not on_gpu)
    return b"".join(np.ascontiguousarray(outputs[spec.name], np.dtype(spec.dtype).newbyteorder("<")).tobytes()
                    for spec in io.outputs)
