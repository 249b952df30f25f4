"""`devlab build MODEL`: build variants, print the manifest, and with --explain the predicted GPU fallbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from devlab.cli.app import app
from devlab.cli.common import console, emit_json
from devlab.cli.progress import rich_progress


@app.command("build")
def build_command(
    model: Optional[str] = typer.Argument(None, help="Zoo name (see `devlab build --list`), .keras/.h5, "
                                                     "SavedModel dir or .tflite."),
    list_models: bool = typer.Option(False, "--list", help="List the zoo models, variants and rewrites, and exit."),
    variants: Optional[str] = typer.Option(None, "--variants", "-v",
                                           help="Comma-separated: fp32,fp16,int8-dynamic,gpu or rewrites joined "
                                                "with '+' (groupnorm-4d+fp16). .tflite: as-is,int8-dynamic,"
                                                "int8-weight-only."),
    explain: bool = typer.Option(False, "--explain", help="Show, per variant, which ops would leave the GPU and why."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default models/build/<model>)."),
    seed: int = typer.Option(0, "--seed", help="Seed for zoo weights and equivalence inputs."),
    constant_weights: bool = typer.Option(False, "--constant-weights",
                                          help="Timing-only: every weight a constant fill, kept compact until the "
                                               ".tflite is written (models too big to convert otherwise)."),
    input_shape: list[str] = typer.Option([], "--input-shape",
                                          help="NAME=1x224x224x3 (repeatable): the shape an input is converted "
                                               "with; a Keras model's None batch is 1 without it."),
    json_out: bool = typer.Option(False, "--json", help="Print the manifest as JSON on stdout."),
) -> None:
    """Build optimized TFLite variants of a model, with a manifest entry per variant."""
    from devlab.build.input_shapes import parse_input_shapes
    from devlab.build.pipeline import build_notes, build_variants, default_build_dir
    from devlab.build.memory_plan import memory_summary
    from devlab.build.sources import resolve_model
    from devlab.build.variants import parse_variants
    from devlab.errors import UsageError
    from devlab.report.console import explain_table, manifest_table

    if list_models:
        _print_catalogue()
        return
    if model is None:
        raise UsageError("no model given", "pass a zoo name, a .keras/.h5 file, a SavedModel folder or a .tflite "
                                           "(`devlab build --list` shows the zoo)")
    source = resolve_model(model)
    specs = parse_variants(variants, source.kind)
    shapes = parse_input_shapes(input_shape)
    out_dir = out or default_build_dir(Path("."), source)
    with rich_progress() as progress:
        progress.start("build", len(specs))
        manifest = build_variants(source, specs, out_dir, seed=seed, constant_weights=constant_weights,
                                  input_shapes=shapes, progress=lambda name: progress.step("build", name))
    if json_out:
        emit_json(manifest.to_json())
    console.print(manifest_table(manifest))
    for note in build_notes(manifest):
        console.print(f"note: {note}", markup=False)
    if explain:
        for variant in manifest.variants:
            if variant.delegation.get("cpu_ops"):
                console.print(explain_table(variant.name, variant.delegation))
            else:
                console.print(f"{variant.name}: every op predicted on the GPU "
                              f"({variant.delegation['ops_on_gpu']} ops, one partition)")
            if variant.memory:
                console.print(f"{variant.name}: {memory_summary(variant.memory)}", markup=False, soft_wrap=True)


def _print_catalogue() -> None:
    """What `--list` shows: the zoo, the plain variants, and the rewrites with their one-line why."""
    from devlab.build.variants import KERAS_DEFAULT_VARIANTS, TFLITE_DEFAULT_VARIANTS, available_rewrites, gpu_recipe
    from devlab.zoo import ZOO
    console.print("zoo models:", markup=False)
    for name, zoo_model in sorted(ZOO.items()):
        console.print(f"  {name:<14} {zoo_model.description}", markup=False)
    console.print(f"variants (Keras/zoo): {', '.join(KERAS_DEFAULT_VARIANTS)}, gpu (= {'+'.join(gpu_recipe())}+fp16)",
                  markup=False)
    console.print(f"variants (.tflite): {', '.join(TFLITE_DEFAULT_VARIANTS)}", markup=False)
    console.print("rewrites (join with '+', e.g. groupnorm-4d+fp16):", markup=False)
    for name, why in available_rewrites().items():
        console.print(f"  {name:<28} {why}", markup=False)
