# The two quick-start commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
INI    ?= development.ini
# The locks: exact versions with hashes, compiled from setup.cfg by pip-tools
# (`make upgrade-deps`). run.txt is what serving needs; test.txt adds the test extra.
LOCK_RUN  := requirements/run.txt
LOCK_TEST := requirements/test.txt
TOOLS     := $(VENV)/tools
PIP_COMPILE := $(TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links

.PHONY: run test setup setup-run lint db demo clean bench hotspots upgrade-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools<81" wheel

# What running needs, every file checked against the lock's hashes; then minimart itself.
$(VENV)/.installed-run: $(BIN)/python $(LOCK_RUN) setup.cfg pyproject.toml
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_RUN)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The test toolchain on top (the same versions for everything run.txt names).
$(VENV)/.installed-test: $(VENV)/.installed-run $(LOCK_TEST)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK_TEST)
	touch $@

setup-run: $(VENV)/.installed-run

setup: $(VENV)/.installed-test

db: setup-run
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

## Refresh the locks to the newest releases setup.cfg allows (pip-tools), then `make test`.
upgrade-deps: $(BIN)/python
	test -x $(TOOLS)/bin/pip-compile || \
		($(PYTHON) -m venv $(TOOLS) && $(TOOLS)/bin/pip install --quiet --upgrade pip "pip-tools>=7.4,<8")
	$(PIP_COMPILE) --upgrade --extra test --output-file $(LOCK_TEST) setup.cfg
	$(PIP_COMPILE) --upgrade --constraint $(LOCK_TEST) --output-file $(LOCK_RUN) setup.cfg
	$(MAKE) test

## Benchmark: the app under wrk on PostgreSQL (SQLite if absent); figures to bench-results.json.
bench: setup
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py --json bench-results.json $(BENCH_ARGS)

## Profile: database round trips, calls and hot functions per request (after `make bench`).
hotspots: setup
	$(BIN)/python bench/hotspots.py $(HOTSPOTS_ARGS)
