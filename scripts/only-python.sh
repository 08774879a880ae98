#!/usr/bin/env bash
# scripts/only-python.sh [--no-c-compiler] COMMAND...: runs COMMAND, from the repository root,
# as on a machine with only Python. In a private mount namespace (unshare -m) it hides the
# machine's PostgreSQL server binaries and Node.js; with --no-c-compiler also the C compiler
# and the decoder's compiled fast path (the source tree's consumers/events is seen without it).
# The mounts die with the namespace: nothing outside ever sees them. Needs root.
# `make test-fresh` runs through it, and so can anything else: bash scripts/only-python.sh make test
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "error: scripts/only-python.sh hides system binaries in a private mount namespace, which" \
       "needs root: run it as root (CI does)" >&2
  exit 2
fi
if [ "${CDC_ONLY_PYTHON:-}" != 1 ]; then
  export CDC_ONLY_PYTHON=1
  exec unshare --mount --propagation private bash scripts/only-python.sh "$@"
fi

declare -A hidden=()
hide() {  # an empty directory, or /dev/null, over each path
  local p
  for p in "$@"; do
    if [ -n "${hidden[$p]:-}" ]; then
      continue
    elif [ -d "$p" ]; then
      mount -t tmpfs -o size=1m,mode=755 cdc-hidden "$p"
    elif [ -e "$p" ]; then
      mount --bind /dev/null "$p"
    else
      continue
    fi
    hidden[$p]=1
    echo "only-python: hid $p" >&2
  done
}
hide_tools() {
  local tool p
  for tool in "$@"; do
    for p in $(type -ap "$tool" 2>/dev/null || true); do hide "$(readlink -f "$p")"; done
  done
}
hide /usr/lib/postgresql
hide_tools node nodejs pg_ctl initdb postgres

stage=
if [ "${1:-}" = --no-c-compiler ]; then
  shift
  hide_tools cc gcc clang c99 c89 x86_64-linux-gnu-gcc aarch64-linux-gnu-gcc
  # consumers/events as a checkout has it, without the built extension; what the command
  # writes there (a failed build, __pycache__) stays in the copy.
  stage=$(mktemp -d /tmp/cdc-only-python-XXXXXX)
  cp -a consumers/events/. "$stage"
  rm -f "$stage"/*.so
  mount --bind "$stage" consumers/events
  echo "only-python: hid consumers/events/*.so" >&2
fi
rc=0
"$@" || rc=$?
if [ -n "$stage" ]; then
  umount consumers/events && rm -rf "$stage"
fi
exit "$rc"
