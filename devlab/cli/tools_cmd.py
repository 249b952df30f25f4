"""`devlab tools fetch`: the official prebuilt tools devlab runs on phones, downloaded into devlab's cache."""

from __future__ import annotations

from typing import Optional

import typer

from devlab.cli import common

app = typer.Typer(help="Tools devlab runs on phones (LiteRT's prebuilt benchmark_model).", no_args_is_help=True)


@app.command("fetch")
def fetch_cmd(
    tool: str = typer.Argument(..., help="benchmark_model"),
    version: str = typer.Option("2.2.0", "--version", help="LiteRT release, e.g. 2.2.0."),
    abi: str = typer.Option("arm64-v8a", "--abi", help="Device ABI (LiteRT publishes arm64-v8a)."),
    base_url: Optional[str] = typer.Option(None, "--base-url",
                                           help="Mirror of storage.googleapis.com/litert/binaries "
                                                "(or env DEVLAB_TOOLS_BASE_URL)."),
    json_out: bool = typer.Option(False, "--json", help="The fetched file's record as JSON on stdout."),
) -> None:
    """Download LiteRT's release benchmark_model into devlab's cache; runs then use it when no other is given."""
    from devlab.bench.fetch import fetch
    record = fetch(tool, version, abi, base_url)
    if json_out:
        common.emit_json(record)
        return
    typer.echo(record.path)
    common.console.print(f"{record.tool} {record.version} {record.abi}: {record.bytes} bytes, sha256 {record.sha256}"
                         f" (from {record.url})", markup=False)
