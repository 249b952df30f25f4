"""The host end-to-end run of a diffusion pipeline, in one process (devlab's child): every component loaded with
LiteRT's CompiledModel, then text encoder x2 -> UNet per step with classifier-free guidance and a DDIM update ->
VAE decoder, each output handed to the next component as its input.

Per component: cold init (CompiledModel.from_file + buffers), warm init (loaded again: on CPU with XNNPACK's weight
cache, CpuOptions.xnnpack_weight_cache_path, written by the cold load; ai-edge-litert's GpuOptions has no program
cache option, so GPU has none), first run, the run time of every invocation, and the peak RSS added while it loads
and while its first run prepares (each from the RSS just before). Peak RSS
is the kernel's high-water mark (VmHWM in /proc/self/status), reset before each stage by writing 5 to
/proc/self/clear_refs ("Reset the peak resident set size", since Linux 4.0: proc_pid_clear_refs(5) and the kernel's
Documentation/filesystems/proc.rst); where that is refused, the
process's ru_maxrss, which cannot be reset, and the result says so.

Token ids are seeded random ids (no tokenizer: a prompt's text does not change the time); the starting latent is
seeded noise. The scheduler is DDIM (eta 0) over SD 1.4's scaled-linear betas (0.00085..0.012, 1000 steps, steps
offset 1), as diffusers' DDIMScheduler configured for SD 1.4. Run as `python -m devlab.pipeline.host_run PLAN RESULT`.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from devlab.fsutil import atomic_write_json

VAE_SCALE = 0.18215          # SD 1.4's latent scaling factor (the decoder sees latent / 0.18215)
TOKEN_ID_LIMIT = 100         # seeded ids below every vocabulary we build (devlab.random_inputs' bound)


def _rss_bytes(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakMeter:
    """Peak RSS added during a stage: VmHWM after minus VmRSS before, with the mark reset at the start."""

    def __init__(self) -> None:
        self.method = "VmHWM reset through /proc/self/clear_refs"
        self.highest = 0   # the highest peak of any stage: the whole run's peak

    def start(self) -> int:
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            self.method = "ru_maxrss (the peak could not be reset: deltas after the first stage may read 0)"
        return _rss_bytes("VmRSS") or 0

    def delta(self, before: int) -> int:
        peak = _rss_bytes("VmHWM") if self.method.startswith("VmHWM") else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.highest = max(self.highest, peak)
        return max(0, peak - before)


class Component:
    """One loaded model with its buffers; `run` writes the inputs, runs, and reads the output."""

    def __init__(self, spec: dict[str, Any], accelerator: str, threads: int, cache_dir: Path) -> None:
        self.spec = spec
        self.role = spec["role"]
        self.accelerator = accelerator
        self.threads = threads
        self.cache = str(cache_dir / f"{self.role}.xnnpack-cache") if accelerator == "cpu" else ""
        self.run_ms: list[float] = []

    def load(self) -> float:
        from ai_edge_litert.compiled_model import CompiledModel
        from ai_edge_litert.options import CpuOptions, GpuOptions, HardwareAccelerator, Options
        cpu = CpuOptions(num_threads=self.threads, xnnpack_weight_cache_path=self.cache)
        if self.accelerator == "gpu":
            options = Options(HardwareAccelerator.GPU | HardwareAccelerator.CPU, cpu_options=cpu,
                              gpu_options=GpuOptions(benchmark_mode=True))
        else:
            options = Options(HardwareAccelerator.CPU, cpu_options=cpu)
        self.model = self.inputs = self.outputs = None
        start = time.perf_counter()
        self.model = CompiledModel.from_file(self.spec["path"], options=options)
        self.inputs = self.model.create_input_buffers(0)
        self.outputs = self.model.create_output_buffers(0)
        elapsed = (time.perf_counter() - start) * 1e3
        signatures = self.model.get_signature_list()
        key = next(iter(signatures))
        details = self.model.get_input_tensor_details(key)
        self.input_specs = [(name, tuple(details[name]["shape"]), np.dtype(details[name]["dtype"]))
                            for name in signatures[key]["inputs"]]
        out = self.model.get_output_tensor_details(key)[signatures[key]["outputs"][0]]
        self.output_shape = tuple(out["shape"])
        return elapsed

    def run(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        for buffer, (name, shape, dtype) in zip(self.inputs, self.input_specs):
            buffer.write(np.ascontiguousarray(arrays[name].reshape(shape).astype(dtype)))
        start = time.perf_counter()
        self.model.run_by_index(0, self.inputs, self.outputs)
        self.run_ms.append((time.perf_counter() - start) * 1e3)
        return self.outputs[0].read(int(np.prod(self.output_shape)), np.float32).reshape(self.output_shape)

    def input_by_rank(self) -> dict[str, str]:
        """UNet inputs by what they hold: rank 4 the latent, one element the timestep, rank 3 the context."""
        roles: dict[str, str] = {}
        for name, shape, _ in self.input_specs:
            kind = "latent" if len(shape) == 4 else "timestep" if int(np.prod(shape)) <= 2 else "context"
            roles[kind] = name
        return roles


def ddim_timesteps(steps: int) -> tuple[np.ndarray, np.ndarray]:
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    alphas_cumprod = np.cumprod(1.0 - betas)
    ratio = 1000 // steps
    timesteps = (np.arange(steps) * ratio)[::-1] + 1
    return timesteps, alphas_cumprod


def run_pipeline(plan: dict[str, Any]) -> dict[str, Any]:
    rng = np.random.default_rng(int(plan["seed"]))
    meter = PeakMeter()
    cache_dir = Path(plan["cache_dir"])
    cache_dir.mkdir(parents=True, exist_ok=True)
    components = {spec["role"]: Component(spec, plan["accelerator"], int(plan["threads"]), cache_dir)
                  for spec in plan["components"]}
    report: dict[str, dict[str, Any]] = {}
    process_before = _rss_bytes("VmRSS") or 0
    for role, component in components.items():
        before = meter.start()
        cold = component.load()
        warm = None
        if plan["accelerator"] == "cpu":   # the cold load wrote the weight cache; load again from it
            warm = component.load()
        report[role] = {"init_cold_ms": cold, "init_warm_ms": warm, "load_peak_rss_delta_bytes": meter.delta(before)}
    text, unet, vae = components["text_encoder"], components["unet"], components["vae_decoder"]
    ids = {name: rng.integers(0, TOKEN_ID_LIMIT, shape) for name, shape, _ in text.input_specs}
    empty = {name: np.zeros(shape, np.int32) for name, shape, _ in text.input_specs}
    latent_shape = next(shape for _, shape, _ in unet.input_specs if len(shape) == 4)
    batch = latent_shape[0]
    timesteps, alphas = ddim_timesteps(int(plan["steps"]))
    guidance = float(plan["guidance_scale"])
    unet_in = unet.input_by_rank()

    # first runs: the runtime's one-off preparation, timed apart from the end-to-end loop
    for role, component in components.items():
        before = meter.start()
        feed = {name: (np.zeros(shape, dtype) if dtype.kind in "iu" else rng.standard_normal(shape))
                for name, shape, dtype in component.input_specs}
        start = time.perf_counter()
        component.run(feed)
        report[role]["first_run_ms"] = (time.perf_counter() - start) * 1e3
        report[role]["run_peak_rss_delta_bytes"] = meter.delta(before)
        component.run_ms.clear()

    before = meter.start()
    start = time.perf_counter()
    context_cond = text.run(ids)
    context_uncond = text.run(empty)
    latent = rng.standard_normal((1, *latent_shape[1:]))
    ratio = 1000 // int(plan["steps"])
    for t in timesteps:
        step_t = np.full((1, 1), float(t))
        if batch == 2:   # one batch-2 run: [unconditional, conditional]
            both = unet.run({unet_in["latent"]: np.concatenate([latent, latent]),
                             unet_in["timestep"]: np.concatenate([step_t, step_t]),
                             unet_in["context"]: np.concatenate([context_uncond, context_cond])})
            eps_uncond, eps_cond = both[:1], both[1:]
        else:
            eps_uncond = unet.run({unet_in["latent"]: latent, unet_in["timestep"]: step_t,
                                   unet_in["context"]: context_uncond})
            eps_cond = unet.run({unet_in["latent"]: latent, unet_in["timestep"]: step_t,
                                 unet_in["context"]: context_cond})
        eps = eps_uncond + guidance * (eps_cond - eps_uncond)
        alpha, previous = alphas[t], alphas[t - ratio] if t - ratio >= 0 else alphas[0]
        x0 = (latent - np.sqrt(1 - alpha) * eps) / np.sqrt(alpha)
        latent = np.sqrt(previous) * x0 + np.sqrt(1 - previous) * eps
    image = vae.run({vae.input_specs[0][0]: latent / VAE_SCALE})
    end_to_end_ms = (time.perf_counter() - start) * 1e3
    loop_peak = meter.delta(before)
    image = np.clip((image + 1.0) / 2.0, 0.0, 1.0)
    np.save(Path(plan["image_path"]), image.astype(np.float32))
    components_out = []
    for role, component in components.items():
        entry = report[role]
        components_out.append({
            "role": role, "init_cold_ms": entry["init_cold_ms"], "init_warm_ms": entry["init_warm_ms"],
            "first_run_ms": entry["first_run_ms"], "invocation_ms": component.run_ms,
            "load_peak_rss_delta_bytes": entry["load_peak_rss_delta_bytes"],
            "run_peak_rss_delta_bytes": entry["run_peak_rss_delta_bytes"],
            "fully_accelerated": bool(component.model.is_fully_accelerated()),
        })
    return {
        "components": components_out, "end_to_end_ms": end_to_end_ms,
        "init_cold_ms": sum(e["init_cold_ms"] for e in report.values()),
        "peak_rss_delta_bytes": max(0, meter.highest - process_before),
        "loop_peak_rss_delta_bytes": loop_peak, "rss_method": meter.method,
        "image": {"shape": list(image.shape), "finite": bool(np.isfinite(image).all()),
                  "mean": float(image.mean()), "std": float(image.std())},
        "latent_finite": bool(np.isfinite(latent).all()),
    }


def main(argv: list[str]) -> int:
    plan_path, result_path = Path(argv[0]), Path(argv[1])
    plan = json.loads(plan_path.read_text())
    try:
        result = run_pipeline(plan)
    except Exception as exc:   # LiteRT raises RuntimeError / ValueError with its status text
        atomic_write_json(result_path, {"failure": f"{type(exc).__name__}: {exc}"})
        return 0
    atomic_write_json(result_path, {"result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
