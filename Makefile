# reprolab: `make run` sets up and runs the main job, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run smoke test bench ui clean

setup: $(STAMP)

# torch==2.13.0 is pinned in pyproject.toml: pip takes the CPU wheel, not a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: setup
	$(BIN)/reprolab run proof-rm --preset default

smoke: setup
	$(BIN)/reprolab run proof-rm --preset smoke --json

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/proof_rm.py

ui: setup
	$(BIN)/reprolab ui
