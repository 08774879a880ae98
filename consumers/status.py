"""`cdc status`: one screen for operators.

Per table: source and warehouse row counts, freshness (now minus the newest applied source
commit), the last load and its duration (from the ledger). Per shard: the consumers' checkpoint
(lease table) and millisBehindLatest (a GetRecords after the checkpoint), and dead letters.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from consumers.contracts.model import TableContract
from consumers.kcl.leases import SHARD_END, LeaseTable
from consumers.sink.writer import DEAD_LETTER_PREFIX
from consumers.warehouse.dialect import LEDGER, PostgresDialect, q
from consumers.warehouse.target import UndefinedTable, WarehouseTarget, connect, parse_warehouse
from consumers.warehouse.verify import source_database


def tables(
    source_dsn: str, warehouse: str | WarehouseTarget, contracts: list[TableContract]
) -> list[dict[str, Any]]:
    """`warehouse`: a PostgreSQL DSN or a `--warehouse` URL (warehouse/target.py)."""
    target = parse_warehouse(warehouse) if isinstance(warehouse, str) else warehouse
    now = datetime.now(UTC)
    out = []
    with connect(target) as wh, source_database(source_dsn) as src:
        for c in contracts:
            table = f"{q(c.schema)}.{q(c.name)}"
            row = src.rows(f"SELECT count(*) FROM {table}")  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
            entry: dict[str, Any] = {"table": c.qualified, "source_rows": row[0][0] if row else 0}
            try:
                (count, newest), *_ = wh.rows(live_rows_query(c)) or [(0, None)]
                (applied, seconds), *_ = wh.rows(last_load_query(wh.dialect), (
                    c.qualified, c.qualified
                )) or [(None, None)]  # fmt: skip
            except UndefinedTable:
                count, newest, applied, seconds = None, None, None, None
            entry["warehouse_rows"] = count
            entry["freshness_s"] = (now - _utc(newest)).total_seconds() if newest else None
            entry["last_load"] = _utc(applied).isoformat() if applied else None
            entry["last_load_seconds"] = None if seconds is None else float(seconds)
            out.append(entry)
    return out


def live_rows_query(c: TableContract) -> str:
    """Live rows and the newest applied commit; COUNT(CASE ...), not FILTER, which Redshift
    lacks."""
    target = f"{q(c.warehouse_schema)}.{q(c.warehouse_table)}"
    return (
        'SELECT count(CASE WHEN NOT "_cdc_deleted" THEN 1 END), max("_cdc_commit_ts") '  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        f"FROM {target}"
    )


def last_load_query(d: PostgresDialect) -> str:
    """The table's last load (two %s: its qualified name) and how long it took."""
    return (
        f"SELECT max(applied_at), {d.longest_seconds('started_at', 'applied_at')} "  # nosec B608  # identifiers from validated contracts, quoted by q(); values via lit() or bound parameters
        f"FROM {LEDGER} WHERE table_name = %s AND applied_at = (SELECT max(applied_at) FROM "
        f"{LEDGER} WHERE table_name = %s)"
    )


def _utc(t: datetime) -> datetime:
    """redshift-connector returns a timestamptz naive, in the session's zone (UTC)."""
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def shards(kinesis: Any, dynamodb: Any, stream: str, application: str) -> list[dict[str, Any]]:
    leases = LeaseTable(dynamodb, application)
    out = []
    for s in kinesis.list_shards(StreamName=stream)["Shards"]:
        shard = s["ShardId"]
        try:
            checkpoint = leases.checkpoint_of(shard)
        except ClientError:
            checkpoint = None  # no lease table yet: the consumers have not run
        behind = None
        if checkpoint and checkpoint != SHARD_END:
            args: dict[str, Any] = {"StreamName": stream, "ShardId": shard}
            if checkpoint.isdigit():
                args |= {
                    "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                    "StartingSequenceNumber": checkpoint,
                }
            else:
                args["ShardIteratorType"] = (
                    checkpoint if checkpoint != "AT_TIMESTAMP" else "TRIM_HORIZON"
                )
            it = kinesis.get_shard_iterator(**args)["ShardIterator"]
            behind = kinesis.get_records(ShardIterator=it, Limit=1).get("MillisBehindLatest")
        out.append({"shard": shard, "checkpoint": checkpoint, "millis_behind_latest": behind})
    return out


def dead_letters(s3: Any, bucket: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"{DEAD_LETTER_PREFIX}/"
    )
    for page in pages:
        for obj in page.get("Contents", []):
            shard = obj["Key"].split("/")[1]
            counts[shard] = counts.get(shard, 0) + 1
    return counts
