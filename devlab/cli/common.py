"""What every CLI command shares: the stderr console, JSON output on stdout, and error rendering.

Human output goes to stderr so that `--json` output on stdout stays machine-readable.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, is_dataclass
from typing import Any

from rich.console import Console

# Logs of CI jobs are not terminals: Rich would wrap tables at 80 columns there, so give them room.
console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 140)

_state = {"debug": False}


def set_debug(enabled: bool) -> None:
    _state["debug"] = enabled


def debug_enabled() -> bool:
    return bool(_state["debug"])


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples and paths into plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def print_error(message: str) -> None:
    # markup=False: the message may hold user text with square brackets
    console.print(f"error: {message}", style="bold red", markup=False, highlight=False, soft_wrap=True)
