"""A non-editable install (a wheel, as users get from `pip install`) ships every data file devlab reads at run time:
the run.json schema, the report's CSS/JS and the pipeline definitions. An editable install cannot catch a file the
wheel leaves out, so build the wheel and look inside."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cli_helpers import REPO

DATA_SUFFIXES = (".json", ".css", ".js", ".toml")


@pytest.mark.slow
def test_the_wheel_carries_every_data_file_of_the_package(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("devlab-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data_files = {p.relative_to(REPO).as_posix() for p in (REPO / "devlab").rglob("*")
                  if p.is_file() and p.suffix in DATA_SUFFIXES and "__pycache__" not in p.parts}
    assert data_files, "devlab has data files (schemas, report assets, pipeline definitions)"
    assert not data_files - shipped, f"left out of the wheel: {sorted(data_files - shipped)}"


def test_no_package_source_is_ignored_by_git() -> None:
    """devlab/build/ is named like a build-output folder: the standard Python .gitignore template's unanchored
    `build/` would silently drop the whole package from commits. Our .gitignore anchors it (`/build/`); this fails
    the day a pattern that swallows package sources is added."""
    sources = sorted(str(p.relative_to(REPO)) for p in (REPO / "devlab").rglob("*.py") if "__pycache__" not in p.parts)
    checked = subprocess.run(["git", "check-ignore", "--no-index", *sources], cwd=REPO, capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 1 and checked.stdout == "", f"ignored by .gitignore: {checked.stdout.split()}"
