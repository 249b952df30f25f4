# make run / make test work from a fresh clone: they create .venv, install the exact versions in requirements.lock
# (hash-checked), then devlab itself without touching its dependencies, and go. Both are idempotent: the install
# step is redone only when the lock, pyproject.toml or the C scanner changes. Updating the lock:
# scripts/update-lock.sh (docs/dependencies.md).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.devlab-installed
PIP_VERSION := 26.3
DEVLAB_ARGS ?=

.PHONY: run test setup clean gpu-bench

setup: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet pip==$(PIP_VERSION)

# --no-deps --no-build-isolation: devlab's own install adds nothing beyond the lock (setuptools and wheel are in it).
$(STAMP): requirements.lock pyproject.toml setup.py devlab/trace/_fastscan.c | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/devlab run $(DEVLAB_ARGS)

test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/python -m pytest -q

# Step 1 of the real-GPU measurement (docs/gpu-results.md): build the zoo variants here, where TensorFlow is.
# Step 2 runs on a machine with a Vulkan GPU: python benchmarks/gpu_bench.py measure models/build/gpu OUT.json
gpu-bench: $(STAMP)
	$(BIN)/python benchmarks/gpu_bench.py build models/build/gpu

clean:
	rm -rf $(VENV) models/build .pytest_cache
