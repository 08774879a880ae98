"""Loader throughput: one 100k-row batch (10% deletes, 50% updates, 40% inserts) of
sales_order applied to a 1M-row table by the load plan (S3 Parquet → COPY → version-guarded
MERGE + ledger, one transaction), side by side in the same run with a hand-written COPY + MERGE
of the same rows on the same database (the limit). Target >= 0.8 x the limit.

Run: make bench   (writes bench/results/load.json)
"""

from __future__ import annotations

import io
import sys
import time

import psycopg
import pyarrow.parquet as pq

from bench.common import private_stack, result, write
from consumers.contracts.model import load_contracts
from consumers.events.columns import to_table
from consumers.events.model import ChangeEvent
from consumers.local import stack
from consumers.settings import PROJECT_DIR
from consumers.sink.writer import BatchFile, BatchManifest
from consumers.warehouse.dialect import STAGE_META
from consumers.warehouse.local import LocalWarehouse, arrow_to_csv

TABLE_ROWS = 1_000_000
BATCH_ROWS = 100_000

SEED_SQL = """
INSERT INTO public.sales_order SELECT i, 1 + i %% 50, 1 + i %% 20, 1 + i %% 12, 1000 + i %% 9000,
  (200 + i %% 200) / 100.0, 1 + i %% 3, DATE '2026-01-01' + i %% 300, DATE '2026-01-05' + i %% 300,
  1 + i %% 30, TIMESTAMP '2026-01-01' + i * INTERVAL '1 second',
  TIMESTAMP '2026-01-01' + i * INTERVAL '1 second', 1, 'load', NULL, now(), false
FROM generate_series(1, %s) i
"""


def batch_events() -> list[ChangeEvent]:
    events = []
    for n in range(BATCH_ROWS):
        version = (1 << 40) + n
        if n < BATCH_ROWS // 10:
            key, op = n * 7 + 1, "delete"
        elif n < BATCH_ROWS * 6 // 10:
            key, op = 500_000 + n, "update"
        else:
            key, op = TABLE_ROWS + n, "insert"
        values = {"sales_order_id": key}
        if op != "delete":
            values.update(
                design_id=3, staff_id=4, counterparty_id=5, units_sold=n % 5000,
                unit_price="3.25", currency_id=1, agreed_delivery_date="2026-12-01",
                agreed_payment_date="2026-12-05", agreed_delivery_location_id=7,
                created_at="2026-11-24T10:11:12.123456", last_updated="2026-11-24T10:11:12.123456",
            )  # fmt: skip
        events.append(
            ChangeEvent(
                "public.sales_order",
                op,
                (key,),
                values,
                version,
                str(n + 1),
                "2026-11-24T10:11:12.123456Z",
            )
        )
    return events


HAND_WRITTEN = """
MERGE INTO public.sales_order AS t USING stage AS s ON t.sales_order_id = s.sales_order_id
WHEN MATCHED AND s._cdc_op = 'delete' THEN DELETE
WHEN MATCHED THEN UPDATE SET design_id = s.design_id, staff_id = s.staff_id,
  counterparty_id = s.counterparty_id, units_sold = s.units_sold, unit_price = s.unit_price,
  currency_id = s.currency_id, agreed_delivery_date = s.agreed_delivery_date,
  agreed_payment_date = s.agreed_payment_date,
  agreed_delivery_location_id = s.agreed_delivery_location_id, created_at = s.created_at,
  last_updated = s.last_updated, _cdc_version = s._cdc_version, _cdc_op = s._cdc_op
WHEN NOT MATCHED AND s._cdc_op <> 'delete' THEN INSERT VALUES (s.sales_order_id, s.design_id,
  s.staff_id, s.counterparty_id, s.units_sold, s.unit_price, s.currency_id,
  s.agreed_delivery_date, s.agreed_payment_date, s.agreed_delivery_location_id, s.created_at,
  s.last_updated, s._cdc_version, s._cdc_op, s._cdc_commit_ts, now(), false)
"""


def main() -> int:
    with private_stack() as (_, state):
        return run(state)


