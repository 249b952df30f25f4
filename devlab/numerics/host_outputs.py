"""A model's outputs on this machine's CPU or GPU (LiteRT's CompiledModel, as the host benchmark runs it), in a
child process like the host benchmark (devlab.bench.host_child): a crash of the GPU accelerator fails that row's
numerics with the signal named, never devlab. The feeds go to the child and the outputs come back as .npz.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from devlab.bench.host_child import child_timeout_s, run_devlab_child
from devlab.bench.runtime_errors import last_error_line
from devlab.bench.host_runtime import Accelerator, HostBenchOptions
from devlab.build.pipeline import BuiltVariant
from devlab.errors import DevlabError, ToolError
from devlab.numerics.check import OutputCheck, unavailable
from devlab.provenance import MEASURED
from devlab.fsutil import atomic_write_json, read_json_object
from devlab.numerics.model_io import read_model_io
from devlab.numerics.reference import run_compiled

CHILD_MODULE = "devlab.numerics.host_outputs"
HOST_RUNTIME = {"cpu": "LiteRT CompiledModel, CPU (XNNPACK), as the host benchmark",
                "gpu": "LiteRT CompiledModel, GPU accelerator (CPU fallback allowed), its default precision "
                       "(fp16 allowed: GpuOptions.enforce_f32 off), as the host benchmark"}


def outputs_on_host(model_path: Path, accelerator: Accelerator, feeds: dict[str, np.ndarray], log_path: Path,
                    options: HostBenchOptions = HostBenchOptions(), enforce_f32: bool = False
                    ) -> dict[str, np.ndarray]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="devlab-numerics-") as tmp:
        feeds_path, result_path, status_path = Path(tmp) / "feeds.npz", Path(tmp) / "outputs.npz", \
            Path(tmp) / "status.json"
        np.savez(feeds_path, **feeds)
        argv = [sys.executable, "-m", CHILD_MODULE, "--model", str(model_path), "--accelerator", accelerator,
                "--feeds", str(feeds_path), "--result", str(result_path), "--status", str(status_path),
                "--threads", str(options.num_threads), *(["--enforce-f32"] if enforce_f32 else [])]
        with log_path.open("wb") as log:
            returncode = _run(argv, log, child_timeout_s(options), f"{model_path.name} on {accelerator}")
        outcome = read_json_object(status_path)
        if outcome.get("stage") == "done" and result_path.is_file():
            with np.load(result_path, allow_pickle=False) as data:
                return {name: np.array(data[name]) for name in data.files}
    if "failure" in outcome:
        raise ToolError(f"LiteRT could not run {model_path.name} on {accelerator} for its outputs: "
                        f"{outcome['failure']}", f"see {log_path.name} in the run folder's logs", stage="numerics")
    last = last_error_line(log_path.read_text("utf-8", "replace"))
    how = (signal.Signals(-returncode).name if -returncode in signal.valid_signals() else f"signal {-returncode}") \
        if returncode < 0 else f"exit code {returncode}"
    raise ToolError(f"the outputs run of {model_path.name} on {accelerator} died ({how})"
                    + (f"; its last error line: {last}" if last else ""),
                    f"a crash inside LiteRT, not in devlab; see {log_path.name} in the run folder's logs",
                    stage="numerics")


def _run(argv: list[str], log, timeout_s: float, what: str) -> int:
    try:
        return run_devlab_child(argv, log, timeout_s)
    except subprocess.TimeoutExpired:
        raise ToolError(f"LiteRT did not finish the outputs run of {what} within {timeout_s:.0f} s; it was stopped",
                        "lower --max-secs, or check the outputs log in the run folder", stage="numerics") from None


def check_on_host(check: OutputCheck, variant: BuiltVariant, accelerator: Accelerator, options: HostBenchOptions,
                  run_dir: Path) -> tuple[dict[str, Any], str]:
    """One row's `numerics` (measured on this machine) and the outputs run's log, relative to the run folder."""
    variant_check = check.for_variant(variant)
    log_name = f"logs/{variant.name}-{accelerator}-outputs.log"
    try:
        got = outputs_on_host(variant.path, accelerator, variant_check.feeds, run_dir / log_name, options)
    except DevlabError as exc:
        return unavailable(exc.one_line(), MEASURED, variant_check.inputs_sha256), log_name
    variant_check.save(run_dir / f"logs/{variant.name}-{accelerator}-outputs.npz", got)
    return {**variant_check.record(got, MEASURED), "device": {"runtime": HOST_RUNTIME[accelerator]},
            "arrays": f"logs/{variant.name}-{accelerator}-outputs.npz"}, log_name


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle: it stops this process
    parser = argparse.ArgumentParser(prog=CHILD_MODULE)
    for name in ("--model", "--feeds", "--result", "--status"):
        parser.add_argument(name, required=True, type=Path)
    parser.add_argument("--accelerator", required=True, choices=("cpu", "gpu"))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--enforce-f32", action="store_true")
    args = parser.parse_args(argv)
    atomic_write_json(args.status, {"stage": "run"})
    with np.load(args.feeds, allow_pickle=False) as data:
        feeds = {name: np.array(data[name]) for name in data.files}
    try:
        outputs = run_compiled(args.model, read_model_io(args.model), args.accelerator, feeds, args.threads,
                               args.enforce_f32)
    except Exception as exc:   # LiteRT raises RuntimeError / ValueError with its status text
        atomic_write_json(args.status, {"stage": "run", "failure": " ".join(str(exc).split())[:300]})
        return 0
    np.savez(args.result, **outputs)
    atomic_write_json(args.status, {"stage": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
