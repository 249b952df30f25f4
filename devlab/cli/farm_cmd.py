"""`devlab farm`: one model on many phones at once, one merged run folder, JUnit for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from devlab.cli.app import app
from devlab.cli.common import console, emit_json


@app.command("farm")
def farm_command(
    devices: str = typer.Option(..., "--devices", help="Comma-separated aliases or serials (s23,pixel8,...)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Zoo name or model file (default: sd-block)."),
    variants: Optional[str] = typer.Option(None, "--variants", "-v", help="Comma-separated variants."),
    accelerator: str = typer.Option("gpu", "--accelerator", help="gpu, cpu or all."),
    adb_server: list[str] = typer.Option([], "--adb-server", help="A remote adb server host:port (repeatable)."),
    runs: Optional[int] = typer.Option(None, "--runs", help="benchmark_model --num_runs."),
    min_secs: Optional[float] = typer.Option(None, "--min-secs", help="benchmark_model --min_secs."),
    rounds: int = typer.Option(1, "--rounds", help="Run every variant this many times, interleaved."),
    cooldown: float = typer.Option(0.0, "--cooldown", help="Seconds to rest between runs on a device."),
    max_temp: Optional[float] = typer.Option(None, "--max-temp", help="Wait before each run until the battery "
                                                                      "reports below this many °C."),
    thermal_timeout: float = typer.Option(300.0, "--thermal-timeout", help="Longest wait for --max-temp, seconds."),
    lease_timeout: float = typer.Option(0.0, "--lease-timeout", help="Wait this long for a phone another devlab "
                                                                     "process holds, then fail."),
    out: Path = typer.Option(Path("traces"), "--out", help="Root folder for run folders."),
    seed: int = typer.Option(0, "--seed", help="Seed of the run order."),
    check_outputs: Optional[bool] = typer.Option(None, "--check-outputs/--no-check-outputs",
                                                 help="Compare each row's outputs with the fp32 reference (host "
                                                      "CPU); overrides devlab.toml's [farm] check_outputs."),
    inputs: Optional[Path] = typer.Option(None, "--inputs", help="--check-outputs: an .npz of name -> array; "
                                          "overrides [farm] inputs (default: seeded random inputs)."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML: a case per device x variant."),
    json_out: bool = typer.Option(False, "--json", help="Print farm.json on stdout."),
) -> None:
    """Run the model's variants on every phone in parallel; exit 1 if any phone or variant failed."""
    from devlab.bench.phone_tool import PhoneBenchOptions
    from devlab.config import load_config
    from devlab.cli.progress import rich_progress
    from devlab.errors import DeviceError, UsageError
    from devlab.farm.farm import FarmRequest, farm_json, run_farm
    from devlab.farm.table import farm_table
    from devlab.report.junit import farm_suites, write_junit
    from devlab.runner import RunRequest, build_for_request
    from devlab.zoo import DEFAULT_MODEL

    accelerators = {"all": ("gpu", "cpu"), "cpu": ("cpu",), "gpu": ("gpu",)}.get(accelerator)
    if accelerators is None:
        raise UsageError(f"unknown accelerator '{accelerator}'", "use --accelerator gpu, cpu or all")
    if check_outputs is False and inputs is not None:
        raise UsageError("--no-check-outputs and --inputs contradict each other", "pass one of them")
    farm_settings = load_config().farm   # devlab.toml's [farm]; the flags win
    check = (farm_settings.check_outputs if check_outputs is None else check_outputs) or inputs is not None
    check_inputs = (inputs.absolute() if inputs is not None else farm_settings.inputs_file()) if check else None
    request = FarmRequest(
        devices=tuple(d.strip() for d in devices.split(",") if d.strip()), model=model or DEFAULT_MODEL,
        variants=variants, out_root=out, adb_servers=tuple(adb_server),
        bench=PhoneBenchOptions(accelerators=accelerators, num_runs=runs, min_secs=min_secs), rounds=rounds,
        cooldown_s=cooldown, max_temp_c=max_temp, thermal_timeout_s=thermal_timeout, lease_timeout_s=lease_timeout,
        seed=seed, check_outputs=check, inputs=check_inputs)
    request.validate()
    with rich_progress() as progress:
        _, manifest = build_for_request(RunRequest(model=request.model, variants=variants, seed=seed), progress)
    outcome = run_farm(request, manifest)
    if junit is not None:
        write_junit(junit, farm_suites([(d.name, d.record, d.error) for d in outcome.devices]))
    if json_out:
        emit_json(farm_json(outcome))
    console.print(farm_table(outcome))
    console.print(f"farm run folder: {outcome.run_dir}", markup=False)
    if not outcome.ok:
        failed = [d.name for d in outcome.devices if d.error or d.failed_variants]
        raise DeviceError(f"{len(failed)} of {len(outcome.devices)} devices failed or had failed variants: "
                          f"{', '.join(failed)}", f"see {outcome.run_dir}/farm.json and each device's run folder",
                          stage="farm")