def run(state: stack.StackState) -> int:
    contracts = [c for c in load_contracts(PROJECT_DIR / "schemas") if c.name == "sales_order"]
    contract = contracts[0]
    events = batch_events()
    table, bad = to_table(contract, events, "shardId-000000000000", "bench/1-100000")
    assert not bad
    s3 = state.client("s3")
    body = io.BytesIO()
    pq.write_table(table, body, compression="zstd")
    key = "data/public.sales_order/date=2026-11-24/shardId-000000000000/1-100000.parquet"
    s3.put_object(Bucket=state.batch_bucket, Key=key, Body=body.getvalue())
    manifest = BatchManifest("bench/1-100000", "shardId-000000000000", "1", "100000", BATCH_ROWS,
                             "rows", "2026-11-24T10:11:12+00:00",
                             [BatchFile("public.sales_order", key, BATCH_ROWS, len(body.getvalue()),
                                        "0", "0", {})])  # fmt: skip
    s3.put_object(
        Bucket=state.batch_bucket, Key="manifests/bench/1-100000.json", Body=manifest.to_json()
    )
    results = {}
    for variant in ("ours", "hand"):
        with psycopg.connect(state.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS bench_{variant}".encode())
            admin.execute(f"CREATE DATABASE bench_{variant}".encode())
        dsn = state.dsn(f"bench_{variant}")
        wh = LocalWarehouse(dsn, contracts, s3, state.batch_bucket)
        wh.bootstrap()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SEED_SQL, (TABLE_ROWS,))
            conn.execute("VACUUM ANALYZE public.sales_order")
        start = time.perf_counter()
        if variant == "ours":
            (load,) = wh.run_once()
            assert load.staged_rows == BATCH_ROWS
            steps = {k: round(v, 3) for k, v in load.step_seconds.items() if v > 0.01}
        else:
            cols = [c.name for c in contract.columns] + list(STAGE_META)
            # The same starting point as the plan: the batch's Parquet object in S3.
            got = s3.get_object(Bucket=state.batch_bucket, Key=key)["Body"].read()
            csv = arrow_to_csv(pq.read_table(io.BytesIO(got)))
            with psycopg.connect(dsn) as conn, conn.transaction(), conn.cursor() as cur:
                cur.execute(
                    "CREATE TEMP TABLE stage ON COMMIT DROP AS "
                    "SELECT * FROM public.sales_order WITH NO DATA"
                )
                cur.execute(
                    "ALTER TABLE stage DROP COLUMN _cdc_loaded_at, DROP COLUMN _cdc_deleted, "
                    "ADD COLUMN _cdc_shard text, ADD COLUMN _cdc_sequence text, "
                    "ADD COLUMN _cdc_batch text, ADD COLUMN _cdc_unchanged text, "
                    "ADD COLUMN _cdc_old_key text"
                )
                with cur.copy(
                    f"COPY stage ({', '.join(cols)}) FROM STDIN (FORMAT csv)".encode()
                ) as cp:
                    cp.write(csv)
                cur.execute(HAND_WRITTEN)
        results[variant] = time.perf_counter() - start
        with psycopg.connect(dsn) as conn:
            (count,) = conn.execute("SELECT count(*) FROM public.sales_order").fetchone()  # type: ignore[misc]
        expected = TABLE_ROWS - BATCH_ROWS // 10 + BATCH_ROWS * 4 // 10
        assert count == expected, (variant, count, expected)
    ours, hand = BATCH_ROWS / results["ours"], BATCH_ROWS / results["hand"]
    doc = result(
        "load_plan_apply", ours, "rows/s", hand,
        target=">= 0.8 x a hand-written COPY + MERGE of the same batch",
        batch_rows=BATCH_ROWS, table_rows=TABLE_ROWS, deletes=BATCH_ROWS // 10,
        includes="reading the Parquet object from S3 (moto), CSV conversion, COPY, the whole plan",
        step_seconds=steps,
    )  # fmt: skip
    path = write("load.json", doc)
    print(
        f"load plan    : {ours:10,.0f} rows/s   hand-written COPY + MERGE {hand:10,.0f} rows/s  "
        f"ratio {doc['ratio_to_limit']:.2f} (target >= 0.8)\nwrote {path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
