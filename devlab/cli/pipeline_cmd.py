"""`devlab pipeline run|list`: a multi-model pipeline (Stable Diffusion) end to end on the host, or composed from
per-component runs on a phone (devlab.pipeline)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from devlab.cli import common

app = typer.Typer(help="Multi-model pipelines (SD 1.4: text encoder, UNet steps, VAE decoder).", no_args_is_help=True)


@app.command("list")
def list_cmd() -> None:
    """The built-in pipeline definitions."""
    from devlab.pipeline.definition import builtin_names, load_definition
    for name in builtin_names():
        definition = load_definition(name)
        common.console.print(f"{name:<10} {definition.description} ({definition.guidance})", markup=False)


@app.command("run")
def run_cmd(
    pipeline: str = typer.Argument(..., help="A built-in pipeline (sd-small, sd14) or a .toml definition."),
    device: str = typer.Option("host", "--device", "-d", help="host, a phone serial or an alias."),
    accelerator: Optional[str] = typer.Option(None, "--accelerator",
                                              help="cpu or gpu (default: cpu on the host, gpu on a phone)."),
    out: Path = typer.Option(Path("traces"), "--out", help="Root folder for run folders."),
    seed: int = typer.Option(0, "--seed", help="Seed for zoo weights, token ids and the starting latent."),
    threads: int = typer.Option(0, "--threads", help="Host CPU threads (0: the runtime decides)."),
    runs: Optional[int] = typer.Option(None, "--runs", help="Phone: timed runs per component."),
    adb_server: list[str] = typer.Option([], "--adb-server", help="More adb servers, host:port (repeatable)."),
    benchmark_model: Optional[str] = typer.Option(None, "--benchmark-model",
                                                  help="Phone: your benchmark_model binary for the device's ABI."),
    trace: bool = typer.Option(False, "--trace/--no-trace", help="Phone: a Perfetto trace run per component."),
    op_profile: bool = typer.Option(False, "--op-profile/--no-op-profile", help="Phone: op-profile runs."),
    serialize_dir: Optional[str] = typer.Option(None, "--delegate-serialize-dir",
                                                help="Phone: a device folder for the GPU delegate's program cache in "
                                                     "the clean runs (cold / warm init come from devlab's own)."),
    json_out: bool = typer.Option(False, "--json", help="Print run.json on stdout."),
) -> None:
    """Build the pipeline's components and run it; writes traces/<timestamp>-<device>-<pipeline>/run.json."""
    from devlab.bench.phone_tool import PhoneBenchOptions
    from devlab.cli.progress import rich_progress
    from devlab.devices.resolve import AdbOptions
    from devlab.errors import UsageError
    from devlab.pipeline.definition import load_definition
    from devlab.pipeline.run import PipelineRequest, run_pipeline

    definition = load_definition(pipeline)
    on_host = device in ("host", "local")
    chosen = accelerator or ("cpu" if on_host else "gpu")
    if chosen not in ("cpu", "gpu"):
        raise UsageError(f"unknown accelerator '{chosen}'", "use --accelerator cpu or gpu")
    if threads < 0 or (runs is not None and runs < 1):
        raise UsageError("--threads must be >= 0 and --runs >= 1", "pass e.g. --threads 0 --runs 10")
    phone = PhoneBenchOptions(accelerators=(chosen,), num_runs=runs, trace=trace, op_profile=op_profile,
                              delegate_serialize_dir=serialize_dir)
    request = PipelineRequest(definition=definition, device=device, accelerator=chosen, out_root=out, seed=seed,
                              threads=threads, phone=phone, adb=AdbOptions(servers=tuple(adb_server)),
                              benchmark_model=benchmark_model)
    with rich_progress() as progress:
        outcome = run_pipeline(request, progress)
    data = outcome.data
    if json_out:
        common.emit_json(data)
    section = data["pipeline"]
    end = section["end_to_end"]
    for component in section["components"]:
        share = f"{100 * component['share']:.0f} %" if component["share"] is not None else "-"
        init = f"{component['init_cold_ms']:.1f}" if component["init_cold_ms"] is not None else "-"
        common.console.print(f"{component['role']:<12} {component['model']} {component['variant']} "
                             f"x{component['invocations']}: median {component['median_ms']:.2f} ms, total "
                             f"{component['total_ms']:.1f} ms ({share}), init {init} ms "
                             f"[{component['timing_source']}]", markup=False, soft_wrap=True)
    common.console.print(f"end to end ({end['source']}): {end['ms']:.1f} ms on {section['accelerator']}; "
                         f"{definition.guidance}", markup=False, soft_wrap=True)
    for note in data["notes"]:
        common.console.print(f"note: {note}", markup=False, soft_wrap=True)
    common.console.print(f"run folder: {outcome.run_dir}", markup=False)
