"""The GPU delegate's program cache on a phone: a cold init (first launch: compile, then write the cache) and a warm
init (every later launch: read it), measured by two short runs of each GPU variant.

What a real build does (docs/sim-fidelity.md, the "GPU program cache" rows, cite each): the classic tool hands the
cache to the GPU delegate only when both `--delegate_serialize_dir` and `--delegate_serialize_token` are non-empty
(`tflite/tools/delegates/gpu_delegate_provider.cc`); only the OpenCL path reads and writes it
(`tflite/delegates/gpu/delegate.cc`, InitializeOpenClApi); the file is `<dir>/<token>_<fingerprint>.bin`, the
fingerprint covering the token, the delegate's options and the graph (`tflite/delegates/serialization.cc`), so
another token or another precision never reads it. A run that read it logs `Initialized OpenCL-based API from
serialized data.`; one that compiled logs `Initialized OpenCL-based API.`: devlab counts a warm init only when the
log says it loaded serialized data.

The clean run keeps its own flags, so `timing.init_ms` means what it always did; the two runs here use a folder of
devlab's own per variant (emptied before the cold run) and a token from the model's sha256 and the GPU settings.
LiteRT's CompiledModel tool has no `--delegate_serialize_*` flags (2.2.0; later builds have `--gpu_serialization_dir`,
but their GPU accelerator reports a cache load only to logcat): no numbers are made up for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

from devlab.bench.flags import BenchmarkOptions
from devlab.bench.log_result import BenchmarkRun
from devlab.bench.tool_dialect import ToolDialect
from devlab.devices.adb import DEVICE_ROOT
from devlab.errors import DevlabError, ToolError
from devlab.report.run_record import Timing, VariantRun

CACHE_ROOT = f"{DEVICE_ROOT}/gpu-program-cache"     # one folder per variant and GPU settings: <root>/<token>
NOT_SUPPORTED = "GPU program cache: not supported by this benchmark tool"
INIT_MS_NOTE = ("init ms is the clean run's init, as before (compiled from scratch, unless --delegate-serialize-dir "
                "named a cache); cold / warm init come from two short runs with devlab's own GPU program cache: the "
                "cold one after emptying it (it compiles and writes the cache), the warm one reading it (its log says "
                "'from serialized data')")
# what the pipeline says of a component's warm init (devlab.pipeline.run)
PHONE_CACHE_INIT = "GPU delegate program cache (--delegate_serialize_dir), written by the cold run of the component"
PHONE_WARM_INIT = "not measured: the GPU delegate's program cache applies to GPU runs only"

Invoke = Callable[[BenchmarkOptions, str], tuple[BenchmarkRun, int]]
Pace = Callable[[str], None]


@dataclass(frozen=True)
class CacheTiming(Timing):
    """The clean run's timing plus the two inits of the program cache (None: not measured, extra.gpu_cache says why)."""

    init_cold_ms: float | None = None
    init_warm_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "init_cold_ms": self.init_cold_ms, "init_warm_ms": self.init_warm_ms}


def unsupported_reason(dialect: ToolDialect | None, gpu_backend: str | None) -> str | None:
    """Why this tool cannot measure a cold and a warm init (None: it can)."""
    if dialect is None or dialect.kind != "classic":
        extra = (" (this LiteRT build's --gpu_serialization_dir cache is reported only in logcat, which devlab does "
                 "not read)" if dialect is not None and dialect.takes("gpu_serialization_dir") else
                 " (LiteRT's benchmark_model has no --delegate_serialize_dir / --delegate_serialize_token)")
        return NOT_SUPPORTED + extra
    if not (dialect.takes("delegate_serialize_dir") and dialect.takes("delegate_serialize_token")):
        return NOT_SUPPORTED + " (its --help lists no --delegate_serialize_dir / --delegate_serialize_token)"
    if gpu_backend == "gl":
        return "GPU program cache: none with --gpu-backend gl (the GPU delegate caches OpenCL programs only)"
    return None


def cache_token(model_sha256: str, clean: BenchmarkOptions) -> str:
    """The model's sha256 and the settings that change the compiled programs (the delegate fingerprints its options
    as well; the token keeps each setting's cache in its own folder)."""
    return f"{model_sha256[:32]}-{clean.gpu_precision or 'precision-default'}-{clean.gpu_backend or 'backend-auto'}"


def variant_cache_dir(token: str) -> str:
    return f"{CACHE_ROOT}/{token}"


def _checked(device, argv: list[str], what: str) -> str:
    result = device.shell(argv, timeout=60)
    if not result.ok:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise ToolError(f"{what}: `{' '.join(argv)}` exited {result.exit_code}" + (f": {detail[-1]}" if detail else ""),
                        "check the phone's storage and permissions", device=device.label, stage="gpu program cache")
    return result.stdout


def empty_dir(device, folder: str) -> None:
    """An empty folder (the delegate writes only into one that exists)."""
    _checked(device, ["rm", "-rf", folder], "empty the GPU program cache")
    _checked(device, ["mkdir", "-p", folder], "create the GPU program cache folder")


def _listing(device, folder: str) -> list[str]:
    result = device.shell(["ls", folder], timeout=60)
    return sorted(line.strip() for line in result.stdout.splitlines() if line.strip()) if result.ok else []


