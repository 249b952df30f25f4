"""One host benchmark in a child process, so a native crash of LiteRT ends that variant, not devlab.

LiteRT's accelerators can take the whole process down (the GPU accelerator segfaults on some real models, an absl
CHECK aborts). The parent builds the child's argv (`python -m devlab.bench.host_child ...`, never a shell), sends
the child's stdout and stderr (LiteRT's native log) straight into the variant's log file, and reads back a small
JSON result file. The timed loop runs inside the child, so latency figures are those of an in-process run; the
child's start-up (interpreter, imports) is paid outside every timed region (docs/benchmarks.md has its cost).

The result file doubles as the child's progress: it names the stage the child reached (load, prepare, run), so a
child that dies says where. A signal becomes one line naming it with the runtime's last error line; a model
LiteRT refuses becomes the runtime's reason with a fix (devlab.bench.runtime_errors).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import devlab
from devlab.bench.host_runtime import (Accelerator, HostBenchOptions, HostBenchResult, Measurement, RuntimeFailure,
                                       Stage, check_model_file, measure, result_of, runtime_error)
from devlab.bench.runtime_errors import last_error_line
from devlab.errors import ToolError
from devlab.fsutil import atomic_write_json, read_json_object

CHILD_MODULE = "devlab.bench.host_child"
# Loading and preparing a big model (GPU kernel compilation of a full-size UNet) takes minutes, and the timed
# loops stop after max_secs plus one run: a child past this budget is hung, not slow.
LOAD_AND_PREPARE_BUDGET_S = 900.0
_STAGE_WORDS: dict[str, str] = {"load": "loading", "prepare": "preparing (its first run)", "run": "timing"}


def child_argv(model_path: Path, accelerator: Accelerator, options: HostBenchOptions, result_path: Path) -> list[str]:
    return [sys.executable, "-m", CHILD_MODULE, "--model", str(model_path), "--accelerator", accelerator,
            "--options", json.dumps(asdict(options)), "--result", str(result_path), "--parent", str(os.getpid())]


def child_timeout_s(options: HostBenchOptions) -> float:
    return LOAD_AND_PREPARE_BUDGET_S + 3 * options.max_secs


def run_in_child(model_path: Path, accelerator: Accelerator, options: HostBenchOptions, log_path: Path,
                 timeout_s: float | None = None) -> HostBenchResult:
    """The benchmark of `run_host_benchmark`, in a child process; the runtime's log is written to `log_path`
    whatever happens. Raises the same one-line errors, plus a ToolError naming the signal when the child dies, or
    the stage it was in when it ran past `timeout_s` (default: child_timeout_s(options)) and was stopped."""
    check_model_file(model_path, options)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="devlab-host-child-") as tmp:
        result_path = Path(tmp) / "result.json"
        with log_path.open("wb") as log:
            returncode = _run(child_argv(model_path, accelerator, options, result_path), log,
                              timeout_s or child_timeout_s(options), f"{model_path.name} on {accelerator}",
                              result_path)
        outcome = read_json_object(result_path)
    log_text = log_path.read_text("utf-8", "replace")
    if "measured" in outcome:
        measured = outcome["measured"]
        spans = tuple((int(start), int(duration)) for start, duration in measured["run_spans_ns"])
        return result_of(model_path, accelerator, options,
                         Measurement(float(measured["init_ms"]), float(measured["first_run_ms"]), spans,
                                     bool(measured["fully_accelerated"])), log_text)
    stage: Stage = outcome.get("stage", "load")
    if "failure" in outcome:
        raise runtime_error(model_path, accelerator, stage, str(outcome["failure"]), log_text)
    raise _death(model_path, accelerator, stage, returncode, log_text, log_path)


def run_devlab_child(argv: list[str], log, timeout_s: float) -> int:
    """Run a devlab child (`python -m devlab...`) with devlab importable, its output into `log`, and never leave it
    running: on a timeout, Ctrl-C or any error in devlab it is killed and reaped. Raises TimeoutExpired after that."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(devlab.__file__).resolve().parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])])}
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env)
    try:
        return child.wait(timeout=timeout_s)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def _run(argv: list[str], log, timeout_s: float, what: str, result_path: Path) -> int:
    try:
        return run_devlab_child(argv, log, timeout_s)
    except subprocess.TimeoutExpired:
        stage = read_json_object(result_path).get("stage", "load")
        raise ToolError(f"LiteRT did not finish {_STAGE_WORDS.get(stage, stage)} {what} within "
                        f"{timeout_s:g} s; the benchmark process was stopped",
                        "lower --max-secs, or check the runtime's log in the run folder for where it hung",
                        stage=stage) from None


def _death(model_path: Path, accelerator: Accelerator, stage: Stage, returncode: int, log_text: str,
           log_path: Path) -> ToolError:
    last = last_error_line(log_text)
    said = f"; its last error line: {last}" if last else "; it printed no error before it died"
    doing = f"{_STAGE_WORDS.get(stage, stage)} {model_path.name} on {accelerator}"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:   # a real-time signal has no name
            name = f"signal {number}"
        description = signal.strsignal(number) or name
        if number == signal.SIGKILL:
            fix = ("something killed the benchmark process, most often the kernel's out-of-memory killer: free "
                   f"memory or try a smaller model; the runtime's log is {log_path}")
        elif accelerator == "gpu":
            fix = ("measure this variant with --accelerator cpu, or report the crash to LiteRT with the model; the "
                   f"runtime's log is {log_path}")
        else:
            fix = f"report the crash to LiteRT with the model; the runtime's log is {log_path}"
        return ToolError(f"the LiteRT benchmark process died ({name}, {description}) while {doing}{said}", fix,
                         stage=stage)
    return ToolError(f"the benchmark process exited with code {returncode} while {doing}{said}",
                     f"the runtime's log is {log_path}", stage=stage)


def _die_with(parent: int) -> bool:
    """Ask Linux to SIGKILL this process when devlab dies (even SIGKILLed, which runs no cleanup), so no LiteRT
    session outlives the run; False when devlab is already gone. The kernel ties this to the thread that started
    the child: devlab starts host children from its main thread."""
    try:
        import ctypes
        pr_set_pdeathsig = 1   # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):   # not Linux: the parent still stops its child on every way it can see
        pass
    return os.getppid() == parent   # checked after prctl: a parent that died before it is not noticed otherwise


def main(argv: list[str] | None = None) -> int:
    """The child's side: measure, and leave the stage reached and the outcome in the result file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle: it stops this process
    parser = argparse.ArgumentParser(prog=CHILD_MODULE)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--accelerator", required=True, choices=("cpu", "gpu"))
    parser.add_argument("--options", required=True)
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--parent", required=True, type=int)
    args = parser.parse_args(argv)
    if not _die_with(args.parent):
        return 1
    options = HostBenchOptions(**json.loads(args.options))

    def on_stage(stage: Stage) -> None:   # written before each stage's work, never inside a timed run
        atomic_write_json(args.result, {"stage": stage})

    try:
        measured = measure(args.model, args.accelerator, options, on_stage)
    except RuntimeFailure as failure:
        atomic_write_json(args.result, {"stage": failure.stage, "failure": failure.message})
        return 0
    atomic_write_json(args.result, {"stage": "done", "measured": asdict(measured)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
