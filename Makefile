# `make test` and `make run` each build .venv from scratch when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test run bench clean

$(STAMP): pyproject.toml constraints.txt
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2

run: $(STAMP)
	$(BIN)/arb bench solvers --quick

bench: $(STAMP)
	$(BIN)/arb bench solvers --json benchmarks/results/solvers.json
	$(BIN)/arb bench venues --json benchmarks/results/venues.json
	$(BIN)/arb bench scanner --json benchmarks/results/scanner.json
	$(BIN)/arb bench sim --json benchmarks/results/sim.json

clean:
	rm -rf $(VENV) build *.egg-info