def clear_caches(device, serialize_dir: str | None, model_sha256s: list[str]) -> str:
    """`--clear-cache`: every folder under devlab's cache root, and in a --delegate-serialize-dir the files of this
    run's models (the clean run's token there is the model's sha256); what was removed, as a note."""
    folders = _listing(device, CACHE_ROOT)
    _checked(device, ["rm", "-rf", CACHE_ROOT], "remove devlab's GPU program caches")
    note = (f"--clear-cache: removed devlab's GPU program caches on the phone ({CACHE_ROOT}: {len(folders)} "
            f"folder(s))")
    if serialize_dir:
        removed = 0
        for sha in model_sha256s:
            found = device.shell(["find", serialize_dir, "-maxdepth", "1", "-type", "f", "-name", f"{sha}_*.bin"],
                                 timeout=60)
            files = [line.strip() for line in found.stdout.splitlines() if line.strip()] if found.ok else []
            if files:
                _checked(device, ["rm", "-f", *files], "remove cached GPU programs")
                removed += len(files)
        note += f" and {removed} cached program file(s) of this run's models in {serialize_dir}"
    return note


def _init_ms(run: BenchmarkRun) -> float | None:
    return None if run.init_us is None else run.init_us / 1000.0


def _cold(run: BenchmarkRun) -> tuple[float | None, str | None]:
    if run.delegation.gpu_api_from_cache:
        return None, ("the cold run's log says it loaded serialized data: the cache folder was not empty, so this "
                      "was no first launch")
    return _init_ms(run), None if run.init_us is not None else "the cold run's log has no init time"


def _warm(run: BenchmarkRun) -> tuple[float | None, str | None]:
    api = run.delegation.gpu_api
    if run.delegation.gpu_api_from_cache:
        return _init_ms(run), None if run.init_us is not None else "the warm run's log has no init time"
    if api is None:
        return None, ("the warm run's log has no 'Initialized ...-based API' line: no GPU delegate kernel, so there "
                      "are no GPU programs to cache")
    if api != "OpenCL":
        return None, f"the warm run initialized the {api} API: the GPU delegate caches OpenCL programs only"
    return None, ("the warm run compiled its GPU programs again (log: 'Initialized OpenCL-based API.', not '... from "
                  "serialized data.'): the cache the cold run wrote was not read")


def measure_cache(device, dialect: ToolDialect | None, clean: BenchmarkOptions, model_sha256: str, source: str,
                  invoke: Invoke, pace: Pace) -> dict[str, Any]:
    """The cold and the warm run (short: one warm-up, one timed run); extra.gpu_cache of the row."""
    reason = unsupported_reason(dialect, clean.gpu_backend)
    block: dict[str, Any] = {"source": source, "init_cold_ms": None, "init_warm_ms": None}
    if reason is not None:
        return {**block, "status": "unsupported", "reason": reason}
    token = cache_token(model_sha256, clean)
    folder = variant_cache_dir(token)
    short = replace(clean, num_runs=1, warmup_runs=1, min_secs=0.0,
                    warmup_min_secs=0.0 if dialect is not None and dialect.takes("warmup_min_secs") else None,
                    result_file_path=None, runtime_info_file=None, input_value_files=(), output_filepath=None,
                    delegate_serialize_dir=folder, delegate_serialize_token=token)
    block.update(status="failed", dir=folder, token=token, init_ms_is="the clean run's init (see notes)")
    try:
        empty_dir(device, folder)
        pace("gpu-cache-cold")
        cold_run, code = invoke(short, "gpu-cache-cold")
        if code != 0 or cold_run.status == "failed":
            raise ToolError(f"the cold run failed (exit {code})", "see logs gpu-cache-cold", stage="gpu program cache")
        cold_ms, cold_reason = _cold(cold_run)
        block.update(init_cold_ms=cold_ms, cold={"gpu_api": cold_run.delegation.gpu_api,
                                                 "from_cache": cold_run.delegation.gpu_api_from_cache,
                                                 "reason": cold_reason},
                     written=_listing(device, folder))
        pace("gpu-cache-warm")
        warm_run, code = invoke(short, "gpu-cache-warm")
        if code != 0 or warm_run.status == "failed":
            raise ToolError(f"the warm run failed (exit {code})", "see logs gpu-cache-warm", stage="gpu program cache")
    except DevlabError as exc:
        return {**block, "error": exc.one_line()}
    warm_ms, warm_reason = _warm(warm_run)
    block.update(init_warm_ms=warm_ms, warm={"gpu_api": warm_run.delegation.gpu_api,
                                             "from_cache": warm_run.delegation.gpu_api_from_cache,
                                             "reason": warm_reason},
                 status="ok" if cold_ms is not None and warm_ms is not None else "partial")
    return block


def with_cache_timing(timing: Timing, block: dict[str, Any]) -> CacheTiming:
    return CacheTiming(timing.source, timing.init_ms, timing.first_run_ms, timing.latency,
                       init_cold_ms=block.get("init_cold_ms"), init_warm_ms=block.get("init_warm_ms"))


def component_inits(row: VariantRun) -> tuple[float | None, float | None, str]:
    """A pipeline component's (cold init, warm init, what the warm one is) from its phone row: the cache runs' when
    they measured, else the clean run's init as the cold one and the reason the warm one is missing."""
    timing = row.timing
    block = row.extra.get("gpu_cache") if isinstance(row.extra.get("gpu_cache"), dict) else None
    clean_init = timing.init_ms if timing is not None else None
    if not isinstance(timing, CacheTiming) or block is None:
        return clean_init, None, PHONE_WARM_INIT
    cold = timing.init_cold_ms if timing.init_cold_ms is not None else clean_init
    if timing.init_warm_ms is not None:
        return cold, timing.init_warm_ms, PHONE_CACHE_INIT
    why = (block.get("warm") or {}).get("reason") or block.get("reason") or block.get("error") or "not measured"
    return cold, None, f"not measured: {why}"
