# The two commands: `make run` (the pipeline, locally) and `make test` (every test).
# Both create/update the virtualenv at .venv first; nothing needs installing by hand.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
CDC := $(VENV)/bin/cdc
DURATION ?=
RATE ?= 50

.PHONY: venv run test lint typecheck unit integration bench clean down sql

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@bash scripts/bootstrap.sh
	@touch $(STAMP)

venv: $(STAMP)

## make run [DURATION=60] [RATE=50]: local stack up, demo data, workload + capture, live counts.
run: venv
	$(CDC) demo run --rate $(RATE) $(if $(DURATION),--duration $(DURATION),)

## make test: lint, type checks, unit and integration tests (real PostgreSQL + moto server).
test: venv lint typecheck
	$(VENV)/bin/pytest -q

lint: venv
	$(VENV)/bin/ruff check consumers tests bench
	$(VENV)/bin/ruff format --check consumers tests bench

typecheck: venv
	$(VENV)/bin/mypy

## make bench: benchmarks, each beside its limit; results in bench/results/*.json.
bench: venv
	$(VENV)/bin/python -m bench.capture
	$(VENV)/bin/python -m bench.consumer
	$(VENV)/bin/python -m bench.load
	$(VENV)/bin/python -m bench.freshness

## make sql: regenerate sql/ from the contracts (a test fails when it drifts).
sql: venv
	$(VENV)/bin/python scripts/generate_sql.py

down: venv
	$(CDC) local down

clean: down
	rm -rf .cdc
