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
    accelerator: Optional[str] = typer.Option(None, "--accelerator",
                                              help="cpu, gpu or all (default: all on host, gpu on a phone)."),
    runs: int = typer.Option(20, "--runs", help="Timed runs (at least)."),
    warmup: int = typer.Option(2, "--warmup", help="Warm-up runs."),
    warmup_secs: Optional[float] = typer.Option(None, "--warmup-secs",
                                                help="Warm up for at least this long (default 0.5 s, as "
                                                     "benchmark_model)."),
    min_secs: float = typer.Option(0.5, "--min-secs", help="Minimum timed duration per variant."),
    max_secs: float = typer.Option(20.0, "--max-secs", help="Stop timing a variant after this long."),
    threads: int = typer.Option(0, "--threads", help="CPU threads (0: the runtime decides)."),
    out: Path = typer.Option(Path("traces"), "--out", help="Root folder for run folders."),
    seed: int = typer.Option(0, "--seed"),
    constant_weights: bool = typer.Option(False, "--constant-weights",
                                          help="Timing-only variants: every weight a constant (big models)."),
    input_shape: list[str] = typer.Option([], "--input-shape",
                                          help="NAME=1x224x224x3 (repeatable): the shape an input is converted "
                                               "with; a Keras model's None batch is 1 without it."),
    check_outputs: bool = typer.Option(False, "--check-outputs",
                                       help="Compare each variant's outputs with the fp32 reference (host CPU)."),
    inputs: Optional[Path] = typer.Option(None, "--inputs", help="--check-outputs: an .npz of name -> array "
                                          "(default: seeded random inputs)."),
    json_out: bool = typer.Option(False, "--json", help="Print run.json on stdout."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML: a case per device x variant."),
    gpu_precision: Optional[str] = typer.Option(None, "--gpu-precision", help="Phone: fp16 or fp32 (GPU delegate)."),
    gpu_backend: Optional[str] = typer.Option(None, "--gpu-backend", help="Phone: cl or gl (default: the delegate's)."),
    taskset: Optional[str] = typer.Option(None, "--taskset", help="Phone: CPU mask for benchmark_model, e.g. f0."),
    require_full_delegation: bool = typer.Option(False, "--require-full-delegation",
                                                 help="Phone: fail a variant the GPU delegate does not fully take."),
    serialize_dir: Optional[str] = typer.Option(None, "--delegate-serialize-dir",
                                                help="Phone: folder on the device for the GPU delegate's cache in "
                                                     "the clean run (cold / warm init use devlab's own)."),
    clear_cache: bool = typer.Option(False, "--clear-cache", help="Phone: first remove every GPU program cache "
                                     "devlab made on the phone (and this run's in --delegate-serialize-dir)."),
    cooldown: float = typer.Option(2.0, "--cooldown", help="Phone: seconds to wait between one variant's runs."),
    op_profile: bool = typer.Option(True, "--op-profile/--no-op-profile", help="Phone: run the op-profile run."),
    trace: bool = typer.Option(True, "--trace/--no-trace", help="Phone: record a Perfetto trace run per variant."),
    energy: bool = typer.Option(False, "--energy", help="Phone: energy per inference (Perfetto android.power: "
                                "rails / battery, minus an idle window)."),
    sustained: Optional[str] = typer.Option(None, "--sustained", help="Phone: run each variant back to back this "
                                            "long (e.g. 10m): latency, GPU clock and temperatures over time."),
    adb_server: list[str] = typer.Option([], "--adb-server", help="More adb servers, host:port (repeatable)."),
    adb: Optional[str] = typer.Option(None, "--adb", help="adb binary for the local server (default: adbutils')."),
    benchmark_model: Optional[str] = typer.Option(None, "--benchmark-model",
                                                  help="Phone: your benchmark_model binary for the device's ABI."),
    timeout: float = typer.Option(900.0, "--timeout", help="Phone: seconds one benchmark_model run may take."),
    lease_timeout: float = typer.Option(0.0, "--lease-timeout",
                                        help="Phone: wait this long for a phone another devlab process is using."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Finish run folder RUN: keep its ok variants, "
                                          "run the rest on the same device with the same settings (a --check-outputs "
                                          "run checks them too, on the same inputs; --inputs: the file if moved)."),
) -> None:
    """Build variants, run them on the device, and write traces/<timestamp>-<device>-<model>/run.json."""
    from devlab.bench.host_runtime import HostBenchOptions
    from devlab.bench.phone_tool import PhoneBenchOptions
    from devlab.build.input_shapes import parse_input_shapes
    from devlab.devices.resolve import AdbOptions
    from devlab.errors import UsageError
    from devlab.report.console import kernel_tables, variants_table
    from devlab.runner import RunRequest, run
    from devlab.zoo import DEFAULT_MODEL

    on_host = device in ("host", "local")
    accelerators = {"all": ("cpu", "gpu"), "cpu": ("cpu",), "gpu": ("gpu",)}.get(
        accelerator or ("all" if on_host else "gpu"))
    if accelerators is None:
        raise UsageError(f"unknown accelerator '{accelerator}'", "use --accelerator cpu, gpu or all")
    if warmup_secs is not None and not 0 <= warmup_secs < float("inf"):
        raise UsageError(f"--warmup-secs must be a number of seconds >= 0, got {warmup_secs:g}",
                         "pass e.g. --warmup-secs 2")
    bench = HostBenchOptions(num_runs=runs, warmup_runs=warmup, min_secs=min_secs, max_secs=max_secs,
                             num_threads=threads, seed=seed,
                             **({} if warmup_secs is None else {"warmup_min_secs": warmup_secs}))
    bench.validate()
    if timeout <= 0 or lease_timeout < 0:
        raise UsageError(f"--timeout must be > 0 and --lease-timeout >= 0 (got {timeout:g}, {lease_timeout:g})",
                         "pass e.g. --timeout 900 --lease-timeout 60")
    if (energy or sustained) and on_host:
        raise UsageError("--energy and --sustained measure a phone's power and heat",
                         "pass --device with a phone (or a simulated one: devlab sim start)")
    if clear_cache and on_host:
        raise UsageError("--clear-cache removes the GPU delegate's program caches on a phone",
                         "pass --device with a phone, or leave --clear-cache out")
    if not 0 <= cooldown < float("inf"):
        raise UsageError(f"--cooldown must be a number of seconds >= 0, got {cooldown:g}", "pass e.g. --cooldown 2")
    from devlab.sustained.series import parse_duration
    sustained_s = parse_duration(sustained) if sustained else None
    phone = PhoneBenchOptions(accelerators=accelerators, gpu_precision=gpu_precision, gpu_backend=gpu_backend,
                              num_runs=runs, warmup_runs=warmup, warmup_min_secs=warmup_secs, min_secs=min_secs,
                              max_secs=max_secs,
                              num_threads=threads or None, taskset_mask=taskset,
                              require_full_delegation=require_full_delegation, delegate_serialize_dir=serialize_dir,
                              op_profile=op_profile, trace=trace, timeout_s=timeout, energy=energy,
                              sustained_s=sustained_s, cooldown_s=cooldown, clear_cache=clear_cache)
    phone.benchmark_options("/data/local/tmp/devlab/check.tflite", "gpu", "check")   # bad flags fail before any work
    request = RunRequest(model=model or DEFAULT_MODEL, device=device, variants=variants, out_root=out,
                         bench=bench, accelerators=accelerators, seed=seed, phone=phone,
                         adb=AdbOptions(servers=tuple(adb_server), adb_binary=adb), benchmark_model=benchmark_model,
                         lease_timeout_s=lease_timeout, constant_weights=constant_weights,
                         input_shapes=parse_input_shapes(input_shape), check_outputs=check_outputs or bool(inputs),
                         inputs=inputs)
    from devlab.report.junit import junit_for_run
    with junit_for_run(junit, device) as junit_sink, rich_progress() as progress:
        if resume is not None:   # the run's own device and settings; of the options above only --inputs is used
            from devlab.resume import resume_run
            resumed = resume_run(resume, progress, request.adb, lease_timeout, inputs)
            run_dir, data = resumed.run_dir, resumed.data
        else:
            outcome = run(request, progress)
            run_dir, data = outcome.run_dir, outcome.record.to_json()
        junit_sink.write(data)
    if json_out:
        emit_json(data)
    console.print(variants_table(data))
    for table in kernel_tables(data):
        console.print(table)
    from devlab.numerics.check import summary_line
    for row in data["variants"]:   # --check-outputs: one line per row, exceeded in red
        line = summary_line(row)
        if line is not None:
            exceeded = row["numerics"]["status"] == "exceeded"
            console.print(f"numerics: {line}", markup=False, style="bold red" if exceeded else None, soft_wrap=True)
    from devlab.report.energy_console import energy_lines
    for line in energy_lines(data):   # --energy / --sustained
        console.print(line, markup=False, soft_wrap=True)
    for note in data["notes"]:
        console.print(f"note: {note}", markup=False)
    for row in data["variants"]:   # a row's own notes (a run that started with the phone throttling)
        for note in (row.get("extra") or {}).get("notes", []):
            console.print(f"note: {row['variant']} on {row['accelerator']}: {note}", markup=False, soft_wrap=True)
    console.print(f"run folder: {run_dir}", markup=False)
    failed = [v for v in data["variants"] if v["status"] == "failed"]
    if failed:   # exit 1: the run failed for these; the run folder keeps what finished
        for row in failed:   # the table cuts errors short: each failed row's whole reason, one line each
            console.print(f"failed: {row['variant']} on {row['accelerator']}: {row['error']}", style="bold red",
                          markup=False, soft_wrap=True)
        raise typer.Exit(1)
    if not any(v["status"] == "ok" for v in data["variants"]):   # a CI job must not pass on a run that measured nothing
        from devlab.errors import ToolError
        raise ToolError(f"no variant was measured (see the notes above and {run_dir}/run.json)",
                        "check the device and the accelerator asked for, then run again", stage="run")
