"""The truncate log at a real source: `cdc source truncate-log install` (idempotent) writes
its contract and makes every TRUNCATE of a contract table a row of cdc_meta.truncations, in the
truncating transaction; `remove` drops the triggers."""

from __future__ import annotations

import shutil
import subprocess
import sys

import psycopg
import pytest

from consumers.contracts.ddl import source_ddl
from consumers.contracts.model import load_contracts
from consumers.settings import PROJECT_DIR

pytestmark = pytest.mark.integration


def _cdc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consumers", *args], env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_install_logs_each_truncate_and_remove_stops_it(source_dsn, cli_env, tmp_path):
    tables = list((PROJECT_DIR / "schemas").glob("public.*.avsc"))
    for path in tables:
        shutil.copy(path, tmp_path / path.name)  # a user's contracts, without the log's
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        for statement in source_ddl(load_contracts(tmp_path)):
            conn.execute(statement.encode())
    args = ("source", "truncate-log", "install", "--contracts", str(tmp_path))
    for _ in range(2):  # idempotent
        done = _cdc(*args, "--source-dsn", source_dsn, env=cli_env)
        assert done.returncode == 0, done.stderr
    assert f"trigger on {len(tables)} table(s)" in done.stdout and len(tables) >= 12
    assert (tmp_path / "cdc_meta.truncations.avsc").exists()
    assert "cdc_meta.truncations" in {c.qualified for c in load_contracts(tmp_path)}
    with psycopg.connect(source_dsn) as conn:
        conn.execute("INSERT INTO payment_type VALUES (1, 'x', now(), now())")
        conn.execute("TRUNCATE payment_type, currency")
        conn.rollback()  # rolled back: no marker
        conn.execute("TRUNCATE payment_type, currency")
        conn.commit()
        rows = conn.execute(
            "SELECT schema_name, table_name FROM cdc_meta.truncations ORDER BY truncation_id"
        ).fetchall()
    assert sorted(rows) == [("public", "currency"), ("public", "payment_type")]
    done = _cdc("source", "truncate-log", "remove", "--contracts", str(tmp_path),
                "--source-dsn", source_dsn, env=cli_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    with psycopg.connect(source_dsn) as conn:
        conn.execute("TRUNCATE payment_type")
        conn.commit()
        assert conn.execute("SELECT count(*) FROM cdc_meta.truncations").fetchone() == (2,)
    sql = _cdc("source", "truncate-log", "sql", "--contracts", str(tmp_path), env=cli_env)
    assert sql.returncode == 0 and sql.stdout.count("AFTER TRUNCATE ON") == len(tables)
