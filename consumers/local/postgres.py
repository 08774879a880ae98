"""A throwaway PostgreSQL cluster started from the installed server binaries.

wal_level=logical for pgoutput; loopback only, trust auth (it is a local sandbox);
fsync off (it is throwaway). PostgreSQL refuses to run as root, so as root every server command
runs through `runuser -u postgres`, and the data directory must be reachable by that user:
when the project's state directory is not (e.g. a clone under a 0700 temp dir), the cluster
lives in a directory of its own under /tmp, recorded in the stack state.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess  # nosec B404  # runs fixed argument lists, never a shell
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from consumers.errors import StackError
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


def find_bindir() -> Path:
    """The directory of initdb/pg_ctl/postgres: $CDC_PG_BINDIR, PATH, or the Debian layout."""
    if env := os.environ.get("CDC_PG_BINDIR"):
        candidates = [Path(env)]  # an explicit choice is not second-guessed
    else:
        candidates = [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
        if which := shutil.which("pg_ctl"):
            candidates.append(Path(which).resolve().parent)
    for d in candidates:
        if all((d / b).exists() for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise StackError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install them "
        "(Debian: apt-get install postgresql) or set CDC_PG_BINDIR to their directory"
    )


def _as_server_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


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
    probe = subprocess.run(  # nosec B603, B607  # fixed argv of known programs, no shell, no user text; runuser is found on PATH like any system tool, as root only
        ["runuser", "-u", "postgres", "--", "test", "-x", str(state_dir)], check=False
    )
    if probe.returncode == 0:
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
