# Refinery — the two commands are `make demo` and `make test`.
# Everything is installed into .venv by pip from PyPI; nothing else needs to be on the machine.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export REFINERY_HOME ?= $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export DAGSTER_DISABLE_TELEMETRY := 1
export SODA_CORE_TELEMETRY_ENABLED := false

.PHONY: install demo test test-fast lint ui bench bench-venv clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## demo: install, run every stage on the bundled sample sources, publish a release, print what happened
demo: $(STAMP)
	$(BIN)/refinery run
	$(BIN)/refinery release list

## test: the whole suite (unit, integration, e2e, ruff, sqlfluff)
test: $(STAMP)
	$(BIN)/pytest

## test-fast: unit tests only
test-fast: $(STAMP)
	$(BIN)/pytest -m unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	mkdir -p warehouse && cd dbt_project && ../$(BIN)/sqlfluff lint models tests macros

## bench: landing throughput and cleaning at corpus scale (both update docs/BENCHMARKS.md), and
##   labeling at 1M votes (prints a table; docs/BENCHMARKS.md "Labeling at 1M votes" is copied by hand)
##   BENCH=landing|cleaning|labeling|all (default all). Cleaning needs .venv-bench (made here from
##   bench/requirements-competitors.txt) and takes ~1 h at 100,000 documents.
BENCH         ?= all
BENCH_RECORDS ?= 150000
BENCH_RUNS    ?= 3
BENCH_NOTE    ?=
BENCH_METHODS ?=
BENCH_DOCS    ?= 100000
BENCH_CLEANING_ARGS ?=
BENCH_ITEMS   ?= 100000
BENCH_VENV    := .venv-bench
BENCH_STAMP   := $(BENCH_VENV)/.installed

bench-venv: $(BENCH_STAMP)

$(BENCH_STAMP): bench/requirements-competitors.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r bench/requirements-competitors.txt
	touch $(BENCH_STAMP)

bench: $(STAMP) $(if $(filter landing labeling,$(BENCH)),,$(BENCH_STAMP))
ifneq ($(filter all landing,$(BENCH)),)
	$(BIN)/python bench/landing.py --records $(BENCH_RECORDS) --runs $(BENCH_RUNS) --write-doc docs/BENCHMARKS.md \
		$(if $(BENCH_NOTE),--note "$(BENCH_NOTE)") $(if $(BENCH_METHODS),--methods $(BENCH_METHODS))
endif
ifneq ($(filter all cleaning,$(BENCH)),)
	$(BIN)/python bench/cleaning.py --docs $(BENCH_DOCS) --runs $(BENCH_RUNS) --write-doc docs/BENCHMARKS.md $(BENCH_CLEANING_ARGS)
endif
ifneq ($(filter all labeling,$(BENCH)),)
	$(BIN)/python bench/labeling.py --items $(BENCH_ITEMS)
endif

ui: $(STAMP)
	$(BIN)/refinery ui

## clean: remove the warehouse file, run history, connector venvs and dbt artefacts; releases are kept
clean:
	rm -rf warehouse/refinery.duckdb warehouse/refinery.duckdb.wal warehouse/last_build.json warehouse/logs warehouse/.dbt_spill \
		warehouse/.extensions .dagster connectors dbt_project/target dbt_project/logs
