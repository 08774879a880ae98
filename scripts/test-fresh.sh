#!/usr/bin/env bash
# `make test-fresh`: the project on a machine that has only Python, through
# scripts/only-python.sh (no system PostgreSQL, no Node.js, no C compiler):
# bootstrap installs PostgreSQL and Node.js from PyPI into .venv (consumers/local/toolchain.py),
# tests/fresh checks that they are the ones used, `make run` runs the pipeline for 20 s and exits
# with verify's result, and `make synth` synthesizes the CDK app. CI runs it after `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${CDC_ONLY_PYTHON:-}" != 1 ]; then
  exec bash scripts/only-python.sh --no-c-compiler bash scripts/test-fresh.sh "$@"
fi

state=$(mktemp -d /tmp/cdc-fresh-XXXXXX)
cleanup() {
  CDC_STATE_DIR="$state" .venv/bin/cdc local down >/dev/null 2>&1 || true  # stops by PID
  rm -rf "$state"
}
trap cleanup EXIT
export CDC_STATE_DIR="$state" CDC_TEST_FRESH=1

started=$SECONDS
bash scripts/bootstrap.sh
.venv/bin/pytest -q -p no:cacheprovider tests/fresh
make --no-print-directory run DURATION=20
make --no-print-directory synth
echo "test-fresh: passed in $((SECONDS - started)) s"
