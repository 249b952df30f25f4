"""Run the real CLI in a subprocess, as a user and CI would: the installed `devlab` console script (the entry point
pip generated from pyproject.toml), not `python -m devlab` or Typer's CliRunner, so a broken entry point, exit code or
dependency fails the tests the way it would fail a user."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def devlab_script() -> Path:
    """The console script installed beside the interpreter running the tests (.venv/bin/devlab under `make test`)."""
    script = Path(sys.executable).parent / "devlab"
    assert script.is_file(), f"no installed devlab script at {script}: run the tests through `make test`"
    return script


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_devlab(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 600) -> CliResult:
    merged = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    done = subprocess.run([str(devlab_script()), *args], cwd=cwd or REPO, env=merged,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return CliResult(done.returncode, done.stdout, done.stderr)


def one_error_line(stderr: str) -> str:
    """The one `error: ...` line a failing command printed, asserting there is exactly one and no traceback."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    return errors[0]
