# `make test` and `make run` each build .venv from scratch when it is missing.
# Python 3.13 is preferred: the official Kalshi SDK (kalshi-python-sync 3.34), which the conformance
# suite runs against the simulator, needs it. pyenv's shim for python3.13 fails unless 3.13 is
# selected, so the pyenv install is looked up directly too. Without 3.13 the build falls back to
# python3 and says that the Kalshi SDK conformance tests will be skipped.
PY313 := $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13),$(shell $(p) -c 'import sys; print("$(p)" if sys.version_info[:2] == (3, 13) else "")' 2>/dev/null)))
PYTHON ?= $(if $(PY313),$(PY313),python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test run bench clean

$(STAMP): pyproject.toml constraints.txt
	rm -rf $(VENV)
	@$(if $(PY313),,echo "make: no python3.13 found; building .venv with $(PYTHON). The Kalshi SDK conformance tests need Python 3.13 and will be skipped.")
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,ray]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

run: $(STAMP)
	$(BIN)/arb run

bench: $(STAMP)
	$(BIN)/arb bench solvers --json benchmarks/results/solvers.json
	$(BIN)/arb bench venues --json benchmarks/results/venues.json
	$(BIN)/arb bench scanner --json benchmarks/results/scanner.json
	$(BIN)/arb bench sim --json benchmarks/results/sim.json
	$(BIN)/arb bench exec --json benchmarks/results/exec.json
	$(BIN)/arb bench daemon --json benchmarks/results/daemon.json

clean:
	rm -rf $(VENV) build *.egg-info
