"""A model's outputs on a phone, from stock benchmark_model: one short extra run (1 run, no warm-up) with the
inputs pushed as raw tensor files (`--input_layer_value_files`) and every output written at the end
(`--output_filepath`, OutputSaver in tflite/tools/benchmark/benchmark_tflite_model.cc), pulled and split by the
model's output shapes and dtypes. LiteRT's benchmark_litert_model (litert/tools/benchmark_litert_model.h, v2.2.0
and main) has neither flag: such a tool gives `numerics: unavailable` with that reason.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from devlab.bench.flags import BenchmarkOptions
from devlab.bench.tool_dialect import ToolDialect
from devlab.devices.adb import DEVICE_ROOT, AdbDevice
from devlab.build.pipeline import BuiltVariant
from devlab.errors import DevlabError, ToolError
from devlab.numerics.check import OutputCheck, unavailable
from devlab.provenance import Source
from devlab.fsutil import atomic_write_text
from devlab.numerics.model_io import ModelIo, input_file_bytes, split_outputs

NEEDED_FLAGS = ("input_layer", "input_layer_shape", "input_layer_value_files", "output_filepath")


def why_unavailable(dialect: ToolDialect | None) -> str | None:
    """None when this benchmark_model can take inputs from files and write its outputs; else the reason."""
    if dialect is None:
        return None
    missing = [flag for flag in NEEDED_FLAGS if not dialect.takes(flag)]
    if not missing:
        return None
    what = f"{dialect.kind}{' ' + dialect.version if dialect.version else ''}"
    extra = (" (LiteRT's benchmark_litert_model has no input files or output file, "
             "litert/tools/benchmark_litert_model.h)" if dialect.kind == "litert" else "")
    return (f"this benchmark_model ({what}) has no {', '.join('--' + m for m in missing)}{extra}; use TFLite's "
            "classic benchmark_model (tflite/tools/benchmark) to compare outputs on the phone")


def check_on_phone(check: OutputCheck, variant: BuiltVariant, device: AdbDevice, tool, clean: BenchmarkOptions,
                   stem: str, run_dir: Path, timeout_s: float, source: Source) -> tuple[dict[str, Any], str | None]:
    """One row's `numerics` and the outputs run's log (relative to the run folder; None when nothing ran)."""
    variant_check = check.for_variant(variant)
    reason = why_unavailable(tool.dialect)
    if reason is not None:
        return unavailable(reason, source, variant_check.inputs_sha256), None
    log_name = f"logs/{stem}-outputs.log"
    try:
        got, wall = outputs_on_phone(device, tool.argv, clean, variant_check.io, variant_check.feeds, stem,
                                     run_dir / log_name, timeout_s)
    except DevlabError as exc:
        return unavailable(exc.one_line(), source, variant_check.inputs_sha256), log_name
    precision = (clean.gpu_precision or "the tool's default (classic: fp16 allowed)") if clean.use_gpu else None
    device_side = {"runtime": f"benchmark_model ({tool.dialect.kind if tool.dialect else 'classic'}) on the phone, "
                              f"{'GPU delegate' if clean.use_gpu else 'CPU'}, the clean run's flags, 1 run",
                   **({"gpu_precision": precision} if precision else {})}
    variant_check.save(run_dir / f"logs/{stem}-outputs.npz", got)
    return {**variant_check.record(got, source), "device": device_side, "run_wall_s": round(wall, 3),
            "arrays": f"logs/{stem}-outputs.npz"}, log_name


def outputs_on_phone(device: AdbDevice, argv_of, clean: BenchmarkOptions, io: ModelIo, feeds: dict[str, np.ndarray],
                     stem: str, log_path: Path, timeout_s: float) -> tuple[dict[str, np.ndarray], float]:
    """Runs `clean`'s settings once with the feeds; returns the outputs by name and the run's wall seconds.
    `argv_of` turns options into the tool's argv (BenchmarkTool.argv: dialect-checked)."""
    folder = f"{DEVICE_ROOT}/numerics/{stem}"
    device.mkdir(folder)
    files: list[tuple[str, tuple[int, ...], str]] = []
    with tempfile.TemporaryDirectory(prefix="devlab-numerics-") as tmp:
        for position, spec in enumerate(io.inputs):
            local = Path(tmp) / f"input{position}.bin"
            local.write_bytes(input_file_bytes(spec, feeds[spec.name]))
            remote = f"{folder}/input{position}.bin"
            device.push(local, remote)
            name = spec.tensor_name if "," not in spec.tensor_name else f"input{position}"
            files.append((name, spec.shape, remote))
        output_remote = f"{folder}/outputs.bin"
        device.shell(["rm", "-f", output_remote], timeout=30)
        options = replace(clean, num_runs=1, warmup_runs=0, min_secs=0.0, warmup_min_secs=0.0,
                          enable_op_profiling=False, op_profiling_output_mode=None, op_profiling_output_file=None,
                          result_file_path=None, runtime_info_file=None, input_value_files=tuple(files),
                          output_filepath=output_remote)
        started = time.monotonic()
        result = device.shell(argv_of(options), timeout=timeout_s)
        wall = time.monotonic() - started
        atomic_write_text(log_path, result.stdout + (("\n" + result.stderr) if result.stderr else ""))
        if result.exit_code != 0:
            last = [line for line in (result.stderr or result.stdout).splitlines() if line.strip()][-1:]
            raise ToolError(f"the outputs run failed (exit {result.exit_code}){': ' + last[0] if last else ''}",
                            f"see {log_path.name} in the run folder's logs", device=device.label, stage="numerics")
        local_out = Path(tmp) / "outputs.bin"
        device.pull(output_remote, local_out)
        return split_outputs(local_out.read_bytes(), io), wall
