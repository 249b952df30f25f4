"""The devlab command line. Thin: parse options, call the core, render."""

from __future__ import annotations

import atexit
import os
import sys
import traceback

import typer

from devlab import __version__
from devlab.cli import common
from devlab.errors import DevlabError

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


def _register() -> None:
    # Each command group lives in its own module; importing registers it on `app`.
    from devlab.cli import build_cmd, devices_cmd, run_cmd  # noqa: F401
    for module_name, group in (("devlab.cli.bench_cmd", "bench"), ("devlab.cli.sim_cmd", "sim"),
                               ("devlab.cli.trace_cmd", "trace")):
        try:
            module = __import__(module_name, fromlist=["app"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.add_typer(module.app, name=group)
    for module_name in ("devlab.cli.report_cmd", "devlab.cli.farm_cmd"):
        try:
            __import__(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise


def _silence_native_teardown() -> None:
    """LiteRT logs its accelerators' teardown to fd 2 at interpreter exit; our output is complete by then."""
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)


def main() -> None:
    # TensorFlow logs its start-up (oneDNN, CPU features) at import; the converter's own log is kept per variant.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _register()
    atexit.register(_silence_native_teardown)
    try:
        app(standalone_mode=False)
    except DevlabError as exc:
        if common.debug_enabled():
            traceback.print_exc()
        common.print_error(exc.one_line())
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        common.print_error("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        common.print_error("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors and anything unexpected
        import click
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if common.debug_enabled():
            traceback.print_exc()
        common.print_error(f"internal error: {type(exc).__name__}: {exc} — rerun with --debug and report it")
        sys.exit(1)
