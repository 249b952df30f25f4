"""The devlab command line: registers every command module on the root app, runs it, and turns every way a command
can end into one line and an exit code: 0 ok, 1 run failed, 2 usage, 3 gate failed, 130 interrupted.

Typer is run with standalone_mode=False so that devlab, not Typer, prints errors. Typer's behaviour there has moved
between releases (it returns `Exit(code)`'s code instead of raising it; it turns Ctrl-C into code 130; 0.2x vendors
click, so there is no `click` module to import), so this module depends on none of it by import path: a usage error
is recognised by the interface every click-style exception has (`exit_code`, `format_message()`), and a returned
int is an exit code.
"""

from __future__ import annotations

import atexit
import os
import sys
import traceback
from typing import Any

import typer

from devlab.cli import common
from devlab.cli.app import app
from devlab.errors import DevlabError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _register() -> None:
    # Top-level commands register on `app` when their module is imported; groups are sub-apps.
    from devlab.cli import (bench_cmd, build_cmd, devices_cmd, doctor_cmd, farm_cmd,  # noqa: F401
                            report_cmd, run_cmd, sim_cmd, tools_cmd, trace_cmd)
    app.add_typer(bench_cmd.app, name="bench")
    app.add_typer(sim_cmd.app, name="sim")
    app.add_typer(tools_cmd.app, name="tools")
    app.add_typer(trace_cmd.app, name="trace")
    from devlab.cli import pipeline_cmd
    app.add_typer(pipeline_cmd.app, name="pipeline")
    from devlab.cli import numerics_cmd
    app.add_typer(numerics_cmd.app, name="numerics")


def _silence_native_teardown() -> None:
    """LiteRT logs its accelerators' teardown to fd 2 at interpreter exit; our output is complete by then."""
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)


def _is_usage_exception(exc: BaseException) -> bool:
    """A click-style usage exception (bad option, missing argument, bad value...), whichever module defines it."""
    return isinstance(getattr(exc, "exit_code", None), int) and callable(getattr(exc, "format_message", None))


def _usage_line(exc: Any) -> str:
    """One line for a usage exception: what was wrong, and where to read how it is used."""
    problem = " ".join(str(exc.format_message()).split()) or type(exc).__name__
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", None) or "devlab"
    return f"{problem} — see `{command} --help`"


def _no_args_help() -> int:
    """`devlab` alone: the command list, as `devlab --help` prints it, and exit 2 (nothing was asked)."""
    try:
        app(args=["--help"], standalone_mode=False)
    except Exception:   # help itself failing must not hide the usage exit code
        pass
    return EXIT_USAGE


def run_cli(argv: list[str]) -> int:
    """Run devlab with `argv` and return the exit code; prints every error as one line on stderr."""
    if not argv:
        return _no_args_help()
    try:
        returned = app(args=argv, standalone_mode=False)
    except DevlabError as exc:
        if common.debug_enabled():
            traceback.print_exc()
        common.print_error(exc.one_line())
        return exc.exit_code
    except typer.Exit as exc:   # raised rather than returned by some Typer releases
        return int(exc.exit_code)
    except KeyboardInterrupt:   # Ctrl-C outside any run folder (a run says which folder to resume)
        common.print_error("interrupted — nothing was kept from the interrupted step; run the command again")
        return EXIT_INTERRUPTED
    except Exception as exc:   # noqa: BLE001 - the last line of defence: one line, never a traceback
        if _is_usage_exception(exc):
            common.print_error(_usage_line(exc))
            return int(getattr(exc, "exit_code"))
        if type(exc).__name__ == "Abort":   # click-style abort (e.g. a prompt got EOF)
            common.print_error("aborted")
            return EXIT_INTERRUPTED
        if common.debug_enabled():
            traceback.print_exc()
        common.print_error(f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())} — "
                           f"rerun with --debug and report it")
        return EXIT_FAILED
    if isinstance(returned, bool) or not isinstance(returned, int):
        return EXIT_OK   # a command returned a value, not a code: it finished
    if returned == EXIT_INTERRUPTED:   # Typer turned a Ctrl-C into 130 before devlab could say anything
        common.print_error("interrupted")
    return returned


def main() -> None:
    # TensorFlow logs its start-up (oneDNN, CPU features) at import; the converter's own log is kept per variant.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _register()
    atexit.register(_silence_native_teardown)
    code = run_cli(sys.argv[1:])
    sys.stdout.flush()
    sys.exit(code)

