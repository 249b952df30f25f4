#!/usr/bin/env bash
# Re-resolve requirements.lock from pyproject.toml's ranges (newest versions the ranges allow), with sha256 hashes.
# Usage: bash scripts/update-lock.sh            then: make clean && make test   (CI installs exactly the lock)
# Needs the package registries only. pip-tools runs from a throwaway venv, so nothing of it enters the project.
# To pin a package back, tighten its range in pyproject.toml and run this again; commit pyproject.toml and the lock
# together with the test run that passed on them.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet pip-tools
"$tools/venv/bin/pip-compile" --quiet --upgrade --generate-hashes --allow-unsafe --extra test --strip-extras \
  --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml
echo "requirements.lock updated; now run: make clean && make test" >&2
