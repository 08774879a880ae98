# The two commands: `make run` (the pipeline, locally) and `make test` (every test).
# Both create/update the virtualenv at .venv first; nothing needs installing by hand.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
CDC := $(VENV)/bin/cdc
DURATION ?=
RATE ?= 50

.PHONY: venv run test lint typecheck unit integration bench clean down sql synth

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@bash scripts/bootstrap.sh
	@touch $(STAMP)

# The decoder's C fast path is rebuilt whenever its source changes (pip builds it only on install).
EXT_STAMP := $(VENV)/.ext-built
$(EXT_STAMP): $(STAMP) consumers/events/_dmsjson.c setup.py
	@$(VENV)/bin/python setup.py -q build_ext --inplace --force >/dev/null 2>&1 \
		|| echo "note: the C fast path did not build; the Python decoder does all the work"
	@touch $@

venv: $(STAMP) $(EXT_STAMP)

## make run [DURATION=60] [RATE=50]: local stack up, demo data, workload + capture, live counts.
run: venv
	$(CDC) demo run --rate $(RATE) $(if $(DURATION),--duration $(DURATION),)

## make test: lint, type checks, unit and integration tests (real PostgreSQL + moto server).
test: venv lint typecheck
	$(VENV)/bin/pytest -q

## make test-fresh (root): as on a machine with only Python (no system PostgreSQL, Node.js or
## C fast path): PostgreSQL and Node.js from PyPI, a 20 s pipeline run with verify, the synth.
.PHONY: test-fresh
test-fresh: venv
	bash scripts/test-fresh.sh

lint: venv
	$(VENV)/bin/ruff check consumers tests bench infra
	$(VENV)/bin/ruff format --check consumers tests bench infra

typecheck: venv
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict infra/totes_cdk infra/app.py

## make bench: benchmarks, each beside its limit; results in bench/results/*.json.
bench: venv
	$(VENV)/bin/python -m bench.capture
	$(VENV)/bin/python -m bench.consumer
	$(VENV)/bin/python -m bench.load
	$(VENV)/bin/python -m bench.freshness

## make sql: regenerate sql/ from the contracts (a test fails when it drifts).
sql: venv
	$(VENV)/bin/python scripts/generate_sql.py

## make synth [ENV=dev|prod]: the AWS deployment's CloudFormation templates, in infra/cdk.out.
## (offline; deploying is `cdk deploy`, see the README's deploy guide)
ENV ?= dev
synth: venv
	JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 $(VENV)/bin/python infra/app.py \
		--outdir infra/cdk.out -c env=$(ENV)
	@echo "templates: infra/cdk.out/*.template.json"

down: venv
	$(CDC) local down

clean: down
	rm -rf .cdc
