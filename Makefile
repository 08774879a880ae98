# The two commands: `make run` (the pipeline, locally) and `make test` (every test).
# Both create/update the virtualenv at .venv first; nothing needs installing by hand.
SHELL := /bin/bash
VENV := .venv
STAMP := $(VENV)/.installed
CDC := $(VENV)/bin/cdc
DURATION ?=
RATE ?= 50
LOADER ?= local

.PHONY: venv run test lint typecheck unit integration bench clean down sql synth fuzz chaos \
	security bandit audit mutation

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

## make run [DURATION=60] [RATE=50] [LOADER=stepfunctions]: local stack up, demo data, workload
## + capture, live counts. LOADER=stepfunctions loads through the deployed state machine (moto).
run: venv
	$(CDC) demo run --rate $(RATE) --loader $(LOADER) $(if $(DURATION),--duration $(DURATION),)

## make test: lint, type checks, bandit, unit and integration tests (real PostgreSQL + moto).
## (`make audit` is not in it yet: PyPI's per-release JSON API is unreachable here, see README.)
test: venv lint typecheck bandit
	$(VENV)/bin/pytest -q

## make test-fresh (root): as on a machine with only Python (no system PostgreSQL, Node.js or
## C fast path): PostgreSQL and Node.js from PyPI, a 20 s pipeline run with verify, the synth.
.PHONY: test-fresh
test-fresh: venv
	bash scripts/test-fresh.sh

lint: venv
	$(VENV)/bin/ruff check consumers tests bench infra fuzz
	$(VENV)/bin/ruff format --check consumers tests bench infra fuzz

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
	$(VENV)/bin/python -m bench.throughput

## make fuzz [FUZZ_SECONDS=300]: the C decoder under libFuzzer (atheris), built with ASan + UBSan
## in build/fuzz/, every input compared with the reference decoder (fuzz/dmsjson.py). Not part of
## make test. Needs clang. Findings: build/fuzz/artifacts/; corpus kept in build/fuzz/corpus/.
FUZZ_SECONDS ?= 300
ATHERIS_VERSION := 3.0.0  # as the fuzz extra in pyproject.toml
fuzz: venv
	@$(VENV)/bin/python -c "import atheris" 2>/dev/null || \
		$(VENV)/bin/pip --disable-pip-version-check -q install "atheris==$(ATHERIS_VERSION)"
	bash fuzz/build.sh
	@mkdir -p build/fuzz/corpus build/fuzz/artifacts
	$(VENV)/bin/python fuzz/dmsjson.py --seeds build/fuzz/seeds
	LD_PRELOAD="$$($(VENV)/bin/python -c 'import atheris; print(atheris.path())')/asan_with_fuzzer.so" \
	PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		$(VENV)/bin/python fuzz/dmsjson.py build/fuzz/corpus build/fuzz/seeds fuzz/regressions \
		-max_total_time=$(FUZZ_SECONDS) -max_len=8192 -rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/artifacts/

## make mutation [MUTATION_CHILDREN=2]: mutmut over the modules that carry the guarantees
## (pyproject.toml [tool.mutmut]), then the score per module. Not part of make test: it runs the
## unit tests that reach each mutant, ~2,000 mutants (see README). Starts afresh (mutants/ removed).
MUTATION_CHILDREN ?= 2
mutation: venv
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN)
	$(VENV)/bin/python scripts/mutation_report.py

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
