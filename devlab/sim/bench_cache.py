"""The GPU delegate's program cache as the classic tool's OpenCL delegate keeps it (docs/sim-fidelity.md, the "GPU
program cache" rows, cite each rule):

- the tool hands it to the delegate only when `--delegate_serialize_dir` and `--delegate_serialize_token` are both
  non-empty (`tflite/tools/delegates/gpu_delegate_provider.cc`, CreateTfLiteDelegate);
- only the OpenCL path uses it (`tflite/delegates/gpu/delegate.cc`, InitializeOpenClApi; InitializeOpenGlApi has no
  serialization);
- the entry is `<dir>/<token>_<fingerprint>.bin`, the fingerprint combining the token, `gpuv2_data_` + the
  InferenceOptions (precision priorities, usage), the context's tensors and the delegated partition
  (`tflite/delegates/serialization.cc`, GetFingerprint / GetFilePath): another token or another precision is
  another file, never read. The simulated fingerprint is blake2b of those inputs (tensor sizes as shape and type),
  not Farmhash: the digits differ from a real build's, what they depend on does not;
- a read (SerializationEntry::GetData) that finds no file logs, through the interpreter's error reporter,
  `ERROR: File <path> couldn't be opened for reading: No such file or directory`; one that finds it logs
  `INFO: Found serialized data for model <token> (<n> B) at <path>` (TFLITE_LOG_PROD), and an empty one then
  `ERROR: No serialized data found: <path>`;
- a miss compiles, then SetData writes a temporary file in `<dir>` and renames it: a missing folder is
  `ERROR: Failed to open for writing: <dir>/<token><fingerprint><time>`, and the save's failure fails the OpenCL
  init. Its `Wrote serialized data ...` line is TFLITE_LOG, compiled out of release (NDEBUG) builds: not printed.
"""

from __future__ import annotations

import hashlib
import time
from typing import Literal

from devlab.build.gpu_compat import DelegationPlan
from devlab.build.tflite_graph import TfliteGraph
from devlab.sim.bench_flags import BenchFlags
from devlab.sim.costmodel import boundary_tensors

CacheState = Literal["off", "read", "written", "save_failed"]
KEY_PREFIX = "gpuv2_data_"      # delegate.cc kSerializedDataPrefix


def _join(folder: str, name: str) -> str:
    """serialization.cc JoinPath: no second separator when the folder ends with one."""
    return folder + name if folder.endswith("/") else f"{folder}/{name}"


def options_key(flags: BenchFlags) -> str:
    """What cl::InferenceOptions holds: the priorities (gpu_precision_loss_allowed) and the usage."""
    fp16 = flags.flag("gpu_precision_loss_allowed") if flags.has("gpu_precision_loss_allowed") else True
    sustained = flags.has("gpu_inference_for_sustained_speed") and flags.flag("gpu_inference_for_sustained_speed")
    return KEY_PREFIX + ("min_latency" if fp16 else "max_precision") + ("|sustained" if sustained else "|single")


def fingerprint(token: str, custom_key: str, graph: TfliteGraph, plan: DelegationPlan) -> int:
    tensors = graph.tensors
    context = [len(tensors)] + [_size(t.shape, t.dtype) for t in tensors[:100]]   # the first 100 tensors
    partition = list(plan.delegated) + [_size(graph.tensor(t).shape, graph.tensor(t).dtype)
                                        for t in boundary_tensors(graph, plan.delegated)]
    digest = hashlib.blake2b(digest_size=8)
    for part in (token, custom_key, repr(context), repr(partition)):
        digest.update(part.encode() + b"\x00")
    return int.from_bytes(digest.digest(), "little")


def _size(shape: tuple[int, ...], dtype: str) -> str:
    """A tensor's size, as its shape and type (what TfLiteTensor.bytes follows)."""
    return f"{dtype}{list(shape)}"


def program_cache(fs, cwd: str, flags: BenchFlags, graph: TfliteGraph, plan: DelegationPlan, sha: str,
                  runtime_log) -> CacheState:
    """Read the entry, or (a miss) write it as the compile's result; `runtime_log(severity, text)` prints the
    runtime's lines. "save_failed": the OpenCL init fails (the caller falls back to OpenGL or fails)."""
    if not (flags.has("delegate_serialize_dir") and flags.has("delegate_serialize_token")):
        return "off"
    folder, token = flags.text("delegate_serialize_dir"), flags.text("delegate_serialize_token")
    if not folder or not token:
        return "off"
    print_ = fingerprint(token, options_key(flags), graph, plan)
    path = _join(folder, f"{token}_{print_}.bin")
    host = fs.resolve(path, cwd)
    if host.is_file():
        data = host.read_bytes()
        runtime_log("INFO", f"Found serialized data for model {token} ({len(data)} B) at {path}")
        if data:
            return "read"
        runtime_log("ERROR", f"No serialized data found: {path}")
    else:
        runtime_log("ERROR", f"File {path} couldn't be opened for reading: No such file or directory")
    if not host.parent.is_dir():
        runtime_log("ERROR", f"Failed to open for writing: {_join(folder, f'{token}{print_}{int(time.time())}')}")
        return "save_failed"
    ops = "\n".join(graph.ops[n].op for n in plan.delegated)
    host.write_bytes(f"devlab-sim serialized GPU programs\n{sha}\n{ops}\n".encode())
    return "written"
