# The two quick-start commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INI    ?= development.ini

.PHONY: run test setup lint db demo clean bench hotspots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools<81" wheel

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

setup: $(VENV)/.installed

db: setup
	mkdir -p var
	$(BIN)/minimart -c $(INI) db upgrade

demo: db
	$(BIN)/minimart -c $(INI) load-demo

## Set up, migrate the SQLite database, load the demo catalog and serve on 127.0.0.1:6543.
run: demo
	$(BIN)/pserve $(INI)

## Style (ruff), types (mypy: the adapters and fakes held to their ports) and layers (import-linter).
lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

## Set up and run the whole test suite (PostgreSQL at 127.0.0.1:5432 for the integration tests).
test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var build *.egg-info src/*.egg-info

## Benchmark: the app under wrk on PostgreSQL (SQLite if absent); figures to bench-results.json.
bench: setup
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py --json bench-results.json $(BENCH_ARGS)

## Profile: database round trips, calls and hot functions per request (after `make bench`).
hotspots: setup
	$(BIN)/python bench/hotspots.py $(HOTSPOTS_ARGS)
