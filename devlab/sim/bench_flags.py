"""The classic benchmark_model flags the simulated binary understands, parsed as TFLite's Flags do (`--name=value`)."""

from __future__ import annotations

from dataclasses import dataclass

_DEFAULTS: dict[str, str] = {
    "graph": "", "num_runs": "50", "min_secs": "1", "max_secs": "150", "warmup_runs": "1", "warmup_min_secs": "0.5",
    "run_delay": "-1", "num_threads": "-1", "use_gpu": "false", "gpu_precision_loss_allowed": "true",
    "gpu_experimental_enable_quant": "true", "gpu_backend": "", "max_delegated_partitions": "1",
    "require_full_delegation": "false", "enable_op_profiling": "false", "op_profiling_output_mode": "stdout",
    "op_profiling_output_file": "", "delegate_serialize_dir": "", "delegate_serialize_token": "",
    "report_peak_memory_footprint": "false", "max_profiling_buffer_entries": "1024", "use_xnnpack": "true",
    "gpu_inference_for_sustained_speed": "false", "dry_run": "false", "result_file_path": "",
}
# Older names still accepted by builds in the wild.
_ALIASES = {"profiling_output_csv_file": "op_profiling_output_file"}
_BOOL_TRUE = {"1", "true", "True", "TRUE", "yes"}


@dataclass(frozen=True)
class BenchFlags:
    values: dict[str, str]
    unknown: tuple[str, ...]
    errors: tuple[str, ...]

    def text(self, name: str) -> str:
        return self.values[name]

    def flag(self, name: str) -> bool:
        return self.values[name] in _BOOL_TRUE

    def number(self, name: str) -> float:
        return float(self.values[name])

    def echo_key(self) -> str:
        """What the flags say about the run (seeds the simulated noise)."""
        return ";".join(f"{k}={v}" for k, v in sorted(self.values.items()) if v != _DEFAULTS[k])


def parse_flags(argv: list[str]) -> BenchFlags:
    values = dict(_DEFAULTS)
    unknown: list[str] = []
    errors: list[str] = []
    for arg in argv:
        if not arg.startswith("--"):
            unknown.append(arg)
            continue
        name, eq, value = arg[2:].partition("=")
        name = _ALIASES.get(name, name)
        if name not in values:
            unknown.append(arg)
            continue
        if not eq:
            value = "true"  # `--use_gpu` alone means true, as in TFLite's Flags
        if _DEFAULTS[name] in ("true", "false") and value not in _BOOL_TRUE | {"0", "false", "False", "FALSE", "no"}:
            errors.append(f"Failed to parse value '{value}' for flag --{name}")
            continue
        if _DEFAULTS[name].lstrip("-").replace(".", "").isdigit():
            try:
                float(value)
            except ValueError:
                errors.append(f"Failed to parse value '{value}' for flag --{name}")
                continue
        values[name] = value
    return BenchFlags(values=values, unknown=tuple(unknown), errors=tuple(errors))
