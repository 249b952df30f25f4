"""`devlab run`: build, measure and report one model on one device."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from devlab.cli.app import app
from devlab.cli.common import console, emit_json
from devlab.cli.progress import rich_progress


@app.command("run")
def run_command(
    device: str = typer.Option("host", "--device", "-d", help="host, a phone serial or an alias (s23, pixel8)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Zoo name or model file (default: sd-block)."),
    variants: Optional[str] = typer.Option(None, "--variants", "-v", help="Comma-separated variants."),
    accelerator: str = typer.Option("all", "--accelerator", help="Host only: cpu, gpu or all."),
    runs: int = typer.Option(20, "--runs", help="Timed runs (at least)."),
    warmup: int = typer.Option(2, "--warmup", help="Warm-up runs."),
    min_secs: float = typer.Option(0.5, "--min-secs", help="Minimum timed duration per variant."),
    max_secs: float = typer.Option(20.0, "--max-secs", help="Stop timing a variant after this long."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0: the runtime decides)."),
    out: Path = typer.Option(Path("traces"), "--out", help="Root folder for run folders."),
    seed: int = typer.Option(0, "--seed"),
    json_out: bool = typer.Option(False, "--json", help="Print run.json on stdout."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML: a case per device x variant."),
) -> None:
    """Build variants, run them on the device, and write traces/<timestamp>-<device>-<model>/run.json."""
    from devlab.bench.host_runtime import HostBenchOptions
    from devlab.errors import UsageError
    from devlab.report.console import variants_table
    from devlab.runner import RunRequest, run
    from devlab.zoo import DEFAULT_MODEL

    accelerators = {"all": ("cpu", "gpu"), "cpu": ("cpu",), "gpu": ("gpu",)}.get(accelerator)
    if accelerators is None:
        raise UsageError(f"unknown accelerator '{accelerator}'", "use --accelerator cpu, gpu or all")
    bench = HostBenchOptions(num_runs=runs, warmup_runs=warmup, min_secs=min_secs, max_secs=max_secs,
                             num_threads=threads, seed=seed)
    bench.validate()
    request = RunRequest(model=model or DEFAULT_MODEL, device=device, variants=variants, out_root=out,
                         bench=bench, accelerators=accelerators, seed=seed)
    from devlab.report.junit import junit_for_run
    with junit_for_run(junit, device) as junit_sink, rich_progress() as progress:
        outcome = run(request, progress)
        junit_sink.write(outcome.record.to_json())
    data = outcome.record.to_json()
    if json_out:
        emit_json(data)
    console.print(variants_table(data))
    for note in data["notes"]:
        console.print(f"note: {note}", markup=False)
    console.print(f"run folder: {outcome.run_dir}", markup=False)
