"""Installed versions of the tools a record names (run.json `tools`, manifest recipes, build cache keys)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version(package: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None
