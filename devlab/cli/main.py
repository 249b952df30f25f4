"""The devlab command line: registers every command module on the root app, runs it, and turns devlab's errors
into one line and an exit code (0 ok, 1 run failed, 2 usage, 3 gate failed)."""

from __future__ import annotations

import atexit
import os
import sys
import traceback

import typer

from devlab.cli import common
from devlab.cli.app import app
from devlab.errors import DevlabError


def _register() -> None:
    # Top-level commands register on `app` when their module is imported; groups are sub-apps.
    from devlab.cli import (bench_cmd, build_cmd, devices_cmd, farm_cmd,  # noqa: F401
                            report_cmd, run_cmd, sim_cmd, trace_cmd)
    app.add_typer(bench_cmd.app, name="bench")
    app.add_typer(sim_cmd.app, name="sim")
    app.add_typer(trace_cmd.app, name="trace")


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
