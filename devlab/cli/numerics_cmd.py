"""`devlab numerics bisect`: rank the ops that make a variant's outputs diverge on a device's accelerator."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from devlab.cli import common
from devlab.errors import UsageError

app = typer.Typer(help="Numerics: where a variant's outputs leave the fp32 reference.", no_args_is_help=True)


@app.command("bisect")
def bisect_cmd(
    model: str = typer.Argument(..., help="Zoo name or model file."),
    variant: Optional[str] = typer.Option(None, "--variant", "-v", help="The variant (default: gpu for a zoo or "
                                          "Keras model, as-is for a .tflite)."),
    device: str = typer.Option("host", "--device", "-d", help="host, a phone serial or an alias (s23, pixel8)."),
    accelerator: str = typer.Option("gpu", "--accelerator", help="gpu or cpu."),
    inputs: Optional[Path] = typer.Option(None, "--inputs", help="An .npz of name -> array (default: seeded random)."),
    seed: int = typer.Option(0, "--seed"),
    gpu_precision: Optional[str] = typer.Option(None, "--gpu-precision", help="GPU precision: fp32 forces it (phone: the delegate's flag; host: GpuOptions.enforce_f32); default: "
                                                 "the accelerator's (fp16 allowed)."),
    top: int = typer.Option(10, "--top", help="Rows to show."),
    timeout: float = typer.Option(900.0, "--timeout", help="Phone: seconds the probe run may take."),
    benchmark_model: Optional[str] = typer.Option(None, "--benchmark-model", help="Phone: your benchmark_model."),
    out: Path = typer.Option(Path("traces"), "--out", help="Root folder: the probe, logs and bisect.json go here."),
    json_out: bool = typer.Option(False, "--json", help="The ranked culprits as JSON on stdout."),
) -> None:
    """Run every op on the device from the fp32 reference's inputs and rank the error each op introduces."""
    from devlab.numerics.bisect_run import BisectRequest, run_bisect

    if accelerator not in ("gpu", "cpu"):
        raise UsageError(f"unknown accelerator {accelerator!r}", "use --accelerator gpu or cpu")
    if gpu_precision not in (None, "fp16", "fp32"):
        raise UsageError(f"--gpu-precision {gpu_precision!r} is not fp16 or fp32", "pass --gpu-precision fp16|fp32")
    if top < 1 or timeout <= 0:
        raise UsageError("--top must be >= 1 and --timeout > 0", "pass e.g. --top 10 --timeout 900")
    if variant is not None and "," in variant:
        raise UsageError(f"--variant takes one variant, not {variant!r}", "bisect one variant at a time")
    outcome = run_bisect(BisectRequest(model=model, variant=variant, device=device, accelerator=accelerator,
                                       inputs=inputs, seed=seed, gpu_precision=gpu_precision, timeout_s=timeout,
                                       benchmark_model=benchmark_model, out_root=out))
    result = outcome.result
    if json_out:
        common.emit_json({**result.to_json(top), "folder": str(outcome.folder)})
    from rich.table import Table
    table = Table(title=f"{result.variant} on {result.device} {result.accelerator}: error each op introduces "
                        f"({result.source}; reference: fp32 on the host CPU)")
    for name in ("#", "node", "op", "output", "dtype", "max rel err", "max abs err", "fp16 range", "fix"):
        table.add_column(name, overflow="fold")
    for rank, c in enumerate(result.culprits[:top], 1):
        rel = "non-finite" if c.non_finite else f"{c.max_rel_error:.3g}"
        absolute = "non-finite" if c.non_finite else f"{c.max_abs_error:.3g}"
        fp16 = ("overflow (|x| up to %.3g)" % c.reference_max_abs if c.fp16_overflow else
                f"{c.fp16_subnormal:.0%} subnormal" if c.fp16_subnormal else "ok")
        if c.inputs_out_of_fp16:
            fp16 += "; inputs beyond it"
        table.add_row(str(rank), str(c.node), c.op, c.output, c.dtype, rel, absolute, fp16, c.fix or "")
    common.console.print(table)
    if result.skipped:
        common.console.print(f"note: nodes not probed (subgraph calls or state): {list(result.skipped)}",
                             markup=False)
    common.console.print(f"bisect folder: {outcome.folder}", markup=False)
