"""Run the real CLI in a subprocess, as a user would, from a chosen working folder."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_devlab(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
               timeout: float = 600) -> CliResult:
    merged = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    done = subprocess.run([sys.executable, "-m", "devlab", *args], cwd=cwd or REPO, env=merged,
                          capture_output=True, text=True, timeout=timeout, check=False)
    return CliResult(done.returncode, done.stdout, done.stderr)
