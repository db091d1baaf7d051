# carbonsim: `make run` forecasts the reference case, `make test` runs the tests.
# Both set up what they need from scratch (virtualenv, Python packages, Debian tools).
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PIP     = $(BIN)/python -m pip

.PHONY: run test setup setup-test system-deps bench fuzz clean help

help:
	@echo "make run    set up, then run the default forecast (configs/default.yaml)"
	@echo "make test   set up (all extras, espeak-ng, ffmpeg), then run the tests"
	@echo "make bench  run the benchmarks in tests/benchmarks"
	@echo "make fuzz   the long fuzz profile of the configs (3,000 mutants, counts printed)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# Forecasting alone installs light: no PyTorch, no model libraries.
$(VENV)/.core: $(BIN)/python pyproject.toml
	$(PIP) install -q -e .
	touch $@

# Tests exercise real models, the live monitor and the Azure clients: install every extra.
$(VENV)/.full: $(BIN)/python pyproject.toml
	$(PIP) install -q -e '.[calibrate,monitor,azure,grid,dev]'
	touch $@ $(VENV)/.core

setup: $(VENV)/.core

setup-test: $(VENV)/.full system-deps

# espeak-ng (speech samples), ffmpeg (video samples, durations) and chromium (the report
# rendered headless) come from Debian.
system-deps:
	@if ! command -v espeak-ng >/dev/null || ! command -v ffmpeg >/dev/null || ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q espeak-ng ffmpeg chromium; \
	fi

run: setup
	$(BIN)/carbonsim run configs/default.yaml

test: setup-test
	$(BIN)/python -m pytest -q

bench: setup-test
	$(BIN)/python -m pytest tests/benchmarks -q --benchmark-only -p no:cacheprovider -o addopts=""

fuzz: setup-test
	CARBONSIM_FUZZ_EXAMPLES=3000 $(BIN)/python -m pytest tests/test_fuzz_configs.py -m fuzz -q -s -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache
