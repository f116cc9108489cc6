# Quick start: `make run` (set up + serve the bundled corpus), `make test` (set up + run the tests).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch must be installed before anything that depends on torch,
# otherwise pip pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup run test test-fast lint bench clean-index

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/newsqa serve

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# The fast tier: logic, library, JSON API and CLI over a deterministic fake embedder (tests/fast),
# no model and no browser, under a minute. `make test` (the full suite) is what CI runs.
test-fast: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests/fast

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python bench/embed_speed.py
	$(BIN)/python bench/e2e.py

clean-index:
	rm -rf data/index
