# make run / make test work from a fresh clone: they create .venv, install devlab with its test extras, and go.
# Both are idempotent: the install step is redone only when pyproject.toml changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.devlab-installed
DEVLAB_ARGS ?=

.PHONY: run test setup clean gpu-bench bench

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/devlab run $(DEVLAB_ARGS)

test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q

gpu-bench: $(STAMP)
	$(BIN)/python benchmarks/gpu_bench.py

clean:
	rm -rf $(VENV) models/build .pytest_cache
