# The two commands: `make run` (the pipeline, locally) and `make test` (every test).
# Both create/update the virtualenv at .venv first; nothing needs installing by hand.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
CDC := $(VENV)/bin/cdc
DURATION ?=
RATE ?= 50

.PHONY: venv run test lint typecheck unit integration bench clean down sql synth chaos security \
	bandit audit

$(STAMP): pyproject.toml scripts/bootstrap.sh
	@bash scripts/bootstrap.sh
	@touch $(STAMP)

venv: $(STAMP)

## make run [DURATION=60] [RATE=50]: local stack up, demo data, workload + capture, live counts.
run: venv
	$(CDC) demo run --rate $(RATE) $(if $(DURATION),--duration $(DURATION),)

## make test: lint, type checks, bandit, unit and integration tests (real PostgreSQL + moto).
## (`make audit` is not in it yet: PyPI's per-release JSON API is unreachable here, see README.)
test: venv lint typecheck bandit
	$(VENV)/bin/pytest -q

lint: venv
	$(VENV)/bin/ruff check consumers tests bench infra
	$(VENV)/bin/ruff format --check consumers tests bench infra

typecheck: venv
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict infra/totes_cdk infra/app.py

## make security: bandit on the package, then pip-audit of .venv's packages.
security: bandit audit

## bandit: every suppression is inline, `# nosec BXXX  # why`. (The "nosec encountered" lines
## are bandit noise about the other parts of an f-string on a suppressed line.)
bandit: venv
	@set -o pipefail; $(VENV)/bin/bandit -q -r consumers 2>&1 \
		| { grep -v "nosec encountered (B[0-9]*), but no failed test" || true; }
	@echo "bandit: no issues in consumers/"

## audit: pip-audit --strict; fails on a known vulnerability (unless in
## security/pip-audit-ignore.txt, dated) and when any package cannot be audited.
audit: venv
	$(VENV)/bin/python scripts/audit_dependencies.py

## make chaos [KILLS=100] [SEED=n]: the demo workload under random SIGKILLs of `cdc run`, record
## processors, the loader mid-transaction and the capture mid-PutRecords; then drain + verify.
KILLS ?= 100
SEED ?=
chaos: venv
	$(VENV)/bin/python -m consumers.local.chaos --kills $(KILLS) $(if $(SEED),--seed $(SEED),)

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
