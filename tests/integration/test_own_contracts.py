"""A user's own database, not the demo: contracts imported into a directory of their own run
through the whole pipeline to a verified warehouse, with the DMS selection rules derived from
those contracts and no file of the repository rewritten."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid

import psycopg
import pytest

from consumers.contracts.model import load_contracts
from consumers.pipeline import Pipeline
from consumers.settings import PROJECT_DIR
from consumers.warehouse.verify import verify

pytestmark = pytest.mark.integration


def test_run_with_own_contracts_leaves_the_repository_alone(
    local_stack, stack_settings, source_dsn, cli_env, tmp_path
):
    mappings = PROJECT_DIR / "infra" / "dms" / "table-mappings.json"
    before = mappings.read_bytes()
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shop")
        conn.execute(
            "CREATE TABLE shop.items (item_id bigint PRIMARY KEY, name text NOT NULL, "
            "price numeric(9,2), seen timestamp)"
        )
        conn.execute("INSERT INTO shop.items SELECT g, 'item ' || g, g * 1.5, now() "
                     "FROM generate_series(1, 50) g")  # fmt: skip
    out = tmp_path / "contracts"
    done = subprocess.run(
        [sys.executable, "-m", "consumers", "contracts", "import", "--source-dsn", source_dsn,
         "--schema", "shop", "--out", str(out)],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    contracts = load_contracts(out)
    settings = dataclasses.replace(stack_settings, contracts_dir=out)
    assert settings.own_contracts
    wh = f"wh_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(local_stack.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{wh}"'.encode())
    stream = f"own-{uuid.uuid4().hex[:8]}"
    kinesis = local_stack.client("kinesis")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.2})
    pipeline = Pipeline(
        settings, dataclasses.replace(local_stack, stream_name=stream), contracts,
        source_dsn=source_dsn, warehouse_dsn=local_stack.dsn(wh),
        application=f"app-{uuid.uuid4().hex[:8]}",
    )  # fmt: skip
    pipeline.capture.cfg.slot = f"slot_{uuid.uuid4().hex[:8]}"
    try:
        pipeline.start()
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute("UPDATE shop.items SET price = price * 2 WHERE item_id % 3 = 0")
            conn.execute("DELETE FROM shop.items WHERE item_id > 45")
        pipeline.drain()
    finally:
        pipeline.stop()
    diffs = verify(source_dsn, local_stack.dsn(wh), contracts)
    assert [d.table for d in diffs] == ["shop.items"] and all(d.ok for d in diffs), diffs
    assert diffs[0].source_rows == 45
    assert mappings.read_bytes() == before
    with psycopg.connect(local_stack.dsn("postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{wh}" WITH (FORCE)'.encode())
