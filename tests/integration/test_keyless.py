"""Tables without a primary key through the real pipeline (capture → Kinesis → consumers →
Parquet on S3 → loader): one append-only (REPLICA IDENTITY DEFAULT), one with REPLICA IDENTITY
FULL, both holding duplicate rows. Contracts come from `cdc contracts import`; `cdc verify`
compares them as multisets."""

from __future__ import annotations

import io

import orjson
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from consumers.warehouse.local import LocalWarehouse
from consumers.warehouse.verify import verify
from tests.integration.imported import imported_pipeline, sql
from tests.integration.test_load import _database, _drop

pytestmark = pytest.mark.integration

BIG = "x" * 9000  # TOASTed: an update that does not touch it leaves it out of the WAL


def _one_of(table: str, where: str) -> str:
    """One row of several identical ones (PostgreSQL's own way: by ctid)."""
    return f"ctid = (SELECT ctid FROM {table} WHERE {where} LIMIT 1)"


@pytest.fixture
def keyless_run(local_stack, stack_settings, tmp_path, monkeypatch):
    # Small batches: a row's insert and its later update or delete land in different batches.
    monkeypatch.setenv("CDC_FLUSH_MAX_ROWS", "3")
    ddl = (
        "CREATE TABLE log_append (at integer, note text, amount numeric(8,2))",
        "CREATE TABLE log_full (who text NOT NULL, n integer, doc jsonb, big text)",
        "ALTER TABLE log_full REPLICA IDENTITY FULL",
        # Full-load rows, duplicates included.
        "INSERT INTO log_append VALUES (1, 'a', 1.50), (1, 'a', 1.50), (2, NULL, NULL)",
        f"INSERT INTO log_full VALUES ('ann', 1, '{{\"k\": 1}}', '{BIG}'), "
        f"('ann', 1, '{{\"k\": 1}}', '{BIG}'), ('bob', NULL, NULL, NULL)",
    )
    with imported_pipeline(local_stack, stack_settings, tmp_path, *ddl) as run:
        yield run.source, run.warehouse, run.contracts, run.pipeline, run.notes, run.bucket


def test_keyless_tables_replicate_and_verify_as_multisets(keyless_run, local_stack):
    source, warehouse, contracts, pipeline, notes, bucket = keyless_run
    by = {c.name: c for c in contracts}
    assert by["log_append"].append_only and by["log_full"].full_row_identity
    assert any("log_append has no primary key: imported as append-only" in n for n in notes)
    pipeline.start()
    one_ann = _one_of("log_full", "who = 'ann'")
    one_cy = _one_of("log_full", "who = 'cy'")
    one_eve = _one_of("log_full", "who = 'eve'")
    sql(
        source,
        "INSERT INTO log_append VALUES (3, 'c', 3.00), (3, 'c', 3.00), (3, 'c', 3.00)",
        "INSERT INTO log_full VALUES ('cy', 7, '[1, 2]', 'small'), ('cy', 7, '[1, 2]', 'small')",
        # One of two identical rows changes; the TOASTed column is left untouched.
        f"UPDATE log_full SET n = 2 WHERE {one_ann}",
        # Both of two identical rows change at once; then one of them is deleted.
        "UPDATE log_full SET doc = '{\"k\": 3}' WHERE who = 'cy'",
        f"DELETE FROM log_full WHERE {one_cy}",
        "DELETE FROM log_full WHERE who = 'bob'",
        # Insert, update and delete of one row in one transaction.
        "BEGIN",
        "INSERT INTO log_full VALUES ('dee', 1, NULL, NULL)",
        "UPDATE log_full SET n = 5 WHERE who = 'dee'",
        "DELETE FROM log_full WHERE who = 'dee'",
        "COMMIT",
        # A row updated back and forth ends equal to an untouched duplicate.
        "INSERT INTO log_full VALUES ('eve', 1, NULL, NULL), ('eve', 1, NULL, NULL)",
        f"UPDATE log_full SET n = 9 WHERE {one_eve}",
        "UPDATE log_full SET n = 1 WHERE who = 'eve' AND n = 9",
    )
    pipeline.drain()
    diffs = {d.table: d for d in verify(source, warehouse, contracts)}
    assert all(d.ok for d in diffs.values()), diffs
    assert diffs["public.log_append"].warehouse_rows == 6
    assert diffs["public.log_full"].warehouse_rows == 5
    with psycopg.connect(warehouse) as conn:
        (unmatched,) = conn.execute(
            'SELECT count(*) FROM cdc."public__log_full__deleted" WHERE "_cdc_row" IS NULL'
        ).fetchone()
    assert unmatched == 0

    # Every record delivered again in other batches (Kinesis redelivery into batches cut
    # elsewhere): loaded after the originals, and together with them into an empty warehouse.
    s3 = local_stack.client("s3")
    _redeliver(s3, bucket, contracts)
    again = LocalWarehouse(warehouse, contracts, s3, bucket)
    assert len(again.run_once()) == 2
    assert all(d.ok for d in verify(source, warehouse, contracts))
    name = _database(local_stack, "wh")
    empty = local_stack.dsn(name)
    try:
        both = LocalWarehouse(empty, contracts, s3, bucket)
        both.bootstrap()
        assert both.run_once()
        assert all(d.ok for d in verify(source, empty, contracts))
    finally:
        _drop(local_stack, name)

    # An append-only table's updates and deletes do not fail at the source, are not
    # replicated, and verify names the table.
    sql(
        source,
        f"UPDATE log_append SET note = 'changed' WHERE {_one_of('log_append', 'at = 3')}",
        "DELETE FROM log_append WHERE at = 2",
        "INSERT INTO log_append VALUES (4, 'd', 4.00)",
    )
    pipeline.drain()
    diffs = {d.table: d for d in verify(source, warehouse, contracts)}
    assert diffs["public.log_full"].ok
    append = diffs["public.log_append"]
    assert not append.ok and append.source_rows == 6 and append.warehouse_rows == 7
    assert len(append.missing) == 1 and len(append.extra) == 2  # 'changed' vs 'c' and the 2


def _redeliver(s3, bucket: str, contracts) -> None:
    """Copy every keyless table's batch under new batch ids (the ledger cannot skip them)."""
    keyless = {c.qualified for c in contracts}
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="manifests/")
    keys = [o["Key"] for p in pages for o in p.get("Contents", [])]
    for key in keys:
        manifest = orjson.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        batch = f"{manifest['batch_id']}-again"
        files = []
        for f in manifest["files"]:
            if f["table"] not in keyless:
                continue
            body = s3.get_object(Bucket=bucket, Key=f["key"])["Body"].read()
            table = pq.read_table(io.BytesIO(body))
            i = table.column_names.index("_cdc_batch")
            table = table.set_column(
                i, "_cdc_batch", pa.array([batch] * table.num_rows, pa.string())
            )
            out = io.BytesIO()
            pq.write_table(table, out)
            copy = f"{f['key']}.again.parquet"
            s3.put_object(Bucket=bucket, Key=copy, Body=out.getvalue())
            files.append({**f, "key": copy})
        again = {**manifest, "batch_id": batch, "files": files}
        s3.put_object(
            Bucket=bucket, Key=key.replace(".json", "-again.json"), Body=orjson.dumps(again)
        )
