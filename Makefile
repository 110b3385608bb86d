# Twinbench: the two commands of the quick start.
#   make run  [ARGS="source.speed=3600 checkpoint.resume=true"]   (the living twin, twinbench live)
#   make test [PYTEST_ARGS="-k calibration"]
# Both create .venv from pyproject.toml + constraints.txt on first use and re-install when either changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
# test files are spread over this many worker processes (pytest-xdist; "auto" = one per core, 0 = no workers)
TEST_WORKERS ?= auto

.PHONY: run test test-nojit docs lock clean help

help:
	@echo "make run   - run the living twin on the bundled telemetry (twinbench live -> outputs/live/ + MLflow)"
	@echo "make test  - run the whole test suite"
	@echo "make docs  - build the documentation site into site/ (warnings are errors)"
	@echo "make lock  - re-resolve the dependencies and rewrite constraints.txt"

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,docs]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/twinbench live checkpoint.resume=false $(ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-nojit

# kernel bodies (model kernels, the templates in sim/physics/kernels and calibration/_kernels.py) run as plain
# Python so that they are covered and checked without the JIT
test-nojit: $(STAMP)
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q -m "kernel and not slow" -p no:cacheprovider tests/sim/physics
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/sim/telemetry/test_telemetry_quality.py
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -q -m "kernel and not slow" -p no:cacheprovider tests/calibration

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[test,docs,notebooks]'
	(echo "# Lock file: exact versions resolved together on Python 3.11 (pip freeze). Regenerate with 'make lock'."; \
	 .lock-venv/bin/pip freeze --exclude-editable) > constraints.txt
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache site
