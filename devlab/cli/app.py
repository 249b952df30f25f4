"""The root Typer app and its global options. Command modules register on it; devlab.cli.main runs it."""

from __future__ import annotations

import typer

from devlab import __version__
from devlab.cli import common

app = typer.Typer(
    name="devlab",
    help="Build GPU-aware TFLite variants, run them on Android phones (or this machine), "
         "and see kernel by kernel where the latency went.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"devlab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    common.set_debug(debug)
