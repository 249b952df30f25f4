"""Run a .tflite on this machine: the fp32 reference (LiteRT's Interpreter, CPU) and the device side of a host
check (LiteRT's CompiledModel on CPU or GPU, as the host benchmarks run it). Free of TensorFlow imports: this runs
on GPU machines that have only the LiteRT wheel.

The reference uses the builtin kernels with XNNPACK off (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES): plain
fp32 arithmetic, nothing the reference shares with an accelerated path under test.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from devlab.errors import ModelError
from devlab.numerics.model_io import ModelIo

REFERENCE_RUNTIME = "LiteRT Interpreter on this machine's CPU, builtin fp32 kernels (XNNPACK off)"


def run_reference(model: Path | bytes, io: ModelIo, feeds: dict[str, np.ndarray], keep_all: bool = False,
                  xnnpack: bool = False) -> tuple[dict[str, np.ndarray], dict[int, np.ndarray]]:
    """Outputs by name; with `keep_all`, every tensor's value after the run by tensor index (for bisect).
    `xnnpack`: the default delegates on (what a phone's CPU path runs), for the simulated phone's CPU."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    where = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    label = "the model" if isinstance(model, bytes) else Path(model).name
    try:
        with warnings.catch_warnings():   # keeping every tensor is "for debugging": it is
            warnings.simplefilter("ignore")
            interpreter = Interpreter(**where, experimental_preserve_all_tensors=keep_all,
                                      experimental_op_resolver_type=resolver)
        interpreter.allocate_tensors()
        for spec in io.inputs:
            interpreter.set_tensor(spec.tensor_index, feeds[spec.name])
        interpreter.invoke()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"LiteRT cannot run {label} on the CPU: "
                         f"{' '.join(str(exc).split())[:160]}", "check the model with `devlab build`") from None
    outputs = {spec.name: np.array(interpreter.get_tensor(spec.tensor_index)) for spec in io.outputs}
    tensors: dict[int, np.ndarray] = {}
    if keep_all:
        for detail in interpreter.get_tensor_details():
            try:
                tensors[int(detail["index"])] = np.array(interpreter.get_tensor(detail["index"]))
            except ValueError:   # a tensor with no data (an omitted optional input)
                continue
    return outputs, tensors


def run_compiled(path: Path, io: ModelIo, accelerator: str, feeds: dict[str, np.ndarray],
                 num_threads: int = 0, enforce_f32: bool = False) -> dict[str, np.ndarray]:
    """One run with LiteRT's CompiledModel on `accelerator` (GPU: CPU fallback allowed, as the host benchmark).
    GPU precision: the accelerator's default (fp16 allowed), or fp32 with `enforce_f32` (GpuOptions.enforce_f32)."""
    from ai_edge_litert.compiled_model import CompiledModel
    from ai_edge_litert.options import CpuOptions, GpuOptions, HardwareAccelerator, Options

    hardware = HardwareAccelerator.GPU | HardwareAccelerator.CPU if accelerator == "gpu" else HardwareAccelerator.CPU
    model = CompiledModel.from_file(str(path), options=Options(
        hardware, cpu_options=CpuOptions(num_threads=num_threads),
        # benchmark_mode: the run waits for the GPU, so the outputs read are this run's (../shared/specs/litert_host.md)
        gpu_options=GpuOptions(benchmark_mode=True, enforce_f32=enforce_f32) if accelerator == "gpu" else None))
    signatures = model.get_signature_list()
    key = next(iter(signatures))
    inputs = model.create_input_buffers(0)
    outputs = model.create_output_buffers(0)
    by_name = {spec.name: spec for spec in io.inputs} | {spec.tensor_name: spec for spec in io.inputs}
    for buffer, name in zip(inputs, signatures[key]["inputs"]):
        buffer.write(np.ascontiguousarray(feeds[by_name[name].name]))
    model.run_by_index(0, inputs, outputs)
    details = model.get_output_tensor_details(key)
    result: dict[str, np.ndarray] = {}
    out_specs = {spec.name: spec for spec in io.outputs} | {spec.tensor_name: spec for spec in io.outputs}
    for buffer, name in zip(outputs, signatures[key]["outputs"]):
        spec = out_specs[name]
        dtype = np.dtype(details[name]["dtype"])
        count = int(np.prod(spec.shape, dtype=np.int64))
        result[spec.name] = np.asarray(buffer.read(count, dtype)).reshape(spec.shape)
    return result
